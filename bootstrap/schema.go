package bootstrap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// systemSchemas are never copied.
var systemSchemas = []string{"mysql", "information_schema", "performance_schema", "sys", "drc_meta"}

const (
	erNoSuchTable = 1146
	erBadDB       = 1049
)

// discoverTables lists the source's base tables that match the patterns
// (all non-system tables when there are none), with their columns and
// primary keys, in db.table order.
func discoverTables(ctx context.Context, db *sql.DB, flavor string, patterns []string) ([]*Table, error) {
	pats, err := tablepattern.ParseList(patterns)
	if err != nil {
		return nil, err
	}
	q := "SELECT TABLE_SCHEMA, TABLE_NAME, COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES " +
		"WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('" + strings.Join(systemSchemas, "','") + "') " +
		"ORDER BY TABLE_SCHEMA, TABLE_NAME"
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list source tables: %w", err)
	}
	var tables []*Table
	for rows.Next() {
		t := &Table{}
		if err := rows.Scan(&t.DB, &t.Name, &t.EstRows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list source tables: %w", err)
		}
		if len(pats) == 0 || pats.Match(t.DB, t.Name) {
			tables = append(tables, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list source tables: %w", err)
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("%w %v on the source", ErrNoTables, patterns)
	}
	var noPK []string
	for _, t := range tables {
		if err := describe(ctx, db, flavor, t); err != nil {
			if errors.Is(err, ErrNoPrimaryKey) {
				noPK = append(noPK, t.String())
				continue
			}
			return nil, err
		}
	}
	if len(noPK) > 0 {
		return nil, fmt.Errorf("%w: %s (the copy is chunked by primary key; add one, or leave the tables out of --tables)",
			ErrNoPrimaryKey, strings.Join(noPK, ", "))
	}
	return tables, nil
}

// describe fills t's columns, primary key and CREATE TABLE text.
func describe(ctx context.Context, db *sql.DB, flavor string, t *Table) error {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''),
		COALESCE(COLLATION_NAME, ''), COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), EXTRA
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, t.DB, t.Name)
	if err != nil {
		return fmt.Errorf("columns of %s: %w", t, err)
	}
	byName := map[string]int{}
	for rows.Next() {
		var c Column
		var extra string
		if err := rows.Scan(&c.Name, &c.DataType, &c.Charset, &c.Collation, &c.Precision, &c.Scale, &extra); err != nil {
			rows.Close()
			return fmt.Errorf("columns of %s: %w", t, err)
		}
		if infoschema.IsGenerated(extra) {
			continue // computed by the target itself
		}
		c.DataType = strings.ToLower(c.DataType)
		c.Kind = kindOf(c.DataType, flavor)
		if c.Kind != KindBytes {
			c.Charset, c.Collation = "", ""
		}
		byName[c.Name] = len(t.Columns)
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("columns of %s: %w", t, err)
	}

	rows, err = db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, t.DB, t.Name)
	if err != nil {
		return fmt.Errorf("primary key of %s: %w", t, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("primary key of %s: %w", t, err)
		}
		i, ok := byName[name]
		if !ok {
			rows.Close()
			return fmt.Errorf("primary key of %s: column %s is generated; not supported", t, name)
		}
		t.PK = append(t.PK, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("primary key of %s: %w", t, err)
	}
	if len(t.PK) == 0 {
		return fmt.Errorf("%s: %w", t, ErrNoPrimaryKey)
	}
	for _, p := range t.PK {
		switch t.Columns[p].DataType {
		case "enum", "set":
			// ORDER BY sorts these by index, comparisons by text.
			return fmt.Errorf("primary key of %s: column %s is %s, which cannot be chunked", t, t.Columns[p].Name, t.Columns[p].DataType)
		}
	}
	t.Create, err = showCreateTable(ctx, db, t.DB, t.Name)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func showCreateTable(ctx context.Context, db queryRower, dbName, table string) (string, error) {
	var name, create string
	err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+QuoteIdent(dbName)+"."+QuoteIdent(table)).Scan(&name, &create)
	if err != nil {
		return "", fmt.Errorf("show create table %s.%s: %w", dbName, table, err)
	}
	return create, nil
}

var autoIncrementRE = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// normalizeCreate drops what differs between equal definitions: the
// AUTO_INCREMENT counter.
func normalizeCreate(s string) string {
	return autoIncrementRE.ReplaceAllString(s, "")
}

// prepareTarget creates the databases and tables missing on the target, in
// a session that is kept out of the binlog. A table that exists with a
// different definition stops the bootstrap (ErrTableDiffers naming every
// such table); it is never dropped or altered. created lists the tables
// created now.
func prepareTarget(ctx context.Context, src *sql.DB, conn *sql.Conn, tables []*Table) (created []string, err error) {
	var differ []string
	var missing []*Table
	for _, t := range tables {
		have, err := showCreateTable(ctx, conn, t.DB, t.Name)
		switch n := mysqlerr.Number(err); {
		case err == nil:
			if normalizeCreate(have) != normalizeCreate(t.Create) {
				differ = append(differ, fmt.Sprintf("%s:\n  source: %s\n  target: %s", t,
					oneLine(normalizeCreate(t.Create)), oneLine(normalizeCreate(have))))
			}
		case n == erNoSuchTable || n == erBadDB:
			missing = append(missing, t)
		default:
			return nil, fmt.Errorf("target: %w", err)
		}
	}
	if len(differ) > 0 {
		return nil, fmt.Errorf("%w (bootstrap never drops or alters a table: drop or rename it on the target, or leave it out of --tables):\n%s",
			ErrTableDiffers, strings.Join(differ, "\n"))
	}
	dbs := map[string]bool{}
	for _, t := range missing {
		if !dbs[t.DB] {
			dbs[t.DB] = true
			var name, create string
			if err := src.QueryRowContext(ctx, "SHOW CREATE DATABASE IF NOT EXISTS "+QuoteIdent(t.DB)).Scan(&name, &create); err != nil {
				return nil, fmt.Errorf("source: show create database %s: %w", t.DB, err)
			}
			if _, err := conn.ExecContext(ctx, create); err != nil {
				return nil, fmt.Errorf("target: create database %s: %w", t.DB, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "USE "+QuoteIdent(t.DB)); err != nil {
			return nil, fmt.Errorf("target: use %s: %w", t.DB, err)
		}
		if _, err := conn.ExecContext(ctx, t.Create); err != nil {
			return nil, fmt.Errorf("target: create table %s: %w", t, err)
		}
		created = append(created, t.String())
	}
	return created, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
