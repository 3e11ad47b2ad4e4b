package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gomysql "github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// TestTypesRoundTrip proves the wire format exact against real servers:
// rows written on MariaDB A are read from A's binlog with go-mysql, encoded
// to records (JSON bytes), decoded, turned back into SQL arguments and
// applied to MariaDB B, and then A and B are compared value for value.
//
// The workload covers every type at its extremes and NULL, a table without
// a primary key, updates and deletes whose WHERE binds the whole decoded
// before-image (so every type must also match exactly as a comparison, not
// only round-trip as a value), an update of a primary key, and ALTER TABLEs
// in the middle of the stream. The binlog is read only after the whole
// workload, ALTERs included, has run on A: rows written before an ALTER
// can only come out right if they decode with the table map in front of
// them, since A's current schema no longer matches them.
func TestTypesRoundTrip(t *testing.T) {
	t.Parallel()
	const domain = 11
	src := harness.StartMariaDB(t, harness.ServerOptions{GTIDDomainID: domain})
	dst := harness.StartMariaDB(t, harness.ServerOptions{GTIDDomainID: domain + 1})
	db := harness.UniqueName("types")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The workload runs on one session in UTC, so TIMESTAMP literals mean
	// what they say; the binlog stores them as epoch seconds anyway.
	srcConn := typesSessionConn(ctx, t, src.Open(t, ""), "SET time_zone = '+00:00'")
	typesExec(ctx, t, srcConn, "CREATE DATABASE "+db, "USE "+db)
	typesExec(ctx, t, srcConn, typesWorkload...)
	target := src.BinlogGTIDPos(t)

	// B gets the same database empty; the stream brings the tables.
	dst.Exec(t, "CREATE DATABASE "+db)
	dstConn := typesSessionConn(ctx, t, typesOpenFoundRows(t, dst, db), event.SessionSQL()...)

	ap := &typesApplier{t: t, db: db, conn: dstConn}
	stats := typesStreamAndApply(ctx, t, src, target, db, ap)
	t.Logf("applied %d DDL and %d row records (%d bytes of JSON)", stats.ddl, stats.rows, stats.bytes)
	if stats.rows < 15 || stats.ddl < 3 {
		t.Fatalf("too little replicated: %d rows, %d DDL", stats.rows, stats.ddl)
	}

	a := typesSessionConn(ctx, t, src.Open(t, db), "SET time_zone = '+00:00'")
	b := typesSessionConn(ctx, t, dst.Open(t, db), "SET time_zone = '+00:00'")
	for _, table := range []string{"types", "nopk"} {
		n := typesCompareTable(ctx, t, a, b, db, table)
		t.Logf("%s.%s: %d rows identical on A and B", db, table, n)
	}
	// The primary-key update and the delete happened on B too.
	var ids string
	if err := b.QueryRowContext(ctx, "SELECT GROUP_CONCAT(id ORDER BY id) FROM types").Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if ids != "1,4,5,30,31" {
		t.Errorf("ids on B: got %s, want 1,4,5,30,31", ids)
	}
}

// typesWorkload runs on A with the test database selected.
var typesWorkload = []string{
	`CREATE TABLE types (
		id INT UNSIGNED NOT NULL PRIMARY KEY,
		ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
		mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
		bi BIGINT, biu BIGINT UNSIGNED,
		d65 DECIMAL(65,30), d10 DECIMAL(10,0) UNSIGNED,
		f FLOAT, d DOUBLE,
		b1 BIT(1), b64 BIT(64),
		dt DATE, tm TIME, tm1 TIME(1), tm3 TIME(3), tm4 TIME(4), tm6 TIME(6),
		dt0 DATETIME, dt1 DATETIME(1), dt2 DATETIME(2), dt3 DATETIME(3), dt4 DATETIME(4), dt5 DATETIME(5), dt6 DATETIME(6),
		ts0 TIMESTAMP NULL, ts1 TIMESTAMP(1) NULL, ts2 TIMESTAMP(2) NULL, ts3 TIMESTAMP(3) NULL,
		ts4 TIMESTAMP(4) NULL, ts5 TIMESTAMP(5) NULL, ts6 TIMESTAMP(6) NULL,
		y YEAR,
		c_u CHAR(10) CHARACTER SET utf8mb4, vc_u VARCHAR(40) CHARACTER SET utf8mb4, tx_u TEXT CHARACTER SET utf8mb4,
		c_l CHAR(10) CHARACTER SET latin1, vc_l VARCHAR(300) CHARACTER SET latin1, tx_l TEXT CHARACTER SET latin1,
		vc_g VARCHAR(20) CHARACTER SET gbk, c_16 CHAR(4) CHARACTER SET utf16,
		e_g ENUM('a', '你') CHARACTER SET gbk,
		bn BINARY(8), vb VARBINARY(20), bl BLOB,
		e ENUM('a','b','ü','') CHARACTER SET utf8mb4, s SET('x','y','z'),
		j JSON,
		g GEOMETRY,
		gv BIGINT AS (i + 1) VIRTUAL,
		gs VARCHAR(50) AS (CONCAT(vc_u, '!')) STORED
	) CHARACTER SET utf8mb4`,

	// 1: maxima, multibyte text, every latin1 byte, padded binary.
	`INSERT INTO types (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d65, d10, f, d, b1, b64,
		dt, tm, tm1, tm3, tm4, tm6, dt0, dt1, dt2, dt3, dt4, dt5, dt6, ts0, ts1, ts2, ts3, ts4, ts5, ts6, y,
		c_u, vc_u, tx_u, c_l, vc_l, tx_l, vc_g, c_16, e_g, bn, vb, bl, e, s, j, g) VALUES
		(1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
		9223372036854775807, 18446744073709551615,
		'99999999999999999999999999999999999.999999999999999999999999999999', 9999999999,
		3.4028234e38, 1.7976931348623157e308, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
		'9999-12-31', '838:59:59', '838:59:59.0', '838:59:59.000', '838:59:59.0000', '838:59:59.000000',
		'9999-12-31 23:59:59', '9999-12-31 23:59:59.9', '9999-12-31 23:59:59.99', '9999-12-31 23:59:59.999',
		'9999-12-31 23:59:59.9999', '9999-12-31 23:59:59.99999', '9999-12-31 23:59:59.999999',
		'2038-01-19 03:14:07', '2038-01-19 03:14:07.9', '2038-01-19 03:14:07.99', '2038-01-19 03:14:07.999',
		'2038-01-19 03:14:07.9999', '2038-01-19 03:14:07.99999', '2038-01-19 03:14:07.999999', 2155,
		'ab😀  ', 'x😀 ', 'emoji 😀 tab\t quote" backslash\\ nul\0 end', 'é  ',
		CONCAT(` + typesAllLatin1Bytes() + `), 'trailing  ', CONVERT(x'C4E3BAC3' USING gbk), 'a😀', '你',
		x'01', x'000000', x'00FF00', 'ü', 'x,y,z', '{"a": [1, 2.50, "ü"], "b": null}',
		ST_GeomFromText('POINT(1 2)'))`,

	// 2: minima and empty values.
	`INSERT INTO types (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d65, d10, f, d, b1, b64,
		dt, tm, tm1, tm3, tm4, tm6, dt0, dt6, ts0, ts6, y, c_u, vc_u, tx_u, c_l, vc_l, tx_l, vc_g, c_16, e_g, bn, vb, bl, e, s, j, g) VALUES
		(2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,
		'-99999999999999999999999999999999999.999999999999999999999999999999', 0,
		-1.17549435e-38, -2.2250738585072014e-308, b'0', b'0',
		'1000-01-01', '-838:59:59', '-838:59:59.0', '-838:59:59.000', '-00:00:01.0001', '-00:00:00.000001',
		'1000-01-01 00:00:00', '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01', '1970-01-01 00:00:01.000001', 1901,
		'', '', '', '', '', '', '', '', 'a', '', '', '', '', '', '[]', ST_GeomFromText('LINESTRING(0 0, 1 1)'))`,

	// 3: zero dates and times, the zero year, -0, denormals.
	`INSERT INTO types (id, f, d, dt, tm, tm1, tm3, tm4, tm6, dt0, dt3, ts0, ts3, y, vc_u, j, b64) VALUES
		(3, -0e0, 4.9406564584124654e-324, '0000-00-00', '00:00:00', '-00:00:01.5', '-00:00:00.500', '-00:00:00.0001', '00:00:00.000000',
		'0000-00-00 00:00:00', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000', 0,
		'', 'null', b'1000000000000000000000000000000000000000000000000000000000000000')`,

	// 4: NULL in every nullable column.
	`INSERT INTO types (id) VALUES (4)`,

	// 5: ordinary values, updated below.
	`INSERT INTO types (id, i, f, d, d65, vc_u, tx_l, ts3, e, s, bn) VALUES
		(5, 41, 0.1, 0.1, '-0.000000000000000000000000000001', 'five', 'five', '2001-02-03 04:05:06.007', 'b', 'y', x'0102')`,

	`CREATE TABLE nopk (v VARCHAR(10), n DOUBLE, b VARBINARY(4)) CHARACTER SET latin1`,
	`INSERT INTO nopk VALUES ('dup', 1.5, x'00'), ('dup', 1.5, x'00'), ('é', NULL, NULL), (NULL, -2.5e-300, x'FF')`,

	// Updates and deletes: the applier's WHERE binds the whole before image.
	`UPDATE types SET i = 42, f = -3.25, vc_u = 'five → 5', ts3 = '2001-02-03 04:05:06.008', s = 'x,z' WHERE id = 5`,
	`UPDATE types SET tiu = 254, b64 = b'0111', tm6 = '-12:00:00.000001', c_l = 'ÿ' WHERE id = 1`,
	`UPDATE types SET id = 30 WHERE id = 3`,
	`DELETE FROM types WHERE id = 2`,
	`UPDATE nopk SET n = 2.5 WHERE v = 'dup' LIMIT 1`,
	`DELETE FROM nopk WHERE v = 'dup' LIMIT 1`,

	// A schema change mid-stream: add a column in the middle, drop one,
	// widen and re-sign another. Rows before it were written (and must be
	// decoded) with the old columns; rows after it with the new ones.
	`ALTER TABLE types ADD COLUMN added VARCHAR(10) CHARACTER SET utf8mb4 DEFAULT 'def' AFTER ti,
		DROP COLUMN tx_l, MODIFY COLUMN miu BIGINT`,
	`INSERT INTO types (id, ti, added, miu, vc_u) VALUES (31, 1, 'new', -9223372036854775808, 'after alter')`,
	`UPDATE types SET added = 'upd', miu = 9223372036854775807 WHERE id = 1`,
	`UPDATE types SET miu = -1 WHERE id = 31`,
	`ALTER TABLE types MODIFY COLUMN y SMALLINT UNSIGNED`,
	`UPDATE types SET y = 65535 WHERE id = 30`,
}

// typesAllLatin1Bytes is an SQL expression of all 256 latin1 bytes, so that the
// JSON transcoding of latin1 is proven against the server's own table.
func typesAllLatin1Bytes() string {
	var b strings.Builder
	b.WriteString("CONVERT(x'")
	for c := range 256 {
		fmt.Fprintf(&b, "%02X", c)
	}
	b.WriteString("' USING latin1)")
	return b.String()
}

type typesApplyStats struct{ ddl, rows, bytes int }

// typesStreamAndApply reads src's binlog from the start up to the transaction
// whose GTID set is target, and hands the test database's events to ap.
func typesStreamAndApply(ctx context.Context, t *testing.T, src *harness.Server, target, db string, ap *typesApplier) typesApplyStats {
	t.Helper()
	cfg := typesSyncerConfig(src)
	event.SyncerConfig(&cfg)
	streamer, stop := typesStream(t, src, cfg)
	defer stop()
	want, err := mysql.ParseMariadbGTIDSet(target)
	if err != nil {
		t.Fatal(err)
	}

	var (
		stats  typesApplyStats
		tables event.TableCache
		gtid   string
		before event.Row
		after  event.Row
		buf    []byte
	)
	// send is the wire: encode to bytes, decode from them, apply the result.
	send := func(rec *event.Record) {
		t.Helper()
		buf, err = rec.AppendJSON(buf[:0])
		if err != nil {
			t.Fatalf("encode %s on %s.%s: %v", rec.Op, rec.DB, rec.Table, err)
		}
		stats.bytes += len(buf)
		got, err := event.Decode(buf)
		if err != nil {
			t.Fatalf("decode %s: %v", buf, err)
		}
		ap.apply(ctx, got, buf)
	}
	reached, err := mysql.ParseMariadbGTIDSet("")
	if err != nil {
		t.Fatal(err)
	}
	// done records the transaction that just ended and reports whether the
	// stream has reached target.
	done := func() bool {
		if err := reached.Update(gtid); err != nil {
			t.Fatalf("gtid %q: %v", gtid, err)
		}
		return reached.Contain(want)
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("binlog from %s (waiting for %s, at %s): %v", src.Addr(), target, gtid, err)
		}
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent:
			gtid = e.GTID.String()
		case *replication.QueryEvent:
			q := string(e.Query)
			switch {
			case q == "BEGIN":
			case q == "COMMIT":
				if done() {
					return stats
				}
			default:
				// The test creates the database on both sides itself.
				if string(e.Schema) == db && !strings.HasPrefix(q, "CREATE DATABASE") {
					send(&event.Record{V: event.Version, GTID: gtid, Op: event.OpDDL, DB: db, SQL: q})
					stats.ddl++
				}
				if done() {
					return stats
				}
			}
		case *replication.XIDEvent:
			if done() {
				return stats
			}
		case *replication.RowsEvent:
			if string(e.Table.Schema) != db {
				continue
			}
			tbl, err := tables.Table(e.Table)
			if err != nil {
				t.Fatalf("table map: %v", err)
			}
			step := 1
			if e.Type() == replication.EnumRowsEventTypeUpdate {
				step = 2
			}
			for i := 0; i < len(e.Rows); i += step {
				rec := &event.Record{V: event.Version, GTID: gtid, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK}
				switch e.Type() {
				case replication.EnumRowsEventTypeInsert:
					rec.Op, rec.After = event.OpInsert, &after
					err = tbl.EncodeRow(&after, e.Rows[i], e.SkippedColumns[i])
				case replication.EnumRowsEventTypeDelete:
					rec.Op, rec.Before = event.OpDelete, &before
					err = tbl.EncodeRow(&before, e.Rows[i], e.SkippedColumns[i])
				case replication.EnumRowsEventTypeUpdate:
					rec.Op, rec.Before, rec.After = event.OpUpdate, &before, &after
					if err = tbl.EncodeRow(&before, e.Rows[i], e.SkippedColumns[i]); err == nil {
						err = tbl.EncodeRow(&after, e.Rows[i+1], e.SkippedColumns[i+1])
					}
				}
				if err != nil {
					t.Fatalf("encode row: %v", err)
				}
				send(rec)
				stats.rows++
			}
		}
	}
}

// typesApplier is the smallest applier that is still exact: INSERT the
// after image, UPDATE and DELETE by the whole before image, requiring that
// exactly one row matches. It builds its SQL only from the record and the
// event package (Placeholder, Arg); the one thing it asks the target is
// which columns are generated, since a table map does not say.
type typesApplier struct {
	t         *testing.T
	db        string
	conn      *sql.Conn
	generated map[string]map[string]bool // table -> generated columns
}

func (ap *typesApplier) apply(ctx context.Context, rec *event.Record, wire []byte) {
	t := ap.t
	t.Helper()
	if rec.Op == event.OpDDL {
		typesExec(ctx, t, ap.conn, rec.SQL)
		ap.generated = nil // the schema changed
		return
	}
	img := rec.After
	if img == nil {
		img = rec.Before
	}
	gen := ap.generatedColumns(ctx, rec.Table)
	tbl := img.Table
	qtable := typesQuoteIdent(rec.DB) + "." + typesQuoteIdent(rec.Table)

	var (
		q    strings.Builder
		args []any
	)
	arg := func(row *event.Row, i int) {
		a, err := row.Arg(i)
		if err != nil {
			t.Fatalf("%s on %s: %v\nrecord: %s", rec.Op, qtable, err, wire)
		}
		args = append(args, a)
	}
	// where binds every column of the before image, generated ones too:
	// each type must compare exactly, not just store exactly.
	where := func() {
		q.WriteString(" WHERE ")
		for i, c := range tbl.Columns {
			if i > 0 {
				q.WriteString(" AND ")
			}
			q.WriteString(typesQuoteIdent(c.Name) + " <=> " + c.Placeholder())
			arg(rec.Before, i)
		}
		if len(tbl.PK) == 0 {
			q.WriteString(" LIMIT 1")
		}
	}
	switch rec.Op {
	case event.OpInsert:
		var cols, phs []string
		for i, c := range tbl.Columns {
			if gen[c.Name] {
				continue
			}
			cols = append(cols, typesQuoteIdent(c.Name))
			phs = append(phs, c.Placeholder())
			arg(rec.After, i)
		}
		fmt.Fprintf(&q, "INSERT INTO %s (%s) VALUES (%s)", qtable, strings.Join(cols, ", "), strings.Join(phs, ", "))
	case event.OpUpdate:
		fmt.Fprintf(&q, "UPDATE %s SET ", qtable)
		first := true
		for i, c := range tbl.Columns {
			if gen[c.Name] {
				continue
			}
			if !first {
				q.WriteString(", ")
			}
			first = false
			q.WriteString(typesQuoteIdent(c.Name) + " = " + c.Placeholder())
			arg(rec.After, i)
		}
		where()
	case event.OpDelete:
		fmt.Fprintf(&q, "DELETE FROM %s", qtable)
		where()
	}
	res, err := ap.conn.ExecContext(ctx, q.String(), args...)
	if err != nil {
		t.Fatalf("apply %s: %v\nSQL: %s\nargs: %#v\nrecord: %s", rec.Op, err, q.String(), args, wire)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("apply %s: %d rows matched, want 1 (%v)\nSQL: %s\nargs: %#v\nrecord: %s", rec.Op, n, err, q.String(), args, wire)
	}
}

func (ap *typesApplier) generatedColumns(ctx context.Context, table string) map[string]bool {
	if g, ok := ap.generated[table]; ok {
		return g
	}
	rows, err := ap.conn.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND (EXTRA LIKE '%GENERATED%' OR EXTRA LIKE '%VIRTUAL%' OR EXTRA LIKE '%PERSISTENT%')`, ap.db, table)
	if err != nil {
		ap.t.Fatal(err)
	}
	defer rows.Close()
	g := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			ap.t.Fatal(err)
		}
		g[name] = true
	}
	if err := rows.Err(); err != nil {
		ap.t.Fatal(err)
	}
	if ap.generated == nil {
		ap.generated = map[string]map[string]bool{}
	}
	ap.generated[table] = g
	return g
}

// typesCompareTable compares a table on A and B value for value and returns the
// row count. Each column is read twice: as the driver's value over the
// binary protocol (a prepared statement), where FLOAT and DOUBLE arrive as
// their exact bits and temporal values with their digits; and as HEX(),
// the stored bytes, which catches charset and padding differences that a
// conversion to the connection's utf8mb4 would hide.
func typesCompareTable(ctx context.Context, t *testing.T, a, b *sql.Conn, db, table string) int {
	t.Helper()
	cols := typesColumnsOf(ctx, t, a, db, table)
	if other := typesColumnsOf(ctx, t, b, db, table); !reflect.DeepEqual(cols, other) {
		t.Fatalf("%s: columns differ: A %v, B %v", table, cols, other)
	}
	var exprs, order []string
	for _, c := range cols {
		exprs = append(exprs, typesQuoteIdent(c), "HEX("+typesQuoteIdent(c)+")")
		order = append(order, "HEX("+typesQuoteIdent(c)+")")
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE ? = ? ORDER BY %s", strings.Join(exprs, ", "), typesQuoteIdent(table), strings.Join(order, ", "))
	ra, rb := typesReadRows(ctx, t, a, q), typesReadRows(ctx, t, b, q)
	if len(ra) != len(rb) {
		t.Fatalf("%s: A has %d rows, B has %d", table, len(ra), len(rb))
	}
	for r := range ra {
		for k := range ra[r] {
			if !reflect.DeepEqual(ra[r][k], rb[r][k]) {
				t.Errorf("%s row %d column %s: A %T %v, B %T %v", table, r, exprs[k], ra[r][k], ra[r][k], rb[r][k], rb[r][k])
			}
		}
	}
	var ca, cb sql.NullInt64
	var name string
	if err := a.QueryRowContext(ctx, "CHECKSUM TABLE "+typesQuoteIdent(table)).Scan(&name, &ca); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRowContext(ctx, "CHECKSUM TABLE "+typesQuoteIdent(table)).Scan(&name, &cb); err != nil {
		t.Fatal(err)
	}
	if ca != cb {
		t.Errorf("%s: CHECKSUM TABLE differs: A %v, B %v", table, ca, cb)
	}
	return len(ra)
}

func typesColumnsOf(ctx context.Context, t *testing.T, c *sql.Conn, db, table string) []string {
	t.Helper()
	rows, err := c.QueryContext(ctx, `SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, strings.SplitN(s, " ", 2)[0])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 {
		t.Fatalf("table %s.%s has no columns", db, table)
	}
	return cols
}

func typesReadRows(ctx context.Context, t *testing.T, c *sql.Conn, q string) [][]any {
	t.Helper()
	rows, err := c.QueryContext(ctx, q, 1, 1) // arguments force the binary protocol
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// typesOpenFoundRows opens db on m with CLIENT_FOUND_ROWS, so that an UPDATE
// reports the rows it matched, not only those it changed.
func typesOpenFoundRows(t *testing.T, m *harness.Server, db string) *sql.DB {
	t.Helper()
	cfg, err := gomysql.ParseDSN(m.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientFoundRows = true
	cfg.InterpolateParams = false // event.Row.Arg requires it
	pool, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// typesSessionConn takes one connection from pool and runs the session
// statements on it.
func typesSessionConn(ctx context.Context, t *testing.T, pool *sql.DB, session ...string) *sql.Conn {
	t.Helper()
	c, err := pool.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	typesExec(ctx, t, c, session...)
	return c
}

func typesExec(ctx context.Context, t *testing.T, c *sql.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			t.Fatalf("exec %.200q: %v", s, err)
		}
	}
}

func typesQuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// TestTypesTypeStrings: the "types" of the records in the topic name each
// column's SQL type as the README promises, BLOB and TEXT sizes, UNSIGNED
// DECIMAL, FLOAT and DOUBLE, and geometry subtypes included, and the rows
// apply to b exactly. The binlog's table map carries neither ZEROFILL nor
// display widths, so INT(5) UNSIGNED ZEROFILL is "int unsigned" (ZEROFILL
// implies UNSIGNED; the stored value is the same).
func TestTypesTypeStrings(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE tt",
		`CREATE TABLE tt.t (id INT(5) UNSIGNED ZEROFILL PRIMARY KEY,
			d DECIMAL(10,2) UNSIGNED, f FLOAT UNSIGNED, dbl DOUBLE UNSIGNED, i INT, bi BIGINT UNSIGNED, y YEAR,
			tb TINYBLOB, b BLOB, mb MEDIUMBLOB, lb LONGBLOB,
			tt TINYTEXT, tx TEXT CHARACTER SET latin1, mt MEDIUMTEXT, lt LONGTEXT, j JSON,
			g GEOMETRY, p POINT, ls LINESTRING, pg POLYGON, mpt MULTIPOINT, mls MULTILINESTRING,
			mpg MULTIPOLYGON, gc GEOMETRYCOLLECTION,
			c CHAR(3), v VARCHAR(7), bn BINARY(2), e ENUM('a','b'), s SET('x','y'), dt DATETIME(3)
		) CHARACTER SET utf8mb4`,
		`INSERT INTO tt.t VALUES (7, 12345678.90, 1.5, 2.5, -1, 18446744073709551615, 2024,
			x'01', x'02', x'03', x'04', 'tt', 'tx', 'mt', 'lt', '{"a": 1}',
			ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('LINESTRING(0 0, 1 1)'),
			ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))'), ST_GeomFromText('MULTIPOINT(0 0, 1 1)'),
			ST_GeomFromText('MULTILINESTRING((0 0, 1 1))'), ST_GeomFromText('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))'),
			ST_GeomFromText('GEOMETRYCOLLECTION(POINT(3 4))'),
			'c', 'v', x'01', 'b', 'x,y', '2024-01-02 03:04:05.678')`,
		"UPDATE tt.t SET lb = x'0505', p = ST_GeomFromText('POINT(5 6)') WHERE id = 7",
	)
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	assertSameTables(t, p.a, p.b, "tt.t")
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}

	want := map[string]string{
		"id": "int unsigned", "d": "decimal(10,2) unsigned", "f": "float unsigned", "dbl": "double unsigned",
		"i": "int", "bi": "bigint unsigned", "y": "year",
		"tb": "tinyblob", "b": "blob", "mb": "mediumblob", "lb": "longblob",
		"tt": "tinytext utf8mb4", "tx": "text latin1", "mt": "mediumtext utf8mb4", "lt": "longtext utf8mb4",
		"j": "longtext utf8mb4", // MariaDB's JSON is LONGTEXT
		"g": "geometry", "p": "point", "ls": "linestring", "pg": "polygon", "mpt": "multipoint",
		"mls": "multilinestring", "mpg": "multipolygon", "gc": "geometrycollection",
		"c": "char utf8mb4", "v": "varchar utf8mb4", "bn": "binary(2)", "e": "enum utf8mb4", "s": "set utf8mb4",
		"dt": "datetime(3)",
	}
	recs := typesTopicRecords(t, p.k, p.topic, "tt")
	var ops []string
	for _, r := range recs {
		ops = append(ops, r.Op)
		if !reflect.DeepEqual(r.Types, want) {
			for name, w := range want {
				if r.Types[name] != w {
					t.Errorf("%s record: types[%q] = %q, want %q", r.Op, name, r.Types[name], w)
				}
			}
			if len(r.Types) != len(want) {
				t.Errorf("%s record: types has %d columns, want %d: %v", r.Op, len(r.Types), len(want), r.Types)
			}
		}
	}
	if strings.Join(ops, ",") != "insert,update" {
		t.Errorf("records on tt.t: %v, want insert,update", ops)
	}
}

// TestTypesSetBitsRoundTrip: a SET value whose bitmap has bits that name
// no member. A server stores one only when it applies row events (as a
// replica does, or a BINLOG statement) that come from a table whose SET
// had more members: every statement masks such bits off, whatever form
// the value takes. The test makes one on a that way: rows written to a
// SET('x','y','z','w') are replayed with BINLOG into the same table
// recreated as SET('x','y','z'), so 'w' becomes bit 3 without a member.
//
// The records carry the whole bitmap in after_set_bits/before_set_bits
// beside the member names; the applier writes the member names, which is
// all a statement can store, and matches the rows by them. So s reads the
// same on a and b, and b's s+0 is a's without the bits beyond the members.
func TestTypesSetBitsRoundTrip(t *testing.T) {
	p := newApplyPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := typesSessionConn(ctx, t, p.a.Open(t, ""))
	typesExec(ctx, t, conn, "CREATE DATABASE sb",
		"CREATE TABLE sb.t (id INT PRIMARY KEY, n INT, s SET('x','y','z','w'))",
		"INSERT INTO sb.t VALUES (1, 0, 'z,w'), (2, 0, 'x,y,z,w')")
	replay := typesBinlogStatements(ctx, t, p.a, lastGTID(t, conn))
	typesExec(ctx, t, conn, "DROP TABLE sb.t", "CREATE TABLE sb.t (id INT PRIMARY KEY, n INT, s SET('x','y','z'))")
	typesExec(ctx, t, conn, replay...)
	typesExec(ctx, t, conn,
		"UPDATE sb.t SET n = n + 1",     // before and after images with the bits
		"DELETE FROM sb.t WHERE id = 2", // matched by a before image with the bits
		"INSERT INTO sb.t VALUES (3, 0, 'y')")
	waitApplied(t, p.a, p.b, p.cluster, 90*time.Second)
	if n := conflictCount(t, p.b, p.cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}

	// The test's premise: a stores the bitmaps as the rows events had them.
	const bits = "SELECT GROUP_CONCAT(CONCAT(id, ':', n, ':', s+0) ORDER BY id) FROM sb.t"
	const names = "SELECT GROUP_CONCAT(CONCAT(id, ':', n, ':', s) ORDER BY id SEPARATOR ';') FROM sb.t"
	if got, want := typesQueryString(t, p.a, bits), "1:1:12,3:0:2"; got != want {
		t.Fatalf("a: id:n:s+0 = %s, want %s (the BINLOG replay did not store the bits)", got, want)
	}
	// b holds what a statement can store: the members, 12 & 7 = 4.
	if got, want := typesQueryString(t, p.b, bits), "1:1:4,3:0:2"; got != want {
		t.Errorf("b: id:n:s+0 = %s, want %s", got, want)
	}
	if ga, gb := typesQueryString(t, p.a, names), typesQueryString(t, p.b, names); ga != gb || ga != "1:1:z;3:0:y" {
		t.Errorf("id:n:s differs: a %s, b %s, want 1:1:z;3:0:y on both", ga, gb)
	}

	// The topic has the whole bitmaps, beside the member names.
	type side struct {
		op, image, id, names, bits string
	}
	var got []side
	for _, r := range typesTopicRecords(t, p.k, p.topic, "sb") {
		for _, img := range []struct {
			name string
			row  map[string]json.RawMessage
			bits map[string]string
		}{{"before", r.Before, r.BeforeSetBits}, {"after", r.After, r.AfterSetBits}} {
			if img.row == nil {
				continue
			}
			got = append(got, side{r.Op, img.name, string(img.row["id"]), string(img.row["s"]), img.bits["s"]})
		}
	}
	want := []side{
		{"insert", "after", "1", `"z,w"`, ""},
		{"insert", "after", "2", `"x,y,z,w"`, ""},
		{"insert", "after", "1", `"z"`, "12"}, // the BINLOG replay
		{"insert", "after", "2", `"x,y,z"`, "15"},
		{"update", "before", "1", `"z"`, "12"},
		{"update", "after", "1", `"z"`, "12"},
		{"update", "before", "2", `"x,y,z"`, "15"},
		{"update", "after", "2", `"x,y,z"`, "15"},
		{"delete", "before", "2", `"x,y,z"`, "15"},
		{"insert", "after", "3", `"y"`, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records on sb.t (op, image, id, s, s bits):\n got %v\nwant %v", got, want)
	}
}

// typesTopicRecord is what the type tests read of a record in the topic,
// with encoding/json as any consumer would.
type typesTopicRecord struct {
	Op            string                     `json:"op"`
	DB            string                     `json:"db"`
	Types         map[string]string          `json:"types"`
	Before        map[string]json.RawMessage `json:"before"`
	After         map[string]json.RawMessage `json:"after"`
	BeforeSetBits map[string]string          `json:"before_set_bits"`
	AfterSetBits  map[string]string          `json:"after_set_bits"`
}

// typesTopicRecords returns the row records of db in topic, in order (the
// tests' transactions all go to one partition per table and key).
func typesTopicRecords(t *testing.T, k *harness.Kafka, topic, db string) []typesTopicRecord {
	t.Helper()
	var out []typesTopicRecord
	asm := map[int32]*event.Assembler{}
	for _, m := range k.ConsumeReadCommitted(t, topic, 1<<20, 3*time.Second) {
		a := asm[m.Partition]
		if a == nil {
			a = &event.Assembler{}
			asm[m.Partition] = a
		}
		value, _, whole, err := a.Add(replicator.FragmentHeader(m.Headers), m.Value, m.Offset)
		if err != nil {
			t.Fatalf("partition %d: %v", m.Partition, err)
		}
		if !whole {
			continue
		}
		var r typesTopicRecord
		if err := json.Unmarshal(value, &r); err != nil {
			t.Fatalf("offset %d: %v\n%.2000s", m.Offset, err, value)
		}
		if r.DB == db && (r.Op == "insert" || r.Op == "update" || r.Op == "delete") {
			out = append(out, r)
		}
	}
	return out
}

// typesBinlogStatements reads src's binlog from the start through the
// transaction gtid and returns BINLOG statements that apply its rows events
// again, as mariadb-binlog prints them: the format description event, then
// the table-map and rows events, base64-encoded. The server applies them
// to the table the table map names as it is then, storing SET bitmaps as
// they come.
func typesBinlogStatements(ctx context.Context, t *testing.T, src *harness.Server, gtid string) []string {
	t.Helper()
	streamer, stop := typesStream(t, src, typesSyncerConfig(src))
	defer stop()
	var (
		fde    []byte
		rows   []string
		cur    string
		encode = base64.StdEncoding.EncodeToString
	)
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("binlog from %s (waiting for %s, at %s): %v", src.Addr(), gtid, cur, err)
		}
		// RawData is the whole event, checksum included, in a buffer the
		// syncer reuses.
		switch e := ev.Event.(type) {
		case *replication.FormatDescriptionEvent:
			if fde == nil {
				fde = bytes.Clone(ev.RawData)
			}
		case *replication.MariadbGTIDEvent:
			cur = e.GTID.String()
		case *replication.TableMapEvent, *replication.RowsEvent:
			if cur == gtid {
				rows = append(rows, encode(ev.RawData))
			}
		case *replication.XIDEvent:
			if cur == gtid {
				if fde == nil || len(rows) < 2 {
					t.Fatalf("transaction %s: format description %d bytes, %d table-map and rows events", gtid, len(fde), len(rows))
				}
				return []string{"BINLOG '" + encode(fde) + "'", "BINLOG '" + strings.Join(rows, "\n") + "'"}
			}
		}
	}
}

func typesQueryString(t *testing.T, m *harness.Server, q string) string {
	t.Helper()
	var s sql.NullString
	if err := m.Open(t, "").QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.String
}

// typesStream reads src's binlog from its start with cfg; stop closes it.
func typesStream(t *testing.T, src *harness.Server, cfg replication.BinlogSyncerConfig) (streamer *replication.BinlogStreamer, stop func()) {
	t.Helper()
	syncer := replication.NewBinlogSyncer(cfg)
	start, err := mysql.ParseMariadbGTIDSet("")
	if err != nil {
		t.Fatal(err)
	}
	if streamer, err = syncer.StartSyncGTID(start); err != nil {
		syncer.Close()
		t.Fatalf("start binlog sync from %s: %v", src.Addr(), err)
	}
	return streamer, syncer.Close
}

// typesSyncerConfig reads src's binlog as a throwaway replica.
func typesSyncerConfig(src *harness.Server) replication.BinlogSyncerConfig {
	return replication.BinlogSyncerConfig{
		ServerID: 200000 + rand.Uint32N(1<<30),
		Flavor:   mysql.MariaDBFlavor,
		Host:     src.Host,
		Port:     uint16(src.Port),
		User:     src.User,
		Password: src.Password,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}
