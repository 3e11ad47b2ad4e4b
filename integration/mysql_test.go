package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/reconcile"
	"github.com/drc-dev/drc/replicator"
)

// The MySQL-only behaviour of issue 12, each on a real MySQL 9.7 server
// from the private tree. Scenarios both flavors share run as subtests named
// MariaDB and MySQL in their own files.

// TestMySQLPreflightNamesTheSettings: a MySQL with its stock replication
// settings (gtid_mode OFF, MINIMAL row metadata) plus JSON partial updates
// is refused at start with every setting named, and MySQL's own privilege
// names are understood: the exact grants README lists pass.
func TestMySQLPreflightNamesTheSettings(t *testing.T) {
	src := harness.StartMySQL(t, harness.ServerOptions{ServerID: 61, ExtraArgs: []string{
		"--gtid-mode=OFF", "--enforce-gtid-consistency=OFF",
		"--binlog-row-metadata=MINIMAL", "--binlog-row-value-options=PARTIAL_JSON"}})
	k := harness.SharedKafka(t)
	cfg := replicatorConfig(src, k, "pre", harness.UniqueName("drc_pre"))
	assertPreflightSays(t, cfg, "gtid_mode: must be ON", "enforce_gtid_consistency: must be ON",
		"binlog_row_metadata: must be FULL", "binlog_row_value_options: must be empty")

	// Privileges by MySQL's names, on a correctly set up server.
	ok := harness.StartMySQL(t, harness.ServerOptions{ServerID: 62})
	ok.Exec(t,
		"CREATE USER 'weak'@'127.0.0.1' IDENTIFIED BY 'weak'",
		"GRANT SELECT ON *.* TO 'weak'@'127.0.0.1'",
		"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl'")
	need, err := grants.Need(grants.Replicator, grants.MySQL, grants.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ok.Exec(t, grants.Statements(need, "'repl'@'127.0.0.1'")...)
	weak := openAs(t, ok, "weak", "weak")
	err = replicator.Preflight(context.Background(), weak, "mysql")
	for _, want := range []string{"REPLICATION SLAVE ON *.*", "INSERT ON `drc_meta`.*"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Preflight as a SELECT-only user = %v, want it to name %q", err, want)
		}
	}
	if err := replicator.Preflight(context.Background(), openAs(t, ok, "repl", "repl"), "mysql"); err != nil {
		t.Errorf("Preflight with exactly the documented grants: %v", err)
	}
	// The same grants through a role.
	ok.Exec(t,
		"CREATE ROLE 'drc_repl'")
	ok.Exec(t, grants.Statements(need, "'drc_repl'")...)
	ok.Exec(t,
		"CREATE USER 'viarole'@'127.0.0.1' IDENTIFIED BY 'viarole' DEFAULT ROLE 'drc_repl'",
		"GRANT 'drc_repl' TO 'viarole'@'127.0.0.1'",
		"SET DEFAULT ROLE 'drc_repl' TO 'viarole'@'127.0.0.1'")
	if err := replicator.Preflight(context.Background(), openAs(t, ok, "viarole", "viarole"), "mysql"); err != nil {
		t.Errorf("Preflight with the grants through a role: %v", err)
	}

	// Bootstrap names BACKUP_ADMIN before it tries to lock.
	bc := bsConfig(ok, ok, "pre")
	bc.Tables = []string{"nothing.*"}
	bc.Source.User, bc.Source.Password = "repl", "repl"
	_, err = bootstrap.Run(context.Background(), bc, testLogger(t))
	if !errors.Is(err, bootstrap.ErrSourcePrivilege) || !strings.Contains(err.Error(), "BACKUP_ADMIN ON *.*") {
		t.Errorf("bootstrap without BACKUP_ADMIN: %v, want ErrSourcePrivilege naming BACKUP_ADMIN ON *.*", err)
	}
}

// openAs opens a pool on m as another user, over TCP.
func openAs(t *testing.T, m *harness.Server, user, password string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(m.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, password
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMySQLCompressedTransactions: with binlog_transaction_compression=ON
// every transaction is one TRANSACTION_PAYLOAD_EVENT; drc decodes them and
// b ends equal to a, with the DDL and a large transaction among them.
func TestMySQLCompressedTransactions(t *testing.T) {
	p := newApplyPairOn(t, harness.FlavorMySQL, harness.FlavorMySQL, nil)
	// The setting is read when a session starts: the writes below use a new
	// pool, not the harness's open admin session.
	p.a.Exec(t, "SET GLOBAL binlog_transaction_compression = ON")
	db := p.a.Open(t, "")
	for _, q := range []string{
		"CREATE DATABASE z",
		"CREATE TABLE z.t (id INT PRIMARY KEY, v VARCHAR(200), j JSON)",
		"INSERT INTO z.t VALUES (1, 'a', '{\"k\": 1}'), (2, 'b', NULL)",
		"BEGIN; UPDATE z.t SET v = 'c' WHERE id = 1; DELETE FROM z.t WHERE id = 2; INSERT INTO z.t VALUES (3, REPEAT('x', 200), '[1,2]'); COMMIT",
		"ALTER TABLE z.t ADD COLUMN n INT DEFAULT 7",
		"SET SESSION cte_max_recursion_depth = 10000; INSERT INTO z.t (id, v) SELECT 100 + seq, REPEAT('y', 150) FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < 3000) SELECT seq FROM s) q",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	assertSameTables(t, p.a, p.b, "z.t")
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM z.t"); n != 3002 {
		t.Errorf("b has %d rows in z.t, want 3002", n)
	}
	// The server did compress z.t's transactions: a's binlog has their
	// payload events (DDL is never compressed).
	payloads := 0
	for _, f := range binlogFiles(t, p.a.Open(t, "")) {
		for _, e := range queryRows(t, p.a, "SHOW BINLOG EVENTS IN '"+f+"'") {
			if strings.Split(e, "|")[2] == "Transaction_payload" {
				payloads++
			}
		}
	}
	if payloads < 3 {
		t.Errorf("a's binlog has %d Transaction_payload events, want at least z.t's 3: the test did not test compression", payloads)
	}
}

// TestMySQLPartialJSONStops: a session that turns on JSON partial updates
// stops the replicator at that transaction with an error naming the setting
// and the way past, and nothing of it reaches b.
func TestMySQLPartialJSONStops(t *testing.T) {
	p := newApplyPairOn(t, harness.FlavorMySQL, harness.FlavorMySQL, nil)
	p.a.Exec(t,
		"CREATE DATABASE pj",
		"CREATE TABLE pj.t (id INT PRIMARY KEY, j JSON)",
		`INSERT INTO pj.t VALUES (1, '{"a": 1, "b": "long enough to be partial"}')`)
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	p.a.Exec(t, `SET SESSION binlog_row_value_options = 'PARTIAL_JSON'; UPDATE pj.t SET j = JSON_SET(j, '$.a', 2) WHERE id = 1`)
	err := p.rep.wait(t, 60*time.Second)
	if !errors.Is(err, replicator.ErrPartialJSON) || !replicator.IsPermanent(err) ||
		!strings.Contains(err.Error(), "binlog_row_value_options") || !strings.Contains(err.Error(), "--skip-gtid") ||
		!strings.Contains(err.Error(), "column j of pj.t") {
		t.Fatalf("replicator stopped with %v; want a permanent ErrPartialJSON naming column j, the setting and --skip-gtid", err)
	}
	if got := queryInt(t, p.b, "SELECT JSON_EXTRACT(j, '$.a') FROM pj.t WHERE id = 1"); got != 1 {
		t.Errorf("b has $.a = %d, want 1 (the partial update must not be applied)", got)
	}
}

// TestMySQLTypesRoundTrip replicates the types MySQL has and MariaDB has
// not, or encodes differently, from MySQL a to MySQL b: binary JSON,
// geometry, VECTOR, utf8mb4_0900 collations, fractional DATETIME and
// TIMESTAMP, virtual and stored generated columns, invisible columns and a
// generated invisible primary key. Every column, invisible ones included,
// is compared as text.
func TestMySQLTypesRoundTrip(t *testing.T) {
	p := newApplyPairOn(t, harness.FlavorMySQL, harness.FlavorMySQL, nil)
	p.a.Exec(t,
		"CREATE DATABASE my",
		`CREATE TABLE my.t (
			id INT PRIMARY KEY,
			j JSON,
			g GEOMETRY SRID 0,
			pt POINT,
			v VECTOR(3),
			ai VARCHAR(20) COLLATE utf8mb4_0900_ai_ci,
			cs VARCHAR(20) COLLATE utf8mb4_0900_as_cs,
			bin VARCHAR(20) COLLATE utf8mb4_0900_bin,
			d6 DATETIME(6), t3 TIMESTAMP(3) NULL, tm TIME(4), y YEAR,
			virt INT AS (id * 2) VIRTUAL,
			stor VARCHAR(30) AS (CONCAT(ai, '/', cs)) STORED,
			hidden VARCHAR(10) INVISIBLE DEFAULT 'h',
			bits BIT(12), e ENUM('x','y','z'), s SET('p','q','r'),
			dec1 DECIMAL(30,10), f FLOAT, dbl DOUBLE,
			KEY (ai), UNIQUE KEY (bin)
		)`,
		`INSERT INTO my.t (id, j, g, pt, v, ai, cs, bin, d6, t3, tm, y, hidden, bits, e, s, dec1, f, dbl) VALUES
			(1, '{"a": [1, 2.5, "x", null, true], "b": {"c": "\u00e9\u4e2d"}, "big": 18446744073709551615}',
			 ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))'), POINT(1.5, -2.25), STRING_TO_VECTOR('[1.5, -2, 3.25]'),
			 'Åbc', 'Abc', 'a1', '2026-11-30 12:34:56.123456', '2026-11-30 01:02:03.456', '-838:59:58.9999', 2026, 'seen', b'101010101010',
			 'y', 'p,r', 12345678901234567890.0123456789, 1.25, -3.141592653589793),
			(2, '[]', ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'), NULL, NULL,
			 'e', 'E', 'a2', '1000-01-01 00:00:00.000001', NULL, '00:00:00', NULL, DEFAULT, NULL, NULL, '', NULL, NULL, NULL),
			(3, '"str"', NULL, POINT(0, 0), STRING_TO_VECTOR('[0,0,0]'), NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'x', b'1', 'z', 'q', -0.5, 0, 0)`,
		`UPDATE my.t SET j = JSON_SET(j, '$.b.c', 'changed'), hidden = 'upd', v = STRING_TO_VECTOR('[9,8,7]') WHERE id = 1`,
		"DELETE FROM my.t WHERE id = 3",
		// A generated invisible primary key: the table has none of its own.
		"SET SESSION sql_generate_invisible_primary_key = ON; CREATE TABLE my.gipk (name VARCHAR(20), n INT)",
		"INSERT INTO my.gipk VALUES ('a', 1), ('b', 2), ('c', 3)",
		"UPDATE my.gipk SET n = n * 10 WHERE name = 'b'",
		"DELETE FROM my.gipk WHERE name = 'a'",
		// Expression defaults (EXTRA says DEFAULT_GENERATED): the values a
		// computed travel; b must not compute its own, least of all a key.
		`CREATE TABLE my.dflt (uid BINARY(16) PRIMARY KEY DEFAULT (UUID_TO_BIN(UUID())),
			created DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), n INT)`,
		"INSERT INTO my.dflt (n) VALUES (1), (2), (3)",
		"DO SLEEP(0.01); UPDATE my.dflt SET n = n + 10 WHERE n = 2",
		"DELETE FROM my.dflt WHERE n = 3",
	)
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	all := "id, CAST(j AS CHAR), ST_AsText(g), ST_AsText(pt), VECTOR_TO_STRING(v), ai, cs, bin, d6, t3, tm, y, virt, stor, hidden, HEX(bits), e, s, dec1, f, dbl"
	compareQuery(t, p.a, p.b, "SELECT "+all+" FROM my.t ORDER BY id")
	compareQuery(t, p.a, p.b, "SELECT my_row_id, name, n FROM my.gipk ORDER BY my_row_id")
	compareQuery(t, p.a, p.b, "SELECT HEX(uid), created, n FROM my.dflt ORDER BY n")
	compareQuery(t, p.a, p.b, "SELECT COLUMN_NAME, COLUMN_TYPE, COLLATION_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'my' ORDER BY TABLE_NAME, ORDINAL_POSITION")
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM my.t"); n != 2 {
		t.Errorf("b has %d rows in my.t, want 2", n)
	}
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
}

// compareQuery fails the test if q returns different rows on a and b.
func compareQuery(t *testing.T, a, b *harness.Server, q string) {
	t.Helper()
	ra, rb := queryRows(t, a, q), queryRows(t, b, q)
	if len(ra) == 0 {
		t.Errorf("%s: no rows on a; the comparison tests nothing", q)
	}
	if strings.Join(ra, "\n") != strings.Join(rb, "\n") {
		t.Errorf("%s differs:\na:\n  %s\nb:\n  %s", q, strings.Join(ra, "\n  "), strings.Join(rb, "\n  "))
	}
}

// TestCrossFlavor replicates between the flavors, as a DBA migrating from
// one to the other would: MySQL a into MariaDB b, and MariaDB a into MySQL b,
// for the types both servers share. JSON crosses between MySQL's binary type
// and MariaDB's text alias and is compared as documents.
func TestCrossFlavor(t *testing.T) {
	for _, c := range []struct {
		name   string
		fa, fb harness.Flavor
	}{
		{"MySQLToMariaDB", harness.FlavorMySQL, harness.FlavorMariaDB},
		{"MariaDBToMySQL", harness.FlavorMariaDB, harness.FlavorMySQL},
	} {
		t.Run(c.name, func(t *testing.T) { testCrossFlavor(t, c.fa, c.fb) })
	}
}

func testCrossFlavor(t *testing.T, fa, fb harness.Flavor) {
	p := newApplyPairOn(t, fa, fb, nil)
	p.a.Exec(t,
		"CREATE DATABASE x",
		`CREATE TABLE x.t (
			id BIGINT UNSIGNED PRIMARY KEY,
			i INT, ti TINYINT UNSIGNED, name VARCHAR(40), txt TEXT, b VARBINARY(16), bl BLOB,
			dec1 DECIMAL(20,6), f FLOAT, dbl DOUBLE,
			d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR,
			bits BIT(10), e ENUM('x','y'), s SET('p','q'),
			j JSON, g GEOMETRY,
			UNIQUE KEY (name)
		)`,
		`INSERT INTO x.t VALUES
			(18446744073709551615, -2147483648, 255, 'Ünïcode ☃', REPEAT('t', 300), x'00ff10', x'deadbeef',
			 -12345678901234.123456, 1.5, 2.718281828459045, '2026-11-30', '2026-11-30 10:11:12.123456', '2026-11-30 10:11:12.123', '-12:34:56.78', 1999,
			 b'1010101010', 'y', 'p,q', '{"k": [1, "two", null, {"n": 2.5}]}', ST_GeomFromText('POINT(1 2)')),
			(1, NULL, 0, 'plain', '', '', NULL, 0, 0, 0, '1000-01-01', '1000-01-01 00:00:00', NULL, '00:00:00', NULL, b'0', 'x', '', '[]', NULL),
			(2, 7, 1, 'gone', 'x', 'x', 'x', 1, 1, 1, '2000-02-29', '2000-02-29 00:00:00', NULL, '01:00:00', 2000, b'1', 'x', 'p', 'null', NULL)`,
		"UPDATE x.t SET j = '{\"k\": \"changed\"}', name = 'renamed', dt = '2030-01-01 00:00:00.000001' WHERE id = 1",
		"UPDATE x.t SET i = i + 1 WHERE id = 18446744073709551615",
		"DELETE FROM x.t WHERE id = 2",
		"ALTER TABLE x.t ADD COLUMN extra INT NOT NULL DEFAULT 5",
		"INSERT INTO x.t (id, name, j) VALUES (3, 'after ddl', '{\"after\": true}')",
	)
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	// A row both sides hold from before replication (as bootstrap or a dump
	// copies it: MySQL renders JSON with spaces), then changed on a: the
	// applier must find it by its whole before image.
	p.a.Exec(t, `SET SESSION sql_log_bin = 0; INSERT INTO x.t (id, name, j) VALUES (10, 'seeded', '{"k": [1, "two"], "n": 2.5}'); SET SESSION sql_log_bin = 1`)
	p.b.Exec(t, `INSERT INTO x.t (id, name, j) VALUES (10, 'seeded', '{"k": [1, "two"], "n": 2.5}')`)
	p.a.Exec(t, "UPDATE x.t SET name = 'seeded, changed' WHERE id = 10")
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	cols := "id, i, ti, name, txt, HEX(b), HEX(bl), dec1, f, dbl, d, dt, ts, tm, y, HEX(bits), e, s, ST_AsText(g), extra"
	compareQuery(t, p.a, p.b, "SELECT "+cols+" FROM x.t ORDER BY id")
	ja, jb := jsonColumn(t, p.a, "SELECT j FROM x.t ORDER BY id"), jsonColumn(t, p.b, "SELECT j FROM x.t ORDER BY id")
	if len(ja) != 4 || strings.Join(ja, "\n") != strings.Join(jb, "\n") {
		t.Errorf("JSON column differs:\na: %q\nb: %q", ja, jb)
	}
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
}

// jsonColumn returns q's one JSON column, each value parsed and written
// again (keys sorted, one number format), so documents compare by value.
func jsonColumn(t *testing.T, m *harness.Server, q string) []string {
	t.Helper()
	var out []string
	for _, s := range queryRows(t, m, "SELECT CAST(j AS CHAR) FROM ("+q+") q") {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s on %s: %q is not JSON: %v", q, m.Addr(), s, err)
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return out
}

// TestCrossFlavorRefusesWhatTheTargetLacks: a DDL the target flavor cannot
// run (MySQL's VECTOR on MariaDB 10.11) stops the applier before anything
// after it is applied, with an error that names the statement and the way
// past, instead of applying rows to a table the target does not have.
func TestCrossFlavorRefusesWhatTheTargetLacks(t *testing.T) {
	p := newApplyPairOn(t, harness.FlavorMySQL, harness.FlavorMariaDB, nil)
	p.a.Exec(t,
		"CREATE DATABASE x",
		"CREATE TABLE x.v (id INT PRIMARY KEY, v VECTOR(3))",
		"INSERT INTO x.v VALUES (1, STRING_TO_VECTOR('[1,2,3]'))")
	err := p.app.wait(t, 60*time.Second)
	t.Logf("applier stopped: %v", err)
	if err == nil || !strings.Contains(err.Error(), "CREATE TABLE") || !strings.Contains(err.Error(), "--skip-offset") {
		t.Fatalf("applier stopped with %v; want an error naming the CREATE TABLE and --skip-offset", err)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'x'"); n != 0 {
		t.Errorf("b has %d tables in x, want 0", n)
	}
}

// TestMySQLReconcileRepair finds drift between two MySQL regions in the
// types MySQL adds (binary JSON, 0900 collations, which do not pad, VECTOR,
// fractional times), repairs it without binlogging the repairs, and finds
// nothing afterwards. MySQL 9 has no MD5(), so --digest md5 is refused up
// front.
func TestMySQLReconcileRepair(t *testing.T) {
	a := harness.StartMySQL(t, harness.ServerOptions{ServerID: 1})
	b := harness.StartMySQL(t, harness.ServerOptions{ServerID: 2})
	b.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta",
		`CREATE TABLE IF NOT EXISTS drc_meta.apply_checkpoint (
		  cluster VARCHAR(64) NOT NULL, part INT NOT NULL, kafka_offset BIGINT NOT NULL, gtid_set TEXT NOT NULL,
		  origin VARCHAR(64) NOT NULL, last_gtid VARCHAR(128) NOT NULL,
		  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
		  PRIMARY KEY (cluster, part))`)
	for _, m := range []*harness.Server{a, b} {
		m.Exec(t, "CREATE DATABASE rc",
			`CREATE TABLE rc.t (id INT PRIMARY KEY, j JSON, ai VARCHAR(20) COLLATE utf8mb4_0900_ai_ci,
				v VECTOR(2), dt DATETIME(6), hidden INT INVISIBLE DEFAULT 0)`,
			"SET SESSION cte_max_recursion_depth = 2000; INSERT INTO rc.t (id, j, ai, v, dt, hidden) "+
				"SELECT n, JSON_OBJECT('n', n, 'l', JSON_ARRAY(n, 'x')), CONCAT('name ', n), STRING_TO_VECTOR(CONCAT('[', n, ',', -n, ']')), "+
				"'2026-01-01 00:00:00.000001' + INTERVAL n SECOND, n FROM (WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1500) SELECT n FROM s) q")
	}
	b.Exec(t, strings.Join([]string{"SET SESSION sql_log_bin = 0",
		"DELETE FROM rc.t WHERE id = 5",
		"INSERT INTO rc.t (id, ai) VALUES (1501, 'extra')",
		`UPDATE rc.t SET j = JSON_SET(j, '$.l[1]', 'y') WHERE id = 10`,
		"UPDATE rc.t SET ai = 'NAME 11' WHERE id = 11",  // case only: equal under _ai_ci, but drift all the same
		"UPDATE rc.t SET ai = 'name 12 ' WHERE id = 12", // trailing space: 0900 collations do not pad
		"UPDATE rc.t SET v = STRING_TO_VECTOR('[13, 13]') WHERE id = 13",
		"UPDATE rc.t SET dt = dt + INTERVAL 1 MICROSECOND WHERE id = 14",
		"UPDATE rc.t SET hidden = -1 WHERE id = 15",
	}, "; "))
	want := []string{"5 missing", "1501 extra", "10 changed j", "11 changed ai", "12 changed ai", "13 changed v", "14 changed dt", "15 changed hidden"}
	p := &pair{a: a, b: b}
	cluster := harness.UniqueName("c")
	p.caughtUp(t, cluster)

	cfg := p.config(cluster, "rc.t")
	cfg.PartRows = 200
	md5 := cfg
	md5.Digest = reconcile.DigestMD5
	if _, err := reconcile.Run(context.Background(), md5, testLogger(t)); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("reconcile --digest md5 on MySQL 9: %v, want an error naming sha256", err)
	}
	checkFound(t, run(t, cfg), want)

	before := b.BinlogGTIDPos(t)
	cfg.Repair = true
	cfg.Resume = false
	rep := run(t, cfg)
	checkFound(t, rep, want)
	for _, d := range rep.Differences {
		if !d.Repaired {
			t.Errorf("not repaired: %+v", d)
		}
	}
	// Only reconcile's own state in drc_meta may reach b's binlog.
	if rows := binlogTablesSince(t, b, before); slices.Contains(rows, "rc.t") {
		t.Errorf("the repair reached b's binlog: tables %v", rows)
	}
	cfg.Repair = false
	checkFound(t, run(t, cfg), nil)
	compareQuery(t, a, b, "SELECT id, CAST(j AS CHAR), ai, VECTOR_TO_STRING(v), dt, hidden FROM rc.t ORDER BY id")
}

// binlogTablesSince lists the tables (db.table) of the row events m wrote
// to its binlog after GTID set since (MySQL).
func binlogTablesSince(t *testing.T, m *harness.Server, since string) []string {
	t.Helper()
	db := m.Open(t, "")
	var out []string
	for _, file := range binlogFiles(t, db) {
		rows, err := db.Query("SHOW BINLOG EVENTS IN '" + file + "'")
		if err != nil {
			t.Fatal(err)
		}
		after := false
		for rows.Next() {
			var log, typ, info string
			var pos, server, end any
			if err := rows.Scan(&log, &pos, &typ, &server, &end, &info); err != nil {
				t.Fatal(err)
			}
			if typ == "Gtid" {
				var in bool
				g := info[strings.Index(info, "'")+1 : strings.LastIndex(info, "'")]
				if err := db.QueryRow("SELECT GTID_SUBSET(?, ?)", g, since).Scan(&in); err != nil {
					t.Fatal(err)
				}
				after = !in
			}
			if after && typ == "Table_map" {
				// "table_id: 93 (rc.t)"
				out = append(out, info[strings.Index(info, "(")+1:strings.LastIndex(info, ")")])
			}
		}
		rows.Close()
	}
	return out
}

// TestMySQLCachingSHA2WithoutTLS: accounts on MySQL's default
// caching_sha2_password, freshly created (no cached login), with TLS turned
// off: the first login of each role, the binlog stream's included, takes
// the full authentication, with the password RSA-encrypted under the
// server's key. The replicator's account has exactly the grants README
// lists for MySQL.
func TestMySQLCachingSHA2WithoutTLS(t *testing.T) {
	a := harness.StartMySQL(t, harness.ServerOptions{ServerID: 1})
	b := harness.StartMySQL(t, harness.ServerOptions{ServerID: 2})
	k := harness.SharedKafka(t)
	a.Exec(t,
		"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY 'repl-pw'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'repl'@'127.0.0.1'",
		"GRANT CREATE, INSERT, UPDATE ON drc_meta.* TO 'repl'@'127.0.0.1'",
		"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"FLUSH PRIVILEGES") // empties the fast-authentication cache
	b.Exec(t,
		"CREATE USER 'app'@'127.0.0.1' IDENTIFIED WITH caching_sha2_password BY 'app-pw'",
		"GRANT ALL PRIVILEGES ON *.* TO 'app'@'127.0.0.1'",
		"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"FLUSH PRIVILEGES")
	cluster := harness.UniqueName("sha2")
	topic := "drc." + cluster
	rc := replicatorConfig(a, k, cluster, topic)
	rc.User, rc.Password = "repl", "repl-pw"
	rc.TLS = mysqlconn.TLS{Mode: mysqlconn.Disabled}
	rc.StartGTID = a.BinlogGTIDPos(t)
	startReplicator(t, rc)
	ac := applyConfig(b, k, cluster, topic)
	ac.User, ac.Password = "app", "app-pw"
	ac.TLS = mysqlconn.TLS{Mode: mysqlconn.Disabled}
	startApplier(t, ac)
	a.Exec(t, "CREATE TABLE s.u (id INT PRIMARY KEY)", "INSERT INTO s.t VALUES (1, 'one'), (2, 'two')", "INSERT INTO s.u VALUES (7)")
	waitApplied(t, a, b, cluster, time.Minute)
	// s.t was created on both before the replicator started; s.u travels.
	assertSameTables(t, a, b, "s.t", "s.u")
	// Neither role's sessions used TLS.
	for _, c := range []struct {
		m    *harness.Server
		user string
	}{{a, "repl"}, {b, "app"}} {
		n := queryInt(t, c.m, `SELECT COUNT(*) FROM performance_schema.threads th
			JOIN performance_schema.status_by_thread st ON st.THREAD_ID = th.THREAD_ID AND st.VARIABLE_NAME = 'Ssl_version'
			WHERE th.PROCESSLIST_USER = ? AND st.VARIABLE_VALUE = ''`, c.user)
		if n == 0 {
			t.Errorf("%s has no plaintext session of %s: the test did not test the RSA exchange", c.m.Addr(), c.user)
		}
	}
}
