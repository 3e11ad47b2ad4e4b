package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator/event"
)

// The reader stage has two parts. The assembler (this file) turns binlog
// events into records: GTID and BEGIN/COMMIT/XID framing, table maps and
// rows events, DDL classification and filtering, the transactions it does
// not publish (filtered, account statements, applied by drc from another
// region, skipped by the operator), heartbeats and position markers. It
// holds no connection: its records go to a recordSink, and what else it
// needs from outside comes in its assemblerConfig. The reader (stream.go)
// feeds it the source's binlog stream and, as its recordSink, encodes the
// records into batches for the publisher. Unit tests feed it binlog files
// from testdata/.

// A recordSink takes the assembler's output, in binlog order, from one
// goroutine. Records come in runs that end at a boundary (Commit or
// Marker), or are taken back (Drop).
type recordSink interface {
	// Record takes partition p's next record. rec and its images belong
	// to the assembler, which reuses them once Record returns.
	Record(ctx context.Context, p int32, rec *event.Record) error
	// Commit ends binlog transaction gtid, committed at ts (unix
	// milliseconds), whose records were all given to Record: a
	// transaction boundary. A transaction that publishes nothing gets no
	// Commit.
	Commit(ctx context.Context, gtid string, ts int64) error
	// Marker ends the run of position markers just given to Record: a
	// boundary that is no transaction.
	Marker(ctx context.Context) error
	// Drop takes back the records of transaction gtid given to Record since
	// the last boundary (the transaction was found to be applied by drc
	// from another region). It fails, permanently, when some of them were
	// already handed on and cannot be taken back.
	Drop(gtid string) error
}

// assemblerConfig is what the assembler needs from outside.
type assemblerConfig struct {
	Cluster, Region string
	Partitions      int // Kafka partitions records are routed to; at least 1
	Filter          compiledFilter
	AllowDDL        []string // statements let through although unclassified (Config.AllowDDL)
	SkipGTID        string   // the transaction the operator passes over (Config.SkipGTID)
	Log             *slog.Logger
	// Now is the clock of position markers; nil: time.Now.
	Now func() time.Time
	// Skipped counts a binlog transaction not published, by reason:
	// filtered, account, loop or operator. Nil: not counted.
	Skipped func(reason string)
	// RecordSkip writes the drc_meta.skipped row of the operator's skip.
	// Nil: not recorded (the log line is the record).
	RecordSkip func(context.Context, drcmeta.Skip) error
}

// assembler turns binlog events into records; see the top of this file.
type assembler struct {
	cfg   assemblerConfig
	sink  recordSink
	pos   Position // the source position after the last transaction read
	cache event.TableCache
	allow map[string]bool

	// The open binlog transaction.
	inTxn            bool
	standalone       bool
	firstRows        bool // no rows event seen yet in this transaction
	skipTxn          bool // applied by drc from another region: not sent back
	gtid             string
	ts               int64
	seq              []int
	pend             []*pending // the held-back record of each partition
	emitted          int        // records of the transaction given to the sink
	spare            *pending   // double buffer for the incoming row
	lateOriginLogged bool

	// The operator's skip (assemblerConfig.SkipGTID): opSkip while reading
	// that transaction, with the tables it touches.
	opSkip     bool
	skipTables []string
	account    bool // the transaction holds an account statement, not published
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

// newAssembler returns an assembler that reads on from pos (the session
// starts from a position the topic holds) and gives its records to sink.
func newAssembler(cfg assemblerConfig, pos Position, sink recordSink) *assembler {
	if cfg.Partitions < 1 {
		cfg.Partitions = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Skipped == nil {
		cfg.Skipped = func(string) {}
	}
	allow := make(map[string]bool, len(cfg.AllowDDL))
	for _, s := range cfg.AllowDDL {
		allow[normalizeSQL(s)] = true
	}
	a := &assembler{
		cfg: cfg, sink: sink, pos: pos.Clone(), allow: allow,
		seq:     make([]int, cfg.Partitions),
		pend:    make([]*pending, cfg.Partitions),
		behind:  make([]bool, cfg.Partitions),
		lastSet: cfg.Now(),
		spare:   &pending{},
	}
	for i := range a.pend {
		a.pend[i] = &pending{}
	}
	return a
}

// pending is a row record held back until the next one arrives, because
// only then is it known whether it is its transaction's last.
type pending struct {
	valid      bool
	rec        event.Record
	imgA, imgB event.Row
}

// handle reads one binlog event. An error stops the stream: a permanent
// one (IsPermanent) stops it at the same transaction on every start.
func (a *assembler) handle(ctx context.Context, ev *replication.BinlogEvent) error {
	switch e := ev.Event.(type) {
	case *replication.MariadbGTIDEvent:
		return a.begin(e.GTID.String(), int64(ev.Header.Timestamp)*1000, e.IsStandalone())
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
		return a.begin(next.String(), ts, true)
	case *replication.QueryEvent:
		return a.query(ctx, e)
	case *replication.RowsEvent:
		return a.rows(ctx, ev.Header.EventType, e)
	case *replication.XIDEvent:
		return a.commit(ctx)
	case *replication.HeartbeatEvent:
		// The source has sent nothing for HeartbeatPeriod.
		return a.marker(ctx)
	case *replication.TransactionPayloadEvent:
		// binlog_transaction_compression (MySQL): the transaction's events,
		// BEGIN to XID, compressed into one; the GTID event stays outside.
		// go-mysql has decompressed and parsed them.
		for _, inner := range e.Events {
			if err := a.handle(ctx, inner); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *assembler) begin(gtid string, ts int64, standalone bool) error {
	if a.inTxn {
		return permanent(fmt.Errorf("binlog: transaction %s starts before %s ended", gtid, a.gtid))
	}
	a.inTxn, a.standalone, a.firstRows, a.skipTxn = true, standalone, true, false
	a.gtid, a.ts, a.emitted = gtid, ts, 0
	a.opSkip, a.skipTables = a.cfg.SkipGTID != "" && gtid == a.cfg.SkipGTID, a.skipTables[:0]
	a.account = false
	for i := range a.seq {
		a.seq[i] = 0
	}
	return nil
}

func (a *assembler) query(ctx context.Context, e *replication.QueryEvent) error {
	st := ClassifyStatement(string(e.Query), string(e.Schema))
	if a.opSkip && st.Kind != KindIgnore {
		a.noteSkipped(st.DB, st.Table)
		if a.standalone {
			return a.commit(ctx)
		}
		return nil
	}
	switch st.Kind {
	case KindIgnore:
		switch w, _ := word(skipSpaceAndComments(st.SQL)); w {
		case "BEGIN":
			a.standalone = false
		case "COMMIT", "ROLLBACK":
			// COMMIT ends a transaction on a non-transactional engine; a
			// logged ROLLBACK keeps the non-transactional changes it made.
			if a.inTxn && !a.standalone {
				return a.commit(ctx)
			}
		}
		return nil
	case KindDML:
		return a.stuck(fmt.Errorf("transaction %s: statement-based DML in the binlog; the source must run binlog_format=ROW", a.gtid))
	case KindUnknown, KindXA:
		if !a.allow[normalizeSQL(st.SQL)] {
			return a.stuck(&ErrUnclassified{GTID: a.gtid, SQL: st.SQL, Kind: st.Kind})
		}
	}
	if !a.inTxn {
		return permanent(fmt.Errorf("binlog: statement outside a transaction after %s: %.100q", a.pos, st.SQL))
	}
	// DDL commits implicitly, so the applier cannot put a checkpoint write
	// in front of it; it marks the statement with a leading comment
	// instead (DDLOriginComment), which names the origin the same way.
	if origin, ok := DDLOrigin(st.SQL); ok && origin != a.cfg.Region {
		a.skipTxn = true
	}
	publish := st.DB != metaDB && (st.Kind != KindTable && st.Kind != KindObject || a.cfg.Filter.Match(st.DB, st.Table))
	if st.Kind == KindDatabase {
		publish = st.DB != metaDB && a.cfg.Filter.Match(st.DB, "")
	}
	if st.Kind == KindAccount {
		// Accounts, roles, grants and server definitions are not
		// published: their text holds passwords (or hashes as good as
		// passwords), and a DR region manages its own accounts.
		publish = false
		a.account = true
		a.cfg.Log.Info("account statement not published: a DR region manages its own accounts", "gtid", a.gtid, "statement", st.Label())
	}
	if publish && !a.skipTxn {
		next := a.spare
		next.rec = event.Record{Op: event.OpDDL, DB: st.DB, Table: st.Table, SQL: st.SQL}
		if err := a.hold(ctx, a.partition(st.DB)); err != nil {
			return err
		}
	}
	if a.standalone {
		return a.commit(ctx)
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

func (a *assembler) rows(ctx context.Context, typ replication.EventType, e *replication.RowsEvent) error {
	op, ok := rowsOp(typ)
	if !ok {
		return permanent(fmt.Errorf("transaction %s: unknown rows event type %v", a.gtid, typ))
	}
	if !a.inTxn {
		return permanent(fmt.Errorf("binlog: rows event outside a transaction after %s", a.pos))
	}
	if a.opSkip {
		if e.Table != nil {
			a.noteSkipped(string(e.Table.Schema), string(e.Table.Table))
		}
		return nil
	}
	tbl, err := a.cache.Table(e.Table)
	if err != nil {
		return a.stuck(fmt.Errorf("transaction %s: %w", a.gtid, err))
	}
	first := a.firstRows
	a.firstRows = false
	if a.skipTxn {
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
				origin, err := a.originOf(tbl, e.Rows[len(e.Rows)-1], e.SkippedColumns, op)
				if err != nil {
					return err
				}
				if origin != "" && origin != a.cfg.Region {
					a.skipTxn = true
					if !first && !a.lateOriginLogged {
						a.lateOriginLogged = true
						a.cfg.Log.Warn("a transaction applied by drc has its checkpoint write after other rows; dropping it at commit", "gtid", a.gtid, "origin", origin)
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
	} else if !a.cfg.Filter.Match(tbl.DB, tbl.Name) {
		return nil
	}
	if typ == replication.PARTIAL_UPDATE_ROWS_EVENT {
		// Only a row drc publishes needs its whole after image.
		if err := partialJSON(e, tbl); err != nil {
			return a.stuck(fmt.Errorf("transaction %s: %w", a.gtid, err))
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
			for p := range a.pend {
				if err := a.addRow(ctx, int32(p), tbl, op, img, skip, nil, nil); err != nil {
					return err
				}
			}
			continue
		}
		var err error
		switch op {
		case event.OpInsert:
			err = a.addRow(ctx, a.partition(tbl.DB), tbl, op, e.Rows[i], skipA, nil, nil)
		case event.OpDelete:
			err = a.addRow(ctx, a.partition(tbl.DB), tbl, op, nil, nil, e.Rows[i], skipA)
		case event.OpUpdate:
			err = a.addRow(ctx, a.partition(tbl.DB), tbl, op, e.Rows[i+1], skipB, e.Rows[i], skipA)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *assembler) originOf(tbl *event.Table, img []any, skipped [][]int, op event.Op) (string, error) {
	var row event.Row
	var skip []int
	if len(skipped) > 0 {
		skip = skipped[len(skipped)-1]
	}
	if err := tbl.EncodeRow(&row, img, skip); err != nil {
		return "", permanent(fmt.Errorf("transaction %s: decode %s.%s: %w", a.gtid, metaDB, checkpointTable, err))
	}
	raw, ok := row.Value("origin")
	if !ok {
		return "", nil
	}
	var origin string
	if err := json.Unmarshal(raw, &origin); err != nil {
		return "", permanent(fmt.Errorf("transaction %s: %s.%s origin column: %w", a.gtid, metaDB, checkpointTable, err))
	}
	return origin, nil
}

// addRow encodes one row change, and flushes the record held back before it.
func (a *assembler) addRow(ctx context.Context, p int32, tbl *event.Table, op event.Op, after []any, skipAfter []int, before []any, skipBefore []int) error {
	next := a.spare
	next.rec = event.Record{Op: op, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK}
	if after != nil {
		if err := tbl.EncodeRow(&next.imgA, after, skipAfter); err != nil {
			return a.stuck(fmt.Errorf("transaction %s: %w", a.gtid, err))
		}
		next.rec.After = &next.imgA
	}
	if before != nil {
		if err := tbl.EncodeRow(&next.imgB, before, skipBefore); err != nil {
			return a.stuck(fmt.Errorf("transaction %s: %w", a.gtid, err))
		}
		next.rec.Before = &next.imgB
	}
	return a.hold(ctx, p)
}

// hold makes the spare record partition p's held-back record, after
// flushing the one held before it, which is now known not to be last.
func (a *assembler) hold(ctx context.Context, p int32) error {
	if a.pend[p].valid {
		if err := a.flush(ctx, p, false); err != nil {
			return err
		}
	}
	a.spare.valid = true
	a.pend[p], a.spare = a.spare, a.pend[p]
	return nil
}

// flush frames partition p's held-back record and gives it to the sink.
func (a *assembler) flush(ctx context.Context, p int32, last bool) error {
	pd := a.pend[p]
	rec := &pd.rec
	rec.V, rec.Cluster, rec.Region, rec.Origin = event.Version, a.cfg.Cluster, a.cfg.Region, a.cfg.Region
	rec.GTID, rec.TS, rec.Seq, rec.Last = a.gtid, a.ts, a.seq[p], last
	if rec.PK == nil {
		rec.PK = []string{}
	}
	rec.GTIDSet = ""
	if last {
		rec.GTIDSet = a.pos.String()
		a.behind[p], a.lastSet = false, a.cfg.Now()
	}
	a.seq[p]++
	pd.valid = false

	if err := a.sink.Record(ctx, p, rec); err != nil {
		return err
	}
	a.emitted++
	return nil
}

func (a *assembler) commit(ctx context.Context) error {
	if !a.inTxn {
		return permanent(fmt.Errorf("binlog: commit without a transaction after %s", a.pos))
	}
	if err := a.pos.Add(a.gtid); err != nil {
		return permanent(err)
	}
	a.inTxn = false
	for p := range a.behind {
		a.behind[p] = true // until flush publishes this position there
	}
	if a.opSkip {
		if err := a.operatorSkipped(ctx); err != nil {
			return err
		}
		return a.markerIfDue(ctx)
	}
	if a.skipTxn {
		a.cfg.Skipped("loop")
		if err := a.dropTxn(); err != nil {
			return err
		}
		return a.markerIfDue(ctx)
	}
	for p := range a.pend {
		if a.pend[p].valid {
			if err := a.flush(ctx, int32(p), true); err != nil {
				return err
			}
		}
	}
	if a.emitted == 0 {
		switch {
		case a.account:
			a.cfg.Skipped("account")
		case !a.skipTxn:
			a.cfg.Skipped("filtered")
		}
		return a.markerIfDue(ctx)
	}
	return a.sink.Commit(ctx, a.gtid, a.ts)
}

// markerDelay is how long a partition that is behind (see assembler.behind)
// may go without a position marker while transactions that publish
// nothing keep coming: a fenced MariaDB primary still takes the other
// region's heartbeats, about one a second, so the source is never idle.
const markerDelay = time.Second

// markerIfDue sends the position marker when no gtid_set has been
// emitted for markerDelay.
func (a *assembler) markerIfDue(ctx context.Context) error {
	if a.cfg.Now().Sub(a.lastSet) < markerDelay {
		return nil
	}
	return a.marker(ctx)
}

// marker publishes a position marker (a heartbeat record without an image,
// as publishMarker writes at start) to every partition that is behind.
// Without it, a source whose last transactions were filtered, or applied
// by drc from the other region of a two-way pair, would leave the topic's
// tail behind its position until its next published transaction: a
// fenced primary (drc switchover) has none.
func (a *assembler) marker(ctx context.Context) error {
	if a.inTxn || !slices.Contains(a.behind, true) {
		return nil
	}
	a.gtid, a.ts, a.emitted = "", a.cfg.Now().UnixMilli(), 0
	for p, pd := range a.pend {
		if !a.behind[p] {
			continue
		}
		pd.rec = event.Record{Op: event.OpHeartbeat, DB: metaDB, Table: heartbeatTable, PK: []string{}}
		a.seq[p] = 0
		if err := a.flush(ctx, int32(p), true); err != nil {
			return err
		}
	}
	return a.sink.Marker(ctx)
}

// stuck marks an error that stops the replicator at the same transaction on
// every start, and says the way past it.
func (a *assembler) stuck(err error) error {
	return permanent(fmt.Errorf("%w; if this transaction cannot be published, pass over it deliberately with drc replicate --skip-gtid %s (recorded in drc_meta.skipped), then repair its tables with drc reconcile", err, a.gtid))
}

// noteSkipped adds db.table to the tables of the skipped transaction.
func (a *assembler) noteSkipped(db, table string) {
	a.skipTables = drcmeta.AddTable(a.skipTables, db, table)
}

// operatorSkipped ends the transaction the operator skipped: nothing of it
// was emitted. It is logged, counted and recorded, with the command that
// repairs what the other region now lacks.
func (a *assembler) operatorSkipped(ctx context.Context) error {
	a.opSkip = false
	a.cfg.Skipped("operator")
	hint := drcmeta.RepairHint(a.skipTables)
	a.cfg.Log.Warn("SKIPPED a source transaction on operator request (--skip-gtid): its changes are not published, and the regions differ until repaired",
		"gtid", a.gtid, "tables", strings.Join(a.skipTables, ","), "repair", hint)
	if a.cfg.RecordSkip != nil {
		err := a.cfg.RecordSkip(ctx, drcmeta.Skip{Cluster: a.cfg.Cluster, Role: "replicator", GTID: a.gtid,
			Tables: slices.Clone(a.skipTables), Reason: "drc replicate --skip-gtid"})
		if err != nil {
			// The log line above is the record; the stream goes on.
			a.cfg.Log.Warn("could not record the skip in the source's drc_meta.skipped", "gtid", a.gtid, "error", err)
		}
	}
	return nil
}

// dropTxn discards what a transaction applied by drc had emitted before
// its origin was known. Records already handed to the publisher cannot be
// taken back; the sink then stops the replicator rather than send them
// back.
func (a *assembler) dropTxn() error {
	for _, pd := range a.pend {
		pd.valid = false
	}
	if a.emitted == 0 {
		return nil
	}
	if err := a.sink.Drop(a.gtid); err != nil {
		return err
	}
	a.emitted = 0
	return nil
}

// partition routes a database to its partition: 0 for partition_by
// cluster, a stable hash of the database name otherwise, so one database's
// DDL, DML and heartbeats share a partition.
func (a *assembler) partition(db string) int32 {
	if len(a.pend) == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(db))
	return int32(h.Sum32() % uint32(len(a.pend)))
}
