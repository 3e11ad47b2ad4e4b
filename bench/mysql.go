package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// The MySQL suites run the MariaDB suites' measurements on a MySQL dataset
// (Env.DatasetOn(ctx, harness.FlavorMySQL)): their rows carry "MySQL" in
// the metric and their keys a "mysql." prefix (FlavorKey), and each ratio
// is to a baseline measured on MySQL in the same run. MySQL's own parallel
// replica replaces MariaDB's as the applier's baseline.

// onFlavor adapts a measurement that takes the flavor to a Measure.
func onFlavor(f harness.Flavor, m func(context.Context, *Env, harness.Flavor) ([]Row, error)) Measure {
	return func(ctx context.Context, env *Env) ([]Row, error) { return m(ctx, env, f) }
}

// FlavorKey is key for a figure measured on flavor f: key itself on
// MariaDB, the suites' first flavor, and "mysql."+key on MySQL.
func FlavorKey(f harness.Flavor, key string) string {
	if f == harness.FlavorMariaDB {
		return key
	}
	return string(f) + "." + key
}

// flavorMetric names a metric measured on flavor f: unchanged on MariaDB,
// prefixed with "MySQL " on MySQL.
func flavorMetric(f harness.Flavor, metric string) string {
	if f == harness.FlavorMariaDB {
		return metric
	}
	return f.Title() + " " + metric
}

// measureMySQLApplier publishes the MySQL dataset's range, applies it into a
// fresh MySQL region b with an in-process applier, and times the whole range
// against MySQL's own multi-threaded replica applying it from the source.
// It runs each side once (the MariaDB suite's guard comparison is not
// repeated here), drc first.
func measureMySQLApplier(ctx context.Context, env *Env) ([]Row, error) {
	f := harness.FlavorMySQL
	ds, k, err := env.DatasetAndKafka(ctx, f)
	if err != nil {
		return nil, err
	}
	cluster, topic, want, stopPublish, err := publishRange(ctx, env, k, ds, 7100)
	if err != nil {
		return nil, err
	}
	// Everything is in the topic: the replicator has nothing left to do.
	stopPublish()

	a, err := applyRange(ctx, env, k, ds, cluster, topic, want, "region b", 2, nil)
	if err != nil {
		return nil, err
	}
	bulk, _ := env.Result(FlavorKey(f, KeyBulkInsert))
	rows := []Row{
		{Key: FlavorKey(f, KeyApplierRate), Metric: flavorMetric(f, fmt.Sprintf("applier: rows applied, first to last row (%d rows, %d workers, %.2fs)", ds.Rows, applierWorkers, a.applySecs)),
			Value: a.rate, Unit: "rows/s", Goal: Ratio(a.rate, bulk, "bulk INSERT", "")},
		{Metric: flavorMetric(f, fmt.Sprintf("applier: whole range, start to checkpoint at EndGTID, CREATE INDEX included (%.2fs)", a.whole.Seconds())),
			Value: a.wholeRate, Unit: "rows/s", Goal: "-"},
	}

	native, err := nativeMySQLApply(ctx, env, ds)
	if err != nil {
		return rows, fmt.Errorf("native replica: %w", err)
	}
	nativeRate := float64(ds.Rows) / native.took.Seconds()
	rows = append(rows,
		Row{Metric: fmt.Sprintf("native MySQL replica, replica_parallel_workers=%d, replica_preserve_commit_order=ON, WRITESET (%d of %d transactions not after their predecessor), START REPLICA to WAIT_FOR_EXECUTED_GTID_SET (%.2fs)",
			applierWorkers, native.parallel, native.txns, native.took.Seconds()),
			Value: nativeRate, Unit: "rows/s", Goal: "baseline"},
		Row{Metric: flavorMetric(f, "applier whole range against the native replica"), Value: a.wholeRate / nativeRate, Unit: "ratio",
			Goal: Ratio(a.wholeRate, nativeRate, "native", "≥ 1.0")},
	)
	return append(rows, applyCPURows(f, ds.Rows, a.cpu, native.cpu)...), nil
}

// nativeApplied is what nativeMySQLApply measured, and the dataset's
// dependency shape that bounds the replica's parallelism.
type nativeApplied struct {
	took time.Duration
	// txns is the transactions in the range; parallel how many of them the
	// source's logical clock lets start before their predecessor commits
	// (last_committed below sequence_number-1).
	txns, parallel int
	// cpu is the CPU time of "replica" and "source" while it applied.
	cpu CPUUse
}

// nativeMySQLApply starts a fresh MySQL replica of the dataset's source at
// StartGTID (gtid_purged) with replica_parallel_workers=applierWorkers and
// commit order preserved, and times START REPLICA until it has executed
// EndGTID.
//
// Dependencies come from the source's binlog, written when the dataset was
// generated: MySQL 8.4 removed binlog_transaction_dependency_tracking, and
// WRITESET is then the only behaviour; on a server that still has the
// variable, the dataset's source sets it to WRITESET (mysqlWritesetTracking).
func nativeMySQLApply(ctx context.Context, env *Env, ds *Dataset) (nativeApplied, error) {
	var res nativeApplied
	// The logical clock of every transaction in the range: what the
	// replica's coordinator schedules by.
	_, err := DecodeBinlog(ctx, ds, func(ev *replication.BinlogEvent) error {
		if g, ok := ev.Event.(*replication.GTIDEvent); ok {
			res.txns++
			if g.LastCommitted < g.SequenceNumber-1 {
				res.parallel++
			}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("read the range's logical clocks: %w", err)
	}

	replica, db, err := startNativeReplica(ctx, env, harness.FlavorMySQL, ds.Source, ds.StartGTID, 3, ds.DB)
	if err != nil {
		return res, err
	}
	defer db.Close()
	src := ds.Source
	env.Logf("applier: native MySQL replica %s applying %s..%s (%d transactions, %d parallelizable)",
		replica.Addr(), ds.StartGTID, ds.EndGTID, res.txns, res.parallel)
	span, err := StartCPU(CPUProc{"replica", replica.Pid()}, CPUProc{"source", src.Pid()})
	if err != nil {
		return res, err
	}
	began := time.Now()
	if _, err := db.ExecContext(ctx, "START REPLICA"); err != nil {
		return res, err
	}
	defer func() { _, _ = db.ExecContext(context.WithoutCancel(ctx), "STOP REPLICA") }()
	if err := waitExecutedGTIDs(ctx, db, ds.EndGTID, 15*time.Minute); err != nil {
		return res, err
	}
	res.took = time.Since(began)
	if res.cpu, err = span.Stop(); err != nil {
		return res, err
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ds.DB+"."+ds.Table).Scan(&n); err != nil {
		return res, err
	}
	if n != ds.Rows {
		return res, fmt.Errorf("native replica holds %d rows, want %d", n, ds.Rows)
	}
	return res, nil
}

// waitExecutedGTIDs waits until the MySQL replica db has executed set, for
// at most limit. It waits a second at a time, so that a replication error
// ends the wait with its message instead of at the deadline; each wait
// returns as soon as the set is executed.
func waitExecutedGTIDs(ctx context.Context, db *sql.DB, set string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var timedOut int
		if err := db.QueryRowContext(ctx, "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 1)", set).Scan(&timedOut); err != nil {
			return fmt.Errorf("native replica: wait for %s: %w", set, err)
		}
		if timedOut == 0 {
			return nil
		}
		if err := replicaError(ctx, db); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			var executed string
			_ = db.QueryRowContext(ctx, mysqlconn.MySQL.PositionQuery()).Scan(&executed)
			return fmt.Errorf("native replica: %s not executed in %v (gtid_executed %s)", set, limit, executed)
		}
	}
}

// replicaError returns the replica's receiver or applier error, if either
// has one.
func replicaError(ctx context.Context, db *sql.DB) error {
	const q = `SELECT 'receiver', LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE FROM performance_schema.replication_connection_status WHERE LAST_ERROR_NUMBER <> 0
		UNION ALL SELECT 'applier', LAST_ERROR_NUMBER, LAST_ERROR_MESSAGE FROM performance_schema.replication_applier_status_by_worker WHERE LAST_ERROR_NUMBER <> 0
		LIMIT 1`
	var thread, msg string
	var num int
	switch err := db.QueryRowContext(ctx, q).Scan(&thread, &num, &msg); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("replica status: %w", err)
	default:
		return fmt.Errorf("replica %s error %d: %s", thread, num, msg)
	}
}

// mysqlWritesetTracking sets binlog_transaction_dependency_tracking to
// WRITESET on a MySQL server that still has it (before 8.4), so that the
// dataset's binlog carries the dependencies MySQL's parallel replica uses
// in production. 8.4 removed the variable; WRITESET is then always on.
func mysqlWritesetTracking(ctx context.Context, db *sql.DB) error {
	var name, value string
	err := db.QueryRowContext(ctx, "SHOW GLOBAL VARIABLES LIKE 'binlog_transaction_dependency_tracking'").Scan(&name, &value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("binlog_transaction_dependency_tracking: %w", err)
	}
	if _, err := db.ExecContext(ctx, "SET GLOBAL binlog_transaction_dependency_tracking = 'WRITESET'"); err != nil {
		return fmt.Errorf("binlog_transaction_dependency_tracking: %w", err)
	}
	return nil
}
