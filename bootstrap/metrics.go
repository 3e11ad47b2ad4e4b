package bootstrap

import "github.com/prometheus/client_golang/prometheus"

// metrics are bootstrap's Prometheus series; a nil *metrics records
// nothing.
type metrics struct {
	rows     prometheus.Counter
	chunks   *prometheus.CounterVec
	lockSecs prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_bootstrap_rows_written_total",
			Help: "Rows written to the target by bootstrap.",
		}),
		chunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_bootstrap_chunks_total",
			Help: "Chunks handled by bootstrap, by outcome: copied, unchanged (resumed, still equal), rewritten (resumed, changed).",
		}, []string{"outcome"}),
		lockSecs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_source_lock_seconds",
			Help: "How long bootstrap held a lock on the source to take its snapshot.",
		}),
	}
	m.rows = register(reg, m.rows)
	m.chunks = register(reg, m.chunks)
	m.lockSecs = register(reg, m.lockSecs)
	return m
}

func (m *metrics) chunk(o outcome, rows int) {
	if m == nil {
		return
	}
	m.chunks.WithLabelValues(string(o)).Inc()
	if o != outcomeUnchanged {
		m.rows.Add(float64(rows))
	}
}

func (m *metrics) lock(secs float64) {
	if m != nil {
		m.lockSecs.Set(secs)
	}
}

// register registers c, or returns the collector already registered under
// its name (a second run in the same process).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
	}
	return c
}
