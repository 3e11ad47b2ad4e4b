package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestTwoWayRacesConvergeByDefault: with both appliers stopped, a and b
// write the same rows differently (update/update, delete/update,
// insert/insert); started again with the default conflict policy (auto),
// each side records its conflicts and both end with the same rows: region
// a's, whose name sorts first.
func TestTwoWayRacesConvergeByDefault(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testTwoWayRacesConvergeByDefault(t, f) })
	}
}

func testTwoWayRacesConvergeByDefault(t *testing.T, flavor harness.Flavor) {
	p := startTwoWayOn(t, flavor, [2]uint32{9201, 9202}) // default conflict policy: auto
	a, b, ca, cb := p.a, p.b, p.ca, p.cb

	a.Exec(t, "CREATE DATABASE rc", "CREATE TABLE rc.t (id INT PRIMARY KEY, v INT, note VARCHAR(10))")
	var base []string
	for i := 1; i <= 60; i++ {
		base = append(base, fmt.Sprintf("(%d, 0, 'base')", i))
	}
	a.Exec(t, "INSERT INTO rc.t VALUES "+strings.Join(base, ","))
	waitApplied(t, a, b, ca, time.Minute)
	p.appB.stop(t)
	p.appA.stop(t)

	// The races, one transaction per row on each side.
	for i := 1; i <= 20; i++ { // update/update
		a.Exec(t, fmt.Sprintf("UPDATE rc.t SET v = 1, note = 'a' WHERE id = %d", i))
		b.Exec(t, fmt.Sprintf("UPDATE rc.t SET v = 2, note = 'b' WHERE id = %d", i))
	}
	for i := 21; i <= 40; i++ { // delete on a, update on b
		a.Exec(t, fmt.Sprintf("DELETE FROM rc.t WHERE id = %d", i))
		b.Exec(t, fmt.Sprintf("UPDATE rc.t SET v = 2, note = 'b' WHERE id = %d", i))
	}
	for i := 41; i <= 60; i++ { // update on a, delete on b
		a.Exec(t, fmt.Sprintf("UPDATE rc.t SET v = 1, note = 'a' WHERE id = %d", i))
		b.Exec(t, fmt.Sprintf("DELETE FROM rc.t WHERE id = %d", i))
	}
	for i := 61; i <= 80; i++ { // insert/insert
		a.Exec(t, fmt.Sprintf("INSERT INTO rc.t VALUES (%d, 1, 'a')", i))
		b.Exec(t, fmt.Sprintf("INSERT INTO rc.t VALUES (%d, 2, 'b')", i))
	}

	startApplier(t, p.acB)
	startApplier(t, p.acA)
	waitApplied(t, a, b, ca, 2*time.Minute)
	waitApplied(t, b, a, cb, 2*time.Minute)
	if d, nd := firstDiffs(t, a, b, "rc.t"); nd > 0 {
		t.Errorf("rc.t differs between a and b after the races:\n%s", d)
	}
	// Region a's rows won everywhere: 1..20 and 41..80 are a's, 21..40
	// are deleted.
	if got := tableText(t, a, "rc.t"); strings.Contains(got, ":b") || strings.Count(got, ":a") != 60 {
		t.Errorf("a's rows did not win on a: %s", got)
	}
	if n := conflictCount(t, b, ca) + conflictCount(t, a, cb); n == 0 {
		t.Error("no conflict recorded for the races")
	}
}
