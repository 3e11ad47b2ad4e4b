package applier

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator/event"
)

// The one-round-trip path for small transactions.
//
// Applied with prepared statements, a transaction of n rows costs n + 2
// round trips: BEGIN with the slot row, one per row statement, and the
// checkpoint with COMMIT. For the small transactions of an OLTP load those
// round trips, not the rows, are most of the work on both sides. tryFast
// sends BEGIN, the slot row and every row statement as one multi-statement
// text query instead, with the values written as literals into exactly the
// statements the prepared path binds them to (same placeholders, same
// conversions around them). The driver reports the rows each statement
// matched, and the path succeeds only when every statement matched what it
// must: one row for an UPDATE or DELETE, n for an INSERT of n rows.
//
// A conflict (a duplicate key, a missing row, a before image that
// differs) or a value without an exact literal rolls the attempt back and
// the transaction is applied again the prepared way, which finds the
// conflict and resolves it under the table's policy. Any other error (a
// lock timeout, a value the target rejects) is the transaction's error, as
// on the prepared path. So the fast path changes how many round trips a
// transaction costs, never what it does. Like exactly-once itself, this
// needs transactional (InnoDB) target tables: a ROLLBACK must undo the
// attempt.

const (
	fastMaxRecords = groupMaxRecords // larger transactions use the prepared path
	fastMaxBytes   = 1 << 20         // SQL text of one attempt, well under max_allowed_packet
)

// errNoLiteral: a value the fast path cannot write exactly as a literal.
var errNoLiteral = event.ErrNoLiteral

// errGuarded: a row fails the ID guard; the prepared path records it.
var errGuarded = errors.New("foreign id")

// tryFast applies t's rows and slot row in one round trip, leaving the
// transaction open for the commit. It returns false, with no transaction
// open, when t is not eligible or the attempt met a conflict; any other
// error is returned, with the transaction left for the caller to roll
// back.
func (w *worker) tryFast(ctx context.Context, t *txn) (bool, error) {
	if t.more != nil || len(t.recs) > fastMaxRecords || t.bytes > fastMaxBytes/2 {
		return false, nil
	}
	for _, r := range t.recs {
		if enumZero(r) {
			return false, nil // it needs a non-strict session: see relax
		}
	}
	q, want, rows, hb, err := w.fastSQL(ctx, t)
	if errors.Is(err, errNoLiteral) || errors.Is(err, errGuarded) || err == nil && len(q) > fastMaxBytes {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var got []int64
	err = w.conn.Raw(func(dc any) error {
		ex, ok := dc.(driver.ExecerContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot execute", dc)
		}
		res, err := ex.ExecContext(ctx, string(q), nil)
		if err != nil {
			return err
		}
		mr, ok := res.(mysql.Result)
		if !ok {
			return fmt.Errorf("driver result %T has no per-statement counts", res)
		}
		got = mr.AllRowsAffected()
		return nil
	})
	if err != nil && !mysqlerr.DuplicateKey(err) {
		// Not a conflict: a lock timeout, a deadlock, a value the target
		// rejects, a lost connection. The prepared path would meet it too;
		// the caller rolls back and the session decides (apply's defer,
		// classifyApply).
		return false, classifyApply(fmt.Errorf("apply %s (one round trip): %w", t.label(), err))
	}
	if err == nil && matches(got, want) {
		t.rows, t.heartbeat = rows, hb
		w.tgt.m.fastTxns.Add(float64(t.count))
		return true, nil
	}
	// A duplicate key or a row count that differs: a conflict. Undo the
	// attempt, then take the prepared path, which finds it and resolves it.
	if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return false, classifyApply(fmt.Errorf("roll back the one-round-trip attempt of %s: %w", t.label(), err))
	}
	return false, nil
}

// matches reports whether the per-statement counts are the expected ones:
// START TRANSACTION and the slot row first (not checked), then one count
// per row statement; a want of -1 is not checked.
func matches(got, want []int64) bool {
	if len(got) != len(want)+2 {
		return false
	}
	for i, n := range want {
		if n >= 0 && got[i+2] != n {
			return false
		}
	}
	return true
}

// fastSQL builds the text of one attempt: BEGIN and the slot row, then the
// statements of t's records (runs of INSERTs into one table as one
// multi-row INSERT), and returns the rows each row statement must match
// and the counts and heartbeat to record when it does.
func (w *worker) fastSQL(ctx context.Context, t *txn) (q []byte, want []int64, rows [3]int, hb int64, err error) {
	q = append(w.fastBuf[:0], beginSQL(w.slot, t.first, t.origin, t.gtid)...)
	want = w.fastWant[:0]
	defer func() {
		if cap(q) <= fastMaxBytes { // keep a buffer of ordinary size only
			w.fastBuf = q[:0]
		}
		w.fastWant = want[:0]
	}()
	now := time.Now()
	for i := 0; i < len(t.recs); {
		r := t.recs[i]
		args := w.args[:0]
		var k stmtKey
		var build func() string
		n := int64(1)
		switch r.Op {
		case event.OpInsert:
			pl, err := w.tgt.schema.plan(ctx, r.After.Table)
			if err != nil {
				return nil, nil, rows, 0, err
			}
			j := i
			for ; j < len(t.recs) && j-i < w.maxRows(pl); j++ {
				rj := t.recs[j]
				if rj.Op != event.OpInsert {
					break
				}
				if j > i {
					if plj, err := w.tgt.schema.plan(ctx, rj.After.Table); err != nil || plj != pl {
						break
					}
				}
				if pl.ids != nil && w.tgt.a.guard.check(rj, pl, now) != nil {
					return nil, nil, rows, 0, errGuarded
				}
				if args, err = appendArgs(args, rj.After, pl.cols); err != nil {
					return nil, nil, rows, 0, w.rowError(t, rj, err)
				}
			}
			m := j - i
			n, rows[0] = int64(m), rows[0]+m
			k = stmtKey{p: pl, op: 'i', rows: m}
			build = func() string { return buildInsert(pl.q, pl.colRefs, m) }
			i = j
		case event.OpUpdate, event.OpDelete:
			pl, err := w.tgt.schema.plan(ctx, r.Before.Table)
			if err != nil {
				return nil, nil, rows, 0, err
			}
			if r.Op == event.OpUpdate {
				if pl.ids != nil && w.tgt.a.guard.check(r, pl, now) != nil {
					return nil, nil, rows, 0, errGuarded
				}
				k, build, args, err = updateStmt(pl, r, args)
				rows[1]++
			} else {
				k, build, args, err = deleteStmt(pl, r, args)
				rows[2]++
			}
			if err != nil {
				return nil, nil, rows, 0, w.rowError(t, r, err)
			}
			i++
		case event.OpHeartbeat:
			i++
			if r.After == nil {
				continue // a position marker
			}
			var region any
			region, hb, err = heartbeatArgs(t, r)
			if err != nil {
				return nil, nil, rows, 0, err
			}
			k, build, n = stmtKey{op: 'h'}, func() string { return heartbeatSQL }, -1
			args = append(args, region, hb)
		default:
			return nil, nil, rows, 0, permanent(fmt.Errorf("transaction %s: unexpected %s record in a row transaction", t.gtid, r.Op))
		}
		q = append(q, "; "...)
		q, err = interpolate(q, w.text(k, build), args)
		clear(args)
		w.args = args[:0]
		if err != nil {
			return nil, nil, rows, 0, err
		}
		want = append(want, n)
	}
	return q, want, rows, hb, nil
}

// text returns the SQL text of statement k, building it once.
func (w *worker) text(k stmtKey, build func() string) string {
	if s, ok := w.texts[k]; ok {
		return s
	}
	if len(w.texts) >= maxStmtCache {
		clear(w.texts)
	}
	s := build()
	w.texts[k] = s
	return s
}

// interpolate appends tmpl with each ? placeholder replaced by the literal
// of the next argument (event.Interpolate); a count mismatch is permanent.
func interpolate(dst []byte, tmpl string, args []any) ([]byte, error) {
	dst, err := event.Interpolate(dst, tmpl, args)
	if err != nil && !errors.Is(err, errNoLiteral) {
		return dst, permanent(err)
	}
	return dst, err
}
