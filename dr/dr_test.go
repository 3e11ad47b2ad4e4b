package dr

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator/event"
)

func testPair() Pair {
	a := Server{Region: "a", Flavor: "mariadb", Addr: "10.0.0.1:3306"}
	b := Server{Region: "b", Flavor: "mariadb", Addr: "10.0.0.2:3306"}
	return Pair{
		Forward: Pipeline{Cluster: "demo", Source: a, Target: b},
		Reverse: Pipeline{Cluster: "demo-b", Source: b, Target: a},
	}
}

func TestPairValidate(t *testing.T) {
	if err := testPair().Validate(); err != nil {
		t.Fatalf("a consistent pair: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*Pair)
		want   string
	}{
		"same cluster":        {func(p *Pair) { p.Reverse.Cluster = "demo" }, "same cluster name"},
		"reverse target":      {func(p *Pair) { p.Reverse.Target.Addr = "10.0.0.9:3306" }, "reverse pipeline's target"},
		"reverse source":      {func(p *Pair) { p.Reverse.Source.Region = "c" }, "reverse pipeline's source"},
		"flavors":             {func(p *Pair) { p.Forward.Target.Flavor = "mysql"; p.Reverse.Source.Flavor = "mysql" }, "one flavor"},
		"swapped region name": {func(p *Pair) { p.Reverse.Target.Region = "b" }, "reverse pipeline's target"},
	} {
		p := testPair()
		tc.mutate(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// decodeRecord decodes a v1 record literal.
func decodeRecord(t *testing.T, js string) *event.Record {
	t.Helper()
	rec, err := event.Decode([]byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return rec
}

const recHead = `{"v":1,"cluster":"c","region":"a","origin":"a","gtid":"0-1-5","ts":1,"seq":0,"last":true,"db":"d","table":"t","pk":["id"],"types":{"id":"int","v":"varchar utf8mb4"},`

func TestInverse(t *testing.T) {
	ins := decodeRecord(t, recHead+`"op":"insert","after":{"id":1,"v":"x"}}`)
	inv := inverse(ins)
	if inv.Op != event.OpDelete || inv.After != nil || inv.Before != ins.After {
		t.Errorf("inverse of an insert = %s before %v after %v, want a delete of the inserted row", inv.Op, inv.Before, inv.After)
	}
	del := decodeRecord(t, recHead+`"op":"delete","before":{"id":1,"v":"x"}}`)
	if inv := inverse(del); inv.Op != event.OpInsert || inv.Before != nil || inv.After != del.Before {
		t.Errorf("inverse of a delete = %s, want an insert of the deleted row", inv.Op)
	}
	upd := decodeRecord(t, recHead+`"op":"update","before":{"id":1,"v":"x"},"after":{"id":1,"v":"y"}}`)
	if inv := inverse(upd); inv.Op != event.OpUpdate || inv.Before != upd.After || inv.After != upd.Before {
		t.Errorf("inverse of an update must swap its images")
	}
	same := decodeRecord(t, recHead+`"op":"update","before":{"id":1,"v":"x"},"after":{"id":1,"v":"x"}}`)
	if inv := inverse(same); inv != nil {
		t.Errorf("an update that changed nothing has no inverse, got %+v", inv)
	}
	if ins.Op != event.OpInsert || ins.After == nil {
		t.Error("inverse changed its argument")
	}
}

func TestMergeTxns(t *testing.T) {
	seen := mergeTxns(nil, []Txn{{Thread: 1}, {Thread: 2}}, false)
	seen = mergeTxns(seen, []Txn{{Thread: 2, Killed: true}, {Thread: 3, Killed: true}}, true)
	if len(seen) != 3 || seen[0].Killed || !seen[1].Killed || !seen[2].Killed {
		t.Errorf("merged = %+v: want threads 1, 2, 3 with 2 and 3 killed", seen)
	}
	seen = mergeTxns(seen, []Txn{{Thread: 1, Killed: true}}, false)
	if seen[0].Killed {
		t.Error("a transaction seen again without a kill was marked killed")
	}
}

func TestCovers(t *testing.T) {
	pos, err := gtid.Parse(gtid.MariaDB, "0-1-10")
	if err != nil {
		t.Fatal(err)
	}
	cps := func(sets ...string) []drcmeta.Checkpoint {
		var out []drcmeta.Checkpoint
		for i, s := range sets {
			out = append(out, drcmeta.Checkpoint{Cluster: "c", Part: int32(i), GTIDSet: s})
		}
		return out
	}
	for _, tc := range []struct {
		cps  []drcmeta.Checkpoint
		want bool
	}{
		{nil, false},
		{cps("0-1-10"), true},
		{cps("0-1-12"), true},
		{cps("0-1-9"), false},
		{cps("0-1-12", "0-1-9"), false}, // every partition must contain it
		{cps("0-1-12", "0-1-10"), true},
	} {
		got, err := covers("mariadb", tc.cps, pos)
		if err != nil || got != tc.want {
			t.Errorf("covers(%+v) = %v, %v; want %v", tc.cps, got, err, tc.want)
		}
	}
	if _, err := covers("mariadb", cps("garbage"), pos); err == nil {
		t.Error("an unparsable checkpoint must be an error")
	}
}

func TestPlanSwitchoverListsEveryStepOnce(t *testing.T) {
	p := testPair()
	var rep Report
	rep.addStep(stepChecked, "done", "", time.Now())
	rep.addStep(stepFenced, "resumed", "", time.Now())
	planSwitchover(&rep, p.primary(), p.standby())
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name)
	}
	want := []string{stepChecked, stepFenced, stepFinal, stepDrained, stepPromote, stepStandby, stepReverse}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("plan steps %v, want %v", names, want)
	}
	if !rep.stepDone(stepFenced) || rep.stepDone(stepFinal) {
		t.Error("stepDone: a resumed step is done, a planned one is not")
	}
	if !strings.Contains(rep.Steps[2].Detail, "a (10.0.0.1:3306)") {
		t.Errorf("plan details name the servers: %+v", rep.Steps[2])
	}
}

func TestFenceVariable(t *testing.T) {
	if v := (Server{Flavor: "mysql"}).fenceVariable(); v != "super_read_only" {
		t.Errorf("MySQL fence %q, want super_read_only (binds SUPER accounts too)", v)
	}
	if v := (Server{Flavor: "mariadb"}).fenceVariable(); v != "read_only" {
		t.Errorf("MariaDB fence %q, want read_only", v)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	// The report is stored in drc_meta.dr_operations and read back to
	// resume: every field must survive.
	at := time.Date(2026, 11, 30, 5, 0, 0, 123000000, time.UTC)
	secs := 1.5
	in := Report{Operation: "switchover", Cluster: "c", From: "a", To: "b", Outcome: "done",
		FencedAt: &at, WritesRefusedSeconds: &secs, FinalGTIDSet: "0-1-5", StartGTIDSet: "0-2-3",
		InFlight:   []Txn{{Thread: 7, User: "app", Started: at, RowsModified: 2, Killed: true}},
		Quarantine: &Quarantine{Published: "0-1-4", GTIDs: []string{"0-1-5"}, Transactions: 1, Rows: 2}}
	in.addStep(stepFenced, "done", "x", at)
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Report
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(out)
	if string(raw) != string(again) {
		t.Errorf("report changed in a round trip:\n%s\n%s", raw, again)
	}
}

func TestRefusedIsExitOne(t *testing.T) {
	err := refused("lag %s", "3s")
	if !errors.Is(err, ErrRefused) || outcomeOf(err) != "refused" || outcomeOf(errors.New("x")) != "failed" {
		t.Errorf("refused(...) = %v: want ErrRefused and outcome refused", err)
	}
}

func TestFailoverRefusesCollidingIDRegions(t *testing.T) {
	p := testPair()
	p.Forward.IDGenRegion, p.Reverse.IDGenRegion = 3, 3
	_, err := checkFailover(context.Background(), p, Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "collide") {
		t.Errorf("failover with one idgen region in both configs: %v, want a refusal naming the collision", err)
	}
}
