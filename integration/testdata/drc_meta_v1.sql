-- drc_meta at schema version 1: what drc created before drc_meta had a
-- version (commit def6c4a), for TestDrcMetaUpgrade. Statements end with a
-- semicolon at the end of a line. The order is a target bootstrapped
-- before its applier first ran: bootstrap's tables first, its
-- apply_checkpoint WITHOUT ENGINE=InnoDB (bootstrap/state.go), then the
-- applier's (applier/checkpoint.go), with drc_meta.conflicts as first
-- released, before its detail column; then drc_meta.skipped
-- (internal/drcmeta) and reconcile's run state (reconcile/state.go).
CREATE DATABASE IF NOT EXISTS drc_meta;
CREATE TABLE IF NOT EXISTS drc_meta.bootstrap_state (
  cluster VARCHAR(64) NOT NULL,
  origin VARCHAR(64) NOT NULL,
  generation INT NOT NULL,
  snapshot_gtid TEXT NOT NULL,
  status VARCHAR(16) NOT NULL,
  tables_json MEDIUMTEXT NOT NULL,
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster));
CREATE TABLE IF NOT EXISTS drc_meta.bootstrap_chunks (
  cluster VARCHAR(64) NOT NULL,
  db VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  tbl VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  seq BIGINT NOT NULL,
  lo_key MEDIUMTEXT NOT NULL,
  hi_key MEDIUMTEXT NOT NULL,
  row_count BIGINT NOT NULL,
  generation INT NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, db, tbl, seq));
CREATE TABLE IF NOT EXISTS drc_meta.apply_checkpoint (
  cluster VARCHAR(64) NOT NULL, part INT NOT NULL,
  kafka_offset BIGINT NOT NULL,
  gtid_set TEXT NOT NULL, origin VARCHAR(64) NOT NULL, last_gtid VARCHAR(128) NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (cluster, part));
CREATE TABLE IF NOT EXISTS drc_meta.conflicts (
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
  KEY by_cluster_time (cluster, created_at)) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS drc_meta.heartbeat (
  region VARCHAR(64) NOT NULL PRIMARY KEY,
  ts BIGINT NOT NULL COMMENT 'source clock, unix microseconds'
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS drc_meta.skipped (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cluster VARCHAR(64) NOT NULL,
  role VARCHAR(16) NOT NULL COMMENT 'replicator or applier',
  gtid VARCHAR(128) NOT NULL COMMENT 'the skipped transaction, when known',
  kafka_partition INT NULL, kafka_offsets VARCHAR(64) NULL COMMENT 'applier: first-last offset skipped',
  tables TEXT NOT NULL COMMENT 'db.table names the transaction touched, as far as known',
  reason VARCHAR(255) NOT NULL,
  skipped_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY by_cluster (cluster, skipped_at)) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS drc_meta.reconcile_runs (
  run_id CHAR(16) NOT NULL,
  cluster VARCHAR(64) NOT NULL,
  tables_list TEXT NOT NULL,
  repair TINYINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS drc_meta.reconcile_chunks (
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
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
