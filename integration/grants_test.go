package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/reconcile"
)

// TestPreflightNamesEachMissingPrivilege, on each flavor: for every role,
// an account holding exactly the GRANT statements README lists for it
// passes, and the same account without any one of those privileges is
// refused, naming that privilege. Grants held through a default role pass;
// REPLICATION SLAVE ADMIN does not pass for REPLICATION SLAVE. Then the
// roles themselves (applier, bootstrap, reconcile) stop at start with a
// permanent error naming what their account lacks.
func TestPreflightNamesEachMissingPrivilege(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testPreflightNamesEachMissingPrivilege(t, f) })
	}
}

func testPreflightNamesEachMissingPrivilege(t *testing.T, flavor harness.Flavor) {
	m := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 95, GTIDDomainID: 95})
	ctx := context.Background()
	opt := grants.Options{DDLKinds: applier.DefaultDDLKinds(), Repair: true}
	users := 0
	// account creates a user holding privs, and returns its name.
	account := func(privs []grants.Privilege) string {
		users++
		name := fmt.Sprintf("g%d", users)
		m.Exec(t, fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'pw'", name))
		if len(privs) > 0 {
			m.Exec(t, grants.Statements(privs, fmt.Sprintf("'%s'@'127.0.0.1'", name))...)
		}
		return name
	}
	for _, role := range grants.Roles() {
		need, err := grants.Need(role, string(flavor), opt)
		if err != nil {
			t.Fatal(err)
		}
		full := account(need)
		if err := grants.CheckRole(ctx, openAs(t, m, full, "pw"), string(role), role, opt); err != nil {
			t.Errorf("%s with exactly %q: %v", role, grants.Statements(need, "u"), err)
		}
		for i, p := range need {
			less := append(append([]grants.Privilege{}, need[:i]...), need[i+1:]...)
			if slices.ContainsFunc(less, func(o grants.Privilege) bool { return o.DB == "" && o.Names[0] == p.Names[0] }) {
				continue // a privilege on drc_meta that the one ON *.* gives as well
			}
			err := grants.CheckRole(ctx, openAs(t, m, account(less), "pw"), string(role), role, opt)
			var me *grants.MissingError
			if !errors.As(err, &me) || len(me.Missing) != 1 || me.Missing[0].String() != p.String() ||
				!strings.Contains(err.Error(), "GRANT "+p.Names[0]+" ON "+p.On()) {
				t.Errorf("%s without %s: %v; want a MissingError naming only it, with its GRANT", role, p, err)
			}
		}
	}

	// Through a default role.
	need, err := grants.Need(grants.Replicator, string(flavor), opt)
	if err != nil {
		t.Fatal(err)
	}
	m.Exec(t, "CREATE ROLE drc_repl_role")
	m.Exec(t, grants.Statements(need, "drc_repl_role")...)
	m.Exec(t, "CREATE USER 'viarole'@'127.0.0.1' IDENTIFIED BY 'pw'", "GRANT drc_repl_role TO 'viarole'@'127.0.0.1'")
	if flavor == harness.FlavorMySQL {
		m.Exec(t, "SET DEFAULT ROLE drc_repl_role TO 'viarole'@'127.0.0.1'")
	} else {
		m.Exec(t, "SET DEFAULT ROLE drc_repl_role FOR 'viarole'@'127.0.0.1'")
	}
	if err := grants.CheckRole(ctx, openAs(t, m, "viarole", "pw"), "replicator", grants.Replicator, opt); err != nil {
		t.Errorf("replicator with its grants through a default role: %v", err)
	}

	// REPLICATION SLAVE ADMIN is another privilege.
	slaveAdmin := "REPLICATION SLAVE ADMIN"
	if flavor == harness.FlavorMySQL {
		slaveAdmin = "REPLICATION_SLAVE_ADMIN"
	}
	var rest []grants.Privilege
	for _, p := range need {
		if p.Names[0] != "REPLICATION SLAVE" {
			rest = append(rest, p)
		}
	}
	admin := account(rest)
	m.Exec(t, "GRANT "+slaveAdmin+" ON *.* TO '"+admin+"'@'127.0.0.1'")
	err = grants.CheckRole(ctx, openAs(t, m, admin, "pw"), "replicator", grants.Replicator, opt)
	if err == nil || !strings.Contains(err.Error(), "REPLICATION SLAVE ON *.*") {
		t.Errorf("replicator with %s instead of REPLICATION SLAVE: %v, want it to name REPLICATION SLAVE", slaveAdmin, err)
	}

	// The roles check at start. The applier without TRIGGER (it reads the
	// target's triggers under applier.triggers: stop) stops at once.
	appNeed, err := grants.Need(grants.Applier, string(flavor), grants.Options{DDLKinds: applier.DefaultDDLKinds()})
	if err != nil {
		t.Fatal(err)
	}
	noTrigger := account(without(appNeed, "TRIGGER"))
	k := harness.SharedKafka(t)
	ac := applyConfig(m, k, harness.UniqueName("gr"), harness.UniqueName("drc.gr"))
	ac.User, ac.Password = noTrigger, "pw"
	app := startApplier(t, ac)
	runErr := app.wait(t, 60*time.Second)
	if !applier.IsPermanent(runErr) || !strings.Contains(fmt.Sprint(runErr), "TRIGGER ON *.*") {
		t.Errorf("applier without TRIGGER: %v, want a permanent error naming TRIGGER ON *.*", runErr)
	}

	// Bootstrap names the source's missing SELECT before it locks anything.
	srcNeed, _ := grants.Need(grants.BootstrapSource, string(flavor), opt)
	bc := bsConfig(m, m, harness.UniqueName("gr"))
	bc.Tables = []string{"nothing.*"}
	bc.Source.User, bc.Source.Password = account(without(srcNeed, "SELECT")), "pw"
	_, err = bootstrap.Run(ctx, bc, testLogger(t))
	if !errors.Is(err, bootstrap.ErrSourcePrivilege) || !strings.Contains(err.Error(), "GRANT SELECT ON *.*") {
		t.Errorf("bootstrap without SELECT on the source: %v, want ErrSourcePrivilege naming GRANT SELECT ON *.*", err)
	}

	// Reconcile --repair names the target's missing DELETE.
	tgtNeed, _ := grants.Need(grants.ReconcileTarget, string(flavor), opt)
	rc := reconcile.NewConfig()
	rc.SourceDSN, rc.TargetDSN = m.DSN(""), dsnAs(t, m, account(without(tgtNeed, "DELETE")), "pw")
	rc.Cluster, rc.Repair = harness.UniqueName("gr"), true
	_, err = reconcile.Run(ctx, rc, testLogger(t))
	if !errors.Is(err, reconcile.ErrPrivilege) || !strings.Contains(err.Error(), "DELETE ON *.*") {
		t.Errorf("reconcile --repair without DELETE on the target: %v, want ErrPrivilege naming DELETE ON *.*", err)
	}
}

// without returns privs less every privilege named name.
func without(privs []grants.Privilege, name string) []grants.Privilege {
	var out []grants.Privilege
	for _, p := range privs {
		if p.Names[0] != name {
			out = append(out, p)
		}
	}
	return out
}

// dsnAs is m's DSN for another user.
func dsnAs(t *testing.T, m *harness.Server, user, password string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, password
	return cfg.FormatDSN()
}
