package bootstrap

import (
	"errors"
)

// Errors of this package, matched with errors.Is. The wrapping error names
// the table, setting or position involved.
var (
	// ErrTableDiffers: a table already exists on the target with another
	// definition than the source's. Bootstrap never drops or alters it; drop
	// or rename it on the target yourself, or leave the table out of
	// --tables.
	ErrTableDiffers = errors.New("target table exists with a different definition")
	// ErrTargetNotEmpty: a target table has rows that bootstrap did not copy
	// (no chunk of it is recorded), so copying into it would mix data.
	ErrTargetNotEmpty = errors.New("target table has rows bootstrap did not copy")
	// ErrNoPrimaryKey: the copy is chunked by primary key.
	ErrNoPrimaryKey = errors.New("table has no primary key")
	// ErrCheckpointExists: the target already has an applier checkpoint for
	// the cluster that bootstrap did not write; bootstrapping would move the
	// applier's position.
	ErrCheckpointExists = errors.New("target already has an applier checkpoint for the cluster")
	// ErrNoBinlogPrivilege: SET SESSION sql_log_bin=0 was refused on the
	// target (needs SUPER, or BINLOG ADMIN on MariaDB 10.5+ / MySQL 8).
	// Without it the copy would be written to the target's binlog and
	// replicated back by the target region's own replicator.
	ErrNoBinlogPrivilege = errors.New("cannot keep the copy out of the target's binlog (SET sql_log_bin=0 refused)")
	// ErrSourcePrivilege: the source account lacks a privilege the copy
	// needs (grants.BootstrapSource: SELECT, and BACKUP_ADMIN on MySQL for
	// LOCK INSTANCE FOR BACKUP).
	ErrSourcePrivilege = errors.New("the source account lacks a privilege the copy needs")
	// ErrTargetPrivilege: the target account lacks a privilege the copy
	// needs (grants.BootstrapTarget).
	ErrTargetPrivilege = errors.New("the target account lacks a privilege the copy needs")
	// ErrNoBinlog: the source has no binlog (or no GTIDs), so there is no
	// position to hand over.
	ErrNoBinlog = errors.New("source has no binlog position for the snapshot")
	// ErrSnapshotRace (MySQL): commits kept moving gtid_executed while the
	// snapshot was taken; retry when the source is less busy.
	ErrSnapshotRace = errors.New("could not take a snapshot at a stable GTID position")
	// ErrSourceChanged: on a resumed run, the set of tables or a table's
	// definition on the source is no longer what the interrupted run copied.
	ErrSourceChanged = errors.New("source changed since the interrupted bootstrap")
	// ErrBusy: another bootstrap for the same cluster holds the target's
	// lock.
	ErrBusy = errors.New("another bootstrap of this cluster is running on the target")
	// ErrNoTables: no table matched.
	ErrNoTables = errors.New("no table matches")
)
