// Package dr moves the primary role between the two regions of a DR pair:
// drc switchover (planned, nothing lost), drc failover (the primary is
// gone; a data-loss report before the standby is promoted) and drc
// failback (the old primary returns as the new one's standby, without a
// re-copy; what it never published is quarantined and undone).
//
// A DR pair is two-way replication in which one region is read-only: two
// pipelines (Pair.Forward from the primary, Pair.Reverse back to it), each
// a replicator, a topic and an applier. The operations need nothing else
// running: the reverse pipeline is already the new primary's stream when
// a switchover makes it one, and an applier's checkpoint is already where
// a failed-back region resumes. So an operation is a sequence of steps on
// the two servers and the topics:
//
//   - each step is idempotent and, once done, recorded with the report so
//     far in drc_meta.dr_operations on the region that becomes (or stays)
//     the primary, which every operation can reach; a rerun resumes after
//     the last recorded step (type run);
//   - the servers are reached with the applier accounts, which pass
//     read_only on a standby; drc's own bookkeeping is written with the
//     binlog off, on sessions that are closed, never pooled (Server.session);
//   - "caught up" is always a GTID containment: an applier checkpoint (every
//     partition's) containing a server position or a topic tail. The
//     replicator's position markers make a fenced or idle source's topic
//     reach its position.
//
// Failback reads the returning region's binlog with the replicator's own
// reader (replicator.Unpublished), so the quarantine is exactly what the
// replicator would have published, and undoes it with the applier's own
// statements (applier.RowStatements), inverted.
package dr
