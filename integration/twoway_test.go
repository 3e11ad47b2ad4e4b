package integration

import (
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
)

// twoWayWriter writes rows of one region (ids with the given parity) in
// autocommit transactions until stop is closed, and counts its commits.
func twoWayWriter(t *testing.T, db *sql.DB, region string, first, step, n int, stop <-chan struct{}, commits *atomic.Int64, errs chan<- error) {
	var ids []int
	next := first
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		var err error
		if next <= n && (i%3 != 2 || len(ids) == 0) {
			_, err = db.Exec("INSERT INTO tw.t (id, region, v) VALUES (?, ?, 0)", next, region)
			if err == nil {
				ids = append(ids, next)
				next += step
			}
		} else if len(ids) > 0 {
			// Every update changes the row, so every commit is a binlog transaction.
			_, err = db.Exec("UPDATE tw.t SET v = v + 1 WHERE id = ?", ids[i%len(ids)])
		} else {
			return
		}
		if err != nil {
			errs <- fmt.Errorf("writer %s: %w", region, err)
			return
		}
		commits.Add(1)
	}
}

// publishedTxns reads a topic whole and returns its data (non-heartbeat)
// records and the distinct transactions they form.
func publishedTxns(t *testing.T, k *harness.Kafka, topic string) ([]wireRecord, []string) {
	t.Helper()
	recs := dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<20, 5*time.Second)))
	gtids := checkTransactions(t, recs)
	seen := map[string]bool{}
	for _, g := range gtids {
		if seen[g] {
			t.Errorf("%s: transaction %s published twice", topic, g)
		}
		seen[g] = true
	}
	return recs, gtids
}

// TestTwoWayActiveActive runs a replicator and an applier in each
// direction between regions a and b, writes on both sides at once, and
// checks that both converge and that nothing drc applied is published back.
// twoWayPair is regions a and b replicating into each other: a replicator
// per region (clusters ca and cb, topics t1 and t2) and an applier per
// direction, all in process, with the default conflict policy.
type twoWayPair struct {
	a, b       *harness.Server
	k          *harness.Kafka
	ca, cb     string
	t1, t2     string
	acA, acB   applier.Config // b -> a, a -> b
	appA, appB *runningApplier
	ra, rb     replicator.Config // a's and b's replicators
	repA, repB *runningReplicator
}

// mutate, if given, changes both appliers' configs before they start.
func startTwoWay(t *testing.T, replicaIDs [2]uint32, mutate ...func(*applier.Config)) *twoWayPair {
	t.Helper()
	return startTwoWayOn(t, harness.FlavorMariaDB, replicaIDs, mutate...)
}

// startTwoWayOn is startTwoWay with both regions on flavor.
func startTwoWayOn(t *testing.T, flavor harness.Flavor, replicaIDs [2]uint32, mutate ...func(*applier.Config)) *twoWayPair {
	t.Helper()
	p := &twoWayPair{
		a:  harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1}),
		b:  harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2}),
		k:  harness.SharedKafka(t),
		ca: harness.UniqueName("ca"), cb: harness.UniqueName("cb"),
	}
	p.t1, p.t2 = "drc."+p.ca, "drc."+p.cb
	// A position to start from on each side.
	p.a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	p.b.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	p.ra = replicatorConfig(p.a, p.k, p.ca, p.t1)
	p.ra.ServerID, p.ra.StartGTID = replicaIDs[0], p.a.BinlogGTIDPos(t)
	p.repA = startReplicator(t, p.ra)
	p.rb = replicatorConfig(p.b, p.k, p.cb, p.t2)
	p.rb.Region, p.rb.ServerID, p.rb.StartGTID = "b", replicaIDs[1], p.b.BinlogGTIDPos(t)
	p.repB = startReplicator(t, p.rb)
	p.acB = applyConfig(p.b, p.k, p.ca, p.t1)
	p.acA = applyConfig(p.a, p.k, p.cb, p.t2)
	p.acA.Region = "a"
	for _, m := range mutate {
		m(&p.acB)
		m(&p.acA)
	}
	p.appB, p.appA = startApplier(t, p.acB), startApplier(t, p.acA)
	return p
}

func TestTwoWayActiveActive(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testTwoWayActiveActive(t, f) })
	}
}

func testTwoWayActiveActive(t *testing.T, flavor harness.Flavor) {
	p := startTwoWayOn(t, flavor, [2]uint32{9101, 9102})
	a, b, k, ca, cb, t1, t2, appA, appB := p.a, p.b, p.k, p.ca, p.cb, p.t1, p.t2, p.appA, p.appB

	// The schema is created on a only: it must reach b and not come back.
	a.Exec(t, "CREATE DATABASE tw", "CREATE TABLE tw.t (id INT PRIMARY KEY, region CHAR(1), v INT)")
	const setupDDL = 2
	waitApplied(t, a, b, ca, 60*time.Second)

	const n = 400 // ids 1..n: odd written on a, even on b
	dbA, dbB := a.Open(t, ""), b.Open(t, "")
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wa, wb atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(2)
		// Two writers per side, on interleaved ids of the side's parity.
		go func() { defer wg.Done(); twoWayWriter(t, dbA, "a", 1+2*i, 4, n, stop, &wa, errs) }()
		go func() { defer wg.Done(); twoWayWriter(t, dbB, "b", 2+2*i, 4, n, stop, &wb, errs) }()
	}
	time.Sleep(2 * time.Second)
	// DDL during the run, on a: it must reach b and not be published back.
	a.Exec(t, "ALTER TABLE tw.t ADD COLUMN note VARCHAR(10)")
	const runDDL = 1
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("commits: a=%d b=%d", wa.Load(), wb.Load())

	// Convergence: each side's applier checkpoint covers the other's position.
	waitApplied(t, a, b, ca, 120*time.Second)
	waitApplied(t, b, a, cb, 120*time.Second)

	var rowsA int64
	if err := dbA.QueryRow("SELECT COUNT(*) FROM tw.t").Scan(&rowsA); err != nil {
		t.Fatal(err)
	}
	if rowsA < 100 {
		t.Errorf("only %d rows written", rowsA)
	}
	if d, nd := firstDiffs(t, a, b, "tw.t"); nd > 0 {
		t.Errorf("tw.t differs between a and b:\n%s", d)
	}
	for _, m := range []*harness.Server{a, b} {
		var cols int64
		if err := m.Open(t, "").QueryRow("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='tw' AND table_name='t' AND column_name='note'").Scan(&cols); err != nil || cols != 1 {
			t.Errorf("%s: column note present %d, %v; want 1", m.Addr(), cols, err)
		}
	}
	if c := conflictCount(t, b, ca); c != 0 {
		t.Errorf("conflicts on b = %d, want 0", c)
	}
	if c := conflictCount(t, a, cb); c != 0 {
		t.Errorf("conflicts on a = %d, want 0", c)
	}
	for _, m := range []*harness.Server{a, b} {
		var c int64
		err := m.Open(t, "").QueryRow("SELECT COUNT(*) FROM drc_meta.conflicts").Scan(&c)
		if err != nil && !strings.Contains(err.Error(), "doesn't exist") {
			t.Fatal(err)
		}
		if c != 0 {
			t.Errorf("%s: drc_meta.conflicts has %d rows, want 0", m.Addr(), c)
		}
	}

	// No ping-pong: each topic holds exactly its own region's writes.
	recs1, tx1 := publishedTxns(t, k, t1)
	recs2, tx2 := publishedTxns(t, k, t2)
	if want := int(wa.Load()) + setupDDL + runDDL; len(tx1) != want {
		t.Errorf("%s: %d data transactions published, want %d (W_a=%d + %d DDL)", t1, len(tx1), want, wa.Load(), setupDDL+runDDL)
	}
	if want := int(wb.Load()); len(tx2) != want {
		t.Errorf("%s: %d data transactions published, want W_b=%d", t2, len(tx2), want)
	}
	check := func(topic string, recs []wireRecord, region string, parity int) {
		ddl := 0
		for _, r := range recs {
			if r.Origin != region || r.Region != region {
				t.Errorf("%s: record %s %s.%s has region %q origin %q, want %q", topic, r.Op, r.DB, r.Table, r.Region, r.Origin, region)
			}
			if r.Op == "ddl" {
				ddl++
				if region == "b" {
					t.Errorf("%s: DDL published back: %s", topic, r.SQL)
				}
				continue
			}
			img := r.After
			if img == nil {
				img = r.Before
			}
			var id int
			if _, err := fmt.Sscan(string(img["id"]), &id); err != nil || id%2 != parity {
				t.Errorf("%s: %s of row id=%s, written in the other region", topic, r.Op, img["id"])
			}
		}
		t.Logf("%s: %d data records, %d DDL", topic, len(recs), ddl)
	}
	check(t1, recs1, "a", 1)
	check(t2, recs2, "b", 0)

	// The applied DDL kept its origin comment in b's binlog.
	var found bool
	rows, err := dbB.Query("SHOW BINLOG EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var log, typ, info string
		var pos, server, end any
		if err := rows.Scan(&log, &pos, &typ, &server, &end, &info); err != nil {
			t.Fatal(err)
		}
		if typ == "Query" && strings.Contains(info, "ADD COLUMN note") {
			found = true
			if !strings.Contains(info, "/* drc:origin=a */") {
				t.Errorf("b's binlog has the applied DDL without its origin comment: %s", info)
			}
		}
	}
	rows.Close()
	if !found {
		t.Errorf("applied ALTER not found in b's first binlog")
	}

	for _, ra := range []*runningApplier{appA, appB} {
		select {
		case err := <-ra.done:
			t.Fatalf("applier stopped: %v", err)
		default:
		}
	}
}
