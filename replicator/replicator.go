package replicator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/internal/retry"
)

// Config is everything one replicator needs. cmd/drc fills it from the
// YAML file; New applies the defaults documented on each field.
type Config struct {
	Cluster string // source cluster name; transactional id is drc-<Cluster>
	Region  string // region the source lives in

	Flavor   string // mariadb (default) or mysql
	Host     string
	Port     int
	User     string
	Password string
	ServerID uint32 // replica id used for the binlog dump; default 4242

	Brokers           []string
	Topic             string
	KafkaVersion      string // default 3.9.0
	ClientID          string // default drc
	ReplicationFactor int    // default 1
	Partitions        int32  // default 1
	PartitionBy       string // cluster (default) or database
	Compression       string // none, lz4 (default), zstd, gzip, snappy
	CompressionLevel  int    // zstd 1-22, gzip 1-9; 0: the codec's default
	// KafkaTLS and KafkaSASL secure the connections to the brokers
	// (kafkaconn; default plaintext, no SASL).
	KafkaTLS  kafkaconn.TLS
	KafkaSASL kafkaconn.SASL

	HeartbeatInterval time.Duration // default 1s
	FlushInterval     time.Duration // default 20ms
	// CommitLinger is how old an open Kafka transaction must be before it
	// is committed, unless it holds MaxBatchBytes (default 0: commit as
	// soon as nothing more is ready); past FlushInterval it commits even
	// while more is ready. Each Kafka transaction costs the broker a
	// coordinator round, so lingering lets more binlog transactions share
	// one, for up to that much more latency: 100ms cut the broker's CPU per
	// source transaction by a fifth under sysbench (make bench,
	// applier/lag with DRC_BENCH_COMMIT_LINGER).
	CommitLinger  time.Duration
	MaxBatchBytes int // default 4 MiB
	Filter        Filter
	AllowDDL      []string
	StartGTID     string // where an empty topic starts; default the source's current position
	// SkipGTID is one transaction an operator has decided not to publish
	// (drc replicate --skip-gtid): one the replicator cannot read, and
	// stops at on every start. It is passed over when met, logged,
	// counted and recorded in the source's drc_meta.skipped; the region
	// then lacks its changes until reconcile repairs them.
	SkipGTID string
	// TLS secures the connections to the source, the binlog stream
	// included (mysqlconn.TLS; default preferred).
	TLS mysqlconn.TLS
	// RecordKey, when set (at least event.MinKeyBytes), signs every
	// transaction's records in each partition (event.SignatureHeader), and
	// the replicator resumes only from a position its own signed records
	// carry. The applier holds the same key.
	RecordKey []byte

	// MaxBackoff caps the retry backoff after a failure; default 5s.
	MaxBackoff time.Duration
}

func (c *Config) setDefaults() {
	if c.Flavor == "" {
		c.Flavor = "mariadb"
	}
	if c.ServerID == 0 {
		c.ServerID = 4242
	}
	if c.KafkaVersion == "" {
		c.KafkaVersion = "3.9.0"
	}
	if c.ClientID == "" {
		c.ClientID = "drc"
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	if c.PartitionBy == "" {
		c.PartitionBy = "cluster"
	}
	if c.Compression == "" {
		c.Compression = "lz4"
	}
	if c.Topic == "" {
		c.Topic = "drc." + c.Cluster
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 20 * time.Millisecond
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 4 << 20
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
}

// DSN is the go-sql-driver DSN of the source, in UTC.
func (c Config) DSN() (string, error) {
	mc, err := c.endpoint().Driver()
	if err != nil {
		return "", err
	}
	return mc.FormatDSN(), nil
}

func (c Config) endpoint() mysqlconn.Endpoint {
	return mysqlconn.Endpoint{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password, TLS: c.TLS}
}

// kafka is how the replicator reaches the brokers.
func (c Config) kafka() kafkaconn.Conn {
	return kafkaconn.Conn{Brokers: c.Brokers, Version: c.KafkaVersion, ClientID: c.ClientID, TLS: c.KafkaTLS, SASL: c.KafkaSASL}
}

// Replicator tails one source's binlog and publishes it to Kafka.
type Replicator struct {
	cfg     Config
	filter  compiledFilter
	log     *slog.Logger
	metrics *metrics
	// skipChecked: the first session checked Config.SkipGTID against the
	// topic (sessions run one at a time, in Run).
	skipChecked bool
}

// New builds a Replicator. Metrics are registered on reg (nil: not exported).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Replicator, error) {
	cfg.setDefaults()
	if cfg.Cluster == "" || cfg.Region == "" {
		return nil, errors.New("replicator: cluster and region are required")
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("replicator: at least one kafka broker is required")
	}
	filter, err := cfg.Filter.compile()
	if err != nil {
		return nil, err
	}
	return &Replicator{cfg: cfg, filter: filter, log: log, metrics: newMetrics(reg)}, nil
}

// Run replicates until ctx is cancelled or a permanent error occurs. A
// transient failure (source restart, broker outage, network) ends the
// session; the next one resumes from the committed tail of the topic after
// a capped exponential backoff. Run returns after all its goroutines stop
// (at shutdown, a session stuck in a sarama call is given
// sessionStopGrace, see stoppableSession); it returns nil when ctx is
// cancelled.
func (r *Replicator) Run(ctx context.Context) error {
	dsn, err := r.cfg.DSN()
	if err != nil {
		return permanent(fmt.Errorf("source %s:%d: %w", r.cfg.Host, r.cfg.Port, err))
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return permanent(fmt.Errorf("source %s:%d: %w", r.cfg.Host, r.cfg.Port, err))
	}
	defer db.Close()
	db.SetMaxOpenConns(3)

	if err := r.preflight(ctx, db); err != nil || ctx.Err() != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var st sessionState
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.heartbeat(ctx, db, &st)
	}()
	defer wg.Wait()
	defer cancel()

	backoff := retry.NewBackoff(time.Second, r.cfg.MaxBackoff)
	failures := retry.NewFailures(r.log, "replication session failed; retrying")
	for {
		start := time.Now()
		err := r.stoppableSession(ctx, db, &st)
		if ctx.Err() != nil {
			return nil
		}
		if kerr := kafkaRefused(r.cfg, err); kerr != nil {
			err = permanent(kerr)
		} else if mysqlerr.Denied(err) {
			// A refused login or TLS that does not verify, on the binlog
			// connection: no retry fixes it.
			err = permanent(fmt.Errorf("source %s:%d: %w", r.cfg.Host, r.cfg.Port, err))
		}
		r.metrics.errors.WithLabelValues(errorKind(err)).Inc()
		if IsPermanent(err) {
			return err
		}
		if failures.Count() > 0 && st.recoveringCount() == 0 {
			// The session published before it failed: the earlier streak
			// ended (its recovery was logged then), this is a new one.
			failures.Reset()
			backoff.Reset()
		} else if time.Since(start) > time.Minute {
			// A long healthy session resets the backoff.
			failures.Recovered("replication recovered")
			backoff.Reset()
		}
		wait := backoff.Next()
		failures.Failed(err, wait)
		st.setRecovering(failures.Count())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sessionStopGrace bounds how long Run waits, once ctx has ended, for a
// session to return. The publisher gives up on sarama's retries at once
// and on its close after kafkaconn.StopGrace, but the Kafka client's
// calls that take no context (connecting, describing the topic, reading
// its tail offsets, closing) can each sit out sarama's retry schedule
// while the broker is down or frozen; a role must still stop within 5 s
// of SIGTERM.
const sessionStopGrace = kafkaconn.StopGrace + time.Second

// stoppableSession runs one session and returns its error. Once ctx has
// ended it waits at most sessionStopGrace for the session, then returns
// ctx's error and leaves the session to end on its own or with the
// process: it only unwinds then (every stage watches ctx), and whatever it
// leaves in Kafka is committed whole or aborted, never half (see
// publisher.call).
func (r *Replicator) stoppableSession(ctx context.Context, db *sql.DB, st *sessionState) error {
	stopping, release := kafkaconn.Stopping(ctx, sessionStopGrace)
	defer release()
	var err error
	if !kafkaconn.Await(stopping, r.log, "replication session (what it leaves in Kafka is committed whole or aborted, never half)", func() { err = r.session(ctx, db, st) }) {
		return ctx.Err()
	}
	return err
}

// preflight waits for the source to answer, then checks its settings and
// privileges. An unreachable source is retried with backoff (a replicator
// may well start before its source); a wrong password, an unknown host or
// a failed check is permanent. It returns nil when ctx ends first.
func (r *Replicator) preflight(ctx context.Context, db *sql.DB) error {
	backoff := retry.NewBackoff(time.Second, r.cfg.MaxBackoff)
	failures := retry.NewFailures(r.log, "source unreachable; retrying")
	for {
		err := db.PingContext(ctx)
		if err == nil {
			if err = Preflight(ctx, db, r.cfg.Flavor); err == nil {
				failures.Recovered("source reachable")
				return nil
			}
			// A check that failed because the source went away is retried.
			if perr := db.PingContext(ctx); perr == nil || !mysqlerr.Unreachable(perr) {
				return permanent(err)
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		err = fmt.Errorf("source %s:%d: %w", r.cfg.Host, r.cfg.Port, err)
		if !mysqlerr.Unreachable(err) {
			r.metrics.errors.WithLabelValues("preflight").Inc()
			return permanent(err)
		}
		r.metrics.errors.WithLabelValues("mysql").Inc()
		wait := backoff.Next()
		failures.Failed(err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// sessionState is shared between sessions and the heartbeat goroutine.
type sessionState struct {
	mu         sync.Mutex
	lastTS     time.Time // source commit time of the newest published transaction
	recovering int       // consecutive failed sessions; 0 when healthy
}

func (s *sessionState) setRecovering(n int) {
	s.mu.Lock()
	s.recovering = n
	s.mu.Unlock()
}

// published records progress and reports whether the session had been
// recovering from failures, so the recovery is logged once.
func (s *sessionState) published(ts time.Time) (recovered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTS = ts
	recovered, s.recovering = s.recovering, 0
	return recovered
}

func (s *sessionState) recoveringCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovering
}

func (s *sessionState) position() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastTS
}

// heartbeat writes drc_meta.heartbeat every interval and refreshes the purge
// horizon gauge. Failures are logged once per outage: the source being down
// is already reported by the session.
func (r *Replicator) heartbeat(ctx context.Context, db *sql.DB, st *sessionState) {
	t := time.NewTicker(r.cfg.HeartbeatInterval)
	defer t.Stop()
	failing := false
	var expire time.Duration
	var expireRead time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := db.ExecContext(ctx, `INSERT INTO drc_meta.heartbeat (region, ts)
			VALUES (?, CAST(UNIX_TIMESTAMP(NOW(6))*1000000 AS SIGNED))
			ON DUPLICATE KEY UPDATE ts = VALUES(ts)`, r.cfg.Region)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				r.log.Warn("heartbeat write failed", "error", err)
				failing = true
			}
			continue
		}
		if failing {
			r.log.Info("heartbeat write recovered")
			failing = false
		}
		r.metrics.heartbeatTS.SetToCurrentTime()
		if time.Since(expireRead) > time.Minute {
			if e, err := BinlogExpiry(ctx, db); err == nil {
				expire, expireRead = e, time.Now()
			}
		}
		r.metrics.purgeHorizon.Set(PurgeHorizon(st.position(), expire, time.Now()))
	}
}

// PurgeHorizon is how long, in seconds, remains before the source may
// purge the binlog holding the replicator's position: binlogs are purged
// by age, so events committed at pos (the source commit time of the newest
// published transaction; zero when none is known, counted as now) become
// purgeable at pos+expire. +Inf when the source never purges by age
// (expire <= 0). It is the one computation behind both
// drc_replicator_purge_horizon_seconds and drc status, so the two agree.
func PurgeHorizon(pos time.Time, expire time.Duration, now time.Time) float64 {
	if expire <= 0 {
		return math.Inf(1)
	}
	if pos.IsZero() {
		pos = now
	}
	return pos.Add(expire).Sub(now).Seconds()
}

// BinlogExpiry is the source's binlog expiry by age:
// binlog_expire_logs_seconds, or expire_logs_days where the server has
// only that; 0 when binlogs never expire by age. The purge horizon's other
// input (PurgeHorizon).
func BinlogExpiry(ctx context.Context, db Queryer) (time.Duration, error) {
	var secs sql.NullFloat64
	err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&secs)
	if err != nil {
		var days sql.NullFloat64
		if err2 := db.QueryRowContext(ctx, "SELECT @@GLOBAL.expire_logs_days").Scan(&days); err2 != nil {
			return 0, fmt.Errorf("read binlog expiry: %w", err)
		}
		return time.Duration(days.Float64 * float64(24*time.Hour)), nil
	}
	return time.Duration(secs.Float64 * float64(time.Second)), nil
}
