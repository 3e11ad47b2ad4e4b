package bootstrap

import "github.com/prometheus/client_golang/prometheus"

// metrics are bootstrap's Prometheus series; a nil *metrics records
// nothing.
type metrics struct {
	rows       prometheus.Counter
	chunks     *prometheus.CounterVec
	lockSecs   prometheus.Gauge
	tables     prometheus.Gauge
	tablesDone prometheus.Gauge
	phases     *prometheus.GaugeVec
}

// The phases of a run, in order (drc_bootstrap_phase).
const (
	phaseSnapshot = "snapshot" // checking, locking, taking the snapshot, creating tables
	phaseCopy     = "copy"
	phaseHandover = "handover" // writing the applier checkpoint
	phaseDone     = "done"
)

var phases = []string{phaseSnapshot, phaseCopy, phaseHandover, phaseDone}

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
		tables: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_tables",
			Help: "Tables the bootstrap copies.",
		}),
		tablesDone: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_tables_done",
			Help: "Tables the bootstrap has copied completely.",
		}),
		phases: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drc_bootstrap_phase",
			Help: "1 for the phase the bootstrap is in (snapshot, copy, handover, done), 0 for the others.",
		}, []string{"phase"}),
	}
	m.rows = register(reg, m.rows)
	m.chunks = register(reg, m.chunks)
	m.lockSecs = register(reg, m.lockSecs)
	m.tables = register(reg, m.tables)
	m.tablesDone = register(reg, m.tablesDone)
	m.phases = register(reg, m.phases)
	m.tables.Set(0)
	m.tablesDone.Set(0)
	m.phase(phaseSnapshot)
	return m
}

// phase marks the run's current phase.
func (m *metrics) phase(name string) {
	if m == nil {
		return
	}
	for _, p := range phases {
		v := 0.0
		if p == name {
			v = 1
		}
		m.phases.WithLabelValues(p).Set(v)
	}
}

func (m *metrics) tablesTotal(n int) {
	if m != nil {
		m.tables.Set(float64(n))
	}
}

func (m *metrics) tableDone() {
	if m != nil {
		m.tablesDone.Inc()
	}
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
