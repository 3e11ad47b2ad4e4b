package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drc-dev/drc/config"
)

func TestNewLoggerFormat(t *testing.T) {
	// A file is not a terminal: auto picks JSON there, as it does for a
	// pipe or a buffer.
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		name   string
		format string
		json   bool
	}{
		{"auto off a terminal", "auto", true},
		{"json", "json", true},
		{"text", "text", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(config.Log{Level: "info", Format: tc.format}, &buf)
			if err != nil {
				t.Fatal(err)
			}
			log.Warn("hello", "error", errors.New("boom"))
			var rec map[string]any
			isJSON := json.Unmarshal(buf.Bytes(), &rec) == nil
			if isJSON != tc.json {
				t.Errorf("format %s wrote %q; JSON %v, want %v", tc.format, buf.String(), isJSON, tc.json)
			}
			if tc.json && rec["error"] != "boom" {
				t.Errorf("error attribute = %v, want boom under the key error", rec["error"])
			}
		})
	}
	if writerIsTerminal(f) {
		t.Error("a regular file counts as a terminal")
	}
	if progressOut(f) != nil {
		t.Error("progressOut gives a file a progress bar; want records in the log")
	}
	if _, err := newLogger(config.Log{Level: "loud", Format: "auto"}, f); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("newLogger with level loud = %v, want an error naming log.level", err)
	}
}

func TestFatalErrorIsARecordOffATerminal(t *testing.T) {
	var stderr bytes.Buffer
	writeFatal(&stderr, errors.New("config x.yaml is invalid:\napplier.workers: must be 1..256"))
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("the fatal error took %d lines, want one record: %q", len(lines), stderr.String())
	}
	var rec struct{ Level, Msg, Error string }
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("the fatal error is not a JSON record: %v: %q", err, lines[0])
	}
	if rec.Level != "ERROR" || !strings.Contains(rec.Error, "applier.workers") {
		t.Errorf("record %+v, want level ERROR and the error under the key error", rec)
	}
}

func TestConfigCheckWarningsAreRecords(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "drc.yaml")
	// tls.mode preferred (the default) is valid but weak: a warning.
	os.WriteFile(cfg, []byte("cluster: demo\nsource: {region: a}\ntarget: {region: b}\nkafka: {brokers: [\"127.0.0.1:9092\"]}\n"), 0o600)
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"config", "check", cfg}, &out, &errOut); code != 0 {
		t.Fatalf("config check exit %d: %s", code, errOut.String())
	}
	if errOut.Len() == 0 {
		t.Fatal("config check warned of nothing; the test needs a weak setting")
	}
	for _, l := range strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Level != "WARN" || !strings.HasPrefix(rec.Msg, "config: ") {
			t.Errorf("stderr line %q is not a WARN record (%v)", l, err)
		}
	}
}
