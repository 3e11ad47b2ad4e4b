package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/integration/harness"
)

// How these tests prove the handover position exact, without the applier:
// after bootstrap, region b replicates from region a with MariaDB's own
// row-based replication starting exactly at the recorded snapshot GTID
// (gtid_slave_pos = checkpoint). Row events are applied strictly: an insert
// of a row that exists (the copy already held a transaction the checkpoint
// says is not applied) stops replication with error 1062, a delete or
// update of a missing row (the copy lacks a transaction the checkpoint
// says is applied) with 1032. The write loop below makes every transaction
// insert a fresh row and most delete one, so a position off by even one
// transaction in either direction stops replication, and CHECKSUM TABLE on
// both sides must match once b has caught up. The copy itself runs while
// the loop writes.

const bsDB, bsDB2, bsTable2 = "bs", "bs ü", "t`x é"

// bsSetup creates the source's tables: one with many column types and a
// generated column, one with a composite text/int key, weird names and a
// latin1 key column.
func bsSetup(t *testing.T, a *harness.Server, rows int) {
	t.Helper()
	stmts := []string{
		"CREATE DATABASE " + bsDB,
		`CREATE TABLE bs.items (
			id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL, v VARCHAR(64), f FLOAT, d DECIMAL(20,6),
			ts TIMESTAMP(6) NULL, b VARBINARY(16), g INT AS (k * 2) VIRTUAL, KEY (k))`,
		fmt.Sprintf(`INSERT INTO bs.items (id, k, v, f, d, ts, b)
			SELECT seq, seq %% 97, CONCAT('row ', seq, ' é'), seq / 7, seq * 1.000001,
			FROM_UNIXTIME(1700000000 + seq), UNHEX(MD5(seq)) FROM bs.seq_1_to_%d`, rows),
		"CREATE DATABASE `" + bsDB2 + "`",
		"CREATE TABLE `" + bsDB2 + "`.`t``x é` (name VARCHAR(20) CHARACTER SET latin1 NOT NULL, n INT NOT NULL, " +
			"`val ü` TEXT, PRIMARY KEY (name, n))",
		fmt.Sprintf("INSERT INTO `"+bsDB2+"`.`t``x é` SELECT CONCAT(CHAR(65 + seq %% 5), CHAR(233)), seq, REPEAT('x', seq %% 50) FROM bs.seq_1_to_%d", rows/4),
	}
	if a.Flavor == harness.FlavorMySQL {
		// MariaDB's Sequence engine gives bs.seq_1_to_N; on MySQL the
		// numbers come from a recursive CTE.
		for i, s := range stmts {
			for _, n := range []int{rows, rows / 4} {
				s = strings.Replace(s, fmt.Sprintf("FROM bs.seq_1_to_%d", n),
					fmt.Sprintf("FROM (WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq + 1 FROM s WHERE seq < %d) SELECT seq FROM s) q", n), 1)
			}
			// MySQL 9 has no MD5().
			stmts[i] = strings.Replace(s, "UNHEX(MD5(seq))", "UNHEX(LEFT(SHA2(seq, 256), 32))", 1)
		}
		stmts = append([]string{fmt.Sprintf("SET SESSION cte_max_recursion_depth = %d", rows+1)}, stmts...)
		stmts = []string{strings.Join(stmts, ";\n")} // one session for the setting
	}
	a.Exec(t, stmts...)
}

// bsWriter is a paced write loop on a: every transaction inserts a fresh
// row, updates a hot row in each table, and most delete a row inserted
// earlier.
type bsWriter struct {
	cancel context.CancelFunc
	done   chan error
	n      int
}

func bsStartWriter(t *testing.T, a *harness.Server, every time.Duration) *bsWriter {
	t.Helper()
	db := a.Open(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	w := &bsWriter{cancel: cancel, done: make(chan error, 1)}
	go func() {
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				w.done <- nil
				return
			case <-tk.C:
			}
			n := w.n + 1
			stmts := []string{
				fmt.Sprintf("INSERT INTO bs.items (id, k, v, f, d, ts, b) VALUES (%d, %d, 'new', 1.5, 2.25, NOW(6), X'00ff')", 1000000+n, n%97),
				fmt.Sprintf("UPDATE bs.items SET k = k + 1, v = CONCAT('upd ', %d) WHERE id = %d", n, n%50+1),
				fmt.Sprintf("UPDATE `bs ü`.`t``x é` SET `val ü` = CONCAT('w', %d) WHERE n = %d", n, n%20+1),
			}
			if n > 10 && n%3 != 0 {
				stmts = append(stmts, fmt.Sprintf("DELETE FROM bs.items WHERE id = %d", 1000000+n-10))
			}
			if err := bsTxn(ctx, db, stmts); err != nil {
				if ctx.Err() != nil {
					w.done <- nil
				} else {
					w.done <- err
				}
				return
			}
			w.n = n
		}
	}()
	t.Cleanup(cancel)
	return w
}

func bsTxn(ctx context.Context, db *sql.DB, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return tx.Commit()
}

// stop ends the loop and returns how many transactions it committed.
func (w *bsWriter) stop(t *testing.T) int {
	t.Helper()
	w.cancel()
	if err := <-w.done; err != nil {
		t.Fatalf("write loop: %v", err)
	}
	return w.n
}

func bsConfig(a, b *harness.Server, cluster string) bootstrap.Config {
	c := bootstrap.NewConfig()
	c.Cluster, c.SourceRegion = cluster, "a"
	c.Flavor = string(a.Flavor)
	c.Source = bootstrap.Endpoint{Host: a.Host, Port: a.Port, User: a.User, Password: a.Password}
	c.Target = bootstrap.Endpoint{Host: b.Host, Port: b.Port, User: b.User, Password: b.Password}
	c.Tables = []string{"bs.*", bsDB2 + ".*"}
	c.Workers = 2
	c.ChunkRows = 1000
	return c
}

// bsReplicateAndCompare makes b replicate from a starting exactly at gtid,
// waits until b has applied everything a has written, fails on any
// replication error (a conflict), and compares CHECKSUM TABLE of both
// tables on both sides.
func bsReplicateAndCompare(t *testing.T, a, b *harness.Server, gtid string) {
	t.Helper()
	if pos := b.BinlogGTIDPos(t); pos != "" {
		t.Errorf("b's own binlog holds %q: bootstrap's writes were not kept out of it", pos)
	}
	b.Exec(t,
		"SET GLOBAL gtid_slave_pos = '"+gtid+"'",
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', MASTER_USE_GTID=slave_pos",
			a.Port, a.User, a.Password),
		"START SLAVE")
	end := a.BinlogGTIDPos(t)
	bdb := b.Open(t, "")
	var waited int
	if err := bdb.QueryRow("SELECT MASTER_GTID_WAIT(?, 120)", end).Scan(&waited); err != nil {
		t.Fatal(err)
	}
	status := bsSlaveStatus(t, bdb)
	if waited != 0 || status["Last_SQL_Errno"] != "0" || status["Last_IO_Errno"] != "0" {
		t.Fatalf("b did not catch up from the handover position %s to %s without conflicts: SQL error %s %q, IO error %s %q",
			gtid, end, status["Last_SQL_Errno"], status["Last_SQL_Error"], status["Last_IO_Errno"], status["Last_IO_Error"])
	}
	b.Exec(t, "STOP SLAVE")
	adb := a.Open(t, "")
	for _, tbl := range []string{"`bs`.`items`", "`" + bsDB2 + "`.`t``x é`"} {
		ca, cb := bsChecksum(t, adb, tbl), bsChecksum(t, bdb, tbl)
		if ca != cb {
			t.Errorf("%s: checksum on a %s, on b %s; differing columns: %v", tbl, ca, cb, bsDiffColumns(t, adb, bdb, tbl))
		}
		var na, nb int
		adb.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&na)
		bdb.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&nb)
		if na != nb {
			t.Errorf("%s: %d rows on a, %d on b", tbl, na, nb)
		}
		t.Logf("%s: %d rows; checksum %.16s… on a, %.16s… on b", tbl, na, ca, cb)
	}
}

// bsDiffColumns names the columns whose values differ, for a failure
// message.
func bsDiffColumns(t *testing.T, a, b *sql.DB, table string) []string {
	t.Helper()
	rows, err := a.Query("SELECT * FROM " + table + " LIMIT 0")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	rows.Close()
	var out []string
	for _, c := range cols {
		q := "SELECT COALESCE(BIT_XOR(CRC32(CONCAT_WS('|', " + typesQuoteIdent(c) + ", ISNULL(" + typesQuoteIdent(c) + ")))), 0) FROM " + table
		var x, y int64
		a.QueryRow(q).Scan(&x)
		b.QueryRow(q).Scan(&y)
		if x != y {
			var sa, sb string
			a.QueryRow("SELECT CONCAT_WS(',', id, " + typesQuoteIdent(c) + ") FROM " + table + " ORDER BY 1 LIMIT 1").Scan(&sa)
			b.QueryRow("SELECT CONCAT_WS(',', id, " + typesQuoteIdent(c) + ") FROM " + table + " ORDER BY 1 LIMIT 1").Scan(&sb)
			out = append(out, fmt.Sprintf("%s (first row a=%q b=%q)", c, sa, sb))
		}
	}
	return out
}

func bsSlaveStatus(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("SHOW SLAVE STATUS")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	out := map[string]string{}
	if rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			out[c] = vals[i].String
		}
	}
	return out
}

// bsChecksum hashes a table's whole contents in key order: every column's
// exact bytes (HEX), NULL kept apart from the empty string. (CHECKSUM TABLE was not
// used: on MariaDB 10.11 it differs between equal tables that have a
// virtual column.)
func bsChecksum(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " LIMIT 0")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	rows.Close()
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = "COALESCE(HEX(" + typesQuoteIdent(c) + "), 'NULL')"
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "SET SESSION group_concat_max_len = 1 << 30, time_zone = '+00:00'"); err != nil {
		t.Fatal(err)
	}
	var sum sql.NullString
	q := "SELECT SHA2(GROUP_CONCAT(CONCAT_WS('|', " + strings.Join(parts, ", ") + ") ORDER BY " + strings.Join(parts[:2], ", ") +
		" SEPARATOR '\\n'), 256) FROM " + table
	if err := conn.QueryRowContext(context.Background(), q).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum.String
}

func bsCheckHandover(t *testing.T, b *harness.Server, cluster, gtid string) {
	t.Helper()
	var off int64
	var set, origin, last string
	err := b.Open(t, "").QueryRow("SELECT kafka_offset, gtid_set, origin, last_gtid FROM drc_meta.apply_checkpoint WHERE cluster = ? AND part = 0",
		cluster).Scan(&off, &set, &origin, &last)
	if err != nil {
		t.Fatalf("checkpoint row: %v", err)
	}
	if off != -1 || set != gtid || origin != "a" || last != "" {
		t.Errorf("checkpoint = (%d, %q, %q, %q), want (-1, %q, a, '')", off, set, origin, last, gtid)
	}
}

func TestBootstrapUnderWrites(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	bsSetup(t, a, 20000)
	w := bsStartWriter(t, a, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)

	cfg := bsConfig(a, b, "bsw")
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressInterval = &lockedWriter{w: &progress}, 100*time.Millisecond
	cfg.MaxRowsPerSecond = 20000 // spread the copy over ~1s of writes
	res, err := bootstrap.Run(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	n := w.stop(t)
	t.Logf("bootstrap: %+v; %d source transactions during the test", *res, n)
	if res.LockHeld != 0 {
		t.Errorf("MariaDB snapshot held a lock for %v, want none", res.LockHeld)
	}
	if res.Generation != 1 || res.Resumed || res.Rows < 25000 {
		t.Errorf("result %+v: want generation 1, not resumed, at least 25000 rows", *res)
	}
	if len(res.Created) != 2 {
		t.Errorf("created %v, want both tables", res.Created)
	}
	if !strings.Contains(progress.String(), "bootstrap progress: bs.items") || !strings.Contains(progress.String(), "overall (2 tables)") {
		t.Errorf("progress output lacks per-table and overall lines:\n%s", progress.String())
	}
	bsCheckHandover(t, b, "bsw", res.SnapshotGTID)

	// A second run finds the bootstrap complete and changes nothing.
	again, err := bootstrap.Run(context.Background(), cfg, testLogger(t))
	if err != nil || !again.AlreadyDone {
		t.Fatalf("second run: %+v, %v; want AlreadyDone", again, err)
	}
	bsReplicateAndCompare(t, a, b, res.SnapshotGTID)
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// bsHelperEnv carries the helper process's job.
const bsHelperEnv = "DRC_TEST_BOOTSTRAP_HELPER"

type bsHelperJob struct {
	Source, Target bootstrap.Endpoint
	Cluster        string
	Tables         []string
	ChunkRows      int
	Rate           int
}

// TestBootstrapHelperProcess is not a test: TestBootstrapResumesAfterSIGKILL
// runs the test binary again with only this function selected, as the
// bootstrap process it kills.
func TestBootstrapHelperProcess(t *testing.T) {
	js := os.Getenv(bsHelperEnv)
	if js == "" {
		t.Skip("helper process for TestBootstrapResumesAfterSIGKILL")
	}
	var job bsHelperJob
	if err := json.Unmarshal([]byte(js), &job); err != nil {
		t.Fatal(err)
	}
	c := bootstrap.NewConfig()
	c.Cluster, c.SourceRegion = job.Cluster, "a"
	c.Source, c.Target, c.Tables = job.Source, job.Target, job.Tables
	c.Workers, c.ChunkRows, c.MaxRowsPerSecond = 2, job.ChunkRows, job.Rate
	if _, err := bootstrap.Run(context.Background(), c, testLogger(t)); err != nil {
		t.Fatal(err)
	}
}

func TestBootstrapResumesAfterSIGKILL(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	bsSetup(t, a, 40000)
	w := bsStartWriter(t, a, 5*time.Millisecond)

	cfg := bsConfig(a, b, "bsk")
	cfg.ChunkRows = 500
	job, _ := json.Marshal(bsHelperJob{Source: cfg.Source, Target: cfg.Target, Cluster: cfg.Cluster,
		Tables: cfg.Tables, ChunkRows: cfg.ChunkRows, Rate: 10000})
	cmd := exec.Command(os.Args[0], "-test.run=^TestBootstrapHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), bsHelperEnv+"="+string(job))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Kill it once a fair number of chunks (of ~100) are committed.
	bdb := b.Open(t, "")
	deadline := time.Now().Add(120 * time.Second)
	for {
		var n int
		err := bdb.QueryRow("SELECT COUNT(*) FROM drc_meta.bootstrap_chunks WHERE cluster = 'bsk'").Scan(&n)
		if err == nil && n >= 30 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("bootstrap process ended before it was killed: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("bootstrap process made no progress: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	var before int
	if err := bdb.QueryRow("SELECT COUNT(*) FROM drc_meta.bootstrap_chunks WHERE cluster = 'bsk'").Scan(&before); err != nil {
		t.Fatal(err)
	}
	var hasTail int
	bdb.QueryRow("SELECT COUNT(*) FROM drc_meta.bootstrap_chunks WHERE cluster = 'bsk' AND db = 'bs' AND hi_key = ''").Scan(&hasTail)
	if hasTail != 0 {
		t.Fatal("bs.items was copied completely before the kill; the test needs a slower copy")
	}
	t.Logf("killed the bootstrap after %d chunks were committed", before)

	res, err := bootstrap.Run(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	n := w.stop(t)
	t.Logf("rerun: %+v; %d source transactions during the test", *res, n)
	var total int
	if err := bdb.QueryRow("SELECT COUNT(*) FROM drc_meta.bootstrap_chunks WHERE cluster = 'bsk' AND generation = 2").Scan(&total); err != nil {
		t.Fatal(err)
	}
	switch {
	case !res.Resumed || res.Generation != 2:
		t.Errorf("rerun did not resume: %+v", *res)
	case res.ChunksBefore != before:
		t.Errorf("rerun found %d chunks, %d were committed", res.ChunksBefore, before)
	case res.ChunksUnchanged+res.ChunksRewritten != before:
		t.Errorf("rerun compared %d+%d chunks, want the %d copied before", res.ChunksUnchanged, res.ChunksRewritten, before)
	case res.ChunksCopied+before != total:
		t.Errorf("rerun copied %d new chunks; with %d before that is not the %d recorded", res.ChunksCopied, before, total)
	case res.ChunksUnchanged == 0:
		t.Errorf("no chunk from the killed run was kept: the rerun started from zero")
	}
	t.Logf("resume: %d chunks before the kill (%d unchanged, %d rewritten), %d copied by the rerun, %d in all",
		before, res.ChunksUnchanged, res.ChunksRewritten, res.ChunksCopied, total)
	bsCheckHandover(t, b, "bsk", res.SnapshotGTID)
	bsReplicateAndCompare(t, a, b, res.SnapshotGTID)
}

func TestBootstrapRefusesDifferentTable(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	bsSetup(t, a, 100)
	b.Exec(t, "CREATE DATABASE bs",
		"CREATE TABLE bs.items (id BIGINT NOT NULL PRIMARY KEY, k INT NOT NULL)",
		"INSERT INTO bs.items VALUES (1, 1)")
	_, err := bootstrap.Run(context.Background(), bsConfig(a, b, "bsd"), testLogger(t))
	if !errors.Is(err, bootstrap.ErrTableDiffers) || !strings.Contains(err.Error(), "bs.items") {
		t.Fatalf("err = %v, want ErrTableDiffers naming bs.items", err)
	}
	t.Logf("error: %v", err)
	var n int
	if err := b.Open(t, "").QueryRow("SELECT COUNT(*) FROM bs.items").Scan(&n); err != nil || n != 1 {
		t.Fatalf("target table after the refusal: %d rows, %v; want it untouched", n, err)
	}
	var tables int
	b.Open(t, "").QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", bsDB2).Scan(&tables)
	if tables != 0 {
		t.Errorf("bootstrap created tables before refusing")
	}
}
