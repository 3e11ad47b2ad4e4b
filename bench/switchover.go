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
	"github.com/drc-dev/drc/dr"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// measureSwitchover reports how long writes are refused during a planned
// switchover (drc switchover) under sysbench oltp_write_only at 50% of the
// source's maximum rate:
//  1. two servers, a and b, get the sysbench tables on a and an
//     application account on both (read_only binds it);
//  2. the source's maximum rate is measured with nothing else running;
//  3. a DR pair runs: a's and b's replicators, an applier each way, b
//     read-only;
//  4. sysbench runs on a at 50% of the maximum (it stops at the fence's
//     first refusal), and after 5 s the primary role moves to b; the
//     report's writes-refused time (fence to b writable) and drain time
//     are the figures. The aim is at most 5 s on this machine (Vitess
//     allows 30 s by default).
func measureSwitchover(ctx context.Context, env *Env, flavor harness.Flavor) ([]Row, error) {
	k, err := env.Kafka()
	if err != nil {
		return nil, err
	}
	a, adb, err := env.startServerOn(flavor, "switchover a", 31)
	if err != nil {
		return nil, err
	}
	defer adb.Close()
	b, bdb, err := env.startServerOn(flavor, "switchover b", 32)
	if err != nil {
		return nil, err
	}
	defer bdb.Close()
	var starts [2]replicator.Position
	for i, db := range []*sql.DB{adb, bdb} {
		for _, q := range []string{"CREATE DATABASE sbtest", "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pw'",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON sbtest.* TO 'app'@'127.0.0.1'"} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("%s: %w", q, err)
			}
		}
		if starts[i], err = replicator.ServerPosition(ctx, db, string(flavor)); err != nil {
			return nil, err
		}
	}
	env.Logf("switchover: sysbench prepare, %d tables of %d rows", lagTables, lagTableSize)
	if _, err := runSysbench(ctx, a, "prepare"); err != nil {
		return nil, err
	}
	maxTPS, err := runSysbench(ctx, a, "run", "--time="+strconv.Itoa(int(lagMaxTime.Seconds())))
	if err != nil {
		return nil, err
	}

	suffix := strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	ca, cb := "benchswa"+suffix, "benchswb"+suffix
	discard := slog.New(slog.DiscardHandler)
	runCtx, cancel := context.WithCancel(ctx)
	var done []chan error
	defer func() {
		cancel()
		for i, d := range done {
			select {
			case <-d:
			case <-time.After(30 * time.Second):
				env.Logf("switchover: role %d did not stop within 30 s", i)
			}
		}
	}()
	run := func(fn func(context.Context) error) chan error {
		d := make(chan error, 1)
		go func() { d <- fn(runCtx) }()
		done = append(done, d)
		return d
	}
	for i, s := range []struct {
		m       *harness.Server
		cluster string
		region  string
	}{{a, ca, "a"}, {b, cb, "b"}} {
		r, err := replicator.New(replicator.Config{
			Cluster: s.cluster, Region: s.region, Flavor: string(flavor),
			Host: s.m.Host, Port: s.m.Port, User: s.m.User, Password: s.m.Password,
			ServerID: 7300 + uint32(i) + uint32(time.Now().UnixNano()%600), Brokers: []string{k.Bootstrap}, KafkaVersion: "3.9.0",
			StartGTID: starts[i].String(), HeartbeatInterval: 200 * time.Millisecond,
		}, discard, prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		rdone := run(r.Run)
		if err := waitTopic(ctx, k, "drc."+s.cluster, rdone); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		m       *harness.Server
		cluster string
		region  string
	}{{b, ca, "b"}, {a, cb, "a"}} {
		ap, err := applier.New(applier.Config{
			Cluster: s.cluster, Region: s.region, Flavor: string(flavor),
			Host: s.m.Host, Port: s.m.Port, User: s.m.User, Password: s.m.Password,
			Brokers: []string{k.Bootstrap}, KafkaVersion: "3.9.0", Workers: applierWorkers,
		}, discard, prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		run(ap.Run)
	}
	for _, q := range mysqlconn.Flavor(flavor).StandbyStatements() {
		if _, err := bdb.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	pos, err := replicator.ServerPosition(ctx, adb, string(flavor))
	if err != nil {
		return nil, err
	}
	if err := waitCheckpoint(ctx, bdb, ca, pos, 5*time.Minute); err != nil {
		return nil, fmt.Errorf("b catching up with a: %w", err)
	}

	rate := int(maxTPS / 2)
	env.Logf("switchover: sysbench at %d tx/s (50%% of %.0f) on a, switchover after 5 s", rate, maxTPS)
	load := make(chan error, 1)
	go func() {
		// sysbench stops at the fence's first refusal: the load is
		// what the standby must drain.
		lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
		defer lcancel()
		_, err := runSysbenchAs(lctx, a, "app", "app-pw", "run", "--time=15", "--rate="+strconv.Itoa(rate))
		load <- err
	}()
	time.Sleep(5 * time.Second)
	server := func(m *harness.Server, region string, db *sql.DB) dr.Server {
		return dr.Server{Region: region, Flavor: string(flavor), Addr: m.Addr(), DB: db}
	}
	sa, sb := server(a, "a", adb), server(b, "b", bdb)
	pair := dr.Pair{
		Forward: dr.Pipeline{Cluster: ca, Source: sa, Target: sb},
		Reverse: dr.Pipeline{Cluster: cb, Source: sb, Target: sa},
	}
	rep, err := dr.Switchover(ctx, pair, dr.Options{Timeout: 2 * time.Minute})
	env.Logf("switchover: %s (%v)", rep.Outcome, err)
	<-load // its errors are the fence's, on purpose
	env.Logf("switchover: load done")
	if err != nil {
		return nil, fmt.Errorf("switchover: %w (%s)", err, rep.Reason)
	}
	if rep.WritesRefusedSeconds == nil || rep.DrainSeconds == nil {
		return nil, fmt.Errorf("switchover report lacks its figures: %+v", rep)
	}
	load50 := fmt.Sprintf("sysbench oltp_write_only at %d tx/s, 50%% of the source's maximum", rate)
	return []Row{
		{Metric: "switchover: writes refused, fence to the new primary writable (" + load50 + ")", Value: *rep.WritesRefusedSeconds, Unit: "s",
			Goal: fmt.Sprintf("%.2fx of the 5 s aim (Vitess allows 30 s)", *rep.WritesRefusedSeconds/5)},
		{Metric: "switchover: of which the standby's drain of the final position", Value: *rep.DrainSeconds, Unit: "s", Goal: "-"},
		{Metric: "switchover: write transactions open at the fence", Value: float64(len(rep.InFlight)), Unit: "tx", Goal: "-"},
	}, nil
}

// waitCheckpoint waits until every checkpoint row of cluster on db
// contains pos.
func waitCheckpoint(ctx context.Context, db *sql.DB, cluster string, pos replicator.Position, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		cps, err := drcmeta.ReadCheckpoints(ctx, db, cluster)
		if err != nil {
			return err
		}
		ok := len(cps) > 0
		for _, cp := range cps {
			got, err := gtid.Parse(pos.Flavor(), cp.GTIDSet)
			if err != nil {
				return err
			}
			ok = ok && got.Contains(pos)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("checkpoint of %s does not contain %s after %s", cluster, pos, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
