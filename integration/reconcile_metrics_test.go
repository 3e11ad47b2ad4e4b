package integration

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestReconcileServesDriftMetrics runs drc reconcile --every over a pair
// with drift, metrics.listen set, and scrapes /metrics after the first
// run: the drift gauges say what the report says, and stay there between
// runs for an alert to read.
func TestReconcileServesDriftMetrics(t *testing.T) {
	bin := drcBinary(t)
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 97, GTIDDomainID: 97})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 98, GTIDDomainID: 98})
	k := harness.SharedKafka(t)
	a.Exec(t, "CREATE DATABASE rm", "CREATE TABLE rm.t (id INT PRIMARY KEY, v INT)", "INSERT INTO rm.t VALUES (1,1),(2,2),(3,3),(4,4)",
		"CREATE TABLE rm.same (id INT PRIMARY KEY)", "INSERT INTO rm.same VALUES (1)")
	// On b: row 4 missing, row 2 changed; rm.same equal.
	b.Exec(t, "CREATE DATABASE rm", "CREATE TABLE rm.t (id INT PRIMARY KEY, v INT)", "INSERT INTO rm.t VALUES (1,1),(2,20),(3,3)",
		"CREATE TABLE rm.same (id INT PRIMARY KEY)", "INSERT INTO rm.same VALUES (1)")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cluster := harness.UniqueName("recmet")
	cfg := writeConfig(t, a, b, k, cluster, "drc."+cluster, "metrics: {listen: \""+addr+"\"}\n")
	logPath := filepath.Join(t.TempDir(), "reconcile.log")
	r := startRole(t, bin, logPath, "reconcile", "--config", cfg, "--no-settle", "--tables", "rm.*", "--every", "1h")

	var m map[string]float64
	deadline := time.Now().Add(90 * time.Second)
	for {
		m = scrapeReconcile(addr)
		if m["drc_reconcile_last_run_timestamp_seconds"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished run on /metrics after 90s (last scrape %v); the log:\n%s", m, tail(logPath, 3000))
		}
		r.running(t, logPath)
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("after the first run: %v", m)
	if m["drc_reconcile_tables_differ"] != 1 {
		t.Errorf("drc_reconcile_tables_differ = %v, want 1 (rm.t)", m["drc_reconcile_tables_differ"])
	}
	if m["drc_reconcile_rows_differ"] != 2 {
		t.Errorf("drc_reconcile_rows_differ = %v, want 2 (one missing, one changed)", m["drc_reconcile_rows_differ"])
	}
	if m["drc_reconcile_rows_checked_total"] < 5 {
		t.Errorf("drc_reconcile_rows_checked_total = %v, want at least the 5 source rows", m["drc_reconcile_rows_checked_total"])
	}
	if now := float64(time.Now().Unix()); m["drc_reconcile_last_run_timestamp_seconds"] > now+1 {
		t.Errorf("drc_reconcile_last_run_timestamp_seconds = %v, in the future (now %v)", m["drc_reconcile_last_run_timestamp_seconds"], now)
	}
	if code := r.sigterm(t, 15*time.Second); code != 0 {
		t.Errorf("drc reconcile --every exited %d on SIGTERM, want 0; its log:\n%s", code, tail(logPath, 3000))
	}
}

// scrapeReconcile GETs /metrics at addr and returns the unlabelled
// drc_reconcile_* samples; nil when nothing answers yet.
func scrapeReconcile(addr string) map[string]float64 {
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	got := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "drc_reconcile_") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			got[name] = v
		}
	}
	return got
}
