package replicator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// PreflightError names a source setting or privilege that stops the
// replicator from starting.
type PreflightError struct {
	Setting string // e.g. binlog_row_metadata, or "privilege REPLICATION SLAVE"
	Problem string
}

func (e *PreflightError) Error() string {
	return fmt.Sprintf("source preflight: %s: %s", e.Setting, e.Problem)
}

// Preflight checks that the source can be replicated: row-based binlog with
// full images and full metadata, GTIDs, and the privileges the replicator
// uses. It returns every problem found, joined.
func Preflight(ctx context.Context, db *sql.DB, flavor string) error {
	var errs []error
	want := map[string]string{
		"log_bin":             "1",
		"binlog_format":       "ROW",
		"binlog_row_image":    "FULL",
		"binlog_row_metadata": "FULL",
	}
	for _, g := range mysqlconn.Flavor(flavor).GTIDSettings() {
		want[g.Name] = g.Value
	}
	for _, name := range []string{"log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata", "gtid_mode", "enforce_gtid_consistency", "gtid_strict_mode"} {
		w, ok := want[name]
		if !ok {
			continue
		}
		var got sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&got); err != nil {
			errs = append(errs, &PreflightError{name, fmt.Sprintf("cannot read it (%v); drc needs MariaDB 10.5+ or MySQL 8.0+", err)})
			continue
		}
		v := strings.ToUpper(got.String)
		if v == "ON" && w == "1" {
			v = "1"
		}
		if v != w {
			errs = append(errs, &PreflightError{name, fmt.Sprintf("must be %s, is %q; set %s=%s in the server config and restart", w, got.String, name, w)})
		}
	}

	if flavor == "mysql" {
		// JSON partial updates put only the change in the after image.
		var opts sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_row_value_options").Scan(&opts); err != nil {
			errs = append(errs, &PreflightError{"binlog_row_value_options", fmt.Sprintf("cannot read it (%v)", err)})
		} else if strings.Contains(strings.ToUpper(opts.String), "PARTIAL_JSON") {
			errs = append(errs, &PreflightError{"binlog_row_value_options", fmt.Sprintf("must be empty, is %q: drc publishes whole rows and cannot apply a JSON partial update; set binlog_row_value_options='' in the server config", opts.String)})
		}
	}

	need, err := grants.Need(grants.Replicator, flavor, grants.Options{})
	if err == nil {
		err = grants.Check(ctx, db, "the replicator's account on the source", need)
	}
	if err != nil {
		errs = append(errs, &PreflightError{"privileges", err.Error()})
	}
	// drc_meta holds the heartbeat (and the skips an operator orders).
	if err := drcmeta.Ensure(ctx, db); err != nil {
		setting := "privilege CREATE, INSERT, UPDATE (ALTER to upgrade it) on drc_meta"
		if errors.Is(err, drcmeta.ErrNewerSchema) {
			setting = "drc_meta schema version"
		}
		errs = append(errs, &PreflightError{setting, err.Error()})
	} else if err := checkHeartbeatWrite(ctx, db); err != nil {
		errs = append(errs, &PreflightError{"privilege INSERT, UPDATE on drc_meta", err.Error()})
	}
	return errors.Join(errs...)
}

// checkHeartbeatWrite proves the replicator may write its heartbeat with
// statements that change no row (the server checks the privilege all the
// same, and logs nothing): a drc_meta that exists already is not created,
// so creating it proves nothing. A read-only server (a fenced primary, a
// standby) is not an error here: the heartbeat writes retry.
func checkHeartbeatWrite(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{
		"UPDATE drc_meta.heartbeat SET ts = ts WHERE FALSE",
		"INSERT INTO drc_meta.heartbeat (region, ts) SELECT '', 0 FROM DUAL WHERE FALSE",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil && mysqlerr.Denied(err) {
			return fmt.Errorf("the replicator's user may not write drc_meta.heartbeat (%w); GRANT INSERT, UPDATE ON drc_meta.* TO the user", err)
		}
	}
	return nil
}
