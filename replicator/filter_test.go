package replicator

import "testing"

func TestFilter(t *testing.T) {
	f, err := Filter{Include: []string{"shop.*", "crm.cust*"}, Exclude: []string{"shop.tmp_*", "*.audit"}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		db, table string
		want      bool
	}{
		{"shop", "orders", true},
		{"shop", "tmp_x", false},
		{"shop", "audit", false},
		{"shop", "", true}, // CREATE DATABASE shop
		{"crm", "customers", true},
		{"crm", "leads", false},
		{"crm", "", false},
		{"other", "orders", false},
	} {
		if got := f.Match(tc.db, tc.table); got != tc.want {
			t.Errorf("Match(%s.%s) = %v, want %v", tc.db, tc.table, got, tc.want)
		}
	}
	empty, err := Filter{}.compile()
	if err != nil || !empty.Match("any", "thing") {
		t.Error("empty filter must publish everything")
	}
	if _, err := (Filter{Exclude: []string{"nodot"}}).compile(); err == nil {
		t.Error("a pattern without a dot must be refused")
	}
}
