package mysqlconn

import (
	"fmt"
	"strings"
	"testing"
)

func TestQuoteIdent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "`plain`"},
		{"t", "`t`"},
		{"with`tick", "`with``tick`"},
		{"``", "``````"},
		{"with space", "`with space`"},
		{"dotted.name", "`dotted.name`"},
		{"naïve_表", "`naïve_表`"},
		{"naïve ß", "`naïve ß`"},
	} {
		if got := QuoteIdent(tc.in); got != tc.want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestQuoteString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"2024-01-01", "'2024-01-01'"},
		{"o'k", "'o''k'"},
		{"it's  ", "'it''s  '"},
		{`a\b`, "_utf8mb4 X'615C62'"},
		{"é", "_utf8mb4 X'C3A9'"},
		{"a\nb", "_utf8mb4 X'610A62'"},
		{"\x00", "_utf8mb4 X'00'"},
		{"x\x7f", "_utf8mb4 X'787F'"},
	} {
		if got := QuoteString(tc.in); got != tc.want {
			t.Errorf("QuoteString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestIsNumber(t *testing.T) {
	for v, want := range map[string]bool{
		"-42": true, "1.50": true, "1e-300": true, "18446744073709551615": true,
		"": false, "1; DROP TABLE x": false, "0x1F": false, "'1'": false, "1 ": false,
	} {
		if got := IsNumber([]byte(v)); got != want {
			t.Errorf("IsNumber(%q) = %v, want %v", v, got, want)
		}
	}
}

// lits returns a value function that writes bound values as given.
func lits(vals ...string) func(int) string {
	return func(i int) string { return vals[i] }
}

func TestKeyRangeText(t *testing.T) {
	ab := []string{"`k``1`", "`k 2`"}
	for _, tc := range []struct {
		name   string
		cols   []string
		lo, hi func(int) string
		want   string
	}{
		{"open", ab, nil, nil, ""},
		{"lo", ab, lits("5", "'x''y'"), nil,
			"`k``1` >= 5 AND (`k``1` > 5 OR (`k``1` = 5 AND `k 2` > 'x''y'))"},
		{"hi", ab, nil, lits("9", "_utf8mb4 X'C3A9'"),
			"`k``1` <= 9 AND (`k``1` < 9 OR (`k``1` = 9 AND `k 2` <= _utf8mb4 X'C3A9'))"},
		{"both", ab, lits("5", "'x''y'"), lits("9", "_utf8mb4 X'C3A9'"),
			"`k``1` >= 5 AND (`k``1` > 5 OR (`k``1` = 5 AND `k 2` > 'x''y')) AND " +
				"`k``1` <= 9 AND (`k``1` < 9 OR (`k``1` = 9 AND `k 2` <= _utf8mb4 X'C3A9'))"},
		{"single", []string{"`id`"}, lits("18446744073709551614"), lits("18446744073709551615"),
			"`id` > 18446744073709551614 AND `id` <= 18446744073709551615"},
		{"single lo", []string{"`id`"}, lits("7"), nil, "`id` > 7"},
		{"single hi", []string{"`id`"}, nil, lits("9"), "`id` <= 9"},
		{"three", []string{"`a`", "`b`", "`c`"}, lits("1", "2.50", "'2024-01-01 00:00:00.5'"), nil,
			"`a` >= 1 AND (`a` > 1 OR (`a` = 1 AND `b` > 2.50) OR (`a` = 1 AND `b` = 2.50 AND `c` > '2024-01-01 00:00:00.5'))"},
		{"three hi", []string{"`a`", "`b`", "`c`"}, nil, lits("?", "?", "?"),
			"`a` <= ? AND (`a` < ? OR (`a` = ? AND `b` < ?) OR (`a` = ? AND `b` = ? AND `c` <= ?))"},
	} {
		if got := KeyRange(tc.cols, tc.lo, tc.hi); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestKeyRangePlaceholderOrder checks that the value function is called
// once per value in the text, in text order, so that a caller binding ?
// parameters appends its arguments in the order the server reads them.
func TestKeyRangePlaceholderOrder(t *testing.T) {
	var args []string
	bind := func(side string) func(int) string {
		return func(i int) string {
			args = append(args, fmt.Sprintf("%s%d", side, i))
			return "?"
		}
	}
	got := KeyRange([]string{"`a`", "`b`"}, bind("lo"), bind("hi"))
	want := []string{"lo0", "lo0", "lo0", "lo1", "hi0", "hi0", "hi0", "hi1"}
	if strings.Count(got, "?") != len(args) || strings.Join(args, ",") != strings.Join(want, ",") {
		t.Errorf("KeyRange = %s\nargs %v, want %v", got, args, want)
	}
}

// TestKeyRangeSemantics evaluates the range predicate on every key of a
// small 3-column grid, by substituting the key's values for the columns
// and reading the text as a boolean expression, and checks that it
// selects exactly the keys strictly after lo and up to hi, in tuple order.
func TestKeyRangeSemantics(t *testing.T) {
	lo, hi := [3]int{1, 2, 1}, [3]int{2, 0, 2}
	cmp := func(x, y [3]int) int {
		for i := range 3 {
			if x[i] != y[i] {
				if x[i] < y[i] {
					return -1
				}
				return 1
			}
		}
		return 0
	}
	n := 0
	for a := range 4 {
		for b := range 4 {
			for c := range 4 {
				k := [3]int{a, b, c}
				val := func(bound [3]int) func(int) string {
					return func(i int) string { return fmt.Sprint(bound[i]) }
				}
				cond := KeyRange([]string{fmt.Sprint(a), fmt.Sprint(b), fmt.Sprint(c)}, val(lo), val(hi))
				got, err := evalCond(cond)
				if err != nil {
					t.Fatalf("%s: %v", cond, err)
				}
				want := cmp(k, lo) > 0 && cmp(k, hi) <= 0
				if got != want {
					t.Errorf("key %v in (%v, %v]: got %v, want %v (%s)", k, lo, hi, got, want, cond)
				}
				if got {
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no key selected")
	}
}

// evalCond evaluates a condition over integer literals with = < <= > >=,
// AND, OR and parentheses (AND binding tighter), as SQL would.
func evalCond(s string) (bool, error) {
	toks := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s))
	p := &condParser{toks: toks}
	v, err := p.or()
	if err == nil && p.i != len(toks) {
		err = fmt.Errorf("trailing %q", toks[p.i:])
	}
	return v, err
}

type condParser struct {
	toks []string
	i    int
}

func (p *condParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *condParser) peek() string {
	if p.i >= len(p.toks) {
		return ""
	}
	return p.toks[p.i]
}

func (p *condParser) or() (bool, error) {
	v, err := p.and()
	for err == nil && p.peek() == "OR" {
		p.next()
		var w bool
		w, err = p.and()
		v = v || w
	}
	return v, err
}

func (p *condParser) and() (bool, error) {
	v, err := p.term()
	for err == nil && p.peek() == "AND" {
		p.next()
		var w bool
		w, err = p.term()
		v = v && w
	}
	return v, err
}

func (p *condParser) term() (bool, error) {
	if p.peek() == "(" {
		p.next()
		v, err := p.or()
		if err == nil && p.next() != ")" {
			err = fmt.Errorf("missing )")
		}
		return v, err
	}
	var x, y int
	l, op, r := p.next(), p.next(), p.next()
	if _, err := fmt.Sscan(l, &x); err != nil {
		return false, fmt.Errorf("operand %q: %w", l, err)
	}
	if _, err := fmt.Sscan(r, &y); err != nil {
		return false, fmt.Errorf("operand %q: %w", r, err)
	}
	switch op {
	case "=":
		return x == y, nil
	case "<":
		return x < y, nil
	case "<=":
		return x <= y, nil
	case ">":
		return x > y, nil
	case ">=":
		return x >= y, nil
	}
	return false, fmt.Errorf("operator %q", op)
}
