package reconcile

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestProgressLogsRecordsWithoutATerminal(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	p := newProgress(nil, time.Second, log)
	if p == nil {
		t.Fatal("newProgress(nil, 1s, log) = nil, want records on the log")
	}
	began := time.Unix(1000, 0)
	p.began, p.now = began, func() time.Time { return began.Add(10 * time.Second) }
	p.addTotal(4000)
	p.add(1000)
	p.draw(false)

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("progress is not one JSON record: %v\n%s", err, buf.String())
	}
	want := map[string]any{"msg": "reconcile progress", "rows_done": 1000.0, "rows_estimated": 4000.0,
		"percent": 25.0, "rows_per_second": 100.0, "eta_seconds": 30.0}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (record %s)", k, rec[k], v, buf.String())
		}
	}
	if strings.Contains(buf.String(), "\r") {
		t.Errorf("a record holds a carriage return: %q", buf.String())
	}
}

func TestProgressBarOnATerminal(t *testing.T) {
	var term, logged bytes.Buffer
	p := newProgress(&term, time.Second, slog.New(slog.NewJSONHandler(&logged, nil)))
	began := time.Unix(1000, 0)
	p.began, p.now = began, func() time.Time { return began.Add(time.Second) }
	p.addTotal(100)
	p.add(50)
	p.draw(true)
	got := term.String()
	if !strings.HasPrefix(got, "\r[===============               ]  50%") || !strings.HasSuffix(got, "\n") {
		t.Errorf("bar = %q, want a half-full bar redrawn in place, ending the line when final", got)
	}
	if logged.Len() != 0 {
		t.Errorf("with a terminal, progress was logged too: %s", logged.String())
	}
}

func TestProgressNone(t *testing.T) {
	if p := newProgress(nil, 0, slog.New(slog.DiscardHandler)); p != nil {
		t.Error("newProgress without a writer or an interval shows progress")
	}
	if p := newProgress(nil, time.Second, nil); p != nil {
		t.Error("newProgress without a writer or a logger shows progress")
	}
	var p *progress
	p.add(1) // a nil progress counts nothing, and does not panic
	p.addTotal(1)
}
