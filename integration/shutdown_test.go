package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestShutdownWithinFiveSecondsWhileBrokerDown stops the broker under a
// running replicator and applier, waits until the replicator reports that
// Kafka is unavailable (its producer is then stuck in a send or a commit
// that sarama keeps retrying), and sends SIGTERM to both: each must exit
// with code 0, as systemd or Kubernetes expect of a stopped service.
func TestShutdownWithinFiveSecondsWhileBrokerDown(t *testing.T) {
	bin := drcBinary(t)
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 95, GTIDDomainID: 95})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 96, GTIDDomainID: 96})
	// A broker of the test's own: stopping it disturbs no other test.
	k := harness.StartKafka(t, harness.KafkaOptions{})
	cluster := harness.UniqueName("shutdown")
	a.Exec(t, "CREATE DATABASE sd", "CREATE TABLE sd.t (id INT PRIMARY KEY)")
	b.Exec(t, "CREATE DATABASE sd", "CREATE TABLE sd.t (id INT PRIMARY KEY)")
	cfg := writeConfig(t, a, b, k, cluster, "drc."+cluster, "applier: {retry_max_backoff: 2s}\n")
	// Start where the source is now, so the rows inserted below replicate
	// however long the replicator takes to get going.
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withStart := strings.Replace(string(text), "heartbeat_interval: 250ms}", "heartbeat_interval: 250ms, start_gtid: \""+a.BinlogGTIDPos(t)+"\"}", 1)
	if withStart == string(text) {
		t.Fatal("the config has no replicator block to extend")
	}
	if err := os.WriteFile(cfg, []byte(withStart), 0o600); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	repLog, appLog := filepath.Join(dir, "replicate.log"), filepath.Join(dir, "apply.log")
	rep := startRole(t, bin, repLog, "replicate", "--config", cfg)
	app := startRole(t, bin, appLog, "apply", "--config", cfg)
	a.Exec(t, "INSERT INTO sd.t VALUES (1), (2), (3)")
	waitApplied(t, a, b, cluster, 60*time.Second)

	k.Stop(t)
	// The replicator's heartbeat writes a source transaction every 250ms,
	// so with the broker gone its producer blocks in a send or a commit;
	// it logs that after stalling 5 s.
	a.Exec(t, "INSERT INTO sd.t VALUES (4)")
	rep.waitLog(t, repLog, "kafka unavailable; waiting for it")
	rep.running(t, repLog)
	app.running(t, appLog)

	for _, r := range []struct {
		role *role
		log  string
	}{{rep, repLog}, {app, appLog}} {
		// hangAfter is a hang detector, not a performance bound: the roles
		// aim to exit within 5 s, and before this fix the replicator sat out
		// sarama's whole retry schedule (21 s). 15 s leaves a loaded
		// machine plenty of slack while still catching that hang.
		const hangAfter = 15 * time.Second
		start := time.Now()
		code := r.role.sigterm(t, hangAfter)
		t.Logf("%s exited %d, %s after SIGTERM with the broker down", r.role.name, code, time.Since(start).Round(time.Millisecond))
		if code != 0 {
			t.Errorf("%s exited %d on SIGTERM with the broker down, want 0; its log:\n%s", r.role.name, code, tail(r.log, 3000))
		}
	}

	// What the stopped replicator left open in Kafka is never committed
	// half: once the broker is back, a new pair carries every row once.
	k.Start(t)
	startRole(t, bin, repLog, "replicate", "--config", cfg)
	startRole(t, bin, appLog, "apply", "--config", cfg)
	a.Exec(t, "INSERT INTO sd.t VALUES (5)")
	waitApplied(t, a, b, cluster, 90*time.Second)
	if n := queryInt(t, b, "SELECT COUNT(*) FROM sd.t"); n != 5 {
		t.Errorf("b has %d rows after the restart, want 5", n)
	}
}

// TestIDGenShutdownWithinFiveSecondsWhileStoreDown: drc idgen serve, with
// the server holding its leases killed, exits 0 on SIGTERM without waiting
// out its retries; the lease it could not release expires by itself.
func TestIDGenShutdownWithinFiveSecondsWhileStoreDown(t *testing.T) {
	bin := drcBinary(t)
	m := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 97, GTIDDomainID: 97})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("idsd")
	cfg := writeConfig(t, m, m, k, cluster, "drc."+cluster, "idgen: {listen: \"127.0.0.1:0\", region_id: 1}\n")
	logPath := filepath.Join(t.TempDir(), "idgen.log")
	r := startRole(t, bin, logPath, "idgen", "serve", "--config", cfg)
	r.waitLog(t, logPath, "lease acquired")
	m.Kill(t)
	time.Sleep(time.Second) // a renewal or two fails against the dead server
	r.running(t, logPath)

	// A hang detector, not a performance bound (see the test above).
	const hangAfter = 15 * time.Second
	start := time.Now()
	code := r.sigterm(t, hangAfter)
	t.Logf("idgen serve exited %d, %s after SIGTERM with its lease store down", code, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("idgen serve exited %d on SIGTERM with its lease store down, want 0; its log:\n%s", code, tail(logPath, 3000))
	}
}
