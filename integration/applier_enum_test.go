package integration

import (
	"testing"
	"time"
)

// TestApplierEnumErrorValue: under a non-strict sql_mode the source stores
// an invalid ENUM value as index 0, the error value, which reads as ” like
// a member ” does. Both must arrive as they are: e+0 (the index) equal on
// a and b for every row, through insert, update and delete.
func TestApplierEnumErrorValue(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE en",
		"CREATE TABLE en.t (id INT PRIMARY KEY, e ENUM('x', '', 'y'), n INT)")
	db := p.a.Open(t, "")
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION sql_mode = ''", // lax: an invalid value becomes index 0
		"INSERT INTO en.t VALUES (1, 'bogus', 1), (2, '', 2), (3, 'x', 3), (4, 'bogus', 4), (5, 'bogus', 5)",
		"UPDATE en.t SET n = n + 10 WHERE id IN (1, 2)",      // before and after images hold index 0 / member ''
		"UPDATE en.t SET e = 'nope' WHERE id = 3",            // a member becomes the error value
		"UPDATE en.t SET e = 'y' WHERE id = 4",               // the error value becomes a member
		"DELETE FROM en.t WHERE id = 5",                      // delete matched on the error value
		"INSERT INTO en.t VALUES (6, 'x', 6), (7, 'bad', 7)", // a batch mixing both
	} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "en.t")
	q := "SELECT GROUP_CONCAT(CONCAT(id, ':', e+0, ':', n) ORDER BY id) FROM en.t"
	var ga, gb string
	if err := p.a.Open(t, "").QueryRow(q).Scan(&ga); err != nil {
		t.Fatal(err)
	}
	if err := p.b.Open(t, "").QueryRow(q).Scan(&gb); err != nil {
		t.Fatal(err)
	}
	if ga != gb {
		t.Errorf("ENUM indexes differ:\na %s\nb %s", ga, gb)
	}
	if want := "1:0:11,2:2:12,3:0:3,4:3:4,6:1:6,7:0:7"; ga != want {
		t.Errorf("source rows %s, want %s (the test's premise)", ga, want)
	}
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
}
