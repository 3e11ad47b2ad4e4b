package drcmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// StopError is one row of drc_meta.stop_errors: the permanent error a role
// of a cluster last stopped on.
type StopError struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
}

// stopErrorMax bounds the text kept: enough for any error drc builds.
const stopErrorMax = 1000

// RecordStop writes text as the error role last stopped on for cluster,
// replacing the previous one. text must be what the role logs (no row
// values; SQL through replicator.RedactSQL); it is cut to 1000 characters.
func RecordStop(ctx context.Context, e Execer, cluster, role, text string) error {
	if r := []rune(text); len(r) > stopErrorMax {
		text = string(r[:stopErrorMax])
	}
	_, err := e.ExecContext(ctx, `INSERT INTO drc_meta.stop_errors (cluster, role, error) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE error = VALUES(error), stopped_at = CURRENT_TIMESTAMP(6)`, cluster, role, text)
	if err != nil {
		return fmt.Errorf("record the stop error of the %s of %s in drc_meta.stop_errors: %w", role, cluster, err)
	}
	return nil
}

// ReadStop returns the error role of cluster last stopped on, or nil when
// it never recorded one (or the server has no drc_meta.stop_errors).
func ReadStop(ctx context.Context, q Queryer, cluster, role string) (*StopError, error) {
	var s StopError
	var at string
	err := q.QueryRowContext(ctx, `SELECT error, CAST(stopped_at AS CHAR) FROM drc_meta.stop_errors WHERE cluster = ? AND role = ?`,
		cluster, role).Scan(&s.Error, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read drc_meta.stop_errors of the %s of %s: %w", role, cluster, err)
	}
	// Read as text like the checkpoint's updated_at: drc sessions run in UTC.
	if t, err := time.Parse("2006-01-02 15:04:05.999999", at); err == nil {
		s.At = t
	}
	return &s, nil
}
