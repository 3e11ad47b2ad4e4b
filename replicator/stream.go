package replicator

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator/event"
)

// Tables in drc_meta that carry meaning through the binlog.
const (
	metaDB          = "drc_meta"
	heartbeatTable  = "heartbeat"
	checkpointTable = "apply_checkpoint"
)

// Batch limits between the binlog reader and the publisher. The channel
// holds at most batchQueue batches, so the reader is at most about
// batchQueue*batchBytes ahead of Kafka, whatever the transaction size.
const (
	batchBytes   = 1 << 20
	batchRecords = 4096
	batchQueue   = 4
)

// batch is a run of encoded records handed from the reader to the
// publisher. Keys and values live in one arena.
type batch struct {
	arena []byte
	msgs  []sarama.ProducerMessage
	// boundary: the batch ends at a binlog transaction boundary, so the
	// Kafka transaction may commit after it.
	boundary bool
	txns     int       // binlog transactions completed in this batch
	lastTS   time.Time // commit time of the last completed transaction
	lastGTID string
	events   int
}

func (b *batch) reset() {
	b.arena = b.arena[:0]
	if cap(b.arena) > 4*batchBytes {
		b.arena = nil // a huge row's arena is not kept for ordinary batches
	}
	b.msgs = b.msgs[:0]
	b.boundary, b.txns, b.events, b.lastTS, b.lastGTID = false, 0, 0, time.Time{}, ""
}

// session runs one connection's worth of replication: it fences older
// producers, finds the resume position in the topic's committed tail,
// streams the binlog from there and publishes until an error.
func (r *Replicator) session(ctx context.Context, db *sql.DB, st *sessionState) error {
	client, err := newKafkaClient(r.cfg)
	if err != nil {
		return &kafkaError{err}
	}
	defer client.Close()
	if err := ensureTopic(ctx, client, r.cfg); err != nil {
		return &kafkaError{err}
	}
	pub, err := newPublisher(ctx, client, r.log)
	if err != nil {
		return &kafkaError{err}
	}
	defer pub.close()

	pos, ok, err := resumePosition(ctx, client, r.cfg.Topic, r.cfg.Cluster, r.cfg.Flavor, r.cfg.RecordKey, r.log)
	if errors.Is(err, errNoneVerified) && r.cfg.StartGTID != "" {
		// Signing turned on for a topic written unsigned: the operator
		// names the position with replicator.start_gtid.
		r.log.Warn("no transaction in the topic verifies with kafka.record_key; resuming from replicator.start_gtid as configured", "start_gtid", r.cfg.StartGTID)
		err, ok = nil, false
	}
	if err != nil {
		return &kafkaError{err}
	}
	if !ok {
		if pos, err = r.startPosition(ctx, db); err != nil {
			return err
		}
		r.log.Info("topic is empty; starting from the source position", "topic", r.cfg.Topic, "gtid_set", pos.String())
		// Commit the start position before reading anything, so a crash
		// before the first transaction is published resumes here instead
		// of at a later "current position", which would skip transactions.
		if err := r.publishMarker(ctx, pub, pos); err != nil {
			return err
		}
	}
	if err := CheckPurged(ctx, db, pos); err != nil {
		return err
	}
	r.log.Info("streaming the binlog", "after", pos.String())

	syncer, streamer, err := r.startSync(ctx, db, pos)
	if err != nil {
		return err
	}
	defer syncer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, batchQueue)
	free := make(chan *batch, batchQueue+2)
	readErr := make(chan error, 1)
	if r.cfg.SkipGTID != "" && !r.skipChecked {
		// Checked in the first session only: later sessions of this
		// process find the skipped transaction behind them.
		r.skipChecked = true
		skip, err := gtid.Parse(r.cfg.Flavor, r.cfg.SkipGTID)
		if err != nil {
			return permanent(fmt.Errorf("--skip-gtid %q: %w", r.cfg.SkipGTID, err))
		}
		if pos.Contains(skip) {
			return permanent(fmt.Errorf("--skip-gtid %s: the topic already holds that transaction (it resumes after %s); nothing to skip, run without the flag", r.cfg.SkipGTID, pos))
		}
	}
	rd := newReader(r, pos, batches, free)
	rd.asm.cfg.RecordSkip = func(ctx context.Context, s drcmeta.Skip) error { return drcmeta.RecordSkip(ctx, db, s) }
	go func() {
		err := rd.run(ctx, streamer)
		cancel() // stops the publisher when the reader fails
		readErr <- err
	}()

	err = r.publish(ctx, pub, batches, free, st)
	cancel()
	syncer.Close() // unblocks GetEvent
	if rerr := <-readErr; err == nil || errors.Is(err, context.Canceled) {
		err = rerr
	}
	return err
}

// startSync opens a binlog dump of the source from pos, over the
// transport security the source's TLS settings give.
func (r *Replicator) startSync(ctx context.Context, db *sql.DB, pos Position) (*replication.BinlogSyncer, *replication.BinlogStreamer, error) {
	sc := replication.BinlogSyncerConfig{
		ServerID: r.cfg.ServerID,
		Flavor:   r.cfg.Flavor,
		Host:     r.cfg.Host,
		Port:     uint16(r.cfg.Port),
		User:     r.cfg.User,
		Password: r.cfg.Password,
		// The session, not the syncer, retries: a fresh session re-reads
		// the topic's tail, so it never resumes from a half transaction.
		DisableRetrySync:     true,
		MaxReconnectAttempts: 1,
		HeartbeatPeriod:      time.Second, // the idle marker's clock
		ReadTimeout:          30 * time.Second,
		EventCacheCount:      512,
		Logger:               slog.New(slog.DiscardHandler),
	}
	// The stream is encrypted from tls.mode required up; under preferred
	// it stays plaintext (the binlog client cannot fall back).
	tc, err := r.binlogTLS(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	sc.TLSConfig = tc
	event.SyncerConfig(&sc)
	syncer := replication.NewBinlogSyncer(sc)
	streamer, err := syncer.StartSyncGTID(pos.GoMySQL())
	if err != nil {
		syncer.Close()
		return nil, nil, fmt.Errorf("start binlog dump at %s: %w", pos, err)
	}
	return syncer, streamer, nil
}

// txnProducer is the publisher stage's view of Kafka: one transactional
// producer. The session's *publisher is the real one; tests drive publish
// with a fake.
type txnProducer interface {
	begin() error
	send(ctx context.Context, m *sarama.ProducerMessage) error
	commit() error
	open() bool // a Kafka transaction is open
}

// eventSource is the binlog stream as the reader sees it: go-mysql's
// BinlogStreamer, or a replayed binlog file in tests.
type eventSource interface {
	GetEvent(ctx context.Context) (*replication.BinlogEvent, error)
}

// publish is the publisher stage: it packs batches into Kafka transactions
// and commits only after a batch that ends at a binlog transaction
// boundary, so a committed Kafka transaction never holds part of a binlog
// transaction.
func (r *Replicator) publish(ctx context.Context, pub txnProducer, in <-chan *batch, free chan<- *batch, st *sessionState) error {
	var (
		// recycle holds the first few batches of the open Kafka
		// transaction, to be reused once it commits. Batches past that
		// are not referenced here, so that a huge binlog transaction's
		// batches are freed as soon as sarama has sent them: memory stays
		// bounded whatever the transaction size.
		recycle  []*batch
		txnBytes int
		txnStart time.Time
		boundary = true
		// Totals of the open Kafka transaction, for metrics.
		txns, events int
		lastTS       time.Time
		lastGTID     string
	)
	committed := func() {
		r.metrics.observeCommit(txns, events, txnBytes, lastTS, lastGTID)
		if !lastTS.IsZero() {
			if n := st.published(lastTS); n > 0 {
				r.log.Info("replication recovered", "failures", n, "gtid", lastGTID)
			}
		}
		for _, b := range recycle {
			b.reset()
			select {
			case free <- b:
			default:
			}
		}
		recycle = recycle[:0]
		txnBytes, txns, events, lastTS, lastGTID = 0, 0, 0, time.Time{}, ""
	}
	// linger fires when the open transaction is CommitLinger old.
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	for {
		var b *batch
		if pub.open() && boundary {
			// Commit when the transaction is big enough, or when it is
			// old enough (FlushInterval) or nothing more is ready, once it
			// has lingered CommitLinger.
			age := time.Since(txnStart)
			lingered := age >= r.cfg.CommitLinger
			if txnBytes >= r.cfg.MaxBatchBytes || lingered && age >= r.cfg.FlushInterval {
				if err := pub.commit(); err != nil {
					return err
				}
				committed()
				continue
			}
			ready := true
			if lingered {
				select {
				case b = <-in:
				default:
					ready = false
				}
			} else {
				linger.Reset(r.cfg.CommitLinger - age)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case b = <-in:
				case <-linger.C:
					continue // lingered: commit unless more is ready
				}
			}
			if !ready {
				if err := pub.commit(); err != nil {
					return err
				}
				committed()
				continue
			}
		} else {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case b = <-in:
			}
		}
		if !pub.open() {
			if err := pub.begin(); err != nil {
				return err
			}
			txnStart = time.Now()
		}
		for i := range b.msgs {
			if err := pub.send(ctx, &b.msgs[i]); err != nil {
				return err
			}
		}
		if len(recycle) < cap(free) {
			recycle = append(recycle, b)
		}
		txnBytes += len(b.arena)
		txns += b.txns
		events += b.events
		if b.txns > 0 {
			lastTS, lastGTID = b.lastTS, b.lastGTID
		}
		boundary = b.boundary
	}
}

// reader is the binlog stage: it feeds the source's binlog events to its
// assembler (assemble.go) and, as the assembler's recordSink, encodes the
// records into batches for the publisher.
type reader struct {
	r    *Replicator
	asm  *assembler
	out  chan<- *batch
	free chan *batch

	cur *batch

	// The open binlog transaction's records: how many were added, where
	// they start in cur, and whether some of them were already handed to
	// the publisher, so that a transaction found to be applied by drc
	// after its first records can be dropped (Drop).
	txnRecords        int
	txnMsgs, txnArena int
	txnBoundary       bool // cur.boundary before the transaction's first record
	txnSent           bool
	// sign signs each partition's records of the transaction (nil
	// without Config.RecordKey).
	sign []*event.Signer
}

func newReader(r *Replicator, pos Position, out chan<- *batch, free chan *batch) *reader {
	rd := &reader{r: r, out: out, free: free}
	rd.asm = newAssembler(assemblerConfig{
		Cluster: r.cfg.Cluster, Region: r.cfg.Region, Partitions: int(r.cfg.Partitions),
		Filter: r.filter, AllowDDL: r.cfg.AllowDDL, SkipGTID: r.cfg.SkipGTID, Log: r.log,
		Skipped: func(reason string) { r.metrics.skipped.WithLabelValues(reason).Inc() },
	}, pos, rd)
	if len(r.cfg.RecordKey) > 0 {
		for p := range rd.asm.pend {
			rd.sign = append(rd.sign, event.NewSigner(r.cfg.RecordKey, r.cfg.Topic, int32(p)))
		}
	}
	return rd
}

func (rd *reader) run(ctx context.Context, s eventSource) error {
	for {
		var ev *replication.BinlogEvent
		var err error
		if rd.cur != nil && rd.cur.boundary {
			// A finished batch waits for the publisher to have room. If no
			// event comes soon, block on handing it over, so a quiet source
			// does not leave committed transactions unpublished.
			wctx, wcancel := context.WithTimeout(ctx, rd.r.cfg.FlushInterval)
			ev, err = s.GetEvent(wctx)
			wcancel()
			if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				if err := rd.send(ctx, false); err != nil {
					return err
				}
				continue
			}
		} else {
			ev, err = s.GetEvent(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return rd.binlogError(err)
		}
		if err := rd.asm.handle(ctx, ev); err != nil {
			return err
		}
	}
}

// binlogError turns the dump thread's refusal to serve a purged position
// into ErrPurged.
func (rd *reader) binlogError(err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		return permanent(fmt.Errorf("%w: resuming after %s: %s; this region needs a new bootstrap (drc bootstrap)", ErrPurged, rd.asm.pos, me.Message))
	}
	return fmt.Errorf("read binlog after %s: %w", rd.asm.pos, err)
}

// Record encodes partition p's record into the current batch.
func (rd *reader) Record(ctx context.Context, p int32, rec *event.Record) error {
	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	start := len(b.arena)
	b.arena, err = rec.AppendKey(b.arena)
	if err != nil {
		return permanent(fmt.Errorf("transaction %s: key of %s.%s: %w", rec.GTID, rec.DB, rec.Table, err))
	}
	mid := len(b.arena)
	b.arena, err = rec.AppendJSON(b.arena)
	if err != nil {
		return permanent(fmt.Errorf("transaction %s: encode %s.%s: %w", rec.GTID, rec.DB, rec.Table, err))
	}
	key := sarama.ByteEncoder(b.arena[start:mid:mid])
	value := b.arena[mid:len(b.arena):len(b.arena)]
	if rd.txnRecords == 0 {
		rd.txnMsgs, rd.txnArena, rd.txnBoundary = len(b.msgs), start, b.boundary
	}
	// sarama counts the key, headers (a signature) and framing against
	// the limit too.
	if len(value)+len(key)+recordOverhead <= maxRecordBytes {
		b.msgs = append(b.msgs, sarama.ProducerMessage{Topic: rd.r.cfg.Topic, Partition: p, Key: key, Value: sarama.ByteEncoder(value)})
	} else {
		// A row larger than a Kafka record: consecutive fragments, in
		// this Kafka transaction (see event.FragmentHeader).
		parts, headers := event.Fragments(value, fragmentBytes)
		for i, part := range parts {
			b.msgs = append(b.msgs, sarama.ProducerMessage{Topic: rd.r.cfg.Topic, Partition: p, Key: key, Value: sarama.ByteEncoder(part),
				Headers: []sarama.RecordHeader{{Key: []byte(event.FragmentHeader), Value: headers[i]}}})
		}
		rd.r.metrics.fragmented.Inc()
	}
	if rd.sign != nil {
		s := rd.sign[p]
		if rec.Seq == 0 {
			// A partition's first record of a transaction or marker; a
			// dropped transaction may have signed records before it.
			s.Reset()
		}
		s.Add(key, value)
		if rec.Last {
			m := &b.msgs[len(b.msgs)-1]
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(event.SignatureHeader), Value: s.Sum()})
		}
	}
	// The batch now ends inside a binlog transaction: it must not end a
	// Kafka transaction until commit marks the boundary again, whether
	// the batch is handed over when full, when the stream pauses, or when
	// the session ends.
	b.boundary = false
	b.events++
	rd.txnRecords++
	if len(b.arena) >= batchBytes || len(b.msgs) >= batchRecords {
		// Mid-transaction cut: the Kafka transaction stays open.
		return rd.send(ctx, true)
	}
	return nil
}

// Commit marks the end of a binlog transaction in the current batch, and
// hands the batch over if the publisher has room.
func (rd *reader) Commit(ctx context.Context, gtid string, ts int64) error {
	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	rd.txnRecords, rd.txnSent = 0, false
	b.boundary = true
	b.txns++
	b.lastTS = time.UnixMilli(ts)
	b.lastGTID = gtid
	// Hand the batch over now if the publisher has room; otherwise keep
	// filling it, which groups transactions while Kafka is busy.
	select {
	case rd.out <- b:
		rd.cur = nil
	default:
	}
	return nil
}

// Marker marks the end of position markers in the current batch.
func (rd *reader) Marker(ctx context.Context) error {
	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	rd.txnRecords, rd.txnSent = 0, false
	b.boundary = true
	rd.r.metrics.markers.Inc()
	return nil
}

// Drop takes the open transaction's records out of the current batch.
func (rd *reader) Drop(gtid string) error {
	n := rd.txnRecords
	if n == 0 {
		return nil
	}
	if rd.txnSent || rd.cur == nil {
		return permanent(fmt.Errorf("transaction %s was applied by drc from another region, but its checkpoint write came after %d rows already sent; refusing to publish it back", gtid, n))
	}
	b := rd.cur
	b.msgs = b.msgs[:rd.txnMsgs]
	b.arena = b.arena[:rd.txnArena]
	b.boundary = rd.txnBoundary
	b.events -= n
	rd.txnRecords = 0
	return nil
}

// batch returns the batch being filled.
func (rd *reader) batch(ctx context.Context) (*batch, error) {
	if rd.cur != nil {
		return rd.cur, nil
	}
	select {
	case rd.cur = <-rd.free:
	default:
		rd.cur = &batch{arena: make([]byte, 0, 64<<10), msgs: make([]sarama.ProducerMessage, 0, 256)}
	}
	rd.cur.boundary = false
	return rd.cur, nil
}

// send hands the current batch to the publisher, waiting for room.
func (rd *reader) send(ctx context.Context, midTxn bool) error {
	b := rd.cur
	if b == nil {
		return nil
	}
	if midTxn {
		b.boundary = false
		rd.txnSent = rd.txnSent || rd.txnRecords > 0
	}
	select {
	case rd.out <- b:
		rd.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// binlogTLS is the binlog stream's TLS: the configured one, and under
// tls.mode preferred, unverified TLS when the server took TLS for the SQL
// connections (a server that requires secure transport refuses a
// plaintext stream), plaintext otherwise.
func (r *Replicator) binlogTLS(ctx context.Context, db *sql.DB) (*tls.Config, error) {
	tc, err := r.cfg.TLS.Client(r.cfg.Host)
	if err != nil {
		return nil, permanent(fmt.Errorf("source %s:%d: %w", r.cfg.Host, r.cfg.Port, err))
	}
	if tc != nil || r.cfg.TLS.Mode != "" && r.cfg.TLS.Mode != mysqlconn.Preferred {
		return tc, nil
	}
	var name, cipher string
	if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
		return nil, fmt.Errorf("source %s:%d: read Ssl_cipher: %w", r.cfg.Host, r.cfg.Port, err)
	}
	if cipher == "" {
		return nil, nil
	}
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil
}

// startPosition is where an empty topic starts: the configured GTID set or
// the source's current binlog position.
func (r *Replicator) startPosition(ctx context.Context, db *sql.DB) (Position, error) {
	if r.cfg.StartGTID != "" {
		p, err := gtid.Parse(r.cfg.Flavor, r.cfg.StartGTID)
		if err != nil {
			return Position{}, permanent(fmt.Errorf("replicator.start_gtid: %w", err))
		}
		return p, nil
	}
	return ServerPosition(ctx, db, r.cfg.Flavor)
}

// CheckPurged fails with ErrPurged, naming the first missing GTID, when the
// source no longer has every transaction after pos in its binlogs. The
// replicator checks it at every session start; drc status checks the
// topic's committed position with it.
func CheckPurged(ctx context.Context, db *sql.DB, pos Position) error {
	if pos.Flavor() == "mysql" {
		var missing string
		err := db.QueryRowContext(ctx, "SELECT GTID_SUBTRACT(@@GLOBAL.gtid_purged, ?)", pos.String()).Scan(&missing)
		if err != nil {
			return fmt.Errorf("check purged GTIDs: %w", err)
		}
		if missing != "" {
			return permanent(fmt.Errorf("%w: GTIDs %s are needed after %s but were purged; this region needs a new bootstrap (drc bootstrap)", ErrPurged, missing, pos))
		}
		return nil
	}
	var first string
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return fmt.Errorf("check purged binlogs: SHOW BINARY LOGS: %w", err)
	}
	if rows.Next() {
		cols, _ := rows.Columns()
		dest := make([]any, len(cols))
		dest[0] = &first
		for i := 1; i < len(cols); i++ {
			dest[i] = new(sql.RawBytes)
		}
		err = rows.Scan(dest...)
	}
	rows.Close()
	if err != nil || first == "" {
		return fmt.Errorf("check purged binlogs: no binlog files listed: %v", err)
	}
	var startStr sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, 4)", first).Scan(&startStr); err != nil {
		return fmt.Errorf("check purged binlogs: BINLOG_GTID_POS(%s): %w", first, err)
	}
	if startStr.String == "" {
		return nil
	}
	start, err := gtid.Parse(gtid.MariaDB, startStr.String)
	if err != nil {
		return err
	}
	// The first GTID after pos that start (the oldest binlog's starting
	// state) shows was purged.
	missing, ok := pos.FirstMissing(start)
	if !ok {
		return nil
	}
	return permanent(fmt.Errorf("%w: GTID %s is needed next but is gone: the oldest binlog %s starts after %s, and drc resumes after %s; this region needs a new bootstrap (drc bootstrap)",
		ErrPurged, missing, first, start, pos))
}

// publishMarker commits a heartbeat record without an image whose gtid_set
// is pos: the committed tail then names where this topic starts.
func (r *Replicator) publishMarker(ctx context.Context, pub *publisher, pos Position) error {
	rec := event.Record{
		V: event.Version, Cluster: r.cfg.Cluster, Region: r.cfg.Region, Origin: r.cfg.Region,
		TS: time.Now().UnixMilli(), Last: true, Op: event.OpHeartbeat,
		DB: metaDB, Table: heartbeatTable, PK: []string{}, GTIDSet: pos.String(),
	}
	key, err := rec.AppendKey(nil)
	if err != nil {
		return permanent(err)
	}
	val, err := rec.AppendJSON(nil)
	if err != nil {
		return permanent(err)
	}
	if err := pub.begin(); err != nil {
		return err
	}
	for p := int32(0); p < r.cfg.Partitions; p++ {
		m := &sarama.ProducerMessage{Topic: r.cfg.Topic, Partition: p, Key: sarama.ByteEncoder(key), Value: sarama.ByteEncoder(val)}
		if len(r.cfg.RecordKey) > 0 {
			s := event.NewSigner(r.cfg.RecordKey, r.cfg.Topic, p)
			s.Add(key, val)
			m.Headers = []sarama.RecordHeader{{Key: []byte(event.SignatureHeader), Value: s.Sum()}}
		}
		if err := pub.send(ctx, m); err != nil {
			return err
		}
	}
	return pub.commit()
}
