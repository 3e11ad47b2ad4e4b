package bench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
)

// KeyReplicatorRate is the replicator's publish rate, for later suites.
const KeyReplicatorRate = "replicator.events_per_s"

// measureReplicator publishes the dataset's binlog range to a fresh topic
// with an in-process replicator and times it from the first to the last
// published event, so the Kafka client's start-up is not counted.
func measureReplicator(ctx context.Context, env *Env) ([]Row, error) {
	ds, err := env.Dataset(ctx)
	if err != nil {
		return nil, err
	}
	k, err := env.Kafka()
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	cfg := replicator.Config{
		Cluster: "bench" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10), Region: "a",
		Host: ds.Source.Host, Port: ds.Source.Port, User: ds.Source.User, Password: ds.Source.Password,
		ServerID: 7000 + uint32(time.Now().UnixNano()%1000),
		Brokers:  []string{k.Bootstrap}, KafkaVersion: "3.9.0",
		StartGTID:         ds.StartGTID,
		HeartbeatInterval: time.Minute,
		Compression:       os.Getenv("DRC_BENCH_COMPRESSION"), // default lz4, as in production
	}
	cfg.Topic = "drc." + cfg.Cluster
	r, err := replicator.New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()

	var first time.Time
	var events, bytes float64
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case err := <-done:
			done <- err
			return nil, fmt.Errorf("replicator stopped: %v", err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		events, bytes = counter(reg, "drc_replicator_events_total"), counter(reg, "drc_replicator_bytes_total")
		if first.IsZero() && events > 0 {
			first = time.Now()
		}
		if events >= float64(ds.Rows) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("published %.0f of %d rows in 10 minutes", events, ds.Rows)
		}
	}
	secs := time.Since(first).Seconds()
	rate := events / secs
	base, _ := env.Result(KeyBinlogDecode)
	return []Row{
		{Key: KeyReplicatorRate, Metric: fmt.Sprintf("replicator: row events published to Kafka (%d rows, compression %s, 1 partition)", ds.Rows, compressionName(cfg.Compression)),
			Value: rate, Unit: "events/s", Goal: Ratio(rate, base, "bare decode", "≥ 0.5")},
		{Metric: "replicator: record bytes published", Value: bytes / (1 << 20) / secs, Unit: "MiB/s", Goal: "-"},
		{Metric: "replicator: average record size (key + JSON value)", Value: bytes / events, Unit: "bytes/event", Goal: "-"},
	}, nil
}

func compressionName(c string) string {
	if c == "" {
		return "lz4"
	}
	return c
}

func counter(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	return 0
}

// measureReplicatorRSS runs `drc replicate` as its own process while one
// transaction of Rows rows passes, and reports its peak RSS (VmHWM).
func measureReplicatorRSS(ctx context.Context, env *Env) ([]Row, error) {
	ds, err := env.Dataset(ctx)
	if err != nil {
		return nil, err
	}
	k, err := env.Kafka()
	if err != nil {
		return nil, err
	}
	bin, err := buildDRC(ctx)
	if err != nil {
		return nil, err
	}
	src := ds.Source
	db, err := sqlOpen(src, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	big := fmt.Sprintf("bigtxn_%d", time.Now().UnixNano()%1e6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+big); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+big+".t LIKE "+ds.DB+"."+ds.Table); err != nil {
		return nil, err
	}
	var start string
	if err := db.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&start); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "drc-bench-rss-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfgPath := filepath.Join(dir, "drc.yaml")
	y := fmt.Sprintf(`cluster: %s
source: {region: a, host: %s, port: %d, user: %s, password: %s}
target: {region: b}
kafka: {brokers: ["%s"], topic: drc.%s}
replicator: {start_gtid: "%s", include: ["%s.*"], server_id: 7999}
log: {format: json}
metrics: {listen: "127.0.0.1:0"}
`, big, src.Host, src.Port, src.User, src.Password, k.Bootstrap, big, start, big)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "replicate", "--config", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "replicate.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	env.Logf("replicator rss: one %d-row transaction", ds.Rows)
	if _, err := db.ExecContext(ctx, "INSERT INTO "+big+".t SELECT * FROM "+ds.DB+"."+ds.Table); err != nil {
		return nil, err
	}
	// Wait until the transaction is published: its GTID is in the tail.
	var end string
	if err := db.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&end); err != nil {
		return nil, err
	}
	want, _ := replicator.ParsePosition("mariadb", end)
	began := time.Now()
	for {
		var got replicator.Position
		var ok bool
		err := harness.Catch(func() {
			msgs := k.ConsumeReadCommitted(env.TB(), "drc."+big, 1<<30, 2*time.Second)
			for i := len(msgs) - 1; i >= 0 && !ok; i-- {
				if j := strings.Index(string(msgs[i].Value), `"gtid_set":"`); j >= 0 {
					s := string(msgs[i].Value[j+12:])
					got, _ = replicator.ParsePosition("mariadb", s[:strings.IndexByte(s, '"')])
					ok = true
				}
			}
		})
		if err != nil {
			return nil, err
		}
		if ok && got.Contains(want) {
			break
		}
		if time.Since(began) > 10*time.Minute {
			return nil, fmt.Errorf("the %d-row transaction was not published in 10 minutes", ds.Rows)
		}
	}
	hwm, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	return []Row{{Metric: fmt.Sprintf("replicator: peak RSS while one %d-row transaction passes", ds.Rows),
		Value: float64(hwm) / 1024, Unit: "MiB", Goal: "goal ≤ 256 MiB"}}, nil
}

// peakRSS reads VmHWM (KiB) of a process.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// buildDRC builds cmd/drc into a temporary directory.
func buildDRC(ctx context.Context) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "drc-bench-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "drc")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/drc")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/drc: %v\n%s", err, out)
	}
	return bin, nil
}
