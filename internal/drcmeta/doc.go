// Package drcmeta owns drc_meta, the database in which drc keeps its own
// state on every server it touches: every table's definition, written
// once, the schema version, the forward migrations that bring an older
// drc_meta up to date, and the reads and writes that more than one role
// shares (the applier checkpoint, the skipped-transaction log, the
// heartbeat's two-way test).
//
// It lives under internal/ because no role owns drc_meta: the replicator
// keeps its heartbeat there on the source, the applier its checkpoint and
// conflicts on the target, bootstrap and reconcile their progress, and
// package dr its operations. (idgen's tables live in a schema of the
// operator's choosing, drc_meta by default; idgen creates them itself.)
//
// # Tables
//
//	schema_version    one row: the version of this schema (Current)
//	apply_checkpoint  the applier's position, one row per cluster and partition
//	conflicts         one row per conflict the applier met
//	heartbeat         one row per region: its replicator's clock
//	skipped           one row per transaction an operator passed over
//	bootstrap_state   one row per cluster bootstrapped into this target
//	bootstrap_chunks  one row per chunk bootstrap copied
//	reconcile_runs    one row per reconcile run
//	reconcile_chunks  one row per chunk a reconcile run finished
//	dr_operations     one row per switchover, failover or failback
//	stop_errors       one row per cluster and role: the error it last stopped on
//
// # Versions and upgrades
//
// Every role calls Ensure on each server where it uses drc_meta, before
// anything else there. Ensure reads the version in
// drc_meta.schema_version; a drc_meta without that table is version 1,
// what drc created before it had versions (on an empty server too: the
// migrations then find nothing to change). At Current it does nothing
// more. Below Current it takes a named lock, so that roles starting at
// once migrate one server one at a time, runs every migration above the
// version found, creates every table still missing, at its current
// definition, and writes Current. Above Current it refuses with
// ErrNewerSchema: an older drc must not write a schema it does not know;
// the operator upgrades drc instead.
//
// Upgrading is in place and forward only. A migration is a step from one
// version to the next; a drc_meta several versions behind takes them in
// order. Each step is idempotent and looks before it changes anything
// (information_schema), because an older drc may still be running
// against the same server during a rolling upgrade, and because a table
// a step would change may not exist (a source has only what its
// replicator needed).
//
// # Adding a migration
//
// To change a table, or to add one:
//
//  1. Change (or add) its CREATE TABLE in schema.go, so that a new server
//     gets the new definition directly. A new table goes into tables.
//  2. Append one migration to migrations (migrate.go) with the next
//     version number: To is Current+1, Adds names the tables it
//     introduces, and Run changes the existing ones (nil when the version
//     only adds tables, which Ensure creates after the migrations). Run
//     must check information_schema before each change, and leave a
//     missing table alone.
//  3. Set Current to the new version. TestMigrations checks the list is
//     in order and that every table not in version 1 is added by one
//     migration.
//
// Never edit a migration that has been released: a server that ran it
// will not run it again.
package drcmeta
