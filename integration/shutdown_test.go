package integration

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestShutdownWithinFiveSecondsWhileBrokerDown takes the broker away from
// under a running replicator and applier, waits until the replicator
// notices, and sends SIGTERM to both: each must exit with code 0, as
// systemd or Kubernetes expect of a stopped service. Two ways down:
//
//   - stopped: the broker process exits. The replicator notices in one of
//     two ways, both accepted: its producer blocks in a send or a commit
//     that sarama keeps retrying, which it logs after stalling 5 s; or a
//     call fails at once (a broker shutting down rejects a commit for want
//     of in-sync replicas; a new session finds nothing listening), and the
//     session is retried with backoff. Which one happens is a race.
//   - frozen: the broker process is stopped with SIGSTOP. Connections stay
//     open and nothing answers, so the producer always blocks in a send or
//     a commit: the case that made the replicator sit out sarama's whole
//     retry schedule (21 s) before exiting.
func TestShutdownWithinFiveSecondsWhileBrokerDown(t *testing.T) {
	bin := drcBinary(t)
	for i, c := range []struct {
		name   string
		down   func(t *testing.T, k *harness.Kafka)
		up     func(t *testing.T, k *harness.Kafka)
		notice []string
	}{
		{
			name:   "stopped",
			down:   func(t *testing.T, k *harness.Kafka) { k.Stop(t) },
			up:     func(t *testing.T, k *harness.Kafka) { k.Start(t) },
			notice: []string{"kafka unavailable; waiting for it", "replication session failed; retrying"},
		},
		{
			name:   "frozen",
			down:   func(t *testing.T, k *harness.Kafka) { signalBroker(t, k, syscall.SIGSTOP) },
			up:     func(t *testing.T, k *harness.Kafka) { signalBroker(t, k, syscall.SIGCONT) },
			notice: []string{"kafka unavailable; waiting for it"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			serverID := uint32(95 + 2*i)
			a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: serverID, GTIDDomainID: serverID})
			b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: serverID + 1, GTIDDomainID: serverID + 1})
			// A broker of the test's own: stopping it disturbs no other test.
			k := harness.StartKafka(t, harness.KafkaOptions{})
			frozen := false
			t.Cleanup(func() {
				if frozen { // let the harness stop it
					signalBroker(t, k, syscall.SIGCONT)
				}
			})
			cluster := harness.UniqueName("shutdown")
			a.Exec(t, "CREATE DATABASE sd", "CREATE TABLE sd.t (id INT PRIMARY KEY)")
			b.Exec(t, "CREATE DATABASE sd", "CREATE TABLE sd.t (id INT PRIMARY KEY)")
			cfg := writeConfig(t, a, b, k, cluster, "drc."+cluster, "applier: {retry_max_backoff: 2s}\n")
			// Start where the source is now, so the rows inserted below
			// replicate however long the replicator takes to get going.
			startAt(t, cfg, a.BinlogGTIDPos(t))

			dir := t.TempDir()
			repLog, appLog := filepath.Join(dir, "replicate.log"), filepath.Join(dir, "apply.log")
			rep := startRole(t, bin, repLog, "replicate", "--config", cfg)
			app := startRole(t, bin, appLog, "apply", "--config", cfg)
			a.Exec(t, "INSERT INTO sd.t VALUES (1), (2), (3)")
			waitApplied(t, a, b, cluster, 60*time.Second)

			// The replicator's heartbeat writes a source transaction every
			// 250ms, so it soon has something to send.
			from := logSize(repLog)
			c.down(t, k)
			frozen = c.name == "frozen"
			a.Exec(t, "INSERT INTO sd.t VALUES (4)")
			noticed := rep.waitLog(t, repLog, from, c.notice...)
			t.Logf("the replicator noticed the broker %s: %q", c.name, noticed)
			rep.running(t, repLog)
			app.running(t, appLog)

			for _, r := range []struct {
				role *role
				log  string
			}{{rep, repLog}, {app, appLog}} {
				// hangAfter is a hang detector, not a performance bound: the
				// roles aim to exit within 5 s, and before this fix the
				// replicator sat out sarama's whole retry schedule (21 s).
				// 15 s leaves a loaded machine plenty of slack while still
				// catching that hang.
				const hangAfter = 15 * time.Second
				start := time.Now()
				code := r.role.sigterm(t, hangAfter)
				t.Logf("%s exited %d, %s after SIGTERM with the broker %s", r.role.name, code, time.Since(start).Round(time.Millisecond), c.name)
				if code != 0 {
					t.Errorf("%s exited %d on SIGTERM with the broker %s, want 0; its log:\n%s", r.role.name, code, c.name, tail(r.log, 3000))
				}
			}

			// What the stopped replicator left open in Kafka is never
			// committed half: once the broker is back, a new pair carries
			// every row once.
			c.up(t, k)
			frozen = false
			startRole(t, bin, repLog, "replicate", "--config", cfg)
			startRole(t, bin, appLog, "apply", "--config", cfg)
			a.Exec(t, "INSERT INTO sd.t VALUES (5)")
			waitApplied(t, a, b, cluster, 90*time.Second)
			if n := queryInt(t, b, "SELECT COUNT(*) FROM sd.t"); n != 5 {
				t.Errorf("b has %d rows after the restart, want 5", n)
			}
		})
	}
}

// signalBroker sends sig to the broker's process.
func signalBroker(t *testing.T, k *harness.Kafka, sig syscall.Signal) {
	t.Helper()
	pid := k.Pid()
	if pid <= 0 { // kill(0, …) would signal the test's own process group
		t.Fatalf("signal the broker with %v: it is not running", sig)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal the broker (pid %d) with %v: %v", pid, sig, err)
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
	r.waitLog(t, logPath, 0, "lease acquired")
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
