// Package bootstrap seeds a new region: it copies the source's tables into
// the target from one consistent snapshot and hands the snapshot's GTID
// position to the applier, which continues exactly after it. It is
// `drc bootstrap`.
//
// # The story of a run
//
//  1. Take the target's named lock for the cluster (two bootstraps never
//     interleave), create drc_meta's tables, and read the cluster's
//     bootstrap_state. A finished bootstrap is not run again; an applier
//     checkpoint that bootstrap did not write stops the run
//     (ErrCheckpointExists).
//  2. Open the snapshot on one source session and read its position
//     (below).
//  3. Create the missing databases and tables on the target from the
//     source's SHOW CREATE DATABASE / SHOW CREATE TABLE. A table that
//     exists with another definition (AUTO_INCREMENT counter aside) stops
//     the run naming every such table, before anything is written
//     (ErrTableDiffers); bootstrap never drops or alters a table. A table
//     that exists, matches, but holds rows bootstrap did not copy stops it
//     too (ErrTargetNotEmpty).
//  4. Copy every table in primary-key chunks of ChunkRows rows: one reader
//     on the snapshot session, Workers writers on the target, a queue
//     bounded in chunks and bytes between them (see "One reader").
//  5. Hand over: in one target transaction, write one
//     drc_meta.apply_checkpoint row per partition (kafka_offset -1,
//     gtid_set = the snapshot position, origin = the source region,
//     last_gtid empty) and mark bootstrap_state done.
//
// # The snapshot
//
// MariaDB: START TRANSACTION WITH CONSISTENT SNAPSHOT, then SHOW SESSION
// STATUS LIKE 'binlog_snapshot_%' gives the binlog file and offset that
// match the snapshot exactly (MariaDB takes both under the binlog's commit
// ordering), and BINLOG_GTID_POS(file, pos) turns them into a GTID
// position. No lock at all: Result.LockHeld is zero.
//
// MySQL 8: there is no binlog position tied to a snapshot. Under LOCK
// INSTANCE FOR BACKUP (it blocks DDL, not DML), bootstrap reads
// gtid_executed from performance_schema.log_status, starts the snapshot,
// and reads it again. Equal readings mean no transaction committed in
// between, so the snapshot is the state at that GTID set; otherwise it
// rolls back and retries (20 times, then ErrSnapshotRace). The lock is
// released as soon as the snapshot is open and its duration is reported
// (log, Result.LockHeld, drc_bootstrap_source_lock_seconds). The MySQL path
// is unit-tested for the SQL it issues; the integration tests run MariaDB
// only. Caveat: MySQL adds a GTID to gtid_executed just after the engine
// commit, so a commit that lands inside the few microseconds between the
// second reading and the snapshot's start is not excluded by the check.
//
// Both read only transactional (InnoDB) tables consistently. A DDL on a
// copied table during the copy makes the snapshot's reads fail (the run
// stops; rerun it after dropping that target table).
//
// # One reader: why parallel writers share a single snapshot
//
// Parallel copy needs every worker to read the SAME snapshot, and on MariaDB
// one consistent-snapshot transaction per worker does not share one: each
// would see a different point in time. The two ways out are (a) one
// snapshot session reads everything and streams chunks to N writer
// sessions on the target, or (b) N snapshots opened under a brief FLUSH
// TABLES WITH READ LOCK. bootstrap does (a):
//
//   - It takes no lock on the source at all (b stalls every writer for as
//     long as FTWRL waits for the longest running statement, unbounded).
//   - Reading is the cheap side: a chunk read by primary-key range costs a
//     fraction of inserting it (bench: ReadBusy vs WriteBusy in Result), so
//     one reader keeps several writers busy; the copy is bound by the
//     target's inserts either way.
//   - It needs no privilege beyond SELECT on the source (FTWRL needs
//     RELOAD).
//
// The cost is one long transaction on the source for the duration of the
// copy (undo history grows, as with every logical dump), and a read side
// that is not parallel.
//
// # Chunks and the copy
//
// The reader walks each table in primary-key order with keyset reads
// (FORCE INDEX (PRIMARY), expanded range predicates for composite keys,
// key values bound as hex and relabelled into the column's collation) in
// the binary protocol, so FLOAT and DOUBLE arrive exact. A chunk is the
// range (lo, hi]: its lo is exactly the previous chunk's hi, the first
// chunk is open below and the last open above, so the chunks of a table
// partition the whole key space, including keys a later snapshot may add
// past the end. Writers encode rows as multi-row INSERT statements sized
// below the target's max_allowed_packet (text and binary values as hex
// literals, read with character_set_results=binary, so no byte passes a
// character-set conversion; TIMESTAMP in UTC; generated columns left to
// the target), and write a chunk's rows and its drc_meta.bootstrap_chunks
// row in the same target transaction. Plain INSERT, never an upsert: a
// duplicate key would be a bug and is reported as one.
//
// Target sessions run with SET SESSION sql_log_bin=0, so bootstrap's
// schema, rows and metadata never enter the target's binlog and the target
// region's own replicator never sends them back to the source (this needs
// SUPER, or BINLOG ADMIN on MariaDB 10.5+ / MySQL 8; without it the run
// stops with ErrNoBinlogPrivilege). They also run with foreign_key_checks=0
// (chunks land in any order) and a non-strict sql_mode with
// NO_AUTO_VALUE_ON_ZERO (the copy writes what the source holds).
//
// The reader throttles: while the source's Threads_running is above
// MaxThreadsRunning it pauses (checked at most once per ThrottleSleep), and
// MaxRowsPerSecond caps the rate. Progress (rows, rate, ETA per table and
// overall) is drawn on a terminal and written as plain lines otherwise.
//
// # Resuming after a kill, and why the checkpoint is the LATEST snapshot
//
// A killed run leaves chunks copied from its snapshot S1 (position G1). A
// rerun cannot reopen S1: a snapshot dies with its session. It takes S2
// (G2 ≥ G1). Two tempting schemes are wrong:
//
//   - Copy the remaining chunks from S2 and hand over G1: those chunks
//     already contain the transactions in (G1, G2], which the applier then
//     applies again: duplicate keys on insert, missing rows on delete,
//     wrong before-images on update. Conflicts.
//   - Hand over G2 and keep the S1 chunks as they are: they lack (G1, G2].
//     Lost changes, silently.
//
// bootstrap makes the whole target equal to the LATEST snapshot and hands
// over its position. Every run is a generation; bootstrap_state records
// the generation and its snapshot position, every chunk row the generation
// its contents reflect. The rerun walks each table's recorded chunks in
// key order:
//
//   - a chunk from an older generation is read from S2 and compared with
//     the target's rows of the same range (SHA-256 over the typed values of
//     both, in key order); equal, it is only re-stamped with the new
//     generation; changed, its range is deleted and rewritten from S2, in
//     one transaction with its re-stamped chunk row. So the writes resume
//     where they stopped; the copied data is only read again, and only
//     changed chunks are written again;
//   - a chunk that was lost with the killed process (its transaction never
//     committed) shows as a gap: the next recorded chunk does not start at
//     the previous one's end. The gap is copied from S2 as one chunk with
//     the first free sequence number;
//   - after the last recorded chunk (unless it is the one open above), the
//     copy continues from its end, chunk by chunk, from S2.
//
// When the run finishes, every chunk of every table reflects S2, and G2 is
// the exact position of the whole target: the applier replays from G2
// with exact semantics and meets no conflict. A run killed again leaves
// generations 1 and 2 behind, and the next run treats both as older. The
// blind-upsert alternative (INSERT ... ON DUPLICATE KEY UPDATE over every
// chunk from S2) was rejected: it cannot remove rows deleted between S1
// and S2, and it rewrites everything. A rerun must select the same tables
// (ErrSourceChanged otherwise) and the source definitions must not have
// changed in between (ErrTableDiffers names the table).
//
// The integration tests prove both runs exact with real servers: writes
// run on the source during the copy, during the kill and during the
// rerun; then the target replicates natively from the handed-over GTID
// with strict row-based apply (a duplicate or missing row stops it), and
// the tables' contents must hash equal on both sides.
package bootstrap
