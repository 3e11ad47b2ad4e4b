package applier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Checkpoint is one row of drc_meta.apply_checkpoint: how far the applier
// of one source cluster has applied one partition of its topic. It is
// written in the same target transaction as the rows it describes, so it
// is exactly as durable as they are.
type Checkpoint struct {
	Cluster string `json:"cluster"`
	Part    int32  `json:"part"`
	// Offset is the Kafka offset of the next record to consume. -1 means
	// unknown (written by drc bootstrap): start from the oldest retained
	// record and skip every transaction GTIDSet contains.
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

// The metadata tables, as their contracts define them (DESIGN.md; reconcile
// reads apply_checkpoint, bootstrap writes it). Every statement is
// idempotent; New's session runs them on the target at start.
const (
	checkpointDDL = `CREATE TABLE IF NOT EXISTS drc_meta.apply_checkpoint (
  cluster VARCHAR(64) NOT NULL, part INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  gtid_set TEXT NOT NULL,
  origin VARCHAR(64) NOT NULL, last_gtid VARCHAR(128) NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, part)) ENGINE=InnoDB`

	// conflictsDDL: one row per conflict. Images are JSON objects keyed by
	// column name in event format v1's value mapping; target_row holds the
	// target's row as text (binary values as "base64:..."), or NULL when
	// there was none.
	conflictsDDL = `CREATE TABLE IF NOT EXISTS drc_meta.conflicts (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cluster VARCHAR(64) NOT NULL,
  gtid VARCHAR(128) NOT NULL,
  db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL,
  op VARCHAR(16) NOT NULL,
  kind VARCHAR(32) NOT NULL COMMENT 'duplicate_key, missing_row, before_mismatch, foreign_id',
  pk JSON NULL,
  source_before JSON NULL, source_after JSON NULL, target_row JSON NULL,
  resolution VARCHAR(32) NOT NULL COMMENT 'source_applied, target_kept, stopped',
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  ` + conflictsDetail + `,
  KEY by_cluster_time (cluster, created_at)) ENGINE=InnoDB`

	// conflictsDetail: what a kind records beyond the images (foreign_id:
	// the column, the value and the decomposed ID). Added to tables created
	// before it by migrateConflicts.
	conflictsDetail = `detail JSON NULL COMMENT 'foreign_id: column, value, decomposed id, origin region'`

	heartbeatDDL = `CREATE TABLE IF NOT EXISTS drc_meta.heartbeat (
  region VARCHAR(64) NOT NULL PRIMARY KEY,
  ts BIGINT NOT NULL COMMENT 'source clock, unix microseconds'
) ENGINE=InnoDB`
)

var metaDDL = []string{"CREATE DATABASE IF NOT EXISTS drc_meta", checkpointDDL, conflictsDDL, heartbeatDDL}

// migrateConflicts adds the columns drc_meta.conflicts gained after it was
// first created. MySQL has no ADD COLUMN IF NOT EXISTS, so the column is
// looked up first; two appliers adding it at once both succeed.
func migrateConflicts(ctx context.Context, db *sql.DB) error {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'drc_meta' AND TABLE_NAME = 'conflicts' AND COLUMN_NAME = 'detail'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("read the columns of drc_meta.conflicts: %w", err)
	}
	if n > 0 {
		return nil
	}
	_, err = db.ExecContext(ctx, "ALTER TABLE drc_meta.conflicts ADD COLUMN "+conflictsDetail)
	if err != nil && mysqlerr.Number(err) != erDupFieldName {
		return fmt.Errorf("add column detail to drc_meta.conflicts: %w", err)
	}
	return nil
}

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
// ordered by partition. A target without drc_meta.apply_checkpoint has no
// checkpoint: the result is empty, not an error.
func ReadCheckpoint(ctx context.Context, db *sql.DB, cluster string) ([]Checkpoint, error) {
	rows, err := db.QueryContext(ctx, `SELECT cluster, part, kafka_offset, gtid_set, origin, last_gtid, CAST(updated_at AS CHAR)
		FROM drc_meta.apply_checkpoint WHERE cluster = ? ORDER BY part`, cluster)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == erNoSuchTable || me.Number == erBadDB) {
			return nil, nil
		}
		return nil, fmt.Errorf("read checkpoint of %s: %w", cluster, err)
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		var c Checkpoint
		var updated string
		if err := rows.Scan(&c.Cluster, &c.Part, &c.Offset, &c.GTIDSet, &c.Origin, &c.LastGTID, &updated); err != nil {
			return nil, fmt.Errorf("read checkpoint of %s: %w", cluster, err)
		}
		// updated_at is read as text: the DSN need not set parseTime, and the
		// value is in the server's time zone, which ReadCheckpoint assumes
		// is the session's (drc runs its sessions in UTC).
		if t, err := time.Parse("2006-01-02 15:04:05.999999", updated); err == nil {
			c.UpdatedAt = t
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoint of %s: %w", cluster, err)
	}
	return out, nil
}

// readPartCheckpoint returns the checkpoint of one partition, and whether
// there is one.
func readPartCheckpoint(ctx context.Context, conn *sql.Conn, cluster string, part int32) (Checkpoint, bool, error) {
	c := Checkpoint{Cluster: cluster, Part: part}
	err := conn.QueryRowContext(ctx, `SELECT kafka_offset, gtid_set, origin, last_gtid FROM drc_meta.apply_checkpoint
		WHERE cluster = ? AND part = ?`, cluster, part).Scan(&c.Offset, &c.GTIDSet, &c.Origin, &c.LastGTID)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read checkpoint of %s partition %s: %w", cluster, strconv.Itoa(int(part)), err)
	}
	return c, true, nil
}
