package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
)

// alertScale divides the for: durations and thresholds of the rules the
// alert test asserts on (alertsScaled), so that a 5-minute rule fires
// within the test's time.
const alertScale = 10

// alertsScaled are the rules TestAlertsWithRealPrometheus waits for. Their
// expressions are the shipped ones; only the numbers after a comparison
// operator, and for:, are divided by alertScale.
var alertsScaled = []string{"DrcApplyLagWarning", "DrcApplyLagCritical", "DrcApplierNoProgress"}

// notExportedHere are the drc_ metrics named by the rules and the
// dashboard that the roles of TestAlertsWithRealPrometheus do not export,
// and why; every other name must be among Prometheus's scraped series.
var notExportedHere = map[string]string{
	"drc_tls_certificate_expiry_seconds": "one series per certificate file in the config; the test's roles use no TLS",
}

// notExportedPrefixes are metric families of roles the test does not start.
var notExportedPrefixes = []string{
	"drc_reconcile_", // drc reconcile (its metrics are tested with reconcile)
	"drc_bootstrap_", // drc bootstrap
}

// TestAlertsWithRealPrometheus runs a real Prometheus server (Debian's,
// unpacked by deploy/local/install) as a plain process, scraping an
// in-process replicator, applier and idgen node every second with the
// shipped rules of deploy/prometheus/drc-alerts.yaml. The rules the test
// waits for (alertsScaled) are loaded with every for: and every threshold
// divided by alertScale (10): lag warning above 3s for 12s, critical above
// 30s for 6s, no progress after 30s without a checkpoint while the source's
// heartbeat is under 6s old. The copy is rewritten from the shipped file,
// so the expressions are the shipped ones; the other rules load unchanged.
//
// Stopping the applier's Run while writes go on, with its registry still
// scraped, is a stalled applier: the lag warning must fire; a new applier
// (a new registry behind the same address) must resolve it. Then the
// broker stops: the applier's checkpoint stands still while the replicator
// keeps writing heartbeats on the source, and the no-progress alert must
// fire. First, every drc_ metric the rules and the dashboard name must be
// among the series Prometheus scraped from these live roles, apart from
// the ones listed in notExportedHere and notExportedPrefixes.
func TestAlertsWithRealPrometheus(t *testing.T) {
	prom := prometheusBinary(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 97, GTIDDomainID: 97})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 98, GTIDDomainID: 98})
	// A broker of the test's own: stopping it disturbs no other test.
	k := harness.StartKafka(t, harness.KafkaOptions{})
	cluster := harness.UniqueName("alerts")
	topic := "drc." + cluster
	for _, m := range []*harness.Server{a, b} {
		m.Exec(t, "CREATE DATABASE al",
			"CREATE TABLE al.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
			"CREATE TABLE al.skipme (id INT PRIMARY KEY)")
	}

	// The roles, each behind its own /metrics address.
	repReg := prometheus.NewRegistry()
	rcfg := replicatorConfig(a, k, cluster, topic)
	rcfg.Filter = replicator.Filter{Exclude: []string{"al.skipme"}}
	startReplicatorOn(t, rcfg, repReg)
	repURL := serveMetrics(t, promhttp.HandlerFor(repReg, promhttp.HandlerOpts{}))

	appMetrics := &swappableRegistry{}
	acfg := applyConfig(b, k, cluster, topic)
	app := startApplier(t, acfg)
	appMetrics.reg.Store(app.reg)
	appURL := serveMetrics(t, appMetrics)

	// idgen leases from a server of its own: its drc_meta tables on the
	// source would be replicated.
	idURL := startIDGenOn(t, harness.StartMariaDB(t, harness.ServerOptions{ServerID: 99}))

	// Prometheus, scraping all three every second with the rules.
	dir := t.TempDir()
	rules := scaledRules(t, filepath.Join(root, "deploy", "prometheus", "drc-alerts.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: drc-replicator
    static_configs: [{targets: [%q], labels: {cluster: %s, region: a}}]
  - job_name: drc-applier
    static_configs: [{targets: [%q], labels: {cluster: %s, region: b}}]
  - job_name: drc-idgen
    static_configs: [{targets: [%q], labels: {region: a}}]
`, repURL, cluster, appURL, cluster, idURL)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, prom, dir)

	// Once the pipeline runs, one row on the target first makes a
	// duplicate-key conflict, and one write to the excluded table a
	// filtered transaction, so that the series that exist only after such
	// an event are there. Then writes go on for the whole test, one
	// transaction every 50ms.
	a.Exec(t, "INSERT INTO al.t (id, v) VALUES (1, 1)")
	waitApplied(t, a, b, cluster, 60*time.Second)
	b.Exec(t, "INSERT INTO al.t (id, v) VALUES (2, 0)")
	a.Exec(t, "INSERT INTO al.t (id, v) VALUES (2, 1)", "INSERT INTO al.skipme VALUES (1)")
	writes := startWriter(t, a.Open(t, ""))

	// Every drc_ metric the rules and the dashboard name is scraped.
	want := metricNames(t,
		filepath.Join(root, "deploy", "prometheus", "drc-alerts.yaml"),
		filepath.Join(root, "deploy", "grafana", "drc.json"))
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		have := map[string]bool{}
		var names []string
		api.get(t, "/api/v1/label/__name__/values", &names)
		for _, n := range names {
			have[n] = true
		}
		missing = missing[:0]
		for _, n := range want {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(missing) > 0 {
		t.Errorf("metrics named by the rules or the dashboard that no live role exported within 60s: %s", strings.Join(missing, ", "))
	}
	t.Logf("%d drc_ metric names of the rules and the dashboard are scraped from the live roles", len(want)-len(missing))
	// The harness's broker keeps records 24h (log.retention.hours) and the
	// applier has just applied: the horizon is nearly all of it.
	if api.count(t, `drc_applier_retention_horizon_seconds{job="drc-applier"} > 20 * 3600`) == 0 {
		t.Errorf("drc_applier_retention_horizon_seconds is not above 20h with the broker's 24h retention")
	}

	// Pause the applier while writes go on: its lag grows at scrape time.
	app.stop(t)
	paused := time.Now()
	api.waitAlert(t, "DrcApplyLagWarning", "firing", 90*time.Second)
	t.Logf("DrcApplyLagWarning fired %s after the applier was paused", time.Since(paused).Round(time.Second))

	// Resume: a new applier behind the same address catches up. Its lag
	// is NaN until its session has read the target's newest heartbeat, and
	// a comparison with NaN is false: resolved means inactive with the lag
	// a number under the (scaled) threshold.
	app = startApplier(t, acfg)
	appMetrics.reg.Store(app.reg)
	resumed := time.Now()
	deadline = time.Now().Add(90 * time.Second)
	for api.alertState(t, "DrcApplyLagWarning") != "" || api.count(t, `drc_applier_lag_seconds{job="drc-applier"} < 3`) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("DrcApplyLagWarning is %q 90s after the applier resumed, want it resolved with the lag under 3s", api.alertState(t, "DrcApplyLagWarning"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("DrcApplyLagWarning resolved %s after the applier resumed", time.Since(resumed).Round(time.Second))
	if st := api.alertState(t, "DrcApplierNoProgress"); st != "" {
		t.Fatalf("DrcApplierNoProgress is %s with the pipeline running", st)
	}

	// Stop the broker: the source advances, the checkpoint does not.
	k.Stop(t)
	stopped := time.Now()
	api.waitAlert(t, "DrcApplierNoProgress", "firing", 120*time.Second)
	t.Logf("DrcApplierNoProgress fired %s after the broker stopped", time.Since(stopped).Round(time.Second))
	// The running applier's lag keeps growing while the broker is away:
	// every heartbeat it applied was written before the broker stopped.
	if wait := 30*time.Second - time.Since(stopped); wait > 0 {
		time.Sleep(wait)
	}
	since := time.Since(stopped)
	if lag := app.counter(t, "drc_applier_lag_seconds"); lag < since.Seconds() {
		t.Errorf("drc_applier_lag_seconds = %.1f %s after the broker stopped, want at least that", lag, since.Round(time.Second))
	} else {
		t.Logf("drc_applier_lag_seconds = %.1f %s after the broker stopped", lag, since.Round(time.Second))
	}
	if n := writes(); n == 0 {
		t.Errorf("the writer wrote nothing on the source")
	}
	k.Start(t) // the roles' cleanups stop them faster with the broker back
}

// prometheusBinary is the prometheus server from Debian's package, which
// deploy/local/install unpacks into the cache next to promtool.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	harness.Ensure(t)
	cache := os.Getenv("DRC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatalf("locate the cache dir (set DRC_CACHE): %v", err)
		}
		cache = filepath.Join(home, ".cache", "drc")
	}
	bin := filepath.Join(cache, "prometheus", "usr", "bin", "prometheus")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("prometheus server: %v (deploy/local/install unpacks it)", err)
	}
	return bin
}

// scaledRules is the rules file at path with the rules in alertsScaled
// sped up by alertScale: for: divided, and every number after a
// comparison operator in expr divided.
func scaledRules(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string           `yaml:"name"`
			Rules []map[string]any `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	threshold := regexp.MustCompile(`([<>]=?|==|!=)\s*([0-9]+(?:\.[0-9]+)?)`)
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			name, _ := r["alert"].(string)
			if !slices.Contains(alertsScaled, name) {
				continue
			}
			seen[name] = true
			expr, _ := r["expr"].(string)
			r["expr"] = threshold.ReplaceAllStringFunc(expr, func(m string) string {
				sub := threshold.FindStringSubmatch(m)
				v, err := strconv.ParseFloat(sub[2], 64)
				if err != nil {
					t.Fatalf("rule %s: threshold %q: %v", name, sub[2], err)
				}
				return sub[1] + " " + strconv.FormatFloat(v/alertScale, 'f', -1, 64)
			})
			if f, ok := r["for"].(string); ok {
				d, err := time.ParseDuration(f)
				if err != nil {
					t.Fatalf("rule %s: for %q: %v", name, f, err)
				}
				r["for"] = (d / alertScale).String()
			}
			t.Logf("rule %s scaled down %dx: expr %q, for %v", name, alertScale, r["expr"], r["for"])
		}
	}
	for _, name := range alertsScaled {
		if !seen[name] {
			t.Fatalf("%s has no rule %s", path, name)
		}
	}
	out, err := yaml.Marshal(&file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// metricNames are the drc_ metric names the files mention (tokens not
// followed by '.', which are tables such as drc_meta.heartbeat), less the
// ones the test's roles do not export.
func metricNames(t *testing.T, files ...string) []string {
	t.Helper()
	token := regexp.MustCompile(`(?:^|[^A-Za-z0-9_.])(drc_[a-z0-9_]+)(?:[^a-z0-9_.]|$)`)
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range token.FindAllStringSubmatch(string(raw), -1) {
			n := m[1]
			if _, ok := notExportedHere[n]; ok || slices.ContainsFunc(notExportedPrefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
				continue
			}
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 20 {
		t.Fatalf("only %d drc_ metric names found in %v", len(names), files)
	}
	return names
}

// swappableRegistry serves /metrics of whichever registry it holds, so a
// restarted in-process role keeps its scrape address.
type swappableRegistry struct {
	reg atomic.Pointer[prometheus.Registry]
}

func (s *swappableRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.reg.Load(), promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// serveMetrics serves h on /metrics of a loopback address, returned as
// host:port, until the test ends.
func serveMetrics(t *testing.T, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// startReplicatorOn runs an in-process replicator with its metrics on reg
// until the test ends.
func startReplicatorOn(t *testing.T, cfg replicator.Config, reg *prometheus.Registry) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := replicator.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("replicator: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("replicator did not stop within 30s of cancel")
		}
	})
}

// startIDGenOn runs an in-process idgen server leasing from m, and returns
// the host:port of its HTTP API (with /metrics).
func startIDGenOn(t *testing.T, m *harness.Server) string {
	t.Helper()
	cfg := idgenConfig(1, nil, harness.UniqueName("drc_meta"))
	cfg.DSN = m.DSN("")
	_, addr := serveIDGen(t, cfg)
	resp, err := http.Get("http://" + addr + "/v1/ids?count=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("idgen GET /v1/ids: %s", resp.Status)
	}
	return addr
}

// startWriter inserts a row into al.t every 50ms until the test ends; the
// returned func counts the rows written so far.
func startWriter(t *testing.T, db *sql.DB) func() int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var n atomic.Int64
	var firstErr atomic.Value
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO al.t (v) VALUES (1)"); err != nil {
				if ctx.Err() == nil {
					firstErr.CompareAndSwap(nil, err.Error())
				}
				continue
			}
			n.Add(1)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if e := firstErr.Load(); e != nil {
			t.Errorf("writer: %s", e)
		}
	})
	return n.Load
}

// promAPI is a running Prometheus server's HTTP API.
type promAPI struct{ base string }

// startPrometheus runs prom with dir/prometheus.yml, its data in dir, on a
// free loopback port, until the test ends; it returns once /-/ready
// answers.
func startPrometheus(t *testing.T, prom, dir string) *promAPI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(prom,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prom, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	api := &promAPI{base: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited before it was ready (%v); its log:\n%s", err, tail(logPath, 3000))
		default:
		}
		resp, err := http.Get(api.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s within 30s; its log:\n%s", addr, tail(logPath, 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// get decodes the data of a successful API answer to path into v.
func (p *promAPI) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	if body.Status != "success" {
		t.Fatalf("prometheus %s: %s %s", path, body.Status, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		t.Fatalf("prometheus %s: data: %v", path, err)
	}
}

// count is how many series the instant query expr returns.
func (p *promAPI) count(t *testing.T, expr string) int {
	t.Helper()
	var data struct {
		Result []json.RawMessage `json:"result"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(expr), &data)
	return len(data.Result)
}

// alertState is the state of the active alert name ("pending" or
// "firing"), "" when it is not active.
func (p *promAPI) alertState(t *testing.T, name string) string {
	t.Helper()
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	p.get(t, "/api/v1/alerts", &data)
	state := ""
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state
}

// waitAlert waits until alert name is in state ("" for not active).
func (p *promAPI) waitAlert(t *testing.T, name, state string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := p.alertState(t, name)
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			want := state
			if want == "" {
				want = "inactive"
			}
			t.Fatalf("%s is %q after %s, want %s", name, got, timeout, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
