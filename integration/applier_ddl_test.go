package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
)

// indexExists reports whether table db.tbl on m has an index named idx.
func indexExists(t *testing.T, m *harness.Server, db, tbl, idx string) bool {
	t.Helper()
	return queryInt(t, m, "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = ? AND table_name = ? AND index_name = ?", db, tbl, idx) > 0
}

// TestApplierDDLPolicies runs one applier with ddl: skip for one table and
// ddl: stop for another: the skipped DDL is not applied while the table's
// rows keep flowing, and the stopping DDL stops the applier with an error
// naming it, with nothing after it applied and the checkpoint before it.
func TestApplierDDLPolicies(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("ddl")
	topic := "drc." + cluster

	// The same schema on both sides before replication starts: CREATE
	// TABLE of the policed tables would itself be under their policies.
	schema := []string{
		"CREATE DATABASE pol",
		"CREATE TABLE pol.skipped (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE pol.stopped (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE pol.other (id INT PRIMARY KEY, v INT)",
	}
	a.Exec(t, schema...)
	b.Exec(t, schema...)
	a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")

	rc := replicatorConfig(a, k, cluster, topic)
	rc.StartGTID = a.BinlogGTIDPos(t)
	startReplicator(t, rc)
	ac := applyConfig(b, k, cluster, topic)
	ac.Tables = []applier.TablePolicy{
		{Table: "pol.skipped", DDL: "skip"},
		{Table: "pol.stop*", DDL: "stop"},
	}
	app := startApplier(t, ac)

	a.Exec(t,
		"INSERT INTO pol.skipped VALUES (1, 1), (2, 2)",
		"INSERT INTO pol.stopped VALUES (1, 1)",
		"INSERT INTO pol.other VALUES (1, 1)",
		// skip: a compatible DDL is not applied on b; rows continue.
		"ALTER TABLE pol.skipped ADD INDEX iv (v)",
		"INSERT INTO pol.skipped VALUES (3, 3)",
		"UPDATE pol.skipped SET v = 10 WHERE id = 1",
		// apply (the default) for the other table.
		"ALTER TABLE pol.other ADD INDEX iv (v)",
		"INSERT INTO pol.other VALUES (2, 2)",
	)
	waitApplied(t, a, b, cluster, 60*time.Second)
	assertSameTables(t, a, b, "pol.skipped", "pol.stopped", "pol.other")
	if indexExists(t, b, "pol", "skipped", "iv") {
		t.Error("pol.skipped: the DDL under policy skip was applied on b")
	}
	if !indexExists(t, a, "pol", "skipped", "iv") {
		t.Error("pol.skipped: index iv missing on a")
	}
	if !indexExists(t, b, "pol", "other", "iv") {
		t.Error("pol.other: the DDL under policy apply was not applied on b")
	}
	if n := app.counter(t, "drc_applier_ddl_total"); n != 2 {
		t.Errorf("drc_applier_ddl_total = %v, want 2 (one skip, one apply)", n)
	}
	before, err := applier.ReadCheckpoint(context.Background(), b.Open(t, ""), cluster)
	if err != nil || len(before) != 1 {
		t.Fatalf("checkpoint = %+v, %v", before, err)
	}

	// stop: the applier stops at the DDL, naming it.
	ctx := context.Background()
	conn, err := a.Open(t, "").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const stopSQL = "ALTER TABLE pol.stopped ADD COLUMN extra INT"
	if _, err := conn.ExecContext(ctx, stopSQL); err != nil {
		t.Fatal(err)
	}
	stopGTID := lastGTID(t, conn)
	a.Exec(t,
		"INSERT INTO pol.other VALUES (3, 3)",
		"UPDATE pol.skipped SET v = 20 WHERE id = 2",
	)
	runErr := app.wait(t, 60*time.Second)
	t.Logf("applier stopped: %v", runErr)
	if runErr == nil || !errors.Is(runErr, applier.ErrDDLStopped) || !strings.Contains(runErr.Error(), stopSQL) {
		t.Fatalf("applier ended with %v, want ErrDDLStopped naming %q", runErr, stopSQL)
	}

	// Nothing at or after the DDL is applied on b.
	if n := queryInt(t, b, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='pol' AND table_name='stopped' AND column_name='extra'"); n != 0 {
		t.Error("pol.stopped: the DDL under policy stop was applied")
	}
	if n := queryInt(t, b, "SELECT COUNT(*) FROM pol.other WHERE id = 3"); n != 0 {
		t.Error("pol.other: a row written after the stopping DDL was applied")
	}
	if n := queryInt(t, b, "SELECT v FROM pol.skipped WHERE id = 2"); n != 2 {
		t.Errorf("pol.skipped id=2: v = %d on b, want 2 (the update after the stop is not applied)", n)
	}
	// The checkpoint stays before the DDL.
	after, err := applier.ReadCheckpoint(ctx, b.Open(t, ""), cluster)
	if err != nil || len(after) != 1 {
		t.Fatalf("checkpoint = %+v, %v", after, err)
	}
	set, err := mysql.ParseGTIDSet("mariadb", after[0].GTIDSet)
	if err != nil {
		t.Fatal(err)
	}
	stopSet, err := mysql.ParseGTIDSet("mariadb", stopGTID)
	if err != nil {
		t.Fatal(err)
	}
	if set.Contain(stopSet) {
		t.Errorf("checkpoint %s contains the stopped DDL's GTID %s", after[0].GTIDSet, stopGTID)
	}
	prev, _ := mysql.ParseGTIDSet("mariadb", before[0].GTIDSet)
	if !set.Contain(prev) || after[0].Offset < before[0].Offset {
		t.Errorf("checkpoint went backwards: %+v, was %+v", after[0], before[0])
	}

	// A restart stops at the same statement again; it is never skipped.
	app2 := startApplier(t, ac)
	runErr = app2.wait(t, 60*time.Second)
	if !errors.Is(runErr, applier.ErrDDLStopped) || !strings.Contains(runErr.Error(), stopSQL) {
		t.Fatalf("restarted applier ended with %v, want ErrDDLStopped naming %q", runErr, stopSQL)
	}
	if n := queryInt(t, b, "SELECT COUNT(*) FROM pol.other WHERE id = 3"); n != 0 {
		t.Error("pol.other: a row after the stopping DDL was applied after a restart")
	}
}

// TestApplierDDLKinds: under the default applier.ddl_kinds a replicated
// CREATE DATABASE, CREATE TABLE and CREATE INDEX run on b, but a CREATE
// VIEW (code that runs with its definer's rights) stops the applier before
// it runs, naming its kind and offset, with nothing after it applied. A
// restart with view in ddl_kinds applies it and what follows.
func TestApplierDDLKinds(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("kinds")
	topic := "drc." + cluster
	a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")

	rc := replicatorConfig(a, k, cluster, topic)
	rc.StartGTID = a.BinlogGTIDPos(t)
	startReplicator(t, rc)
	ac := applyConfig(b, k, cluster, topic)
	app := startApplier(t, ac)

	a.Exec(t,
		"CREATE DATABASE kinds",
		"CREATE TABLE kinds.t (id INT PRIMARY KEY, v INT)",
		"CREATE INDEX iv ON kinds.t (v)",
		"INSERT INTO kinds.t VALUES (1, 1)",
	)
	waitApplied(t, a, b, cluster, 60*time.Second)
	assertSameTables(t, a, b, "kinds.t")
	if !indexExists(t, b, "kinds", "t", "iv") {
		t.Error("CREATE INDEX (kind index, allowed by default) was not applied on b")
	}

	a.Exec(t, "CREATE VIEW kinds.v AS SELECT id FROM kinds.t", "INSERT INTO kinds.t VALUES (2, 2)")
	runErr := app.wait(t, 60*time.Second)
	t.Logf("applier stopped: %v", runErr)
	if !errors.Is(runErr, applier.ErrDDLKind) || !strings.Contains(runErr.Error(), "CREATE VIEW (kind view)") ||
		!strings.Contains(runErr.Error(), "--skip-offset") {
		t.Fatalf("applier ended with %v, want ErrDDLKind naming CREATE VIEW, its kind and --skip-offset", runErr)
	}
	if n := queryInt(t, b, "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = 'kinds'"); n != 0 {
		t.Error("the CREATE VIEW was run on b although view is not in applier.ddl_kinds")
	}
	if n := queryInt(t, b, "SELECT COUNT(*) FROM kinds.t WHERE id = 2"); n != 0 {
		t.Error("a row written after the refused DDL was applied")
	}

	ac.DDLKinds = append(applier.DefaultDDLKinds(), "view")
	startApplier(t, ac)
	waitApplied(t, a, b, cluster, 60*time.Second)
	assertSameTables(t, a, b, "kinds.t")
	if n := queryInt(t, b, "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = 'kinds'"); n != 1 {
		t.Errorf("views on b after a restart allowing view = %d, want 1", n)
	}
}
