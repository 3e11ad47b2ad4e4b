package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestRolesWaitForUnreachableServers starts drc replicate and drc apply
// while the source and the target are down: both wait (a network error is
// worth retrying), and replicate once the servers come up.
func TestRolesWaitForUnreachableServers(t *testing.T) {
	bin := drcBinary(t)
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 91, GTIDDomainID: 91})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 92, GTIDDomainID: 92})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("startup")
	a.Exec(t, "CREATE DATABASE su", "CREATE TABLE su.t (id INT PRIMARY KEY)")
	b.Exec(t, "CREATE DATABASE su", "CREATE TABLE su.t (id INT PRIMARY KEY)")
	cfg := writeConfig(t, a, b, k, cluster, "drc."+cluster, "applier: {retry_max_backoff: 2s}\n")
	// Start where the source is now, whenever the replicator gets in.
	startAt(t, cfg, a.BinlogGTIDPos(t))
	a.Stop(t)
	b.Stop(t)

	dir := t.TempDir()
	repLog, appLog := filepath.Join(dir, "replicate.log"), filepath.Join(dir, "apply.log")
	rep := startRole(t, bin, repLog, "replicate", "--config", cfg)
	app := startRole(t, bin, appLog, "apply", "--config", cfg)
	time.Sleep(4 * time.Second)
	rep.running(t, repLog)
	app.running(t, appLog)
	if s := tail(repLog, 1<<20); !strings.Contains(s, "source unreachable; retrying") || !strings.Contains(s, a.Addr()) {
		t.Errorf("replicator log does not say it waits for the source %s:\n%s", a.Addr(), s)
	}

	a.Start(t)
	b.Start(t)
	a.Exec(t, "INSERT INTO su.t VALUES (1), (2), (3)")
	waitApplied(t, a, b, cluster, 60*time.Second)
	if n := queryInt(t, b, "SELECT COUNT(*) FROM su.t"); n != 3 {
		t.Errorf("b has %d rows, want 3", n)
	}
	for _, r := range []*role{rep, app} {
		if code := r.sigterm(t, 10*time.Second); code != 0 {
			t.Errorf("%s exited %d on SIGTERM, want 0", r.name, code)
		}
	}
}

// TestRolesExitOnWrongPassword: a wrong password is a setting no retry
// fixes; every role (replicate, apply, idgen serve, reconcile, bootstrap,
// status) exits 2 and names the endpoint.
func TestRolesExitOnWrongPassword(t *testing.T) {
	bin := drcBinary(t)
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 93, GTIDDomainID: 93})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("badpw")
	good := writeConfig(t, a, a, k, cluster, "drc."+cluster, "idgen: {listen: \"127.0.0.1:0\", region_id: 1}\n")
	text, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	wrong := strings.ReplaceAll(string(text), "password: "+a.Password, "password: not-the-password")
	if wrong == string(text) {
		t.Fatal("the config has no password to replace")
	}
	if err := os.WriteFile(bad, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, args := range [][]string{{"replicate"}, {"apply"}, {"idgen", "serve"}, {"reconcile", "--no-settle"}, {"bootstrap", "--tables", "x.*"}, {"status"}} {
		name := strings.Join(args, " ")
		logPath := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".log")
		r := startRole(t, bin, logPath, append(args, "--config", bad)...)
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("drc %s with a wrong password still running after 30s:\n%s", name, tail(logPath, 2000))
			r.sigkill()
			continue
		}
		r.killed = true
		out := tail(logPath, 1<<20)
		if code := r.cmd.ProcessState.ExitCode(); code != 2 {
			t.Errorf("drc %s with a wrong password exited %d, want 2:\n%s", name, code, out)
		}
		if !strings.Contains(out, "Access denied") || !strings.Contains(out, "1045") || !strings.Contains(out, a.Addr()) {
			t.Errorf("drc %s does not say the login to %s was refused:\n%s", name, a.Addr(), out)
		}
		if strings.Contains(out, "not-the-password") {
			t.Errorf("drc %s logged the password:\n%s", name, out)
		}
	}
}
