package drcmeta

import (
	"context"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Checkpoint is one row of drc_meta.apply_checkpoint: how far the applier
// of one source cluster has applied one partition of its topic. The
// applier writes it in the same target transaction as the rows it
// describes, so it is exactly as durable as they are.
type Checkpoint struct {
	Cluster string `json:"cluster"`
	Part    int32  `json:"part"`
	// Offset is the Kafka offset of the next record to consume.
	// OffsetUnknown (written by drc bootstrap): start from the oldest
	// retained record and skip every transaction GTIDSet contains.
	Offset int64 `json:"kafka_offset"`
	// GTIDSet is the source GTID set applied through, in the source
	// flavor's text form.
	GTIDSet string `json:"gtid_set"`
	// Origin and LastGTID describe the last transaction applied: the region
	// it was first written in and its GTID.
	Origin    string    `json:"origin"`
	LastGTID  string    `json:"last_gtid"`
	UpdatedAt time.Time `json:"updated_at"`
}

// OffsetUnknown is the Offset drc bootstrap writes: start from the oldest
// retained record and skip what GTIDSet contains.
const OffsetUnknown = -1

// ReadCheckpoints returns the checkpoint rows of cluster, one per
// partition, ordered by partition. A server without
// drc_meta.apply_checkpoint has no checkpoint: the result is empty, not an
// error. (The applier's per-worker slot rows are keyed by another cluster
// name, so they never show here.)
func ReadCheckpoints(ctx context.Context, q Queryer, cluster string) ([]Checkpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT cluster, part, kafka_offset, gtid_set, origin, last_gtid, CAST(updated_at AS CHAR)
		FROM drc_meta.apply_checkpoint WHERE cluster = ? ORDER BY part`, cluster)
	if err != nil {
		if mysqlerr.NoSuchTable(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the applier checkpoint of %s: %w", cluster, err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		var updated string
		if err := rows.Scan(&c.Cluster, &c.Part, &c.Offset, &c.GTIDSet, &c.Origin, &c.LastGTID, &updated); err != nil {
			return nil, fmt.Errorf("read the applier checkpoint of %s: %w", cluster, err)
		}
		// updated_at is read as text: the DSN need not set parseTime, and the
		// value is in the server's time zone, which is assumed to be the
		// session's (drc runs its sessions in UTC).
		if t, err := time.Parse("2006-01-02 15:04:05.999999", updated); err == nil {
			c.UpdatedAt = t
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the applier checkpoint of %s: %w", cluster, err)
	}
	return out, nil
}

// WriteCheckpoint adds c's row, for a writer other than the applier (whose
// statements are built with the rows they commit with): drc bootstrap
// handing a snapshot over, a benchmark. The partition must have no row
// yet; a duplicate key error says a checkpoint is already there, which
// the writer must not move.
func WriteCheckpoint(ctx context.Context, e Execer, c Checkpoint) error {
	_, err := e.ExecContext(ctx, `INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid)
		VALUES (?, ?, ?, ?, ?, ?)`, c.Cluster, c.Part, c.Offset, c.GTIDSet, c.Origin, c.LastGTID)
	if err != nil {
		return fmt.Errorf("write drc_meta.apply_checkpoint of %s partition %d: %w", c.Cluster, c.Part, err)
	}
	return nil
}
