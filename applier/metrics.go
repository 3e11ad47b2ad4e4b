package applier

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// errorKinds are the kind labels of drc_applier_errors_total (errorKind).
var errorKinds = []string{"decode", "conflict", "triggers", "unsupported_table", "ddl", "checkpoint", "mysql_lock", "mysql", "kafka", "network", "timeout", "other"}

// heartbeat records the newest heartbeat applied (unix µs, source clock).
func (m *metrics) heartbeat(us int64) {
	for {
		old := m.lastHB.Load()
		if us <= old || m.lastHB.CompareAndSwap(old, us) {
			break
		}
	}
	m.heartbeatTS.Set(float64(m.lastHB.Load()) / 1e6)
}

// metrics are the applier's Prometheus series, all prefixed drc_applier_.
type metrics struct {
	lag           prometheus.GaugeFunc
	lastHB        atomic.Int64 // unix µs (source clock) of the newest heartbeat applied; 0: none yet
	heartbeatTS   prometheus.Gauge
	latency       prometheus.Histogram
	rows          *prometheus.CounterVec
	txns          prometheus.Counter
	skipped       prometheus.Counter
	operatorSkips prometheus.Counter
	bytes         prometheus.Counter
	queueTxns     prometheus.Gauge
	queueBytes    prometheus.Gauge
	conflicts     *prometheus.CounterVec
	workers       prometheus.Gauge
	busy          prometheus.Counter
	errors        *prometheus.CounterVec
	ddl           *prometheus.CounterVec
	offset        *prometheus.GaugeVec
	largeTxns     prometheus.Counter
	replayed      prometheus.Counter
	fkOrdered     prometheus.Counter
	fastTxns      prometheus.Counter
	grouped       prometheus.Counter
	serialWaits   prometheus.Counter
	commitWaitNs  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		heartbeatTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_last_heartbeat_timestamp_seconds",
			Help: "Source time of the newest heartbeat applied; time() minus it is the lag also while nothing arrives.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "drc_applier_apply_latency_seconds",
			Help:    "Source commit to target commit, per target transaction; a group counts once, from its first member's source commit (source clock in milliseconds).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_rows_total",
			Help: "Row changes applied, by op.",
		}, []string{"op"}),
		txns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_transactions_total",
			Help: "Source transactions committed on the target (heartbeats included).",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_skipped_transactions_total",
			Help: "Transactions skipped because the checkpoint's GTID set already contains them (duplicates, bootstrap).",
		}),
		operatorSkips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_operator_skips_total",
			Help: "Transactions (or undecodable records) passed over on operator request (drc apply --skip-offset).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_consumed_bytes_total",
			Help: "Bytes of Kafka record values consumed.",
		}),
		queueTxns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_queue_transactions",
			Help: "Transactions read but not yet committed.",
		}),
		queueBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_queue_bytes",
			Help: "Record bytes read but not yet committed; bounded by max_queue_bytes.",
		}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_conflicts_total",
			Help: "Conflicts, by db.table, kind (duplicate_key, missing_row, before_mismatch) and resolution.",
		}, []string{"table", "kind", "resolution"}),
		workers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_workers",
			Help: "Apply workers (target connections) running.",
		}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_worker_busy_seconds_total",
			Help: "Time workers spent applying; rate() divided by drc_applier_workers is the utilisation.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_errors_total",
			Help: "Failed sessions and stops, by kind (mysql, mysql_lock, kafka, network, decode, conflict, ddl, checkpoint, other).",
		}, []string{"kind"}),
		ddl: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_ddl_total",
			Help: "DDL records, by action (apply, skip, stop, already_applied).",
		}, []string{"action"}),
		offset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drc_applier_checkpoint_offset",
			Help: "Kafka offset of the next record to apply, by partition (the committed checkpoint).",
		}, []string{"partition"}),
		fkOrdered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_foreign_key_retries_total",
			Help: "Transactions that failed a foreign-key check while earlier transactions were in flight, and were applied again after them, in source order.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_replayed_prefixes_total",
			Help: "Incomplete copies of a transaction discarded because the same transaction started again at seq 0 (a replicator restarted inside it); the complete copy is applied.",
		}),
		largeTxns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_large_transactions_total",
			Help: "Transactions over the large-transaction threshold, applied alone while streaming.",
		}),
		fastTxns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_one_round_trip_transactions_total",
			Help: "Source transactions (grouped ones included) whose rows were applied in one round trip; the rest use prepared statements.",
		}),
		grouped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_grouped_transactions_total",
			Help: "Source transactions applied inside an earlier one's target transaction, because every worker was busy.",
		}),
		serialWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_dependency_waits_total",
			Help: "Transactions that waited for an earlier one because their write-sets overlap.",
		}),
		commitWaitNs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_commit_order_wait_seconds_total",
			Help: "Time workers waited for earlier transactions to commit first.",
		}),
	}
	// Lag is computed when scraped, from the newest heartbeat applied, so it
	// keeps growing while nothing arrives (broker down, target stopped, a
	// stalled applier); NaN until the first heartbeat is known.
	m.lag = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "drc_applier_lag_seconds",
		Help: "End-to-end replication lag, computed at scrape time: now minus the source time of the newest heartbeat applied (NaN before the first).",
	}, func() float64 {
		hb := m.lastHB.Load()
		if hb == 0 {
			return math.NaN()
		}
		return max(0, float64(time.Now().UnixMicro()-hb)/1e6)
	})
	for _, k := range errorKinds {
		m.errors.WithLabelValues(k) // every series exists from start, at 0
	}
	for _, c := range []prometheus.Collector{m.lag, m.heartbeatTS, m.latency, m.rows, m.txns, m.skipped, m.operatorSkips, m.bytes,
		m.queueTxns, m.queueBytes, m.conflicts, m.workers, m.busy, m.errors, m.ddl, m.offset, m.largeTxns, m.replayed, m.fkOrdered, m.fastTxns, m.grouped,
		m.serialWaits, m.commitWaitNs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
