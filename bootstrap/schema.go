package bootstrap

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// discoverTables lists the source's base tables that match the patterns
// (all non-system tables when there are none), with their columns and
// primary keys, in db.table order.
func discoverTables(ctx context.Context, db *sql.DB, flavor string, patterns []string) ([]*Table, error) {
	pats, err := tablepattern.ParseList(patterns)
	if err != nil {
		return nil, err
	}
	all, err := infoschema.BaseTables(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	var tables []*Table
	for _, it := range all {
		if infoschema.IsSystem(it.DB) {
			continue
		}
		if len(pats) == 0 || pats.Match(it.DB, it.Name) {
			tables = append(tables, &Table{DB: it.DB, Name: it.Name, EstRows: it.Rows})
		}
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
	cols, err := infoschema.Columns(ctx, db, t.DB, t.Name)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	byName := map[string]int{}
	for _, ic := range cols {
		if ic.Generated {
			continue // computed by the target itself
		}
		c := Column{Name: ic.Name, DataType: ic.DataType, Kind: kindOf(ic.DataType, flavor),
			Charset: ic.Charset, Collation: ic.Collation, Precision: int(ic.Precision), Scale: int(ic.Scale)}
		if c.Kind != KindBytes {
			c.Charset, c.Collation = "", ""
		}
		byName[c.Name] = len(t.Columns)
		t.Columns = append(t.Columns, c)
	}
	keys, err := infoschema.UniqueKeys(ctx, db, t.DB, t.Name)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(keys) == 0 || !keys[0].Primary() {
		return fmt.Errorf("%s: %w", t, ErrNoPrimaryKey)
	}
	for _, name := range keys[0].Columns {
		i, ok := byName[name]
		if !ok {
			return fmt.Errorf("primary key of %s: column %s is generated; not supported", t, name)
		}
		t.PK = append(t.PK, i)
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
	err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+mysqlconn.QuoteIdent(dbName)+"."+mysqlconn.QuoteIdent(table)).Scan(&name, &create)
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
		switch {
		case err == nil:
			if normalizeCreate(have) != normalizeCreate(t.Create) {
				differ = append(differ, fmt.Sprintf("%s:\n  source: %s\n  target: %s", t,
					oneLine(normalizeCreate(t.Create)), oneLine(normalizeCreate(have))))
			}
		case mysqlerr.NoSuchTable(err):
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
			if err := src.QueryRowContext(ctx, "SHOW CREATE DATABASE IF NOT EXISTS "+mysqlconn.QuoteIdent(t.DB)).Scan(&name, &create); err != nil {
				return nil, fmt.Errorf("source: show create database %s: %w", t.DB, err)
			}
			if _, err := conn.ExecContext(ctx, create); err != nil {
				return nil, fmt.Errorf("target: create database %s: %w", t.DB, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "USE "+mysqlconn.QuoteIdent(t.DB)); err != nil {
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
