package reconcile

import "testing"

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4f22ab58-82db-22f2-af44-d91bb0530673"
)

func TestGTIDContainsMariaDB(t *testing.T) {
	tests := []struct {
		have, want string
		contains   bool
	}{
		{"0-1-100", "0-1-100", true},
		{"0-1-101", "0-1-100", true},
		{"0-1-99", "0-1-100", false},
		{"0-2-150", "0-1-100", true}, // server id does not matter: a domain's seq_nos are ordered
		{"0-1-100,1-2-5", "0-1-100", true},
		{"0-1-100", "0-1-100,1-2-5", false}, // domain 1 never applied
		{"0-1-100,1-2-4", "0-1-100,1-2-5", false},
		{"0-1-100, 1-2-7", "1-2-5,0-1-3", true},
		{"", "", true},
		{"0-1-1", "", true},
		{"", "0-1-1", false},
		{"0-1-100,0-2-90", "0-1-95", true}, // a state listing the domain twice: highest seq counts
	}
	for _, tt := range tests {
		have, err := ParseGTIDSet(FlavorMariaDB, tt.have)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.have, err)
		}
		want, err := ParseGTIDSet(FlavorMariaDB, tt.want)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.want, err)
		}
		if got := have.Contains(want); got != tt.contains {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.have, tt.want, got, tt.contains)
		}
	}
}

func TestGTIDContainsMySQL(t *testing.T) {
	tests := []struct {
		have, want string
		contains   bool
	}{
		{uuidA + ":1-100", uuidA + ":1-100", true},
		{uuidA + ":1-100", uuidA + ":1-101", false},
		{uuidA + ":1-100", uuidA + ":50-60", true},
		{uuidA + ":1-50:52-100", uuidA + ":1-100", false}, // 51 missing
		{uuidA + ":1-50:51-100", uuidA + ":1-100", true},  // adjacent intervals merge
		{uuidA + ":1-100,\n" + uuidB + ":1-5", uuidB + ":3", true},
		{uuidA + ":1-100", uuidB + ":1", false},
		{"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-10", uuidA + ":5", true}, // case-insensitive uuid
		{uuidA + ":tag_a:1-10:" + "tag_b:1-3", uuidA + ":tag_b:2", true},
		{uuidA + ":tag_a:1-10", uuidA + ":5", false}, // untagged GTIDs are a different source
		{uuidA + ":1-10", "", true},
	}
	for _, tt := range tests {
		have, err := ParseGTIDSet(FlavorMySQL, tt.have)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.have, err)
		}
		want, err := ParseGTIDSet(FlavorMySQL, tt.want)
		if err != nil {
			t.Fatalf("parse %q: %v", tt.want, err)
		}
		if got := have.Contains(want); got != tt.contains {
			t.Errorf("%q.Contains(%q) = %v, want %v", tt.have, tt.want, got, tt.contains)
		}
	}
}

func TestGTIDParseErrors(t *testing.T) {
	for _, s := range []string{"0-1", "a-b-c", "0-1-2-3", "-1-2-3", "0-1-x"} {
		if _, err := ParseGTIDSet(FlavorMariaDB, s); err == nil {
			t.Errorf("mariadb %q: want error", s)
		}
	}
	for _, s := range []string{"nope:1", uuidA, uuidA + ":0", uuidA + ":5-3", uuidA + ":1-", uuidA + "::1", uuidA + ":9tag:1"} {
		if _, err := ParseGTIDSet(FlavorMySQL, s); err == nil {
			t.Errorf("mysql %q: want error", s)
		}
	}
	if _, err := ParseGTIDSet("postgres", ""); err == nil {
		t.Error("unknown flavor: want error")
	}
}

func TestGTIDFlavorsNeverContainEachOther(t *testing.T) {
	m, _ := ParseGTIDSet(FlavorMariaDB, "0-1-5")
	y, _ := ParseGTIDSet(FlavorMySQL, uuidA+":1-5")
	if m.Contains(y) || y.Contains(m) {
		t.Error("sets of different flavors must not contain each other")
	}
}

func TestGTIDString(t *testing.T) {
	s, _ := ParseGTIDSet(FlavorMySQL, uuidB+":7,"+uuidA+":3-4:1-2")
	if got, want := s.String(), uuidA+":1-4,"+uuidB+":7"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m, _ := ParseGTIDSet(FlavorMariaDB, "1-2-5,0-1-100")
	if got, want := m.String(), "0-*-100,1-*-5"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// FuzzParseGTIDSet: positions come from servers and the applier's table.
// Parsing must not panic, a set contains itself and its own canonical form
// reparses to an equal set.
func FuzzParseGTIDSet(f *testing.F) {
	f.Add("mariadb", "0-1-100,1-2-5")
	f.Add("mysql", uuidA+":1-5:7,\n"+uuidB+":tag:1")
	f.Fuzz(func(t *testing.T, flavor, s string) {
		fl := FlavorMariaDB
		if flavor == "mysql" {
			fl = FlavorMySQL
		}
		set, err := ParseGTIDSet(fl, s)
		if err != nil {
			return
		}
		if !set.Contains(set) {
			t.Fatalf("%q does not contain itself", s)
		}
		if fl == FlavorMySQL {
			again, err := ParseGTIDSet(fl, set.String())
			if err != nil || !again.Contains(set) || !set.Contains(again) {
				t.Fatalf("%q: canonical %q reparses to %v (%v)", s, set.String(), again, err)
			}
		}
	})
}
