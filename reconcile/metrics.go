package reconcile

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are reconcile's Prometheus series. With no Registerer they are
// still updated, just not exported.
type metrics struct {
	rows        prometheus.Counter
	chunks      prometheus.Counter
	chunkTime   prometheus.Histogram
	differences *prometheus.CounterVec
	unsettled   prometheus.Counter
	repairs     *prometheus.CounterVec
	settleWait  prometheus.Histogram

	// The outcome of the last finished run, for alerting on drift.
	tablesDiffer prometheus.Gauge
	rowsDiffer   prometheus.Gauge
	lastRun      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_reconcile_rows_checked_total", Help: "Source rows compared with the target."}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_reconcile_chunks_total", Help: "Chunks hashed on both sides."}),
		chunkTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "drc_reconcile_chunk_seconds", Help: "Time to hash one chunk on both sides.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 10)}),
		differences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_reconcile_differences_total", Help: "Confirmed differences, by kind."}, []string{"kind"}),
		unsettled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_reconcile_unsettled_total", Help: "Candidate differences left unsettled because the applier did not catch up in time."}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_reconcile_repairs_total", Help: "Repairs written to the target, by result."}, []string{"result"}),
		settleWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "drc_reconcile_settle_wait_seconds", Help: "Time waited for the target's applier checkpoint to pass a source position.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}),
		tablesDiffer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_reconcile_tables_differ", Help: "Tables the last finished run left differing between source and target (drift not repaired)."}),
		rowsDiffer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_reconcile_rows_differ", Help: "Rows the last finished run left differing between source and target (drift not repaired)."}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_reconcile_last_run_timestamp_seconds", Help: "When the last finished run ended, in seconds since the Unix epoch; 0 before one has."}),
	}
	if reg == nil {
		return m, nil
	}
	// A second Run in the same process (a scheduled reconcile, tests) keeps
	// counting in the series the first one registered.
	var err error
	m.rows, err = register(reg, m.rows)
	if err == nil {
		m.chunks, err = register(reg, m.chunks)
	}
	if err == nil {
		m.chunkTime, err = register(reg, m.chunkTime)
	}
	if err == nil {
		m.differences, err = register(reg, m.differences)
	}
	if err == nil {
		m.unsettled, err = register(reg, m.unsettled)
	}
	if err == nil {
		m.repairs, err = register(reg, m.repairs)
	}
	if err == nil {
		m.settleWait, err = register(reg, m.settleWait)
	}
	if err == nil {
		m.tablesDiffer, err = register(reg, m.tablesDiffer)
	}
	if err == nil {
		m.rowsDiffer, err = register(reg, m.rowsDiffer)
	}
	if err == nil {
		m.lastRun, err = register(reg, m.lastRun)
	}
	if err != nil {
		return nil, fmt.Errorf("register reconcile metrics: %w", err)
	}
	// Every labelled series exists from the start, at 0, so that a rate
	// or an alert over it has something to read before the first repair.
	for _, r := range []string{"verified", "unverified", "failed"} {
		m.repairs.WithLabelValues(r)
	}
	for _, k := range []Kind{KindMissing, KindExtra, KindChanged} {
		m.differences.WithLabelValues(string(k))
	}
	return m, nil
}

// finished sets the gauges of the last run from its report. Only a run
// that went through its tables counts: an interrupted one says nothing
// about drift. Repaired rows no longer differ; unsettled candidates are
// not drift (drc_reconcile_unsettled_total counts them).
func (m *metrics) finished(rep *Report) {
	tables := 0
	for _, t := range rep.Tables {
		if t.Status == StatusDrift {
			tables++
		}
	}
	m.tablesDiffer.Set(float64(tables))
	m.rowsDiffer.Set(float64(rep.Summary.Differences - rep.Summary.Repaired))
	m.lastRun.Set(float64(rep.FinishedAt.UnixNano()) / 1e9)
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
