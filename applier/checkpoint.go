package applier

import (
	"context"
	"database/sql"

	"github.com/drc-dev/drc/internal/drcmeta"
)

// Checkpoint is one row of drc_meta.apply_checkpoint (see
// drcmeta.Checkpoint, which owns it with the table's other readers and
// writers). The applier builds its own checkpoint statements, in
// sqlbuild.go, to commit them with the rows they describe.
type Checkpoint = drcmeta.Checkpoint

// OffsetUnknown is the Offset drc bootstrap writes: start from the oldest
// retained record and skip what GTIDSet contains.
const OffsetUnknown = drcmeta.OffsetUnknown

// slotKey names a worker's slot row in drc_meta.apply_checkpoint: cluster
// "<cluster>/w", part partition*slotStride+worker. Slot rows never match a
// WHERE cluster = '<cluster>' query, so readers of the checkpoint contract
// (reconcile, status, bootstrap) see only the real rows.
type slotKey struct {
	cluster string
	part    int
}

const (
	slotSuffix    = "/w"
	slotStride    = 1000
	maxClusterLen = 64 - len(slotSuffix)
)

func newSlotKey(cluster string, part int32, worker int) slotKey {
	return slotKey{cluster: cluster + slotSuffix, part: int(part)*slotStride + worker}
}

// ReadCheckpoint returns the checkpoint rows of cluster, one per partition,
// ordered by partition; none when the target has no
// drc_meta.apply_checkpoint. It is drcmeta.ReadCheckpoints, for callers
// outside this module.
func ReadCheckpoint(ctx context.Context, db *sql.DB, cluster string) ([]Checkpoint, error) {
	return drcmeta.ReadCheckpoints(ctx, db, cluster)
}

// readPartCheckpoint returns the checkpoint of one partition, and whether
// there is one.
func readPartCheckpoint(ctx context.Context, conn *sql.Conn, cluster string, part int32) (Checkpoint, bool, error) {
	cks, err := drcmeta.ReadCheckpoints(ctx, conn, cluster)
	if err != nil {
		return Checkpoint{}, false, err
	}
	for _, c := range cks {
		if c.Part == part {
			return c, true, nil
		}
	}
	return Checkpoint{Cluster: cluster, Part: part}, false, nil
}
