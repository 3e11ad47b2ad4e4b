package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// wireRecord is the subset of event format v1 these tests read, decoded
// with encoding/json as any plain consumer would.
type wireRecord struct {
	V       int                        `json:"v"`
	Cluster string                     `json:"cluster"`
	Region  string                     `json:"region"`
	Origin  string                     `json:"origin"`
	GTID    string                     `json:"gtid"`
	TS      int64                      `json:"ts"`
	Seq     int                        `json:"seq"`
	Last    bool                       `json:"last"`
	Op      string                     `json:"op"`
	DB      string                     `json:"db"`
	Table   string                     `json:"table"`
	PK      []string                   `json:"pk"`
	Before  map[string]json.RawMessage `json:"before"`
	After   map[string]json.RawMessage `json:"after"`
	SQL     string                     `json:"sql"`
	GTIDSet string                     `json:"gtid_set"`

	// Where the record is in the topic (not part of the record).
	Partition int32 `json:"-"`
	From      int64 `json:"-"` // first Kafka record of a fragmented record
	Offset    int64 `json:"-"` // its last (the only one if not fragmented)
	Size      int   `json:"-"` // bytes of the JSON
}

func decodeAll(t *testing.T, msgs []*sarama.ConsumerMessage) []wireRecord {
	t.Helper()
	out := make([]wireRecord, 0, len(msgs))
	asm := map[int32]*event.Assembler{}
	for _, m := range msgs {
		a := asm[m.Partition]
		if a == nil {
			a = &event.Assembler{}
			asm[m.Partition] = a
		}
		value, from, whole, err := a.Add(replicator.FragmentHeader(m.Headers), m.Value, m.Offset)
		if err != nil {
			t.Fatalf("partition %d: %v", m.Partition, err)
		}
		if !whole {
			continue
		}
		var r wireRecord
		if err := json.Unmarshal(value, &r); err != nil {
			t.Fatalf("offset %d: not valid JSON: %v\n%.2000s", m.Offset, err, value)
		}
		r.Partition, r.From, r.Offset, r.Size = m.Partition, from, m.Offset, len(value)
		out = append(out, r)
	}
	return out
}

// runningReplicator is an in-process replicator.Run.
type runningReplicator struct {
	cancel context.CancelFunc
	done   chan error
}

func (r *runningReplicator) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup, which waits on it too
		if err != nil {
			t.Fatalf("replicator: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("replicator did not stop within 30s of cancel")
	}
}

func replicatorConfig(db *harness.Server, k *harness.Kafka, cluster, topic string) replicator.Config {
	return replicator.Config{
		Cluster: cluster, Region: "a", Flavor: string(db.Flavor),
		Host: db.Host, Port: db.Port, User: db.User, Password: db.Password,
		ServerID: 9000 + uint32(time.Now().UnixNano()%1000),
		Brokers:  []string{k.Bootstrap}, Topic: topic, KafkaVersion: "3.9.0",
		HeartbeatInterval: 200 * time.Millisecond,
		MaxBackoff:        2 * time.Second,
	}
}

func startReplicator(t *testing.T, cfg replicator.Config) *runningReplicator {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := replicator.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runningReplicator{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := r.Run(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("replicator stopped", "error", err)
		}
		rr.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rr.done:
		case <-time.After(30 * time.Second):
		}
	})
	return rr
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// lastGTID returns the GTID of the session's last transaction.
func lastGTID(t *testing.T, conn *sql.Conn) string {
	t.Helper()
	var g string
	if err := conn.QueryRowContext(context.Background(), "SELECT @@SESSION.last_gtid").Scan(&g); err != nil {
		t.Fatal(err)
	}
	return g
}

// dataRecords drops heartbeats.
func dataRecords(recs []wireRecord) []wireRecord {
	var out []wireRecord
	for _, r := range recs {
		if r.Op != "heartbeat" {
			out = append(out, r)
		}
	}
	return out
}

// checkTransactions asserts the transaction framing of a record stream:
// seq counts from 0, last closes each transaction, gtid_set on last.
func checkTransactions(t *testing.T, recs []wireRecord) (gtids []string) {
	t.Helper()
	want := 0
	for i, r := range recs {
		if r.V != 1 {
			t.Fatalf("record %d: v = %d", i, r.V)
		}
		if r.Seq != want {
			t.Fatalf("record %d (%s %s): seq = %d, want %d", i, r.GTID, r.Op, r.Seq, want)
		}
		if want > 0 && r.GTID != recs[i-1].GTID {
			t.Fatalf("record %d: gtid %s inside transaction %s", i, r.GTID, recs[i-1].GTID)
		}
		// Kafka transaction boundaries: read_committed, the records of one
		// binlog transaction have consecutive offsets. A gap is a commit
		// marker (or aborted records) inside it: a Kafka transaction that
		// committed part of a binlog transaction.
		if want > 0 && r.Partition == recs[i-1].Partition && r.From != recs[i-1].Offset+1 {
			t.Fatalf("transaction %s is split across Kafka transactions: seq %d at offset %d, seq %d at offset %d",
				r.GTID, recs[i-1].Seq, recs[i-1].Offset, r.Seq, r.Offset)
		}
		want++
		if r.Last {
			if r.GTIDSet == "" {
				t.Fatalf("record %d: last record without gtid_set", i)
			}
			gtids = append(gtids, r.GTID)
			want = 0
		}
	}
	if want != 0 {
		t.Fatalf("stream ends inside transaction %s", recs[len(recs)-1].GTID)
	}
	return gtids
}

func TestReplicatorPublishesRowsDDLAndHeartbeats(t *testing.T) {
	src := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_rep")
	src.Exec(t, "CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), qty INT)")

	cfg := replicatorConfig(src, k, "c1", topic)
	cfg.StartGTID = src.BinlogGTIDPos(t)
	rr := startReplicator(t, cfg)

	db := src.Open(t, "shop")
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var want []string
	exec := func(stmts ...string) {
		t.Helper()
		for _, s := range stmts {
			if _, err := conn.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		want = append(want, lastGTID(t, conn))
	}
	exec("BEGIN", "INSERT INTO items VALUES (1,'apple',5),(2,'pear',7)", "UPDATE items SET qty=6 WHERE id=1", "COMMIT")
	exec("DELETE FROM items WHERE id=2")
	exec("ALTER TABLE items ADD COLUMN note VARCHAR(10) DEFAULT 'x'")
	exec("INSERT INTO items (id, name, qty, note) VALUES (3, 'fig', 1, 'new')")
	exec("ALTER TABLE items DROP COLUMN qty")
	exec("UPDATE items SET name='figs' WHERE id=3")

	var recs []wireRecord
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		recs = dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<20, 3*time.Second)))
		if len(recs) >= 8 {
			break
		}
	}
	rr.stop(t)
	all := decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<20, 3*time.Second))
	checkTransactions(t, all)

	got := checkTransactions(t, recs)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published transactions %v, want %v in source order", got, want)
	}
	type row struct{ op, detail string }
	var rows []row
	for _, r := range recs {
		switch r.Op {
		case "ddl":
			rows = append(rows, row{"ddl", r.DB + "." + r.Table + ": " + r.SQL})
		default:
			rows = append(rows, row{r.Op, fmt.Sprintf("%s.%s pk=%v before=%s after=%s", r.DB, r.Table, r.PK, imageString(r.Before), imageString(r.After))})
		}
		if r.Cluster != "c1" || r.Region != "a" || r.Origin != "a" {
			t.Errorf("record %+v: cluster/region/origin wrong", r)
		}
	}
	wantRows := []row{
		{"insert", `shop.items pk=[id] before= after=id=1 name="apple" qty=5`},
		{"insert", `shop.items pk=[id] before= after=id=2 name="pear" qty=7`},
		{"update", `shop.items pk=[id] before=id=1 name="apple" qty=5 after=id=1 name="apple" qty=6`},
		{"delete", `shop.items pk=[id] before=id=2 name="pear" qty=7 after=`},
		{"ddl", `shop.items: ALTER TABLE items ADD COLUMN note VARCHAR(10) DEFAULT 'x'`},
		{"insert", `shop.items pk=[id] before= after=id=3 name="fig" note="new" qty=1`},
		{"ddl", `shop.items: ALTER TABLE items DROP COLUMN qty`},
		{"update", `shop.items pk=[id] before=id=3 name="fig" note="new" after=id=3 name="figs" note="new"`},
	}
	if len(rows) != len(wantRows) {
		t.Fatalf("got %d data records, want %d: %+v", len(rows), len(wantRows), rows)
	}
	for i := range rows {
		if rows[i] != wantRows[i] {
			t.Errorf("record %d:\n got %v\nwant %v", i, rows[i], wantRows[i])
		}
	}

	// Heartbeats travel in the stream too, one record per heartbeat row
	// change (its after image), never the before image as a record of its
	// own.
	hb := 0
	perGTID := map[string]int{}
	for _, r := range all {
		if r.Op == "heartbeat" && r.GTID != "" {
			hb++
			perGTID[r.GTID]++
			if _, ok := r.After["ts"]; !ok || r.DB != "drc_meta" {
				t.Errorf("heartbeat record without drc_meta ts: %+v", r)
			}
			if r.Seq != 0 || !r.Last {
				t.Errorf("heartbeat %s: seq %d last %v, want one record (seq 0, last)", r.GTID, r.Seq, r.Last)
			}
		}
	}
	if hb < 2 {
		t.Errorf("%d heartbeat records published, want several", hb)
	}
	for g, n := range perGTID {
		if n != 1 {
			t.Errorf("heartbeat transaction %s published as %d records, want 1", g, n)
		}
	}
}

func imageString(img map[string]json.RawMessage) string {
	if img == nil {
		return ""
	}
	keys := make([]string, 0, len(img))
	for k := range img {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, img[k])
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Fencing is the Kafka transactional id's; the source's flavor plays no
// part in it (both flavors ran it and passed), so make test runs it on
// MariaDB only.
func TestReplicatorFencing(t *testing.T) {
	src := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 11, GTIDDomainID: 11})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_fence")
	src.Exec(t, "CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")

	cfg := replicatorConfig(src, k, "fence", topic)
	cfg.StartGTID = src.BinlogGTIDPos(t)
	first := startReplicator(t, cfg)
	db := src.Open(t, "f")
	for i := 0; i < 50; i++ {
		if _, err := db.Exec("INSERT INTO t (v) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)

	cfg2 := cfg
	cfg2.ServerID++
	second := startReplicator(t, cfg2)
	for i := 50; i < 100; i++ {
		if _, err := db.Exec("INSERT INTO t (v) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	// Two replicators of one cluster cannot both publish: the transactional
	// id fences one of them (normally the older, unless it was retrying and
	// re-registered first), which must stop with a permanent error and
	// never commit again. The survivor publishes everything exactly once.
	var survivor *runningReplicator
	select {
	case err := <-first.done:
		first.done <- err // for its cleanup
		assertFenced(t, "first", err)
		survivor = second
	case err := <-second.done:
		second.done <- err // for its cleanup
		assertFenced(t, "second", err)
		survivor = first
	case <-time.After(60 * time.Second):
		t.Fatal("both replicators still running 60s after the second started")
	}
	k.ConsumeReadCommitted(t, topic, 100, 60*time.Second)
	survivor.stop(t)
	recs := dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<20, 3*time.Second)))
	gtids := checkTransactions(t, recs)
	seen := map[string]bool{}
	for _, g := range gtids {
		if seen[g] {
			t.Fatalf("transaction %s published twice", g)
		}
		seen[g] = true
	}
	if len(gtids) != 100 {
		t.Fatalf("published %d insert transactions, want 100", len(gtids))
	}
}

func assertFenced(t *testing.T, which string, err error) {
	t.Helper()
	if err == nil || !replicator.IsPermanent(err) || !errors.Is(err, sarama.ErrProducerFenced) && !errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		t.Fatalf("%s replicator ended with %v, want a permanent fenced error", which, err)
	}
	t.Logf("%s replicator stopped: %v", which, err)
}

func TestReplicatorPurgedPosition(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testReplicatorPurgedPosition(t, f) })
	}
}

func testReplicatorPurgedPosition(t *testing.T, flavor harness.Flavor) {
	src := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 21, GTIDDomainID: 21})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_purge")
	src.Exec(t, "CREATE DATABASE p", "CREATE TABLE p.t (id INT PRIMARY KEY)")
	cfg := replicatorConfig(src, k, "purge", topic)
	cfg.HeartbeatInterval = time.Minute // heartbeats would advance the position
	cfg.StartGTID = src.BinlogGTIDPos(t)
	rr := startReplicator(t, cfg)
	src.Exec(t, "INSERT INTO p.t VALUES (1)")
	if n := len(dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 2, 30*time.Second)))); n != 1 {
		t.Fatalf("published %d data records, want 1", n)
	}
	rr.stop(t)

	src.Exec(t, "INSERT INTO p.t VALUES (2)", "FLUSH BINARY LOGS", "INSERT INTO p.t VALUES (3)")
	// PURGE skips a binlog a dump thread still reads, and the stopped
	// replicator's dump thread may linger for a moment: retry until only
	// the newest binlog is left.
	db := src.Open(t, "")
	binlogs := func() []string { return binlogFiles(t, db) }
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		files := binlogs()
		if len(files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binlogs %v still there 30s after PURGE", files)
		}
		src.Exec(t, "PURGE BINARY LOGS TO '"+files[len(files)-1]+"'")
	}

	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	r, err := replicator.New(cfg, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = r.Run(ctx)
	if !errors.Is(err, replicator.ErrPurged) || !strings.Contains(err.Error(), "bootstrap") {
		t.Fatalf("Run after purge = %v, want ErrPurged that says to bootstrap", err)
	}
	t.Logf("purged: %v", err)

	// drc status reports the purged position as an error on the source
	// line, and exits 2.
	code, out, stderr := runStatus(t, "--config", writeConfig(t, src, nil, k, "purge", topic, ""), "--output", "json")
	srcLine, _ := parseStatus(t, out)
	if code != 2 || !strings.Contains(srcLine.Error, "purged") || !strings.Contains(srcLine.Error, "bootstrap") {
		t.Fatalf("drc status after purge: exit %d, source error %q; want exit 2 naming the purged position\n%s\n%s", code, srcLine.Error, out, stderr)
	}
}

func TestReplicatorPreflightNamesTheSetting(t *testing.T) {
	src := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 51, GTIDDomainID: 51,
		ExtraArgs: []string{"--binlog-row-metadata=MINIMAL", "--binlog-row-image=MINIMAL"}})
	src.Exec(t,
		"CREATE USER 'weak'@'127.0.0.1' IDENTIFIED BY 'weak'",
		"GRANT SELECT ON *.* TO 'weak'@'127.0.0.1'")
	k := harness.SharedKafka(t)

	cfg := replicatorConfig(src, k, "pre", harness.UniqueName("drc_pre"))
	assertPreflightSays(t, cfg, "binlog_row_metadata: must be FULL", "binlog_row_image: must be FULL")

	cfg.User, cfg.Password = "weak", "weak"
	r, err := replicator.New(cfg, slogTo(testWriter{t}), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(context.Background())
	for _, want := range []string{"REPLICATION SLAVE ON *.*", "BINLOG MONITOR ON *.*", "drc_meta"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run as an unprivileged user = %v, want it to name %q", err, want)
		}
	}

	// The command exits 2 and names the setting.
	cfgPath := writeConfig(t, src, nil, k, "pre", harness.UniqueName("drc_pre"), "")
	out, err := exec.Command(drcBinary(t), "replicate", "--config", cfgPath).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "binlog_row_metadata") {
		t.Fatalf("drc replicate on a MINIMAL-metadata source: %v, want exit 2 naming binlog_row_metadata\n%s", err, out)
	}
}

// assertPreflightSays runs a replicator of cfg and checks that it stops at
// once with a permanent PreflightError saying each of wants.
func assertPreflightSays(t *testing.T, cfg replicator.Config, wants ...string) {
	t.Helper()
	r, err := replicator.New(cfg, slogTo(testWriter{t}), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(context.Background())
	var pf *replicator.PreflightError
	if !errors.As(err, &pf) || !replicator.IsPermanent(err) {
		t.Fatalf("Run = %v, want a permanent PreflightError", err)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// wait returns the error Run stopped with, failing if it keeps running.
func (r *runningReplicator) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for stop and the cleanup, which wait on it too
		return err
	case <-time.After(timeout):
		t.Fatalf("replicator still running after %s", timeout)
		return nil
	}
}
