package bench

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// Lag suite settings: sysbench oltp_write_only on lagTables tables of
// lagTableSize rows with lagThreads threads; the maximum rate is measured
// for lagMaxTime, the lag under half of it for lagRunTime.
const (
	lagTables    = 4
	lagTableSize = 10000
	lagThreads   = 4
	lagMaxTime   = 10 * time.Second
	lagRunTime   = 30 * time.Second
	lagHeartbeat = 100 * time.Millisecond
	lagPoll      = 5 * time.Millisecond
	lagIdleTime  = 5 * time.Second
)

// measureLag reports end-to-end lag under a steady write load at 50% of
// the source's maximum, on servers of flavor f:
//  1. a fresh source gets the sysbench tables (after CREATE DATABASE sbtest), then its maximum
//     oltp_write_only rate is measured with nothing else running;
//  2. a replicator (heartbeat every 100 ms) and an applier (4 workers)
//     replicate everything into a fresh target and catch up;
//     alongside, a native replica of the same source (from the same
//     position, with the flavor's parallel replication as the applier's
//     baseline: nativeReplication) catches up too; then, for lagIdleTime
//     with no load but the heartbeats, the CPU of every process is
//     measured;
//  3. sysbench runs at 50%, then at 20%, of the maximum rate while a poller on the target
//     reads the source's heartbeat row every 5 ms: each new heartbeat
//     gives one sample, its arrival time on the target minus its write
//     time on the source (one clock, one machine). A second poller samples
//     the same heartbeat rows on the native replica, which receives them
//     through the source's binlog, so the two lags are measured the same
//     way under the same load, at the same time;
//  4. after the load the target and the replica drain and their tables
//     must match the source's by CHECKSUM TABLE.
func measureLag(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	k, err := env.Kafka()
	if err != nil {
		return nil, err
	}
	src, sdb, err := env.startServerOn(f, "lag source", 21)
	if err != nil {
		return nil, err
	}
	defer sdb.Close()
	tgt, tdb, err := env.startServerOn(f, "lag target", 22)
	if err != nil {
		return nil, err
	}
	defer tdb.Close()
	if f == harness.FlavorMySQL {
		if err := mysqlWritesetTracking(ctx, sdb); err != nil {
			return nil, err
		}
	}

	// The database exists on both sides; the replicator starts after it
	// (an empty start_gtid would mean the source's current position).
	for _, db := range []*sql.DB{sdb, tdb} {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE sbtest"); err != nil {
			return nil, err
		}
	}
	var start string
	if err := sdb.QueryRowContext(ctx, mysqlconn.Flavor(f).PositionQuery()).Scan(&start); err != nil {
		return nil, err
	}
	env.Logf("lag: sysbench prepare, %d tables of %d rows", lagTables, lagTableSize)
	if _, err := runSysbench(ctx, src, "prepare"); err != nil {
		return nil, err
	}
	env.Logf("lag: measuring the source's maximum oltp_write_only rate for %v", lagMaxTime)
	maxTPS, err := runSysbench(ctx, src, "run", "--time="+strconv.Itoa(int(lagMaxTime.Seconds())))
	if err != nil {
		return nil, err
	}

	// DRC_BENCH_COMMIT_LINGER overrides the replicator's commit linger.
	var linger time.Duration
	if v := os.Getenv("DRC_BENCH_COMMIT_LINGER"); v != "" {
		if linger, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("DRC_BENCH_COMMIT_LINGER: %w", err)
		}
		env.Logf("lag: replicator commit linger %v", linger)
	}
	// Replicate everything after CREATE DATABASE.
	rreg, areg := prometheus.NewRegistry(), prometheus.NewRegistry()
	cluster := "benchlag" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	r, err := replicator.New(replicator.Config{
		Cluster: cluster, Region: "a", Flavor: string(f),
		Host: src.Host, Port: src.Port, User: src.User, Password: src.Password,
		ServerID: 7200 + uint32(time.Now().UnixNano()%700),
		Brokers:  []string{k.Bootstrap}, KafkaVersion: "3.9.0",
		StartGTID:         start,
		HeartbeatInterval: lagHeartbeat,
		CommitLinger:      linger,
	}, slog.New(slog.DiscardHandler), rreg)
	if err != nil {
		return nil, err
	}
	a, err := applier.New(applier.Config{
		Cluster: cluster, Region: "b", Flavor: string(f),
		Host: tgt.Host, Port: tgt.Port, User: tgt.User, Password: tgt.Password,
		Brokers: []string{k.Bootstrap}, KafkaVersion: "3.9.0",
		Workers: applierWorkers,
	}, slog.New(slog.DiscardHandler), areg)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	rdone, adone := make(chan error, 1), make(chan error, 1)
	go func() { rdone <- r.Run(runCtx) }()
	// The replicator creates the topic; the applier must not auto-create it.
	if err := waitTopic(ctx, k, "drc."+cluster, rdone); err != nil {
		cancel()
		<-rdone
		return nil, err
	}
	go func() { adone <- a.Run(runCtx) }()
	defer func() { cancel(); <-rdone; <-adone }()
	failed := func() error {
		select {
		case err := <-rdone:
			rdone <- err
			return fmt.Errorf("replicator stopped: %v", err)
		case err := <-adone:
			adone <- err
			return fmt.Errorf("applier stopped: %v", err)
		default:
			return nil
		}
	}

	// The native replica starts where the replicator started, so it also
	// replicates drc_meta (created by the replicator) and its heartbeats.
	nat, ndb, err := startNativeReplica(ctx, env, f, src, start, 23, "sbtest")
	if err != nil {
		return nil, err
	}
	defer ndb.Close()
	if _, err := ndb.ExecContext(ctx, "START REPLICA"); err != nil {
		return nil, fmt.Errorf("native replica: %w", err)
	}

	env.Logf("lag: catching up")
	if err := waitCaughtUp(ctx, f, sdb, tdb, cluster, 5*time.Minute, failed); err != nil {
		return nil, err
	}
	if err := waitNativeCaughtUp(ctx, f, sdb, ndb, 5*time.Minute); err != nil {
		return nil, err
	}

	rows := []Row{{Metric: flavorMetric(f, fmt.Sprintf("source maximum, sysbench oltp_write_only, %d threads, %d tables x %d rows, nothing else running", lagThreads, lagTables, lagTableSize)),
		Value: maxTPS, Unit: "tx/s", Goal: "baseline"}}
	procs := []CPUProc{{"drc", 0}, {"broker", k.Pid()}, {"target", tgt.Pid()}, {"native replica", nat.Pid()}, {"source", src.Pid()}}
	// What the pipelines cost with no load but the heartbeats: the part of
	// the loaded figures that does not scale with transactions.
	idle, err := StartCPU(procs...)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(lagIdleTime):
	}
	if err := failed(); err != nil {
		return nil, err
	}
	idleUse, err := idle.Stop()
	if err != nil {
		return nil, err
	}
	cores := func(name string) float64 { return idleUse.Of(name).Seconds() / lagIdleTime.Seconds() }
	rows = append(rows, Row{
		Metric: flavorMetric(f, fmt.Sprintf("CPU with no load but the %v heartbeats (no lag pollers), cores: drc %.3f + broker %.3f + target %.3f against the native replica %.3f (source %.3f)",
			lagHeartbeat, cores("drc"), cores("broker"), cores("target"), cores("native replica"), cores("source"))),
		Value: cores("drc") + cores("broker") + cores("target"), Unit: "cores", Goal: Ratio(cores("drc")+cores("broker")+cores("target"), cores("native replica"), "native replica", "")})
	// 50% is the load; 20% shows the lag where this machine's two
	// cores are not saturated by source, Kafka, drc and target together.
	for _, share := range []float64{0.5, 0.2} {
		phase, err := lagPhase(ctx, env, f, src, sdb, tdb, ndb, procs, lagMetrics{rreg, areg}, cluster, int(maxTPS*share), share, failed)
		if err != nil {
			return rows, err
		}
		rows = append(rows, phase...)
	}
	return rows, nil
}

// lagPhase runs sysbench at rate tx/s while sampling the heartbeat lag on
// the target (tdb) and on the native replica (ndb), waits for both to drain,
// checks the tables match, and returns the phase's rows. It also measures
// the CPU time of procs (named drc, broker, target, native replica and
// source) and of the whole machine while sysbench runs.
func lagPhase(ctx context.Context, env *Env, f harness.Flavor, src *harness.Server, sdb, tdb, ndb *sql.DB, procs []CPUProc, m lagMetrics, cluster string, rate int, share float64, failed func() error) ([]Row, error) {
	if rate < 1 {
		return nil, fmt.Errorf("lag phase at %.0f%% of the maximum: rate %d tps", share*100, rate)
	}
	env.Logf("lag: sysbench at %d tps (%.0f%% of the maximum) for %v", rate, share*100, lagRunTime)
	pollCtx, stopPoll := context.WithCancel(ctx)
	samples, nativeSamples := make(chan []time.Duration, 1), make(chan []time.Duration, 1)
	go func() { samples <- pollHeartbeatLag(pollCtx, env, tdb, "a") }()
	go func() { nativeSamples <- pollHeartbeatLag(pollCtx, nil, ndb, "a") }()
	before := m.read()
	span, err := StartCPU(procs...)
	if err != nil {
		stopPoll()
		return nil, err
	}
	machine, err := StartMachineCPU()
	if err != nil {
		stopPoll()
		return nil, err
	}
	gotTPS, serr := runSysbench(ctx, src, "run", "--time="+strconv.Itoa(int(lagRunTime.Seconds())), "--rate="+strconv.Itoa(rate))
	busy, merr := machine.Stop()
	stopPoll()
	lags, nativeLags := <-samples, <-nativeSamples
	if err := errors.Join(serr, merr); err != nil {
		return nil, err
	}
	if err := failed(); err != nil {
		return nil, err
	}
	drainBegan := time.Now()
	if err := waitCaughtUp(ctx, f, sdb, tdb, cluster, 5*time.Minute, failed); err != nil {
		return nil, err
	}
	drain := time.Since(drainBegan)
	if err := waitNativeCaughtUp(ctx, f, sdb, ndb, 5*time.Minute); err != nil {
		return nil, err
	}
	// The CPU and the counters cover the load and the drains, so that
	// every transaction of the load is counted once on each side.
	use, err := span.Stop()
	if err != nil {
		return nil, err
	}
	during := m.read().minus(before)
	for i := 1; i <= lagTables; i++ {
		q := fmt.Sprintf("CHECKSUM TABLE sbtest.sbtest%d", i)
		var name string
		var a, b sql.NullInt64
		if err := sdb.QueryRowContext(ctx, q).Scan(&name, &a); err != nil {
			return nil, err
		}
		if err := tdb.QueryRowContext(ctx, q).Scan(&name, &b); err != nil {
			return nil, err
		}
		if a != b {
			return nil, fmt.Errorf("after the lag run at %d tps, %s differs: source %v, target %v", rate, name, a, b)
		}
		var c sql.NullInt64
		if err := ndb.QueryRowContext(ctx, q).Scan(&name, &c); err != nil {
			return nil, err
		}
		if a != c {
			return nil, fmt.Errorf("after the lag run at %d tps, %s differs: source %v, native replica %v", rate, name, a, c)
		}
	}
	if len(lags) < 10 || len(nativeLags) < 10 {
		return nil, fmt.Errorf("only %d heartbeat samples on the target and %d on the native replica in %v", len(lags), len(nativeLags), lagRunTime)
	}
	slices.Sort(lags)
	slices.Sort(nativeLags)
	q := func(p float64) float64 { return lags[int(p*float64(len(lags)-1))].Seconds() }
	nq := func(p float64) float64 { return nativeLags[int(p*float64(len(nativeLags)-1))].Seconds() }
	load := fmt.Sprintf("%.0f%% of maximum: %d tps asked, %d samples", share*100, rate, len(lags))
	goal := Ratio(q(0.99), nq(0.99), "native p99", "")
	if share == 0.5 {
		goal = lagGoal(q(0.99)) + "; " + Ratio(q(0.99), nq(0.99), "native p99", "≤ 1.0")
	}
	nload := fmt.Sprintf("%.0f%% of maximum, %d samples", share*100, len(nativeLags))
	// CPU per 1,000 source transactions: PerMillion of transactions is
	// seconds per 1M, which is milliseconds per 1k.
	txns := int(gotTPS * lagRunTime.Seconds())
	drcSide, nativeSide := use.PerMillion(txns, "drc", "broker", "target"), use.PerMillion(txns, "native replica")
	// The native rows name their flavor; drc's get flavorMetric's prefix.
	native := []Row{
		{Metric: fmt.Sprintf("%s lag p50, the same heartbeats, running alongside drc (%s)", nativeReplication(f), nload),
			Value: nq(0.50), Unit: "s", Goal: "baseline"},
		{Metric: fmt.Sprintf("native %s replication lag p99 (%s)", f.Title(), nload), Value: nq(0.99), Unit: "s", Goal: "baseline"},
	}
	rows := []Row{
		{Metric: fmt.Sprintf("sysbench rate achieved with replication running (%s)", load), Value: gotTPS, Unit: "tx/s", Goal: "-"},
		{Metric: "end-to-end lag p50, source heartbeat write to its arrival on the target (" + load + ")", Value: q(0.50), Unit: "s", Goal: "-"},
		{Metric: "end-to-end lag p99 (" + load + ")", Value: q(0.99), Unit: "s", Goal: goal},
		{Metric: "end-to-end lag max (" + load + ")", Value: lags[len(lags)-1].Seconds(), Unit: "s", Goal: "-"},
		{Metric: "drain after the load stopped, to a checkpoint at the source's position; tables then equal by CHECKSUM TABLE (" + load + ")",
			Value: drain.Seconds(), Unit: "s", Goal: "-"},
		{Metric: fmt.Sprintf("CPU cost of the load's transactions, load and drains, drc + broker + target against the native replica (%s; machine %.0f%% busy of %d cores during the load; drc includes the bench's two lag pollers) (%s)",
			strings.ReplaceAll(use.Describe(txns), "CPU s/1M rows", "CPU ms/1k transactions"), busy*100, runtime.NumCPU(), load),
			Value: drcSide, Unit: "CPU ms/1k tx", Goal: Ratio(drcSide, nativeSide, "native replica", "")},
		{Metric: fmt.Sprintf("Kafka transactions the replicator committed for the load (load and drains), per second of load, %.1f binlog transactions each; the applier grouped %.0f%% of its transactions into their predecessors' (%s)",
			during.binlogTxns/max(1, during.kafkaTxns), 100*during.grouped/max(1, during.applied), load),
			Value: during.kafkaTxns / lagRunTime.Seconds(), Unit: "Kafka tx/s", Goal: "-"},
	}
	for i := range rows {
		rows[i].Metric = flavorMetric(f, rows[i].Metric)
	}
	return append(native, rows...), nil
}

// nativeReplication names flavor f's native replication as the lag suite
// configures it (startNativeReplica): the applier's baseline.
func nativeReplication(f harness.Flavor) string {
	if f == harness.FlavorMySQL {
		return fmt.Sprintf("native MySQL replication, replica_parallel_workers=%d, replica_preserve_commit_order=ON, WRITESET,", applierWorkers)
	}
	return fmt.Sprintf("native MariaDB replication, slave_parallel_threads=%d optimistic,", applierWorkers)
}

// lagMetrics are the replicator's and the applier's registries.
type lagMetrics struct{ replicator, applier prometheus.Gatherer }

// lagCounts are the counters a lag phase reports.
type lagCounts struct{ kafkaTxns, binlogTxns, applied, grouped float64 }

func (m lagMetrics) read() lagCounts {
	return lagCounts{
		kafkaTxns:  counter(m.replicator, "drc_replicator_kafka_transactions_total"),
		binlogTxns: counter(m.replicator, "drc_replicator_transactions_total"),
		applied:    counter(m.applier, "drc_applier_transactions_total"),
		grouped:    counter(m.applier, "drc_applier_grouped_transactions_total"),
	}
}

func (c lagCounts) minus(o lagCounts) lagCounts {
	return lagCounts{c.kafkaTxns - o.kafkaTxns, c.binlogTxns - o.binlogTxns, c.applied - o.applied, c.grouped - o.grouped}
}

func lagGoal(p99 float64) string {
	if p99 <= 1 {
		return "goal ≤ 1 s: met"
	}
	return "goal ≤ 1 s: not met"
}

var sysbenchTPS = regexp.MustCompile(`transactions:\s+\d+\s+\(([0-9.]+) per sec\.\)`)

// runSysbench runs sysbench oltp_write_only against db's sbtest with the
// suite's tables and threads and returns the transactions/s it reports
// (0 for prepare).
func runSysbench(ctx context.Context, db *harness.Server, cmd string, args ...string) (float64, error) {
	return runSysbenchAs(ctx, db, db.User, db.Password, cmd, args...)
}

// runSysbenchAs is runSysbench as another account.
func runSysbenchAs(ctx context.Context, db *harness.Server, user, password, cmd string, args ...string) (float64, error) {
	base := []string{"oltp_write_only", "--db-driver=mysql",
		"--mysql-host=" + db.Host, "--mysql-port=" + strconv.Itoa(db.Port),
		"--mysql-user=" + user, "--mysql-password=" + password, "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(lagTables), "--table-size=" + strconv.Itoa(lagTableSize),
		"--threads=" + strconv.Itoa(lagThreads), "--report-interval=0"}
	c := exec.CommandContext(ctx, "sysbench", append(append(base, args...), cmd)...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return 0, fmt.Errorf("sysbench %s: %w\n%s", cmd, err, out.String())
	}
	if cmd != "run" {
		return 0, nil
	}
	m := sysbenchTPS.FindSubmatch(out.Bytes())
	if m == nil {
		return 0, fmt.Errorf("sysbench run: no transactions line in its output:\n%s", out.String())
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// waitTopic waits until the replicator has created topic.
func waitTopic(ctx context.Context, k *harness.Kafka, topic string, rdone chan error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if ok, err := topicExists(k, topic); err != nil {
			return err
		} else if ok {
			return nil
		}
		select {
		case err := <-rdone:
			rdone <- err
			return fmt.Errorf("replicator stopped before creating %s: %v", topic, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the replicator did not create %s in a minute", topic)
		}
	}
}

// waitCaughtUp waits until the target's checkpoint covers the source's
// current position (flavor f), read once at the start.
func waitCaughtUp(ctx context.Context, f harness.Flavor, sdb, tdb *sql.DB, cluster string, limit time.Duration, failed func() error) error {
	var pos string
	if err := sdb.QueryRowContext(ctx, mysqlconn.Flavor(f).PositionQuery()).Scan(&pos); err != nil {
		return err
	}
	want, err := gtid.Parse(string(f), pos)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		if err := failed(); err != nil {
			return err
		}
		cps, err := applier.ReadCheckpoint(ctx, tdb, cluster)
		if err != nil {
			return err
		}
		if covers(cps, want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the target did not reach %s in %v", pos, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func topicExists(k *harness.Kafka, topic string) (bool, error) {
	c, err := sarama.NewClient([]string{k.Bootstrap}, k.SaramaConfig())
	if err != nil {
		return false, fmt.Errorf("kafka client: %w", err)
	}
	defer c.Close()
	topics, err := c.Topics()
	if err != nil {
		return false, fmt.Errorf("kafka topics: %w", err)
	}
	return slices.Contains(topics, topic), nil
}

// pollHeartbeatLag reads region's heartbeat row on the target every
// lagPoll until ctx ends; each new ts gives one sample: now minus ts.
// Heartbeats written before the poll began (a backlog of the previous
// phase still arriving) are not samples of this phase. It logs the latest
// sample every 5 seconds.
//
// A nil env logs nothing.
func pollHeartbeatLag(ctx context.Context, env *Env, tdb *sql.DB, region string) []time.Duration {
	var out []time.Duration
	var last int64
	t := time.NewTicker(lagPoll)
	defer t.Stop()
	began, logged := time.Now(), time.Now()
	since := began.UnixMicro()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		if env != nil && time.Since(logged) >= 5*time.Second && len(out) > 0 {
			logged = time.Now()
			env.Logf("lag: %2.0fs into the load, lag %.2fs (%d samples)", time.Since(began).Seconds(), out[len(out)-1].Seconds(), len(out))
		}
		var ts int64
		err := tdb.QueryRowContext(ctx, "SELECT ts FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&ts)
		if err != nil {
			continue // not there yet, or ctx ended
		}
		if ts != last {
			now := time.Now().UnixMicro()
			if ts >= since {
				out = append(out, time.Duration(now-ts)*time.Microsecond)
			}
			last = ts
		}
	}
}

// waitNativeCaughtUp waits until the native replica has applied the
// source's current position (flavor f), read once at the start, and fails
// with the replica's error if replication stopped.
func waitNativeCaughtUp(ctx context.Context, f harness.Flavor, sdb, ndb *sql.DB, limit time.Duration) error {
	var pos string
	if err := sdb.QueryRowContext(ctx, mysqlconn.Flavor(f).PositionQuery()).Scan(&pos); err != nil {
		return err
	}
	if f == harness.FlavorMySQL {
		return waitExecutedGTIDs(ctx, ndb, pos, limit)
	}
	var res sql.NullInt64
	if err := ndb.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", pos, int(limit.Seconds())).Scan(&res); err != nil {
		return fmt.Errorf("native replica: wait for %s: %w", pos, err)
	}
	if !res.Valid || res.Int64 != 0 {
		var at string
		_ = ndb.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&at)
		return fmt.Errorf("native replica did not reach %s in %v (gtid_slave_pos %s)", pos, limit, at)
	}
	return nil
}
