package tablepattern

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		db, tbl string
		literal bool
	}{
		{"shop.orders", "shop", "orders", true},
		{"shop.*", "shop", "*", false},
		{"*.orders", "*", "orders", false},
		{"shop.a.b", "shop", "a.b", true}, // the first '.' separates
		{"`my.db`.`t`", "my.db", "t", true},
		{"`d`.`we``ird tablé`", "d", "we`ird tablé", true},
		{"`d*`.x", "d*", "x", true}, // quoted: '*' is literal
		{"d.`x y`", "d", "x y", true},
		{"shop.t?", "shop", "t?", true}, // '?' and '[' are not special
	}
	for _, tt := range tests {
		p, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if p.DB != tt.db || p.Table != tt.tbl || p.Literal() != tt.literal {
			t.Errorf("Parse(%q) = %q.%q literal=%v, want %q.%q literal=%v", tt.in, p.DB, p.Table, p.Literal(), tt.db, tt.tbl, tt.literal)
		}
	}
	for _, bad := range []string{"", "shop", "shop.", ".t", "`shop", "`a`b.c", "`a`.`b`c"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want error", bad)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		db, tbl string
		want    bool
	}{
		{"shop.*", "shop", "orders", true},
		{"shop.*", "shop2", "orders", false},
		{"shop.*", "shop", "", true}, // a statement about the database
		{"shop.orders", "shop", "", false},
		{"shop.ord*", "shop", "orders", true},
		{"shop.*ers", "shop", "orders", true},
		{"s*p.o*s", "shop", "orders", true},
		{"a.a*b*c", "a", "axxbyyc", true},
		{"a.a*b*c", "a", "axxbyy", false},
		{"shop.orders", "shop", "orders", true},
		{"shop.orders", "shop", "orders2", false},
		{"`d*`.x", "d*", "x", true},
		{"`d*`.x", "dd", "x", false},
		{"shop.t?", "shop", "t1", false},
		{"shop.t?", "shop", "t?", true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tt.db, tt.tbl); got != tt.want {
			t.Errorf("%q.Match(%s.%s) = %v, want %v", tt.pattern, tt.db, tt.tbl, got, tt.want)
		}
	}
	l, err := ParseList([]string{"shop.*", "crm.cust*"})
	if err != nil || !l.Match("crm", "customers") || l.Match("crm", "leads") || (List{}).Match("a", "b") {
		t.Errorf("List: %v", err)
	}
	if _, err := ParseList([]string{"ok.t", "bad"}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("ParseList with a bad pattern: %v, want an error naming it", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a.b", "`a`.`b`", "`a``b`.c*", "a.*", "`.`.`.`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		if p.DB == "" || p.Table == "" {
			t.Fatalf("%q parsed to an empty part", s)
		}
		// Written back, a pattern parses to itself.
		p2, err := Parse(p.String())
		if err != nil || p2 != p {
			t.Fatalf("%q: written back as %q, parsed to %+v, %v", s, p.String(), p2, err)
		}
		if p.Literal() && !p.Match(p.DB, p.Table) {
			t.Fatalf("%q does not match its own table", s)
		}
	})
}
