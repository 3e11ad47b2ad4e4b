// Package drcmeta holds the facts about drc_meta tables that more than one
// role reads, so that each is written once. (The tables' DDL still lives
// with the role that owns each table.)
package drcmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Queryer is a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
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
