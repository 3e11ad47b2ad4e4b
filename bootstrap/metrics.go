package bootstrap

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are bootstrap's Prometheus series. With a nil Registerer they
// are kept up to date but registered nowhere.
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
	f := promauto.With(reg)
	m := &metrics{
		rows: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_bootstrap_rows_written_total",
			Help: "Rows written to the target by bootstrap.",
		}),
		chunks: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_bootstrap_chunks_total",
			Help: "Chunks handled by bootstrap, by outcome: copied, unchanged (resumed, still equal), rewritten (resumed, changed).",
		}, []string{"outcome"}),
		lockSecs: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_source_lock_seconds",
			Help: "How long bootstrap held a lock on the source to take its snapshot.",
		}),
		tables: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_tables",
			Help: "Tables the bootstrap copies.",
		}),
		tablesDone: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_bootstrap_tables_done",
			Help: "Tables the bootstrap has copied completely.",
		}),
		phases: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drc_bootstrap_phase",
			Help: "1 for the phase the bootstrap is in (snapshot, copy, handover, done), 0 for the others.",
		}, []string{"phase"}),
	}
	m.tables.Set(0)
	m.tablesDone.Set(0)
	m.phase(phaseSnapshot)
	return m
}

// phase marks the run's current phase.
func (m *metrics) phase(name string) {
	for _, p := range phases {
		v := 0.0
		if p == name {
			v = 1
		}
		m.phases.WithLabelValues(p).Set(v)
	}
}

func (m *metrics) tablesTotal(n int) { m.tables.Set(float64(n)) }

func (m *metrics) tableDone() { m.tablesDone.Inc() }

func (m *metrics) chunk(o outcome, rows int) {
	m.chunks.WithLabelValues(string(o)).Inc()
	if o != outcomeUnchanged {
		m.rows.Add(float64(rows))
	}
}

func (m *metrics) lock(secs float64) { m.lockSecs.Set(secs) }
