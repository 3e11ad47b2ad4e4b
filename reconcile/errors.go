package reconcile

import (
	"errors"
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
