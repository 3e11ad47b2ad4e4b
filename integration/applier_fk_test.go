package integration

import (
	"fmt"
	"testing"
	"time"
)

// TestApplierForeignKeys: parent and child rows written in adjacent
// autocommit transactions touch different tables, so only their foreign
// key links them. 1,000 parent/child pairs, three rounds of inserts,
// parent-key updates (ON UPDATE CASCADE) and deletes (ON DELETE CASCADE),
// applied by 4 workers: b ends equal to a, with no conflict and no
// orphan, and the applier never stops.
func TestApplierForeignKeys(t *testing.T) {
	p := newApplyPair(t, nil) // 4 workers
	p.a.Exec(t, "CREATE DATABASE fk",
		"CREATE TABLE fk.parent (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
		`CREATE TABLE fk.child (id INT PRIMARY KEY, pid INT, v INT,
			FOREIGN KEY (pid) REFERENCES fk.parent (id) ON UPDATE CASCADE ON DELETE CASCADE) ENGINE=InnoDB`)
	db := p.a.Open(t, "")
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const pairs = 1000
	for round := range 3 {
		base := round * 100000
		for i := range pairs {
			exec("INSERT INTO fk.parent VALUES (?, ?)", base+i, i)
			exec("INSERT INTO fk.child VALUES (?, ?, ?)", base+i, base+i, i)
		}
		for i := range pairs {
			// The child update names the new parent key in its before
			// image only after the cascade has run on b too.
			exec("UPDATE fk.parent SET id = id + 50000 WHERE id = ?", base+i)
			exec("UPDATE fk.child SET v = v + 1 WHERE id = ?", base+i)
		}
		for i := 0; i < pairs; i += 2 {
			exec("DELETE FROM fk.parent WHERE id = ?", base+i+50000)
			// A new child of a surviving parent, right after the delete.
			exec("INSERT INTO fk.child VALUES (?, ?, ?)", base+pairs+i, base+i+1+50000, i)
		}
	}
	waitApplied(t, p.a, p.b, p.cluster, 2*time.Minute)
	assertSameTables(t, p.a, p.b, "fk.parent", "fk.child")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM fk.child c LEFT JOIN fk.parent p ON p.id = c.pid WHERE p.id IS NULL"); n != 0 {
		t.Errorf("b has %d orphan children", n)
	}
	want := int64(3 * (pairs/2 + pairs/2))
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM fk.child"); n != want {
		t.Errorf("b has %d children, want %d", n, want)
	}
	t.Logf("foreign-key retries: %v", fmt.Sprint(p.app.counter(t, "drc_applier_foreign_key_retries_total")))
}
