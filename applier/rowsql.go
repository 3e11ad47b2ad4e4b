package applier

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/drc-dev/drc/replicator/event"
)

// RowStatements builds the statement that applies one row record to a
// target exactly as the applier does: an INSERT of the after image; an
// UPDATE of the changed columns where the key and the whole before image
// match; a DELETE where they match. Generated columns are left out and
// values are bound as the target's columns take them. A statement that
// changes no row, or an INSERT that meets a duplicate key, means the
// target differs from the record's before image. drc failback undoes
// transactions with it. The connection that runs the statements must run
// event.SessionSQL first.
type RowStatements struct {
	schema *schemaCache
}

// NewRowStatements reads the target's tables through db as statements
// need them. With stopOnTriggers, a table with triggers is an error
// (ErrTriggers), as in the applier: row changes read from a binlog already
// carry the triggers' effects.
func NewRowStatements(db *sql.DB, stopOnTriggers bool) *RowStatements {
	return &RowStatements{schema: newSchemaCache(db, stopOnTriggers)}
}

// Statement returns the statement for rec, a row record (insert, update
// or delete), and its arguments.
func (r *RowStatements) Statement(ctx context.Context, rec *event.Record) (string, []any, error) {
	img := rec.After
	if img == nil {
		img = rec.Before
	}
	if !rec.Op.IsRow() || img == nil || img.Table == nil {
		return "", nil, fmt.Errorf("%s record of %s: not a row change", rec.Op, qualify(rec.DB, rec.Table))
	}
	pl, err := r.schema.plan(ctx, img.Table)
	if err != nil {
		return "", nil, fmt.Errorf("read the target's %s: %w", qualify(rec.DB, rec.Table), err)
	}
	switch rec.Op {
	case event.OpInsert:
		args, err := appendArgs(nil, rec.After, pl.cols)
		return buildInsert(pl.q, pl.colRefs, 1), args, err
	case event.OpUpdate:
		_, build, args, err := updateStmt(pl, rec, nil)
		if err != nil {
			return "", nil, err
		}
		return build(), args, nil
	}
	_, build, args, err := deleteStmt(pl, rec, nil)
	if err != nil {
		return "", nil, err
	}
	return build(), args, nil
}
