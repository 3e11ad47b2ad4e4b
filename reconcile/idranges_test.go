package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/idgen"
)

// composeID builds an ID as sonyflake does: time | sequence | region | node.
func composeID(l idgen.Layout, elapsed int64, seq, region, node int) int64 {
	return elapsed<<(l.SequenceBits+l.MachineBits()) | int64(seq)<<l.MachineBits() | int64(l.MachineID(region, node))
}

func TestDRCBoundsAgreeWithCheck(t *testing.T) {
	odd := idgen.Layout{TimeUnit: 10 * time.Millisecond, StartTime: time.Date(2024, 3, 1, 0, 0, 0, 3e6, time.UTC),
		SequenceBits: 8, RegionBits: 0, NodeBits: 16}
	now := time.Date(2026, 5, 17, 12, 34, 56, 789e6, time.UTC)
	for _, l := range []idgen.Layout{idgen.DefaultLayout(), odd} {
		b := drcBounds(l, now)
		if b.lo > b.hi {
			t.Fatalf("%s: empty bounds %+v", l, b)
		}
		// Region 0 is the region of every in-range ID with region bits 0;
		// ask Check about region 0 and treat foreign as "a drc ID".
		isDRC := func(id int64) bool { return !errors.Is(l.Check(id, 0, now), idgen.ErrNotDRCID) }
		for _, tc := range []struct {
			id   int64
			want bool
		}{
			{0, false}, {-1, false}, {b.lo - 1, false}, {b.lo, true}, {b.lo + 1, true},
			{b.hi - 1, true}, {b.hi, true}, {b.hi + 1, false},
			{composeID(l, 1, 0, 0, 1), true},
		} {
			if got := isDRC(tc.id); got != tc.want {
				t.Errorf("%s: id %d (bounds %d..%d): drc id %v, Check says %v", l, tc.id, b.lo, b.hi, tc.want, got)
			}
			if in := tc.id >= b.lo && tc.id <= b.hi; in != tc.want {
				t.Errorf("%s: id %d: in bounds %v, want %v", l, tc.id, in, tc.want)
			}
		}
	}

	l := idgen.DefaultLayout()
	if b := drcBounds(l, l.StartTime.Add(-2*idgen.MaxSkew)); b.lo <= b.hi {
		t.Errorf("before the layout's start: bounds %+v, want empty", b)
	}
	// Time bits used up: every positive value with a time part is in range.
	if b := drcBounds(l, l.StartTime.Add(100*365*24*time.Hour)); b.hi != math.MaxInt64 {
		t.Errorf("after the time bits run out: hi = %d, want MaxInt64", b.hi)
	}
}

func TestIDGroupsSQL(t *testing.T) {
	got := idGroupsSQL(TableName{DB: "shop", Name: "or`ders"}, "id", idgen.DefaultLayout(), idBounds{lo: 1 << 22, hi: 1<<40 - 1})
	want := "SELECT IF(`id` BETWEEN 4194304 AND 1099511627775, (`id` >> 7) & 7, NULL), " +
		"IF(`id` BETWEEN 4194304 AND 1099511627775, `id` & 127, NULL), " +
		"COUNT(*), MIN(`id`), MAX(`id`) FROM `shop`.`or``ders` WHERE `id` IS NOT NULL GROUP BY 1, 2"
	if got != want {
		t.Errorf("sql:\n got %s\nwant %s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestClassify(t *testing.T) {
	l := idgen.DefaultLayout()
	at := func(elapsed int64) *time.Time { return ptr(l.StartTime.Add(time.Duration(elapsed) * l.TimeUnit)) }
	id := func(elapsed int64, region, node int) string {
		return strconv.FormatInt(composeID(l, elapsed, 7, region, node), 10)
	}
	cl := classifier{layout: l, allowed: map[int]bool{1: true}, names: map[int]string{1: "a", 2: "b"}}
	got, err := cl.classify([]idGroupRow{
		{drc: true, region: 1, node: 3, count: 50, min: id(1000, 1, 3), max: id(5000, 1, 3)},
		{drc: true, region: 2, node: 5, count: 3, min: id(2000, 2, 5), max: id(2500, 2, 5)},
		{count: 4, min: "-7", max: "18446744073709551615"},
		{drc: true, region: 7, node: 0, count: 1, min: id(3000, 7, 0), max: id(3000, 7, 0)},
		{drc: true, region: 1, node: 1, count: 2, min: id(10, 1, 1), max: id(20, 1, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []IDGroup{
		{Status: IDForeign, Region: ptr(2), RegionName: "b", Node: ptr(5), Count: 3, MinID: id(2000, 2, 5), MaxID: id(2500, 2, 5), FirstTime: at(2000), LastTime: at(2500)},
		{Status: IDForeign, Region: ptr(7), Node: ptr(0), Count: 1, MinID: id(3000, 7, 0), MaxID: id(3000, 7, 0), FirstTime: at(3000), LastTime: at(3000)},
		{Status: IDNotDRC, Count: 4, MinID: "-7", MaxID: "18446744073709551615"},
		{Status: IDOK, Region: ptr(1), RegionName: "a", Node: ptr(1), Count: 2, MinID: id(10, 1, 1), MaxID: id(20, 1, 1), FirstTime: at(10), LastTime: at(20)},
		{Status: IDOK, Region: ptr(1), RegionName: "a", Node: ptr(3), Count: 50, MinID: id(1000, 1, 3), MaxID: id(5000, 1, 3), FirstTime: at(1000), LastTime: at(5000)},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("groups:\n got %s\nwant %s", g, w)
	}

	if _, err := cl.classify([]idGroupRow{{drc: true, region: 1, count: 1, min: "x", max: "1"}}); err == nil {
		t.Error("a drc group whose min is not a number: no error")
	}
}

// fakeIDSource is one side's server: its tables and columns, an optional
// stored layout, and rows computes each column's groups.
type fakeIDSource struct {
	layout *idgen.Layout
	tbls   map[TableName][]rawColumn
	rows   func(t TableName, col string, b idBounds) ([]idGroupRow, error)
	asked  []string // table.column of every groups call
}

func (f *fakeIDSource) storedLayout(context.Context) (idgen.Layout, bool, error) {
	if f.layout == nil {
		return idgen.Layout{}, false, nil
	}
	return *f.layout, true, nil
}

func (f *fakeIDSource) tables(context.Context) ([]TableName, error) {
	var out []TableName
	for t := range f.tbls {
		out = append(out, t)
	}
	return out, nil
}

func (f *fakeIDSource) columns(_ context.Context, t TableName) ([]rawColumn, error) {
	return f.tbls[t], nil
}

func (f *fakeIDSource) groups(_ context.Context, t TableName, col string, _ idgen.Layout, b idBounds) ([]idGroupRow, error) {
	f.asked = append(f.asked, t.String()+"."+col)
	return f.rows(t, col, b)
}

var quiet = slog.New(slog.DiscardHandler)

func bigints(names ...string) []rawColumn {
	var out []rawColumn
	for _, n := range names {
		out = append(out, rawColumn{name: n, dataType: "bigint", columnType: "bigint(20)"})
	}
	return out
}

func TestScanSide(t *testing.T) {
	l := idgen.DefaultLayout()
	stored := l
	stored.NodeBits = 6
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := IDRangesConfig{
		SourceDSN: "x", TargetDSN: "y", SourceRegion: "a", TargetRegion: "b",
		Regions: map[string]int{"a": 1, "b": 2}, Layout: l,
		Columns: []IDColumns{
			{Table: "shop.orders", Columns: []string{"id", "Ref"}},
			{Table: "shop.*", Columns: []string{"owner_id"}},
			{Table: "*.*", Columns: []string{"id"}},
		},
		Tables: []string{"shop.*", "mysql.*", "other.t"},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	id := func(region, node int) string { return strconv.FormatInt(composeID(stored, 100, 0, region, node), 10) }
	src := &fakeIDSource{
		layout: &stored,
		tbls: map[TableName][]rawColumn{
			{DB: "shop", Name: "orders"}: bigints("id", "ref"),
			{DB: "shop", Name: "items"}:  bigints("id"), // no owner_id
			{DB: "shop", Name: "carts"}:  {{name: "owner_id", dataType: "int", columnType: "int(11)"}},
			{DB: "shop", Name: "users"}:  bigints("owner_id"),
			{DB: "mysql", Name: "user"}:  bigints("id"), // a system schema: globs skip it
			{DB: "other", Name: "t"}:     bigints("id"),
			{DB: "else", Name: "t"}:      bigints("id"), // not in Tables
		},
		rows: func(t TableName, col string, b idBounds) ([]idGroupRow, error) {
			if want := drcBounds(stored, now); b != want {
				return nil, errors.New("bounds not of the stored layout")
			}
			switch t.String() + "." + col {
			case "shop.orders.id":
				return []idGroupRow{{drc: true, region: 1, node: 2, count: 10, min: id(1, 2), max: id(1, 2)},
					{drc: true, region: 2, node: 3, count: 2, min: id(2, 3), max: id(2, 3)}}, nil
			case "shop.orders.ref":
				return []idGroupRow{{count: 3, min: "1", max: "5"}}, nil
			case "shop.users.owner_id":
				return nil, errors.New("Error 1105: boom")
			}
			return nil, nil
		},
	}
	check := func(twoWay bool, want []IDColumnResult) {
		t.Helper()
		got, err := cfg.scanSide(context.Background(), idSide{name: "target", region: "b", db: src}, twoWay, now, quiet)
		if err != nil {
			t.Fatal(err)
		}
		if got.LayoutFrom != "drc_meta.idgen_layout" || !got.Layout.Equal(stored) || got.RegionID != 2 {
			t.Errorf("side: layout from %s %s, region %d; want the stored layout, region 2", got.LayoutFrom, got.Layout, got.RegionID)
		}
		type brief struct {
			Col             string
			Rows, For, NotD int64
			Err             string
			Statuses        []IDStatus
		}
		short := func(rs []IDColumnResult) (out []brief) {
			for _, r := range rs {
				b := brief{Col: r.Table + "." + r.Column, Rows: r.Rows, For: r.Foreign, NotD: r.NotDRC, Err: r.Error}
				for _, g := range r.Groups {
					b.Statuses = append(b.Statuses, g.Status)
				}
				out = append(out, b)
			}
			return out
		}
		if g, w := short(got.Columns), short(want); !reflect.DeepEqual(g, w) {
			t.Errorf("two-way %v:\n got %+v\nwant %+v", twoWay, g, w)
		}
	}
	check(false, []IDColumnResult{
		{Table: "other.t", Column: "id"},
		{Table: "shop.carts", Column: "owner_id", Error: "id column owner_id of table shop.carts: is int(11), and drc IDs need BIGINT"},
		{Table: "shop.items", Column: "owner_id", Error: "id column owner_id of table shop.items: no such column"},
		{Table: "shop.orders", Column: "id", Rows: 12, Foreign: 2, Groups: []IDGroup{{Status: IDForeign}, {Status: IDOK}}},
		{Table: "shop.orders", Column: "ref", Rows: 3, NotDRC: 3, Groups: []IDGroup{{Status: IDNotDRC}}},
		{Table: "shop.users", Column: "owner_id", Error: "id column owner_id of table shop.users: Error 1105: boom"},
	})
	// Two-way: region b's IDs are allowed too.
	check(true, []IDColumnResult{
		{Table: "other.t", Column: "id"},
		{Table: "shop.carts", Column: "owner_id", Error: "id column owner_id of table shop.carts: is int(11), and drc IDs need BIGINT"},
		{Table: "shop.items", Column: "owner_id", Error: "id column owner_id of table shop.items: no such column"},
		{Table: "shop.orders", Column: "id", Rows: 12, Groups: []IDGroup{{Status: IDOK}, {Status: IDOK}}},
		{Table: "shop.orders", Column: "ref", Rows: 3, NotDRC: 3, Groups: []IDGroup{{Status: IDNotDRC}}},
		{Table: "shop.users", Column: "owner_id", Error: "id column owner_id of table shop.users: Error 1105: boom"},
	})

	// Without a stored layout the configured one decodes.
	src.layout = nil
	got, err := cfg.scanSide(context.Background(), idSide{name: "source", region: "a", db: src}, false, now, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got.LayoutFrom != "config" || !got.Layout.Equal(l) {
		t.Errorf("layout from %s: %s; want the configured one", got.LayoutFrom, got.Layout)
	}
}

func TestIDColumnsOfFirstMatchWins(t *testing.T) {
	cfg := IDRangesConfig{Columns: []IDColumns{
		{Table: "shop.orders", Columns: []string{"id"}},
		{Table: "shop.*", Columns: []string{"owner_id"}},
		{Table: "`drc_meta`.idgen_leases", Columns: []string{"node"}},
		{Table: "*.*", Columns: []string{"pk"}},
	}}
	for _, tc := range []struct {
		t    TableName
		want []string
	}{
		{TableName{"shop", "orders"}, []string{"id"}},
		{TableName{"shop", "items"}, []string{"owner_id"}},
		{TableName{"misc", "x"}, []string{"pk"}},
		{TableName{"drc_meta", "heartbeat"}, nil},                 // a glob skips drc_meta
		{TableName{"drc_meta", "idgen_leases"}, []string{"node"}}, // a literal does not
	} {
		if got := cfg.idColumnsOf(tc.t); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestIDRangesConfigValidate(t *testing.T) {
	good := IDRangesConfig{SourceDSN: "x", TargetDSN: "y", SourceRegion: "a", TargetRegion: "b",
		Regions: map[string]int{"a": 1, "b": 2}, Layout: idgen.DefaultLayout(),
		Columns: []IDColumns{{Table: "shop.orders", Columns: []string{"id"}}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*IDRangesConfig)
		want string
	}{
		{"no target", func(c *IDRangesConfig) { c.TargetDSN = "" }, "target: need a pool or a DSN"},
		{"unnumbered region", func(c *IDRangesConfig) { c.Regions = map[string]int{"a": 1} }, `idgen.regions: must number target.region "b"`},
		{"no id columns", func(c *IDRangesConfig) { c.Columns = nil }, "no entry has id_columns"},
		{"bad pattern", func(c *IDRangesConfig) { c.Tables = []string{"nodot"} }, "tables: table pattern"},
		{"bad layout", func(c *IDRangesConfig) { c.Layout.NodeBits = 0 }, "idgen: idgen layout"},
	} {
		c := good
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestIDRangesReport(t *testing.T) {
	l := idgen.DefaultLayout()
	first := l.StartTime.Add(36 * time.Hour)
	r := &IDRangesReport{
		StartedAt: first, FinishedAt: first.Add(time.Second),
		Allowed: []RegionRef{{Name: "a", ID: 1}},
		Sides: []IDRangesSide{
			{Side: "source", Region: "a", RegionID: 1, Layout: l, LayoutFrom: "config", Columns: []IDColumnResult{
				{Table: "shop.orders", Column: "id", Rows: 7, Foreign: 2, NotDRC: 1, Groups: []IDGroup{
					{Status: IDForeign, Region: ptr(2), RegionName: "b", Node: ptr(5), Count: 2, MinID: "10", MaxID: "20", FirstTime: &first, LastTime: &first},
					{Status: IDNotDRC, Count: 1, MinID: "5", MaxID: "5"},
					{Status: IDOK, Region: ptr(1), RegionName: "a", Node: ptr(3), Count: 4, MinID: "30", MaxID: "40", FirstTime: &first, LastTime: &first},
				}},
				{Table: "shop.empty", Column: "id", Groups: []IDGroup{}},
			}},
			{Side: "target", Region: "b", RegionID: 2, Layout: l, LayoutFrom: "drc_meta.idgen_layout", Columns: []IDColumnResult{
				{Table: "shop.items", Column: "owner_id", Error: "id column owner_id of table shop.items: no such column", Groups: []IDGroup{}},
			}},
		},
	}
	r.summarize()
	if want := (IDRangesSummary{Columns: 3, Rows: 7, Foreign: 2, NotDRC: 1, Errors: 1}); r.Summary != want {
		t.Errorf("summary %+v, want %+v", r.Summary, want)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"one-way pair; IDs allowed on both sides: a (1)",
		"source: region a (1), layout from config: time_unit=1ms",
		"shop.orders.id: 7 value(s), 2 foreign, 1 not a drc id",
		"FOREIGN b (2) 5 2 2025-01-02T12:00:00Z 2025-01-02T12:00:00Z 10 20",
		"NOT A DRC ID - - 1 - - 5 5",
		"ok a (1) 3 4 2025-01-02T12:00:00Z",
		"shop.empty.id: no values",
		"target: region b (2), layout from drc_meta.idgen_layout",
		"shop.items.owner_id: error: id column owner_id of table shop.items: no such column",
		"3 column(s), 7 value(s): 2 foreign, 1 not a drc id, 1 error(s)",
	} {
		// Columns are aligned with runs of spaces; compare with one.
		if !strings.Contains(strings.Join(strings.Fields(text.String()), " "), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back IDRangesReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	if !reflect.DeepEqual(back.Sides[0].Columns[0].Groups, r.Sides[0].Columns[0].Groups) || back.Summary != r.Summary ||
		!back.Sides[1].Layout.Equal(l) {
		t.Errorf("json round trip differs:\n%s", js.String())
	}
	if !strings.Contains(js.String(), `"min_id": "5"`) || !strings.Contains(js.String(), `"status": "not_drc_id"`) {
		t.Errorf("json lacks the not-a-drc-id group as strings:\n%s", js.String())
	}
}

func TestIDRangesExitCode(t *testing.T) {
	for _, tc := range []struct {
		s    IDRangesSummary
		want int
	}{
		{IDRangesSummary{Columns: 2, Rows: 10}, 0},
		{IDRangesSummary{Columns: 2, Rows: 10, Foreign: 1}, 1},
		{IDRangesSummary{Columns: 2, Rows: 10, NotDRC: 1}, 1},
		{IDRangesSummary{Columns: 2, Rows: 10, Foreign: 1, Errors: 1}, 2},
	} {
		if got := (&IDRangesReport{Summary: tc.s}).ExitCode(); got != tc.want {
			t.Errorf("%+v: exit %d, want %d", tc.s, got, tc.want)
		}
	}
}
