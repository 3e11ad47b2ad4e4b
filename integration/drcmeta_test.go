package integration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/drcmeta"
)

// TestDrcMetaUpgrade: on a new server, the replicator's account (without
// ALTER) creates drc_meta at drcmeta.Current. A drc_meta created before
// the schema had a version (testdata/drc_meta_v1.sql, on a session whose
// default engine is MyISAM, so that bootstrap's tables come out
// non-transactional) is brought to Current in place: the checkpoint and a
// conflict row intact, every table InnoDB, conflicts.detail added,
// dr_operations created. A second Ensure changes nothing; roles starting
// at once on an older drc_meta all succeed; a drc_meta newer than this drc
// is refused with both versions named.
func TestDrcMetaUpgrade(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testDrcMetaUpgrade(t, f) })
	}
}

func testDrcMetaUpgrade(t *testing.T, flavor harness.Flavor) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := harness.StartServer(t, flavor, harness.ServerOptions{})
	db := m.Open(t, "")

	// A new server: the replicator's account creates drc_meta with
	// CREATE, INSERT and UPDATE on it (ALTER is for upgrades only).
	m.Exec(t, "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl'",
		"GRANT SELECT ON *.* TO 'repl'@'127.0.0.1'",
		"GRANT CREATE, INSERT, UPDATE ON drc_meta.* TO 'repl'@'127.0.0.1'")
	if err := drcmeta.Ensure(ctx, openAs(t, m, "repl", "repl")); err != nil {
		t.Fatalf("Ensure on a new server as the replicator: %v", err)
	}
	if got := len(engines(ctx, t, db)); got != 12 {
		t.Errorf("Ensure on a new server created %d tables, want 12", got)
	}
	m.Exec(t, "DROP DATABASE drc_meta")

	gtid := "0-1-7"
	if flavor == harness.FlavorMySQL {
		gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-7"
	}
	want := drcmeta.Checkpoint{Cluster: "up", Part: 0, Offset: 42, GTIDSet: gtid, Origin: "a", LastGTID: "last"}
	createVersion1(ctx, t, db, want)
	if got := engines(ctx, t, db)["apply_checkpoint"]; got != "MyISAM" {
		t.Fatalf("before the upgrade apply_checkpoint is %q, want MyISAM: the test would prove nothing", got)
	}

	if err := drcmeta.Ensure(ctx, db); err != nil {
		t.Fatalf("Ensure on a version 1 drc_meta: %v", err)
	}
	updated := assertCurrent(ctx, t, db, want)
	if _, err := db.ExecContext(ctx, `INSERT INTO drc_meta.dr_operations (cluster, kind, from_region, to_region, step, report)
		VALUES ('up', 'switchover', 'a', 'b', 'fenced', '{"ok": true}')`); err != nil {
		t.Errorf("write drc_meta.dr_operations: %v", err)
	}

	// Again: nothing to do, and the version row is not even rewritten.
	if err := drcmeta.Ensure(ctx, db); err != nil {
		t.Fatalf("Ensure at the current version: %v", err)
	}
	if again := assertCurrent(ctx, t, db, want); again != updated {
		t.Errorf("a second Ensure rewrote drc_meta.schema_version (updated_at %s, then %s)", updated, again)
	}

	// Roles starting at once on an older drc_meta: one migrates, the
	// others wait for its lock and find nothing to do.
	if _, err := db.ExecContext(ctx, "UPDATE drc_meta.schema_version SET version = 1"); err != nil {
		t.Fatal(err)
	}
	pools := []*sql.DB{m.Open(t, ""), m.Open(t, ""), m.Open(t, ""), m.Open(t, "")}
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	for i, p := range pools {
		wg.Go(func() { errs[i] = drcmeta.Ensure(ctx, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("Ensure from 4 roles at once: %v", err)
	}
	assertCurrent(ctx, t, db, want)

	// A newer drc upgraded it: this one refuses, naming both versions.
	newer := drcmeta.Current + 1
	if _, err := db.ExecContext(ctx, "UPDATE drc_meta.schema_version SET version = ?", newer); err != nil {
		t.Fatal(err)
	}
	err := drcmeta.Ensure(ctx, db)
	t.Logf("Ensure on version %d: %v", newer, err)
	if !errors.Is(err, drcmeta.ErrNewerSchema) {
		t.Fatalf("Ensure on a drc_meta at version %d = %v, want ErrNewerSchema", newer, err)
	}
	for _, s := range []string{fmt.Sprintf("version %d", newer), fmt.Sprintf("up to %d", drcmeta.Current), "upgrade drc"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("ErrNewerSchema message %q does not say %q", err, s)
		}
	}
}

// createVersion1 runs testdata/drc_meta_v1.sql on one session whose
// default engine is MyISAM, and writes checkpoint ck and one conflict.
func createVersion1(ctx context.Context, t *testing.T, db *sql.DB, ck drcmeta.Checkpoint) {
	t.Helper()
	script, err := os.ReadFile("testdata/drc_meta_v1.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stmts := []string{"SET SESSION default_storage_engine = MyISAM"}
	for _, s := range strings.Split(string(script), ";\n") {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			stmts = append(stmts, s)
		}
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%.80s: %v", s, err)
		}
	}
	if err := drcmeta.WriteCheckpoint(ctx, conn, ck); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO drc_meta.conflicts (cluster, gtid, db, tbl, op, kind, resolution)
		VALUES ('up', '0-1-5', 's', 't', 'insert', 'duplicate_key', 'source_applied')`); err != nil {
		t.Fatal(err)
	}
}

// engines returns the engine of every drc_meta table.
func engines(ctx context.Context, t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'drc_meta'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		out[name] = engine
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertCurrent checks drc_meta is at drcmeta.Current, with every table
// InnoDB, conflicts.detail, and the rows createVersion1 wrote. It returns
// when the version row was last written.
func assertCurrent(ctx context.Context, t *testing.T, db *sql.DB, ck drcmeta.Checkpoint) (versionUpdated string) {
	t.Helper()
	var v int
	err := db.QueryRowContext(ctx, "SELECT version, CAST(updated_at AS CHAR) FROM drc_meta.schema_version").Scan(&v, &versionUpdated)
	if err != nil || v != drcmeta.Current {
		t.Errorf("drc_meta.schema_version = %d, %v; want %d", v, err, drcmeta.Current)
	}
	got := engines(ctx, t, db)
	var names []string
	for name, engine := range got {
		names = append(names, name)
		if engine != "InnoDB" {
			t.Errorf("drc_meta.%s is %s, want InnoDB", name, engine)
		}
	}
	slices.Sort(names)
	wantNames := []string{"apply_checkpoint", "bootstrap_chunks", "bootstrap_state", "conflicts", "dr_operations",
		"heartbeat", "quarantine", "reconcile_chunks", "reconcile_runs", "schema_version", "skipped", "stop_errors"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("drc_meta tables %v, want %v", names, wantNames)
	}
	var detail, conflicts int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'drc_meta' AND TABLE_NAME = 'conflicts' AND COLUMN_NAME = 'detail'`).Scan(&detail); err != nil || detail != 1 {
		t.Errorf("drc_meta.conflicts.detail: %d columns, %v; want 1", detail, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM drc_meta.conflicts WHERE cluster = 'up' AND detail IS NULL").Scan(&conflicts); err != nil || conflicts != 1 {
		t.Errorf("drc_meta.conflicts rows of up: %d, %v; want the 1 written before the upgrade", conflicts, err)
	}
	cks, err := drcmeta.ReadCheckpoints(ctx, db, ck.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 1 {
		t.Fatalf("checkpoint of %s: %+v, want one row", ck.Cluster, cks)
	}
	c := cks[0]
	c.UpdatedAt = time.Time{}
	if c != ck {
		t.Errorf("checkpoint after the upgrade %+v, want %+v", c, ck)
	}
	return versionUpdated
}
