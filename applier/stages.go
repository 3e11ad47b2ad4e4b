package applier

import (
	"context"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator/event"
)

// The partition's pipeline has three stages. The middle one, the
// partition's coordinator (partition.go: framing by gtid/seq/last, GTID
// dedup, write-sets, grouping, large-transaction streaming, the DDL
// barrier) holds no connection of its own: it reads records from a
// recordSource (Kafka: kafkaSource, source.go), and reaches the target
// server through a target (SQL: sqlTarget, target.go), whose executors
// (worker.go) apply transactions. Unit tests put fakes in their place.

// offsetOldest is the offset recordSource.Read starts at to read from the
// oldest retained record (Kafka's own name for it is the same -2).
const offsetOldest int64 = -2

// A recordSource is one partition of the topic.
type recordSource interface {
	// Retained returns the oldest offset the partition still holds and
	// the offset its next record will get.
	Retained(ctx context.Context) (oldest, newest int64, err error)
	// Read decodes the partition's records from offset from
	// (offsetOldest: the oldest retained) and sends them in order on out,
	// in batches, until ctx ends or an error; it closes out before it
	// returns. An undecodable record is sent with its error, and is the
	// last record sent unless Config.SkipOffsets names records to pass
	// over; Read then returns nil. Any other failure to read (the broker,
	// the consumer) is Read's error. Read is called once.
	Read(ctx context.Context, from int64, out chan<- []decoded) error
	// Committed notes that every record before offset next is applied and
	// checkpointed in the target (monitoring only: Kafka's group offsets).
	// Safe to call while Read runs.
	Committed(next int64)
}

// A target is the target server as one partition's coordinator sees it:
// the partition's checkpoint, the tables' schema, DDL, and executors that
// apply transactions. The coordinator calls it from one goroutine.
type target interface {
	// Checkpoint reads the partition's checkpoint row; ok is false when
	// there is none yet.
	Checkpoint(ctx context.Context) (ck Checkpoint, ok bool, err error)
	// Plan returns how rows of tbl are applied: its target table's keys,
	// which the write-set hashes.
	Plan(ctx context.Context, tbl *event.Table) (*plan, error)
	// ExecDDL runs r's DDL statement as the source ran it (in r.DB, marked
	// with r.Origin), outside any transaction, and forgets the schema it
	// knew. An error of a statement whose effect is already there (the
	// table exists, the column is gone, ...) satisfies alreadyApplied.
	ExecDDL(ctx context.Context, r *event.Record) error
	// RecordSkip records an operator's skip in drc_meta.skipped.
	RecordSkip(ctx context.Context, s drcmeta.Skip) error
	// Executor opens worker i's connection. The caller closes it, from
	// the one goroutine that uses it.
	Executor(ctx context.Context, i int) (executor, error)
	// Close releases the target's connection.
	Close()
}

// An executor applies transactions on one target connection, one at a
// time: Apply, then Commit or Rollback. After an error of Apply or Commit,
// the caller calls Rollback before the executor's next transaction.
type executor interface {
	// Apply opens a target transaction and writes t's rows in it (their
	// conflicts resolved by the tables' policies), leaving it open. A
	// streaming t takes its further records from t.more until it is
	// closed; when t was abandoned, Apply then returns nil and writes
	// nothing more. again: t is applied a second time, every earlier
	// transaction now committed; the executor then takes its most careful
	// way.
	Apply(ctx context.Context, t *txn, again bool) error
	// Commit writes t's checkpoint (offset t.next, GTID set t.set) into
	// the open transaction and commits it.
	Commit(ctx context.Context, t *txn) error
	// Rollback abandons the open transaction, if any. Best effort: a lost
	// connection rolls back by itself.
	Rollback()
	// Close releases the connection.
	Close()
}
