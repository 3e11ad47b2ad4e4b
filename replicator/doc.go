// Package replicator tails a MySQL or MariaDB binlog and publishes every
// committed transaction to Kafka as event format v1 records
// (replicator/event), exactly once and in commit order.
//
// # The pipeline
//
// Run owns one session at a time and a heartbeat goroutine. A session is
//
//		BinlogSyncer --events--> reader --batches (bounded)--> publisher --> Kafka
//
//	  - The reader (stream.go) feeds the events to its assembler
//	    (assemble.go), which turns them into records without touching the
//	    network; unit tests replay binlog files of testdata/ through it. Each rows
//	    event is decoded with the table-map event written with it
//	    (binlog_row_metadata=FULL), never with a live schema. Query events are
//	    classified (ddl.go); DDL becomes its own record and an unclassifiable
//	    statement stops the stream. A record is held back until the next one
//	    arrives, because only then is it known whether it is its
//	    transaction's last: the last record carries last=true and gtid_set,
//	    the source GTID set after the transaction. Records are encoded into
//	    batches of at most 1 MiB / 4096 records.
//	  - The publisher packs batches into Kafka transactions and commits only
//	    at binlog transaction boundaries: a binlog transaction never spans two
//	    Kafka transactions, while several small ones share one (bounded by
//	    FlushInterval and MaxBatchBytes). A huge transaction streams through
//	    in batches; only a few of them are ever referenced at once.
//
// # Exactly once without local state
//
// The Kafka transactional id is drc-<cluster>. Creating the producer fences
// any older replicator of the cluster and aborts its open transaction, so a
// zombie can never commit. Only then does the session read the committed
// tail of the topic (read_committed): the gtid_set of the newest final
// record is where it resumes. Nothing is kept on local disk, and a session
// that fails for any transient reason (source restart, broker outage) is
// simply replaced by a new one after a capped backoff; there is no
// in-memory position to get wrong. On an empty topic the session commits a
// position marker (a heartbeat without an image) before streaming, so that a
// crash before the first commit cannot move the start forward.
//
// # Loop prevention
//
// The applier writes drc_meta.apply_checkpoint as the first statement of
// every transaction it applies. When that row is the first rows event of a
// transaction and its origin is another region, the transaction came from
// drc and is not published back; this is what makes two-way replication
// safe. Other drc_meta tables are never published, except the heartbeat.
package replicator
