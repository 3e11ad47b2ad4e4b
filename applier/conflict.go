package applier

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/drc-dev/drc/replicator/event"
)

// The kinds of conflict: the target has diverged from the source.
const (
	kindDuplicateKey   = "duplicate_key"   // insert (or update) hits an existing key
	kindMissingRow     = "missing_row"     // update or delete finds no row
	kindBeforeMismatch = "before_mismatch" // the row exists but differs from the before image
	kindForeignID      = "foreign_id"      // an ID column holds another region's ID, or no drc ID
)

// The resolutions written to drc_meta.conflicts.
const (
	resolvedSource = "source_applied"
	resolvedTarget = "target_kept"
	resolvedStop   = "stopped"
)

// classify tells a missing row from a different one after an UPDATE or
// DELETE matched nothing. A table without a primary key cannot tell them
// apart: its row is missing.
func (w *worker) classify(ctx context.Context, pl *plan, before *event.Row) string {
	if pl.nKey == 0 {
		return kindMissingRow
	}
	row, _, err := w.targetRow(ctx, pl, before, false)
	if err == nil && row == nil {
		return kindMissingRow
	}
	return kindBeforeMismatch
}

// conflict resolves one conflict by the table's policy and records it in
// drc_meta.conflicts, in the same transaction as the resolution.
func (w *worker) conflict(ctx context.Context, t *txn, pl *plan, r *event.Record, kind string) error {
	pol := w.tgt.a.policies.Conflict(r.DB, r.Table)
	// The image that names the target row the conflict is about: the after
	// image for a duplicate key (under the primary key or any unique key),
	// the before image for a missing or different row.
	img, byUnique := r.Before, false
	if kind == kindDuplicateKey || r.Op == event.OpInsert {
		img, byUnique = r.After, true
	}
	target, keyIdx, err := w.targetRow(ctx, pl, img, byUnique)
	if err != nil {
		return err
	}
	sourceWins := false
	switch pol.Action {
	case SourceWins:
		sourceWins = true
	case RegionPriority:
		sourceWins = pol.sourceWinsByRegion(r.Origin, w.tgt.cfg.Region)
	case Auto:
		twoWay, err := w.tgt.a.pair.twoWay(ctx, w.conn)
		if err != nil {
			return err
		}
		// One-way: the source is where the write was accepted. Two-way:
		// both sides must pick the same row; the region name decides.
		sourceWins = !twoWay || pol.sourceWinsByRegion(r.Origin, w.tgt.cfg.Region)
	case NewerWins:
		if sourceWins, err = w.newer(ctx, t, pl, r, pol.Column, keyIdx, target != nil); err != nil {
			return err
		}
	case Stop:
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			return classifyApply(err)
		}
		if err := w.recordConflict(ctx, t, pl, r, kind, target, resolvedStop, nil); err != nil {
			return err
		}
		return permanent(fmt.Errorf("%w: %s on %s in transaction %s (%s partition %d, %s starts at offset %d): %s",
			ErrConflict, r.Op, pl.q, r.GTID, w.tgt.topic, w.tgt.part, t.label(), t.first, kind))
	}
	resolution := resolvedTarget
	if sourceWins {
		resolution = resolvedSource
		if err := w.applySource(ctx, t, pl, r, kind); err != nil {
			return err
		}
	}
	if err := w.recordConflict(ctx, t, pl, r, kind, target, resolution, nil); err != nil {
		return err
	}
	return nil
}

// guardRow checks r's ID columns (see idGuard). A failure is a foreign_id
// conflict: under stop the transaction is rolled back, the conflict
// recorded and the applier stopped; under record the conflict is recorded
// in the transaction and the row applied as usual.
func (w *worker) guardRow(ctx context.Context, t *txn, pl *plan, r *event.Record) error {
	g := w.tgt.a.guard
	f := g.check(r, pl, time.Now())
	if f == nil {
		return nil
	}
	if w.tgt.a.policies.ForeignID(r.DB, r.Table) == ForeignIDRecord {
		return w.recordConflict(ctx, t, pl, r, kindForeignID, nil, resolvedSource, f.detail)
	}
	if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return classifyApply(err)
	}
	if err := w.recordConflict(ctx, t, pl, r, kindForeignID, nil, resolvedStop, f.detail); err != nil {
		return err
	}
	return permanent(fmt.Errorf("%w: foreign_id: %s on %s in transaction %s (%s partition %d, %s starts at offset %d): %s. "+
		"The row is recorded in drc_meta.conflicts; fix the writer, then set applier.foreign_id (or the table's) to record to apply such rows",
		ErrConflict, r.Op, pl.q, r.GTID, w.tgt.topic, w.tgt.part, t.label(), t.first, g.describe(r, f)))
}

// applySource makes the target hold the source's result for the row.
func (w *worker) applySource(ctx context.Context, t *txn, pl *plan, r *event.Record, kind string) error {
	switch {
	case r.Op == event.OpInsert:
		if err := w.deleteConflicting(ctx, pl, r.After); err != nil {
			return w.rowError(t, r, err)
		}
		return w.insertPlain(ctx, t, pl, r.After)
	case r.Op == event.OpDelete:
		if kind == kindMissingRow || pl.nKey == 0 {
			return nil // the row is gone either way
		}
		if _, err := w.execKey(ctx, buildDeleteByKey(pl.q, pl.keyRef), nil, r.Before, pl.tbl.PKIndex); err != nil {
			return w.rowError(t, r, err)
		}
		return nil
	case kind == kindMissingRow:
		if err := w.deleteConflicting(ctx, pl, r.After); err != nil {
			return w.rowError(t, r, err)
		}
		return w.insertPlain(ctx, t, pl, r.After)
	default: // update: before_mismatch or duplicate_key
		if _, err := w.execKey(ctx, buildDeleteByKey(pl.q, pl.keyRef), nil, r.Before, pl.tbl.PKIndex); err != nil {
			return w.rowError(t, r, err)
		}
		if err := w.deleteConflicting(ctx, pl, r.After); err != nil {
			return w.rowError(t, r, err)
		}
		return w.insertPlain(ctx, t, pl, r.After)
	}
}

// insertPlain inserts img with no conflict handling.
func (w *worker) insertPlain(ctx context.Context, t *txn, pl *plan, img *event.Row) error {
	args, err := appendArgs(nil, img, pl.cols)
	if err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, buildInsert(pl.q, pl.colRefs, 1), args...); err != nil {
		return classifyApply(fmt.Errorf("transaction %s: resolve conflict on %s: %w", t.gtid, pl.q, err))
	}
	return nil
}

// deleteConflicting deletes the target rows that hold img's primary key or
// any of its unique keys, so that img can be inserted.
func (w *worker) deleteConflicting(ctx context.Context, pl *plan, img *event.Row) error {
	if pl.nKey > 0 {
		if _, err := w.execKey(ctx, buildDeleteByKey(pl.q, pl.keyRef), nil, img, pl.tbl.PKIndex); err != nil {
			return err
		}
	}
	for u, idx := range pl.uniques {
		if hasNull(img, idx) {
			continue
		}
		if _, err := w.execKey(ctx, buildDeleteByKey(pl.q, pl.uniqueRef[u]), nil, img, idx); err != nil {
			return err
		}
	}
	return nil
}

func hasNull(img *event.Row, idx []int) bool {
	for _, i := range idx {
		if v := img.Values[i]; v == nil || string(v) == "null" {
			return true
		}
	}
	return false
}

// execKey runs q with pre followed by img's values of columns idx.
func (w *worker) execKey(ctx context.Context, q string, pre []any, img *event.Row, idx []int) (sql.Result, error) {
	args, err := appendArgs(pre, img, idx)
	if err != nil {
		return nil, err
	}
	return w.conn.ExecContext(ctx, q, args...)
}

// targetRow reads the target's row under img's primary key, or, when
// byUnique is set and there is none, under each unique key in turn. It
// returns the row as a JSON object (nil when there is none) and the key
// columns that found it.
func (w *worker) targetRow(ctx context.Context, pl *plan, img *event.Row, byUnique bool) (json.RawMessage, []int, error) {
	type key struct {
		idx  []int
		refs []*event.Column
	}
	var keys []key
	if pl.nKey > 0 {
		keys = append(keys, key{pl.tbl.PKIndex, pl.keyRef})
	}
	if byUnique || pl.nKey == 0 {
		for u := range pl.uniques {
			keys = append(keys, key{pl.uniques[u], pl.uniqueRef[u]})
		}
	}
	for _, k := range keys {
		if hasNull(img, k.idx) {
			continue
		}
		args, err := appendArgs(nil, img, k.idx)
		if err != nil {
			return nil, nil, err
		}
		rows, err := w.conn.QueryContext(ctx, buildSelectByKey(pl.q, k.refs)+" LIMIT 1", args...)
		if err != nil {
			return nil, nil, classifyApply(fmt.Errorf("read target row of %s: %w", pl.q, err))
		}
		row, err := rowJSON(rows)
		if err != nil {
			return nil, nil, classifyApply(fmt.Errorf("read target row of %s: %w", pl.q, err))
		}
		if row != nil {
			return row, k.idx, nil
		}
	}
	return nil, nil, nil
}

// rowJSON reads the first row of rows as a JSON object keyed by column
// name: text as a string, binary values that are not UTF-8 as
// "base64:...", NULL as null. It closes rows.
func rowJSON(rows *sql.Rows) (json.RawMessage, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	vals := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(c)
		b.Write(name)
		b.WriteByte(':')
		switch v := vals[i]; {
		case v == nil:
			b.WriteString("null")
		case jsonNumberType(types[i].DatabaseTypeName()) && json.Valid(v):
			// As in the source images (event format v1): integers that
			// fit and floats are numbers; DECIMAL and BIGINT UNSIGNED stay
			// strings.
			b.Write(v)
		case utf8.Valid(v):
			s, _ := json.Marshal(string(v))
			b.Write(s)
		default:
			s, _ := json.Marshal("base64:" + base64.StdEncoding.EncodeToString(v))
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return json.RawMessage(b.String()), nil
}

// jsonNumberType reports whether a column of this driver type name is a
// JSON number in event format v1.
func jsonNumberType(name string) bool {
	switch name {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR", "FLOAT", "DOUBLE",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
		return true
	}
	return false
}

// imageJSON renders a row image as a JSON object in event format v1's
// value mapping, or nil.
func imageJSON(img *event.Row) any {
	if img == nil {
		return nil
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for i, v := range img.Values {
		if v == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(img.Table.Columns[i].Name)
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// keyJSON renders the primary-key values of img as a JSON array, or nil
// for a table without one.
func keyJSON(img *event.Row) any {
	if img == nil || len(img.Table.PKIndex) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteByte('[')
	for k, i := range img.Table.PKIndex {
		if k > 0 {
			b.WriteByte(',')
		}
		if v := img.Values[i]; v != nil {
			b.Write(v)
		} else {
			b.WriteString("null")
		}
	}
	b.WriteByte(']')
	return b.String()
}

// recordConflict writes one row of drc_meta.conflicts and counts it.
// detail is the detail column's JSON, or nil.
func (w *worker) recordConflict(ctx context.Context, t *txn, pl *plan, r *event.Record, kind string, target json.RawMessage, resolution string, detail any) error {
	keyImg := r.After
	if r.Op == event.OpDelete {
		keyImg = r.Before
	}
	var tgt any
	if target != nil {
		tgt = string(target)
	}
	_, err := w.conn.ExecContext(ctx, `INSERT INTO drc_meta.conflicts
		(cluster, gtid, db, tbl, op, kind, pk, source_before, source_after, target_row, resolution, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.tgt.cfg.Cluster, r.GTID, r.DB, r.Table, string(r.Op), kind, keyJSON(keyImg),
		imageJSON(r.Before), imageJSON(r.After), tgt, resolution, detail)
	if err != nil {
		return classifyApply(fmt.Errorf("transaction %s: record conflict on %s: %w", r.GTID, pl.q, err))
	}
	w.tgt.m.conflicts.WithLabelValues(r.DB+"."+r.Table, kind, resolution).Inc()
	// offset is the first record of the transaction: where --skip-offset
	// and a reader of the topic find it.
	w.tgt.log.Warn("conflict", "gtid", r.GTID, "topic", w.tgt.topic, "partition", w.tgt.part, "offset", t.first,
		"table", r.DB+"."+r.Table, "op", r.Op, "kind", kind, "resolution", resolution)
	return nil
}

// newer decides newer-wins: whether the source's value of column is
// greater than the target row's. Without a target row the source wins. On
// a tie the region whose name sorts first wins, so that both regions of a
// two-way pair keep the same row.
func (w *worker) newer(ctx context.Context, t *txn, pl *plan, r *event.Record, column string, keyIdx []int, found bool) (bool, error) {
	if !found {
		return true, nil
	}
	src := r.After
	if r.Op == event.OpDelete {
		src = r.Before
	}
	ci := pl.tbl.ColumnIndex(column)
	if ci < 0 {
		return false, permanent(fmt.Errorf("conflict policy newer-wins:%s on %s: the table has no column %q", column, pl.q, column))
	}
	refs := make([]*event.Column, len(keyIdx))
	for k, i := range keyIdx {
		refs[k] = &pl.bound[i]
	}
	v, err := src.Arg(ci)
	if err != nil {
		return false, permanent(err)
	}
	args, err := appendArgs([]any{v, v, v}, src, keyIdx)
	if err != nil {
		return false, err
	}
	var verdict int
	err = w.conn.QueryRowContext(ctx, buildNewer(pl.q, &pl.bound[ci], refs), args...).Scan(&verdict)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, classifyApply(fmt.Errorf("transaction %s: newer-wins on %s: %w", r.GTID, pl.q, err))
	}
	switch verdict {
	case 1:
		return true, nil
	case 2:
		return t.origin < w.tgt.cfg.Region, nil
	}
	return false, nil
}
