// Package infoschema holds what drc knows about reading
// information_schema on both flavors, where they spell the same thing
// differently: which tables there are, their columns with their types, and
// their primary and unique keys. Bootstrap and reconcile read tables
// through it, and the applier's schema cache reads its generated and JSON
// columns and its unique keys (for write-sets) here too; the triggers and
// foreign keys that only the applier asks about it reads itself.
//
// It lives under internal/ because no role owns it, and beside
// internal/mysqlconn rather than in it because it is about what a server
// holds, not how to reach it.
package infoschema

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Querier is what the readers need: *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// IsSystem reports whether a database holds the server's own tables or
// drc's bookkeeping (drc_meta): never copied or compared unless named
// exactly.
func IsSystem(db string) bool {
	switch db {
	case "mysql", "information_schema", "performance_schema", "sys", "drc_meta":
		return true
	}
	return false
}

// Table is a base table as information_schema.TABLES lists it.
type Table struct {
	DB, Name string
	// Rows is TABLE_ROWS, the engine's estimate (0 when it has none): for
	// progress displays, never for a decision.
	Rows int64
}

// BaseTables lists every base table of the server (system schemas
// included, see IsSystem), ordered by database and name. Views, sequences
// and system-versioned tables are not base tables.
func BaseTables(ctx context.Context, q Querier) ([]Table, error) {
	return tables(ctx, q, "")
}

// BaseTable describes one base table; ok is false when there is none by
// that name.
func BaseTable(ctx context.Context, q Querier, db, name string) (t Table, ok bool, err error) {
	ts, err := tables(ctx, q, " AND TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, name)
	if err != nil || len(ts) == 0 {
		return Table{}, false, err
	}
	return ts[0], true, nil
}

func tables(ctx context.Context, q Querier, where string, args ...any) ([]Table, error) {
	rows, err := q.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES "+
		"WHERE TABLE_TYPE = 'BASE TABLE'"+where+" ORDER BY TABLE_SCHEMA, TABLE_NAME", args...)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []Table
	for rows.Next() {
		var t Table
		if err := rows.Scan(&t.DB, &t.Name, &t.Rows); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return out, nil
}

// Column is one column as information_schema.COLUMNS describes it.
type Column struct {
	Name string
	// DataType is DATA_TYPE ("decimal") and ColumnType COLUMN_TYPE
	// ("decimal(10,2) unsigned"), both lower case.
	DataType, ColumnType string
	// Charset and Collation are set for text columns only.
	Charset, Collation string
	Nullable           bool
	// Generated: the server computes the value (IsGenerated).
	Generated bool
	// Precision and Scale are NUMERIC_PRECISION and NUMERIC_SCALE, 0 for
	// non-numeric types.
	Precision, Scale int64
}

// Columns reads a table's columns in ordinal order; none when there is no
// such table.
func Columns(ctx context.Context, q Querier, db, table string) ([]Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE),
		COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), IS_NULLABLE = 'YES',
		COALESCE(EXTRA, ''), COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var out []Column
	for rows.Next() {
		var c Column
		var extra string
		if err := rows.Scan(&c.Name, &c.DataType, &c.ColumnType, &c.Charset, &c.Collation, &c.Nullable, &extra, &c.Precision, &c.Scale); err != nil {
			return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
		}
		c.Generated = IsGenerated(extra)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read columns of %s.%s: %w", db, table, err)
	}
	return out, nil
}

// Key is a primary or unique key.
type Key struct {
	// Name is the index name; the primary key's is PRIMARY.
	Name string
	// Columns are the key's columns, in key order.
	Columns []string
	// Partial: some column is indexed by a prefix (SUB_PART), so the key
	// is not unique on the columns' full values.
	Partial bool
}

// Primary reports whether k is the primary key.
func (k Key) Primary() bool { return k.Name == "PRIMARY" }

// UniqueKeys reads a table's primary and unique keys: the primary key
// first when there is one, then the others by name.
func UniqueKeys(ctx context.Context, q Querier, db, table string) ([]Key, error) {
	rows, err := q.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME, SUB_PART IS NOT NULL
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
		ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`, db, table)
	if err != nil {
		return nil, fmt.Errorf("read keys of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var name, col string
		var partial bool
		if err := rows.Scan(&name, &col, &partial); err != nil {
			return nil, fmt.Errorf("read keys of %s.%s: %w", db, table, err)
		}
		if n := len(out); n == 0 || out[n-1].Name != name {
			out = append(out, Key{Name: name})
		}
		k := &out[len(out)-1]
		k.Columns = append(k.Columns, col)
		k.Partial = k.Partial || partial
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read keys of %s.%s: %w", db, table, err)
	}
	return out, nil
}

// IsGenerated reports whether information_schema.COLUMNS.EXTRA marks a
// generated column, whose value the server computes: MariaDB says VIRTUAL
// GENERATED, STORED GENERATED or PERSISTENT GENERATED (VIRTUAL, PERSISTENT
// or STORED in older releases), MySQL VIRTUAL GENERATED or STORED
// GENERATED. MySQL's DEFAULT_GENERATED is not one: it marks an expression
// default (DEFAULT CURRENT_TIMESTAMP, DEFAULT (UUID())), an ordinary stored
// value that replication must write.
func IsGenerated(extra string) bool {
	e := strings.ToUpper(extra)
	return strings.Contains(e, "VIRTUAL GENERATED") || strings.Contains(e, "STORED GENERATED") ||
		strings.Contains(e, "PERSISTENT GENERATED") || e == "VIRTUAL" || e == "PERSISTENT" || e == "STORED"
}
