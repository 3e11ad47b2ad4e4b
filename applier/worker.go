package applier

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator/event"
)

// Limits of one multi-row INSERT: rows, placeholders (the protocol's
// limit is 65535) and argument bytes (well under max_allowed_packet).
const (
	maxPlaceholders = 65535
	maxBatchBytes   = 4 << 20
	maxStmtCache    = 256
)

// worker is the executor of one target connection: it applies
// transactions with SQL.
type worker struct {
	tgt  *sqlTarget
	id   int
	conn *sql.Conn
	slot slotKey

	stmts    map[stmtKey]*sql.Stmt
	texts    map[stmtKey]string // statement texts of the one-round-trip path
	version  uint64
	args     []any
	fastBuf  []byte  // the one-round-trip path's query text
	fastWant []int64 // and its expected row counts

	// The pending multi-row INSERT.
	batch      []*event.Record
	batchPlan  *plan
	batchBytes int

	// lax: the session's sql_mode is non-strict while one record that
	// stores an ENUM's error value is written (see enumZero).
	lax bool
}

// enumZero reports whether r carries an ENUM index 0, the error value a
// source in non-strict mode stored for an invalid value. Storing it takes
// a non-strict sql_mode; comparing it needs no special mode.
func enumZero(r *event.Record) bool {
	return r.After != nil && r.After.HasEnumZero() || r.Before != nil && r.Before.HasEnumZero()
}

// Statements that switch the session to a non-strict sql_mode around one
// record's statements, and back.
const (
	laxModeSQL = "SET @drc_sql_mode = @@SESSION.sql_mode, " +
		"SESSION sql_mode = REPLACE(REPLACE(@@SESSION.sql_mode, 'STRICT_TRANS_TABLES', ''), 'STRICT_ALL_TABLES', '')"
	restoreModeSQL = "SET SESSION sql_mode = @drc_sql_mode"
)

// strict restores the session's sql_mode after relax.
func (w *worker) strict(ctx context.Context, t *txn) error {
	if !w.lax {
		return nil
	}
	if _, err := w.conn.ExecContext(ctx, restoreModeSQL); err != nil {
		return classifyApply(fmt.Errorf("transaction %s: restore sql_mode: %w", t.gtid, err))
	}
	w.lax = false
	return nil
}

// relax makes the session non-strict until strict (or the end of the
// transaction, on an error path).
func (w *worker) relax(ctx context.Context, t *txn) error {
	if w.lax {
		return nil
	}
	if _, err := w.conn.ExecContext(ctx, laxModeSQL); err != nil {
		return classifyApply(fmt.Errorf("transaction %s: non-strict sql_mode for an ENUM error value: %w", t.gtid, err))
	}
	w.lax = true
	return nil
}

// stmtKey identifies a prepared statement: its plan (one schema version of
// one table), the operation, the number of rows of an INSERT and the SET
// columns of an UPDATE (a bitmask over plan.cols; all ones for wide tables).
type stmtKey struct {
	p    *plan
	op   byte
	rows int
	set  uint64
}

func newWorker(tgt *sqlTarget, id int, conn *sql.Conn) *worker {
	return &worker{tgt: tgt, id: id, conn: conn, slot: newSlotKey(tgt.cfg.Cluster, tgt.part, id), stmts: map[stmtKey]*sql.Stmt{}, texts: map[stmtKey]string{}}
}

// Close closes the statements and the connection.
func (w *worker) Close() {
	w.closeStmts()
	w.conn.Close()
}

func (w *worker) closeStmts() {
	for k, s := range w.stmts {
		s.Close()
		delete(w.stmts, k)
	}
	clear(w.texts)
}

// Apply writes the slot checkpoint row first (it names the origin), then
// the rows: in one round trip when it can (fast.go), else with prepared
// statements.
func (w *worker) Apply(ctx context.Context, t *txn, again bool) error {
	if v := w.tgt.schema.Version(); v != w.version {
		w.closeStmts()
		w.version = v
	}
	if !again {
		fast, err := w.tryFast(ctx, t)
		if err != nil || fast {
			return err
		}
	}
	return w.applySlow(ctx, t)
}

// Commit writes the partition's checkpoint row and commits, in one round
// trip.
func (w *worker) Commit(ctx context.Context, t *txn) error {
	ck := Checkpoint{Cluster: w.tgt.cfg.Cluster, Part: w.tgt.part, Offset: t.next, GTIDSet: t.set, Origin: t.origin, LastGTID: t.lastGTID}
	if _, err := w.conn.ExecContext(ctx, commitSQL(ck)); err != nil {
		return classifyApply(fmt.Errorf("commit transaction %s: %w", t.gtid, err))
	}
	return nil
}

// Rollback rolls back the open target transaction, drops the batched
// rows and restores the session's sql_mode. Best effort: a broken
// connection rolls back by itself, and is dropped.
func (w *worker) Rollback() {
	w.reset()
	if w.lax {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		w.conn.ExecContext(rctx, restoreModeSQL)
		cancel()
		w.lax = false
	}
}

// reset rolls back the open target transaction and drops the batched
// rows. Best effort: a broken connection rolls back by itself.
func (w *worker) reset() {
	w.batch, w.batchPlan, w.batchBytes = w.batch[:0], nil, 0
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	w.conn.ExecContext(rctx, "ROLLBACK")
	cancel()
}

// applySlow applies t with prepared statements: BEGIN with the slot row,
// then each record (INSERTs batched), conflicts resolved as they are met.
// Large transactions stream in through t.more.
func (w *worker) applySlow(ctx context.Context, t *txn) error {
	if _, err := w.conn.ExecContext(ctx, beginSQL(w.slot, t.first, t.origin, t.gtid)); err != nil {
		return classifyApply(fmt.Errorf("begin transaction %s: %w", t.gtid, err))
	}
	for _, r := range t.recs {
		if err := w.record(ctx, t, r); err != nil {
			return err
		}
	}
	if t.more != nil {
	stream:
		for {
			select {
			case chunk, ok := <-t.more:
				if !ok {
					if t.abandoned {
						return nil // apply rolls it back
					}
					break stream
				}
				for _, r := range chunk {
					if err := w.record(ctx, t, r); err != nil {
						return err
					}
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return w.flush(ctx, t)
}

// record applies one record, or adds an insert to the pending batch.
func (w *worker) record(ctx context.Context, t *txn, r *event.Record) error {
	if !enumZero(r) {
		return w.recordOne(ctx, t, r)
	}
	// An ENUM error value is stored under a non-strict sql_mode, for this
	// record's statements only: the rows before it are written first, and
	// strict mode returns right after it, so it cannot hide a truncation
	// elsewhere.
	if err := w.flush(ctx, t); err != nil {
		return err
	}
	if err := w.relax(ctx, t); err != nil {
		return err
	}
	if err := w.recordOne(ctx, t, r); err != nil {
		return err
	}
	if err := w.flush(ctx, t); err != nil {
		return err
	}
	return w.strict(ctx, t)
}

// recordOne applies one record, or adds an insert to the pending batch.
func (w *worker) recordOne(ctx context.Context, t *txn, r *event.Record) error {
	switch r.Op {
	case event.OpInsert:
		pl, err := w.tgt.schema.plan(ctx, r.After.Table)
		if err != nil {
			return err
		}
		if pl.ids != nil {
			if err := w.guardRow(ctx, t, pl, r); err != nil {
				return err
			}
		}
		if pl != w.batchPlan || len(w.batch) >= w.maxRows(pl) || w.batchBytes >= maxBatchBytes {
			if err := w.flush(ctx, t); err != nil {
				return err
			}
			w.batchPlan = pl
		}
		w.batch = append(w.batch, r)
		for _, v := range r.After.Values {
			w.batchBytes += len(v)
		}
		return nil
	case event.OpUpdate, event.OpDelete:
		if err := w.flush(ctx, t); err != nil {
			return err
		}
		pl, err := w.tgt.schema.plan(ctx, r.Before.Table)
		if err != nil {
			return err
		}
		if r.Op == event.OpUpdate {
			if pl.ids != nil {
				if err := w.guardRow(ctx, t, pl, r); err != nil {
					return err
				}
			}
			t.rows[1]++
			return w.update(ctx, t, pl, r)
		}
		t.rows[2]++
		return w.delete(ctx, t, pl, r)
	case event.OpHeartbeat:
		if err := w.flush(ctx, t); err != nil {
			return err
		}
		return w.heartbeat(ctx, t, r)
	}
	return permanent(fmt.Errorf("transaction %s: unexpected %s record in a row transaction", t.gtid, r.Op))
}

func (w *worker) maxRows(pl *plan) int {
	return min(w.tgt.cfg.BatchRows, maxPlaceholders/max(1, len(pl.cols)))
}

// stmt returns the prepared statement for k, preparing build() once.
func (w *worker) stmt(ctx context.Context, k stmtKey, build func() string) (*sql.Stmt, error) {
	if s, ok := w.stmts[k]; ok {
		return s, nil
	}
	if len(w.stmts) >= maxStmtCache {
		w.closeStmts()
	}
	q := build()
	s, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, classifyApply(fmt.Errorf("prepare %.200s: %w", q, err))
	}
	w.stmts[k] = s
	return s, nil
}

// appendArgs appends the arguments of img's columns idx.
func appendArgs(args []any, img *event.Row, idx []int) ([]any, error) {
	for _, i := range idx {
		a, err := img.Arg(i)
		if err != nil {
			return args, permanent(err)
		}
		args = append(args, a)
	}
	return args, nil
}

// flush runs the pending multi-row INSERT. A duplicate key fails the whole
// statement (InnoDB rolls the statement back), so its rows are then
// inserted one at a time to find and resolve the conflicting ones.
func (w *worker) flush(ctx context.Context, t *txn) error {
	n := len(w.batch)
	if n == 0 {
		return nil
	}
	pl := w.batchPlan
	defer func() {
		clear(w.batch)
		w.batch, w.batchBytes = w.batch[:0], 0
	}()
	t.rows[0] += n
	s, err := w.stmt(ctx, stmtKey{p: pl, op: 'i', rows: n}, func() string { return buildInsert(pl.q, pl.colRefs, n) })
	if err != nil {
		return err
	}
	args := w.args[:0]
	for _, r := range w.batch {
		if args, err = appendArgs(args, r.After, pl.cols); err != nil {
			return w.rowError(t, w.batch[0], err)
		}
	}
	_, err = s.ExecContext(ctx, args...)
	clear(args)
	w.args = args[:0]
	if err == nil {
		return nil
	}
	if !mysqlerr.DuplicateKey(err) {
		return w.rowError(t, w.batch[0], err)
	}
	for _, r := range w.batch {
		if err := w.insertOne(ctx, t, pl, r); err != nil {
			return err
		}
	}
	return nil
}

func (w *worker) rowError(t *txn, r *event.Record, err error) error {
	return classifyApply(fmt.Errorf("apply transaction %s (%s on %s) at topic %s partition %d, its transaction from offset %d: %w",
		r.GTID, r.Op, qualify(r.DB, r.Table), w.tgt.topic, w.tgt.part, t.first, err))
}

// insertOne inserts one row; a duplicate key is a conflict.
func (w *worker) insertOne(ctx context.Context, t *txn, pl *plan, r *event.Record) error {
	s, err := w.stmt(ctx, stmtKey{p: pl, op: 'i', rows: 1}, func() string { return buildInsert(pl.q, pl.colRefs, 1) })
	if err != nil {
		return err
	}
	args, err := appendArgs(w.args[:0], r.After, pl.cols)
	if err != nil {
		return w.rowError(t, r, err)
	}
	_, err = s.ExecContext(ctx, args...)
	clear(args)
	if mysqlerr.DuplicateKey(err) {
		return w.conflict(ctx, t, pl, r, kindDuplicateKey)
	}
	if err != nil {
		return w.rowError(t, r, err)
	}
	return nil
}

// update runs UPDATE ... SET <changed columns> WHERE <key and whole before
// image>.
func (w *worker) update(ctx context.Context, t *txn, pl *plan, r *event.Record) error {
	k, build, args, err := updateStmt(pl, r, w.args[:0])
	if err != nil {
		return w.rowError(t, r, err)
	}
	return w.execRow(ctx, t, pl, r, k, build, args)
}

// execRow runs the UPDATE or DELETE k of r. A duplicate key (an UPDATE
// only) is a conflict, and so is no matched row: a missing row, or a
// before image that differs.
func (w *worker) execRow(ctx context.Context, t *txn, pl *plan, r *event.Record, k stmtKey, build func() string, args []any) error {
	s, err := w.stmt(ctx, k, build)
	if err != nil {
		return err
	}
	res, err := s.ExecContext(ctx, args...)
	clear(args)
	if mysqlerr.DuplicateKey(err) {
		return w.conflict(ctx, t, pl, r, kindDuplicateKey)
	}
	if err != nil {
		return w.rowError(t, r, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return w.conflict(ctx, t, pl, r, w.classify(ctx, pl, r.Before))
	}
	return nil
}

// updateStmt returns the UPDATE statement for r, keyed by the columns it
// changes, and appends its arguments: the changed after values, then the
// whole before image.
func updateStmt(pl *plan, r *event.Record, args []any) (stmtKey, func() string, []any, error) {
	var mask uint64
	if len(pl.cols) <= 64 {
		for k, i := range pl.cols {
			if !bytes.Equal(r.Before.Values[i], r.After.Values[i]) {
				mask |= 1 << k
			}
		}
	}
	if mask == 0 {
		mask = ^uint64(0)
	}
	build := func() string {
		refs := make([]*event.Column, 0, len(pl.cols))
		for k, i := range pl.cols {
			if k >= 64 || mask&(1<<k) != 0 {
				refs = append(refs, &pl.bound[i])
			}
		}
		return buildUpdate(pl.q, refs, pl.whereRef, pl.nKey)
	}
	var err error
	for k, i := range pl.cols {
		if k >= 64 || mask&(1<<k) != 0 {
			a, aerr := r.After.Arg(i)
			if aerr != nil {
				return stmtKey{}, nil, args, permanent(aerr)
			}
			args = append(args, a)
		}
	}
	args, err = appendArgs(args, r.Before, pl.where)
	return stmtKey{p: pl, op: 'u', set: mask}, build, args, err
}

// delete runs DELETE ... WHERE <key and whole before image>.
func (w *worker) delete(ctx context.Context, t *txn, pl *plan, r *event.Record) error {
	k, build, args, err := deleteStmt(pl, r, w.args[:0])
	if err != nil {
		return w.rowError(t, r, err)
	}
	return w.execRow(ctx, t, pl, r, k, build, args)
}

// deleteStmt returns the DELETE statement for r and appends its
// arguments, the whole before image.
func deleteStmt(pl *plan, r *event.Record, args []any) (stmtKey, func() string, []any, error) {
	args, err := appendArgs(args, r.Before, pl.where)
	return stmtKey{p: pl, op: 'd'}, func() string { return buildDelete(pl.q, pl.whereRef, pl.nKey) }, args, err
}

// heartbeatSQL upserts a source region's heartbeat row. Unlike user rows
// it is an upsert: the row is drc's own, and each region's row is written
// by one replicator only.
const heartbeatSQL = "INSERT INTO drc_meta.heartbeat (region, ts) VALUES (?, ?) ON DUPLICATE KEY UPDATE ts = VALUES(ts)"

// heartbeat writes the source region's heartbeat row.
func (w *worker) heartbeat(ctx context.Context, t *txn, r *event.Record) error {
	if r.After == nil {
		return nil // a position marker
	}
	region, us, err := heartbeatArgs(t, r)
	if err != nil {
		return err
	}
	s, err := w.stmt(ctx, stmtKey{op: 'h'}, func() string { return heartbeatSQL })
	if err != nil {
		return err
	}
	if _, err := s.ExecContext(ctx, region, us); err != nil {
		return classifyApply(fmt.Errorf("transaction %s: heartbeat: %w", t.gtid, err))
	}
	t.heartbeat = us
	return nil
}

// heartbeatArgs returns a heartbeat record's region and ts (unix µs).
func heartbeatArgs(t *txn, r *event.Record) (any, int64, error) {
	tbl := r.After.Table
	ri, ti := tbl.ColumnIndex("region"), tbl.ColumnIndex("ts")
	if ri < 0 || ti < 0 {
		return nil, 0, permanent(fmt.Errorf("transaction %s: heartbeat record without region and ts", t.gtid))
	}
	region, err := r.After.Arg(ri)
	if err != nil {
		return nil, 0, permanent(fmt.Errorf("transaction %s: heartbeat region: %w", t.gtid, err))
	}
	ts, err := r.After.Arg(ti)
	if err != nil {
		return nil, 0, permanent(fmt.Errorf("transaction %s: heartbeat ts: %w", t.gtid, err))
	}
	us, _ := ts.(int64)
	return region, us, nil
}
