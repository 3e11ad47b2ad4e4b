package reconcile

import (
	"strings"
	"testing"
)

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"t", "`t`"},
		{"we`ird", "`we``ird`"},
		{"with space", "`with space`"},
		{"naïve ß", "`naïve ß`"},
		{"``", "``````"},
		{"a.b", "`a.b`"},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.in); got != tt.want {
			t.Errorf("QuoteIdent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseTablePattern(t *testing.T) {
	tests := []struct {
		in      string
		db, tbl string
		literal bool
	}{
		{"shop.orders", "shop", "orders", true},
		{"shop.*", "shop", "*", false},
		{"*.orders", "*", "orders", false},
		{"shop.a.b", "shop", "a.b", true}, // the first '.' separates, as in the replicator's filters
		{"`my.db`.`t`", "my.db", "t", true},
		{"`d`.`we``ird tablé`", "d", "we`ird tablé", true},
		{"`d*`.x", "d*", "x", true}, // quoted: '*' is literal
		{"d.`x y`", "d", "x y", true},
	}
	for _, tt := range tests {
		p, err := ParseTablePattern(tt.in)
		if err != nil {
			t.Errorf("ParseTablePattern(%q): %v", tt.in, err)
			continue
		}
		if p.DB != tt.db || p.Table != tt.tbl || p.Literal() != tt.literal {
			t.Errorf("ParseTablePattern(%q) = %q.%q literal=%v, want %q.%q literal=%v", tt.in, p.DB, p.Table, p.Literal(), tt.db, tt.tbl, tt.literal)
		}
	}
	for _, bad := range []string{"", "shop", "shop.", ".t", "`shop", "`a`b.c", "`a`.`b`c"} {
		if _, err := ParseTablePattern(bad); err == nil {
			t.Errorf("ParseTablePattern(%q): want error", bad)
		}
	}
}

func TestTablePatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		db, tbl string
		want    bool
	}{
		{"shop.*", "shop", "orders", true},
		{"shop.*", "shop2", "orders", false},
		{"shop.ord*", "shop", "orders", true},
		{"shop.*ers", "shop", "orders", true},
		{"s*p.o*s", "shop", "orders", true},
		{"shop.orders", "shop", "orders", true},
		{"shop.orders", "shop", "orders2", false},
		{"`d*`.x", "d*", "x", true},
		{"`d*`.x", "dd", "x", false},
	}
	for _, tt := range tests {
		p, err := ParseTablePattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(TableName{tt.db, tt.tbl}); got != tt.want {
			t.Errorf("%q.Match(%s.%s) = %v, want %v", tt.pattern, tt.db, tt.tbl, got, tt.want)
		}
	}
}

func FuzzParseTablePattern(f *testing.F) {
	for _, s := range []string{"a.b", "`a`.`b`", "`a``b`.c*", "a.*", "`.`.`.`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseTablePattern(s)
		if err != nil {
			return
		}
		if p.DB == "" || p.Table == "" {
			t.Fatalf("%q parsed to an empty part", s)
		}
		if p.Literal() {
			// A literal pattern quoted back must parse to itself and match
			// exactly the table it names.
			q := QuoteIdent(p.DB) + "." + QuoteIdent(p.Table)
			p2, err := ParseTablePattern(q)
			if err != nil || p2.DB != p.DB || p2.Table != p.Table || !p2.Literal() {
				t.Fatalf("%q: requoted %q parsed to %+v, %v", s, q, p2, err)
			}
			if !p.Match(TableName{p.DB, p.Table}) {
				t.Fatalf("%q does not match its own table", s)
			}
		}
		_ = strings.Count(s, "`")
	})
}
