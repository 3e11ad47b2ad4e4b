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
		"USE p",
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
	enc1 := "CONCAT_WS('|', `id`, `k`, LENGTH(`c`), `c`, `pad`)"
	multi := "`id`, '|', `k`, '|', LENGTH(`c`), '|', `c`, '|', `pad`"
	multi2 := "`id`, '|', `k`, '|', LENGTH(`c`), '|', `c`, '|', LENGTH(`pad`), '|', `pad`"
	cands := []struct{ name, expr string }{
		{"count only", "COUNT(*)"},
		{"sha2(gc(enc)) [today]", "SHA2(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'), 256)"},
		{"length(gc(enc))", "LENGTH(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))"},
		{"length(gc(enc1))", "LENGTH(GROUP_CONCAT(" + enc1 + " SEPARATOR X'0A'))"},
		{"length(gc(multi))", "LENGTH(GROUP_CONCAT(" + multi + " SEPARATOR X'0A'))"},
		{"length(gc(multi2))", "LENGTH(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A'))"},
		{"length(gc(enc no len))", "LENGTH(GROUP_CONCAT(" + encNoLen + " SEPARATOR X'0A'))"},
		{"sha2(gc(multi2))", "SHA2(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A'), 256)"},
		{"sha1(gc(multi2))", "SHA1(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A'))"},
		{"md5(gc(multi2))", "MD5(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A'))"},
		{"crc32(gc(multi2))", "CRC32(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A'))"},
		{"sha1(gc(enc))", "SHA1(GROUP_CONCAT(" + enc + " SEPARATOR X'0A'))"},
		{"sha2(gc(cast binary multi2))", "SHA2(CAST(GROUP_CONCAT(" + multi2 + " SEPARATOR X'0A') AS BINARY), 256)"},
		{"sum(length(enc))", "SUM(LENGTH(" + enc + "))"},
		{"bit_xor(crc32(enc)) [pt-style]", "BIT_XOR(CRC32(" + enc + "))"},
		{"bit_xor(crc32(pt enc))", "BIT_XOR(CRC32(CONCAT_WS('#', `id`, `k`, `c`, `pad`)))"},
		{"sum(crc32<<32|crc32c)", "SUM(CRC32(" + enc + ") << 32 | CRC32C(" + enc + "))"},
		{"sum(cast(crc32 as double))", "SUM(CAST(CRC32(" + enc + ") AS DOUBLE))"},
		{"sum dbl crc32 + sum dbl crc32c", "CONCAT(SUM(CAST(CRC32(" + enc + ") AS DOUBLE)), ' ', SUM(CAST(CRC32C(" + enc + ") AS DOUBLE)))"},
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
