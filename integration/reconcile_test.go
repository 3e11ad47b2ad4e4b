package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/reconcile"
)

// The reconcile tests share one pair of servers: region a (the source) and
// region b (the target), which do not replicate to each other. Each scenario
// uses its own databases and its own cluster name in b's
// drc_meta.apply_checkpoint, whose rows the tests write themselves to stand
// in for the applier.
func TestReconcile(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	b.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta",
		// The applier's table, as its contract defines it.
		`CREATE TABLE IF NOT EXISTS drc_meta.apply_checkpoint (
		  cluster VARCHAR(64) NOT NULL, part INT NOT NULL,
		  kafka_offset BIGINT NOT NULL,
		  gtid_set TEXT NOT NULL,
		  origin VARCHAR(64) NOT NULL, last_gtid VARCHAR(128) NOT NULL,
		  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
		  PRIMARY KEY (cluster, part))`)
	p := &pair{a: a, b: b}

	t.Run("DriftDetection", p.testDriftDetection)
	t.Run("Resume", p.testResume)
	t.Run("Repair", p.testRepair)
	t.Run("QuotingAndKeys", p.testQuotingAndKeys)
	t.Run("NoCheckpoint", p.testNoCheckpoint)
	t.Run("LiveWrites", p.testLiveWrites)
}

type pair struct{ a, b *harness.Server }

// caughtUp writes b's checkpoint row for cluster at a's current position:
// an applier that has applied everything.
func (p *pair) caughtUp(t *testing.T, cluster string) {
	t.Helper()
	pos := p.a.BinlogGTIDPos(t)
	p.b.Exec(t, fmt.Sprintf(`REPLACE INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid)
		VALUES ('%s', 0, 0, '%s', 'a', '')`, cluster, pos))
}

func (p *pair) config(cluster string, tables ...string) reconcile.Config {
	cfg := reconcile.NewConfig()
	cfg.SourceDSN = p.a.DSN("")
	cfg.TargetDSN = p.b.DSN("")
	cfg.Cluster = cluster
	cfg.Tables = tables
	cfg.SettleTimeout = 20 * time.Second
	return cfg
}

func run(t *testing.T, cfg reconcile.Config) *reconcile.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := reconcile.Run(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	// Both outputs must render; the JSON must parse.
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json report: %v", err)
	}
	t.Logf("report:\n%s", text.String())
	return rep
}

// testLogger sends reconcile's log to the test log; DRC_TEST_DEBUG=1 adds
// debug lines (chunk timings, settling).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelInfo
	if os.Getenv("DRC_TEST_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// found is a difference as the tests compare it: "id kind col,col".
func found(rep *reconcile.Report) []string {
	var out []string
	for _, d := range rep.Differences {
		var key []string
		for _, k := range d.Key {
			key = append(key, k.Value)
		}
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s", strings.Join(key, "/"), d.Kind, strings.Join(d.Columns, ","))))
	}
	sort.Strings(out)
	return out
}

func checkFound(t *testing.T, rep *reconcile.Report, want []string) {
	t.Helper()
	sort.Strings(want)
	got := found(rep)
	if !slices.Equal(got, want) {
		t.Errorf("differences:\n got %q\nwant %q", got, want)
	}
}

// typesDDL has a column of each kind the encoding treats differently, plus a
// latin1 column (a table mixing character sets) and a pair of columns for
// the field-framing case.
const typesDDL = `CREATE TABLE %s.types (
  id INT NOT NULL PRIMARY KEY,
  vc VARCHAR(64) NULL, ch CHAR(10) NULL, txt TEXT NULL,
  dec1 DECIMAL(65,30) NULL, dec2 DECIMAL(10,2) NULL,
  dbl DOUBLE NULL, flt FLOAT NULL,
  dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL, d DATE NULL, tm TIME(3) NULL, yr YEAR NULL,
  bin VARBINARY(16) NULL, blb BLOB NULL, bt BIT(12) NULL,
  en ENUM('a','b','c') NULL, st SET('x','y') NULL, js JSON NULL,
  ubig BIGINT UNSIGNED NULL,
  fa VARCHAR(16) NULL, fb VARCHAR(16) NULL,
  lat VARCHAR(16) CHARACTER SET latin1 NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`

// typesRows fills types with 2000 identical rows on each side. Every value
// is a function of seq, so both servers compute the same data.
const typesRows = `INSERT INTO %[1]s.types SELECT seq,
  IF(seq %% 7 = 0, NULL, CONCAT('v', seq)), CONCAT('c', seq), REPEAT('t', seq %% 50),
  seq / 7, seq / 100, seq / 10, seq / 10,
  '2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND,
  '2024-01-01 00:00:00.000001' + INTERVAL seq MINUTE, '2024-01-01' + INTERVAL seq DAY,
  SEC_TO_TIME(seq), 1901 + seq %% 200,
  UNHEX(LPAD(HEX(seq), 8, '0')), REPEAT(CHAR(seq %% 256), 3), seq %% 4096,
  ELT(1 + seq %% 3, 'a', 'b', 'c'), IF(seq %% 2 = 0, 'x', 'x,y'), JSON_OBJECT('n', seq),
  18446744073709551615 - seq, CONCAT('f', seq), CONCAT('g', seq), 'café'
  FROM %[1]s.seq_1_to_2000`

// setupTypes creates the types table on both sides, makes the special rows,
// and injects drift on b (with sql_log_bin=0, as drift happens: behind
// replication's back). It returns the differences reconcile must report.
func (p *pair) setupTypes(t *testing.T, db string) []string {
	t.Helper()
	for _, m := range []*harness.Server{p.a, p.b} {
		m.Exec(t, "CREATE DATABASE "+db, fmt.Sprintf(typesDDL, db), fmt.Sprintf(typesRows, db),
			fmt.Sprintf("UPDATE %s.types SET fa = 'x|y', fb = 'z' WHERE id = 28", db),
			fmt.Sprintf("UPDATE %s.types SET dbl = 0.1, flt = 0.1, bin = X'00' WHERE id IN (16, 17, 21)", db),
			fmt.Sprintf("UPDATE %s.types SET dbl = 1.7976931348623157e308 WHERE id = 18", db),
			fmt.Sprintf("UPDATE %s.types SET bin = NULL WHERE id = 22", db),
		)
	}
	drift := []string{
		"DELETE FROM %[1]s.types WHERE id IN (5, 6)",
		"INSERT INTO %[1]s.types (id, vc) VALUES (0, 'below'), (3001, 'above'), (3002, 'above')",
		"UPDATE %[1]s.types SET vc = '' WHERE id = 14",                                        // NULL → ''
		"UPDATE %[1]s.types SET vc = 'v11 ' WHERE id = 11",                                    // trailing space
		"UPDATE %[1]s.types SET ch = 'C12' WHERE id = 12",                                     // case only: equal in a _ci collation
		"UPDATE %[1]s.types SET dec1 = dec1 + 0.000000000000000000000000000001 WHERE id = 13", // 30th decimal
		"UPDATE %[1]s.types SET dec2 = 0.16 WHERE id = 15",
		"UPDATE %[1]s.types SET dbl = 0.10000000000000002 WHERE id = 16", // one ulp
		"UPDATE %[1]s.types SET flt = 0.10000001 WHERE id = 17",          // one float ulp; FLOAT's own text still says 0.1
		"UPDATE %[1]s.types SET dbl = 1.7976931348623155e308 WHERE id = 18",
		"UPDATE %[1]s.types SET dt = dt + INTERVAL 1 MICROSECOND WHERE id = 19",
		"UPDATE %[1]s.types SET ts = ts + INTERVAL 1 MICROSECOND WHERE id = 20",
		"UPDATE %[1]s.types SET bin = X'01' WHERE id = 21",
		"UPDATE %[1]s.types SET bin = X'' WHERE id = 22", // NULL → empty binary
		"UPDATE %[1]s.types SET blb = CONCAT(blb, X'00') WHERE id = 23",
		"UPDATE %[1]s.types SET bt = bt ^ 1 WHERE id = 24",
		"UPDATE %[1]s.types SET en = IF(en = 'a', 'b', 'a') WHERE id = 25",
		`UPDATE %[1]s.types SET js = '{"n": 26.0}' WHERE id = 26`,
		"UPDATE %[1]s.types SET ubig = ubig - 1 WHERE id = 27",
		"UPDATE %[1]s.types SET fa = 'x', fb = 'y|z' WHERE id = 28", // same concatenation, different fields
		"UPDATE %[1]s.types SET lat = 'cafe' WHERE id = 29",
		"UPDATE %[1]s.types SET tm = ADDTIME(tm, '00:00:00.001') WHERE id = 30",
		"UPDATE %[1]s.types SET yr = yr + 1 WHERE id = 31",
		"UPDATE %[1]s.types SET d = d + INTERVAL 1 DAY WHERE id = 32",
		"UPDATE %[1]s.types SET st = 'y' WHERE id = 33",
		"UPDATE %[1]s.types SET vc = 'changed', dec2 = 99 WHERE id = 34",
		"UPDATE %[1]s.types SET txt = NULL WHERE id = 35",
	}
	stmts := []string{"SET SESSION sql_log_bin = 0"}
	for _, d := range drift {
		stmts = append(stmts, fmt.Sprintf(d, db))
	}
	// One multi-statement string: the pool runs it on one connection, so
	// sql_log_bin=0 covers every statement.
	p.b.Exec(t, strings.Join(stmts, "; "))
	return []string{
		"5 missing", "6 missing", "0 extra", "3001 extra", "3002 extra",
		"14 changed vc", "11 changed vc", "12 changed ch", "13 changed dec1", "15 changed dec2",
		"16 changed dbl", "17 changed flt", "18 changed dbl", "19 changed dt", "20 changed ts",
		"21 changed bin", "22 changed bin", "23 changed blb", "24 changed bt", "25 changed en",
		"26 changed js", "27 changed ubig", "28 changed fa,fb", "29 changed lat", "30 changed tm",
		"31 changed yr", "32 changed d", "33 changed st", "34 changed vc,dec2", "35 changed txt",
	}
}

func (p *pair) testDriftDetection(t *testing.T) {
	db := harness.UniqueName("rc_drift")
	want := p.setupTypes(t, db)
	cluster := harness.UniqueName("c")
	p.caughtUp(t, cluster)

	cfg := p.config(cluster, db+".types")
	cfg.PartRows = 100 // several parts and chunks even on 2000 rows
	rep := run(t, cfg)
	checkFound(t, rep, want)
	if len(rep.Unsettled) != 0 {
		t.Errorf("unsettled: %v", rep.Unsettled)
	}
	if got := rep.ExitCode(); got != 1 {
		t.Errorf("exit code %d, want 1", got)
	}
	if tr := rep.Tables[0]; tr.Status != reconcile.StatusDrift || tr.Rows != 2000 {
		t.Errorf("table result = %+v", tr)
	}
	for _, d := range rep.Differences {
		if d.RepairSQL == "" || d.Repaired {
			t.Errorf("dry run: %+v", d)
		}
	}

	// The MD5 digest finds the same.
	cfg.Digest = reconcile.DigestMD5
	cfg.Resume = false
	checkFound(t, run(t, cfg), want)
}

// testResume interrupts a run after its first chunk (by rewinding the saved
// state as a kill would leave it) and checks the rerun skips what was done
// and still reports everything.
func (p *pair) testResume(t *testing.T) {
	db := harness.UniqueName("rc_resume")
	want := p.setupTypes(t, db)
	cluster := harness.UniqueName("c")
	p.caughtUp(t, cluster)
	cfg := p.config(cluster, db+".types")
	cfg.PartRows = 50
	cfg.ChunkTime = 10 * time.Millisecond
	first := run(t, cfg)
	checkFound(t, first, want)
	if first.Tables[0].Chunks < 3 {
		t.Fatalf("want several chunks, got %d", first.Tables[0].Chunks)
	}

	tgt := p.b.Open(t, "")
	var kept int
	if err := tgt.QueryRow("SELECT COUNT(*) FROM drc_meta.reconcile_chunks WHERE run_id = ?", first.RunID).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != first.Tables[0].Chunks {
		t.Fatalf("%d chunks recorded, want %d", kept, first.Tables[0].Chunks)
	}
	// As if killed after chunk 1: later chunks unrecorded, run not finished.
	if _, err := tgt.Exec("DELETE FROM drc_meta.reconcile_chunks WHERE run_id = ? AND chunk_no > 1", first.RunID); err != nil {
		t.Fatal(err)
	}
	if _, err := tgt.Exec("UPDATE drc_meta.reconcile_runs SET status = 'running' WHERE run_id = ?", first.RunID); err != nil {
		t.Fatal(err)
	}
	second := run(t, cfg)
	if second.RunID != first.RunID || !second.Tables[0].Resumed {
		t.Errorf("second run %s resumed=%v, want run %s resumed", second.RunID, second.Tables[0].Resumed, first.RunID)
	}
	checkFound(t, second, want)
	if second.Tables[0].Rows != first.Tables[0].Rows {
		t.Errorf("rows %d after resume, want %d", second.Tables[0].Rows, first.Tables[0].Rows)
	}

	// A finished run is not resumed: the next one starts over.
	third := run(t, cfg)
	if third.Tables[0].Resumed {
		t.Error("a finished run was resumed")
	}
	checkFound(t, third, want)
}

func (p *pair) testRepair(t *testing.T) {
	db := harness.UniqueName("rc_repair")
	want := p.setupTypes(t, db)
	cluster := harness.UniqueName("c")
	p.caughtUp(t, cluster)
	tgt := p.b.Open(t, "")
	var file, doDB, ignoreDB string
	var pos int64
	if err := tgt.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB); err != nil {
		t.Fatal(err)
	}

	cfg := p.config(cluster, db+".types")
	cfg.Repair = true
	cfg.RepairBatch = 7 // several repair transactions
	rep := run(t, cfg)
	checkFound(t, rep, want)
	for _, d := range rep.Differences {
		if !d.Repaired {
			t.Errorf("not repaired: %+v", d)
		}
	}
	if got := rep.ExitCode(); got != 0 {
		t.Errorf("exit code after repair %d, want 0", got)
	}

	// The repairs ran with sql_log_bin=0: none of them is in b's binlog
	// (reconcile's own state in drc_meta is, and the replicator skips it).
	rows, err := tgt.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d", file, pos))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var logName, evType, info string
		var p1, server, end int64
		if err := rows.Scan(&logName, &p1, &evType, &server, &end, &info); err != nil {
			t.Fatal(err)
		}
		// Row events name their table in the table map.
		if evType == "Table_map" && strings.Contains(info, db) {
			t.Errorf("repair reached b's binlog: %s %s", evType, info)
		}
	}
	rows.Close()

	cfg.Repair = false
	after := run(t, cfg)
	checkFound(t, after, nil)
	if after.ExitCode() != 0 {
		t.Errorf("exit code %d after repair, want 0", after.ExitCode())
	}
	var ta, tb, sum1, sum2 string
	if err := p.a.Open(t, "").QueryRow("CHECKSUM TABLE "+db+".types").Scan(&ta, &sum1); err != nil {
		t.Fatal(err)
	}
	if err := tgt.QueryRow("CHECKSUM TABLE "+db+".types").Scan(&tb, &sum2); err != nil {
		t.Fatal(err)
	}
	if sum1 != sum2 {
		t.Errorf("CHECKSUM TABLE differs after repair: a %s, b %s", sum1, sum2)
	}
}

// testQuotingAndKeys: identifiers with backticks, spaces and non-ASCII
// letters; a composite text key; a table keyed by a NOT NULL unique key;
// tables that cannot be compared. Settling is off: nothing replicates.
func (p *pair) testQuotingAndKeys(t *testing.T) {
	db := harness.UniqueName("rc`q é")
	q := mysqlconn.QuoteIdent
	tbl := q(db) + "." + q("tä`ble x")
	for _, m := range []*harness.Server{p.a, p.b} {
		m.Exec(t, "CREATE DATABASE "+q(db),
			"CREATE TABLE "+tbl+" ("+q("naïve col")+" VARCHAR(20) NOT NULL, "+q("col `1`")+" INT NOT NULL, "+
				q("val ue")+" VARCHAR(20), PRIMARY KEY ("+q("naïve col")+", "+q("col `1`")+"))",
			"INSERT INTO "+tbl+" VALUES ('ä', 1, 'x'), ('ä', 2, 'y'), ('b', 1, 'z'), ('x y', 3, 'w'), ('it''s', 4, 'v'), ('z', 9, 'u')",
			"CREATE TABLE "+q(db)+".uk (id INT NULL, code VARCHAR(10) NOT NULL, v INT, UNIQUE KEY "+q("u`k")+" (code))",
			"INSERT INTO "+q(db)+".uk VALUES (1, 'a', 1), (2, 'b', 2), (NULL, 'c', 3)",
			"CREATE TABLE "+q(db)+".nokey (a INT, b INT)",
			"CREATE TABLE "+q(db)+".nullkey (a INT NULL, UNIQUE KEY (a))",
		)
	}
	p.b.Exec(t, "SET SESSION sql_log_bin = 0; "+
		"UPDATE "+tbl+" SET "+q("val ue")+" = 'changed' WHERE "+q("naïve col")+" = 'x y'; "+
		"DELETE FROM "+tbl+" WHERE "+q("naïve col")+" = 'it''s'; "+
		"INSERT INTO "+tbl+" VALUES ('ö', 5, 'extra'); "+
		"UPDATE "+q(db)+".uk SET v = 20 WHERE code = 'b'")

	cfg := p.config("", "`"+strings.ReplaceAll(db, "`", "``")+"`.*")
	cfg.Settle = false
	cfg.Repair = true
	rep := run(t, cfg)
	checkFound(t, rep, []string{"x y/3 changed val ue", "it's/4 missing", "ö/5 extra", "b changed v"})
	status := map[string]reconcile.TableResult{}
	for _, tr := range rep.Tables {
		status[strings.TrimPrefix(tr.Table, db+".")] = tr
	}
	if tr := status["nokey"]; tr.Status != reconcile.StatusNotComparable || !strings.Contains(tr.Reason, "no primary key and no unique key") {
		t.Errorf("nokey: %+v", tr)
	}
	if tr := status["nullkey"]; tr.Status != reconcile.StatusNotComparable || !strings.Contains(tr.Reason, "nullable") {
		t.Errorf("nullkey: %+v", tr)
	}
	if tr := status["uk"]; tr.Status != reconcile.StatusRepaired || len(tr.Key) != 1 || tr.Key[0] != "code" {
		t.Errorf("uk: %+v", tr)
	}
	if tr := status["tä`ble x"]; tr.Status != reconcile.StatusRepaired {
		t.Errorf("tä`ble x: %+v", tr)
	}
	if rep.ExitCode() != 1 { // not comparable tables remain a finding
		t.Errorf("exit code %d, want 1", rep.ExitCode())
	}

	cfg.Repair = false
	checkFound(t, run(t, cfg), nil)
}

func (p *pair) testNoCheckpoint(t *testing.T) {
	cfg := p.config("no-such-cluster", "mysql.user")
	_, err := reconcile.Run(context.Background(), cfg, nil)
	if !errors.Is(err, reconcile.ErrNoCheckpoint) {
		t.Fatalf("err = %v, want ErrNoCheckpoint", err)
	}
	if reconcile.ExitCode(nil, err) != 2 {
		t.Error("exit code for an error must be 2")
	}
}

// testLiveWrites compares while a write loop runs on a, and a stand-in
// applier replays every transaction on b about lagBy later, advancing b's
// checkpoint in the same transaction. Only the three rows drifted behind
// replication's back may be reported: lag and hot rows must never be.
//
// THE STAND-IN IS NOT drc's APPLIER. It replays the write loop's own
// statements in commit order (the loop is the only writer on a, so the
// position read after each commit is exact). Switch to the real applier
// once it exists.
func (p *pair) testLiveWrites(t *testing.T) {
	const rows = 60000
	const lagBy = 400 * time.Millisecond
	db := harness.UniqueName("rc_live")
	cluster := harness.UniqueName("c")
	for _, m := range []*harness.Server{p.a, p.b} {
		m.Exec(t, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL, s VARCHAR(40) NOT NULL)",
			fmt.Sprintf("INSERT INTO %[1]s.t SELECT seq, seq, CONCAT('s', seq) FROM %[1]s.seq_1_to_%[2]d", db, rows))
	}
	p.caughtUp(t, cluster)
	// Real drift, in rows the write loop never touches.
	p.b.Exec(t, "SET SESSION sql_log_bin = 0; UPDATE "+db+".t SET s = 'drift' WHERE id IN (59001, 59002); DELETE FROM "+db+".t WHERE id = 59003")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type txn struct {
		stmt, pos string
		at        time.Time
	}
	replay := make(chan txn, 100000)
	var wg sync.WaitGroup
	var writeErr, applyErr error
	var written int
	src, tgt := p.a.Open(t, db), p.b.Open(t, db)

	wg.Add(2)
	go func() { // the workload on a
		defer wg.Done()
		defer close(replay)
		conn, err := src.Conn(ctx)
		if err != nil {
			writeErr = err
			return
		}
		defer conn.Close()
		rng := rand.New(rand.NewPCG(7, 7))
		next := rows + 1
		for ctx.Err() == nil {
			var stmt string
			switch n := rng.IntN(10); {
			case n < 4: // hot rows, written all the time
				stmt = fmt.Sprintf("UPDATE t SET v = v + 1, s = CONCAT('hot', v) WHERE id = %d", 1+rng.IntN(5))
			case n < 7:
				stmt = fmt.Sprintf("UPDATE t SET v = v * 2 %% 1000003 WHERE id = %d", 100+rng.IntN(50000))
			case n < 8:
				stmt = fmt.Sprintf("INSERT INTO t VALUES (%d, 0, 'new')", next)
				next++
			case n < 9:
				stmt = fmt.Sprintf("DELETE FROM t WHERE id = %d", 50000+rng.IntN(8000))
			default:
				lo := 200 + rng.IntN(40000)
				stmt = fmt.Sprintf("UPDATE t SET v = v + 1 WHERE id BETWEEN %d AND %d", lo, lo+rng.IntN(100))
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				if ctx.Err() == nil {
					writeErr = fmt.Errorf("%s: %w", stmt, err)
				}
				return
			}
			var pos string
			if err := conn.QueryRowContext(ctx, "SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
				if ctx.Err() == nil {
					writeErr = err
				}
				return
			}
			written++
			replay <- txn{stmt: stmt, pos: pos, at: time.Now()}
			time.Sleep(2 * time.Millisecond) // a pace the stand-in applier keeps up with
		}
	}()
	go func() { // the stand-in applier on b
		defer wg.Done()
		for tx := range replay {
			if d := time.Until(tx.at.Add(lagBy)); d > 0 {
				time.Sleep(d)
			}
			err := func() error {
				c, err := tgt.BeginTx(context.Background(), nil)
				if err != nil {
					return err
				}
				defer c.Rollback()
				// Checkpoint first, in the same transaction as the rows, as
				// the applier's contract says.
				if _, err := c.Exec("UPDATE drc_meta.apply_checkpoint SET gtid_set = ? WHERE cluster = ? AND part = 0", tx.pos, cluster); err != nil {
					return err
				}
				if _, err := c.Exec(tx.stmt); err != nil {
					return fmt.Errorf("%s: %w", tx.stmt, err)
				}
				return c.Commit()
			}()
			if err != nil {
				applyErr = err
				cancel()
				return
			}
		}
	}()

	time.Sleep(lagBy * 2) // the loop is running and b is behind
	cfg := p.config(cluster, db+".t")
	cfg.ChunkTime = 50 * time.Millisecond
	cfg.PartRows = 500
	rep := run(t, cfg)
	cancel()
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("write loop: %v", writeErr)
	}
	if applyErr != nil {
		t.Fatalf("stand-in applier: %v", applyErr)
	}
	t.Logf("%d transactions written on a during the run", written)
	if written < 100 {
		t.Errorf("only %d transactions during the run: not much of a live test", written)
	}
	checkFound(t, rep, []string{"59001 changed s", "59002 changed s", "59003 missing"})
	if len(rep.Unsettled) != 0 {
		t.Errorf("unsettled: %v", rep.Unsettled)
	}
}
