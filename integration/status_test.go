package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// statusLine is one region of `drc status --output json`.
type statusLine struct {
	Region     string            `json:"region"`
	Role       string            `json:"role"`
	Position   string            `json:"position"`
	Checkpoint []json.RawMessage `json:"checkpoint"`
	CaughtUp   *bool             `json:"caught_up"`
	LagSeconds *float64          `json:"lag_seconds"`
	Error      string            `json:"error"`
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

func parseStatus(t *testing.T, out string) (src, dst statusLine) {
	t.Helper()
	var lines []statusLine
	if err := json.Unmarshal([]byte(out), &lines); err != nil || len(lines) != 2 {
		t.Fatalf("drc status --output json: %v, %d lines:\n%s", err, len(lines), out)
	}
	for _, l := range lines {
		switch l.Role {
		case "source":
			src = l
		case "target":
			dst = l
		default:
			t.Fatalf("unknown role %q:\n%s", l.Role, out)
		}
	}
	return src, dst
}

func TestStatusCommand(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testStatusCommand(t, f) })
	}
}

func testStatusCommand(t *testing.T, flavor harness.Flavor) {
	p := newApplyPairOn(t, flavor, flavor, nil)
	cfg := writeConfig(t, p.a, p.b, p.k, p.cluster, p.topic, "")
	drcBinary(t) // build before timing anything
	p.a.Exec(t, "CREATE DATABASE st", "CREATE TABLE st.t (id INT PRIMARY KEY)", "INSERT INTO st.t VALUES (1), (2)")
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)

	// Caught up: heartbeats keep the source moving, so the position read by
	// status may be one heartbeat ahead of the checkpoint; retry briefly.
	var src, dst statusLine
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		code, o, stderr := runStatus(t, "--config", cfg, "--output", "json")
		if code != 0 {
			t.Fatalf("drc status exit %d, want 0\n%s\n%s", code, o, stderr)
		}
		out = o
		src, dst = parseStatus(t, out)
		if dst.CaughtUp != nil && *dst.CaughtUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target never caught_up: true:\n%s", out)
		}
	}
	t.Logf("status:\n%s", out)
	if src.Region != "a" || dst.Region != "b" || src.Position == "" || dst.Position == "" || src.Error != "" || dst.Error != "" {
		t.Errorf("unexpected status lines: %+v %+v", src, dst)
	}
	if len(dst.Checkpoint) != 1 {
		t.Errorf("target checkpoint has %d partitions, want 1", len(dst.Checkpoint))
	}
	if dst.LagSeconds == nil || *dst.LagSeconds < 0 || *dst.LagSeconds >= 60 {
		t.Errorf("target lag_seconds = %v, want present and in [0, 60)", dst.LagSeconds)
	}
	if src.LagSeconds == nil || *src.LagSeconds >= 60 {
		t.Errorf("source heartbeat age = %v, want present and < 60s", src.LagSeconds)
	}

	// The text form works too.
	if code, o, stderr := runStatus(t, "--config", cfg); code != 0 || !strings.Contains(o, "target") {
		t.Errorf("drc status (text) exit %d:\n%s\n%s", code, o, stderr)
	}

	// Lag above --max-lag: exit 1.
	if code, o, stderr := runStatus(t, "--config", cfg, "--output", "json", "--max-lag", "1ns"); code != 1 {
		t.Errorf("drc status --max-lag 1ns exit %d, want 1\n%s\n%s", code, o, stderr)
	}

	// Target down: exit 2, naming the error.
	p.app.stop(t)
	p.b.Stop(t)
	code, o, stderr := runStatus(t, "--config", cfg, "--output", "json")
	t.Logf("target down: exit %d\n%s\n%s", code, o, stderr)
	if code != 2 {
		t.Fatalf("drc status with the target stopped: exit %d, want 2", code)
	}
	_, dst = parseStatus(t, o)
	if dst.Error == "" || !strings.Contains(stderr, dst.Error) {
		t.Errorf("target error %q not reported on stderr:\n%s", dst.Error, stderr)
	}
	if !strings.Contains(dst.Error, "connection refused") && !strings.Contains(dst.Error, "connect") {
		t.Errorf("target error %q does not say the connection failed", dst.Error)
	}
}
