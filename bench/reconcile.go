package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/reconcile"
)

// Keys of the reconcile figures.
const (
	KeyReconcileRate   = "reconcile.rows_per_s"
	KeyPTTableSyncRate = "baseline.pt_table_sync_rows_per_s"
)

const (
	// reconcileDrift is the number of rows drifted on the target: a third
	// changed, a third missing, a third extra, spread over the key range.
	reconcileDrift = 100
	// reconcilePasses: each tool runs this many times, alternating; the
	// fastest pass counts (a neighbour's burst of CPU skews single passes).
	reconcilePasses = 3
	// reconcileBigRows is the size of the optional large pair.
	reconcileBigRows = 10_000_000
)

// measureReconcile compares two regions' copies of a sysbench-shaped table
// of Env.Rows rows (DRC_BENCH_ROWS) with reconcileDrift drifted rows, with
// drc reconcile and with `pt-table-sync --print`, on the same servers in the
// same run, and checks that both find the same set of differences.
//
// drc runs as in production: settling on (against a caught-up checkpoint
// row, so the exact, locking confirmation runs for every candidate), the
// default chunk time and part size, run state kept in drc_meta.
// DRC_BENCH_DEBUG=1 shows drc's debug log (chunk timings) on stderr.
// DRC_BENCH_BIG=1 adds one pass of each tool on a 10,000,000-row pair.
func measureReconcile(ctx context.Context, env *Env) ([]Row, error) {
	a, err := env.StartMariaDB(harness.ServerOptions{ServerID: 21, GTIDDomainID: 21})
	if err != nil {
		return nil, fmt.Errorf("start region a: %w", err)
	}
	b, err := env.StartMariaDB(harness.ServerOptions{ServerID: 22, GTIDDomainID: 22})
	if err != nil {
		return nil, fmt.Errorf("start region b: %w", err)
	}
	pr := &reconcilePair{a: a, b: b, db: "rcbench", table: "sbtest1", rows: env.Rows, logf: env.Logf}
	if os.Getenv("DRC_BENCH_DEBUG") == "1" {
		// drc's debug log (chunk timings, settling) on stderr.
		pr.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := pr.load(ctx); err != nil {
		return nil, err
	}
	want, err := pr.drift(ctx)
	if err != nil {
		return nil, err
	}

	var drcBest, ptBest time.Duration
	var drcCPU, ptCPU CPUUse // of the fastest passes
	var drcFound, ptFound []string
	for i := range reconcilePasses {
		el, found, cpu, err := pr.runDRC(ctx, fmt.Sprintf("bench%d", i))
		if err != nil {
			return nil, fmt.Errorf("drc reconcile pass %d: %w", i+1, err)
		}
		if i == 0 || el < drcBest {
			drcBest, drcCPU = el, cpu
		}
		drcFound = found
		el, found, cpu, err = pr.runPTTableSync(ctx)
		if err != nil {
			return nil, fmt.Errorf("pt-table-sync pass %d: %w", i+1, err)
		}
		if i == 0 || el < ptBest {
			ptBest, ptCPU = el, cpu
		}
		ptFound = found
	}
	drcRate := float64(pr.rows) / drcBest.Seconds()
	ptRate := float64(pr.rows) / ptBest.Seconds()

	same := "same set as pt-table-sync and as injected"
	if !slices.Equal(drcFound, ptFound) || !slices.Equal(drcFound, want) {
		same = fmt.Sprintf("MISMATCH: drc %s; pt-table-sync %s; injected %s",
			rcSetDiff(drcFound, want), rcSetDiff(ptFound, want), rcSummarize(want))
	}
	rows := []Row{
		{
			Key: KeyPTTableSyncRate,
			Metric: fmt.Sprintf("reconcile baseline: pt-table-sync --print, %s rows, %d drifted (best of %d: %.2fs)",
				rcCount(pr.rows), reconcileDrift, reconcilePasses, ptBest.Seconds()),
			Value: ptRate, Unit: "rows/s", Goal: "baseline",
		},
		{
			Key: KeyReconcileRate,
			Metric: fmt.Sprintf("reconcile: drc rows compared, %s rows, %d drifted, settling on (best of %d: %.2fs)",
				rcCount(pr.rows), reconcileDrift, reconcilePasses, drcBest.Seconds()),
			Value: drcRate, Unit: "rows/s", Goal: Ratio(drcRate, ptRate, "pt-table-sync", "≥ 5"),
		},
		{
			Metric: "reconcile: differences found by drc (missing+extra+changed)",
			Value:  float64(len(drcFound)), Unit: "rows", Goal: same,
		},
		{
			Metric: fmt.Sprintf("CPU cost, pt-table-sync --print and both servers, fastest pass (%s)", ptCPU.Describe(pr.rows)),
			Value:  ptCPU.PerMillion(pr.rows), Unit: "CPU s/1M rows", Goal: "baseline",
		},
		{
			Metric: fmt.Sprintf("CPU cost, drc reconcile and both servers, fastest pass (%s)", drcCPU.Describe(pr.rows)),
			Value:  drcCPU.PerMillion(pr.rows), Unit: "CPU s/1M rows",
			Goal: Ratio(drcCPU.PerMillion(pr.rows), ptCPU.PerMillion(pr.rows), "pt-table-sync", ""),
		},
	}

	if os.Getenv("DRC_BENCH_BIG") != "1" {
		rows = append(rows, Row{
			Metric: fmt.Sprintf("reconcile: drc rows compared, %s rows (skipped: loading the pair takes minutes; set DRC_BENCH_BIG=1)", rcCount(reconcileBigRows)),
			Unit:   "rows/s", Goal: "not run",
		})
		return rows, nil
	}
	big := &reconcilePair{a: a, b: b, db: "rcbench_big", table: "sbtest1", rows: reconcileBigRows, logf: env.Logf, logger: pr.logger}
	if err := big.load(ctx); err != nil {
		return rows, err
	}
	bigWant, err := big.drift(ctx)
	if err != nil {
		return rows, err
	}
	el, bigFound, bigCPU, err := big.runDRC(ctx, "bench-big")
	if err != nil {
		return rows, fmt.Errorf("drc reconcile, big pair: %w", err)
	}
	ptEl, ptBigFound, ptBigCPU, err := big.runPTTableSync(ctx)
	if err != nil {
		return rows, fmt.Errorf("pt-table-sync, big pair: %w", err)
	}
	bigRate, ptBigRate := float64(big.rows)/el.Seconds(), float64(big.rows)/ptEl.Seconds()
	bigSame := "same set as pt-table-sync and as injected"
	if !slices.Equal(bigFound, ptBigFound) || !slices.Equal(bigFound, bigWant) {
		bigSame = fmt.Sprintf("MISMATCH: drc %s; pt-table-sync %s", rcSetDiff(bigFound, bigWant), rcSetDiff(ptBigFound, bigWant))
	}
	rows = append(rows,
		Row{
			Metric: fmt.Sprintf("reconcile baseline: pt-table-sync --print, %s rows, %d drifted (one pass: %.1fs; %s)", rcCount(big.rows), reconcileDrift, ptEl.Seconds(), ptBigCPU.Describe(big.rows)),
			Value:  ptBigRate, Unit: "rows/s", Goal: "baseline",
		},
		Row{
			Metric: fmt.Sprintf("reconcile: drc rows compared, %s rows, %d drifted (one pass: %.1fs; larger than the buffer pool; %s; %d differences, %s)",
				rcCount(big.rows), reconcileDrift, el.Seconds(), bigCPU.Describe(big.rows), len(bigFound), bigSame),
			Value: bigRate, Unit: "rows/s", Goal: Ratio(bigRate, ptBigRate, "pt-table-sync", "≥ 5"),
		})
	return rows, nil
}

// reconcilePair is one table on regions a and b.
type reconcilePair struct {
	a, b      *harness.Server
	db, table string
	rows      int
	logf      func(string, ...any)
	logger    *slog.Logger // drc's log; nil: discarded
}

func (p *reconcilePair) name() string { return p.db + "." + p.table }

// load creates the same table on both servers, in parallel. The rows are a
// function of their number, so both sides hold identical data without
// copying it: sysbench's shape (id, k, c CHAR(120), pad CHAR(60), index on
// k), with even ids only so that extra rows can be spread over the range.
func (p *reconcilePair) load(ctx context.Context) error {
	began := time.Now()
	p.logf("reconcile: loading %d rows into %s on both regions", p.rows, p.name())
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + p.db,
		"DROP TABLE IF EXISTS " + p.name(),
		"CREATE TABLE " + p.name() + " (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0, " +
			"c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '') ENGINE=InnoDB",
		fmt.Sprintf("INSERT INTO %s SELECT 2 * seq, seq * 7919 %% %d, "+
			"LEFT(CONCAT_WS('-', MD5(seq), MD5(seq + 1), MD5(seq + 2), MD5(seq + 3)), 119), "+
			"LEFT(CONCAT_WS('-', SHA1(seq), SHA1(seq + 1)), 59) FROM %s.seq_1_to_%d", p.name(), max(p.rows, 1), p.db, p.rows),
		"CREATE INDEX k_1 ON " + p.name() + " (k)",
		// Warm the buffer pool, so neither tool pays for the first read.
		"SELECT COUNT(*), SUM(LENGTH(pad)) FROM " + p.name() + " FORCE INDEX (PRIMARY)",
	}
	errc := make(chan error, 2)
	for _, m := range []*harness.Server{p.a, p.b} {
		go func() { errc <- rcExecAll(ctx, m, stmts) }()
	}
	err1, err2 := <-errc, <-errc
	if err1 != nil {
		return err1
	}
	if err2 != nil {
		return err2
	}
	p.logf("reconcile: loaded %s in %v", p.name(), time.Since(began).Round(time.Second))
	return nil
}

func rcExecAll(ctx context.Context, m *harness.Server, stmts []string) error {
	db, err := sqlOpen(m, "")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", q, m.Addr(), err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s on %s: %w", q, m.Addr(), err)
		}
	}
	return nil
}

// drift changes reconcileDrift rows on b behind replication's back
// (sql_log_bin=0) and returns them as "id kind", sorted.
func (p *reconcilePair) drift(ctx context.Context) ([]string, error) {
	stmts := []string{"SET SESSION sql_log_bin = 0"}
	var want []string
	step := max(p.rows/reconcileDrift, 3)
	for i := range reconcileDrift {
		id := 2 * (1 + i*step + step/2) // an existing (even) id
		switch i % 3 {
		case 0:
			stmts = append(stmts, fmt.Sprintf("UPDATE %s SET c = 'drifted' WHERE id = %d", p.name(), id))
			want = append(want, fmt.Sprintf("%d changed", id))
		case 1:
			stmts = append(stmts, fmt.Sprintf("DELETE FROM %s WHERE id = %d", p.name(), id))
			want = append(want, fmt.Sprintf("%d missing", id))
		default:
			stmts = append(stmts, fmt.Sprintf("INSERT INTO %s VALUES (%d, 1, 'extra', 'extra')", p.name(), id+1))
			want = append(want, fmt.Sprintf("%d extra", id+1))
		}
	}
	db, err := sqlOpen(p.b, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, strings.Join(stmts, "; ")); err != nil {
		return nil, fmt.Errorf("inject drift: %w", err)
	}
	slices.Sort(want)
	return want, nil
}

// runDRC runs drc reconcile (dry run) and returns its time, findings, and
// the CPU time of drc (the bench process) and both servers meanwhile. A
// caught-up checkpoint row for cluster on b lets it settle.
func (p *reconcilePair) runDRC(ctx context.Context, cluster string) (time.Duration, []string, CPUUse, error) {
	adb, err := sqlOpen(p.a, "")
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	defer adb.Close()
	bdb, err := sqlOpen(p.b, "")
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	defer bdb.Close()
	var pos string
	if err := adb.QueryRowContext(ctx, mysqlconn.MariaDB.PositionQuery()).Scan(&pos); err != nil {
		return 0, nil, CPUUse{}, err
	}
	if err := drcmeta.Ensure(ctx, bdb); err != nil {
		return 0, nil, CPUUse{}, fmt.Errorf("region b: %w", err)
	}
	if err := drcmeta.WriteCheckpoint(ctx, bdb, drcmeta.Checkpoint{Cluster: cluster, GTIDSet: pos, Origin: "a"}); err != nil {
		return 0, nil, CPUUse{}, fmt.Errorf("checkpoint row: %w", err)
	}

	cfg := reconcile.NewConfig()
	cfg.SourceDSN, cfg.TargetDSN = p.a.DSN(""), p.b.DSN("")
	cfg.Cluster = cluster
	cfg.Tables = []string{p.name()}
	cfg.Restart = true
	span, err := StartCPU(CPUProc{"drc", 0}, CPUProc{"source", p.a.Pid()}, CPUProc{"target", p.b.Pid()})
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	began := time.Now()
	rep, err := reconcile.Run(ctx, cfg, p.logger)
	el := time.Since(began)
	cpu, cerr := span.Stop()
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	if rep.Summary.Unsettled > 0 || rep.Summary.Errors > 0 {
		return 0, nil, CPUUse{}, fmt.Errorf("drc reconcile: %d unsettled, %d errors", rep.Summary.Unsettled, rep.Summary.Errors)
	}
	var found []string
	for _, d := range rep.Differences {
		found = append(found, d.Key[0].Value+" "+string(d.Kind))
	}
	slices.Sort(found)
	return el, found, cpu, cerr
}

// ptStatement matches what pt-table-sync --print writes to make the target
// like the source, and the row's id in it.
var ptStatement = regexp.MustCompile("^(UPDATE|DELETE FROM|INSERT INTO|REPLACE INTO) [^ ]+ .*?(?:WHERE `id`='(-?\\d+)'|VALUES \\('(-?\\d+)')")

// runPTTableSync runs pt-table-sync --print from a to b and returns its time,
// its findings, read from the statements it prints, and the CPU time of
// pt-table-sync and both servers meanwhile.
func (p *reconcilePair) runPTTableSync(ctx context.Context) (time.Duration, []string, CPUUse, error) {
	src := fmt.Sprintf("h=%s,P=%d,u=%s,p=%s,D=%s,t=%s", p.a.Host, p.a.Port, p.a.User, p.a.Password, p.db, p.table)
	dst := fmt.Sprintf("h=%s,P=%d", p.b.Host, p.b.Port)
	cmd := exec.CommandContext(ctx, "pt-table-sync", "--print", src, dst)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	span, err := StartCPU(CPUProc{"source", p.a.Pid()}, CPUProc{"target", p.b.Pid()})
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	began := time.Now()
	err = cmd.Run()
	el := time.Since(began)
	// Exit status 2 means "differences found" for pt-table-sync.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 2) {
		return 0, nil, CPUUse{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	cpu, err := span.Stop()
	if err != nil {
		return 0, nil, CPUUse{}, err
	}
	cpu = cpu.With("pt-table-sync", cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	var found []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := ptStatement.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		id := m[2] + m[3]
		switch m[1] {
		case "UPDATE", "REPLACE INTO":
			found = append(found, id+" changed")
		case "DELETE FROM":
			found = append(found, id+" extra")
		case "INSERT INTO":
			found = append(found, id+" missing")
		}
	}
	slices.Sort(found)
	return el, found, cpu, nil
}

// setDiff describes how got differs from want.
func rcSetDiff(got, want []string) string {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return "as injected"
	}
	return fmt.Sprintf("%d not found %s, %d not injected %s", len(missing), rcSummarize(missing), len(extra), rcSummarize(extra))
}

func rcSummarize(s []string) string {
	if len(s) > 5 {
		return "[" + strings.Join(s[:5], ", ") + ", …]"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// count formats n with thousands separators.
func rcCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
