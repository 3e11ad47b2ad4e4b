package reconcile

import (
	"strings"
	"testing"
)

func col(name, dataType string, nullable bool) rawColumn {
	c := rawColumn{name: name, dataType: dataType, columnType: dataType, nullable: nullable}
	switch dataType {
	case "varchar", "char", "text", "enum":
		c.charset, c.collation = "utf8mb4", "utf8mb4_general_ci"
	}
	return c
}

func TestPlanTable(t *testing.T) {
	name := TableName{"d", "t"}
	base := func() rawTable {
		return rawTable{exists: true, rows: 10, columns: []rawColumn{col("id", "int", false), col("v", "varchar", true)},
			unique: []rawIndex{{name: "PRIMARY", cols: []string{"id"}}}}
	}
	tests := []struct {
		name       string
		src, tgt   func(*rawTable)
		wantReason string // substring; "" = comparable
		check      func(*testing.T, *tablePlan)
	}{
		{name: "primary key", check: func(t *testing.T, tb *tablePlan) {
			if !tb.KeyIsPrimary || tb.SourceIndex != "PRIMARY" || len(tb.Key) != 1 || tb.Columns[tb.Key[0]].Name != "id" {
				t.Errorf("key = %+v", tb)
			}
		}},
		{name: "missing on target", tgt: func(r *rawTable) { r.exists = false }, wantReason: "missing on target"},
		{name: "missing on source", src: func(r *rawTable) { r.exists = false }, wantReason: "missing on source"},
		{name: "no key at all",
			src: func(r *rawTable) { r.unique = nil }, tgt: func(r *rawTable) { r.unique = nil },
			wantReason: "no primary key and no unique key"},
		{name: "no pk, not-null unique key",
			src: func(r *rawTable) { r.unique = []rawIndex{{name: "uk", cols: []string{"id"}}} },
			tgt: func(r *rawTable) { r.unique = []rawIndex{{name: "uk_other", cols: []string{"id"}}} },
			check: func(t *testing.T, tb *tablePlan) {
				if tb.KeyIsPrimary || tb.SourceIndex != "uk" || tb.TargetIndex != "uk_other" {
					t.Errorf("key = %+v", tb)
				}
			}},
		{name: "no pk, nullable unique key",
			src:        func(r *rawTable) { r.unique = []rawIndex{{name: "uk", cols: []string{"v"}}} },
			tgt:        func(r *rawTable) { r.unique = []rawIndex{{name: "uk", cols: []string{"v"}}} },
			wantReason: "column `v` is nullable"},
		{name: "unique key missing on target",
			tgt:        func(r *rawTable) { r.unique = nil },
			wantReason: "no unique index on the same columns on target"},
		{name: "column only on target",
			tgt:        func(r *rawTable) { r.columns = append(r.columns, col("extra", "int", true)) },
			wantReason: "column `extra` missing on source"},
		{name: "column only on source",
			src:        func(r *rawTable) { r.columns = append(r.columns, col("extra", "int", true)) },
			wantReason: "column `extra` missing on target"},
		{name: "class differs",
			tgt:        func(r *rawTable) { r.columns[1] = col("v", "int", true) },
			wantReason: "schema differs: column `v`"},
		{name: "key collation differs",
			src: func(r *rawTable) {
				r.columns[0] = col("id", "varchar", false)
			},
			tgt: func(r *rawTable) {
				r.columns[0] = col("id", "varchar", false)
				r.columns[0].collation = "utf8mb4_bin"
			},
			wantReason: "collation"},
		{name: "float key",
			src:        func(r *rawTable) { r.columns[0] = col("id", "double", false) },
			tgt:        func(r *rawTable) { r.columns[0] = col("id", "double", false) },
			wantReason: "approximate"},
		{name: "prefix key",
			src:        func(r *rawTable) { r.unique[0].partial = true },
			wantReason: "prefix"},
		{name: "charset differs → compare converted text",
			tgt: func(r *rawTable) { r.columns[1].charset = "latin1" },
			check: func(t *testing.T, tb *tablePlan) {
				if !tb.Columns[1].convert {
					t.Errorf("column v: convert not set")
				}
			}},
		{name: "nullable on one side is nullable",
			src: func(r *rawTable) { r.columns[1].nullable = false },
			check: func(t *testing.T, tb *tablePlan) {
				if !tb.Columns[1].Nullable {
					t.Errorf("column v: want nullable")
				}
			}},
		{name: "generated columns are left out",
			src: func(r *rawTable) {
				r.columns = append(r.columns, rawColumn{name: "g", dataType: "int", generated: true})
			},
			tgt: func(r *rawTable) {
				r.columns = append(r.columns, rawColumn{name: "g", dataType: "int", generated: true})
			},
			check: func(t *testing.T, tb *tablePlan) {
				if len(tb.Columns) != 2 {
					t.Errorf("columns = %+v", tb.Columns)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := base(), base()
			if tt.src != nil {
				tt.src(&src)
			}
			if tt.tgt != nil {
				tt.tgt(&tgt)
			}
			tb, reason := planTable(name, src, tgt, FlavorMariaDB)
			if tt.wantReason == "" {
				if reason != "" {
					t.Fatalf("not comparable: %s", reason)
				}
				if tt.check != nil {
					tt.check(t, tb)
				}
				return
			}
			if !strings.Contains(reason, tt.wantReason) {
				t.Errorf("reason = %q, want it to contain %q", reason, tt.wantReason)
			}
		})
	}
}

func TestPlanTableMixedCharsetsCastToBinary(t *testing.T) {
	r := rawTable{exists: true, columns: []rawColumn{col("id", "int", false), col("a", "varchar", true), col("b", "varchar", true)},
		unique: []rawIndex{{name: "PRIMARY", cols: []string{"id"}}}}
	r.columns[2].charset = "latin1"
	tb, reason := planTable(TableName{"d", "t"}, r, r, FlavorMariaDB)
	if reason != "" {
		t.Fatal(reason)
	}
	if !tb.Columns[1].asBinary || !tb.Columns[2].asBinary {
		t.Errorf("mixed charsets: want every text column cast to binary, got %+v", tb.Columns)
	}
}
