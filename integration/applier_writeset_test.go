package integration

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
)

// TestApplierWriteSetUniqueIndexLocks: issue 19 item 7's table, a DATETIME(6)
// primary key beside a BIGINT UNSIGNED unique key, under small
// transactions that change primary keys, swap unique values, delete and
// re-insert them. Each of those inserts a unique-index entry whose value is
// still in the index, delete-marked, and InnoDB's duplicate check then
// next-key locks the entries around it, rows of other transactions, even
// under READ COMMITTED. A backlog applied by 4 workers must see no lock
// wait (a missed dependency ends in innodb_lock_wait_timeout and a
// restart), no conflict, and b must end equal to a.
func TestApplierWriteSetUniqueIndexLocks(t *testing.T) {
	const lockWait = 2 * time.Second
	p := newApplyPair(t, func(c *applier.Config) { c.LockWaitTimeout = lockWait })
	p.a.Exec(t, "CREATE DATABASE ws",
		"CREATE TABLE ws.t (ts DATETIME(6) PRIMARY KEY, u BIGINT UNSIGNED UNIQUE, v INT) ENGINE=InnoDB")
	// Rows 100 s apart, u 10 apart, above 2^63.
	const rows, base = 400, uint64(1) << 63
	p.a.Exec(t, fmt.Sprintf(`INSERT INTO ws.t
		SELECT TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq * 100 SECOND + INTERVAL (seq %% 2) * 250000 MICROSECOND,
			%d + seq * 10, 0
		FROM ws.seq_0_to_%d`, base, rows-1))
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	p.app.stop(t) // a backlog, so that the workers run it concurrently

	db := p.a.Open(t, "")
	db.SetMaxOpenConns(1)
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	present := make([]uint64, 0, 2*rows) // u values of a's rows, but NULLs
	for i := range uint64(rows) {
		present = append(present, base+i*10)
	}
	taken := map[uint64]bool{}
	for _, u := range present {
		taken[u] = true
	}
	var freed []uint64 // deleted, to insert again
	inserted := 0
	newTS := func() string {
		inserted++
		// Apart from the seeded rows and from their +1 s updates.
		return fmt.Sprintf("TIMESTAMP'2027-01-01 00:00:00' + INTERVAL %d SECOND + INTERVAL %d MICROSECOND", inserted*100, inserted%3*5)
	}
	rnd := rand.New(rand.NewPCG(19, 7))
	pick := func() (int, uint64) { i := rnd.IntN(len(present)); return i, present[i] }
	drop := func(i int) { present[i] = present[len(present)-1]; present = present[:len(present)-1] }
	counts := map[string]int{}
	const txns = 3000
	for range txns {
		switch op := rnd.IntN(100); {
		case op < 30:
			counts["primary key change"]++
			_, u := pick()
			exec(fmt.Sprintf("UPDATE ws.t SET ts = ts + INTERVAL 1 SECOND WHERE u = %d", u))
		case op < 45:
			_, x := pick()
			_, y := pick()
			if x == y {
				continue
			}
			counts["swap"]++
			// Through 1, which every swap frees again.
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				fmt.Sprintf("UPDATE ws.t SET u = 1 WHERE u = %d", x),
				fmt.Sprintf("UPDATE ws.t SET u = %d WHERE u = %d", x, y),
				fmt.Sprintf("UPDATE ws.t SET u = %d WHERE u = 1", y),
			} {
				if _, err := tx.Exec(q); err != nil {
					tx.Rollback()
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		case op < 60:
			counts["update"]++
			_, u := pick()
			exec(fmt.Sprintf("UPDATE ws.t SET v = v + 1 WHERE u = %d", u))
		case op < 80:
			if rnd.IntN(10) == 0 {
				counts["insert NULL"]++
				exec("INSERT INTO ws.t VALUES (" + newTS() + ", NULL, 1)")
				continue
			}
			// Between two seeded values: in a gap of the unique index.
			u := base + uint64(rnd.IntN(rows))*10 + 1 + uint64(rnd.IntN(9))
			if taken[u] {
				continue
			}
			counts["insert"]++
			taken[u] = true
			present = append(present, u)
			exec(fmt.Sprintf("INSERT INTO ws.t VALUES (%s, %d, 2)", newTS(), u))
		case op < 90:
			counts["delete"]++
			i, u := pick()
			drop(i)
			freed = append(freed, u)
			exec(fmt.Sprintf("DELETE FROM ws.t WHERE u = %d", u))
		default:
			if len(freed) == 0 {
				continue
			}
			counts["re-insert"]++
			u := freed[0]
			freed = freed[1:]
			present = append(present, u)
			exec(fmt.Sprintf("INSERT INTO ws.t VALUES (%s, %d, 3)", newTS(), u))
		}
	}
	t.Logf("source transactions: %v", counts)

	ac := applyConfig(p.b, p.k, p.cluster, p.topic)
	ac.LockWaitTimeout = lockWait
	p.app = startApplier(t, ac)
	// A missed dependency costs a lock wait and then a minute of serial
	// apply; give it the time to finish, so that the failure is reported
	// as what it is.
	waitApplied(t, p.a, p.b, p.cluster, 4*time.Minute)
	assertSameTables(t, p.a, p.b, "ws.t")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	if n := applierErrors(t, p.app, "mysql_lock"); n != 0 {
		t.Errorf("sessions ended by a lock wait or deadlock = %v, want 0: the write-set missed a dependency", n)
	}
	t.Logf("dependency waits %v, grouped transactions %v",
		p.app.counter(t, "drc_applier_dependency_waits_total"), p.app.counter(t, "drc_applier_grouped_transactions_total"))
}

// applierErrors returns drc_applier_errors_total{kind=kind}.
func applierErrors(t *testing.T, ra *runningApplier, kind string) float64 {
	t.Helper()
	mfs, err := ra.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "drc_applier_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
