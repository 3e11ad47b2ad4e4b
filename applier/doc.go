// Package applier applies one source cluster's topic (event format v1, see
// replicator/event) to a target MySQL/MariaDB server, exactly once.
//
// # The story
//
// One Applier runs per (source cluster, target region). Run opens a
// session: it reads the checkpoint of each partition from the target, seeks
// a read_committed consumer there, and runs one pipeline per partition:
//
//	Kafka ──> decoder ──> coordinator ──> workers (N target connections) ──> COMMIT in source order
//	                      assemble transactions by gtid/seq/last,
//	                      skip duplicates, write-sets, DDL, back-pressure
//
// The coordinator is the pure middle stage: it holds no connection, and
// reaches Kafka through a recordSource (kafkaSource) and the target server
// through a target (sqlTarget) whose executors (worker) run the SQL; see
// stages.go for their contracts. Unit tests run whole sessions of it with
// fakes in their place.
//
// The decoder goroutine decodes records in order, ahead of the
// coordinator, and hands them over in batches of at most 128 records or
// 1 MiB; it stops after an undecodable record, which the coordinator then
// reports once the transactions before it have committed.
//
// A transient failure (target or broker restart, lock wait timeout) ends
// the session and Run starts a new one from the checkpoint after a capped
// exponential backoff; restarting from the one durable position is the
// whole recovery story. A permanent one (an undecodable record, a conflict
// or DDL under the stop policy, a checkpoint outside the topic) stops Run
// with an error that names the topic, partition and offset or transaction.
//
// # Checkpoint and exactly once
//
// drc_meta.apply_checkpoint holds one row per (cluster, partition): the
// offset of the next record and the source GTID set applied through. Each
// source transaction becomes one target transaction that ends by writing
// that row, so the row and the data commit together. Transactions commit
// in source order, so the row only moves forward. A transaction a crashed
// replicator published twice is recognised because its GTID is contained
// in the GTID set of the transaction before it, and skipped; the same rule
// lets a bootstrap checkpoint (offset -1) start at the oldest record.
// Kafka's group offsets (group drc-apply-<cluster>-<region>) are committed
// for monitoring only.
//
// # Loop prevention and slot rows
//
// The target region's own replicator skips a transaction whose first rows
// event writes drc_meta.apply_checkpoint with another origin, so the first
// statement of every applied transaction writes that table with the
// record's origin. It writes the worker's slot row (cluster "<cluster>/w",
// part partition*1000+worker), not the partition's row: concurrent workers
// writing one row first would each hold its lock until COMMIT, and the
// workers would run one at a time. The partition's row is written last,
// in the same round trip as COMMIT, when every earlier transaction has
// committed. Slot rows never match WHERE cluster = '<cluster>', which is
// what ReadCheckpoint, reconcile and bootstrap read.
//
// # Parallel apply
//
// The coordinator computes each transaction's WriteSet: hashes of (table,
// primary key values) and of every unique key the target has
// (information_schema), from before and after images. A transaction waits
// for the latest earlier in-flight transaction it shares a key with, then
// runs on a free worker; all commit in dispatch order. Workers use READ
// COMMITTED (no gap locks between independent transactions) and a bounded
// lock wait. One lock READ COMMITTED does not avoid is InnoDB's duplicate
// check on a secondary unique index, which locks neighbouring entries of
// other rows; the write-set orders it by holding each such index shared,
// or exclusively for a change that re-inserts a value still delete-marked
// (see WriteSet). Keys are hashed in canonical form (temporal fractions,
// case and trailing spaces, numbers). A dependency the write-set still
// misses (accent-insensitive collations, a value removed before the
// session) ends in a lock timeout, the session restarts and applies with
// one worker for a minute. Queued bytes are bounded by MaxQueueBytes.
//
// Grouping: the newest dispatched transaction stays pending until a
// worker takes it. While every worker is busy, the next small transactions
// of the same origin join it (up to 32 transactions and 256 records), and
// the group is applied as one target transaction whose checkpoint is its
// last member's. It commits all of them or none, in order, so exactly
// once holds; what it saves is a commit, and the wait for the commit
// before it, per member. A backlog therefore drains faster than it
// formed. DDL transactions and large ones are never grouped.
//
// A transaction larger than LargeTxnBytes is not buffered: the
// transactions before it commit, then one worker applies it alone while
// its records arrive in 1 MiB chunks, so memory stays bounded whatever its
// size. An undecodable record inside it rolls it back.
//
// # Statements
//
// Rows are applied exactly, never as blind upserts: INSERT (consecutive
// inserts into one table as multi-row INSERTs, up to BatchRows rows),
// UPDATE ... SET <changed columns> WHERE <primary key> AND <every other
// column> <=> <before value>, and DELETE likewise. So an UPDATE or DELETE
// that matches no row (the connection reports found rows) means the target
// diverged. Tables without a primary key match on the whole before image
// with LIMIT 1: one of several identical rows is changed, as on the source.
// Generated columns (known from the target's information_schema) are left
// out. Values are bound to event.Column.Placeholder in prepared statements,
// cached per worker. sqlbuild.go builds every statement.
//
// A transaction (or group) of at most 256 records first tries one round
// trip instead of one per statement (fast.go): BEGIN, the slot row and the
// same statements as text, each value written as the literal the prepared path
// would bind, sent as one multi-statement query. The driver reports the
// rows each statement matched; any error or unexpected count rolls the
// attempt back and the transaction is applied the prepared way, which
// finds and resolves the conflict. Values without an exact literal (a
// negative-zero float) also take the prepared way. An OLTP transaction
// thus costs two round trips (rows, then checkpoint and COMMIT) instead of
// rows + 2; drc_applier_one_round_trip_transactions_total counts them.
//
// # Conflicts
//
// A duplicate key on insert or update (duplicate_key), an UPDATE/DELETE
// whose row is missing (missing_row) or differs from the before image
// (before_mismatch) is a conflict. The table's policy resolves it:
// source-wins (the target row becomes the source's after image: conflicting
// rows under the primary or a unique key are deleted and the image
// inserted; a delete deletes), target-wins (the change is dropped),
// newer-wins:<column> (the greater value of column wins; a tie goes to the
// region whose name sorts first, so both sides of a two-way pair agree) or
// stop. Each conflict is recorded in drc_meta.conflicts, with the source's
// before and after images and the target's row, in the same transaction as
// its resolution, and counted in drc_applier_conflicts_total.
//
// # DDL
//
// A transaction that carries DDL waits for every earlier transaction to
// commit, then runs on the coordinator's connection as USE db; <same SQL>,
// under the table's DDL policy (apply, skip, stop). Its checkpoint then
// commits in a transaction of its own. A crash between the two re-reads
// the DDL; because it is then the first transaction of the session, errors
// that mean "already applied" (table exists, duplicate column or key,
// unknown table on DROP, ...) are accepted for it, and only for it.
// Since DDL commits implicitly, no checkpoint write can mark its origin;
// instead the statement runs behind a leading /* drc:origin=<region> */
// comment (replicator.DDLOriginComment), which the target region's
// replicator reads, so in a two-way pair a DDL is not sent back.
//
// # Heartbeats and lag
//
// A heartbeat record is applied to the target's drc_meta.heartbeat (an
// upsert: the row is drc's own) with its checkpoint. drc_applier_lag_seconds
// is computed when scraped, as now minus the newest applied heartbeat's ts
// (read back from the target at session start), so it keeps growing while
// nothing arrives, whatever stalls. A position marker (a heartbeat without
// an image) only moves the checkpoint's GTID set forward.
package applier
