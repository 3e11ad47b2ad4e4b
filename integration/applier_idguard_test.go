package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/integration/harness"
)

// guardIDs configures the ID guard on ids.* (id and ref) with regions a=1
// and b=2.
func guardIDs(c *applier.Config) {
	c.Tables = append(c.Tables, applier.TablePolicy{Table: "ids.*", IDColumns: []string{"id", "ref"}})
	c.Regions = map[string]int{"a": 1, "b": 2}
}

// regionNode runs an idgen node of region number region on m's drc_meta
// until the test ends.
func regionNode(t *testing.T, m *harness.Server, region int) *idgen.Node {
	t.Helper()
	n := newIDGenNode(t, idgenConfig(region, m.Open(t, ""), "drc_meta"))
	runIDGenNode(t, n)
	return n
}

func nextID(t *testing.T, n *idgen.Node) int64 {
	t.Helper()
	id, err := n.NextID()
	for err != nil && idgen.IsRetryable(err) {
		time.Sleep(time.Millisecond)
		id, err = n.NextID()
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// guardConflicts reads the foreign_id conflicts of cluster on m.
func guardConflicts(t *testing.T, m *harness.Server, cluster string) []struct {
	resolution string
	detail     map[string]any
} {
	t.Helper()
	rows, err := m.Open(t, "").Query(`SELECT resolution, detail FROM drc_meta.conflicts
		WHERE cluster = ? AND kind = 'foreign_id' ORDER BY id`, cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []struct {
		resolution string
		detail     map[string]any
	}
	for rows.Next() {
		var res string
		var detail sql.NullString
		if err := rows.Scan(&res, &detail); err != nil {
			t.Fatal(err)
		}
		c := struct {
			resolution string
			detail     map[string]any
		}{resolution: res}
		if err := json.Unmarshal([]byte(detail.String), &c.detail); err != nil {
			t.Fatalf("detail %q: %v", detail.String, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplierIDGuardOneWay: rows written on a with a's idgen pass the
// guard; a writer on a that uses region b's IDs stops the applier under
// the default policy, with the row recorded and not applied; under
// foreign_id: record the row and an AUTO_INCREMENT-style value are applied
// and recorded.
func TestApplierIDGuardOneWay(t *testing.T) {
	p := newApplyPair(t, guardIDs)
	p.a.Exec(t, "CREATE DATABASE ids",
		"CREATE TABLE ids.orders (id BIGINT PRIMARY KEY, ref BIGINT UNSIGNED NULL, note VARCHAR(20))")
	nodeA := regionNode(t, p.a, 1)
	// Region b's idgen, on b's own server: a misconfigured writer in a
	// that was handed it.
	nodeB := regionNode(t, p.b, 2)

	db := p.a.Open(t, "")
	var ids []int64
	for i := range 200 {
		id := nextID(t, nodeA)
		var ref any
		if i%3 == 0 {
			ref = nextID(t, nodeA)
		}
		if _, err := db.Exec("INSERT INTO ids.orders VALUES (?, ?, 'n')", id, ref); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Updates that keep the IDs, and one that sets a new ref of a's.
	for _, id := range ids[:20] {
		if _, err := db.Exec("UPDATE ids.orders SET note = 'u' WHERE id = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("UPDATE ids.orders SET ref = ? WHERE id = ?", nextID(t, nodeA), ids[1]); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "ids.orders")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Fatalf("conflicts = %d for rows with a's own IDs, want 0", n)
	}

	// The misconfigured writer: a row of a whose key is one of b's IDs, in
	// a transaction with a good row before it.
	bad := nextID(t, nodeB)
	good := nextID(t, nodeA)
	p.a.Exec(t, fmt.Sprintf("BEGIN; INSERT INTO ids.orders VALUES (%d, NULL, 'good'); INSERT INTO ids.orders VALUES (%d, NULL, 'bad'); COMMIT", good, bad))
	err := p.app.wait(t, time.Minute)
	if !errors.Is(err, applier.ErrConflict) || !applier.IsPermanent(err) {
		t.Fatalf("applier stopped with %v, want a permanent ErrConflict", err)
	}
	t.Logf("applier stopped: %v", err)
	for _, id := range []int64{good, bad} {
		if n := queryInt(t, p.b, "SELECT COUNT(*) FROM ids.orders WHERE id = ?", id); n != 0 {
			t.Errorf("b has row %d of the stopped transaction", id)
		}
	}
	cs := guardConflicts(t, p.b, p.cluster)
	if len(cs) != 1 || cs[0].resolution != "stopped" {
		t.Fatalf("foreign_id conflicts = %+v, want one stopped", cs)
	}
	parts, _ := cs[0].detail["id"].(map[string]any)
	if cs[0].detail["column"] != "id" || parts["region"] != float64(2) || cs[0].detail["id_region_name"] != "b" ||
		cs[0].detail["origin"] != "a" || parts["id"] != fmt.Sprint(bad) {
		t.Errorf("conflict detail = %v", cs[0].detail)
	}
	if n := p.app.counter(t, "drc_applier_conflicts_total"); n != 1 {
		t.Errorf("drc_applier_conflicts_total = %v, want 1", n)
	}

	// Restarted, it stops again at the same transaction.
	app := startApplier(t, with(applyConfig(p.b, p.k, p.cluster, p.topic), guardIDs))
	if err := app.wait(t, time.Minute); !errors.Is(err, applier.ErrConflict) {
		t.Fatalf("restarted applier: %v, want ErrConflict", err)
	}

	// foreign_id: record applies it, and a value idgen never issued.
	p.a.Exec(t, "INSERT INTO ids.orders VALUES (5, NULL, 'auto-increment')")
	app = startApplier(t, with(applyConfig(p.b, p.k, p.cluster, p.topic), guardIDs, func(c *applier.Config) { c.ForeignID = "record" }))
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "ids.orders")
	cs = guardConflicts(t, p.b, p.cluster)
	// BIGINT values travel as strings (event format v1).
	// The stopped one (twice: the first run and the restart), then the two
	// recorded while applied.
	// The two recorded transactions may be applied by different workers,
	// so their conflict rows can be in either order.
	if len(cs) != 4 || cs[2].resolution != "source_applied" || cs[3].resolution != "source_applied" {
		t.Fatalf("foreign_id conflicts = %+v, want 2 stopped then 2 source_applied", cs)
	}
	five := cs[3]
	if cs[2].detail["value"] == "5" {
		five = cs[2]
	}
	if r, _ := five.detail["reason"].(string); five.detail["value"] != "5" || !strings.Contains(r, "not a drc id") || five.detail["id"] != nil {
		t.Errorf("detail of the value 5 = %v", five.detail)
	}
	app.stop(t)
}

// with returns c changed by each of mutate.
func with(c applier.Config, mutate ...func(*applier.Config)) applier.Config {
	for _, m := range mutate {
		m(&c)
	}
	return c
}

// TestTwoWayIDGuard: each region writes with its own idgen, two writers
// per side inserting and updating at once; both appliers check every row
// and neither trips. Then a writer in b that uses a's idgen stops a's
// applier.
func TestTwoWayIDGuard(t *testing.T) {
	p := startTwoWay(t, [2]uint32{9201, 9202}, guardIDs)
	p.a.Exec(t, "CREATE DATABASE ids", "CREATE TABLE ids.t (id BIGINT PRIMARY KEY, ref BIGINT NULL, region CHAR(1), v INT)")
	waitApplied(t, p.a, p.b, p.ca, time.Minute)
	nodeA, nodeB := regionNode(t, p.a, 1), regionNode(t, p.b, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var commits atomic.Int64
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	write := func(db *sql.DB, n *idgen.Node, region string) {
		defer wg.Done()
		var mine []int64
		for i := 0; ctx.Err() == nil; i++ {
			var err error
			if i%3 != 2 || len(mine) == 0 {
				var id, ref int64
				if id, err = n.NextID(); err == nil {
					ref, err = n.NextID()
				}
				if err == nil {
					_, err = db.Exec("INSERT INTO ids.t VALUES (?, ?, ?, 0)", id, ref, region)
					mine = append(mine, id)
				}
			} else {
				_, err = db.Exec("UPDATE ids.t SET v = v + 1 WHERE id = ?", mine[i%len(mine)])
			}
			if idgen.IsRetryable(err) {
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("writer %s: %w", region, err)
				return
			}
			commits.Add(1)
		}
	}
	dbA, dbB := p.a.Open(t, ""), p.b.Open(t, "")
	for range 2 {
		wg.Add(2)
		go write(dbA, nodeA, "a")
		go write(dbB, nodeB, "b")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitApplied(t, p.a, p.b, p.ca, 2*time.Minute)
	waitApplied(t, p.b, p.a, p.cb, 2*time.Minute)
	assertSameTables(t, p.a, p.b, "ids.t")
	t.Logf("commits: %d", commits.Load())
	for _, side := range []struct {
		m       *harness.Server
		cluster string
	}{{p.b, p.ca}, {p.a, p.cb}} {
		if cs := guardConflicts(t, side.m, side.cluster); len(cs) != 0 {
			t.Errorf("foreign_id conflicts for %s: %+v", side.cluster, cs)
		}
	}
	if n := p.appA.counter(t, "drc_applier_conflicts_total") + p.appB.counter(t, "drc_applier_conflicts_total"); n != 0 {
		t.Errorf("conflicts counted: %v", n)
	}

	// A writer in b handed a's idgen: a's applier stops on it.
	bad := nextID(t, nodeA)
	p.b.Exec(t, fmt.Sprintf("INSERT INTO ids.t VALUES (%d, NULL, 'b', 0)", bad))
	if err := p.appA.wait(t, time.Minute); !errors.Is(err, applier.ErrConflict) {
		t.Fatalf("a's applier: %v, want ErrConflict", err)
	}
	cs := guardConflicts(t, p.a, p.cb)
	if len(cs) != 1 || cs[0].detail["origin"] != "b" || cs[0].detail["id_region_name"] != "a" {
		t.Fatalf("foreign_id conflicts on a = %+v", cs)
	}
}
