// Command digestprobe is a throwaway: it times candidate part digests.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/bench"
	"github.com/drc-dev/drc/integration/harness"
)

const rows = 1_000_000

func main() {
	h, err := harness.NewEnv()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	env := bench.NewEnv(h, rows, log.Printf)
	defer env.Close()
	if err := env.Do(h.Ensure); err != nil {
		log.Fatal(err)
	}
	flavors := []harness.Flavor{harness.FlavorMariaDB, harness.FlavorMySQL}
	if len(os.Args) > 1 {
		flavors = []harness.Flavor{harness.Flavor(os.Args[1])}
	}
	for _, f := range flavors {
		if err := probe(env, f); err != nil {
			log.Printf("%s: %v", f, err)
		}
	}
}

func probe(env *bench.Env, f harness.Flavor) error {
	ctx := context.Background()
	m, err := env.StartServer(f, harness.ServerOptions{ServerID: 31, GTIDDomainID: 31})
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	gen := fmt.Sprintf("SELECT 2 * seq, seq * 7919 %% %d, LEFT(CONCAT_WS('-', MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3)), 119), LEFT(CONCAT_WS('-', SHA1(seq), SHA1(seq + 1)), 59) FROM p.seq_1_to_%d", rows, rows)
	if f == harness.FlavorMySQL {
		gen = fmt.Sprintf("WITH RECURSIVE s(seq) AS (SELECT 1 UNION ALL SELECT seq+1 FROM s WHERE seq < %d) SELECT 2 * seq, seq * 7919 %% %d, LEFT(CONCAT_WS('-', SHA2(seq,256), SHA2(seq + 1,256)), 119), LEFT(CONCAT_WS('-', SHA1(seq), SHA1(seq + 1)), 59) FROM s", rows, rows)
	}
	for _, q := range []string{
		"SET SESSION cte_max_recursion_depth = 10000000",
		"CREATE DATABASE p",
		"CREATE TABLE p.t (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '') ENGINE=InnoDB",
		"INSERT INTO p.t " + gen,
		"CREATE INDEX k_1 ON p.t (k)",
		"SET SESSION group_concat_max_len = 67108864",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.HasPrefix(q, "SET SESSION cte") {
				continue
			}
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	enc := "CONCAT_WS('|', `id`, `k`, LENGTH(`c`), `c`, LENGTH(`pad`), `pad`)"
	encNoLen := "CONCAT_WS('|', `id`, `k`, `c`, `pad`)"
	cands := []struct{ name, expr string }{
		{"count only", "COUNT(*)"},
		{"sum(length(enc))", "SUM(LENGTH(" + enc + "))"},
		{"length(group_concat(enc))", "LENGTH(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))"},
		{"sha2(gc(enc)) [today]", "SHA2(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'), 256)"},
		{"sha2(gc(enc no len))", "SHA2(GROUP_CONCAT(" + encNoLen + " SEPARATOR X'0A'), 256)"},
		{"crc32(gc(enc))", "CRC32(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))"},
		{"crc32c(gc(enc))", "CRC32C(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))"},
		{"crc32+crc32c of gc, two gcs", "CONCAT(CRC32(GROUP_CONCAT(" + enc + " SEPARATOR X'0A')), ' ', CRC32C(GROUP_CONCAT(" + enc + " SEPARATOR X'0A')))"},
		{"bit_xor(crc32(enc)) [pt-style]", "BIT_XOR(CRC32(" + enc + "))"},
		{"sum(crc32(enc))", "SUM(CRC32(" + enc + "))"},
		{"sum(crc32(enc)) + sum(crc32c(enc))", "CONCAT(SUM(CRC32(" + enc + ")), ' ', SUM(CRC32C(" + enc + ")))"},
		{"sum(crc32<<32|crc32c)", "SUM(CRC32(" + enc + ") << 32 | CRC32C(" + enc + "))"},
		{"sum(conv(left(sha2(enc),16)))", "SUM(CONV(LEFT(SHA2(" + enc + ", 256), 16), 16, 10))"},
		{"sum(crc32(enc)) + sum(crc32(reverse(enc)))", "CONCAT(SUM(CRC32(" + enc + ")), ' ', SUM(CRC32(REVERSE(" + enc + "))))"},
		{"crc32(gc)+crc32(reverse(gc))", "CONCAT(CRC32(GROUP_CONCAT(" + enc + " SEPARATOR X'0A')), ' ', CRC32(REVERSE(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))))"},
	}
	for _, c := range cands {
		for _, sub := range []bool{false, true} {
			if sub && !strings.Contains(c.name, "two gcs") && !strings.Contains(c.name, "reverse(gc)") {
				continue
			}
			best := time.Duration(0)
			var failed error
			for pass := 0; pass < 2; pass++ {
				el, err := scan(ctx, db, c.expr, sub)
				if err != nil {
					failed = err
					break
				}
				if pass == 0 || el < best {
					best = el
				}
			}
			name := c.name
			if sub {
				name += " via derived table"
			}
			if failed != nil {
				fmt.Printf("%s | %-45s | error %v\n", f, name, failed)
				continue
			}
			fmt.Printf("%s | %-45s | %6.2fs | %.3f µs/row\n", f, name, best.Seconds(), best.Seconds()*1e6/rows)
		}
	}
	return nil
}

// scan hashes the table in parts of 1000 rows, 20 parts per statement.
func scan(ctx context.Context, db *sql.DB, expr string, sub bool) (time.Duration, error) {
	began := time.Now()
	const part = 2000 // ids are even: 1000 rows
	for lo := 0; lo < 2*rows; lo += 20 * part {
		var sb strings.Builder
		for i := 0; i < 20; i++ {
			if i > 0 {
				sb.WriteString(" UNION ALL ")
			}
			a, b := lo+i*part, lo+(i+1)*part
			if sub {
				g := "GROUP_CONCAT(CONCAT_WS('|', `id`, `k`, LENGTH(`c`), `c`, LENGTH(`pad`), `pad`) SEPARATOR X'0A')"
				if strings.Contains(expr, "REVERSE") {
					fmt.Fprintf(&sb, "SELECT %d, n, CONCAT(CRC32(g), ' ', CRC32(REVERSE(g))) FROM (SELECT COUNT(*) n, %s g FROM p.t FORCE INDEX (PRIMARY) WHERE id > %d AND id <= %d) d", i, g, a, b)
				} else {
					fmt.Fprintf(&sb, "SELECT %d, n, CONCAT(CRC32(g), ' ', CRC32C(g)) FROM (SELECT COUNT(*) n, %s g FROM p.t FORCE INDEX (PRIMARY) WHERE id > %d AND id <= %d) d", i, g, a, b)
				}
			} else {
				fmt.Fprintf(&sb, "SELECT %d, COUNT(*), %s FROM p.t FORCE INDEX (PRIMARY) WHERE id > %d AND id <= %d", i, expr, a, b)
			}
		}
		rs, err := db.QueryContext(ctx, sb.String())
		if err != nil {
			return 0, err
		}
		for rs.Next() {
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return 0, err
		}
	}
	return time.Since(began), nil
}
