package integration

import (
	"context"
	"testing"
	"time"

	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// TestBootstrapHandsOverToApplier is the DR walkthrough with the real
// parts: while a write loop runs on a, the replicator publishes a's binlog,
// bootstrap seeds b, and the applier continues from bootstrap's checkpoint.
// Transactions inside the snapshot must not be applied again (they would
// conflict: every one inserts a fresh row) and none after it may be missed.
//
// On MySQL the snapshot takes LOCK INSTANCE FOR BACKUP and reads
// performance_schema.log_status; the test reports how long it held it.
func TestBootstrapHandsOverToApplier(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testBootstrapHandsOverToApplier(t, f) })
	}
}

func testBootstrapHandsOverToApplier(t *testing.T, flavor harness.Flavor) {
	a := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 61, GTIDDomainID: 61})
	b := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 62, GTIDDomainID: 62})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_handover")
	const cluster = "handover"
	bsSetup(t, a, 20000)

	// The replicator starts before the writes, so the topic holds
	// transactions from before, during and after the snapshot.
	rcfg := replicatorConfig(a, k, cluster, topic)
	rcfg.StartGTID = a.BinlogGTIDPos(t)
	rep := startReplicator(t, rcfg)
	w := bsStartWriter(t, a, 5*time.Millisecond)
	time.Sleep(500 * time.Millisecond)

	cfg := bsConfig(a, b, cluster)
	cfg.MaxRowsPerSecond = 20000
	res, err := bootstrap.Run(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bootstrap done at %s: %d rows, source lock held %v", res.SnapshotGTID, res.Rows, res.LockHeld)
	if (flavor == harness.FlavorMySQL) != (res.LockHeld > 0) {
		t.Errorf("lock held %v on %s: want the backup lock on MySQL only", res.LockHeld, flavor)
	}

	app := startApplier(t, applyConfig(b, k, cluster, topic))
	time.Sleep(time.Second) // writes go on while the applier catches up
	n := w.stop(t)
	waitApplied(t, a, b, cluster, 90*time.Second)
	app.stop(t)
	rep.stop(t)

	assertSameTables(t, a, b, "bs.items", mysqlconn.QuoteIdent(bsDB2)+"."+mysqlconn.QuoteIdent(bsTable2))
	if c := conflictCount(t, b, cluster); c != 0 {
		t.Errorf("%d conflicts after the handover, want 0", c)
	}
	if got := app.counter(t, "drc_applier_transactions_total"); got == 0 {
		t.Error("the applier applied nothing after the snapshot")
	}
	t.Logf("%d source transactions during the test; applier applied %.0f after the snapshot",
		n, app.counter(t, "drc_applier_transactions_total"))
}
