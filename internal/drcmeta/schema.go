package drcmeta

// table is one drc_meta table and its definition at Current.
type table struct {
	name, ddl string
}

// tables is every drc_meta table at Current, in the order Ensure creates
// the missing ones. Each definition is written here and nowhere else.
var tables = []table{
	{"schema_version", schemaVersionDDL},
	{"apply_checkpoint", applyCheckpointDDL},
	{"conflicts", conflictsDDL},
	{"heartbeat", heartbeatDDL},
	{"skipped", skippedDDL},
	{"bootstrap_state", bootstrapStateDDL},
	{"bootstrap_chunks", bootstrapChunksDDL},
	{"reconcile_runs", reconcileRunsDDL},
	{"reconcile_chunks", reconcileChunksDDL},
	{"dr_operations", drOperationsDDL},
	{"quarantine", quarantineDDL},
	{"stop_errors", stopErrorsDDL},
}

const createDatabase = "CREATE DATABASE IF NOT EXISTS drc_meta"

// schemaVersionDDL: the version drc_meta is at (see Ensure). id is always
// 1, so that writing the version is one upsert.
const schemaVersionDDL = `CREATE TABLE IF NOT EXISTS drc_meta.schema_version (
  id TINYINT UNSIGNED NOT NULL PRIMARY KEY COMMENT 'always 1: the table has one row',
  version INT NOT NULL COMMENT 'the drc_meta schema version; drc refuses a newer one',
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`

// applyCheckpointDDL: the applier's checkpoint (see Checkpoint), written in
// the same target transaction as the rows it describes, and so InnoDB
// like them. The replicator reads its origin column in the binlog; reconcile,
// bootstrap and drc status read it through ReadCheckpoints.
const applyCheckpointDDL = `CREATE TABLE IF NOT EXISTS drc_meta.apply_checkpoint (
  cluster VARCHAR(64) NOT NULL, part INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  gtid_set TEXT NOT NULL,
  origin VARCHAR(64) NOT NULL, last_gtid VARCHAR(128) NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, part)) ENGINE=InnoDB`

// conflictsDDL: one row per conflict the applier met. Images are JSON
// objects keyed by column name in event format v1's value mapping;
// target_row holds the target's row as text (binary values as
// "base64:..."), or NULL when there was none.
const conflictsDDL = `CREATE TABLE IF NOT EXISTS drc_meta.conflicts (
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

// conflictsDetail: what a kind records beyond the images (foreign_id: the
// column, the value and the decomposed ID). Tables created before it gain
// it in version 2.
const conflictsDetail = `detail JSON NULL COMMENT 'foreign_id: column, value, decomposed id, origin region'`

// heartbeatDDL: one row per region, written by its replicator on the
// source every interval and published; the applier writes the same row on
// the target. ts is the source's clock in unix microseconds, so that lag
// is computed without parsing time zones.
const heartbeatDDL = `CREATE TABLE IF NOT EXISTS drc_meta.heartbeat (
  region VARCHAR(64) NOT NULL PRIMARY KEY,
  ts BIGINT NOT NULL COMMENT 'source clock, unix microseconds'
) ENGINE=InnoDB`

// skippedDDL: one row per transaction (or Kafka record) an operator told a
// role to pass over, so that what a region lacks, and why, outlives the
// log.
const skippedDDL = `CREATE TABLE IF NOT EXISTS drc_meta.skipped (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cluster VARCHAR(64) NOT NULL,
  role VARCHAR(16) NOT NULL COMMENT 'replicator or applier',
  gtid VARCHAR(128) NOT NULL COMMENT 'the skipped transaction, when known',
  kafka_partition INT NULL, kafka_offsets VARCHAR(64) NULL COMMENT 'applier: first-last offset skipped',
  tables TEXT NOT NULL COMMENT 'db.table names the transaction touched, as far as known',
  reason VARCHAR(255) NOT NULL,
  skipped_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY by_cluster (cluster, skipped_at)) ENGINE=InnoDB`

// bootstrapStateDDL: one row per cluster bootstrapped into the target.
const bootstrapStateDDL = `CREATE TABLE IF NOT EXISTS drc_meta.bootstrap_state (
  cluster VARCHAR(64) NOT NULL,
  origin VARCHAR(64) NOT NULL,
  generation INT NOT NULL,
  snapshot_gtid TEXT NOT NULL,
  status VARCHAR(16) NOT NULL,
  tables_json MEDIUMTEXT NOT NULL,
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster)) ENGINE=InnoDB`

// bootstrapChunksDDL: one row per copied chunk, written in the same target
// transaction as the chunk's rows.
const bootstrapChunksDDL = `CREATE TABLE IF NOT EXISTS drc_meta.bootstrap_chunks (
  cluster VARCHAR(64) NOT NULL,
  db VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  seq BIGINT NOT NULL,
  lo_key MEDIUMTEXT NOT NULL,
  hi_key MEDIUMTEXT NOT NULL,
  row_count BIGINT NOT NULL,
  generation INT NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, db, tbl, seq)) ENGINE=InnoDB`

// reconcileRunsDDL and reconcileChunksDDL: a reconcile run's progress, so
// that a killed run resumes where it stopped, from any host.
const reconcileRunsDDL = `CREATE TABLE IF NOT EXISTS drc_meta.reconcile_runs (
  run_id CHAR(16) NOT NULL,
  cluster VARCHAR(64) NOT NULL,
  tables_list TEXT NOT NULL,
  repair TINYINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

const reconcileChunksDDL = `CREATE TABLE IF NOT EXISTS drc_meta.reconcile_chunks (
  run_id CHAR(16) NOT NULL,
  db VARCHAR(64) NOT NULL,
  tbl VARCHAR(64) NOT NULL,
  chunk_no INT NOT NULL,
  upper_key TEXT NULL,
  is_last TINYINT NOT NULL,
  rows_checked BIGINT NOT NULL,
  result LONGTEXT NOT NULL,
  done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (run_id, db, tbl, chunk_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// drOperationsDDL: one row per DR operation (package dr), updated after
// each step, so that an interrupted operation can be reported and resumed.
const drOperationsDDL = `CREATE TABLE IF NOT EXISTS drc_meta.dr_operations (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cluster VARCHAR(64) NOT NULL,
  kind VARCHAR(16) NOT NULL COMMENT 'switchover, failover or failback',
  from_region VARCHAR(64) NOT NULL, to_region VARCHAR(64) NOT NULL,
  step VARCHAR(32) NOT NULL COMMENT 'the last step completed',
  report JSON NULL COMMENT 'the operation report so far',
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  finished_at TIMESTAMP(6) NULL,
  KEY by_cluster (cluster, id)) ENGINE=InnoDB`

// quarantineDDL: the transactions drc failback took out of a returning
// primary (they never reached Kafka), one row per record as the topic
// would have carried it, in binlog order (id). undone_at is set in the
// transaction that undid them; replayed_at when drc failback
// --replay-quarantine applied them to the new primary.
const quarantineDDL = `CREATE TABLE IF NOT EXISTS drc_meta.quarantine (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  operation BIGINT UNSIGNED NOT NULL COMMENT 'the drc_meta.dr_operations id of the failback',
  cluster VARCHAR(64) NOT NULL,
  gtid VARCHAR(128) NOT NULL,
  seq INT NOT NULL,
  db VARCHAR(64) NOT NULL, tbl VARCHAR(64) NOT NULL,
  op VARCHAR(16) NOT NULL,
  record LONGTEXT NOT NULL COMMENT 'the event format v1 record',
  quarantined_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  undone_at TIMESTAMP(6) NULL,
  replayed_at TIMESTAMP(6) NULL,
  KEY by_operation (operation, id)) ENGINE=InnoDB`

// stopErrorsDDL: one row per cluster and role, the permanent error the
// role last stopped on, so that drc status can show it without the log.
// The text is the error as the role logged it (no row values, SQL
// redacted), cut to 1000 characters.
const stopErrorsDDL = `CREATE TABLE IF NOT EXISTS drc_meta.stop_errors (
  cluster VARCHAR(64) NOT NULL,
  role VARCHAR(16) NOT NULL COMMENT 'applier',
  error TEXT NOT NULL,
  stopped_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, role)) ENGINE=InnoDB`
