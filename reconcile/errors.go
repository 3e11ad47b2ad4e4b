package reconcile

import (
	"errors"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Errors of this package, matched with errors.Is. The wrapping error names
// the table, cluster or setting involved.
var (
	// ErrNoCheckpoint: settling is on, but the target has no
	// drc_meta.apply_checkpoint row for the cluster, so there is no way to
	// tell replication lag from drift. Start the applier, or turn settling
	// off if nothing replicates into the target.
	ErrNoCheckpoint = errors.New("no applier checkpoint for the cluster on the target")
	// ErrRepairNotMarked: repair needs SET SESSION sql_log_bin=0 on the
	// target so that repairs are not replicated anywhere; the account lacks
	// the privilege (SUPER, or BINLOG ADMIN on MariaDB 10.5+ / MySQL 8).
	ErrRepairNotMarked = errors.New("cannot keep repairs out of the target's binlog")
	// ErrNoTables: no table matched the patterns.
	ErrNoTables = errors.New("no table matches")
	// ErrRowTooLarge: one row's encoding exceeds group_concat_max_len
	// (= max_allowed_packet), so it cannot be hashed in the database.
	ErrRowTooLarge = errors.New("row too large to hash: raise max_allowed_packet")
)

// MySQL error numbers reconcile reacts to.
const (
	erLockWaitTimeout = 1205
	erLockDeadlock    = 1213
	erAccessDenied    = 1227 // ER_SPECIFIC_ACCESS_DENIED_ERROR
	erNoSuchTable     = 1146
	// A function the server lacks is looked up as a stored function: 1305
	// ER_SP_DOES_NOT_EXIST, or 1046 ER_NO_DB_ERROR with no database
	// selected (MD5() on MySQL 9).
	erNoSuchFunction = 1305
	erNoDatabase     = 1046
)

// isLockConflict reports whether a locking read lost to a writer (timeout or
// deadlock): the confirmation is retried, not failed.
func isLockConflict(err error) bool {
	n := mysqlerr.Number(err)
	return n == erLockWaitTimeout || n == erLockDeadlock
}
