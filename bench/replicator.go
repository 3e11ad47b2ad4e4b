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

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// KeyReplicatorRate is the replicator's publish rate, for later suites.
const KeyReplicatorRate = "replicator.events_per_s"

// measureReplicator publishes the dataset's binlog range to a fresh topic
// with an in-process replicator and times it from the first to the last
// published event, so the Kafka client's start-up is not counted. It
// also reports the CPU seconds per 1M rows of drc plus the broker from the
// start to the last event, against the bare producer plus the broker.
func measureReplicator(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	ds, k, err := env.DatasetAndKafka(ctx, f)
	if err != nil {
		return nil, err
	}
	// A broker just started runs interpreted until its JIT has compiled
	// the produce path, which takes longer than one publish of the
	// dataset: the faster of two publishes counts (the bare producer
	// after them meets a warm broker too).
	compression := os.Getenv("DRC_BENCH_COMPRESSION") // default lz4, as in production
	var pub published
	for range 2 {
		p, err := publishDataset(ctx, k, ds, func(rc *replicator.Config) { rc.Compression = compression })
		if err != nil {
			return nil, err
		}
		if p.Rate > pub.Rate {
			pub = p
		}
	}
	rate, events, bytes, pubCPU := pub.Rate, pub.Events, pub.Bytes, pub.CPU
	base, _ := env.Result(FlavorKey(f, KeyBinlogDecode))
	// The same number of records of the same size through a bare sarama
	// transactional producer: the ceiling Kafka sets on this machine.
	bareSpan, err := StartCPU(CPUProc{"producer", 0}, CPUProc{"broker", k.Pid()})
	if err != nil {
		return nil, err
	}
	bare, err := bareProduceRate(ctx, k.Bootstrap, pub.Topic+".bare", ds.Rows, int(bytes/events))
	if err != nil {
		return nil, fmt.Errorf("bare sarama produce: %w", err)
	}
	bareCPU, err := bareSpan.Stop()
	if err != nil {
		return nil, err
	}
	pubPerM, barePerM := pubCPU.PerMillion(ds.Rows, "drc", "broker"), bareCPU.PerMillion(ds.Rows)
	return []Row{
		{Metric: flavorMetric(f, fmt.Sprintf("bare sarama transactional producer, %d records of %d bytes, lz4, 4 MiB transactions", ds.Rows, int(bytes/events))),
			Value: bare, Unit: "records/s", Goal: "baseline"},
		{Metric: flavorMetric(f, "replicator publish rate against the bare producer"), Value: rate / bare, Unit: "ratio", Goal: "-"},
		{Key: FlavorKey(f, KeyReplicatorRate), Metric: flavorMetric(f, fmt.Sprintf("replicator: row events published to Kafka (%d rows, compression %s, 1 partition, faster of 2)", ds.Rows, compressionName(compression))),
			Value: rate, Unit: "events/s", Goal: Ratio(rate, base, "bare decode", "≥ 0.5")},
		{Metric: flavorMetric(f, "replicator: record bytes published"), Value: rate * bytes / events / (1 << 20), Unit: "MiB/s", Goal: "-"},
		{Metric: flavorMetric(f, "replicator: average record size (key + JSON value)"), Value: bytes / events, Unit: "bytes/event", Goal: "-"},
		{Metric: flavorMetric(f, fmt.Sprintf("CPU cost, bare producer + broker (%s)", bareCPU.Describe(ds.Rows))),
			Value: barePerM, Unit: "CPU s/1M rows", Goal: "baseline"},
		// The source's binlog dump is outside the ratio: the bare producer
		// reads no binlog (the decode baseline does).
		{Metric: flavorMetric(f, fmt.Sprintf("CPU cost, replicator publish: drc + broker, start to last event (%s)", pubCPU.Describe(ds.Rows))),
			Value: pubPerM, Unit: "CPU s/1M rows", Goal: Ratio(pubPerM, barePerM, "bare producer", "")},
	}, nil
}

// published is what publishDataset measured.
type published struct {
	Topic         string
	Rate          float64 // events/s, first to last published event
	Events, Bytes float64 // drc_replicator_events_total and _bytes_total
	CPU           CPUUse  // drc, broker and source, from the start to the last event
}

// publishDataset publishes the dataset's binlog range to a fresh topic with
// an in-process replicator, configured as mutate changes it, times
// it from the first to the last published event, so the Kafka client's
// start-up is not counted, and stops the replicator.
func publishDataset(ctx context.Context, k *harness.Kafka, ds *Dataset, mutate func(*replicator.Config)) (published, error) {
	reg := prometheus.NewRegistry()
	cfg := datasetReplicator(ds, k, "bench", 7000)
	mutate(&cfg)
	r, err := replicator.New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		return published{}, err
	}
	span, err := StartCPU(CPUProc{"drc", 0}, CPUProc{"broker", k.Pid()}, CPUProc{"source", ds.Source.Pid()})
	if err != nil {
		return published{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	var first time.Time
	var events, bytes float64
	deadline := time.Now().Add(10 * time.Minute)
	for {
		select {
		case err := <-done:
			stopped = true
			return published{}, fmt.Errorf("replicator stopped: %v", err)
		case <-ctx.Done():
			return published{}, ctx.Err()
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
			return published{}, fmt.Errorf("published %.0f of %d rows in 10 minutes", events, ds.Rows)
		}
	}
	secs := time.Since(first).Seconds()
	use, err := span.Stop()
	if err != nil {
		return published{}, err
	}
	return published{Topic: cfg.Topic, Rate: events / secs, Events: events, Bytes: bytes, CPU: use}, nil
}

func compressionName(c string) string {
	if c == "" {
		return "lz4"
	}
	return c
}

// counter is the sum of the counter's series in g, 0 when it has none.
func counter(g prometheus.Gatherer, name string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// measureRSS runs `drc replicate` as its own process while one
// transaction of Rows rows passes, then `drc apply` as its own process
// while it is applied, and reports the peak RSS (VmHWM) of each.
func measureRSS(ctx context.Context, env *Env) ([]Row, error) {
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
	if err := db.QueryRowContext(ctx, mysqlconn.MariaDB.PositionQuery()).Scan(&start); err != nil {
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
	if err := db.QueryRowContext(ctx, mysqlconn.MariaDB.PositionQuery()).Scan(&end); err != nil {
		return nil, err
	}
	want, _ := gtid.Parse(gtid.MariaDB, end)
	began := time.Now()
	for {
		var got replicator.Position
		var ok bool
		err := harness.Catch(func() {
			msgs := k.ConsumeReadCommitted(env.TB(), "drc."+big, 1<<30, 2*time.Second)
			for i := len(msgs) - 1; i >= 0 && !ok; i-- {
				if j := strings.Index(string(msgs[i].Value), `"gtid_set":"`); j >= 0 {
					s := string(msgs[i].Value[j+12:])
					got, _ = gtid.Parse(gtid.MariaDB, s[:strings.IndexByte(s, '"')])
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
	rows := []Row{{Metric: fmt.Sprintf("replicator: peak RSS while one %d-row transaction passes", ds.Rows),
		Value: float64(hwm) / 1024, Unit: "MiB", Goal: "goal ≤ 256 MiB"}}

	// The applier, as its own process, applies the same topic into a fresh
	// region b that has the table.
	var name, create string
	if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE "+big+".t").Scan(&name, &create); err != nil {
		return rows, err
	}
	target, tdb, err := env.startServer("region b", 2)
	if err != nil {
		return rows, err
	}
	defer tdb.Close()
	create = strings.Replace(create, "CREATE TABLE `t`", "CREATE TABLE "+big+".t", 1)
	for _, q := range []string{"CREATE DATABASE " + big, create} {
		if _, err := tdb.ExecContext(ctx, q); err != nil {
			return rows, fmt.Errorf("region b: %.60s: %w", q, err)
		}
	}
	y += fmt.Sprintf("target: {region: b, host: %s, port: %d, user: %s, password: %s}\napplier: {workers: %d}\n",
		target.Host, target.Port, target.User, target.Password, applierWorkers)
	y = strings.Replace(y, "target: {region: b}\n", "", 1)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		return rows, err
	}
	apply := exec.CommandContext(ctx, bin, "apply", "--config", cfgPath)
	alog, err := os.Create(filepath.Join(dir, "apply.log"))
	if err != nil {
		return rows, err
	}
	defer alog.Close()
	apply.Stdout, apply.Stderr = alog, alog
	env.Logf("applier rss: applying the %d-row transaction", ds.Rows)
	if err := apply.Start(); err != nil {
		return rows, err
	}
	exited := make(chan error, 1)
	go func() { exited <- apply.Wait() }()
	defer func() {
		_ = apply.Process.Kill()
		<-exited
	}()
	began = time.Now()
	for {
		cps, err := applier.ReadCheckpoint(ctx, tdb, big)
		if err != nil {
			return rows, err
		}
		if covers(cps, want) {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			return rows, fmt.Errorf("drc apply exited: %v (log %s)", err, alog.Name())
		case <-ctx.Done():
			return rows, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(began) > 10*time.Minute {
			return rows, fmt.Errorf("the %d-row transaction was not applied in 10 minutes", ds.Rows)
		}
	}
	took := time.Since(began)
	hwm, err = peakRSS(apply.Process.Pid)
	if err != nil {
		return rows, err
	}
	var n int
	if err := tdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+big+".t").Scan(&n); err != nil {
		return rows, err
	}
	if n != ds.Rows {
		return rows, fmt.Errorf("region b holds %d rows after the transaction, want %d", n, ds.Rows)
	}
	return append(rows, Row{Metric: fmt.Sprintf("applier: peak RSS while one %d-row transaction is applied (%.1fs, max_queue_bytes 64 MiB)", ds.Rows, took.Seconds()),
		Value: float64(hwm) / 1024, Unit: "MiB", Goal: "-"}), nil
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

// bareProduceRate produces n records of size bytes with the replicator's
// producer settings (idempotent, one request in flight, acks=all, lz4,
// transactions of about 4 MiB) and returns records per second.
func bareProduceRate(ctx context.Context, broker, topic string, n, size int) (float64, error) {
	// The connection as the replicator makes it (kafkaconn), against the
	// harness's plaintext broker.
	sc, err := kafkaconn.Conn{Brokers: []string{broker}, Version: kafkaconn.DefaultVersion, ClientID: "drc-bench"}.Config()
	if err != nil {
		return 0, err
	}
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Transaction.ID = "bench-" + topic
	sc.Producer.Return.Successes = false
	sc.Producer.Compression = sarama.CompressionLZ4
	sc.Producer.Flush.Bytes = 4 << 20
	sc.Producer.Flush.Messages = 8000
	sc.Producer.Flush.MaxMessages = 10000
	sc.Producer.Flush.Frequency = 2 * time.Millisecond
	admin, err := sarama.NewClusterAdmin([]string{broker}, sc)
	if err != nil {
		return 0, err
	}
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	admin.Close()
	if err != nil {
		return 0, err
	}
	p, err := sarama.NewAsyncProducer([]string{broker}, sc)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	go func() {
		for range p.Errors() {
		}
	}()
	// Sysbench-like text: compressible about as much as real rows.
	val := []byte(strings.Repeat(`{"id":123456,"k":498765,"c":"83868641912-28773972837-60736120486-75162659906",`, size/70+1))[:size]
	perTxn := max(1, (4<<20)/size)
	start := time.Now()
	for sent := 0; sent < n; {
		if err := p.BeginTxn(); err != nil {
			return 0, err
		}
		for i := 0; i < perTxn && sent < n; i, sent = i+1, sent+1 {
			select {
			case p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(val)}:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if err := p.CommitTxn(); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
