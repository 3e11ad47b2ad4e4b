package applier

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/replicator/event"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"42", 42, true},
		{"-7", -7, true},
		{`"9223372036854775807"`, 9223372036854775807, true},
		{`"9223372036854775808"`, 0, false}, // BIGINT UNSIGNED above int64
		{"12345678901234567890", 0, false},
		{`"1.5"`, 0, false},
		{"1e3", 0, false},
		{`""`, 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseID([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseID(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// guardFixture: table shop.orders (id, ref, note) with id and ref guarded,
// regions a=1 and b=2, and IDs composed with the default layout.
type guardFixture struct {
	t      *testing.T
	g      *idGuard
	pl     *plan
	tbl    *event.Table
	layout idgen.Layout
	now    time.Time
}

func newGuardFixture(t *testing.T) *guardFixture {
	layout := idgen.DefaultLayout()
	g, err := newIDGuard(layout, map[string]int{"a": 1, "b": 2})
	if err != nil {
		t.Fatal(err)
	}
	tbl := &event.Table{DB: "shop", Name: "orders", Columns: []event.Column{{Name: "id"}, {Name: "ref"}, {Name: "note"}},
		PK: []string{"id"}, PKIndex: []int{0}}
	return &guardFixture{t: t, g: g, tbl: tbl, pl: &plan{tbl: tbl, ids: []int{0, 1}}, layout: layout,
		now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
}

// id composes an ID of region issued a minute before now.
func (f *guardFixture) id(region, node int) string {
	l := f.layout
	elapsed := f.now.Add(-time.Minute).Sub(l.StartTime) / l.TimeUnit
	v := int64(elapsed)<<(l.SequenceBits+l.MachineBits()) | 5<<l.MachineBits() | int64(l.MachineID(region, node))
	return strconv.FormatInt(v, 10)
}

func (f *guardFixture) row(vals ...string) *event.Row {
	r := &event.Row{Table: f.tbl}
	for _, v := range vals {
		if v == "" {
			r.Values = append(r.Values, nil)
			continue
		}
		r.Values = append(r.Values, json.RawMessage(v))
	}
	return r
}

func TestIDGuardCheck(t *testing.T) {
	f := newGuardFixture(t)
	insert := func(origin string, vals ...string) *event.Record {
		return &event.Record{Op: event.OpInsert, Origin: origin, DB: "shop", Table: "orders", After: f.row(vals...)}
	}
	update := func(before, after *event.Row) *event.Record {
		return &event.Record{Op: event.OpUpdate, Origin: "a", DB: "shop", Table: "orders", Before: before, After: after}
	}
	tests := []struct {
		name    string
		rec     *event.Record
		wantCol int // -1: passes
		want    error
	}{
		{"own region", insert("a", f.id(1, 3), f.id(1, 4), `"x"`), -1, nil},
		{"other origin, its own ids", insert("b", f.id(2, 3), f.id(2, 9), `"x"`), -1, nil},
		{"null id", insert("a", f.id(1, 3), "null", `"x"`), -1, nil},
		{"unsigned as string", insert("a", `"`+f.id(1, 3)+`"`, f.id(1, 3), `"x"`), -1, nil},
		{"foreign in first column", insert("a", f.id(2, 3), f.id(1, 3), `"x"`), 0, idgen.ErrForeignID},
		{"foreign in second column", insert("a", f.id(1, 3), f.id(2, 3), `"x"`), 1, idgen.ErrForeignID},
		{"auto increment value", insert("a", "17", f.id(1, 3), `"x"`), 0, idgen.ErrNotDRCID},
		{"zero", insert("a", "0", f.id(1, 3), `"x"`), 0, idgen.ErrNotDRCID},
		{"not an integer", insert("a", `"abc"`, f.id(1, 3), `"x"`), 0, idgen.ErrNotDRCID},
		{"origin without a number", insert("c", f.id(1, 3), f.id(1, 3), `"x"`), 0, idgen.ErrForeignID},
		{"update keeping a bad id", update(f.row("17", f.id(1, 3), `"x"`), f.row("17", f.id(1, 3), `"y"`)), -1, nil},
		{"update changing to a foreign id", update(f.row(f.id(1, 3), f.id(1, 3), `"x"`), f.row(f.id(1, 3), f.id(2, 1), `"x"`)), 1, idgen.ErrForeignID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := f.g.check(tt.rec, f.pl, f.now)
			if tt.wantCol < 0 {
				if got != nil {
					t.Fatalf("check = column %d: %v, want it to pass", got.col, got.reason)
				}
				return
			}
			if got == nil {
				t.Fatalf("check passed, want column %d to fail with %v", tt.wantCol, tt.want)
			}
			if got.col != tt.wantCol || !errors.Is(got.reason, tt.want) {
				t.Fatalf("check = column %d: %v; want column %d: %v", got.col, got.reason, tt.wantCol, tt.want)
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(got.detail), &d); err != nil {
				t.Fatalf("detail %s: %v", got.detail, err)
			}
			if d["column"] != f.tbl.Columns[tt.wantCol].Name || d["origin"] != tt.rec.Origin || d["reason"] == "" {
				t.Errorf("detail %s", got.detail)
			}
		})
	}
}

func TestIDGuardDetailAndDescribe(t *testing.T) {
	f := newGuardFixture(t)
	foreign := f.id(2, 9)
	r := &event.Record{Op: event.OpInsert, Origin: "a", DB: "shop", Table: "orders", After: f.row(foreign, f.id(1, 1), `"x"`)}
	got := f.g.check(r, f.pl, f.now)
	if got == nil {
		t.Fatal("check passed a foreign id")
	}
	var d struct {
		Value        json.Number `json:"value"`
		Origin       string      `json:"origin"`
		OriginRegion int         `json:"origin_region"`
		ID           idgen.Parts `json:"id"`
		IDRegionName string      `json:"id_region_name"`
	}
	if err := json.Unmarshal([]byte(got.detail), &d); err != nil {
		t.Fatal(err)
	}
	if string(d.Value) != foreign || d.OriginRegion != 1 || d.ID.Region != 2 || d.ID.Node != 9 || d.IDRegionName != "b" ||
		!d.ID.Time.Equal(f.now.Add(-time.Minute)) {
		t.Errorf("detail %s decoded as %+v", got.detail, d)
	}
	msg := f.g.describe(r, got)
	if !strings.Contains(msg, "region 2 (b) by node 9") || !strings.Contains(msg, "written in region a") {
		t.Errorf("describe = %q", msg)
	}
	if strings.Contains(msg, foreign) {
		t.Errorf("describe %q contains the row value", msg)
	}
}

func TestIDGuardRegionsOutsideLayout(t *testing.T) {
	if _, err := newIDGuard(idgen.DefaultLayout(), map[string]int{"a": 8}); err == nil || !strings.Contains(err.Error(), "region a is numbered 8") {
		t.Fatalf("newIDGuard with region 8 of 3 bits: %v", err)
	}
}

func TestIDGuardNoAllocations(t *testing.T) {
	f := newGuardFixture(t)
	r := &event.Record{Op: event.OpInsert, Origin: "a", DB: "shop", Table: "orders", After: f.row(f.id(1, 3), f.id(1, 4), `"x"`)}
	if n := testing.AllocsPerRun(100, func() {
		if f.g.check(r, f.pl, f.now) != nil {
			t.Fatal("check failed")
		}
	}); n != 0 {
		t.Errorf("check of a passing row allocates %v times", n)
	}
}

func TestPoliciesIDColumns(t *testing.T) {
	p, err := newPolicies("auto", "apply", "stop", []TablePolicy{
		{Table: "shop.orders", IDColumns: []string{"id", "customer_id"}, ForeignID: "record"},
		{Table: "shop.*", IDColumns: []string{"id"}},
		{Table: "logs.*", Conflict: "stop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.IDColumns("shop", "orders"); strings.Join(got, ",") != "id,customer_id" {
		t.Errorf("IDColumns(shop.orders) = %v", got)
	}
	if got := p.IDColumns("shop", "items"); strings.Join(got, ",") != "id" {
		t.Errorf("IDColumns(shop.items) = %v", got)
	}
	if got := p.IDColumns("logs", "x"); got != nil {
		t.Errorf("IDColumns(logs.x) = %v", got)
	}
	if p.ForeignID("shop", "orders") != ForeignIDRecord || p.ForeignID("shop", "items") != ForeignIDStop {
		t.Errorf("ForeignID: orders %s, items %s", p.ForeignID("shop", "orders"), p.ForeignID("shop", "items"))
	}
	if !p.guarded() {
		t.Error("guarded() = false")
	}
	if _, err := newPolicies("auto", "apply", "skip", nil); err == nil || !strings.Contains(err.Error(), "applier.foreign_id") {
		t.Errorf("foreign_id skip: %v", err)
	}
}
