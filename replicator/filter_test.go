package replicator

import "testing"

func TestFilter(t *testing.T) {
	f := Filter{Include: []string{"shop.*", "crm.cust*"}, Exclude: []string{"shop.tmp_*", "*.audit"}}
	for _, tc := range []struct {
		db, table string
		want      bool
	}{
		{"shop", "orders", true},
		{"shop", "tmp_x", false},
		{"shop", "audit", false},
		{"crm", "customers", true},
		{"crm", "leads", false},
		{"other", "orders", false},
	} {
		if got := f.Match(tc.db, tc.table); got != tc.want {
			t.Errorf("Match(%s.%s) = %v, want %v", tc.db, tc.table, got, tc.want)
		}
	}
	if !(Filter{}).Match("any", "thing") {
		t.Error("empty filter must publish everything")
	}
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"*", "", true}, {"ab", "abc", false}, {"*c", "abc", true},
	} {
		if got := Glob(tc.p, tc.s); got != tc.want {
			t.Errorf("Glob(%q,%q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}
