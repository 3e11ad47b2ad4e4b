package applier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/internal/retry"
	"github.com/drc-dev/drc/replicator/event"
)

// Applier applies one source cluster's topic to one target server.
type Applier struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	policies *policies

	// serialUntil: after a session failed on a lock wait or deadlock
	// between workers (a dependency the write-sets did not capture, such
	// as a foreign key), the next sessions apply with one worker for a
	// while, so the same transactions cannot collide again.
	serialUntil time.Time

	pair             *pairState
	warnedAsymmetric bool
	// guard checks ID columns; set by each session (the target's stored
	// idgen layout can change between sessions), nil without id_columns.
	guard        *idGuard
	warnedLayout bool
	reached      bool // a session has reached the target and Kafka
}

// pairState knows whether the target region has run a replicator of its
// own, which makes the pair two-way: the target's drc_meta.heartbeat has a
// row of the target region. The answer is sticky: that row stays when the
// replicator stops, so both sides keep resolving races the same way
// through an outage of either replicator. While it is no, it is read again
// at most every pairRecheck, when a conflict needs it.
type pairState struct {
	region string // the target's region
	log    *slog.Logger

	mu      sync.Mutex
	at      time.Time
	is      bool
	checked bool
}

const pairRecheck = 30 * time.Second

func (s *pairState) twoWay(ctx context.Context, q drcmeta.Queryer) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.is || s.checked && time.Since(s.at) < pairRecheck {
		return s.is, nil
	}
	is, err := drcmeta.RunsReplicator(ctx, q, s.region)
	if err != nil {
		return false, classifyApply(err)
	}
	s.is, s.at, s.checked = is, time.Now(), true
	if s.is {
		s.log.Info("two-way pair: this target region has run a replicator of its own; conflicts under the auto policy are resolved by region priority (region names in order)", "region", s.region)
	}
	return s.is, nil
}

// setGuard builds the ID guard from the layout stored in the target's
// drc_meta.idgen_layout (the one its idgen nodes issue with), or the
// configured one when none is stored.
func (a *Applier) setGuard(ctx context.Context, db *sql.DB) error {
	layout := a.cfg.IDLayout
	stored, ok, err := idgen.ReadLayout(ctx, db, "")
	if err != nil {
		return fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err)
	}
	if ok {
		if !stored.Equal(layout) && !a.warnedLayout {
			a.log.Warn("id_columns are checked with the idgen layout stored in the target's drc_meta.idgen_layout, which differs from the configured one",
				"stored", stored.String(), "configured", layout.String())
			a.warnedLayout = true
		}
		layout = stored
	}
	g, err := newIDGuard(layout, a.cfg.Regions)
	if err != nil {
		return permanent(fmt.Errorf("idgen.regions: %w", err))
	}
	a.guard = g
	return nil
}

// New builds an Applier. Metrics are registered on reg (nil: not exported).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Applier, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pol, err := newPolicies(cfg.Conflict, cfg.DDL, cfg.ForeignID, cfg.Tables)
	if err != nil {
		return nil, err
	}
	return &Applier{cfg: cfg, log: log, metrics: newMetrics(reg), policies: pol, pair: &pairState{region: cfg.Region, log: log}}, nil
}

// Run applies until ctx is cancelled or a permanent error occurs (see
// IsPermanent). A transient failure (target restart, broker outage, lock
// timeout) ends the session; the next one starts again from the checkpoint
// in the target after a capped exponential backoff. Run returns nil when
// ctx is cancelled, and only after all its goroutines have stopped.
func (a *Applier) Run(ctx context.Context) error {
	backoff := retry.NewBackoff(500*time.Millisecond, a.cfg.RetryMaxBackoff)
	failures := retry.NewFailures(a.log, "apply session failed; restarting from the checkpoint")
	for {
		start := time.Now()
		err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if kerr := a.kafkaRefused(err); kerr != nil {
			// Kafka refused the credentials or a right, or its
			// certificate does not verify: no retry fixes it.
			err = permanent(kerr)
		} else if mysqlerr.Denied(err) || !a.reached && mysqlerr.UnknownHost(err) {
			// A wrong password, host or grant: no retry fixes it. A host
			// that stops resolving after it worked (a restarting pod's
			// name) is retried like a restarting server.
			err = permanent(err)
		}
		a.metrics.errors.WithLabelValues(errorKind(err)).Inc()
		if IsPermanent(err) {
			err = redactServerMessage(err)
			a.recordStop(ctx, err)
			return err // the caller logs it
		}
		if mysqlerr.LockConflict(err) {
			a.serialUntil = time.Now().Add(time.Minute)
		}
		if time.Since(start) > time.Minute {
			failures.Recovered("applier recovered")
			backoff.Reset()
		}
		wait := backoff.Next()
		failures.Failed(err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// recordStop writes the error Run stops on into the target's
// drc_meta.stop_errors, where drc status shows it. Best effort: the target
// may be what failed, and the log has the error anyway.
func (a *Applier) recordStop(ctx context.Context, stop error) {
	dsn, err := a.cfg.DSN()
	if err != nil {
		return
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = drcmeta.RecordStop(ctx, db, a.cfg.Cluster, "applier", stop.Error())
	switch {
	case err == nil:
	case mysqlerr.NoSuchTable(err):
		// Stopped before drc_meta was made (a preflight refusal): there
		// is nowhere to record it, and the log has it.
		a.log.Debug("no drc_meta.stop_errors to record the stop error in", "error", err)
	default:
		a.log.Warn("could not record the stop error in the target's drc_meta.stop_errors", "error", err)
	}
}

// kafkaError marks an error of the Kafka connection, so that a TLS
// failure is told from the target's.
type kafkaError struct{ err error }

func (e *kafkaError) Error() string { return e.err.Error() }
func (e *kafkaError) Unwrap() error { return e.err }

// kafkaRefused is err as a *kafkaconn.RefusedError naming the brokers and
// the cause when Kafka refused the applier in a way no retry fixes (its
// credentials, a missing ACL, a broker certificate that does not verify),
// else nil.
func (a *Applier) kafkaRefused(err error) error {
	var ke *kafkaError
	if !errors.As(err, &ke) && !kafkaconn.Denied(err) {
		return nil
	}
	if errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		err = fmt.Errorf("%w (topic %s)", err, a.cfg.Topic)
	}
	return a.cfg.kafka().Refused(err)
}

// ConsumerSettings sets the applier's read_committed consumer settings on
// sc: isolation, errors returned, fetch sizes and wait, channel buffers.
// The bench reads topics with them too.
func ConsumerSettings(sc *sarama.Config) {
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Return.Errors = true
	sc.Consumer.Fetch.Default = 1 << 20
	sc.Consumer.Fetch.Max = 17 << 20
	sc.Consumer.MaxWaitTime = 100 * time.Millisecond
	sc.ChannelBufferSize = 256
}

// saramaConfig is the read_committed consumer's configuration, on top of
// the connection's (kafkaconn: protocol version, client id, TLS, SASL).
func (a *Applier) saramaConfig() (*sarama.Config, error) {
	sc, err := a.cfg.kafka().Config()
	if err != nil {
		return nil, permanent(fmt.Errorf("kafka %v: %w", a.cfg.kafka(), err))
	}
	sc.Metadata.Retry.Max = 3
	ConsumerSettings(sc)
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	return sc, nil
}

// session runs one attempt: it opens the target and Kafka, reads the
// checkpoint of every partition and applies until an error.
func (a *Applier) session(ctx context.Context) error {
	dsn, err := a.cfg.DSN()
	if err != nil {
		return permanent(fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err))
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return permanent(fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err))
	}
	defer db.Close()
	// Named at start, not as an "Access denied" from the first statement
	// that needs the privilege; read every session, so a grant revoked
	// while the applier runs stops it at its next session.
	who := fmt.Sprintf("applier: target %s:%d", a.cfg.Host, a.cfg.Port)
	var readOnly bool
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&readOnly); err != nil {
		return fmt.Errorf("%s: read read_only: %w", who, err)
	}
	opt := grants.Options{DDLKinds: a.cfg.DDLKinds, Triggers: a.cfg.Triggers, ReadOnly: readOnly}
	if err := grants.CheckRole(ctx, db, who, grants.Applier, opt); err != nil {
		if _, missing := errors.AsType[*grants.MissingError](err); missing {
			return permanent(err)
		}
		return err
	}
	if err := drcmeta.Ensure(ctx, db); err != nil {
		err = fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err)
		if errors.Is(err, drcmeta.ErrNewerSchema) {
			return permanent(err)
		}
		return err
	}
	if a.policies.guarded() {
		if err := a.setGuard(ctx, db); err != nil {
			return err
		}
	}
	// The lag counts from the newest heartbeat already applied, so a
	// restarted applier that cannot get records reports a growing lag, not
	// none.
	var hb sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MAX(ts) FROM drc_meta.heartbeat WHERE region <> ?", a.cfg.Region).Scan(&hb); err != nil {
		return fmt.Errorf("target %s:%d: read drc_meta.heartbeat: %w", a.cfg.Host, a.cfg.Port, err)
	}
	if hb.Valid {
		a.metrics.heartbeat(hb.Int64)
	}
	twoWay, err := a.pair.twoWay(ctx, db)
	if err != nil {
		return err
	}
	if twoWay && !a.warnedAsymmetric {
		for _, p := range a.policies.asymmetric() {
			a.log.Warn("two-way pair with an asymmetric conflict policy: each region resolves a race in favour of a different row, so the regions can diverge; use auto, region-priority:<regions> or newer-wins:<column>", "policy", p)
		}
		a.warnedAsymmetric = true
	}
	sc, err := a.saramaConfig()
	if err != nil {
		return err
	}
	// Closing what reads Kafka waits on the brokers; once ctx ends, the
	// session waits for them at most kafkaconn.StopGrace in all, so that
	// SIGTERM is prompt with the brokers gone or not answering. The target
	// holds the checkpoint, so nothing left to the process exit matters.
	stopping, release := kafkaconn.Stopping(ctx, kafkaconn.StopGrace)
	defer release()
	client, err := sarama.NewClient(a.cfg.Brokers, sc)
	if err != nil {
		return &kafkaError{fmt.Errorf("kafka %v: %w", a.cfg.Brokers, err)}
	}
	defer kafkaconn.Await(stopping, a.log, "kafka client close (reads only)", func() { client.Close() })
	a.reached = true
	parts, err := client.Partitions(a.cfg.Topic)
	if err != nil {
		return &kafkaError{fmt.Errorf("kafka topic %s: %w", a.cfg.Topic, err)}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return &kafkaError{fmt.Errorf("kafka consumer: %w", err)}
	}
	defer consumer.Close()
	wctx, wcancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		a.watchKafka(wctx, client, parts)
	}()
	defer func() {
		wcancel()
		kafkaconn.Await(stopping, a.log, "kafka metrics watch (reads only)", func() { <-watched })
	}()
	// Group offsets are for monitoring only; without them apply still
	// works. But a principal the brokers refuse the group lacks an ACL
	// README documents, and that stops the applier like any other.
	if _, err := client.Coordinator(a.cfg.ConsumerGroup); errors.Is(err, sarama.ErrGroupAuthorizationFailed) {
		return &kafkaError{fmt.Errorf("kafka consumer group %s: %w", a.cfg.ConsumerGroup, err)}
	}
	om, err := sarama.NewOffsetManagerFromClient(a.cfg.ConsumerGroup, client)
	if err != nil {
		a.log.Debug("kafka offset manager unavailable; group offsets will not be committed", "error", err)
		om = nil
	} else {
		defer kafkaconn.Await(stopping, a.log, "kafka group offset flush (group offsets are for monitoring only; the target holds the checkpoint)", func() { om.Close() })
	}

	workers := a.cfg.Workers
	if time.Now().Before(a.serialUntil) {
		workers = 1
	}
	ctlDSN, err := a.cfg.controlDSN()
	if err != nil {
		return permanent(fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err))
	}
	ctlDB, err := sql.Open("mysql", ctlDSN)
	if err != nil {
		return permanent(fmt.Errorf("target %s:%d: %w", a.cfg.Host, a.cfg.Port, err))
	}
	defer ctlDB.Close()
	schema := newSchemaCache(db, a.cfg.Triggers == TriggersStop)
	if a.guard != nil {
		schema.idColumns = a.policies.IDColumns
	}
	db.SetMaxOpenConns(len(parts)*(workers+1) + 2)
	db.SetMaxIdleConns(len(parts)*(workers+1) + 2)

	ps := make([]*partition, 0, len(parts))
	for _, part := range parts {
		log := a.log.With("partition", part)
		src := newKafkaSource(&a.cfg, client, consumer, om, part, stopping, log)
		defer src.close()
		ps = append(ps, &partition{
			cfg: &a.cfg, policies: a.policies, m: a.metrics, log: log, src: src,
			tgt:   &sqlTarget{a: a, cfg: &a.cfg, m: a.metrics, log: log, db: db, ctlDB: ctlDB, schema: schema, topic: a.cfg.Topic, part: part},
			topic: a.cfg.Topic, part: part, workers: workers,
		})
	}
	return runPartitions(ctx, ps)
}

// runPartitions runs the session's partitions until the first fails, which
// stops the others, and returns that first error (ctx's when none failed).
func runPartitions(ctx context.Context, ps []*partition) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range ps {
		g.Go(func() error { return p.run(gctx) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// openSession returns a dedicated target connection prepared for applying:
// event.SessionSQL (UTC, utf8mb4, strict sql_mode), READ COMMITTED so that
// no gap locks couple independent transactions (except the unique-index
// duplicate check the write-set orders, see doc.go), and a bounded lock wait.
//
// Both row locks and metadata locks are bounded. Workers wait for each
// other to commit in source order, which the server cannot see: a worker
// holding a table's metadata lock while it waits its turn, an ALTER on the
// target queued behind it, and an earlier worker queued behind the ALTER
// would otherwise wait for lock_wait_timeout's default of a day. With the
// bound, the blocked statement fails, the session restarts from the
// checkpoint, and the ALTER goes through.
func openSession(ctx context.Context, db *sql.DB, lockWait time.Duration) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	secs := max(1, int(lockWait/time.Second))
	stmts := append(event.SessionSQL(),
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
		fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", secs),
		fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs))
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("target session %q: %w", q, err)
		}
	}
	return conn, nil
}
