package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/drc-dev/drc/internal/grants"
)

// ErrPrivilege: an account lacks a privilege reconcile needs
// (grants.ReconcileSource, grants.ReconcileTarget).
var ErrPrivilege = errors.New("missing privilege")

// checkPrivileges names, before any table is read, what either account
// lacks: SELECT on both sides, the target's drc_meta (reconcile's
// progress) and, with repair, writing rows on the target with the binlog
// off.
func checkPrivileges(ctx context.Context, src, tgt *sql.DB, repair bool) error {
	for _, side := range []struct {
		db   *sql.DB
		who  string
		role grants.Role
	}{{src, "reconcile: source", grants.ReconcileSource}, {tgt, "reconcile: target", grants.ReconcileTarget}} {
		err := grants.CheckRole(ctx, side.db, side.who, side.role, grants.Options{Repair: repair})
		if _, ok := errors.AsType[*grants.MissingError](err); ok {
			return fmt.Errorf("%w: %w", ErrPrivilege, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
