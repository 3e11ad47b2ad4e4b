package reconcile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsFromReport(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Before any run the series exist, at 0, for alerts to read.
	for name, want := range map[string]int{
		"drc_reconcile_tables_differ": 1, "drc_reconcile_rows_differ": 1,
		"drc_reconcile_last_run_timestamp_seconds": 1, "drc_reconcile_rows_checked_total": 1,
		"drc_reconcile_repairs_total": 3,
	} {
		if got := testutil.CollectAndCount(reg, name); got != want {
			t.Errorf("%s: %d series before a run, want %d", name, got, want)
		}
	}

	finished := time.Date(2026, 3, 1, 12, 0, 0, 500e6, time.UTC)
	rep := &Report{
		FinishedAt: finished,
		Tables: []TableResult{
			{Table: "d.a", Status: StatusDrift},
			{Table: "d.b", Status: StatusConsistent},
			{Table: "d.c", Status: StatusRepaired},
			{Table: "d.d", Status: StatusDrift},
			{Table: "d.e", Status: StatusUnsettled},
		},
		Differences: []Difference{
			{Table: "d.a", Kind: KindMissing},
			{Table: "d.a", Kind: KindChanged},
			{Table: "d.c", Kind: KindExtra, Repaired: true},
			{Table: "d.d", Kind: KindExtra},
		},
	}
	rep.summarize()
	m.finished(rep)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"tables_differ", testutil.ToFloat64(m.tablesDiffer), 2},
		{"rows_differ", testutil.ToFloat64(m.rowsDiffer), 3},
		{"last_run_timestamp_seconds", testutil.ToFloat64(m.lastRun), 1772366400.5},
	} {
		if c.got != c.want {
			t.Errorf("drc_reconcile_%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// A clean run clears the drift gauges.
	clean := &Report{FinishedAt: finished.Add(time.Hour), Tables: []TableResult{{Table: "d.a", Status: StatusRepaired}}}
	clean.summarize()
	m.finished(clean)
	if got := testutil.ToFloat64(m.tablesDiffer); got != 0 {
		t.Errorf("drc_reconcile_tables_differ after a clean run = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.rowsDiffer); got != 0 {
		t.Errorf("drc_reconcile_rows_differ after a clean run = %v, want 0", got)
	}

	// A second Run in the process keeps the series of the first.
	again, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if again.tablesDiffer != m.tablesDiffer {
		t.Error("a second newMetrics on the registry made a new drc_reconcile_tables_differ")
	}
}
