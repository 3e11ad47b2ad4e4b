package replicator

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
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
	if err := ensureTopic(client, r.cfg); err != nil {
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
	rd.recordSkip = func(ctx context.Context, s drcmeta.Skip) error { return drcmeta.RecordSkip(ctx, db, s) }
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
	for {
		var b *batch
		if pub.open() && boundary {
			// Commit when the reader has nothing more ready, or the
			// transaction is big or old enough.
			if txnBytes >= r.cfg.MaxBatchBytes || time.Since(txnStart) >= r.cfg.FlushInterval {
				if err := pub.commit(); err != nil {
					return err
				}
				committed()
				continue
			}
			select {
			case b = <-in:
			default:
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

// pending is a row record held back until the next one arrives, because
// only then is it known whether it is its transaction's last.
type pending struct {
	valid      bool
	rec        event.Record
	imgA, imgB event.Row
}

// reader is the binlog stage: it decodes events into records and cuts them
// into batches.
type reader struct {
	r      *Replicator
	pos    Position
	out    chan<- *batch
	free   chan *batch
	cache  event.TableCache
	allow  map[string]bool
	region string

	cur *batch

	// The open binlog transaction.
	inTxn      bool
	standalone bool
	firstRows  bool // no rows event seen yet in this transaction
	skipTxn    bool // applied by drc from another region: not sent back
	gtid       string
	ts         int64
	seq        []int
	pend       []*pending // the held-back record of each partition
	emitted    int
	spare      *pending // double buffer for the incoming row
	// Where this transaction's records start in cur, and whether some of
	// them were already handed to the publisher, so that a transaction
	// found to be applied by drc after its first records can be dropped.
	txnMsgs, txnArena int
	txnBoundary       bool // cur.boundary before the transaction's first record
	txnSent           bool
	lateOriginLogged  bool

	// The operator's skip (Config.SkipGTID): opSkip while reading that
	// transaction, with the tables it touches; recordSkip writes the
	// drc_meta.skipped row (nil in unit tests).
	opSkip     bool
	skipTables []string
	account    bool // the transaction holds an account statement, not published
	// sign signs each partition's records of the transaction (nil
	// without Config.RecordKey).
	sign       []*event.Signer
	recordSkip func(context.Context, drcmeta.Skip) error
	// behind[p]: transactions read since partition p's last gtid_set
	// published nothing there (filtered, not sent back, skipped, or
	// written to other partitions). Such a partition gets a position
	// marker (marker) once the source is idle or none has had a gtid_set
	// for markerDelay, so that the topic's tail, and every checkpoint,
	// reach the source position. lastSet is when the last gtid_set was
	// emitted.
	behind  []bool
	lastSet time.Time
}

func newReader(r *Replicator, pos Position, out chan<- *batch, free chan *batch) *reader {
	allow := make(map[string]bool, len(r.cfg.AllowDDL))
	for _, s := range r.cfg.AllowDDL {
		allow[normalizeSQL(s)] = true
	}
	rd := &reader{
		r: r, pos: pos.Clone(), out: out, free: free, allow: allow, region: r.cfg.Region,
		seq:    make([]int, r.cfg.Partitions),
		pend:   make([]*pending, r.cfg.Partitions),
		behind: make([]bool, r.cfg.Partitions),
		// The session starts from a position the topic holds.
		lastSet: time.Now(),
		spare:   &pending{},
	}
	for i := range rd.pend {
		rd.pend[i] = &pending{}
	}
	if len(r.cfg.RecordKey) > 0 {
		for p := range rd.pend {
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
		if err := rd.handle(ctx, ev); err != nil {
			return err
		}
	}
}

// binlogError turns the dump thread's refusal to serve a purged position
// into ErrPurged.
func (rd *reader) binlogError(err error) error {
	var me *mysql.MyError
	if errors.As(err, &me) && me.Code == mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG {
		return permanent(fmt.Errorf("%w: resuming after %s: %s; this region needs a new bootstrap (drc bootstrap)", ErrPurged, rd.pos, me.Message))
	}
	return fmt.Errorf("read binlog after %s: %w", rd.pos, err)
}

func (rd *reader) handle(ctx context.Context, ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent:
		return rd.begin(e.GTID.String(), int64(ev.Header.Timestamp)*1000, e.IsStandalone())
	case *replication.GTIDEvent:
		next, err := e.GTIDNext()
		if err != nil {
			return permanent(fmt.Errorf("decode MySQL GTID event: %w", err))
		}
		ts := int64(ev.Header.Timestamp) * 1000
		if e.OriginalCommitTimestamp > 0 {
			ts = int64(e.OriginalCommitTimestamp / 1000)
		}
		// A MySQL GTID event is followed by BEGIN for DML; a DDL follows it
		// directly, so standalone is decided by the next query event.
		return rd.begin(next.String(), ts, true)
	case *replication.QueryEvent:
		return rd.query(ctx, e)
	case *replication.RowsEvent:
		return rd.rows(ctx, ev.Header.EventType, e)
	case *replication.XIDEvent:
		return rd.commit(ctx)
	case *replication.HeartbeatEvent:
		// The source has sent nothing for HeartbeatPeriod.
		return rd.marker(ctx)
	case *replication.TransactionPayloadEvent:
		// binlog_transaction_compression (MySQL): the transaction's events,
		// BEGIN to XID, compressed into one; the GTID event stays outside.
		// go-mysql has decompressed and parsed them.
		for _, inner := range e.Events {
			if err := rd.handle(ctx, inner); err != nil {
				return err
			}
		}
	}
	return nil
}

func (rd *reader) begin(gtid string, ts int64, standalone bool) error {
	if rd.inTxn {
		return permanent(fmt.Errorf("binlog: transaction %s starts before %s ended", gtid, rd.gtid))
	}
	rd.inTxn, rd.standalone, rd.firstRows, rd.skipTxn = true, standalone, true, false
	rd.gtid, rd.ts, rd.emitted, rd.txnSent = gtid, ts, 0, false
	rd.opSkip, rd.skipTables = rd.r.cfg.SkipGTID != "" && gtid == rd.r.cfg.SkipGTID, rd.skipTables[:0]
	rd.account = false
	for i := range rd.seq {
		rd.seq[i] = 0
	}
	for _, s := range rd.sign {
		s.Reset()
	}
	return nil
}

func (rd *reader) query(ctx context.Context, e *replication.QueryEvent) error {
	st := ClassifyStatement(string(e.Query), string(e.Schema))
	if rd.opSkip && st.Kind != KindIgnore {
		rd.noteSkipped(st.DB, st.Table)
		if rd.standalone {
			return rd.commit(ctx)
		}
		return nil
	}
	switch st.Kind {
	case KindIgnore:
		switch w, _ := word(skipSpaceAndComments(st.SQL)); w {
		case "BEGIN":
			rd.standalone = false
		case "COMMIT", "ROLLBACK":
			// COMMIT ends a transaction on a non-transactional engine; a
			// logged ROLLBACK keeps the non-transactional changes it made.
			if rd.inTxn && !rd.standalone {
				return rd.commit(ctx)
			}
		}
		return nil
	case KindDML:
		return rd.stuck(fmt.Errorf("transaction %s: statement-based DML in the binlog; the source must run binlog_format=ROW", rd.gtid))
	case KindUnknown, KindXA:
		if !rd.allow[normalizeSQL(st.SQL)] {
			return rd.stuck(&ErrUnclassified{GTID: rd.gtid, SQL: st.SQL, Kind: st.Kind})
		}
	}
	if !rd.inTxn {
		return permanent(fmt.Errorf("binlog: statement outside a transaction after %s: %.100q", rd.pos, st.SQL))
	}
	// DDL commits implicitly, so the applier cannot put a checkpoint write
	// in front of it; it marks the statement with a leading comment
	// instead (DDLOriginComment), which names the origin the same way.
	if origin, ok := DDLOrigin(st.SQL); ok && origin != rd.region {
		rd.skipTxn = true
	}
	publish := st.DB != metaDB && (st.Kind != KindTable && st.Kind != KindObject || rd.r.filter.Match(st.DB, st.Table))
	if st.Kind == KindDatabase {
		publish = st.DB != metaDB && rd.r.filter.Match(st.DB, "")
	}
	if st.Kind == KindAccount {
		// Accounts, roles, grants and server definitions are not
		// published: their text holds passwords (or hashes as good as
		// passwords), and a DR region manages its own accounts.
		publish = false
		rd.account = true
		rd.r.log.Info("account statement not published: a DR region manages its own accounts", "gtid", rd.gtid, "statement", st.Label())
	}
	if publish && !rd.skipTxn {
		next := rd.spare
		next.rec = event.Record{Op: event.OpDDL, DB: st.DB, Table: st.Table, SQL: st.SQL}
		if err := rd.hold(ctx, rd.partition(st.DB)); err != nil {
			return err
		}
	}
	if rd.standalone {
		return rd.commit(ctx)
	}
	return nil
}

func rowsOp(t replication.EventType) (event.Op, bool) {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		return event.OpInsert, true
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1, replication.PARTIAL_UPDATE_ROWS_EVENT:
		return event.OpUpdate, true
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return event.OpDelete, true
	}
	return "", false
}

// ErrPartialJSON is a JSON partial update (MySQL's
// binlog_row_value_options=PARTIAL_JSON): the after image holds only the
// change, which drc does not publish as a row.
var ErrPartialJSON = errors.New("JSON partial update in the binlog")

// partialJSON returns ErrPartialJSON, naming the column, if an after image
// of e, a PARTIAL_UPDATE_ROWS_EVENT, carries a JSON diff instead of a whole
// document. A diff that changes nothing arrives as an empty value (go-mysql
// returns no JsonDiff for it), which a row would publish as JSON null; it
// cannot be told from a whole empty value (non-strict mode's NULL in a NOT
// NULL column), so it stops the replicator as well.
func partialJSON(e *replication.RowsEvent, tbl *event.Table) error {
	for i := 1; i < len(e.Rows); i += 2 {
		for c, v := range e.Rows[i] {
			_, diff := v.(*replication.JsonDiff)
			b, isBytes := v.([]byte)
			empty := isBytes && len(b) == 0 && c < len(tbl.Columns) && tbl.Columns[c].Kind == event.KindJSON
			if !diff && !empty {
				continue
			}
			col := fmt.Sprintf("#%d", c+1)
			if c < len(tbl.Columns) {
				col = tbl.Columns[c].Name
			}
			return fmt.Errorf("%w: column %s of %s.%s; the source must run binlog_row_value_options='' (in the server config, and in no session)", ErrPartialJSON, col, tbl.DB, tbl.Name)
		}
	}
	return nil
}

func (rd *reader) rows(ctx context.Context, typ replication.EventType, e *replication.RowsEvent) error {
	op, ok := rowsOp(typ)
	if !ok {
		return permanent(fmt.Errorf("transaction %s: unknown rows event type %v", rd.gtid, typ))
	}
	if !rd.inTxn {
		return permanent(fmt.Errorf("binlog: rows event outside a transaction after %s", rd.pos))
	}
	if rd.opSkip {
		if e.Table != nil {
			rd.noteSkipped(string(e.Table.Schema), string(e.Table.Table))
		}
		return nil
	}
	tbl, err := rd.cache.Table(e.Table)
	if err != nil {
		return rd.stuck(fmt.Errorf("transaction %s: %w", rd.gtid, err))
	}
	first := rd.firstRows
	rd.firstRows = false
	if rd.skipTxn {
		return nil
	}
	// An update's rows come in before/after pairs, whatever the record's
	// op becomes below (a heartbeat update is one record, its after image).
	step := 1
	if op == event.OpUpdate {
		step = 2
	}
	if tbl.DB == metaDB {
		switch tbl.Name {
		case checkpointTable:
			// The applier writes its checkpoint first in every transaction
			// it applies, so that row names the transaction's origin. A
			// checkpoint write found later in a transaction (it should not
			// happen) still marks it: its records are dropped at commit.
			if len(e.Rows) > 0 {
				origin, err := rd.originOf(tbl, e.Rows[len(e.Rows)-1], e.SkippedColumns, op)
				if err != nil {
					return err
				}
				if origin != "" && origin != rd.region {
					rd.skipTxn = true
					if !first && !rd.lateOriginLogged {
						rd.lateOriginLogged = true
						rd.r.log.Warn("a transaction applied by drc has its checkpoint write after other rows; dropping it at commit", "gtid", rd.gtid, "origin", origin)
					}
					return nil
				}
			}
			return nil
		case heartbeatTable:
			op = event.OpHeartbeat
		default:
			return nil // drc's own bookkeeping: leases, conflicts, reconcile state
		}
	} else if !rd.r.filter.Match(tbl.DB, tbl.Name) {
		return nil
	}
	if typ == replication.PARTIAL_UPDATE_ROWS_EVENT {
		// Only a row drc publishes needs its whole after image.
		if err := partialJSON(e, tbl); err != nil {
			return rd.stuck(fmt.Errorf("transaction %s: %w", rd.gtid, err))
		}
	}

	for i := 0; i+step <= len(e.Rows); i += step {
		var skipA, skipB []int
		if len(e.SkippedColumns) > i {
			skipA = e.SkippedColumns[i]
		}
		if step == 2 && len(e.SkippedColumns) > i+1 {
			skipB = e.SkippedColumns[i+1]
		}
		if op == event.OpHeartbeat {
			img, skip := e.Rows[i], skipA
			if step == 2 {
				img, skip = e.Rows[i+1], skipB
			}
			// Every partition gets the heartbeat, so lag is measured on each.
			for p := range rd.pend {
				if err := rd.addRow(ctx, int32(p), tbl, op, img, skip, nil, nil); err != nil {
					return err
				}
			}
			continue
		}
		var err error
		switch op {
		case event.OpInsert:
			err = rd.addRow(ctx, rd.partition(tbl.DB), tbl, op, e.Rows[i], skipA, nil, nil)
		case event.OpDelete:
			err = rd.addRow(ctx, rd.partition(tbl.DB), tbl, op, nil, nil, e.Rows[i], skipA)
		case event.OpUpdate:
			err = rd.addRow(ctx, rd.partition(tbl.DB), tbl, op, e.Rows[i+1], skipB, e.Rows[i], skipA)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (rd *reader) originOf(tbl *event.Table, img []any, skipped [][]int, op event.Op) (string, error) {
	var row event.Row
	var skip []int
	if len(skipped) > 0 {
		skip = skipped[len(skipped)-1]
	}
	if err := tbl.EncodeRow(&row, img, skip); err != nil {
		return "", permanent(fmt.Errorf("transaction %s: decode %s.%s: %w", rd.gtid, metaDB, checkpointTable, err))
	}
	raw, ok := row.Value("origin")
	if !ok {
		return "", nil
	}
	var origin string
	if err := json.Unmarshal(raw, &origin); err != nil {
		return "", permanent(fmt.Errorf("transaction %s: %s.%s origin column: %w", rd.gtid, metaDB, checkpointTable, err))
	}
	return origin, nil
}

// addRow encodes one row change, and flushes the record held back before it.
func (rd *reader) addRow(ctx context.Context, p int32, tbl *event.Table, op event.Op, after []any, skipAfter []int, before []any, skipBefore []int) error {
	next := rd.spare
	next.rec = event.Record{Op: op, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK}
	if after != nil {
		if err := tbl.EncodeRow(&next.imgA, after, skipAfter); err != nil {
			return rd.stuck(fmt.Errorf("transaction %s: %w", rd.gtid, err))
		}
		next.rec.After = &next.imgA
	}
	if before != nil {
		if err := tbl.EncodeRow(&next.imgB, before, skipBefore); err != nil {
			return rd.stuck(fmt.Errorf("transaction %s: %w", rd.gtid, err))
		}
		next.rec.Before = &next.imgB
	}
	return rd.hold(ctx, p)
}

// hold makes the spare record partition p's held-back record, after
// flushing the one held before it, which is now known not to be last.
func (rd *reader) hold(ctx context.Context, p int32) error {
	if rd.pend[p].valid {
		if err := rd.flush(ctx, p, false); err != nil {
			return err
		}
	}
	rd.spare.valid = true
	rd.pend[p], rd.spare = rd.spare, rd.pend[p]
	return nil
}

// flush encodes partition p's held-back record into the current batch.
func (rd *reader) flush(ctx context.Context, p int32, last bool) error {
	pd := rd.pend[p]
	rec := &pd.rec
	rec.V, rec.Cluster, rec.Region, rec.Origin = event.Version, rd.r.cfg.Cluster, rd.region, rd.region
	rec.GTID, rec.TS, rec.Seq, rec.Last = rd.gtid, rd.ts, rd.seq[p], last
	if rec.PK == nil {
		rec.PK = []string{}
	}
	rec.GTIDSet = ""
	if last {
		rec.GTIDSet = rd.pos.String()
		rd.behind[p], rd.lastSet = false, time.Now()
	}
	rd.seq[p]++
	pd.valid = false

	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	start := len(b.arena)
	b.arena, err = rec.AppendKey(b.arena)
	if err != nil {
		return permanent(fmt.Errorf("transaction %s: key of %s.%s: %w", rd.gtid, rec.DB, rec.Table, err))
	}
	mid := len(b.arena)
	b.arena, err = rec.AppendJSON(b.arena)
	if err != nil {
		return permanent(fmt.Errorf("transaction %s: encode %s.%s: %w", rd.gtid, rec.DB, rec.Table, err))
	}
	key := sarama.ByteEncoder(b.arena[start:mid:mid])
	value := b.arena[mid:len(b.arena):len(b.arena)]
	if rd.emitted == 0 {
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
		s.Add(key, value)
		if last {
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
	rd.emitted++
	if len(b.arena) >= batchBytes || len(b.msgs) >= batchRecords {
		// Mid-transaction cut: the Kafka transaction stays open.
		return rd.send(ctx, true)
	}
	return nil
}

func (rd *reader) commit(ctx context.Context) error {
	if !rd.inTxn {
		return permanent(fmt.Errorf("binlog: commit without a transaction after %s", rd.pos))
	}
	if err := rd.pos.Add(rd.gtid); err != nil {
		return permanent(err)
	}
	rd.inTxn = false
	for p := range rd.behind {
		rd.behind[p] = true // until flush publishes this position there
	}
	if rd.opSkip {
		if err := rd.operatorSkipped(ctx); err != nil {
			return err
		}
		return rd.markerIfDue(ctx)
	}
	if rd.skipTxn {
		rd.r.metrics.skipped.WithLabelValues("loop").Inc()
		if err := rd.dropTxn(); err != nil {
			return err
		}
		return rd.markerIfDue(ctx)
	}
	for p := range rd.pend {
		if rd.pend[p].valid {
			if err := rd.flush(ctx, int32(p), true); err != nil {
				return err
			}
		}
	}
	if rd.emitted == 0 {
		switch {
		case rd.account:
			rd.r.metrics.skipped.WithLabelValues("account").Inc()
		case !rd.skipTxn:
			rd.r.metrics.skipped.WithLabelValues("filtered").Inc()
		}
		return rd.markerIfDue(ctx)
	}
	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	b.boundary = true
	b.txns++
	b.lastTS = time.UnixMilli(rd.ts)
	b.lastGTID = rd.gtid
	// Hand the batch over now if the publisher has room; otherwise keep
	// filling it, which groups transactions while Kafka is busy.
	select {
	case rd.out <- b:
		rd.cur = nil
	default:
	}
	return nil
}

// markerDelay is how long a partition that is behind (see reader.behind)
// may go without a position marker while transactions that publish
// nothing keep coming: a fenced MariaDB primary still takes the other
// region's heartbeats, about one a second, so the source is never idle.
const markerDelay = time.Second

// markerIfDue sends the position marker when no gtid_set has been
// emitted for markerDelay.
func (rd *reader) markerIfDue(ctx context.Context) error {
	if time.Since(rd.lastSet) < markerDelay {
		return nil
	}
	return rd.marker(ctx)
}

// marker publishes a position marker (a heartbeat record without an image,
// as publishMarker writes at start) to every partition that is behind.
// Without it, a source whose last transactions were filtered, or applied
// by drc from the other region of a two-way pair, would leave the topic's
// tail behind its position until its next published transaction: a
// fenced primary (drc switchover) has none.
func (rd *reader) marker(ctx context.Context) error {
	if rd.inTxn || !slices.Contains(rd.behind, true) {
		return nil
	}
	rd.gtid, rd.ts, rd.emitted = "", time.Now().UnixMilli(), 0
	for p, pd := range rd.pend {
		if !rd.behind[p] {
			continue
		}
		pd.rec = event.Record{Op: event.OpHeartbeat, DB: metaDB, Table: heartbeatTable, PK: []string{}}
		rd.seq[p] = 0
		if rd.sign != nil {
			rd.sign[p].Reset() // a dropped transaction may have signed records
		}
		if err := rd.flush(ctx, int32(p), true); err != nil {
			return err
		}
	}
	b, err := rd.batch(ctx)
	if err != nil {
		return err
	}
	b.boundary = true
	rd.r.metrics.markers.Inc()
	return nil
}

// stuck marks an error that stops the replicator at the same transaction on
// every start, and says the way past it.
func (rd *reader) stuck(err error) error {
	return permanent(fmt.Errorf("%w; if this transaction cannot be published, pass over it deliberately with drc replicate --skip-gtid %s (recorded in drc_meta.skipped), then repair its tables with drc reconcile", err, rd.gtid))
}

// noteSkipped adds db.table to the tables of the skipped transaction.
func (rd *reader) noteSkipped(db, table string) {
	rd.skipTables = drcmeta.AddTable(rd.skipTables, db, table)
}

// operatorSkipped ends the transaction the operator skipped: nothing of it
// was emitted. It is logged, counted and recorded, with the command that
// repairs what the other region now lacks.
func (rd *reader) operatorSkipped(ctx context.Context) error {
	rd.opSkip = false
	rd.r.metrics.skipped.WithLabelValues("operator").Inc()
	hint := drcmeta.RepairHint(rd.skipTables)
	rd.r.log.Warn("SKIPPED a source transaction on operator request (--skip-gtid): its changes are not published, and the regions differ until repaired",
		"gtid", rd.gtid, "tables", strings.Join(rd.skipTables, ","), "repair", hint)
	if rd.recordSkip != nil {
		err := rd.recordSkip(ctx, drcmeta.Skip{Cluster: rd.r.cfg.Cluster, Role: "replicator", GTID: rd.gtid,
			Tables: slices.Clone(rd.skipTables), Reason: "drc replicate --skip-gtid"})
		if err != nil {
			// The log line above is the record; the stream goes on.
			rd.r.log.Warn("could not record the skip in the source's drc_meta.skipped", "gtid", rd.gtid, "error", err)
		}
	}
	return nil
}

// dropTxn discards what a transaction applied by drc had emitted before
// its origin was known. Records already handed to the publisher cannot be
// taken back; that stops the replicator rather than send them back.
func (rd *reader) dropTxn() error {
	for _, pd := range rd.pend {
		pd.valid = false
	}
	if rd.emitted == 0 {
		return nil
	}
	if rd.txnSent || rd.cur == nil {
		return permanent(fmt.Errorf("transaction %s was applied by drc from another region, but its checkpoint write came after %d rows already sent; refusing to publish it back", rd.gtid, rd.emitted))
	}
	b := rd.cur
	b.msgs = b.msgs[:rd.txnMsgs]
	b.arena = b.arena[:rd.txnArena]
	b.boundary = rd.txnBoundary
	b.events -= rd.emitted
	rd.emitted = 0
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
		rd.txnSent = rd.txnSent || rd.emitted > 0
	}
	select {
	case rd.out <- b:
		rd.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// partition routes a database to its partition: 0 for partition_by
// cluster, a stable hash of the database name otherwise, so one database's
// DDL, DML and heartbeats share a partition.
func (rd *reader) partition(db string) int32 {
	if len(rd.pend) == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(db))
	return int32(h.Sum32() % uint32(len(rd.pend)))
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
