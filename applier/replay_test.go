package applier

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator/event"
)

// framingPartition is a partition whose coordinator can be fed records
// directly; nothing in it talks to a server. Records are heartbeats, whose
// write-set needs no table schema.
func framingPartition(t *testing.T, largeTxnBytes int) *partition {
	t.Helper()
	p := testPartition(t)
	p.cfg.Flavor = "mariadb"
	p.cfg.LargeTxnBytes = largeTxnBytes
	p.log = slog.New(slog.DiscardHandler)
	p.topic, p.part = "drc.test", 0
	p.hasher = newWriteSetHasher()
	p.work = make(chan *txn)
	p.committed = make(chan *txn, 8)
	p.errc = make(chan error, 1)
	var err error
	if p.applied, err = gtid.Parse(gtid.MariaDB, "1-1-4"); err != nil {
		t.Fatal(err)
	}
	return p
}

func hb(gtid string, seq int, last bool) *event.Record {
	r := &event.Record{V: event.Version, GTID: gtid, Seq: seq, Last: last, Op: event.OpHeartbeat, Region: "a", Origin: "a",
		DB: "drc_meta", Table: "heartbeat", After: &event.Row{}}
	if last {
		r.GTIDSet = gtid
	}
	return r
}

func feed(t *testing.T, p *partition, offset int64, recs ...*event.Record) error {
	t.Helper()
	for i, r := range recs {
		if err := p.record(context.Background(), &decoded{rec: r, offset: offset + int64(i), from: offset + int64(i), size: 10}); err != nil {
			return err
		}
	}
	return nil
}

// TestReplayedPrefixIsDiscarded: the topic holds seq 0, 1 of a transaction
// without its last record, then the whole transaction again (a replicator
// restarted inside it). The applier applies the complete copy once.
func TestReplayedPrefixIsDiscarded(t *testing.T) {
	p := framingPartition(t, 1<<20)
	err := feed(t, p, 100,
		hb("1-1-5", 0, false), hb("1-1-5", 1, false), // the incomplete copy
		hb("1-1-5", 0, false), hb("1-1-5", 1, false), hb("1-1-5", 2, true))
	if err != nil {
		t.Fatalf("a replayed transaction stopped the applier: %v", err)
	}
	got := p.pending
	if got == nil || got.gtid != "1-1-5" || len(got.recs) != 3 || got.first != 102 || got.next != 105 {
		t.Fatalf("dispatched %+v, want the complete copy: 3 records from offset 102 to 105", got)
	}
	for i, r := range got.recs {
		if r.Seq != i {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
	}
	if n := testutil.ToFloat64(p.m.replayed); n != 1 {
		t.Errorf("replayed prefixes = %v, want 1", n)
	}
	if p.queued != got.bytes {
		t.Errorf("queued bytes = %d, want only the complete copy's %d", p.queued, got.bytes)
	}
}

// TestUnexplainedFramingStops: a different transaction starting inside an
// incomplete one, or a seq that skips, cannot be a replay and stops the
// applier at that record.
func TestUnexplainedFramingStops(t *testing.T) {
	for name, recs := range map[string][]*event.Record{
		"other gtid at seq 0": {hb("1-1-5", 0, false), hb("1-1-6", 0, true)},
		"seq skips":           {hb("1-1-5", 0, false), hb("1-1-5", 2, true)},
		"seq repeats":         {hb("1-1-5", 0, false), hb("1-1-5", 1, false), hb("1-1-5", 1, true)},
		"starts past seq 0":   {hb("1-1-5", 1, true)},
	} {
		p := framingPartition(t, 1<<20)
		err := feed(t, p, 100, recs...)
		if !errors.Is(err, ErrDecode) || !IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrDecode", name, err)
		}
		if p.pending != nil {
			t.Errorf("%s: dispatched %s", name, p.pending.label())
		}
	}
}

// TestReplayedPrefixOfStreamingTransaction: the incomplete copy was large
// enough to stream into a worker; that worker's target transaction is
// abandoned (rolled back, never checkpointed) and the complete copy is
// applied.
func TestReplayedPrefixOfStreamingTransaction(t *testing.T) {
	p := framingPartition(t, 1) // every transaction streams
	type applied struct {
		gtid      string
		seqs      []int
		abandoned bool
	}
	got := make(chan applied, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // a worker: it takes streamed records until more closes
		for {
			select {
			case w := <-p.work:
				var seqs []int
				for _, r := range w.recs {
					seqs = append(seqs, r.Seq)
				}
				for chunk := range w.more {
					for _, r := range chunk {
						seqs = append(seqs, r.Seq)
					}
				}
				got <- applied{w.gtid, seqs, w.abandoned}
				p.committed <- w
			case <-ctx.Done():
				return
			}
		}
	}()
	err := feed(t, p, 100,
		hb("1-1-5", 0, false), hb("1-1-5", 1, false),
		hb("1-1-5", 0, false), hb("1-1-5", 1, false), hb("1-1-5", 2, true))
	if err != nil {
		t.Fatalf("a replayed streaming transaction stopped the applier: %v", err)
	}
	var runs []applied
	for len(runs) < 2 {
		select {
		case a := <-got:
			runs = append(runs, a)
		case <-time.After(5 * time.Second):
			t.Fatalf("worker runs %+v, want two", runs)
		}
	}
	// The worker got what had streamed of the incomplete copy (its second
	// record was still in the coordinator's chunk) and rolled it back.
	if !runs[0].abandoned || len(runs[0].seqs) == 0 || runs[0].seqs[0] != 0 {
		t.Errorf("first run %+v, want the incomplete copy abandoned", runs[0])
	}
	if runs[1].abandoned || len(runs[1].seqs) != 3 || runs[1].seqs[2] != 2 {
		t.Errorf("second run %+v, want the complete copy (seq 0, 1, 2) applied", runs[1])
	}
	if p.inflight != 0 || p.maxDone != 105 {
		t.Errorf("inflight %d, checkpoint offset %d; want 0 and 105 (the abandoned copy moves nothing)", p.inflight, p.maxDone)
	}
}

// TestRowErrorNamesThePosition: an error about one row names the topic,
// partition and the offset its transaction starts at.
func TestRowErrorNamesThePosition(t *testing.T) {
	p := framingPartition(t, 1<<20)
	w := &worker{tgt: &sqlTarget{topic: p.topic, part: p.part}}
	tx := &txn{gtid: "1-1-5", first: 1234}
	err := w.rowError(tx, &event.Record{GTID: "1-1-5", Op: event.OpInsert, DB: "s", Table: "t"}, errors.New("bad value"))
	for _, want := range []string{"1-1-5", "drc.test", "partition 0", "offset 1234", "bad value"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("row error %q lacks %q", err, want)
		}
	}
}

func TestJSONNumberTypes(t *testing.T) {
	for name, want := range map[string]bool{
		"INT": true, "BIGINT": true, "UNSIGNED INT": true, "DOUBLE": true, "YEAR": true,
		"UNSIGNED BIGINT": false, "DECIMAL": false, "VARCHAR": false, "DATETIME": false, "BIT": false,
	} {
		if got := jsonNumberType(name); got != want {
			t.Errorf("jsonNumberType(%s) = %v, want %v", name, got, want)
		}
	}
}

// TestLagGrowsWithoutHeartbeats: the lag is computed when scraped, so it
// keeps growing while no heartbeat arrives; every error series exists from
// the start.
func TestLagGrowsWithoutHeartbeats(t *testing.T) {
	p := framingPartition(t, 1<<20)
	if v := testutil.ToFloat64(p.m.lag); !math.IsNaN(v) {
		t.Errorf("lag before any heartbeat = %v, want NaN", v)
	}
	p.m.heartbeat(time.Now().Add(-30 * time.Second).UnixMicro())
	if v := testutil.ToFloat64(p.m.lag); v < 30 || v > 60 {
		t.Errorf("lag 30 s after the newest heartbeat = %v, want >= 30", v)
	}
	p.m.heartbeat(time.Now().Add(-time.Hour).UnixMicro()) // an older one changes nothing
	if v := testutil.ToFloat64(p.m.lag); v > 60 {
		t.Errorf("an older heartbeat moved the lag to %v", v)
	}
	if n := testutil.CollectAndCount(p.m.errors); n != len(errorKinds) {
		t.Errorf("%d error series at start, want %d", n, len(errorKinds))
	}
}

// TestRegionPriorityIsSymmetric: both sides of a pair resolve a conflict
// between the same two regions to the same region's row.
func TestRegionPriorityIsSymmetric(t *testing.T) {
	for _, spec := range []string{"region-priority:b,a", "region-priority:a", "region-priority:eu,us", "auto"} {
		p, err := ParseConflictPolicy(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]string{{"a", "b"}, {"eu", "us"}, {"x", "a"}} {
			onFirst := p.sourceWinsByRegion(pair[1], pair[0])  // applying the second's row in the first region
			onSecond := p.sourceWinsByRegion(pair[0], pair[1]) // applying the first's row in the second region
			if onFirst == onSecond {
				t.Errorf("%s between %s and %s: both sides pick the %s row", spec, pair[0], pair[1], map[bool]string{true: "source", false: "target"}[onFirst])
			}
		}
	}
	p, _ := ParseConflictPolicy("region-priority:b,a")
	if !p.sourceWinsByRegion("b", "a") || p.sourceWinsByRegion("a", "b") {
		t.Error("region-priority:b,a does not let b win")
	}
	for _, bad := range []string{"region-priority:", "region-priority:a,,b", "region-priority:a,a"} {
		if _, err := ParseConflictPolicy(bad); err == nil {
			t.Errorf("ParseConflictPolicy(%q): no error", bad)
		}
	}
}
