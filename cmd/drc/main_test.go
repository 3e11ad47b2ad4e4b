package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(`
cluster: demo
source: {region: a, password: hunter2}
target: {region: b}
kafka: {brokers: ["127.0.0.1:9092"]}
`), 0o600)
	os.WriteFile(bad, []byte("cluster: demo\napplier: {workers: 0}\n"), 0o600)

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
		absent   string
	}{
		{"good", []string{"config", "check", good}, 0, "workers: 4", "hunter2"},
		{"bad field", []string{"config", "check", bad}, 2, "applier.workers: must be 1..256, got 0", ""},
		{"missing file", []string{"config", "check", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml", ""},
		{"no args", []string{"config", "check"}, 2, "accepts 1 arg", ""},
		{"version", []string{"version"}, 0, "drc ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			all := out.String() + errOut.String()
			if code != tc.code {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tc.code, all)
			}
			if !strings.Contains(all, tc.contains) {
				t.Errorf("output lacks %q:\n%s", tc.contains, all)
			}
			if tc.absent != "" && strings.Contains(all, tc.absent) {
				t.Errorf("output contains %q:\n%s", tc.absent, all)
			}
		})
	}
}

func TestIDGenDecomposeNegative(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"idgen", "decompose", "-5"}, &out, &errOut)
	// stderr is not a terminal: the error is a JSON record.
	var rec struct{ Level, Msg, Error string }
	if err := json.Unmarshal(errOut.Bytes(), &rec); err != nil {
		t.Fatalf("stderr is not one JSON record: %v: %q", err, errOut.String())
	}
	if code != exitError || rec.Level != "ERROR" || !strings.Contains(rec.Error, `invalid ID "-5"`) {
		t.Errorf("decompose -5: exit %d, stderr %q; want 2 and an error record saying -5 is not an ID", code, errOut.String())
	}
}
