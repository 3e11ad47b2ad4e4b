package gtid

import (
	"slices"
	"strings"
	"testing"
)

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4f22ab58-82db-22f2-af44-d91bb0530673"
)

func mustParse(t *testing.T, flavor, text string) Set {
	t.Helper()
	s, err := Parse(flavor, text)
	if err != nil {
		t.Fatalf("Parse(%s, %q): %v", flavor, text, err)
	}
	return s
}

func TestParseString(t *testing.T) {
	tests := []struct {
		flavor, text, want string
	}{
		{MariaDB, "", ""},
		{MariaDB, " ", ""},
		{MariaDB, "0-1-100", "0-1-100"},
		{MariaDB, "1-2-5,0-1-100", "0-1-100,1-2-5"},
		{MariaDB, "0-1-100, 1-2-7,", "0-1-100,1-2-7"},
		{MariaDB, "0-1-100,0-2-90", "0-1-100"}, // a domain listed twice: the highest seq_no
		{MariaDB, "0-2-90,0-1-100", "0-1-100"}, // whatever the order
		{MariaDB, "0-2-100,0-1-100", "0-1-100"},
		{MariaDB, "0-0-0", "0-0-0"},
		{MySQL, "", ""},
		{MySQL, uuidA + ":1-5", uuidA + ":1-5"},
		{MySQL, uuidB + ":7," + uuidA + ":3-4:1-2", uuidA + ":1-4," + uuidB + ":7"},
		{MySQL, uuidA + ":1-5:7-9:11", uuidA + ":1-5:7-9:11"}, // gaps stay
		{MySQL, uuidA + ":1-50:51-100", uuidA + ":1-100"},     // adjacent intervals merge
		{MySQL, uuidA + ":1-100,\n" + uuidB + ":1-5\n", uuidA + ":1-100," + uuidB + ":1-5"},
		{MySQL, strings.ToUpper(uuidA) + ":1-10", uuidA + ":1-10"},
		{MySQL, uuidA + ":1-3," + uuidA + ":5", uuidA + ":1-3:5"},
		{MySQL, uuidA + ":TAG_b:1-3:tag_a:1-10:12", uuidA + ":tag_a:1-10:12:tag_b:1-3"}, // a tag applies to the intervals after it
		{MySQL, uuidA + ":t:1," + uuidA + ":4", uuidA + ":4:t:1"},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.flavor, tt.text)
		if got := s.String(); got != tt.want {
			t.Errorf("Parse(%s, %q).String() = %q, want %q", tt.flavor, tt.text, got, tt.want)
		}
		if s.Flavor() != tt.flavor {
			t.Errorf("Parse(%s, %q).Flavor() = %q", tt.flavor, tt.text, s.Flavor())
		}
		if got := s.IsEmpty(); got != (tt.want == "") {
			t.Errorf("Parse(%s, %q).IsEmpty() = %v", tt.flavor, tt.text, got)
		}
		if again := mustParse(t, tt.flavor, s.String()); again.String() != tt.want {
			t.Errorf("%q reparses to %q", tt.want, again)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		flavor, text string
	}{
		{MariaDB, "0-1"},
		{MariaDB, "a-b-c"},
		{MariaDB, "0-1-2-3"},
		{MariaDB, "-1-2-3"},
		{MariaDB, "0-1-x"},
		{MariaDB, "0-1-5,1-2"},
		{MariaDB, "4294967296-1-1"}, // domain ids are 32 bits
		{MariaDB, uuidA + ":1-5"},
		{MySQL, "nope:1"},
		{MySQL, uuidA},
		{MySQL, uuidA + ":0"},
		{MySQL, uuidA + ":0-5"},
		{MySQL, uuidA + ":5-3"},
		{MySQL, uuidA + ":1-"},
		{MySQL, uuidA + "::1"},
		{MySQL, uuidA + ":9tag:1"},
		{MySQL, uuidA + ":tag"},
		{MySQL, uuidA + ":1-5,"},
		{MySQL, "0-1-5"},
		{"postgres", ""},
		{"", "0-1-5"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.flavor, tt.text)
		if err == nil {
			t.Errorf("Parse(%s, %q): want an error", tt.flavor, tt.text)
			continue
		}
		if !strings.Contains(err.Error(), tt.text) {
			t.Errorf("Parse(%s, %q): error %q does not name the text", tt.flavor, tt.text, err)
		}
	}
}

func TestContains(t *testing.T) {
	tests := []struct {
		flavor, have, want string
		contains           bool
	}{
		{MariaDB, "0-1-100", "0-1-100", true},
		{MariaDB, "0-1-101", "0-1-100", true},
		{MariaDB, "0-1-99", "0-1-100", false},
		{MariaDB, "0-2-150", "0-1-100", true}, // server ids do not matter: a domain's seq_nos are ordered
		{MariaDB, "0-1-100,1-2-5", "0-1-100", true},
		{MariaDB, "0-1-100", "0-1-100,1-2-5", false}, // domain 1 never applied
		{MariaDB, "0-1-100,1-2-4", "0-1-100,1-2-5", false},
		{MariaDB, "0-1-100, 1-2-7", "1-2-5,0-1-3", true},
		{MariaDB, "0-1-100,0-2-90", "0-1-95", true},  // domain listed twice: highest seq_no counts
		{MariaDB, "0-2-90,0-1-100", "0-1-95", true},  // in either order
		{MariaDB, "0-1-95", "0-1-100,0-2-90", false}, // and on both sides
		{MariaDB, "0-1-100", "0-1-100,0-2-90", true},
		{MariaDB, "", "", true},
		{MariaDB, "0-1-1", "", true},
		{MariaDB, "", "0-1-1", false},
		{MySQL, uuidA + ":1-100", uuidA + ":1-100", true},
		{MySQL, uuidA + ":1-100", uuidA + ":1-101", false},
		{MySQL, uuidA + ":1-100", uuidA + ":50-60", true},
		{MySQL, uuidA + ":1-50:52-100", uuidA + ":1-100", false}, // 51 missing
		{MySQL, uuidA + ":1-50:52-100", uuidA + ":1-50:52", true},
		{MySQL, uuidA + ":1-50:51-100", uuidA + ":1-100", true},
		{MySQL, uuidA + ":1-100,\n" + uuidB + ":1-5", uuidB + ":3", true},
		{MySQL, uuidA + ":1-100", uuidB + ":1", false},
		{MySQL, uuidA + ":1-100", uuidA + ":1-5," + uuidB + ":1", false},
		{MySQL, strings.ToUpper(uuidA) + ":1-10", uuidA + ":5", true},
		{MySQL, uuidA + ":tag_a:1-10:tag_b:1-3", uuidA + ":tag_b:2", true},
		{MySQL, uuidA + ":tag_a:1-10", uuidA + ":5", false}, // untagged GTIDs are another source
		{MySQL, uuidA + ":1-10", "", true},
		{MySQL, "", uuidA + ":1", false},
		{MySQL, "", "", true},
	}
	for _, tt := range tests {
		have, want := mustParse(t, tt.flavor, tt.have), mustParse(t, tt.flavor, tt.want)
		if got := have.Contains(want); got != tt.contains {
			t.Errorf("%s %q.Contains(%q) = %v, want %v", tt.flavor, tt.have, tt.want, got, tt.contains)
		}
	}
}

func TestFlavorsAndZero(t *testing.T) {
	m, y := mustParse(t, MariaDB, "0-1-5"), mustParse(t, MySQL, uuidA+":1-5")
	if m.Contains(y) || y.Contains(m) || m.Equal(y) {
		t.Error("sets of different flavors must not contain each other")
	}
	if _, err := m.Union(y); err == nil {
		t.Error("union of different flavors: want an error")
	}
	var zero Set
	if !zero.IsEmpty() || zero.String() != "" || zero.Flavor() != "" {
		t.Errorf("zero Set: IsEmpty %v String %q Flavor %q", zero.IsEmpty(), zero, zero.Flavor())
	}
	if zero.Contains(m) || !m.Contains(zero) || !zero.Contains(zero) || !zero.Contains(mustParse(t, MySQL, "")) {
		t.Error("zero Set: contains only empty sets, and is in every set")
	}
	if u, err := zero.Union(m); err != nil || !u.Equal(m) {
		t.Errorf("zero ∪ %s = %s, %v", m, u, err)
	}
	if err := zero.Add("0-1-1"); err == nil {
		t.Error("Add to the zero Set: want an error")
	}
	if zero.GoMySQL() != nil || m.GoMySQL() == nil {
		t.Error("GoMySQL: nil only for the zero Set")
	}
	if got := m.Subtract(y); !got.Equal(m) {
		t.Errorf("%s - %s = %s, want %s", m, y, got, m)
	}
}

func TestUnion(t *testing.T) {
	tests := []struct {
		flavor, a, b, want string
	}{
		{MariaDB, "0-1-5", "1-2-3", "0-1-5,1-2-3"},
		{MariaDB, "0-1-5,1-2-9", "0-2-7,1-2-3", "0-2-7,1-2-9"}, // each domain at the further position
		{MariaDB, "0-1-5", "0-1-5", "0-1-5"},
		{MariaDB, "", "0-1-5", "0-1-5"},
		{MariaDB, "0-1-5", "", "0-1-5"},
		{MariaDB, "0-1-100,0-2-90", "0-3-95", "0-1-100"},
		{MySQL, uuidA + ":1-5", uuidA + ":6-9", uuidA + ":1-9"},
		{MySQL, uuidA + ":1-5:10", uuidA + ":7", uuidA + ":1-5:7:10"},
		{MySQL, uuidA + ":1-5", uuidB + ":1", uuidA + ":1-5," + uuidB + ":1"},
		{MySQL, uuidA + ":1-5", uuidA + ":t:1", uuidA + ":1-5:t:1"},
		{MySQL, "", uuidA + ":1-5", uuidA + ":1-5"},
		{MySQL, uuidA + ":1-5", "", uuidA + ":1-5"},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.flavor, tt.a), mustParse(t, tt.flavor, tt.b)
		got, err := a.Union(b)
		if err != nil {
			t.Fatalf("%q ∪ %q: %v", tt.a, tt.b, err)
		}
		if got.String() != tt.want {
			t.Errorf("%s %q ∪ %q = %q, want %q", tt.flavor, tt.a, tt.b, got, tt.want)
		}
		if !got.Contains(a) || !got.Contains(b) {
			t.Errorf("%q ∪ %q = %q does not contain both", tt.a, tt.b, got)
		}
		if a.String() != mustParse(t, tt.flavor, tt.a).String() || b.String() != mustParse(t, tt.flavor, tt.b).String() {
			t.Errorf("%q ∪ %q changed an operand: %q, %q", tt.a, tt.b, a, b)
		}
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		flavor, set string
		add         []string
		want        string
	}{
		{MariaDB, "", []string{"0-1-1", "0-1-2", "1-1-1"}, "0-1-2,1-1-1"},
		{MariaDB, "0-1-5", []string{"0-2-6"}, "0-2-6"}, // a new primary in the domain
		{MariaDB, "0-1-5", []string{"0-2-4"}, "0-1-5"}, // never backwards
		{MySQL, "", []string{uuidA + ":1", uuidA + ":2", uuidA + ":4"}, uuidA + ":1-2:4"},
		{MySQL, uuidA + ":1-2:4", []string{uuidA + ":3"}, uuidA + ":1-4"},
		{MySQL, uuidA + ":1-2", []string{uuidA + ":tag:1"}, uuidA + ":1-2:tag:1"},
	}
	for _, tt := range tests {
		s := mustParse(t, tt.flavor, tt.set)
		before := s.Clone()
		for _, g := range tt.add {
			if err := s.Add(g); err != nil {
				t.Fatalf("%q.Add(%q): %v", tt.set, g, err)
			}
		}
		if s.String() != tt.want {
			t.Errorf("%q + %q = %q, want %q", tt.set, tt.add, s, tt.want)
		}
		if before.String() != mustParse(t, tt.flavor, tt.set).String() {
			t.Errorf("Add changed a clone: %q", before)
		}
	}
	s := mustParse(t, MariaDB, "0-1-5")
	for _, g := range []string{"0-1", "x", "0-1-2,1-1-1"} {
		if err := s.Add(g); err == nil || !strings.Contains(err.Error(), g) {
			t.Errorf("Add(%q): error %v, want one naming it", g, err)
		}
	}
	y := mustParse(t, MySQL, uuidA+":1")
	if err := y.Add(uuidA + ":0"); err == nil {
		t.Error("Add(uuid:0): want an error")
	}
}

func TestSubtract(t *testing.T) {
	tests := []struct {
		flavor, a, b, want string
	}{
		{MySQL, uuidA + ":1-10", uuidA + ":3-4:8", uuidA + ":1-2:5-7:9-10"},
		{MySQL, uuidA + ":1-10", uuidA + ":1-10", ""},
		{MySQL, uuidA + ":1-10", uuidA + ":1-20", ""},
		{MySQL, uuidA + ":1-10", "", uuidA + ":1-10"},
		{MySQL, "", uuidA + ":1-10", ""},
		{MySQL, uuidA + ":1-5:10-15", uuidA + ":4-11", uuidA + ":1-3:12-15"},
		{MySQL, uuidA + ":1-5," + uuidB + ":1-3", uuidA + ":1-5", uuidB + ":1-3"},
		{MySQL, uuidA + ":1-5:t:1-5", uuidA + ":t:2-5", uuidA + ":1-5:t:1"},
		{MySQL, uuidA + ":1-5", uuidB + ":1-5", uuidA + ":1-5"},
		{MariaDB, "0-1-10,1-1-5", "0-1-10", "1-1-5"},
		{MariaDB, "0-1-10,1-1-5", "0-2-8,1-1-5", "0-1-10"}, // where a is ahead, at a's position
		{MariaDB, "0-1-10", "0-1-12", ""},
		{MariaDB, "0-1-10,0-2-4", "0-3-9", "0-1-10"},
		{MariaDB, "", "0-1-1", ""},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.flavor, tt.a), mustParse(t, tt.flavor, tt.b)
		got := a.Subtract(b)
		if got.String() != tt.want {
			t.Errorf("%s %q - %q = %q, want %q", tt.flavor, tt.a, tt.b, got, tt.want)
		}
		if got.IsEmpty() != b.Contains(a) {
			t.Errorf("%q - %q = %q: empty exactly when b contains a", tt.a, tt.b, got)
		}
		if tt.flavor == MySQL {
			if u, _ := got.Union(b); !u.Contains(a) {
				t.Errorf("(%q - %q) ∪ b = %q does not contain a", tt.a, tt.b, u)
			}
		}
	}
}

func TestEqualClone(t *testing.T) {
	tests := []struct {
		flavor, a, b string
		equal        bool
	}{
		{MariaDB, "0-1-5,1-1-3", "1-1-3,0-1-5", true},
		{MariaDB, "0-1-5", "0-2-5", true}, // same transactions as far as a position can tell
		{MariaDB, "0-1-5", "0-1-6", false},
		{MariaDB, "0-1-5", "0-1-5,1-1-1", false},
		{MariaDB, "", "", true},
		{MySQL, uuidA + ":1-3:4-5", uuidA + ":1-5", true},
		{MySQL, uuidA + ":1-5", uuidA + ":1-4", false},
		{MySQL, uuidA + ":1-5", uuidA + ":t:1-5", false},
	}
	for _, tt := range tests {
		a, b := mustParse(t, tt.flavor, tt.a), mustParse(t, tt.flavor, tt.b)
		if got := a.Equal(b); got != tt.equal {
			t.Errorf("%q.Equal(%q) = %v, want %v", tt.a, tt.b, got, tt.equal)
		}
		c := a.Clone()
		if !c.Equal(a) {
			t.Errorf("Clone of %q = %q", tt.a, c)
		}
		g := "7-7-7"
		if tt.flavor == MySQL {
			g = uuidB + ":7"
		}
		if err := c.Add(g); err != nil {
			t.Fatal(err)
		}
		if a.Contains(c) {
			t.Errorf("adding %s to a clone of %q changed the original", g, tt.a)
		}
	}
}

func TestFirstMissing(t *testing.T) {
	tests := []struct {
		flavor, have, want, missing string
	}{
		{MariaDB, "0-1-10", "0-1-10", ""},
		{MariaDB, "0-1-10", "0-2-15", "0-2-11"},
		{MariaDB, "0-1-10,1-1-5", "0-1-8,1-3-9,2-1-1", "1-3-6"},
		{MariaDB, "", "5-1-3,2-1-1", "2-1-1"},
		{MySQL, uuidA + ":1-10", uuidA + ":1-10", ""},
		{MySQL, uuidA + ":1-10", uuidA + ":1-20", uuidA + ":11"},
		{MySQL, uuidA + ":1-4:6-10", uuidA + ":1-10", uuidA + ":5"},
		{MySQL, uuidA + ":1-10", uuidB + ":3-4," + uuidA + ":t:2", uuidA + ":t:2"},
		{MySQL, "", uuidB + ":3-4," + uuidA + ":t:2," + uuidA + ":7", uuidA + ":7"},
	}
	for _, tt := range tests {
		have, want := mustParse(t, tt.flavor, tt.have), mustParse(t, tt.flavor, tt.want)
		got, ok := have.FirstMissing(want)
		if got != tt.missing || ok != (tt.missing != "") {
			t.Errorf("%q.FirstMissing(%q) = %q, %v; want %q", tt.have, tt.want, got, ok, tt.missing)
		}
	}
}

func TestCountMissing(t *testing.T) {
	tests := []struct {
		flavor, have, want string
		n                  int64
	}{
		{MariaDB, "0-1-10", "0-1-10", 0},
		{MariaDB, "0-1-12", "0-1-10", 0},
		{MariaDB, "0-1-10", "0-2-15", 5},
		{MariaDB, "0-1-10,1-1-5", "0-1-8,1-3-9,2-1-2", 6},
		{MariaDB, "", "0-1-7", 7},
		{MariaDB, "0-1-100,0-2-90", "0-1-101", 1}, // a domain listed twice counts from its highest seq_no
		{MySQL, uuidA + ":1-10", uuidA + ":1-10", 0},
		{MySQL, uuidA + ":1-10", uuidA + ":1-20", 10},
		{MySQL, uuidA + ":1-4:6-10", uuidA + ":1-12," + uuidB + ":3-4", 5},
		{MySQL, uuidA + ":1-10", uuidA + ":t:1-3", 3},
		{MySQL, "", "", 0},
	}
	for _, tt := range tests {
		have, want := mustParse(t, tt.flavor, tt.have), mustParse(t, tt.flavor, tt.want)
		if got := have.CountMissing(want); got != tt.n {
			t.Errorf("%q.CountMissing(%q) = %d, want %d", tt.have, tt.want, got, tt.n)
		}
	}
	m, y := mustParse(t, MariaDB, "0-1-5"), mustParse(t, MySQL, uuidA+":1-5")
	if m.CountMissing(y) != -1 || m.CountMissing(mustParse(t, MySQL, "")) != 0 {
		t.Error("CountMissing across flavors: want -1, or 0 for an empty set")
	}
}

// FuzzParse: positions come from servers and from drc_meta. Parsing must
// not panic, a set contains itself, and its text reparses to an equal set.
func FuzzParse(f *testing.F) {
	f.Add(MariaDB, "0-1-100,1-2-5,0-2-7")
	f.Add(MySQL, uuidA+":1-5:7,\n"+uuidB+":tag:1")
	f.Fuzz(func(t *testing.T, flavor, text string) {
		s, err := Parse(flavor, text)
		if err != nil {
			return
		}
		if !s.Contains(s) {
			t.Fatalf("%q does not contain itself", text)
		}
		again, err := Parse(flavor, s.String())
		if err != nil || !again.Equal(s) || again.String() != s.String() {
			t.Fatalf("%q: text %q reparses to %q (%v)", text, s, again, err)
		}
		if d := s.Subtract(s); !d.IsEmpty() {
			t.Fatalf("%q minus itself is %q", text, d)
		}
	})
}

func TestNewestOfOneHistory(t *testing.T) {
	for _, tt := range []struct {
		flavor string
		sets   []string
		want   string
	}{
		{MariaDB, []string{"0-1-5", "0-1-9,1-2-3", "0-1-7"}, "0-1-9,1-2-3"},
		{MariaDB, []string{"0-1-9,1-2-3", "0-1-5"}, "0-1-9,1-2-3"},
		{MySQL, []string{uuidA + ":1-5", uuidA + ":1-9", uuidA + ":1-2"}, uuidA + ":1-9"},
		{MySQL, []string{uuidA + ":1-3"}, uuidA + ":1-3"},
	} {
		var sets []Set
		for _, s := range tt.sets {
			sets = append(sets, mustParse(t, tt.flavor, s))
		}
		got, ok := Newest(slices.Values(sets))
		if !ok || got.String() != tt.want {
			t.Errorf("Newest(%q) = %q, %v; want %q", tt.sets, got.String(), ok, tt.want)
		}
	}
	if got, ok := Newest(slices.Values([]Set(nil))); ok {
		t.Errorf("Newest of no sets = %q, true; want ok false", got.String())
	}
}
