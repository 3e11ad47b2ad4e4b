package applier

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/replicator/event"
)

func testPartition(t *testing.T) *partition {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	return &partition{cfg: &Config{LargeTxnBytes: 1 << 20}, m: m, keys: map[uint64]*txn{}, src: &fakeSource{}, tgt: &fakeTarget{}}
}

func TestGroupJoin(t *testing.T) {
	p := testPartition(t)
	older := &txn{seq: 1, ws: WriteSet{7}}
	p.keys[7] = older
	g := &txn{seq: 2, gtid: "1-1-10", lastGTID: "1-1-10", count: 1, origin: "a", first: 100, next: 103, set: "1-1-10", ts: 5, ws: WriteSet{1}, recs: nil, bytes: 10}
	p.keys[1] = g
	u := &txn{gtid: "1-1-11", lastGTID: "1-1-11", count: 1, origin: "a", first: 103, next: 105, set: "1-1-11", ts: 6, ws: WriteSet{1, 7}, bytes: 20}
	if !p.groupable(g, u) {
		t.Fatal("two small transactions of one origin are not groupable")
	}
	p.join(g, u)
	if g.count != 2 || g.first != 100 || g.next != 105 || g.set != "1-1-11" || g.gtid != "1-1-10" || g.lastGTID != "1-1-11" || g.ts != 5 || g.bytes != 30 {
		t.Errorf("group after join = %+v", g)
	}
	if g.waitFor != older {
		t.Errorf("group waits for %v, want the older writer of key 7", g.waitFor)
	}
	if p.keys[1] != g || p.keys[7] != g {
		t.Errorf("keys not owned by the group: %v", p.keys)
	}
}

func TestGroupable(t *testing.T) {
	p := testPartition(t)
	base := func() *txn { return &txn{count: 1, origin: "a", bytes: 10} }
	tests := []struct {
		name   string
		mutate func(g, u *txn)
		want   bool
	}{
		{"small, one origin", func(g, u *txn) {}, true},
		{"other origin", func(g, u *txn) { u.origin = "b" }, false},
		{"ddl", func(g, u *txn) { u.hasDDL = true }, false},
		{"group full", func(g, u *txn) { g.count = groupMaxTxns }, false},
		{"too many records", func(g, u *txn) { u.recs = make([]*event.Record, groupMaxRecords+1) }, false},
		{"too many bytes", func(g, u *txn) { u.bytes = 1 << 20 }, false},
		{"streaming", func(g, u *txn) { g.more = make(chan []*event.Record) }, false},
	}
	for _, tt := range tests {
		g, u := base(), base()
		tt.mutate(g, u)
		if got := p.groupable(g, u); got != tt.want {
			t.Errorf("%s: groupable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
