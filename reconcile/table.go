package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/drc-dev/drc/internal/gtid"
)

// tableRun compares one table. It owns four connections for the table's
// lifetime (one per side for each stage), plus a marked target connection
// when repairing.
type tableRun struct {
	cfg    *Config
	log    *slog.Logger
	t      *tablePlan
	b      *builder
	flavor Flavor

	srcPool, tgtPool *sql.DB
	src, tgt         *sideConn // scan stage
	settleSrc        *sideConn // settle stage
	settleTgt        *sideConn
	writer           *sql.Conn // marked (sql_log_bin=0), opened on first repair
	ckpt             *checkpoint
	state            *stateStore
	prog             *progress
	met              *metrics

	res       TableResult
	diffs     []Difference
	unsettled []Unsettled
	// repairErr records, by key id, the repairs that failed in the current
	// settle batch. Only the settle stage touches it.
	repairErr map[string]string
}

// run compares the table and fills res, diffs and unsettled. An error stops
// the table; its chunks done so far stay recorded for a resumed run.
//
// Two stages run concurrently, joined by a bounded queue: scan hashes
// chunks; settle narrows mismatched parts to candidate rows, waits for the
// applier, and confirms, repairs and records them. Settling waits for
// replication, often for as long as the lag, and scanning need not wait
// with it; narrowing's small queries fill the gaps between hashing's big
// ones.
func (tr *tableRun) run(ctx context.Context) (err error) {
	began := time.Now()
	defer func() { tr.res.Seconds += time.Since(began).Seconds() }()

	done, err := tr.state.chunks(ctx, tr.t.Name)
	if err != nil {
		return err
	}
	var lo rowKey
	chunkNo := 0
	for _, c := range done {
		tr.res.Resumed = true
		tr.res.Rows += c.Rows
		tr.res.Chunks++
		tr.addResult(c.Result)
		tr.prog.add(c.Rows)
		lo, chunkNo = c.Hi, c.No+1
		if c.Last {
			tr.log.Info("table already done by the interrupted run", "table", tr.t.Name.String())
			return nil
		}
	}

	if err := tr.open(ctx); err != nil {
		return err
	}
	defer tr.close()
	pl, err := tr.planner(ctx)
	if err != nil {
		return err
	}
	queue := make(chan scanned, settleQueue)
	return both(ctx,
		func(ctx context.Context) error {
			defer close(queue)
			return tr.scan(ctx, pl, lo, chunkNo, queue)
		},
		func(ctx context.Context) error { return tr.settleStage(ctx, queue) })
}

// settleQueue bounds how far scanning runs ahead of settling, in chunks.
const settleQueue = 16

// maxSettleBatch bounds how many queued chunks settle together.
const maxSettleBatch = 64

// scanned is a chunk hashed, waiting to be narrowed and settled.
type scanned struct {
	no         int
	hi         rowKey // the chunk's upper bound; nil when last
	last       bool
	rows       int64      // source rows
	mismatched []mismatch // parts whose hashes differed
	pos        gtid.Set   // source position of the chunk's snapshot
}

// mismatch is a part whose hashes differed, with both hashes.
type mismatch struct {
	r      keyRange
	sh, th partHash
}

// scan is the first stage: hash chunk after chunk on both sides and queue
// the result, mismatched parts included.
func (tr *tableRun) scan(ctx context.Context, pl planner, lo rowKey, chunkNo int, queue chan<- scanned) error {
	for {
		parts, last, err := pl.next(ctx, lo)
		if err != nil {
			return err
		}
		chunkBegan := time.Now()
		var sh, th []partHash
		var pos gtid.Set
		var scut, tcut bool
		err = both(ctx,
			func(ctx context.Context) (err error) {
				sh, pos, scut, err = tr.src.hashParts(ctx, parts, true)
				return err
			},
			func(ctx context.Context) (err error) {
				th, _, tcut, err = tr.tgt.hashParts(ctx, parts, false)
				return err
			})
		if err != nil {
			return err
		}
		elapsed := time.Since(chunkBegan)
		if scut || tcut {
			if !pl.shrink() {
				return fmt.Errorf("table %s: %w", tr.t.Name, ErrRowTooLarge)
			}
			tr.log.Debug("chunk exceeded group_concat_max_len, using smaller parts", "table", tr.t.Name.String())
			continue
		}
		tr.met.chunks.Inc()
		tr.met.chunkTime.Observe(elapsed.Seconds())

		perPart := make([]int64, len(parts))
		var rows int64
		var mism []mismatch
		for i := range parts {
			perPart[i] = max(sh[i].count, th[i].count)
			rows += sh[i].count
			if sh[i] != th[i] {
				mism = append(mism, mismatch{r: parts[i], sh: sh[i], th: th[i]})
			}
		}
		pl.feedback(perPart, elapsed)
		tr.log.Debug("chunk scanned", "table", tr.t.Name.String(), "chunk", chunkNo, "parts", len(parts), "rows", rows,
			"hash", elapsed.Round(time.Millisecond), "mismatched", len(mism))
		tr.met.rows.Add(float64(rows))
		tr.prog.add(rows)

		hi := parts[len(parts)-1].Hi
		select {
		case queue <- scanned{no: chunkNo, hi: hi, last: last, rows: rows, mismatched: mism, pos: pos}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if last {
			return nil
		}
		lo = hi
		chunkNo++
	}
}

// settleStage is the second stage: narrow what scan queued to rows, settle
// them, in chunk order, and record each chunk as done once its candidates
// are decided. It has its own connections, so narrowing overlaps the next
// chunks' hashing. Chunks queued together are settled together: one wait
// for the applier covers them all (their positions only grow, so the last
// one's suffices).
func (tr *tableRun) settleStage(ctx context.Context, queue <-chan scanned) error {
	for {
		var batch []scanned
		select {
		case item, ok := <-queue:
			if !ok {
				return nil
			}
			batch = append(batch, item)
		case <-ctx.Done():
			return ctx.Err()
		}
	more:
		for len(batch) < maxSettleBatch {
			select {
			case item, ok := <-queue:
				if !ok {
					break more
				}
				batch = append(batch, item)
			default:
				break more
			}
		}

		var keys []rowKey
		owner := map[string]int{} // key id → index in batch
		for i, it := range batch {
			for _, m := range it.mismatched {
				cands, err := narrow(ctx, tr.settleSrc, tr.settleTgt, m.r, m.sh, m.th, int64(tr.cfg.PartRows))
				if err != nil {
					return fmt.Errorf("narrow %s: %w", tr.t.Name, err)
				}
				for _, c := range cands {
					if _, dup := owner[c.key.id()]; !dup {
						owner[c.key.id()] = i
						keys = append(keys, c.key)
					}
				}
			}
		}
		results := make([]chunkResult, len(batch))
		if len(keys) > 0 {
			tr.log.Debug("settling candidates", "table", tr.t.Name.String(), "rows", len(keys), "chunks", len(batch))
			settled, err := tr.settleKeys(ctx, keys, batch[len(batch)-1].pos)
			if err != nil {
				return err
			}
			for _, r := range settled {
				i := owner[r.id]
				if r.diff != nil {
					results[i].Differences = append(results[i].Differences, *r.diff)
				}
				if r.unsettled != nil {
					results[i].Unsettled = append(results[i].Unsettled, *r.unsettled)
				}
			}
		}
		for i, it := range batch {
			tr.addResult(results[i])
			tr.res.Rows += it.rows
			tr.res.Chunks++
			if err := tr.state.saveChunk(ctx, tr.t.Name, chunkRecord{No: it.no, Hi: it.hi, Last: it.last, Rows: it.rows, Result: results[i]}); err != nil {
				return err
			}
		}
	}
}

func (tr *tableRun) addResult(r chunkResult) {
	for _, d := range r.Differences {
		switch d.Kind {
		case KindMissing:
			tr.res.Missing++
		case KindExtra:
			tr.res.Extra++
		case KindChanged:
			tr.res.Changed++
		}
		if d.Repaired {
			tr.res.Repaired++
		}
	}
	tr.res.Unsettled += len(r.Unsettled)
	tr.diffs = append(tr.diffs, r.Differences...)
	tr.unsettled = append(tr.unsettled, r.Unsettled...)
}

// status derives the table's outcome from its counts.
func (tr *tableRun) status() TableStatus {
	n := tr.res.Missing + tr.res.Extra + tr.res.Changed
	switch {
	case n > tr.res.Repaired:
		return StatusDrift
	case tr.res.Unsettled > 0:
		return StatusUnsettled
	case n > 0:
		return StatusRepaired
	}
	return StatusConsistent
}

// open takes the table's connections: one per side for each stage.
func (tr *tableRun) open(ctx context.Context) error {
	for _, c := range []struct {
		dst  **sideConn
		side dbSide
		pool *sql.DB
	}{
		{&tr.src, sourceSide, tr.srcPool}, {&tr.tgt, targetSide, tr.tgtPool},
		{&tr.settleSrc, sourceSide, tr.srcPool}, {&tr.settleTgt, targetSide, tr.tgtPool},
	} {
		conn, err := openConn(ctx, c.pool)
		if err != nil {
			return fmt.Errorf("table %s: %s connection: %w", tr.t.Name, c.side, err)
		}
		*c.dst = &sideConn{side: c.side, conn: conn, b: tr.b, flavor: tr.flavor}
	}
	return nil
}

func (tr *tableRun) close() {
	for _, s := range []*sideConn{tr.src, tr.tgt, tr.settleSrc, tr.settleTgt} {
		if s != nil {
			s.conn.Close()
		}
	}
	if tr.writer != nil {
		tr.writer.Close()
	}
}

// planner picks arithmetic stepping for a single integer key, and key
// sampling for everything else.
func (tr *tableRun) planner(ctx context.Context) (planner, error) {
	keyCols := tr.t.KeyColumns()
	if len(keyCols) != 1 || (keyCols[0].class != classInt && keyCols[0].class != classUint) {
		return newSamplePlanner(tr.cfg.PartRows, tr.cfg.ChunkTime, tr.src.sampleKeys), nil
	}
	var sLo, sHi, tLo, tHi []byte
	err := both(ctx,
		func(ctx context.Context) (err error) { sLo, sHi, err = tr.src.bounds(ctx); return err },
		func(ctx context.Context) (err error) { tLo, tHi, err = tr.tgt.bounds(ctx); return err })
	if err != nil {
		return nil, err
	}
	nextKey := func(ctx context.Context, after rowKey) ([]byte, error) {
		var s, t []byte
		err := both(ctx,
			func(ctx context.Context) (err error) { s, err = tr.src.nextKey(ctx, after); return err },
			func(ctx context.Context) (err error) { t, err = tr.tgt.nextKey(ctx, after); return err })
		return pickInt(s, t, -1), err
	}
	return newIntPlanner(tr.cfg.PartRows, tr.cfg.ChunkTime, pickInt(sLo, tLo, -1), pickInt(sHi, tHi, 1), tr.t.EstimatedRows, nextKey), nil
}

// pickInt returns the smaller (sign -1) or larger (sign 1) of two decimal
// integers, either of which may be nil (no value).
func pickInt(a, b []byte, sign int) []byte {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	x, ok1 := new(big.Int).SetString(string(a), 10)
	y, ok2 := new(big.Int).SetString(string(b), 10)
	if !ok1 || !ok2 {
		return a
	}
	if x.Cmp(y)*sign >= 0 {
		return a
	}
	return b
}

// settler wires the settling protocol to this table's connections.
func (tr *tableRun) settler() *settler {
	s := &settler{
		settle:   tr.cfg.Settle,
		rounds:   tr.cfg.SettleRounds,
		timeout:  tr.cfg.SettleTimeout,
		lockWait: tr.cfg.LockWait,
		maxLag:   tr.cfg.MaxLag,
		waitFor: func(ctx context.Context, pos gtid.Set, timeout time.Duration) (bool, error) {
			began := time.Now()
			ok, err := tr.ckpt.wait(ctx, pos, timeout)
			tr.met.settleWait.Observe(time.Since(began).Seconds())
			return ok, err
		},
		sourcePos: tr.settleSrc.position,
		readSource: func(ctx context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error) {
			return tr.settleSrc.readRows(ctx, keys, true)
		},
		readTarget: func(ctx context.Context, keys []rowKey) (map[string]rowImage, error) {
			rows, _, err := tr.settleTgt.readRows(ctx, keys, false)
			return rows, err
		},
		lockSource: func(ctx context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error) {
			// innodb_lock_wait_timeout is in whole seconds; two is enough for
			// a writer's transaction to finish, short enough not to stall.
			return tr.settleSrc.lockRows(ctx, keys, 2)
		},
		release: tr.settleSrc.release,
	}
	for _, c := range tr.t.Columns {
		s.columns = append(s.columns, c.Name)
	}
	return s
}

// settledKey is the outcome for one candidate key: a difference, or
// unsettled, or neither (the rows turned out equal).
type settledKey struct {
	id        string
	diff      *Difference
	unsettled *Unsettled
}

// settleKeys settles candidate keys read at source position pos, repairs
// what is confirmed when asked to, and verifies the repairs.
func (tr *tableRun) settleKeys(ctx context.Context, keys []rowKey, pos gtid.Set) ([]settledKey, error) {
	var res []settledKey
	s := tr.settler()
	pending, uns, err := s.filter(ctx, keys, pos)
	if err != nil {
		return res, fmt.Errorf("settle %s: %w", tr.t.Name, err)
	}
	batch := 500
	var apply func(context.Context, []confirmed) error
	if tr.cfg.Repair {
		batch = tr.cfg.RepairBatch
		apply = tr.applyRepairs
		tr.repairErr = map[string]string{}
	}
	found, uns2, err := s.confirm(ctx, pending, batch, apply)
	if err != nil {
		return res, fmt.Errorf("confirm differences of %s: %w", tr.t.Name, err)
	}
	uns = append(uns, uns2...)

	// The second pass: every repaired row is confirmed again, under the same
	// exact protocol; it must now match.
	verified := map[string]string{} // key id → "" when verified, else why not
	if tr.cfg.Repair {
		var written []rowKey
		for _, d := range found {
			if _, failed := tr.repairErr[d.key.id()]; !failed {
				written = append(written, d.key)
			}
		}
		still, unv, err := s.confirm(ctx, written, batch, nil)
		if err != nil {
			return res, fmt.Errorf("verify repairs of %s: %w", tr.t.Name, err)
		}
		for _, k := range written {
			verified[k.id()] = ""
		}
		for _, d := range still {
			verified[d.key.id()] = "still differs after repair"
		}
		for _, u := range unv {
			verified[u.key.id()] = "could not verify: " + u.reason
		}
	}

	for _, d := range found {
		diff := Difference{Table: tr.t.Name.String(), Key: keyValues(tr.t, d.key), Kind: d.kind, Columns: d.columns}
		q, err := tr.repairSQL(d)
		if err != nil {
			diff.RepairError = err.Error()
		}
		diff.RepairSQL = q
		if tr.cfg.Repair {
			id := d.key.id()
			if msg, failed := tr.repairErr[id]; failed {
				diff.RepairError = msg
				tr.met.repairs.WithLabelValues("failed").Inc()
			} else if why := verified[id]; why != "" {
				diff.RepairError = why
				tr.met.repairs.WithLabelValues("unverified").Inc()
			} else {
				diff.Repaired = true
				tr.met.repairs.WithLabelValues("verified").Inc()
			}
		}
		tr.met.differences.WithLabelValues(string(d.kind)).Inc()
		res = append(res, settledKey{id: d.key.id(), diff: &diff})
	}
	for _, u := range uns {
		res = append(res, settledKey{id: u.key.id(), unsettled: &Unsettled{Table: tr.t.Name.String(), Key: keyValues(tr.t, u.key), Reason: u.reason}})
		tr.met.unsettled.Inc()
	}
	return res, nil
}

// repairSQL is the statement that makes the target's row match d.
func (tr *tableRun) repairSQL(d confirmed) (string, error) {
	switch d.kind {
	case KindMissing:
		return tr.b.insertSQL(d.src)
	case KindExtra:
		return tr.b.deleteSQL(d.key)
	default:
		return tr.b.updateSQL(d.src)
	}
}

// applyRepairs writes repairs for confirmed differences, RepairBatch rows per
// transaction, on a connection whose writes stay out of the binlog. It runs
// inside settling's lock window (see settler). A failing batch is retried row
// by row, so one bad row (say, a unique-key clash with another drifted row)
// does not block the rest; its error is recorded, not returned.
func (tr *tableRun) applyRepairs(ctx context.Context, diffs []confirmed) error {
	if tr.writer == nil {
		c, err := openConn(ctx, tr.tgtPool)
		if err != nil {
			return fmt.Errorf("repair connection: %w", err)
		}
		if err := markRepairs(ctx, c); err != nil {
			c.Close()
			return err
		}
		tr.writer = c
	}
	// Deletes first, then updates, then inserts: a row moving between keys
	// under a unique constraint frees its old place before taking the new.
	order := map[Kind]int{KindExtra: 0, KindChanged: 1, KindMissing: 2}
	ds := slices.Clone(diffs)
	slices.SortStableFunc(ds, func(a, b confirmed) int { return order[a.kind] - order[b.kind] })
	for len(ds) > 0 {
		n := min(tr.cfg.RepairBatch, len(ds))
		batch := ds[:n]
		ds = ds[n:]
		var stmts []string
		var ok []confirmed
		for _, d := range batch {
			q, err := tr.repairSQL(d)
			if err != nil {
				tr.repairErr[d.key.id()] = err.Error()
				continue
			}
			stmts = append(stmts, q)
			ok = append(ok, d)
		}
		if len(stmts) == 0 {
			continue
		}
		err := execRepairs(ctx, tr.writer, stmts)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tr.log.Warn("repair batch failed, retrying row by row", "table", tr.t.Name.String(), "error", err)
		for i, q := range stmts {
			if err := execRepairs(ctx, tr.writer, []string{q}); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				tr.repairErr[ok[i].key.id()] = rootMessage(err)
			}
		}
	}
	return nil
}

// rootMessage is the innermost error's text, for the report.
func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return strings.TrimSpace(err.Error())
		}
		err = u
	}
}
