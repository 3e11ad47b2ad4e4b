package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestKeyValuesJSONKeepsOrder(t *testing.T) {
	k := KeyValues{{Column: "z", Value: "1"}, {Column: "a`b", Value: "é"}}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"z":"1","a`+"`"+`b":"é"}`; got != want {
		t.Errorf("json = %s, want %s", got, want)
	}
	var back KeyValues
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 2 || back[0].Column != "z" || back[1].Value != "é" {
		t.Errorf("round trip = %v, %v", back, err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		statuses []TableStatus
		want     int
	}{
		{[]TableStatus{StatusConsistent}, 0},
		{[]TableStatus{StatusConsistent, StatusRepaired}, 0},
		{[]TableStatus{StatusConsistent, StatusDrift}, 1},
		{[]TableStatus{StatusUnsettled}, 1},
		{[]TableStatus{StatusNotComparable, StatusConsistent}, 1},
		{[]TableStatus{StatusDrift, StatusError}, 2},
	}
	for _, tt := range tests {
		r := &Report{}
		for _, s := range tt.statuses {
			r.Tables = append(r.Tables, TableResult{Status: s})
		}
		if got := r.ExitCode(); got != tt.want {
			t.Errorf("%v: exit %d, want %d", tt.statuses, got, tt.want)
		}
	}
	if ExitCode(nil, errNope) != 2 || ExitCode(&Report{}, nil) != 0 {
		t.Error("ExitCode(report, err)")
	}
}

var errNope = errors.New("nope")

func TestReportOutputs(t *testing.T) {
	r := &Report{RunID: "abc", Mode: "dry-run", Settle: true,
		Tables: []TableResult{
			{Table: "d.t", Status: StatusDrift, Rows: 10, Chunks: 1, Changed: 1, Missing: 1},
			{Table: "d.nokey", Status: StatusNotComparable, Reason: "no primary key and no unique key"},
		},
		Differences: []Difference{
			{Table: "d.t", Key: KeyValues{{"id", "1"}}, Kind: KindChanged, Columns: []string{"v"}, RepairSQL: "UPDATE `d`.`t` SET `v` = 'x' WHERE `id` = 1 LIMIT 1"},
			{Table: "d.t", Key: KeyValues{{"id", "2"}}, Kind: KindMissing, RepairSQL: "INSERT INTO `d`.`t` (`id`, `v`) VALUES (2, 'y')"},
		},
		Unsettled: []Unsettled{{Table: "d.t", Key: KeyValues{{"id", "9"}}, Reason: "target applier checkpoint did not pass source position 0-*-5 within 1m0s"}},
	}
	r.summarize()
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"d.t", "drift", "not comparable: no primary key", "(id=1)", "changed", "NOT reported as drift",
		"SET SESSION sql_log_bin = 0;", "UPDATE `d`.`t` SET `v` = 'x' WHERE `id` = 1 LIMIT 1;", "2 difference(s)"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Summary     Summary `json:"summary"`
		Differences []struct {
			Table   string            `json:"table"`
			Key     map[string]string `json:"key"`
			Kind    string            `json:"kind"`
			Columns []string          `json:"columns"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	if back.Summary.Differences != 2 || back.Summary.Unsettled != 1 || back.Summary.NotComparable != 1 {
		t.Errorf("summary = %+v", back.Summary)
	}
	d := back.Differences[0]
	if d.Table != "d.t" || d.Key["id"] != "1" || d.Kind != "changed" || len(d.Columns) != 1 || d.Columns[0] != "v" {
		t.Errorf("difference = %+v", d)
	}
}

func TestStateKeyRoundTrip(t *testing.T) {
	for _, k := range []rowKey{{[]byte("1")}, {[]byte{}, []byte{0, 0xff, '"'}}, {[]byte("é"), []byte("x")}} {
		back, err := decodeKey(encodeKey(k))
		if err != nil {
			t.Fatal(err)
		}
		if back.id() != k.id() {
			t.Errorf("round trip %q → %q", k, back)
		}
	}
}

func TestRunIDStable(t *testing.T) {
	a := RunID("c", []string{"d.a", "d.b"}, false)
	if a != RunID("c", []string{"d.b", "d.a"}, false) {
		t.Error("run id depends on table order")
	}
	if a == RunID("c", []string{"d.a", "d.b"}, true) || a == RunID("c2", []string{"d.a", "d.b"}, false) {
		t.Error("run id ignores repair or cluster")
	}
}

func TestConfigValidate(t *testing.T) {
	c := NewConfig()
	err := c.Validate()
	if err == nil {
		t.Fatal("empty config validated")
	}
	for _, want := range []string{"reconcile.source", "reconcile.target", "reconcile.cluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	c.SourceDSN, c.TargetDSN, c.Cluster = "a", "b", "demo"
	if err := c.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	c.Concurrency = 0
	c.Tables = []string{"nodot"}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "reconcile.concurrency: must be 1..64, got 0") || !strings.Contains(err.Error(), "reconcile.tables") {
		t.Errorf("got %v", err)
	}
}

// FuzzDecodeKey: saved keys come back from the target's drc_meta.
func FuzzDecodeKey(f *testing.F) {
	f.Add(`["31","c3a9"]`)
	f.Add(`[""]`)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := decodeKey(s)
		if err != nil {
			return
		}
		back, err := decodeKey(encodeKey(k))
		if err != nil || back.id() != k.id() {
			t.Fatalf("%q: round trip %q, %v", s, back, err)
		}
	})
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	m1, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("second registration: %v", err)
	}
	m1.rows.Add(2)
	m2.rows.Add(3)
	var pb dto.Metric
	if err := m2.rows.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if got := pb.GetCounter().GetValue(); got != 5 {
		t.Errorf("rows = %v, want 5 (one series)", got)
	}
}
