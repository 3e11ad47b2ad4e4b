package drcmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Queryer is a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// RunsReplicator reports whether region has run a replicator of its own
// against the server q reads: its drc_meta.heartbeat has a row of region
// (the replicator writes it, and it is never deleted). An applier whose
// target region does is one half of a two-way pair. A server without the
// table has none.
func RunsReplicator(ctx context.Context, q Queryer, region string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return false, nil
	}
	return false, fmt.Errorf("read drc_meta.heartbeat of region %s: %w", region, err)
}

// AddTable adds db.table (db alone when table is empty) to tables, once;
// the tables of a skipped transaction, as both roles collect them.
func AddTable(tables []string, db, table string) []string {
	if db == "" {
		return tables
	}
	name := db
	if table != "" {
		name += "." + table
	}
	if slices.Contains(tables, name) {
		return tables
	}
	return append(tables, name)
}

// Skip is one row of drc_meta.skipped.
type Skip struct {
	Cluster, Role, GTID string
	Partition           *int32 // applier only
	Offsets             string // applier only: "first-last"
	Tables              []string
	Reason              string
}

// Execer is a *sql.DB, *sql.Conn or *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// RecordSkip adds s to drc_meta.skipped. The role ran Ensure on db's
// server when it started (the replicator in its preflight, the applier in
// each session), so the table is there.
func RecordSkip(ctx context.Context, db Execer, s Skip) error {
	var part any
	if s.Partition != nil {
		part = *s.Partition
	}
	var offsets any
	if s.Offsets != "" {
		offsets = s.Offsets
	}
	_, err := db.ExecContext(ctx, `INSERT INTO drc_meta.skipped (cluster, role, gtid, kafka_partition, kafka_offsets, tables, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.Cluster, s.Role, s.GTID, part, offsets, strings.Join(s.Tables, ","), s.Reason)
	if err != nil {
		return fmt.Errorf("record the skip of %s in drc_meta.skipped: %w", s.GTID, err)
	}
	return nil
}

// RepairHint is the command that repairs what a skip left out, for the
// operator: reconcile of the tables it touched (every table when unknown).
func RepairHint(tables []string) string {
	if len(tables) == 0 {
		return "drc reconcile --config <file> --repair"
	}
	return "drc reconcile --config <file> --tables " + strings.Join(tables, ",") + " --repair"
}
