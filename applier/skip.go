package applier

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/drc-dev/drc/internal/drcmeta"
)

// SkipOffset is a Kafka record an operator has decided the applier passes
// over (drc apply --skip-offset): one it stops at on every start, such as
// a record it cannot decode. The record's whole transaction is passed
// over with it, so that nothing is half-applied.
type SkipOffset struct {
	Partition int32
	Offset    int64
}

// ParseSkipOffset parses PARTITION:OFFSET.
func ParseSkipOffset(s string) (SkipOffset, error) {
	ps, os, ok := strings.Cut(s, ":")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
		return SkipOffset{}, fmt.Errorf("skip offset %q: want PARTITION:OFFSET, e.g. 0:1234", s)
	}
	return SkipOffset{Partition: int32(p), Offset: o}, nil
}

// opSkip is a skip in progress: the transaction of a skipped record,
// from its first Kafka record.
type opSkip struct {
	gtid   string // "" when the record could not be decoded
	first  int64
	last   int64
	tables []string
}

// skipRequested reports whether the operator asked to skip offset here.
func (p *partition) skipRequested(offset int64) bool {
	return slices.Contains(p.cfg.SkipOffsets, SkipOffset{Partition: p.part, Offset: offset})
}

// operatorSkip passes over a record the operator named, with its whole
// transaction, and the records that follow it in that transaction. It
// returns false for a record it does not take: one after a skipped
// transaction that ended without its last record.
func (p *partition) operatorSkip(ctx context.Context, d *decoded) (bool, error) {
	s := p.opSkip
	if s == nil {
		s = &opSkip{first: d.from}
		if t := p.cur; t != nil {
			// The record interrupts (or belongs to) the transaction being
			// assembled: none of that transaction is applied.
			s.gtid, s.first = t.gtid, t.first
			p.cur = nil
			switch {
			case t.more != nil:
				t.abandoned = true
				p.chunk, p.chunkLen = nil, 0
				close(t.more)
				if err := p.drain(ctx); err != nil {
					return true, err
				}
			case !p.skipping:
				p.queued -= t.bytes
				p.m.queueBytes.Set(float64(p.queued))
			}
			for _, r := range t.recs {
				s.note(r.DB, r.Table)
			}
		} else if d.rec != nil {
			// Decoded, whether or not it was accepted (a signature that
			// does not verify is reported on a decoded record).
			s.gtid = d.rec.GTID
		}
		p.opSkip = s
	} else if d.rec != nil && d.rec.GTID != s.gtid || d.rec == nil && !p.skipRequested(d.offset) {
		// The skipped transaction has no last record here; this record
		// starts the next, or cannot be decoded and was not named: it is
		// not passed over unless the operator names it too.
		return false, p.endSkip(ctx)
	}
	s.last = d.offset
	if d.rec != nil {
		s.note(d.rec.DB, d.rec.Table)
		if d.rec.GTID == s.gtid && !d.rec.Last {
			return true, nil // more of it follows
		}
	} else if s.gtid != "" {
		// A named undecodable record inside the skipped transaction: the
		// records after it may still belong to it; the first of another
		// transaction ends the skip.
		return true, nil
	}
	return true, p.endSkip(ctx)
}

func (s *opSkip) note(db, table string) { s.tables = drcmeta.AddTable(s.tables, db, table) }

// endSkip logs, counts and records the skip, and commits a checkpoint past
// it, so that a restart without the flag does not meet it again.
func (p *partition) endSkip(ctx context.Context) error {
	s := p.opSkip
	p.opSkip = nil
	offsets := fmt.Sprintf("%d-%d", s.first, s.last)
	hint := drcmeta.RepairHint(s.tables)
	p.m.operatorSkips.Inc()
	p.log.Warn("SKIPPED records on operator request (--skip-offset): nothing of their transaction is applied, and the regions differ until repaired",
		"topic", p.topic, "partition", p.part, "offsets", offsets, "gtid", s.gtid, "tables", strings.Join(s.tables, ","), "repair", hint)
	part := p.part
	skip := drcmeta.Skip{Cluster: p.cfg.Cluster, Role: "applier", GTID: s.gtid,
		Partition: &part, Offsets: offsets, Tables: s.tables, Reason: "drc apply --skip-offset"}
	if err := p.tgt.RecordSkip(ctx, skip); err != nil {
		return err
	}
	// An empty transaction whose checkpoint moves past the skipped
	// records, in order with the others.
	t := &txn{count: 1, first: s.first, next: s.last + 1, set: p.applied.String(), done: make(chan struct{})}
	return p.dispatch(ctx, t)
}
