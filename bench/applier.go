package bench

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// KeyApplierRate is the applier's rows/s, for later suites.
const KeyApplierRate = "applier.rows_per_s"

// applierWorkers is the applier's worker count and the native replica's
// slave_parallel_threads, so the two apply with the same parallelism.
const applierWorkers = 4

// measureApplier publishes the dataset's binlog range to a fresh topic with
// an in-process replicator, waits until it is all published, then applies
// it into a fresh region-b MariaDB with an in-process applier. It reports
//   - rows/s from the first to the last row applied (the Kafka client's
//     start-up not counted), against the bulk INSERT baseline;
//   - the same with the ID guard checking every row, against it off;
//   - the whole range (start to checkpoint covering EndGTID, the final
//     CREATE INDEX included) against a native MariaDB replica with
//     slave_parallel_threads=4, optimistic mode, timed the same way
//     (START SLAVE to MASTER_GTID_WAIT(EndGTID));
//   - the CPU seconds per 1M rows of that whole range, drc plus the target
//     server, against the native replica's server (applyCPURows).
func measureApplier(ctx context.Context, env *Env) ([]Row, error) {
	ds, err := env.Dataset(ctx)
	if err != nil {
		return nil, err
	}
	k, err := env.Kafka()
	if err != nil {
		return nil, err
	}

	// 1. Publish the range.
	cluster, topic, want, stopPublish, err := publishRange(ctx, env, k, ds, 7100)
	if err != nil {
		return nil, err
	}
	defer stopPublish()

	// 2. Apply it into a fresh region b; then again with the ID guard on
	// the key column (2b), and both once more, alternating, so that the
	// order of the runs does not decide the comparison: each side keeps
	// its faster run.
	//
	// sysbench's keys are 1..Rows, so the guard's layout is the narrowest
	// idgen allows (2 low bits, no region bits), under which every key from
	// 4 up decodes as an ID of region a issued after the layout's epoch;
	// 1..3 are recorded as foreign_id conflicts. The check runs on every
	// row either way.
	guard := func(c *applier.Config) {
		c.Tables = []applier.TablePolicy{{Table: ds.DB + "." + ds.Table, IDColumns: []string{"id"}, ForeignID: "record"}}
		c.Regions = map[string]int{"a": 0}
		c.IDLayout = idgen.Layout{TimeUnit: time.Millisecond, StartTime: time.Now().Add(-time.Hour).Truncate(time.Millisecond),
			SequenceBits: 1, RegionBits: 0, NodeBits: 1}
	}
	var off, on applied
	for i := range 2 {
		o, err := applyRange(ctx, env, k, ds, cluster, topic, want, "region b", uint32(2+2*i), nil)
		if err != nil {
			return nil, err
		}
		if o.rate > off.rate {
			off = o
		}
		g, err := applyRange(ctx, env, k, ds, cluster, topic, want, "region c", uint32(3+2*i), guard)
		if err != nil {
			return nil, fmt.Errorf("applier with the ID guard: %w", err)
		}
		if g.rate > on.rate {
			on = g
		}
	}
	bulk, _ := env.Result(KeyBulkInsert)
	rows := []Row{
		{Key: KeyApplierRate, Metric: fmt.Sprintf("applier: rows applied, first to last row (%d rows, %d workers, %.2fs, faster of 2)", ds.Rows, applierWorkers, off.applySecs),
			Value: off.rate, Unit: "rows/s", Goal: Ratio(off.rate, bulk, "bulk INSERT", "")},
		{Metric: fmt.Sprintf("applier: whole range, start to checkpoint at EndGTID, CREATE INDEX included (%.2fs)", off.whole.Seconds()),
			Value: off.wholeRate, Unit: "rows/s", Goal: "-"},
		{Metric: fmt.Sprintf("applier with the ID guard on every row (%.0f foreign_id conflicts recorded), first to last row (%.2fs, faster of 2)", on.conflicts, on.applySecs),
			Value: on.rate, Unit: "rows/s", Goal: Ratio(on.rate, off.rate, "guard off", "within 5%")},
	}
	wholeRate := off.wholeRate

	// 3. The same range through native MariaDB parallel replication.
	native, nativeCPU, err := nativeApplyTime(ctx, env, ds)
	if err != nil {
		return rows, fmt.Errorf("native replica: %w", err)
	}
	nativeRate := float64(ds.Rows) / native.Seconds()
	rows = append(rows,
		Row{Metric: fmt.Sprintf("native MariaDB replica, slave_parallel_threads=%d optimistic, START SLAVE to MASTER_GTID_WAIT (%.2fs)", applierWorkers, native.Seconds()),
			Value: nativeRate, Unit: "rows/s", Goal: "baseline"},
		Row{Metric: "applier whole range against the native replica", Value: wholeRate / nativeRate, Unit: "ratio",
			Goal: Ratio(wholeRate, nativeRate, "native", "≥ 1.0")},
	)
	return append(rows, applyCPURows(harness.FlavorMariaDB, ds.Rows, off.cpu, nativeCPU)...), nil
}

// publishRange publishes the dataset's binlog range to a fresh topic with an
// in-process replicator (server id serverID plus up to 800) and waits until
// it is all in the topic. It returns the cluster, the topic, EndGTID as a
// Position, and a stop for the replicator, which the caller must call.
func publishRange(ctx context.Context, env *Env, k *harness.Kafka, ds *Dataset, serverID uint32) (cluster, topic string, want replicator.Position, stop func(), err error) {
	want, err = gtid.Parse(string(ds.Flavor), ds.EndGTID)
	if err != nil {
		return "", "", want, nil, fmt.Errorf("parse EndGTID %q: %w", ds.EndGTID, err)
	}
	rreg := prometheus.NewRegistry()
	rcfg := datasetReplicator(ds, k, "benchapply", serverID)
	cluster, topic = rcfg.Cluster, rcfg.Topic
	r, err := replicator.New(rcfg, slog.New(slog.DiscardHandler), rreg)
	if err != nil {
		return "", "", want, nil, err
	}
	rctx, rcancel := context.WithCancel(ctx)
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	stop = func() { rcancel(); <-rdone }
	env.Logf("applier: publishing %d rows to %s", ds.Rows, topic)
	if err := waitPublished(ctx, env, k, topic, want, rdone); err != nil {
		stop()
		return "", "", want, nil, err
	}
	return cluster, topic, want, stop, nil
}

// datasetReplicator is the configuration of a replicator that publishes
// the dataset's range to a fresh topic: cluster prefix plus a unique
// suffix, server id serverID plus a random offset below 800.
func datasetReplicator(ds *Dataset, k *harness.Kafka, prefix string, serverID uint32) replicator.Config {
	cluster := prefix + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	return replicator.Config{
		Cluster: cluster, Region: "a", Flavor: string(ds.Flavor),
		Host: ds.Source.Host, Port: ds.Source.Port, User: ds.Source.User, Password: ds.Source.Password,
		ServerID: serverID + uint32(time.Now().UnixNano()%800),
		Brokers:  []string{k.Bootstrap}, KafkaVersion: "3.9.0", Topic: "drc." + cluster,
		StartGTID:         ds.StartGTID,
		HeartbeatInterval: time.Minute,
	}
}

// applied is one applyRange's figures.
type applied struct {
	rate, wholeRate float64 // rows/s first to last row, and start to checkpoint
	applySecs       float64
	whole           time.Duration
	conflicts       float64
	// cpu is the whole range's CPU time of "drc" (the bench process, which
	// hosts the applier), "target" and "broker".
	cpu CPUUse
}

// applyRange applies the published range of topic into a fresh server of
// the dataset's flavor (what, server id) with an in-process applier, changed
// by mutate, and checks that every row arrived.
func applyRange(ctx context.Context, env *Env, k *harness.Kafka, ds *Dataset, cluster, topic string, want replicator.Position, what string, id uint32, mutate func(*applier.Config)) (applied, error) {
	// The dataset's CREATE DATABASE is before StartGTID; its CREATE TABLE
	// and CREATE INDEX are inside.
	target, tdb, err := env.startServerOn(ds.Flavor, what, id)
	if err != nil {
		return applied{}, err
	}
	defer tdb.Close()
	if _, err := tdb.ExecContext(ctx, "CREATE DATABASE "+ds.DB); err != nil {
		return applied{}, err
	}
	areg := prometheus.NewRegistry()
	cfg := applier.Config{
		Cluster: cluster, Region: "b", Flavor: string(ds.Flavor),
		Host: target.Host, Port: target.Port, User: target.User, Password: target.Password,
		Brokers: []string{k.Bootstrap}, Topic: topic, KafkaVersion: "3.9.0",
		Workers: applierWorkers,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := applier.New(cfg, slog.New(slog.DiscardHandler), areg)
	if err != nil {
		return applied{}, err
	}
	span, err := StartCPU(CPUProc{"drc", 0}, CPUProc{"target", target.Pid()}, CPUProc{"broker", k.Pid()})
	if err != nil {
		return applied{}, err
	}
	actx, acancel := context.WithCancel(ctx)
	adone := make(chan error, 1)
	env.Logf("applier: applying into %s (%s) with %d workers", target.Addr(), what, applierWorkers)
	began := time.Now()
	go func() { adone <- a.Run(actx) }()
	defer func() { acancel(); <-adone }()

	var first, last time.Time
	deadline := began.Add(15 * time.Minute)
	for {
		select {
		case err := <-adone:
			adone <- err // for the deferred wait
			return applied{}, fmt.Errorf("applier stopped: %v", err)
		case <-ctx.Done():
			return applied{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		rows := counter(areg, "drc_applier_rows_total")
		if first.IsZero() && rows > 0 {
			first = time.Now()
		}
		if last.IsZero() && rows >= float64(ds.Rows) {
			last = time.Now()
		}
		if !last.IsZero() {
			cps, err := applier.ReadCheckpoint(ctx, tdb, cluster)
			if err != nil {
				return applied{}, err
			}
			if covers(cps, want) {
				break
			}
		}
		if time.Now().After(deadline) {
			return applied{}, fmt.Errorf("applied %.0f of %d rows in 15 minutes", rows, ds.Rows)
		}
	}
	whole := time.Since(began)
	cpu, err := span.Stop()
	if err != nil {
		return applied{}, err
	}
	acancel()
	<-adone
	adone <- nil
	var n int
	if err := tdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ds.DB+"."+ds.Table).Scan(&n); err != nil {
		return applied{}, err
	}
	if n != ds.Rows {
		return applied{}, fmt.Errorf("%s holds %d rows, want %d", what, n, ds.Rows)
	}
	applySecs := last.Sub(first).Seconds()
	return applied{
		rate: float64(ds.Rows) / applySecs, wholeRate: float64(ds.Rows) / whole.Seconds(),
		applySecs: applySecs, whole: whole, conflicts: counter(areg, "drc_applier_conflicts_total"),
		cpu: cpu,
	}, nil
}

// waitPublished waits until the committed tail of topic carries a gtid_set
// that contains want.
func waitPublished(ctx context.Context, env *Env, k *harness.Kafka, topic string, want replicator.Position, rdone chan error) error {
	began := time.Now()
	for {
		select {
		case err := <-rdone:
			rdone <- err
			return fmt.Errorf("replicator stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		var got replicator.Position
		var ok bool
		err := harness.Catch(func() {
			msgs := k.ConsumeReadCommitted(env.TB(), topic, 1<<30, 2*time.Second)
			for i := len(msgs) - 1; i >= 0 && !ok; i-- {
				if s, found := gtidSetOf(msgs[i].Value); found {
					got, _ = gtid.Parse(want.Flavor(), s)
					ok = true
				}
			}
		})
		if err != nil {
			return err
		}
		if ok && got.Contains(want) {
			return nil
		}
		if time.Since(began) > 10*time.Minute {
			return fmt.Errorf("the dataset was not published in 10 minutes")
		}
	}
}

func gtidSetOf(v []byte) (string, bool) {
	const key = `"gtid_set":"`
	s := string(v)
	for i := 0; i+len(key) <= len(s); i++ {
		if s[i:i+len(key)] == key {
			rest := s[i+len(key):]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '"' {
					return rest[:j], true
				}
			}
		}
	}
	return "", false
}

func covers(cps []applier.Checkpoint, want replicator.Position) bool {
	if len(cps) == 0 {
		return false
	}
	for _, cp := range cps {
		got, err := gtid.Parse(want.Flavor(), cp.GTIDSet)
		if err != nil || !got.Contains(want) {
			return false
		}
	}
	return true
}

// nativeApplyTime starts a fresh MariaDB replica of the dataset's source at
// StartGTID with parallel replication and times START SLAVE until it has
// applied EndGTID. It also returns the CPU time the replica ("replica") and
// the source ("source", which sends the binlog) used meanwhile.
func nativeApplyTime(ctx context.Context, env *Env, ds *Dataset) (time.Duration, CPUUse, error) {
	replica, db, err := startNativeReplica(ctx, env, harness.FlavorMariaDB, ds.Source, ds.StartGTID, 3, ds.DB)
	if err != nil {
		return 0, CPUUse{}, err
	}
	defer db.Close()
	env.Logf("applier: native replica %s applying %s..%s", replica.Addr(), ds.StartGTID, ds.EndGTID)
	span, err := StartCPU(CPUProc{"replica", replica.Pid()}, CPUProc{"source", ds.Source.Pid()})
	if err != nil {
		return 0, CPUUse{}, err
	}
	began := time.Now()
	if _, err := db.ExecContext(ctx, "START SLAVE"); err != nil {
		return 0, CPUUse{}, err
	}
	var res sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 900)", ds.EndGTID).Scan(&res); err != nil {
		return 0, CPUUse{}, err
	}
	took := time.Since(began)
	cpu, err := span.Stop()
	if err != nil {
		return 0, CPUUse{}, err
	}
	if !res.Valid || res.Int64 != 0 {
		var errs string
		_ = db.QueryRowContext(ctx, "SELECT CONCAT_WS(' / ', @@gtid_slave_pos, @@gtid_current_pos)").Scan(&errs)
		return 0, CPUUse{}, fmt.Errorf("MASTER_GTID_WAIT(%s) returned %v (positions %s)", ds.EndGTID, res, errs)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ds.DB+"."+ds.Table).Scan(&n); err != nil {
		return 0, CPUUse{}, err
	}
	if n != ds.Rows {
		return 0, CPUUse{}, fmt.Errorf("native replica holds %d rows, want %d", n, ds.Rows)
	}
	_, _ = db.ExecContext(ctx, "STOP SLAVE")
	return took, cpu, nil
}

// startNativeReplica starts a fresh server of flavor f (server id and
// GTID domain id id) and points it at src from startGTID with the
// flavor's parallel replication at the applier's parallelism
// (applierWorkers; nativeReplication names it): on MariaDB
// slave_parallel_threads in optimistic mode, on MySQL
// replica_parallel_workers with commit order preserved. The databases in
// dbs, created on src before startGTID, are created on it first. The
// caller runs START REPLICA on the returned pool, which holds one session,
// and closes it.
func startNativeReplica(ctx context.Context, env *Env, f harness.Flavor, src *harness.Server, startGTID string, id uint32, dbs ...string) (*harness.Server, *sql.DB, error) {
	replica, err := env.StartServer(f, harness.ServerOptions{ServerID: id, GTIDDomainID: id})
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlOpen(replica, "")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1) // one session: sql_log_bin = 0 must hold
	// The databases are created before startGTID on the source; created
	// here they must not enter the replica's own binlog (its own GTIDs
	// would conflict with the source's), and the replica must skip
	// exactly what precedes startGTID.
	stmts := []string{"SET SESSION sql_log_bin = 0"}
	for _, d := range dbs {
		stmts = append(stmts, "CREATE DATABASE "+d)
	}
	host, user, password := mysqlconn.QuoteString(src.Host), mysqlconn.QuoteString(src.User), mysqlconn.QuoteString(src.Password)
	if f == harness.FlavorMySQL {
		stmts = append(stmts,
			"RESET BINARY LOGS AND GTIDS", // 8.4+: RESET MASTER is gone
			"SET GLOBAL gtid_purged = "+mysqlconn.QuoteString(startGTID),
			"SET GLOBAL replica_parallel_workers = "+strconv.Itoa(applierWorkers),
			"SET GLOBAL replica_preserve_commit_order = ON",
			fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%d, SOURCE_USER=%s, SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1",
				host, src.Port, user, password))
	} else {
		stmts = append(stmts,
			"RESET MASTER",
			"SET GLOBAL gtid_slave_pos = "+mysqlconn.QuoteString(startGTID),
			"SET GLOBAL slave_parallel_threads = "+strconv.Itoa(applierWorkers),
			"SET GLOBAL slave_parallel_mode = 'optimistic'",
			fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos",
				host, src.Port, user, password))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("native replica %s: %.60s: %w", replica.Addr(), q, err)
		}
	}
	return replica, db, nil
}

// applyCPURows reports the CPU cost of the whole-range apply: drc (the
// applier, in the bench process) plus the target server, against the native
// replica's server for the same rows. The broker's share (it serves the
// applier's fetches) and the source's (it serves the native replica's binlog
// dump) are given in the text, outside the ratio.
func applyCPURows(f harness.Flavor, rows int, drc, native CPUUse) []Row {
	mine := drc.PerMillion(rows, "drc", "target")
	theirs := native.PerMillion(rows, "replica")
	return []Row{
		{Metric: flavorMetric(f, fmt.Sprintf("CPU cost, native replica applying the range (%s)", native.Describe(rows))),
			Value: theirs, Unit: "CPU s/1M rows", Goal: "baseline (replica only)"},
		{Metric: flavorMetric(f, fmt.Sprintf("CPU cost, applier whole range: drc + target (%s)", drc.Describe(rows))),
			Value: mine, Unit: "CPU s/1M rows", Goal: Ratio(mine, theirs, "native replica", "")},
	}
}
