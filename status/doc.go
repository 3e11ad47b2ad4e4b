// Package status answers the on-call engineer's question about one drc
// pipeline (a source region, its topic, a target region): is it healthy,
// and if not, where is it stuck? `drc status` is its command; cmd/drc only
// loads the config, wires the readers below to the servers and prints.
//
// It sits at the top level beside the roles, not under internal/, because
// it is a concept of its own that reads what every role writes: the
// replicator's heartbeat and published tail, the applier's checkpoint,
// conflicts and stop error, Kafka's offsets. It owns none of that
// knowledge; it asks the package that does (replicator for positions,
// tails and the purge horizon, drcmeta for the checkpoint) and adds only
// the judgement: caught up or not, behind by how much, healthy, degraded
// or in error.
//
// # The story
//
// Collect reads, each through a small interface (Source, Target, Topic):
//
//	source  its GTID position, the age of its heartbeat row, its binlog
//	        expiry, and whether it still holds every binlog after the
//	        published position;
//	Kafka   the published tail of each partition (position and time) and
//	        its high watermark, and the oldest committed record the
//	        applier has not applied yet;
//	target  the applier checkpoint, the newest applied heartbeat, the
//	        conflicts recorded and the applier's last stop error.
//
// Assess then turns the readings into a Report. Every reading that failed
// is kept as an error naming its endpoint, so one unreachable piece never
// hides the others.
//
// # Caught up
//
// A partition is caught up when the oldest record the applier has not
// applied (the first committed record at or after its checkpoint offset)
// has a source commit time at most CaughtUpWithin before the status call,
// or when there is no such record. Records of a partition are in source
// commit order, so this says: the checkpoint contains every transaction
// the source had published CaughtUpWithin ago. It stays true under steady
// load while the applier keeps up, and turns false as soon as the applier
// falls further behind than that. The pipeline is caught up when every
// partition of the topic is.
//
// # Health
//
//	healthy   every reading succeeded and nothing below holds (exit 0);
//	degraded  Kafka unreachable, the target not caught up, a lag above
//	          MaxLag, conflicts recorded within ConflictWindow, or the
//	          applier stopped on an error after its last checkpoint
//	          (exit 1);
//	error     a database could not be read (down, wrong password or host,
//	          missing grant), Kafka refused the credentials, or the source
//	          has purged binlogs the replicator still needs (exit 2).
package status
