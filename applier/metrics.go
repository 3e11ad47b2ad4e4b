package applier

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// errorKinds are the kind labels of drc_applier_errors_total (errorKind).
var errorKinds = []string{"decode", "conflict", "triggers", "unsupported_table", "ddl", "checkpoint", "mysql_lock", "mysql", "kafka", "network", "timeout", "other"}

// ddlActions are the action labels of drc_applier_ddl_total; each series
// exists from start at 0, so that the first DDL stop counts in increase().
var ddlActions = []string{"apply", "skip", "stop", "skip_trigger", "stop_kind", "already_applied"}

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

	lastCheckpoint prometheus.Gauge
	kafka          *kafkaPositions
}

// checkpointed records a committed checkpoint of partition part: next is
// the offset of the next record to apply, recordTS the Kafka timestamp of
// the last record applied (the one before next).
func (m *metrics) checkpointed(part int32, next int64, recordTS time.Time) {
	m.offset.WithLabelValues(strconv.Itoa(int(part))).Set(float64(next))
	m.lastCheckpoint.SetToCurrentTime()
	m.kafka.checkpointed(part, next, recordTS)
}

// resumed records the checkpoint a session starts from, so that records
// behind is known before the first commit.
func (m *metrics) resumed(part int32, next int64) {
	m.offset.WithLabelValues(strconv.Itoa(int(part))).Set(float64(next))
	m.kafka.checkpointed(part, next, time.Time{})
}

// kafkaPositions is what the applier knows of its place in each partition
// of the topic, for two series computed at scrape time:
//
//   - drc_applier_records_behind{partition}: the partition's last stable
//     offset (LSO: the end of what read_committed consumers may read, read
//     every kafkaWatchInterval) minus the checkpoint offset, minus one for
//     the commit marker that always ends a transactional topic. It counts
//     Kafka offsets, so every further commit marker (one per Kafka
//     transaction of the replicator, which may hold several source
//     transactions) counts too: an upper bound on the records not yet
//     applied, 0 when the applier has applied everything committed.
//   - drc_applier_retention_horizon_seconds{partition}: the Kafka timestamp
//     of the last record applied, plus the topic's retention.ms, minus now.
//     Kafka deletes a segment only once its newest record is older than
//     retention.ms, and the next record to apply is no older than the last
//     one applied, so the record at the checkpoint survives at least this
//     long: a lower bound. +Inf when the topic keeps records forever
//     (retention.ms -1). retention.bytes is not taken into account.
//
// A series is left out while a value it needs is unknown: no LSO read yet,
// no record applied by this process yet, or retention.ms not readable (the
// applier's principal lacks DescribeConfigs on the topic).
type kafkaPositions struct {
	behind, horizon *prometheus.Desc

	mu        sync.Mutex
	parts     map[int32]*kafkaPosition
	retention time.Duration // retention.ms; < 0: forever; 0: not known
}

type kafkaPosition struct {
	checkpoint int64     // offset of the next record to apply; -1: unknown
	appliedTS  time.Time // Kafka timestamp of the last record applied; zero: none yet
	stable     int64     // last stable offset; -1: not read yet
}

func newKafkaPositions() *kafkaPositions {
	return &kafkaPositions{
		behind: prometheus.NewDesc("drc_applier_records_behind",
			"Kafka offsets between the applier's checkpoint and the partition's last stable offset, less the final commit marker: records committed to Kafka not yet applied (commit markers between them included; read every 15s).",
			[]string{"partition"}, nil),
		horizon: prometheus.NewDesc("drc_applier_retention_horizon_seconds",
			"Time left, at least, before Kafka's retention may delete the record at the applier's checkpoint: the last applied record's Kafka timestamp plus the topic's retention.ms minus now, computed at scrape time (+Inf: retention.ms -1).",
			[]string{"partition"}, nil),
		parts: map[int32]*kafkaPosition{},
	}
}

// part returns part's entry; k.mu must be held.
func (k *kafkaPositions) part(part int32) *kafkaPosition {
	p := k.parts[part]
	if p == nil {
		p = &kafkaPosition{checkpoint: -1, stable: -1}
		k.parts[part] = p
	}
	return p
}

func (k *kafkaPositions) checkpointed(part int32, next int64, recordTS time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.part(part)
	p.checkpoint = next
	if !recordTS.IsZero() {
		p.appliedTS = recordTS
	}
}

func (k *kafkaPositions) setStable(part int32, lso int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.part(part).stable = lso
}

// setRetention records the topic's retention.ms; negative: forever.
func (k *kafkaPositions) setRetention(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.retention = d
}

func (k *kafkaPositions) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.behind
	ch <- k.horizon
}

func (k *kafkaPositions) Collect(ch chan<- prometheus.Metric) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	for part, p := range k.parts {
		label := strconv.Itoa(int(part))
		if p.checkpoint >= 0 && p.stable >= 0 {
			ch <- prometheus.MustNewConstMetric(k.behind, prometheus.GaugeValue, float64(max(0, p.stable-p.checkpoint-1)), label)
		}
		switch {
		case k.retention < 0:
			ch <- prometheus.MustNewConstMetric(k.horizon, prometheus.GaugeValue, math.Inf(1), label)
		case k.retention > 0 && !p.appliedTS.IsZero():
			ch <- prometheus.MustNewConstMetric(k.horizon, prometheus.GaugeValue, p.appliedTS.Add(k.retention).Sub(now).Seconds(), label)
		}
	}
}

// newMetrics creates the metrics on reg; with a nil reg they are kept up
// to date but registered nowhere. A second applier on one registry
// panics: a process runs one.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		heartbeatTS: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_last_heartbeat_timestamp_seconds",
			Help: "Source time of the newest heartbeat applied; time() minus it is the lag also while nothing arrives.",
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "drc_applier_apply_latency_seconds",
			Help:    "Source commit to target commit, per target transaction; a group counts once, from its first member's source commit (source clock in milliseconds).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		rows: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_rows_total",
			Help: "Row changes applied, by op.",
		}, []string{"op"}),
		txns: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_transactions_total",
			Help: "Source transactions committed on the target (heartbeats included).",
		}),
		skipped: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_skipped_transactions_total",
			Help: "Transactions skipped because the checkpoint's GTID set already contains them (duplicates, bootstrap).",
		}),
		operatorSkips: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_operator_skips_total",
			Help: "Transactions (or undecodable records) passed over on operator request (drc apply --skip-offset).",
		}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_consumed_bytes_total",
			Help: "Bytes of Kafka record values consumed.",
		}),
		queueTxns: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_queue_transactions",
			Help: "Transactions read but not yet committed.",
		}),
		queueBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_queue_bytes",
			Help: "Record bytes read but not yet committed; bounded by max_queue_bytes.",
		}),
		conflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_conflicts_total",
			Help: "Conflicts, by db.table, kind (duplicate_key, missing_row, before_mismatch) and resolution.",
		}, []string{"table", "kind", "resolution"}),
		workers: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_workers",
			Help: "Apply workers (target connections) running.",
		}),
		busy: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_worker_busy_seconds_total",
			Help: "Time workers spent applying; rate() divided by drc_applier_workers is the utilisation.",
		}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_errors_total",
			Help: "Failed sessions and stops, by kind (mysql, mysql_lock, kafka, network, decode, conflict, ddl, checkpoint, other).",
		}, []string{"kind"}),
		ddl: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_applier_ddl_total",
			Help: "DDL records, by action (apply, skip, stop, skip_trigger, stop_kind, already_applied); every action's series exists from start.",
		}, []string{"action"}),
		offset: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drc_applier_checkpoint_offset",
			Help: "Kafka offset of the next record to apply, by partition (the committed checkpoint).",
		}, []string{"partition"}),
		fkOrdered: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_foreign_key_retries_total",
			Help: "Transactions that failed a foreign-key check while earlier transactions were in flight, and were applied again after them, in source order.",
		}),
		replayed: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_replayed_prefixes_total",
			Help: "Incomplete copies of a transaction discarded because the same transaction started again at seq 0 (a replicator restarted inside it); the complete copy is applied.",
		}),
		largeTxns: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_large_transactions_total",
			Help: "Transactions over the large-transaction threshold, applied alone while streaming.",
		}),
		fastTxns: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_one_round_trip_transactions_total",
			Help: "Source transactions (grouped ones included) whose rows were applied in one round trip; the rest use prepared statements.",
		}),
		grouped: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_grouped_transactions_total",
			Help: "Source transactions applied inside an earlier one's target transaction, because every worker was busy.",
		}),
		serialWaits: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_dependency_waits_total",
			Help: "Transactions that waited for an earlier one because their write-sets overlap.",
		}),
		commitWaitNs: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_applier_commit_order_wait_seconds_total",
			Help: "Time workers waited for earlier transactions to commit first.",
		}),
		lastCheckpoint: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_applier_last_checkpoint_timestamp_seconds",
			Help: "Wall-clock time the applier last committed a checkpoint that moved forward (any partition); the process's start until the first. With heartbeats flowing it moves every heartbeat_interval, so time() minus it is how long the applier has made no progress.",
		}),
		kafka: newKafkaPositions(),
	}
	m.lastCheckpoint.SetToCurrentTime()
	// Lag is computed when scraped, from the newest heartbeat applied, so it
	// keeps growing while nothing arrives (broker down, target stopped, a
	// stalled applier); NaN until the first heartbeat is known.
	m.lag = f.NewGaugeFunc(prometheus.GaugeOpts{
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
	for _, a := range ddlActions {
		m.ddl.WithLabelValues(a)
	}
	if reg != nil {
		reg.MustRegister(m.kafka)
	}
	return m
}
