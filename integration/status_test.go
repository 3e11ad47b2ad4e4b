package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/status"
)

// statusLine is one side of `drc status --output json`, for tests that
// look at one side only.
type statusLine struct {
	Region   string
	Position string
	Error    string
}

// runStatus runs drc status with args and returns its exit code, stdout
// and stderr.
func runStatus(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runDRC(t, append([]string{"status"}, args...)...)
}

// runDRC runs the drc binary with args to its end and returns its exit
// code, stdout and stderr.
func runDRC(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(drcBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("drc %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errOut.String()
}

// decodeStatus decodes `drc status --output json`.
func decodeStatus(t *testing.T, out string) status.Report {
	t.Helper()
	var rep status.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("drc status --output json: %v:\n%s", err, out)
	}
	return rep
}

// parseStatus returns the source and target sides of a JSON status.
func parseStatus(t *testing.T, out string) (src, dst statusLine) {
	t.Helper()
	rep := decodeStatus(t, out)
	return statusLine{rep.Source.Region, rep.Source.Position, rep.Source.Error},
		statusLine{rep.Target.Region, rep.Target.Position, rep.Target.Error}
}

// statusJSON runs drc status --output json with extra args.
func statusJSON(t *testing.T, cfg string, extra ...string) (int, status.Report, string) {
	t.Helper()
	code, out, stderr := runStatus(t, append([]string{"--config", cfg, "--output", "json"}, extra...)...)
	if code == 2 && out == "" {
		t.Fatalf("drc status exit 2 without a report:\n%s", stderr)
	}
	return code, decodeStatus(t, out), out + stderr
}

// writeSteadily inserts a row into table on src every 50 ms until the
// returned stop is called, which waits for the writer to end.
func writeSteadily(t *testing.T, src *harness.Server, table string, first int) (stop func() int) {
	t.Helper()
	db := src.Open(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	n := first
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (?, 'v')", n); err != nil {
				if ctx.Err() == nil {
					t.Errorf("steady insert %d: %v", n, err)
				}
				return
			}
			n++
		}
	}()
	return func() int {
		cancel()
		wg.Wait()
		return n
	}
}

func hasReason(rep status.Report, s string) bool {
	for _, r := range rep.Reasons {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

func TestStatusCommand(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testStatusCommand(t, f) })
	}
}

// testStatusCommand walks one pipeline through what on-call sees: caught
// up under load, a conflict, the applier stopped on an error while writes
// go on, Kafka down, a wrong password, the target down.
func testStatusCommand(t *testing.T, flavor harness.Flavor) {
	p := newApplyPairOn(t, flavor, flavor, func(c *applier.Config) {
		c.Tables = []applier.TablePolicy{{Table: "st.strict", Conflict: "stop"}}
	})
	cfg := writeConfig(t, p.a, p.b, p.k, p.cluster, p.topic, "")
	drcBinary(t) // build before anything runs against the clock
	p.a.Exec(t, "CREATE DATABASE st",
		"CREATE TABLE st.t (id INT PRIMARY KEY, v VARCHAR(40))",
		"CREATE TABLE st.strict (id INT PRIMARY KEY, v VARCHAR(40))")
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)

	// Steady writes: CAUGHT UP once the applier keeps up, and healthy.
	stop := writeSteadily(t, p.a, "st.t", 1)
	var rep status.Report
	var out string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		var code int
		code, rep, out = statusJSON(t, cfg)
		if code == 0 && rep.Target.CaughtUp != nil && *rep.Target.CaughtUp {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("under steady writes, never exit 0 with caught_up true; last exit %d:\n%s", code, out)
		}
	}
	written := stop()
	t.Logf("caught up under steady writes (%d rows so far):\n%s", written, out)
	if rep.Health != status.Healthy || len(rep.Reasons) != 0 || !rep.Kafka.Reachable {
		t.Errorf("health %s, reasons %q, kafka reachable %v; want healthy, none, true", rep.Health, rep.Reasons, rep.Kafka.Reachable)
	}
	if rep.Source.Region != "a" || rep.Source.Position == "" || rep.Source.Published == "" || rep.Source.PublishLagSeconds == nil ||
		rep.Source.HeartbeatAgeSeconds == nil || rep.Source.PurgeHorizonSeconds == nil && !rep.Source.PurgeHorizonNever {
		t.Errorf("source side incomplete: %+v", rep.Source)
	}
	if rep.Target.Region != "b" || len(rep.Target.Checkpoint) != 1 || len(rep.Partitions) != 1 ||
		rep.Target.RecordsBehind == nil || rep.Target.TransactionsBehind == nil || rep.Target.LagSeconds == nil {
		t.Errorf("target side incomplete: %+v, partitions %+v", rep.Target, rep.Partitions)
	}
	if rep.Target.LagSeconds != nil && (*rep.Target.LagSeconds < 0 || *rep.Target.LagSeconds >= 60) {
		t.Errorf("lag_seconds = %v, want in [0, 60)", *rep.Target.LagSeconds)
	}

	// The text form; a lag above --max-lag exits 1.
	if code, o, stderr := runStatus(t, "--config", cfg); code != 0 || !strings.Contains(o, "TARGET b") || !strings.Contains(o, "HEALTHY") {
		t.Errorf("drc status (text) exit %d, want 0 and a TARGET b line:\n%s\n%s", code, o, stderr)
	}
	if code, rep, o := statusJSON(t, cfg, "--max-lag", "1ns"); code != 1 || !hasReason(rep, "above --max-lag") {
		t.Errorf("drc status --max-lag 1ns exit %d, reasons %q; want 1 naming the lag\n%s", code, rep.Reasons, o)
	}

	// A conflict shows: when, where and what kind, never the rows.
	p.b.Exec(t, "INSERT INTO st.t VALUES (1000000, 'target-secret-row')")
	p.a.Exec(t, "INSERT INTO st.t VALUES (1000000, 'source-secret-row')")
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	code, rep, out := statusJSON(t, cfg)
	c := rep.Target.Conflicts
	if code != 1 || c == nil || c.Recent < 1 || c.Newest == nil || c.Newest.Table != "st.t" || c.Newest.Kind != "duplicate_key" ||
		!hasReason(rep, "conflicts recorded on target b") {
		t.Errorf("after a conflict: exit %d, conflicts %+v, reasons %q; want 1, the st.t duplicate_key\n%s", code, c, rep.Reasons, out)
	}
	_, text, _ := runStatus(t, "--config", cfg)
	if strings.Contains(out+text, "secret-row") {
		t.Errorf("drc status prints a row value:\n%s\n%s", out, text)
	}

	// The applier stops on a conflict under policy stop, and the writes
	// go on: records behind, a growing lag, the stop error, exit 1.
	p.b.Exec(t, "INSERT INTO st.strict VALUES (1, 'b')")
	p.a.Exec(t, "INSERT INTO st.strict VALUES (1, 'a')")
	if err := p.app.wait(t, 60*time.Second); err == nil {
		t.Fatal("the applier ended without an error on a conflict under policy stop")
	}
	for i := 0; i < 20; i++ {
		p.a.Exec(t, fmt.Sprintf("INSERT INTO st.t VALUES (%d, 'after the stop')", 2000000+i))
	}
	var first status.Report
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		code, first, out = statusJSON(t, cfg, "--conflict-window", "1ns")
		if code == 1 && first.Target.CaughtUp != nil && !*first.Target.CaughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the applier stopped and writes going on: never exit 1 with caught_up false; last exit %d:\n%s", code, out)
		}
	}
	t.Logf("applier stopped:\n%s", out)
	if first.Target.RecordsBehind == nil || *first.Target.RecordsBehind <= 0 || first.Target.TransactionsBehind == nil || *first.Target.TransactionsBehind < 21 {
		t.Errorf("records_behind %v, transactions_behind %v; want > 0 and >= 21 (the conflicting insert and 20 more)",
			first.Target.RecordsBehind, first.Target.TransactionsBehind)
	}
	if !hasReason(first, "target b is behind") || !first.Target.Stopped || first.Target.LastError == nil ||
		!strings.Contains(first.Target.LastError.Error, "strict") || !hasReason(first, "stopped on an error") {
		t.Errorf("reasons %q, stopped %v, last error %+v; want behind, and the stop error", first.Reasons, first.Target.Stopped, first.Target.LastError)
	}
	if first.Target.LagSeconds == nil {
		t.Fatalf("no lag_seconds with the applier stopped:\n%s", out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		_, rep, out = statusJSON(t, cfg, "--conflict-window", "1ns")
		if rep.Target.LagSeconds != nil && *rep.Target.LagSeconds > *first.Target.LagSeconds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag_seconds did not grow from %v with the applier stopped:\n%s", *first.Target.LagSeconds, out)
		}
	}

	// Kafka stopped: unreachable, named, exit 1.
	p.k.Stop(t)
	code, rep, out = statusJSON(t, cfg, "--conflict-window", "1ns")
	t.Logf("kafka stopped: exit %d\n%s", code, out)
	if code != 1 || rep.Kafka.Reachable || !strings.Contains(rep.Kafka.Error, p.k.Bootstrap) || !hasReason(rep, "kafka unreachable") {
		t.Errorf("with kafka stopped: exit %d, reachable %v, error %q, reasons %q; want 1, false, naming %s",
			code, rep.Kafka.Reachable, rep.Kafka.Error, rep.Reasons, p.k.Bootstrap)
	}
	p.k.Start(t)

	// A wrong password exits 2, naming the endpoint.
	body, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(body), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "target:") {
			lines[i] = strings.Replace(l, "password: "+p.b.Password+"}", "password: wrong-password}", 1)
		}
	}
	bad := cfg + ".bad.yaml"
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	code, rep, out = statusJSON(t, bad)
	target := fmt.Sprintf("target b (%s:%d)", p.b.Host, p.b.Port)
	if code != 2 || !strings.Contains(rep.Target.Error, target) || !strings.Contains(rep.Target.Error, "Access denied") ||
		strings.Contains(out, "wrong-password") {
		t.Errorf("wrong target password: exit %d, target error %q; want 2 naming %s, access denied, no password\n%s", code, rep.Target.Error, target, out)
	}

	// Target down: exit 2, naming it, on stderr too.
	p.b.Stop(t)
	code, o, stderr := runStatus(t, "--config", cfg, "--output", "json")
	t.Logf("target down: exit %d\n%s\n%s", code, o, stderr)
	if code != 2 {
		t.Fatalf("drc status with the target stopped: exit %d, want 2", code)
	}
	_, dst := parseStatus(t, o)
	if dst.Error == "" || !strings.Contains(stderr, dst.Error) || !strings.Contains(dst.Error, target) {
		t.Errorf("target error %q not reported on stderr, or not naming %s:\n%s", dst.Error, target, stderr)
	}
	if !strings.Contains(dst.Error, "connection refused") && !strings.Contains(dst.Error, "connect") {
		t.Errorf("target error %q does not say the connection failed", dst.Error)
	}
}
