// Command gen writes the binlog files of replicator/testdata that the
// assembler's unit tests replay (see replicator/testdata/README.md). It
// starts a MariaDB and a MySQL with the integration harness, runs the
// workload below on each, and copies the binlog file that holds exactly
// the workload. Run it from the repository root:
//
//	go run ./replicator/testdata/gen
//
// The files it writes are committed; the tests never start a server.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator"
)

// Canary is the password of the account statement: the tests check it
// appears in no record.
const Canary = "canary-h10-7f3a"

// workload is what the binlog files hold, in order, one entry per binlog
// transaction (the tests name them by index). The two-way entries write
// drc_meta.apply_checkpoint as the applier does for a transaction from
// region a; the tests read the files as region b.
var workload = []string{
	// 0 (several transactions): drc_meta's tables, as drc creates them.
	"-- drcmeta.Ensure",
	"CREATE DATABASE shop",
	"CREATE TABLE shop.orders (id INT PRIMARY KEY, customer VARCHAR(32) NOT NULL, total DECIMAL(10,2), note MEDIUMTEXT)",
	"CREATE TABLE shop.audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(64) NOT NULL)",
	"INSERT INTO shop.orders VALUES (1, 'ann', 10.50, NULL)",
	// A multi-statement transaction, with a row of the filtered table.
	"BEGIN; INSERT INTO shop.orders VALUES (2, 'bob', 20.00, 'x'), (3, 'cy', 30.00, NULL); UPDATE shop.orders SET total = 11.00 WHERE id = 1; INSERT INTO shop.audit (msg) VALUES ('multi'); DELETE FROM shop.orders WHERE id = 3; COMMIT",
	// Rows of the filtered table only.
	"INSERT INTO shop.audit (msg) VALUES ('only audit')",
	"ALTER TABLE shop.orders ADD COLUMN status VARCHAR(8) NOT NULL DEFAULT 'new'",
	// The replicator's heartbeat, as it writes it: an insert, then an update.
	"INSERT INTO drc_meta.heartbeat (region, ts) VALUES ('b', 1700000000000000) ON DUPLICATE KEY UPDATE ts = ts + 1",
	"INSERT INTO drc_meta.heartbeat (region, ts) VALUES ('b', 1700000000000000) ON DUPLICATE KEY UPDATE ts = ts + 1",
	// Account statements: never published.
	"CREATE USER 'app'@'%' IDENTIFIED BY '" + Canary + "'",
	"GRANT SELECT ON shop.* TO 'app'@'%'",
	// A large row.
	"INSERT INTO shop.orders (id, customer, note) VALUES (4, 'big', REPEAT('0123456789', 4000))",
	// Applied by drc from region a: the checkpoint write comes first.
	"BEGIN; INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid) VALUES ('c', 0, 1, '', 'a', 'x'); INSERT INTO shop.orders (id, customer) VALUES (5, 'from-a'); COMMIT",
	// The same, with the checkpoint write after two rows: the first has
	// left the assembler by then.
	"BEGIN; INSERT INTO shop.orders (id, customer) VALUES (6, 'late-a'), (7, 'late-a'); UPDATE drc_meta.apply_checkpoint SET kafka_offset = 2 WHERE cluster = 'c' AND part = 0; COMMIT",
	// DDL applied by drc from region a.
	replicator.DDLOriginComment("a") + "ALTER TABLE shop.orders ADD INDEX by_customer (customer)",
	// An ordinary transaction after all that.
	"DELETE FROM shop.orders WHERE id = 2",
}

func main() {
	out := flag.String("out", "replicator/testdata", "directory the binlog files are written to")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	env, err := harness.NewEnv()
	if err != nil {
		return err
	}
	defer env.Close()
	for _, f := range []harness.Flavor{harness.FlavorMariaDB, harness.FlavorMySQL} {
		name := filepath.Join(out, strings.ToLower(f.Title())+"-workload.binlog")
		if err := generate(env, f, name); err != nil {
			return fmt.Errorf("%s: %w", f.Title(), err)
		}
		log.Printf("wrote %s", name)
	}
	return nil
}

// generate runs the workload on a fresh server of flavor f and copies the
// binlog file that holds it to name.
func generate(env *harness.Env, f harness.Flavor, name string) error {
	tb := harness.NewProgramTB(log.Printf)
	defer tb.Close()
	var srv *harness.Server
	if err := harness.Catch(func() { srv = env.StartServer(tb, f, harness.ServerOptions{ServerID: 1}) }); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = '+00:00'"); err != nil {
		return err
	}
	// The file to copy starts here: FLUSH BINARY LOGS itself is not
	// written to the binlog.
	file, err := flush(ctx, conn)
	if err != nil {
		return err
	}
	for _, stmt := range workload {
		var err error
		if stmt == "-- drcmeta.Ensure" {
			err = drcmeta.EnsureConn(ctx, conn)
		} else {
			_, err = conn.ExecContext(ctx, stmt)
		}
		if err != nil {
			return fmt.Errorf("%.60s: %w", stmt, err)
		}
	}
	if _, err := flush(ctx, conn); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(srv.DataDir, file))
	if err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o644)
}

// flush starts a new binlog file and returns its name.
func flush(ctx context.Context, conn *sql.Conn) (string, error) {
	if _, err := conn.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return "", err
	}
	rows, err := conn.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	var last string
	for rows.Next() {
		dest := make([]any, len(cols))
		dest[0] = &last
		for i := 1; i < len(cols); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return "", err
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if last == "" {
		return "", fmt.Errorf("SHOW BINARY LOGS: no binlog files (is log_bin on?)")
	}
	return last, nil
}
