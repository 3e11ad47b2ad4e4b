package bootstrap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestProgressLogsRecordsWithoutAWriter(t *testing.T) {
	var buf bytes.Buffer
	began := time.Unix(1000, 0)
	now := began
	p := newProgress(nil, false, time.Second, func() time.Time { return now }, slog.New(slog.NewJSONHandler(&buf, nil)), newMetrics(nil))
	a := p.table("d.a", 1000, 0)
	p.table("d.b", 500, 0) // not started: no record of its own
	a.start(began)
	a.queued()
	a.written(250)
	now = began.Add(5 * time.Second)
	p.draw(false)

	var recs []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("progress line is not a JSON record: %v: %s", err, sc.Text())
		}
		recs = append(recs, r)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want one for d.a and the overall one:\n%s", len(recs), buf.String())
	}
	for i, want := range []map[string]any{
		{"msg": "bootstrap progress", "table": "d.a", "rows_done": 250.0, "rows_estimated": 1000.0, "percent": 25.0, "rows_per_second": 50.0, "eta_seconds": 15.0},
		{"msg": "bootstrap progress", "tables": 2.0, "rows_done": 250.0, "rows_estimated": 1500.0, "rows_per_second": 50.0, "eta_seconds": 25.0},
	} {
		for k, v := range want {
			if recs[i][k] != v {
				t.Errorf("record %d: %s = %v, want %v", i, k, recs[i][k], v)
			}
		}
	}
}

func TestProgressPlainLinesOnAWriter(t *testing.T) {
	var w, logged bytes.Buffer
	now := time.Unix(1000, 0)
	p := newProgress(&w, false, time.Second, func() time.Time { return now }, slog.New(slog.NewJSONHandler(&logged, nil)), newMetrics(nil))
	tp := p.table("d.a", 10, 0)
	tp.start(now)
	p.draw(false)
	if !strings.Contains(w.String(), "bootstrap progress: d.a") || !strings.Contains(w.String(), "overall (1 tables)") {
		t.Errorf("writer output lacks the table and overall lines:\n%s", w.String())
	}
	if logged.Len() != 0 {
		t.Errorf("with a writer, progress was logged too: %s", logged.String())
	}
}

func TestMetricsTablesAndPhase(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	now := time.Unix(1000, 0)
	p := newProgress(nil, false, time.Second, func() time.Time { return now }, slog.New(slog.DiscardHandler), m)
	a, b, empty := p.table("d.a", 10, 0), p.table("d.b", 10, 0), p.table("d.empty", 0, 0)
	if got := testutil.ToFloat64(m.tables); got != 3 {
		t.Errorf("drc_bootstrap_tables = %v, want 3", got)
	}
	a.queued()
	a.queued()
	a.written(5)
	a.readDone() // one chunk still being written
	b.queued()
	b.written(5) // written, but the reader is not done with d.b
	empty.readDone()
	if got := testutil.ToFloat64(m.tablesDone); got != 1 {
		t.Errorf("drc_bootstrap_tables_done = %v, want 1 (only the empty table is complete)", got)
	}
	a.written(5)
	a.readDone() // a second call counts nothing
	if got := testutil.ToFloat64(m.tablesDone); got != 2 {
		t.Errorf("drc_bootstrap_tables_done = %v, want 2", got)
	}

	if got := testutil.ToFloat64(m.phases.WithLabelValues(phaseSnapshot)); got != 1 {
		t.Errorf("a new run's phase snapshot = %v, want 1", got)
	}
	m.phase(phaseCopy)
	for _, ph := range phases {
		want := 0.0
		if ph == phaseCopy {
			want = 1
		}
		if got := testutil.ToFloat64(m.phases.WithLabelValues(ph)); got != want {
			t.Errorf("drc_bootstrap_phase{phase=%q} = %v, want %v", ph, got, want)
		}
	}
	// Without a registerer the metrics are kept up to date, registered
	// nowhere.
	unreg := newMetrics(nil)
	unreg.tablesTotal(2)
	if got := testutil.ToFloat64(unreg.tables); got != 2 {
		t.Errorf("unregistered drc_bootstrap_tables = %v, want 2", got)
	}
}
