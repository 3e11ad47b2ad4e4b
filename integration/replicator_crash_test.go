package integration

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator"
)

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// drcBinary builds cmd/drc once per test binary, for tests that need a
// process to SIGKILL.
func drcBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := harness.RepoRoot()
		if err != nil {
			buildOnce.err = err
			return
		}
		dir, err := os.MkdirTemp("", "drc-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "drc")
		cmd := exec.Command("go", "build", "-o", buildOnce.path, "./cmd/drc")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("go build ./cmd/drc: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// chaosKills is how many SIGKILLs a crash test delivers: n in make test,
// DRC_CHAOS_KILLS in make chaos.
func chaosKills(n int) int {
	if v, err := strconv.Atoi(os.Getenv("DRC_CHAOS_KILLS")); err == nil && v > 0 {
		return v
	}
	return n
}

// writeConfig writes a drc YAML config for a source, a target and a broker.
func writeConfig(t *testing.T, src, dst *harness.Server, k *harness.Kafka, cluster, topic, extra string) string {
	t.Helper()
	if dst == nil {
		dst = src
	}
	y := fmt.Sprintf(`cluster: %s
source: {region: a, flavor: %s, host: %s, port: %d, user: %s, password: %s}
target: {region: b, flavor: %s, host: %s, port: %d, user: %s, password: %s}
kafka: {brokers: ["%s"], topic: %s}
log: {format: json}
replicator: {heartbeat_interval: 250ms}
%s`, cluster, src.Flavor, src.Host, src.Port, src.User, src.Password, dst.Flavor, dst.Host, dst.Port, dst.User, dst.Password, k.Bootstrap, topic, extra)
	p := filepath.Join(t.TempDir(), "drc.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startAt sets the replicator's start_gtid in the config writeConfig wrote
// at cfg: the replicator then starts at pos whenever it gets going.
func startAt(t *testing.T, cfg, pos string) {
	t.Helper()
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withStart := strings.Replace(string(text), "heartbeat_interval: 250ms}", "heartbeat_interval: 250ms, start_gtid: \""+pos+"\"}", 1)
	if withStart == string(text) {
		t.Fatal("the config has no replicator block to extend")
	}
	if err := os.WriteFile(cfg, []byte(withStart), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sysbench runs a sysbench command against db and fails the test on error.
func sysbench(t *testing.T, db *harness.Server, args ...string) *exec.Cmd {
	t.Helper()
	base := []string{"oltp_write_only", "--db-driver=mysql", "--mysql-host=127.0.0.1",
		fmt.Sprintf("--mysql-port=%d", db.Port), "--mysql-user=" + db.User, "--mysql-password=" + db.Password,
		"--mysql-db=sbtest", "--tables=2", "--table-size=2000"}
	return exec.Command("sysbench", append(base, args...)...)
}

// binlogFiles lists the server's binlog files, oldest first.
func binlogFiles(t *testing.T, conn *sql.DB) []string {
	t.Helper()
	rows, err := conn.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns() // MySQL adds an Encrypted column
	var files []string
	for rows.Next() {
		var f string
		dest := []any{&f}
		for range cols[1:] {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// sourceDataGTIDs lists, in binlog order, the GTIDs of transactions that
// wrote rows to tables of db, read from the source's own binlogs.
func sourceDataGTIDs(t *testing.T, conn *sql.DB, db string) []string {
	t.Helper()
	files := binlogFiles(t, conn)
	// MariaDB shows "BEGIN GTID 1-2-3"; MySQL "SET @@SESSION.GTID_NEXT= 'uuid:3'".
	gtidRE := regexp.MustCompile(`GTID (\d+-\d+-\d+)|GTID_NEXT= '([^']+)'`)
	var out []string
	for _, f := range files {
		rows, err := conn.Query("SHOW BINLOG EVENTS IN '" + f + "'")
		if err != nil {
			t.Fatal(err)
		}
		cur, marked := "", false
		for rows.Next() {
			var log, typ, info string
			var pos, server, end any
			if err := rows.Scan(&log, &pos, &typ, &server, &end, &info); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "Gtid":
				if m := gtidRE.FindStringSubmatch(info); m != nil {
					cur, marked = m[1]+m[2], false
				}
			case "Table_map":
				if !marked && strings.Contains(info, "("+db+".") {
					out = append(out, cur)
					marked = true
				}
			}
		}
		rows.Close()
	}
	return out
}

// waitPublished waits until the topic's committed tail covers pos.
func waitPublished(t *testing.T, k *harness.Kafka, topic, pos string, timeout time.Duration) []wireRecord {
	t.Helper()
	want, err := gtid.Parse(gtidFlavor(pos), pos)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		recs := decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<30, 2*time.Second))
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Last {
				got, err := gtid.Parse(gtidFlavor(pos), recs[i].GTIDSet)
				if err != nil {
					t.Fatal(err)
				}
				if got.Contains(want) {
					return recs
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s does not reach %s within %s", topic, pos, timeout)
		}
	}
}

// assertExactlyOnce checks that the topic holds every data transaction of
// the source exactly once, in the source's commit order.
func assertExactlyOnce(t *testing.T, recs []wireRecord, want []string) {
	t.Helper()
	// The source list holds row transactions; DDL is published too but
	// is not part of it.
	ddl := map[string]bool{}
	for _, r := range recs {
		if r.Op == "ddl" {
			ddl[r.GTID] = true
		}
	}
	var gtids []string
	for _, g := range checkTransactions(t, dataRecords(recs)) {
		if !ddl[g] {
			gtids = append(gtids, g)
		}
	}
	seen := make(map[string]int, len(gtids))
	for i, g := range gtids {
		if j, dup := seen[g]; dup {
			t.Fatalf("transaction %s published twice (positions %d and %d)", g, j, i)
		}
		seen[g] = i
	}
	if len(gtids) != len(want) {
		t.Errorf("published %d data transactions, source binlog has %d", len(gtids), len(want))
	}
	for i := range min(len(gtids), len(want)) {
		if gtids[i] != want[i] {
			t.Fatalf("transaction %d: published %s, source order has %s", i, gtids[i], want[i])
		}
	}
}

func TestReplicatorSIGKILLUnderLoad(t *testing.T) {
	t.Run("MariaDB", func(t *testing.T) { testReplicatorSIGKILLUnderLoad(t, harness.FlavorMariaDB, 35, chaosKills(20)) })
	t.Run("MySQL", func(t *testing.T) { testReplicatorSIGKILLUnderLoad(t, harness.FlavorMySQL, 20, chaosKills(10)) })
}

// testReplicatorSIGKILLUnderLoad SIGKILLs the replicator kills times during
// secs seconds of sysbench load.
func testReplicatorSIGKILLUnderLoad(t *testing.T, flavor harness.Flavor, secs, kills int) {
	bin := drcBinary(t)
	src := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 31, GTIDDomainID: 31})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_kill")
	src.Exec(t, "CREATE DATABASE sbtest")
	start := src.BinlogGTIDPos(t)
	cfgPath := writeConfig(t, src, nil, k, "kill", topic, "")
	env := append(os.Environ(), "DRC_REPLICATOR_START_GTID="+start)

	if out, err := sysbench(t, src, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	load := sysbench(t, src, "run", "--time="+strconv.Itoa(secs), "--threads=2", "--rate=150")
	if err := load.Start(); err != nil {
		t.Fatalf("sysbench run: %v", err)
	}
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.Wait() }()

	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "replicate", "--config", cfgPath)
		cmd.Env = env
		logf, err := os.OpenFile(filepath.Join(t.TempDir(), "replicate.log"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < kills; i++ {
		cmd := run()
		time.Sleep(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	final := run()
	if err := <-loadDone; err != nil {
		t.Fatalf("sysbench run: %v", err)
	}
	end := src.BinlogGTIDPos(t)
	recs := waitPublished(t, k, topic, end, 90*time.Second)
	_ = final.Process.Signal(syscall.SIGTERM)
	if err := final.Wait(); err != nil {
		t.Errorf("final replicator exited with %v", err)
	}
	want := sourceDataGTIDs(t, src.Open(t, ""), "sbtest")
	if len(want) < 10*secs {
		t.Fatalf("only %d sysbench transactions in the binlog; the load did not run", len(want))
	}
	assertExactlyOnce(t, recs, want)
	t.Logf("%d transactions published exactly once across %d SIGKILLs", len(want), kills)
}

// countingLog counts log lines by message, for "logged once" assertions.
type countingLog struct {
	t    *testing.T
	mu   sync.Mutex
	msgs map[string]int
}

func (c *countingLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, `msg="`); i >= 0 {
			msg := line[i+5:]
			msg = msg[:strings.IndexByte(msg, '"')]
			c.msgs[msg]++
		}
		c.t.Log(line)
	}
	return len(p), nil
}

func (c *countingLog) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[msg]
}

// writeLoop inserts one row per transaction until stopped, riding out
// source restarts. It counts the commits that succeeded and the attempts
// that failed: a commit cut off by a server shutdown may have committed
// although the client saw an error.
func writeLoop(ctx context.Context, db *sql.DB, n, failed *atomic.Int64) {
	for i := 0; ctx.Err() == nil; i++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO o.t (v) VALUES (?)", i); err == nil {
			n.Add(1)
		} else {
			failed.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runOutage(t *testing.T, flavor harness.Flavor, name string, outage func(src *harness.Server, k *harness.Kafka)) {
	src := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 41, GTIDDomainID: 41})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_" + name)
	src.Exec(t, "CREATE DATABASE o", "CREATE TABLE o.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
	cfg := replicatorConfig(src, k, name, topic)
	cfg.StartGTID = src.BinlogGTIDPos(t)
	logs := &countingLog{t: t, msgs: map[string]int{}}
	r, err := replicator.New(cfg, slogTo(logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("replicator: %v", err)
		}
	}()

	wctx, wcancel := context.WithCancel(context.Background())
	var written, failedWrites atomic.Int64
	db := src.Open(t, "")
	db.SetConnMaxLifetime(time.Second)
	wdone := make(chan struct{})
	go func() { writeLoop(wctx, db, &written, &failedWrites); close(wdone) }()
	// The outage must hit a replicator that is publishing, not one still
	// connecting (its start-up retries would hide the outage).
	if n := len(dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 10, 60*time.Second)))); n == 0 {
		t.Fatal("the replicator published nothing within 60s")
	}
	time.Sleep(2 * time.Second)
	outage(src, k)
	time.Sleep(3 * time.Second)
	wcancel()
	<-wdone

	end := src.BinlogGTIDPos(t)
	recs := waitPublished(t, k, topic, end, 120*time.Second)
	want := sourceDataGTIDs(t, src.Open(t, ""), "o")
	assertExactlyOnce(t, recs, want)
	if got := int64(len(want)); got < written.Load() || got > written.Load()+failedWrites.Load() {
		t.Errorf("source has %d insert transactions, the write loop counted %d commits and %d failed attempts", got, written.Load(), failedWrites.Load())
	}
	// The outage shows either as a failed session (retried with backoff)
	// or as a stalled Kafka call (sarama retrying underneath); either way
	// it is logged once, and so is the recovery.
	failed := logs.count("replication session failed; retrying") + logs.count("kafka unavailable; waiting for it")
	recovered := logs.count("replication recovered") + logs.count("kafka available again")
	if failed < 1 || failed > 2 {
		t.Errorf("failure logged %d times, want once (at most once a minute)", failed)
	}
	if recovered != 1 {
		t.Errorf("recovery logged %d times, want once", recovered)
	}
	t.Logf("%d transactions published exactly once across the outage", len(want))
}

func TestReplicatorKafkaOutage(t *testing.T) {
	for _, c := range []struct {
		flavor harness.Flavor
		down   time.Duration
	}{{harness.FlavorMariaDB, 30 * time.Second}, {harness.FlavorMySQL, 12 * time.Second}} {
		t.Run(c.flavor.Title(), func(t *testing.T) {
			runOutage(t, c.flavor, "kafka_outage", func(_ *harness.Server, k *harness.Kafka) {
				k.Stop(t)
				time.Sleep(c.down)
				k.Start(t)
			})
		})
	}
}

func TestReplicatorSourceRestart(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) {
			runOutage(t, f, "src_restart", func(src *harness.Server, _ *harness.Kafka) {
				src.Stop(t)
				time.Sleep(2 * time.Second)
				src.Start(t)
			})
		})
	}
}

// gtidFlavor tells a GTID set's flavor from its text: MySQL's are
// uuid:interval, MariaDB's domain-server-seq.
func gtidFlavor(set string) string {
	if strings.Contains(set, ":") {
		return "mysql"
	}
	return "mariadb"
}
