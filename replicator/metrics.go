package replicator

import (
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	events       prometheus.Counter
	bytes        prometheus.Counter
	txns         prometheus.Counter
	kafkaTxns    prometheus.Counter
	lag          prometheus.GaugeFunc
	lastTS       atomic.Int64 // unix ns: source commit time of the newest published transaction; 0: none yet
	lastSeq      *prometheus.GaugeVec
	lastTSGauge  prometheus.GaugeFunc
	heartbeatTS  prometheus.Gauge
	purgeHorizon prometheus.Gauge
	errors       *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	fragmented   prometheus.Counter
	markers      prometheus.Counter
}

// newMetrics creates the metrics on reg; with a nil reg they are kept up
// to date but registered nowhere. A second replicator on one registry
// panics: a process runs one.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		events: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_events_total", Help: "Records published to Kafka (row changes, DDL and heartbeats)."}),
		bytes: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_bytes_total", Help: "Bytes of record keys and values published to Kafka."}),
		txns: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_transactions_total", Help: "Binlog transactions published."}),
		kafkaTxns: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_kafka_transactions_total", Help: "Kafka transactions committed."}),
		lastSeq: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "drc_replicator_gtid_sequence", Help: "Sequence number of the newest published GTID, by domain (MariaDB) or source UUID (MySQL)."},
			[]string{"source"}),
		purgeHorizon: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_replicator_purge_horizon_seconds", Help: "Time left before binlog expiry may purge the replicator's position (+Inf: no expiry)."}),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_replicator_errors_total", Help: "Failed replication sessions, by kind."}, []string{"kind"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_replicator_skipped_transactions_total", Help: "Binlog transactions not published: filtered out, or applied by drc from another region (loop)."},
			[]string{"reason"}),
		fragmented: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_fragmented_records_total", Help: "Records larger than one Kafka record, published as fragments."}),
		markers: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_replicator_position_markers_total", Help: "Position markers published while the source was idle after transactions that published nothing."}),
		heartbeatTS: f.NewGauge(prometheus.GaugeOpts{
			Name: "drc_replicator_last_heartbeat_write_timestamp_seconds",
			Help: "Wall-clock time of the replicator's last successful heartbeat write on the source (every heartbeat_interval, independent of Kafka): recent while the source is up and advancing."}),
	}
	m.lastTSGauge = f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "drc_replicator_last_published_timestamp_seconds",
		Help: "Source commit time of the newest transaction committed to Kafka (heartbeats included); 0 before the first. time() minus it is drc_replicator_lag_seconds.",
	}, func() float64 { return float64(m.lastTS.Load()) / 1e9 })
	// Publish lag is computed when scraped, from the newest published
	// transaction (heartbeats included, every heartbeat_interval), so it
	// keeps growing while nothing is published; NaN before the first.
	m.lag = f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "drc_replicator_lag_seconds",
		Help: "Publish lag, computed at scrape time: now minus the source commit time of the newest transaction committed to Kafka (NaN before the first).",
	}, func() float64 {
		ts := m.lastTS.Load()
		if ts == 0 {
			return math.NaN()
		}
		return max(0, time.Since(time.Unix(0, ts)).Seconds())
	})
	for _, k := range errorKinds {
		m.errors.WithLabelValues(k) // every series exists from start, at 0
	}
	return m
}

func (m *metrics) observeCommit(txns, events, bytes int, ts time.Time, gtid string) {
	m.kafkaTxns.Inc()
	m.txns.Add(float64(txns))
	m.events.Add(float64(events))
	m.bytes.Add(float64(bytes))
	if !ts.IsZero() && ts.UnixNano() > m.lastTS.Load() {
		m.lastTS.Store(ts.UnixNano())
	}
	if gtid == "" {
		return
	}
	// MariaDB d-s-n: label by domain; MySQL uuid:n: label by uuid.
	if i := strings.LastIndexAny(gtid, "-:"); i > 0 {
		src := gtid[:i]
		if gtid[i] == '-' {
			src, _, _ = strings.Cut(gtid, "-")
		}
		if n, err := strconv.ParseFloat(gtid[i+1:], 64); err == nil {
			m.lastSeq.WithLabelValues(src).Set(n)
		}
	}
}
