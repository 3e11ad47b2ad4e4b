package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
)

// TestApplierGroupsBacklog builds a backlog of small transactions while the
// applier is stopped, then applies it with one worker: the transactions
// queued behind the busy worker are applied in groups, and the target ends
// equal to the source with every transaction counted once.
func TestApplierGroupsBacklog(t *testing.T) {
	p := newApplyPair(t, func(c *applier.Config) { c.Workers = 1 })
	p.a.Exec(t, "CREATE DATABASE grp", "CREATE TABLE grp.t (id INT PRIMARY KEY, n INT, s VARCHAR(20))")
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	p.app.stop(t)

	const txns = 400
	for i := 0; i < txns; i++ {
		p.a.Exec(t, fmt.Sprintf("BEGIN; INSERT INTO grp.t VALUES (%d, 0, 'x'); UPDATE grp.t SET n = n + 1 WHERE id = %d; UPDATE grp.t SET s = 'y' WHERE id = %d; COMMIT", i, i/2, i/3))
	}
	ac := applyConfig(p.b, p.k, p.cluster, p.topic)
	ac.Workers = 1
	p.app = startApplier(t, ac)
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	assertSameTables(t, p.a, p.b, "grp.t")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	n := p.app.counter(t, "drc_applier_grouped_transactions_total")
	t.Logf("%v of %d transactions were applied inside a group", n, txns)
	if n < 1 {
		t.Errorf("grouped transactions = %v, want some: %d queued behind one worker", n, txns)
	}
	// Every source transaction counts once, grouped or not; heartbeats
	// add a few.
	if n := p.app.counter(t, "drc_applier_transactions_total"); n < txns {
		t.Errorf("transactions applied = %v, want at least %d", n, txns)
	}
}
