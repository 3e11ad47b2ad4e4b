package integration

import (
	"context"
	"testing"
	"time"

	"github.com/drc-dev/drc/reconcile"
)

// TestReconcileWithLaggingApplier runs reconcile against the real
// replicator and applier while sysbench writes to a and the applier is
// paused for several seconds, then resumed. Lag must never show as drift:
// the only difference reported is the one injected on b.
func TestReconcileWithLaggingApplier(t *testing.T) {
	a, b, k, cluster, topic := sbtestPair(t, 71, 72, "rclive")

	rcfg := replicatorConfig(a, k, cluster, topic)
	rcfg.StartGTID = a.BinlogGTIDPos(t)
	rep := startReplicator(t, rcfg)
	defer rep.stop(t)
	acfg := applyConfig(b, k, cluster, topic)
	app := startApplier(t, acfg)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if out, err := applySysbench(ctx, a, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	a.Exec(t, "CREATE TABLE sbtest.extra (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO sbtest.extra SELECT seq, CONCAT('v', seq) FROM sbtest.seq_1_to_100")
	waitApplied(t, a, b, cluster, 90*time.Second)
	// The one real drift, written on b only.
	b.Exec(t, "SET SESSION sql_log_bin=0; UPDATE sbtest.extra SET v = 'drift' WHERE id = 42")

	app.stop(t) // the applier pauses; a keeps writing
	load := applySysbench(ctx, a, "run", "--time=20", "--rate=100", "--threads=2", "--report-interval=0")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)

	type result struct {
		rep *reconcile.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg := reconcile.NewConfig()
		cfg.SourceDSN, cfg.TargetDSN = a.DSN(""), b.DSN("")
		cfg.Cluster = cluster
		cfg.Tables = []string{"sbtest.*"}
		cfg.SettleTimeout = 90 * time.Second
		r, err := reconcile.Run(ctx, cfg, testLogger(t))
		done <- result{r, err}
	}()
	time.Sleep(6 * time.Second)
	app = startApplier(t, acfg) // resumes from its checkpoint
	res := <-done
	if err := load.Wait(); err != nil {
		t.Fatalf("sysbench run: %v", err)
	}
	app.stop(t)
	if res.err != nil {
		t.Fatalf("reconcile: %v", res.err)
	}
	got := found(res.rep)
	if len(got) != 1 || got[0] != "42 changed v" {
		t.Fatalf("reconcile under live writes reported %v (unsettled %d), want only the injected [42 changed v]", got, len(res.rep.Unsettled))
	}
	if len(res.rep.Unsettled) != 0 {
		t.Errorf("%d candidates left unsettled: %+v", len(res.rep.Unsettled), res.rep.Unsettled)
	}
	if res.rep.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1 (drift found)", res.rep.ExitCode())
	}
}
