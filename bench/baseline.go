package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sony/sonyflake/v2"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Keys of the baseline figures, for later suites' ratios.
const (
	KeyBinlogDecode = "baseline.binlog_decode_rows_per_s"
	KeyBulkInsert   = "baseline.bulk_insert_rows_per_s"
	KeySonyflake    = "baseline.sonyflake_ids_per_s"
)

// decodePasses is how many times the decode baseline reads the dataset; the
// fastest pass counts. A pass over a million rows takes about a second, short
// enough for a neighbour's burst of CPU to skew a single pass.
const decodePasses = 3

// bulkBatch is the number of rows per multi-row INSERT in the bulk-load
// baseline.
const bulkBatch = 1000

// measureBinlogDecode times go-mysql's bare BinlogSyncer reading the
// dataset's binlog with GTID auto-position: the ceiling for the replicator.
func measureBinlogDecode(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	ds, err := env.DatasetOn(ctx, f)
	if err != nil {
		return nil, err
	}
	var res DecodeResult
	for i := range decodePasses {
		r, err := DecodeBinlog(ctx, ds, nil)
		if err != nil {
			return nil, fmt.Errorf("decode pass %d: %w", i+1, err)
		}
		if r.Rows != ds.Rows {
			return nil, fmt.Errorf("decode pass %d: %d rows, want %d", i+1, r.Rows, ds.Rows)
		}
		if i == 0 || r.Elapsed < res.Elapsed {
			res = r
		}
	}
	secs := res.Elapsed.Seconds()
	return []Row{
		{
			Key: FlavorKey(f, KeyBinlogDecode),
			Metric: flavorMetric(f, fmt.Sprintf("binlog decode, bare go-mysql BinlogSyncer, GTID auto-position (%d rows, best of %d: %.2fs)",
				res.Rows, decodePasses, secs)),
			Value: float64(res.Rows) / secs, Unit: "rows/s", Goal: "baseline",
		},
		{
			Metric: flavorMetric(f, "binlog decode, bare go-mysql BinlogSyncer, bytes"),
			Value:  float64(res.Bytes) / (1 << 20) / secs, Unit: "MiB/s", Goal: "baseline",
		},
	}, nil
}

// measureBulkInsert times region b loading the dataset's rows with multi-row
// INSERTs of bulkBatch rows, one autocommit statement each, through one
// reused prepared statement: the ceiling for the applier. Only the INSERT
// round trips are timed; reading the source is not. Region b is of the
// dataset's flavor.
func measureBulkInsert(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	ds, err := env.DatasetOn(ctx, f)
	if err != nil {
		return nil, err
	}
	target, err := env.StartServer(f, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	if err != nil {
		return nil, fmt.Errorf("start region b: %w", err)
	}
	src, err := sqlOpen(ds.Source, ds.DB)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := sqlOpen(target, "")
	if err != nil {
		return nil, err
	}
	defer dst.Close()

	var name, create string
	if err := src.QueryRowContext(ctx, "SHOW CREATE TABLE "+ds.Table).Scan(&name, &create); err != nil {
		return nil, fmt.Errorf("show create table: %w", err)
	}
	if _, err := dst.ExecContext(ctx, "CREATE DATABASE bench_target; USE bench_target; "+create); err != nil {
		return nil, fmt.Errorf("create target table: %w", err)
	}
	dst.SetMaxOpenConns(1) // one loader connection, as the metric says
	n, busy, err := BulkCopy(ctx, src, dst, ds.Table, "bench_target."+ds.Table, bulkBatch)
	if err != nil {
		return nil, err
	}
	if n != ds.Rows {
		return nil, fmt.Errorf("copied %d rows, want %d", n, ds.Rows)
	}
	return []Row{{
		Key:    FlavorKey(f, KeyBulkInsert),
		Metric: flavorMetric(f, fmt.Sprintf("region b bulk load, multi-row INSERT x%d, 1 connection (%d rows, %.2fs)", bulkBatch, n, busy.Seconds())),
		Value:  float64(n) / busy.Seconds(), Unit: "rows/s", Goal: "baseline",
	}}, nil
}

// BulkCopy copies every row of srcTable (whose first column is its integer
// primary key) into dstTable in multi-row INSERTs of batch rows. It returns
// the rows copied and the time spent in the INSERTs alone.
func BulkCopy(ctx context.Context, src, dst *sql.DB, srcTable, dstTable string, batch int) (int, time.Duration, error) {
	cols, err := columnNames(ctx, src, srcTable)
	if err != nil {
		return 0, 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = mysqlconn.QuoteIdent(c)
	}
	insertSQL := func(rows int) string {
		tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		return "INSERT INTO " + dstTable + " (" + strings.Join(quoted, ",") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(tuple+",", rows), ",")
	}
	full, err := dst.PrepareContext(ctx, insertSQL(batch))
	if err != nil {
		return 0, 0, fmt.Errorf("prepare insert: %w", err)
	}
	defer full.Close()
	selectSQL := fmt.Sprintf("SELECT %s FROM %s WHERE %s > ? ORDER BY %s LIMIT %d",
		strings.Join(quoted, ","), srcTable, quoted[0], quoted[0], batch)

	var (
		copied int
		busy   time.Duration
		after  any = int64(-1 << 62)
		args       = make([]any, 0, batch*len(cols))
	)
	for {
		args = args[:0]
		rows, err := src.QueryContext(ctx, selectSQL, after)
		if err != nil {
			return copied, busy, fmt.Errorf("read %s after %v: %w", srcTable, after, err)
		}
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return copied, busy, fmt.Errorf("scan %s: %w", srcTable, err)
			}
			args = append(args, vals...)
			after = vals[0]
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return copied, busy, fmt.Errorf("read %s: %w", srcTable, err)
		}
		if n == 0 {
			return copied, busy, nil
		}
		began := time.Now()
		if n == batch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = dst.ExecContext(ctx, insertSQL(n), args...)
		}
		busy += time.Since(began)
		if err != nil {
			return copied, busy, fmt.Errorf("insert %d rows into %s: %w", n, dstTable, err)
		}
		copied += n
	}
}

func columnNames(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM "+table+" LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	return cols, nil
}

// measureSonyflake times bare sonyflake/v2 with its default layout (39 time
// bits of 10 ms, 8 sequence bits, 16 machine bits), one goroutine, in
// process. The default layout caps a generator at 2^8 IDs per 10 ms, 25,600/s.
func measureSonyflake(ctx context.Context, env *Env) ([]Row, error) {
	rate, err := SonyflakeRate(ctx, sonyflake.Settings{}, 3*time.Second)
	if err != nil {
		return nil, err
	}
	return []Row{{
		Key:    KeySonyflake,
		Metric: "bare sonyflake/v2 NextID, default layout, 1 goroutine (cap 25,600/s)",
		Value:  rate, Unit: "IDs/s", Goal: "baseline",
	}}, nil
}

// SonyflakeRate calls NextID on one generator for d and returns IDs per
// second. A nil st.MachineID is replaced by a constant, so that the default
// (a private IPv4 address) is not needed.
func SonyflakeRate(ctx context.Context, st sonyflake.Settings, d time.Duration) (float64, error) {
	if st.MachineID == nil {
		st.MachineID = func() (int, error) { return 1, nil }
	}
	sf, err := sonyflake.New(st)
	if err != nil {
		return 0, fmt.Errorf("sonyflake: %w", err)
	}
	began := time.Now()
	n := 0
	for {
		for range 256 {
			if _, err := sf.NextID(); err != nil {
				return 0, fmt.Errorf("sonyflake NextID: %w", err)
			}
		}
		n += 256
		elapsed := time.Since(began)
		if elapsed >= d || ctx.Err() != nil {
			return float64(n) / elapsed.Seconds(), ctx.Err()
		}
	}
}

// startServer starts a fresh MariaDB whose server_id and gtid_domain_id
// are id, and opens a pool on it; what names it in errors.
func (e *Env) startServer(what string, id uint32) (*harness.Server, *sql.DB, error) {
	return e.startServerOn(harness.FlavorMariaDB, what, id)
}

// startServerOn is startServer for a server of flavor f.
func (e *Env) startServerOn(f harness.Flavor, what string, id uint32) (*harness.Server, *sql.DB, error) {
	m, err := e.StartServer(f, harness.ServerOptions{ServerID: id, GTIDDomainID: id})
	if err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", what, err)
	}
	db, err := sqlOpen(m, "")
	if err != nil {
		return nil, nil, err
	}
	return m, db, nil
}

func sqlOpen(m *harness.Server, db string) (*sql.DB, error) {
	pool, err := sql.Open("mysql", m.DSN(db))
	if err != nil {
		return nil, fmt.Errorf("open %s/%s: %w", m.Addr(), db, err)
	}
	return pool, nil
}
