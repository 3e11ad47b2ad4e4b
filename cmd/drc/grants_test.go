package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestREADMEGrantsAreWhatRolesCheck: README's per-role GRANT statements are
// exactly what `drc grants` prints, which is what each role's preflight
// checks; the two cannot drift apart.
func TestREADMEGrantsAreWhatRolesCheck(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, flavor := range []string{"mariadb", "mysql"} {
		var out bytes.Buffer
		root := newRootCmd(&out, &out)
		root.SetArgs([]string{"grants", "--flavor", flavor})
		if err := root.Execute(); err != nil {
			t.Fatalf("drc grants --flavor %s: %v", flavor, err)
		}
		if !strings.Contains(out.String(), "-- replicator ("+flavor+")\nGRANT ") {
			t.Fatalf("drc grants --flavor %s printed no replicator grants:\n%s", flavor, out.String())
		}
		if !bytes.Contains(readme, out.Bytes()) {
			t.Errorf("README's grants for %s are not what `drc grants --flavor %s` prints:\n%s", flavor, flavor, out.String())
		}
	}
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"grants", "--role", "nosuchrole"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "nosuchrole") {
		t.Errorf("drc grants --role nosuchrole: %v, want an error naming it", err)
	}
}
