package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
)

// TestApplierTriggers: a trigger's effects are in the source binlog as
// rows of their own, so a target trigger must not fire for replicated rows.
// Under the default (applier.triggers: stop) a replicated CREATE TRIGGER is
// not applied, the audit rows arrive once, and a trigger that someone
// creates on the target stops the applier, naming it, before the row is
// applied. Under fire, the target trigger runs (and duplicates, as
// documented).
func TestApplierTriggers(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE tr",
		"CREATE TABLE tr.t (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE tr.audit (id INT, note VARCHAR(20))", // no key: duplicates would go unnoticed
		"CREATE TRIGGER tr.t_ai AFTER INSERT ON tr.t FOR EACH ROW INSERT INTO tr.audit VALUES (NEW.id, 'inserted')",
		"INSERT INTO tr.t VALUES (1, 1), (2, 2)",
		"INSERT INTO tr.t VALUES (3, 3)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "tr.t", "tr.audit")
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM tr.audit"); n != 3 {
		t.Errorf("b has %d audit rows, want 3 (one per source insert)", n)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'tr'"); n != 0 {
		t.Errorf("the replicated CREATE TRIGGER was applied on b (%d triggers)", n)
	}
	if n := p.app.counter(t, "drc_applier_ddl_total"); n < 1 {
		t.Errorf("drc_applier_ddl_total = %v", n)
	}

	// A trigger created on the target itself stops the applier at the next
	// row for its table, naming it; nothing of that row is applied.
	// The applier reads the target's triggers again every 5 s.
	p.b.Exec(t, "CREATE TRIGGER tr.b_ai AFTER INSERT ON tr.t FOR EACH ROW INSERT INTO tr.audit VALUES (NEW.id, 'on b')")
	time.Sleep(6 * time.Second)
	p.a.Exec(t, "INSERT INTO tr.t VALUES (4, 4)")
	err := p.app.wait(t, time.Minute)
	if !errors.Is(err, applier.ErrTriggers) || !applier.IsPermanent(err) || !strings.Contains(err.Error(), "b_ai") || !strings.Contains(err.Error(), "applier.triggers") {
		t.Fatalf("applier stopped with %v, want ErrTriggers naming b_ai and the setting", err)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM tr.t"); n != 3 {
		t.Errorf("b has %d rows after the stop, want 3", n)
	}

	// With triggers: fire the DBA accepts that it runs.
	app := startApplier(t, func() applier.Config {
		c := applyConfig(p.b, p.k, p.cluster, p.topic)
		c.Triggers = applier.TriggersFire
		return c
	}())
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	app.stop(t)
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM tr.audit WHERE id = 4"); n != 2 {
		t.Errorf("with triggers: fire, b has %d audit rows for id 4, want 2 (the source's and b's trigger)", n)
	}
}

// TestApplierRefusesSystemVersionedTables: a system-versioned table cannot
// be applied exactly (its row_start/row_end travel in the rows, and the
// target writes history of its own); the applier stops at its first row
// with an error that names the table and the way out, and applies nothing
// of it.
func TestApplierRefusesSystemVersionedTables(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE sv",
		"CREATE TABLE sv.t (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING",
		"INSERT INTO sv.t VALUES (1, 1)")
	err := p.app.wait(t, time.Minute)
	if !errors.Is(err, applier.ErrUnsupportedTable) || !applier.IsPermanent(err) ||
		!strings.Contains(err.Error(), "`sv`.`t`") || !strings.Contains(err.Error(), "replicator.exclude") {
		t.Fatalf("applier stopped with %v, want ErrUnsupportedTable naming sv.t and replicator.exclude", err)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM sv.t"); n != 0 {
		t.Errorf("b has %d rows of the refused table", n)
	}
}
