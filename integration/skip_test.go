package integration

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/replicator"
)

// TestOperatorSkips: each role stops at what it cannot handle, names the
// way past it, and, told to, passes over exactly that transaction, records
// it in drc_meta.skipped and goes on.
func TestOperatorSkips(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v INT)", "INSERT INTO s.t VALUES (1, 1)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)

	// The applier: a record that is not drc's, written between two
	// transactions, stops it at that offset.
	p.k.Produce(t, p.topic, "not a drc record")
	p.a.Exec(t, "INSERT INTO s.t VALUES (2, 2)")
	err := p.app.wait(t, time.Minute)
	m := regexp.MustCompile(`--skip-offset (\d+:\d+)`).FindStringSubmatch(errText(err))
	if !errors.Is(err, applier.ErrDecode) || m == nil {
		t.Fatalf("applier stopped with %v, want ErrDecode naming --skip-offset", err)
	}
	skip, err := applier.ParseSkipOffset(m[1])
	if err != nil {
		t.Fatal(err)
	}
	ac := applyConfig(p.b, p.k, p.cluster, p.topic)
	ac.SkipOffsets = []applier.SkipOffset{skip}
	p.app = startApplier(t, ac)
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "s.t")
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM drc_meta.skipped WHERE cluster = ? AND role = 'applier' AND gtid = '' AND kafka_offsets = ?",
		p.cluster, m[1][len("0:"):]+"-"+m[1][len("0:"):]); n != 1 {
		t.Errorf("drc_meta.skipped rows for the applier's skip: %d, want 1", n)
	}
	if n := p.app.counter(t, "drc_applier_operator_skips_total"); n != 1 {
		t.Errorf("operator skips = %v", n)
	}
	// A restart without the flag does not meet it again.
	p.app.stop(t)
	p.app = startApplier(t, applyConfig(p.b, p.k, p.cluster, p.topic))

	// The replicator: a transaction written while binlog_row_metadata was
	// MINIMAL has no column names; the replicator stops at it on every
	// start.
	p.a.Exec(t, "SET GLOBAL binlog_row_metadata = MINIMAL")
	p.a.Exec(t, "INSERT INTO s.t VALUES (3, 3)")
	p.a.Exec(t, "SET GLOBAL binlog_row_metadata = FULL")
	err = p.rep.wait(t, time.Minute)
	g := regexp.MustCompile(`--skip-gtid (\S+)`).FindStringSubmatch(errText(err))
	if !replicator.IsPermanent(err) || g == nil {
		t.Fatalf("replicator stopped with %v, want a permanent error naming --skip-gtid", err)
	}
	rc := replicatorConfig(p.a, p.k, p.cluster, p.topic)
	rc.SkipGTID = g[1]
	p.rep = startReplicator(t, rc)
	p.a.Exec(t, "INSERT INTO s.t VALUES (4, 4)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM s.t WHERE id = 3"); n != 0 {
		t.Errorf("the skipped row reached b")
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM s.t WHERE id IN (1, 2, 4)"); n != 3 {
		t.Errorf("b has %d of the rows 1, 2, 4", n)
	}
	if n := queryInt(t, p.a, "SELECT COUNT(*) FROM drc_meta.skipped WHERE cluster = ? AND role = 'replicator' AND gtid = ? AND tables = 's.t'", p.cluster, g[1]); n != 1 {
		t.Errorf("drc_meta.skipped rows for the replicator's skip of %s: %d, want 1", g[1], n)
	}
	// Once past, the same flag is refused: the topic holds the position.
	rc2 := rc
	p.rep.stop(t)
	r2 := startReplicator(t, rc2)
	if err := r2.wait(t, time.Minute); err == nil || !regexpMatch(`already holds that transaction`, errText(err)) {
		t.Errorf("a second --skip-gtid %s: %v, want a refusal", g[1], err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
