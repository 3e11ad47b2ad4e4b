package status

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
)

// Server is a Source or a Target over a database handle. It only reads.
type Server struct {
	DB      *sql.DB
	Flavor  string // the server's flavor, mariadb or mysql: that of its own GTID position
	Cluster string
	// Role is the grants.Role the account is checked against:
	// grants.StatusSource or grants.StatusTarget.
	Role grants.Role
}

var (
	_ Source = (*Server)(nil)
	_ Target = (*Server)(nil)
)

// Privileges is grants.CheckRole for s.Role.
func (s *Server) Privileges(ctx context.Context) error {
	return grants.CheckRole(ctx, s.DB, "status", s.Role, grants.Options{})
}

// Position is replicator.ServerPosition as text.
func (s *Server) Position(ctx context.Context) (string, error) {
	pos, err := replicator.ServerPosition(ctx, s.DB, s.Flavor)
	if err != nil {
		return "", err
	}
	return pos.String(), nil
}

// Heartbeat reads region's row of drc_meta.heartbeat (unix microseconds
// of the source's clock).
func (s *Server) Heartbeat(ctx context.Context, region string) (time.Time, bool, error) {
	var ts int64
	err := s.DB.QueryRowContext(ctx, "SELECT ts FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&ts)
	switch {
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("read drc_meta.heartbeat of region %s: %w", region, err)
	}
	return time.UnixMicro(ts), true, nil
}

// BinlogExpiry is replicator.BinlogExpiry.
func (s *Server) BinlogExpiry(ctx context.Context) (time.Duration, error) {
	return replicator.BinlogExpiry(ctx, s.DB)
}

// CheckPurged is replicator.CheckPurged.
func (s *Server) CheckPurged(ctx context.Context, pos replicator.Position) error {
	return replicator.CheckPurged(ctx, s.DB, pos)
}

// Checkpoints is drcmeta.ReadCheckpoints of the cluster.
func (s *Server) Checkpoints(ctx context.Context) ([]drcmeta.Checkpoint, error) {
	return drcmeta.ReadCheckpoints(ctx, s.DB, s.Cluster)
}

// Conflicts reads drc_meta.conflicts: counts, and the newest row's time,
// table, kind and resolution, never its images. The window is measured on
// the server's clock, which wrote created_at.
func (s *Server) Conflicts(ctx context.Context, window time.Duration) (ConflictCount, error) {
	c := ConflictCount{WindowSeconds: window.Seconds()}
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(created_at >= NOW(6) - INTERVAL ? MICROSECOND), 0)
		FROM drc_meta.conflicts WHERE cluster = ?`, window.Microseconds(), s.Cluster).Scan(&c.Total, &c.Recent)
	switch {
	case mysqlerr.NoSuchTable(err):
		return c, nil
	case err != nil:
		return c, fmt.Errorf("count drc_meta.conflicts of %s: %w", s.Cluster, err)
	case c.Total == 0:
		return c, nil
	}
	var n Conflict
	var db, tbl, at string
	err = s.DB.QueryRowContext(ctx, `SELECT CAST(created_at AS CHAR), db, tbl, kind, resolution
		FROM drc_meta.conflicts WHERE cluster = ? ORDER BY created_at DESC, id DESC LIMIT 1`, s.Cluster).Scan(&at, &db, &tbl, &n.Kind, &n.Resolution)
	if err != nil {
		return c, fmt.Errorf("read the newest drc_meta.conflicts row of %s: %w", s.Cluster, err)
	}
	n.Table = db + "." + tbl
	// Read as text, in UTC like every drc session (mysqlconn).
	if t, err := time.Parse("2006-01-02 15:04:05.999999", at); err == nil {
		n.At = t
	}
	c.Newest = &n
	return c, nil
}

// LastError is drcmeta.ReadStop of the cluster's applier.
func (s *Server) LastError(ctx context.Context) (*StopError, error) {
	return drcmeta.ReadStop(ctx, s.DB, s.Cluster, "applier")
}
