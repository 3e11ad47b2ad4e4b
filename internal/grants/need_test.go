package grants

import (
	"slices"
	"strings"
	"testing"
)

func TestHas(t *testing.T) {
	metaInsert := Privilege{Names: []string{"INSERT"}, DB: "drc_meta"}
	globalInsert := Privilege{Names: []string{"INSERT"}}
	slave := Privilege{Names: []string{"REPLICATION SLAVE", "REPLICATION REPLICA"}}
	for _, tc := range []struct {
		line string
		p    Privilege
		want bool
	}{
		{"GRANT INSERT, UPDATE ON `DRC_META`.* TO `U`@`%`", metaInsert, true},
		{"GRANT INSERT, UPDATE ON `DRC_META`.* TO `U`@`%`", globalInsert, false},
		{"GRANT INSERT ON *.* TO `U`@`%`", metaInsert, true}, // global covers a database
		{"GRANT ALL PRIVILEGES ON `DRC_META`.* TO `U`@`%`", metaInsert, true},
		{"GRANT SELECT ON `DRC_META`.* TO `U`@`%`", metaInsert, false},
		{"GRANT INSERT ON `DRC\\_%`.* TO `U`@`%`", metaInsert, true}, // LIKE pattern, escaped _
		{"GRANT INSERT ON `DRCXMETA`.* TO `U`@`%`", metaInsert, false},
		{"GRANT INSERT ON `DRC_META`.`HEARTBEAT` TO `U`@`%`", metaInsert, false}, // one table is not the database
		{"GRANT INSERT ON `OTHER`.* TO `U`@`%`", metaInsert, false},
		{"GRANT REPLICATION SLAVE ADMIN ON *.* TO `U`@`%`", slave, false},
		{"GRANT REPLICATION_SLAVE_ADMIN ON *.* TO `U`@`%`", slave, false},
		{"GRANT REPLICATION SLAVE ON *.* TO `U`@`%`", slave, true},
		{"GRANT SLAVE MONITOR ON *.* TO `U`@`%`", Privilege{Names: []string{"BINLOG MONITOR"}}, false},
	} {
		if got := (Grants{tc.line}).Has(tc.p); got != tc.want {
			t.Errorf("Has(%s) with %q = %v, want %v", tc.p, tc.line, got, tc.want)
		}
	}
}

func TestStatementsAndMissingError(t *testing.T) {
	need := []Privilege{
		{Names: []string{"REPLICATION SLAVE"}, Why: "read"},
		{Names: []string{"INSERT"}, DB: "drc_meta", Why: "write"},
		{Names: []string{"BINLOG MONITOR", "REPLICATION CLIENT"}, Why: "list"},
		{Names: []string{"UPDATE"}, DB: "drc_meta", Why: "write"},
	}
	got := Statements(need, "'drc'@'%'")
	want := []string{"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'drc'@'%'", "GRANT INSERT, UPDATE ON `drc_meta`.* TO 'drc'@'%'"}
	if !slices.Equal(got, want) {
		t.Errorf("Statements = %q, want %q", got, want)
	}
	g := Grants{"GRANT REPLICATION SLAVE ON *.* TO `U`@`%`", "GRANT INSERT ON `DRC_META`.* TO `U`@`%`"}
	missing := g.Missing(need)
	if len(missing) != 2 || missing[0].Names[0] != "BINLOG MONITOR" || missing[1].Names[0] != "UPDATE" {
		t.Fatalf("Missing = %v", missing)
	}
	msg := (&MissingError{Who: "replicator: source 127.0.0.1:3306", Missing: missing}).Error()
	for _, w := range []string{"replicator: source 127.0.0.1:3306", "BINLOG MONITOR ON *.* (list)", "UPDATE ON `drc_meta`.* (write)",
		"GRANT BINLOG MONITOR ON *.* TO the account", "GRANT UPDATE ON `drc_meta`.* TO the account"} {
		if !strings.Contains(msg, w) {
			t.Errorf("MissingError %q does not say %q", msg, w)
		}
	}
}

func TestNeed(t *testing.T) {
	for _, flavor := range []string{MariaDB, MySQL} {
		for _, role := range Roles() {
			need, err := Need(role, flavor, Options{DDLKinds: []string{"table", "index", "database"}})
			if err != nil || len(need) == 0 {
				t.Fatalf("Need(%s, %s) = %v, %v", role, flavor, need, err)
			}
			for _, p := range need {
				if p.Why == "" || len(p.Names) == 0 {
					t.Errorf("Need(%s, %s): %+v lacks a name or a reason", role, flavor, p)
				}
			}
		}
	}
	// The replicator reads no user table.
	rep, _ := Need(Replicator, MariaDB, Options{})
	if slices.ContainsFunc(rep, func(p Privilege) bool { return p.DB == "" && p.Names[0] == "SELECT" }) {
		t.Error("the replicator needs SELECT ON *.*; it reads no user table")
	}
	// Views need CREATE VIEW only when the applier runs them.
	app, _ := Need(Applier, MySQL, Options{DDLKinds: []string{"table"}})
	appView, _ := Need(Applier, MySQL, Options{DDLKinds: []string{"table", "view"}})
	has := func(ps []Privilege, name string) bool {
		return slices.ContainsFunc(ps, func(p Privilege) bool { return p.Names[0] == name })
	}
	if has(app, "CREATE VIEW") || !has(appView, "CREATE VIEW") {
		t.Errorf("CREATE VIEW: without view kind %v, with it %v", has(app, "CREATE VIEW"), has(appView, "CREATE VIEW"))
	}
	// A statement ON *.* is not repeated on drc_meta.
	if st := Statements(app, "u"); len(st) != 1 || !strings.Contains(st[0], "ON *.*") {
		t.Errorf("applier's statements = %q, want one, ON *.*", st)
	}
	// Data privileges granted per schema pass; drc_meta's still count.
	perSchema := Grants{
		"GRANT ALL PRIVILEGES ON `APP`.* TO `U`@`%`",
		"GRANT TRIGGER ON `APP`.`ORDERS` TO `U`@`%`",
	}
	missing := perSchema.Missing(app)
	if len(missing) == 0 || slices.ContainsFunc(missing, func(p Privilege) bool { return p.DB == "" }) {
		t.Errorf("an applier granted ALL on its schema lacks %v; want only drc_meta's privileges", missing)
	}
	// drc_meta's grants say nothing of the data.
	if missing := (Grants{"GRANT ALL PRIVILEGES ON `DRC_META`.* TO `U`@`%`"}).Missing(app); !slices.ContainsFunc(missing, func(p Privilege) bool { return p.Data && p.Names[0] == "SELECT" }) {
		t.Errorf("ALL on drc_meta alone passes for SELECT on the data: missing %v", missing)
	}
	perSchema = append(perSchema, "GRANT ALL PRIVILEGES ON `DRC_META`.* TO `U`@`%`")
	if missing := perSchema.Missing(app); len(missing) != 0 {
		t.Errorf("an applier granted ALL on its schema and on drc_meta lacks %v", missing)
	}
	if _, err := Need(Replicator, "oracle", Options{}); err == nil {
		t.Error("Need accepted flavor oracle")
	}
}
