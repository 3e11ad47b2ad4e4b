package integration

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
)

// applyConfig is an applier of cluster's topic onto target b.
func applyConfig(b *harness.Server, k *harness.Kafka, cluster, topic string) applier.Config {
	return applier.Config{
		Cluster: cluster, Region: "b", Flavor: string(b.Flavor), // the source's flavor: same-flavor pairs
		Host: b.Host, Port: b.Port, User: b.User, Password: b.Password,
		Brokers: []string{k.Bootstrap}, Topic: topic, KafkaVersion: "3.9.0",
		Workers: 4, RetryMaxBackoff: 2 * time.Second,
	}
}

// runningApplier is an in-process applier.Run.
type runningApplier struct {
	cancel context.CancelFunc
	done   chan error
	reg    *prometheus.Registry
}

func startApplier(t *testing.T, cfg applier.Config) *runningApplier {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	a, err := applier.New(cfg, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningApplier{cancel: cancel, done: make(chan error, 1), reg: reg}
	go func() {
		err := a.Run(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("applier stopped", "error", err)
		}
		ra.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ra.done:
		case <-time.After(30 * time.Second):
		}
	})
	return ra
}

func (ra *runningApplier) stop(t *testing.T) {
	t.Helper()
	ra.cancel()
	select {
	case err := <-ra.done:
		ra.done <- err // for the cleanup, which waits on it too
		if err != nil {
			t.Fatalf("applier: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("applier did not stop within 30s of cancel")
	}
}

// wait returns the error Run stopped with, failing if it keeps running.
func (ra *runningApplier) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-ra.done:
		ra.done <- err // for stop and the cleanup, which wait on it too
		return err
	case <-time.After(timeout):
		t.Fatalf("applier still running after %s", timeout)
		return nil
	}
}

// counter sums a counter family in the applier's registry.
func (ra *runningApplier) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := ra.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

// waitApplied waits until b's checkpoint of cluster contains src's current
// binlog position: every transaction src has written so far is applied.
func waitApplied(t *testing.T, src, b *harness.Server, cluster string, timeout time.Duration) {
	t.Helper()
	want, err := mysql.ParseGTIDSet(string(src.Flavor), src.BinlogGTIDPos(t))
	if err != nil {
		t.Fatal(err)
	}
	db := b.Open(t, "")
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		cks, err := applier.ReadCheckpoint(context.Background(), db, cluster)
		if err == nil && len(cks) > 0 {
			last = cks[0].GTIDSet
			got, err := mysql.ParseGTIDSet(string(src.Flavor), last)
			if err == nil && got.Contain(want) {
				t.Logf("applied: checkpoint %s contains %s", last, want)
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("checkpoint of %s on b is %q after %s, want it to contain %s", cluster, last, timeout, want)
}

// checksums returns CHECKSUM TABLE of each table.
func checksums(t *testing.T, m *harness.Server, tables ...string) map[string]int64 {
	t.Helper()
	db := m.Open(t, "")
	out := map[string]int64{}
	for _, tbl := range tables {
		var name string
		var sum sql.NullInt64
		if err := db.QueryRow("CHECKSUM TABLE "+tbl).Scan(&name, &sum); err != nil {
			t.Fatalf("CHECKSUM TABLE %s: %v", tbl, err)
		}
		if !sum.Valid {
			t.Fatalf("CHECKSUM TABLE %s: table missing on %s", tbl, m.Addr())
		}
		out[tbl] = sum.Int64
	}
	return out
}

func assertSameTables(t *testing.T, a, b *harness.Server, tables ...string) {
	t.Helper()
	ca, cb := checksums(t, a, tables...), checksums(t, b, tables...)
	for _, tbl := range tables {
		if ca[tbl] != cb[tbl] {
			// CHECKSUM TABLE hashes the stored record, which an instant
			// ALTER on one side can lay out differently; the rows decide.
			if d, n := firstDiffs(t, a, b, tbl); n > 0 {
				t.Errorf("%s: checksum a=%d b=%d; first differences:\n%s", tbl, ca[tbl], cb[tbl], d)
			}
		}
	}
}

// firstDiffs renders the first rows that differ, in SELECT * order.
func firstDiffs(t *testing.T, a, b *harness.Server, tbl string) (string, int) {
	t.Helper()
	q := "SELECT * FROM " + tbl + " ORDER BY 1"
	ra, rb := queryRows(t, a, q), queryRows(t, b, q)
	var sb strings.Builder
	fmt.Fprintf(&sb, "rows a=%d b=%d\n", len(ra), len(rb))
	n := 0
	if len(ra) != len(rb) {
		n++
	}
	for i := 0; i < max(len(ra), len(rb)) && n < 5; i++ {
		var x, y string
		if i < len(ra) {
			x = ra[i]
		}
		if i < len(rb) {
			y = rb[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "  a: %s\n  b: %s\n", x, y)
			n++
		}
	}
	return sb.String(), n
}

// queryRows returns q's rows, each as its columns' text joined by |.
func queryRows(t *testing.T, m *harness.Server, q string) []string {
	t.Helper()
	rows, err := m.Open(t, "").Query(q)
	if err != nil {
		t.Fatalf("%s on %s: %v", q, m.Addr(), err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "NULL"
			if v != nil {
				parts[i] = string(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func queryInt(t *testing.T, m *harness.Server, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := m.Open(t, "").QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func conflictCount(t *testing.T, b *harness.Server, cluster string) int64 {
	t.Helper()
	var n int64
	err := b.Open(t, "").QueryRow("SELECT COUNT(*) FROM drc_meta.conflicts WHERE cluster = ?", cluster).Scan(&n)
	if err != nil && !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatal(err)
	}
	return n
}

// pairSetup starts a source a, a target b, a replicator of a and an
// applier onto b, with the replicator starting at a's current position.
type applyPair struct {
	a, b    *harness.Server
	k       *harness.Kafka
	cluster string
	topic   string
	rep     *runningReplicator
	app     *runningApplier
}

func newApplyPair(t *testing.T, mutate func(*applier.Config)) *applyPair {
	t.Helper()
	return newApplyPairOn(t, harness.FlavorMariaDB, harness.FlavorMariaDB, mutate)
}

// newApplyPairOn is newApplyPair with source a of flavor fa and target b of
// flavor fb.
func newApplyPairOn(t *testing.T, fa, fb harness.Flavor, mutate func(*applier.Config)) *applyPair {
	t.Helper()
	p := &applyPair{
		a:       harness.StartServer(t, fa, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1}),
		b:       harness.StartServer(t, fb, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2}),
		k:       harness.SharedKafka(t),
		cluster: harness.UniqueName("c"),
	}
	p.topic = "drc." + p.cluster
	rc := replicatorConfig(p.a, p.k, p.cluster, p.topic)
	// A position to start from: a fresh server's binlog has no GTID yet.
	p.a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	rc.StartGTID = p.a.BinlogGTIDPos(t)
	p.rep = startReplicator(t, rc)
	ac := applyConfig(p.b, p.k, p.cluster, p.topic)
	ac.Flavor = string(fa)
	if mutate != nil {
		mutate(&ac)
	}
	p.app = startApplier(t, ac)
	return p
}

func TestApplierReplicatesRowsAndDDL(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testApplierReplicatesRowsAndDDL(t, f) })
	}
}

func testApplierReplicatesRowsAndDDL(t *testing.T, flavor harness.Flavor) {
	p := newApplyPairOn(t, flavor, flavor, func(c *applier.Config) { c.LargeTxnBytes = 1 << 20 })
	p.a.Exec(t,
		"CREATE DATABASE shop",
		"CREATE TABLE shop.items (id INT PRIMARY KEY, sku VARCHAR(20) NOT NULL, name VARCHAR(40), qty INT, price DECIMAL(10,2), total DECIMAL(12,2) AS (qty*price) STORED, UNIQUE KEY (sku))",
		"CREATE TABLE shop.`odd``name` (`col.1` INT, note TEXT)", // no primary key, odd names
		"INSERT INTO shop.items (id, sku, name, qty, price) VALUES (1,'a','apple',5,1.50),(2,'b','pear',7,2.25),(3,'c',NULL,0,0)",
		"UPDATE shop.items SET qty = qty + 1 WHERE id <= 2",
		"DELETE FROM shop.items WHERE id = 3",
		// Swap unique values inside one transaction.
		"BEGIN; UPDATE shop.items SET sku='tmp' WHERE id=1; UPDATE shop.items SET sku='a' WHERE id=2; UPDATE shop.items SET sku='b' WHERE id=1; COMMIT",
		"INSERT INTO shop.`odd``name` VALUES (1,'x'),(1,'x'),(2,NULL)",
		"DELETE FROM shop.`odd``name` WHERE `col.1` = 1 LIMIT 1",
		"UPDATE shop.`odd``name` SET note = 'y' WHERE `col.1` = 2",
		"ALTER TABLE shop.items ADD COLUMN note VARCHAR(10) DEFAULT 'n' AFTER name",
		"INSERT INTO shop.items (id, sku, name, note, qty, price) VALUES (4,'d','fig','new',1,9.99)",
	)
	// A transaction larger than LargeTxnBytes streams.
	var sb strings.Builder
	sb.WriteString("INSERT INTO shop.items (id, sku, name, qty, price) VALUES ")
	for i := 100; i < 20100; i++ {
		if i > 100 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "(%d,'s%d','%s',%d,%d.%02d)", i, i, strings.Repeat("n", 30), i%17, i%1000, i%100)
	}
	p.a.Exec(t, sb.String(), "UPDATE shop.items SET qty = qty + 1 WHERE id % 3 = 0")

	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	assertSameTables(t, p.a, p.b, "shop.items", "shop.`odd``name`")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	if n := p.app.counter(t, "drc_applier_large_transactions_total"); n < 1 {
		t.Errorf("large transactions = %v, want >= 1", n)
	}
	cks, err := applier.ReadCheckpoint(context.Background(), p.b.Open(t, ""), p.cluster)
	if err != nil || len(cks) != 1 || cks[0].Offset <= 0 || cks[0].Origin != "a" {
		t.Fatalf("checkpoint = %+v, %v; want one row with origin a", cks, err)
	}

	// A restart resumes from the checkpoint and applies nothing twice.
	p.app.stop(t)
	p.a.Exec(t, "INSERT INTO shop.items (id, sku, qty, price) VALUES (5,'e',1,1)")
	p.app = startApplier(t, with(applyConfig(p.b, p.k, p.cluster, p.topic), func(c *applier.Config) { c.Flavor = string(flavor) }))
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	assertSameTables(t, p.a, p.b, "shop.items")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts after restart = %d, want 0", n)
	}
}
