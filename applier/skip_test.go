package applier

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drc-dev/drc/internal/drcmeta"
)

func TestParseSkipOffset(t *testing.T) {
	if got, err := ParseSkipOffset("2:1234"); err != nil || got != (SkipOffset{2, 1234}) {
		t.Fatalf("ParseSkipOffset(2:1234) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "1234", "a:1", "1:b", "-1:5", "1:-5", "1:2:3"} {
		if _, err := ParseSkipOffset(bad); err == nil || !strings.Contains(err.Error(), "PARTITION:OFFSET") {
			t.Errorf("ParseSkipOffset(%q) = %v", bad, err)
		}
	}
}

// TestOperatorSkip: the operator names the offset of an undecodable record
// inside a transaction; that whole transaction (the records before it and
// after it) is passed over, recorded, and an empty checkpoint transaction
// moves past it; the next transaction is applied as usual.
func TestOperatorSkip(t *testing.T) {
	p := framingPartition(t, 1<<20)
	p.cfg.SkipOffsets = []SkipOffset{{Partition: 0, Offset: 101}}
	var recorded []drcmeta.Skip
	p.tgt = &fakeTarget{recordSkip: func(_ context.Context, s drcmeta.Skip) error { recorded = append(recorded, s); return nil }}
	ctx := context.Background()

	if err := feed(t, p, 100, hb("1-1-5", 0, false)); err != nil {
		t.Fatal(err)
	}
	// Offset 101 cannot be decoded; 102 ends the transaction.
	if err := p.record(ctx, &decoded{offset: 101, from: 101, err: errors.New("bad value")}); err != nil {
		t.Fatalf("skipped record: %v", err)
	}
	if err := feed(t, p, 102, hb("1-1-5", 2, true)); err != nil {
		t.Fatalf("rest of the skipped transaction: %v", err)
	}
	if len(recorded) != 1 || recorded[0].GTID != "1-1-5" || recorded[0].Offsets != "100-102" || recorded[0].Role != "applier" ||
		strings.Join(recorded[0].Tables, ",") != "drc_meta.heartbeat" {
		t.Fatalf("recorded %+v", recorded)
	}
	ck := p.pending
	if ck == nil || len(ck.recs) != 0 || ck.next != 103 || ck.set != "1-1-4" {
		t.Fatalf("checkpoint transaction %+v, want no records, next offset 103, the applied set 1-1-4", ck)
	}
	if n := testutil.ToFloat64(p.m.operatorSkips); n != 1 {
		t.Errorf("operator skips = %v", n)
	}

	// The next transaction is applied as usual.
	p.pending = nil
	if err := feed(t, p, 103, hb("1-1-6", 0, true)); err != nil {
		t.Fatal(err)
	}
	if p.pending == nil || p.pending.gtid != "1-1-6" {
		t.Fatalf("after the skip, dispatched %+v", p.pending)
	}

	// Without the flag the same undecodable record stops the applier.
	q := framingPartition(t, 1<<20)
	err := q.record(ctx, &decoded{offset: 101, from: 101, err: errors.New("bad value")})
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "--skip-offset 0:101") {
		t.Fatalf("undecodable record without the flag: %v", err)
	}
}

// TestOperatorSkipOfUnframedRecord: a record that is not part of any
// transaction (a foreign record between two transactions) is skipped alone.
func TestOperatorSkipOfUnframedRecord(t *testing.T) {
	p := framingPartition(t, 1<<20)
	p.cfg.SkipOffsets = []SkipOffset{{Partition: 0, Offset: 101}}
	var recorded []drcmeta.Skip
	p.tgt = &fakeTarget{recordSkip: func(_ context.Context, s drcmeta.Skip) error { recorded = append(recorded, s); return nil }}
	if err := feed(t, p, 100, hb("1-1-5", 0, true)); err != nil {
		t.Fatal(err)
	}
	p.pending = nil
	if err := p.record(context.Background(), &decoded{offset: 101, from: 101, err: errors.New("not JSON")}); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 1 || recorded[0].GTID != "" || recorded[0].Offsets != "101-101" {
		t.Fatalf("recorded %+v", recorded)
	}
	p.pending = nil
	if err := feed(t, p, 102, hb("1-1-6", 0, true)); err != nil || p.pending == nil || p.pending.gtid != "1-1-6" {
		t.Fatalf("next transaction: %v, %+v", err, p.pending)
	}
}

// TestOperatorSkipDoesNotSwallowUnnamedRecords: while a named
// transaction is skipped, an undecodable record the operator did not name
// ends the skip and stops the applier at its own offset.
func TestOperatorSkipDoesNotSwallowUnnamedRecords(t *testing.T) {
	p := framingPartition(t, 1<<20)
	p.cfg.SkipOffsets = []SkipOffset{{Partition: 0, Offset: 100}}
	var recorded []drcmeta.Skip
	p.tgt = &fakeTarget{recordSkip: func(_ context.Context, s drcmeta.Skip) error { recorded = append(recorded, s); return nil }}
	if err := feed(t, p, 100, hb("1-1-5", 0, false)); err != nil {
		t.Fatal(err)
	}
	err := p.record(context.Background(), &decoded{offset: 101, from: 101, err: errors.New("bad value")})
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "--skip-offset 0:101") {
		t.Fatalf("unnamed undecodable record during a skip: %v, want it to stop the applier", err)
	}
	if len(recorded) != 1 || recorded[0].Offsets != "100-100" {
		t.Fatalf("recorded %+v, want the named transaction only (offsets 100-100)", recorded)
	}
}
