package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// drcConfig writes a drc YAML for source a, target b. With via (two
// proxies), the roles reach a and b through them.
func drcConfig(t *testing.T, dir string, a, b *harness.Server, k *harness.Kafka, cluster, topic, startGTID string, via ...*harness.Proxy) string {
	t.Helper()
	ah, ap, bh, bp := a.Host, a.Port, b.Host, b.Port
	if len(via) == 2 {
		ah, ap, bh, bp = via[0].Host, via[0].Port, via[1].Host, via[1].Port
	}
	y := fmt.Sprintf(`cluster: %s
source: {region: a, flavor: %s, host: %s, port: %d, user: %s, password: %s}
target: {region: b, flavor: %s, host: %s, port: %d, user: %s, password: %s}
kafka: {brokers: [%q], topic: %s, version: 3.9.0}
log: {level: info, format: text}
replicator: {server_id: %d, heartbeat_interval: 200ms, start_gtid: %q}
applier: {workers: 4, retry_max_backoff: 2s}
`, cluster, a.Flavor, ah, ap, a.User, a.Password, b.Flavor, bh, bp, b.User, b.Password, k.Bootstrap, topic,
		7000+rand.IntN(1000), startGTID)
	f := filepath.Join(dir, "drc.yaml")
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func applySysbench(ctx context.Context, m *harness.Server, args ...string) *exec.Cmd {
	base := []string{"oltp_write_only", "--mysql-host=127.0.0.1", "--mysql-port=" + strconv.Itoa(m.Port),
		"--mysql-user=" + m.User, "--mysql-password=" + m.Password, "--mysql-db=sbtest", "--tables=2", "--table-size=10000"}
	return exec.CommandContext(ctx, "sysbench", append(base, args...)...)
}

// sbtestPair starts regions a and b (server and GTID domain ids ida, idb),
// each with an empty sbtest database whose tables and rows replicate, and
// names a fresh cluster (prefix_...) and its topic.
func sbtestPair(t *testing.T, ida, idb uint32, prefix string) (a, b *harness.Server, k *harness.Kafka, cluster, topic string) {
	t.Helper()
	return sbtestPairOn(t, harness.FlavorMariaDB, ida, idb, prefix)
}

// sbtestPairOn is sbtestPair with both regions on flavor.
func sbtestPairOn(t *testing.T, flavor harness.Flavor, ida, idb uint32, prefix string) (a, b *harness.Server, k *harness.Kafka, cluster, topic string) {
	t.Helper()
	a = harness.StartServer(t, flavor, harness.ServerOptions{ServerID: ida, GTIDDomainID: ida})
	b = harness.StartServer(t, flavor, harness.ServerOptions{ServerID: idb, GTIDDomainID: idb})
	k = harness.SharedKafka(t)
	cluster = harness.UniqueName(prefix)
	a.Exec(t, "CREATE DATABASE sbtest")
	b.Exec(t, "CREATE DATABASE sbtest")
	return a, b, k, cluster, "drc." + cluster
}

// TestApplierExactlyOnceUnderCrashes SIGKILLs the applier at random moments
// while sysbench writes to a, then the applier and the replicator both;
// after draining, b matches a table by table and no conflict was recorded.
func TestApplierExactlyOnceUnderCrashes(t *testing.T) {
	t.Run("MariaDB", func(t *testing.T) {
		testApplierExactlyOnceUnderCrashes(t, harness.FlavorMariaDB, 35, chaosKills(20), 20, chaosKills(10))
	})
	// Shorter on MySQL: the same code paths, half the rounds.
	t.Run("MySQL", func(t *testing.T) {
		testApplierExactlyOnceUnderCrashes(t, harness.FlavorMySQL, 18, chaosKills(8), 12, chaosKills(5))
	})
}

// testApplierExactlyOnceUnderCrashes: sysbench for secs1 seconds while the
// applier is killed kills1 times, then for secs2 seconds while both roles
// are killed kills2 times.
func testApplierExactlyOnceUnderCrashes(t *testing.T, flavor harness.Flavor, secs1, kills1, secs2, kills2 int) {
	dir := t.TempDir()
	bin := drcBinary(t)
	a, b, k, cluster, topic := sbtestPairOn(t, flavor, 1, 2, "crash")
	cfgFile := drcConfig(t, dir, a, b, k, cluster, topic, a.BinlogGTIDPos(t))
	logPath := filepath.Join(dir, "drc.log")
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("drc log (last 4000 bytes):\n%s", out[max(0, len(out)-4000):])
		}
	})

	rep := startRole(t, bin, logPath, "replicate", "--config", cfgFile)
	// Each kill round takes up to about 5 s; make chaos runs 100s of them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(kills1+kills2)*5*time.Second)
	defer cancel()
	if out, err := applySysbench(ctx, a, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	run := func(seconds int) *exec.Cmd {
		c := applySysbench(ctx, a, "run", "--time="+strconv.Itoa(seconds), "--rate=150", "--threads=4", "--report-interval=0")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	kills := func(n int, withReplicator bool) {
		for i := 0; i < n; i++ {
			app := startRole(t, bin, logPath, "apply", "--config", cfgFile)
			time.Sleep(time.Duration(500+rand.IntN(2500)) * time.Millisecond)
			app.sigkill()
			if withReplicator && i%2 == 0 {
				rep.sigkill()
				rep = startRole(t, bin, logPath, "replicate", "--config", cfgFile)
			}
		}
	}

	sb := run(secs1)
	kills(kills1, false)
	if err := sb.Wait(); err != nil {
		t.Fatalf("sysbench run: %v", err)
	}
	sb = run(secs2)
	kills(kills2, true)
	if err := sb.Wait(); err != nil {
		t.Fatalf("sysbench run: %v", err)
	}

	app := startRole(t, bin, logPath, "apply", "--config", cfgFile)
	waitApplied(t, a, b, cluster, 90*time.Second)
	app.sigkill()
	rep.sigkill()
	assertSameTables(t, a, b, "sbtest.sbtest1", "sbtest.sbtest2")
	if n := conflictCount(t, b, cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	t.Logf("a: %d rows, gtid %s", queryInt(t, a, "SELECT (SELECT COUNT(*) FROM sbtest.sbtest1)+(SELECT COUNT(*) FROM sbtest.sbtest2)"), a.BinlogGTIDPos(t))
}
