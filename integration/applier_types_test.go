package integration

import (
	"context"
	"testing"
	"time"
)

// TestApplierTypesRoundTrip runs the types workload of TestTypesRoundTrip
// through the real pipeline, drc replicate to Kafka and drc apply into B,
// and compares every row and column. Its transactions are small, so the
// applier writes them in one round trip with literal values
// (applier/fast.go); the -0 float falls back to prepared statements. The
// test also checks the one-round-trip path was taken.
func TestApplierTypesRoundTrip(t *testing.T) {
	p := newApplyPair(t, nil)
	db := "types_rt"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srcConn := typesSessionConn(ctx, t, p.a.Open(t, ""), "SET time_zone = '+00:00'")
	typesExec(ctx, t, srcConn, "CREATE DATABASE "+db, "USE "+db)
	typesExec(ctx, t, srcConn, typesWorkload...)
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)

	a := typesSessionConn(ctx, t, p.a.Open(t, db), "SET time_zone = '+00:00'")
	b := typesSessionConn(ctx, t, p.b.Open(t, db), "SET time_zone = '+00:00'")
	for _, table := range []string{"types", "nopk"} {
		n := typesCompareTable(ctx, t, a, b, db, table)
		t.Logf("%s.%s: %d rows identical on A and B", db, table, n)
	}
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	if n := p.app.counter(t, "drc_applier_one_round_trip_transactions_total"); n < 10 {
		t.Errorf("one-round-trip transactions = %v, want >= 10 of the workload's small ones", n)
	}
}
