package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// Run compares the configured tables of the source and the target, settles
// candidate differences against the applier's checkpoint, repairs them when
// cfg.Repair is set, and returns the report.
//
// Run returns an error, and possibly no report, when it cannot do its job
// (bad config, a server unreachable, no applier checkpoint while settling).
// A table that fails on its own is reported with status "error" and the
// others go on. When ctx is cancelled Run stops, records what it finished
// (a later run with the same tables resumes from there) and returns the
// partial report with ctx's error.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) (*Report, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, tgt, closePools, err := openSides(ctx, cfg.Source, cfg.SourceDSN, cfg.Target, cfg.TargetDSN, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	defer closePools()
	if err := checkPrivileges(ctx, src, tgt, cfg.Repair); err != nil {
		return nil, err
	}
	flavor := cfg.Flavor
	if flavor == "" {
		f, _, err := mysqlconn.ServerFlavor(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("source: detect flavor: %w", err)
		}
		flavor = Flavor(f)
	}
	if cfg.Digest == DigestMD5 {
		// MySQL 9 has no MD5(): fail before any work, naming the way out.
		for _, side := range []struct {
			name string
			db   *sql.DB
		}{{"source", src}, {"target", tgt}} {
			_, err := side.db.ExecContext(ctx, "DO MD5('')")
			if mysqlerr.NoSuchFunction(err) {
				return nil, fmt.Errorf("digest md5: the %s has no MD5() (MySQL 9 dropped it); use the default digest, sha256: %w", side.name, err)
			}
			if err != nil {
				return nil, fmt.Errorf("digest md5: %s: %w", side.name, err)
			}
		}
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}

	ckpt := &checkpoint{db: tgt, cluster: cfg.Cluster, flavor: flavor}
	if cfg.Settle {
		// Fail now, not at the first candidate: without the applier's
		// checkpoint no difference could ever be settled.
		if _, err := ckpt.passed(ctx, gtid.Set{}); err != nil {
			if errors.Is(err, ErrNoCheckpoint) {
				return nil, fmt.Errorf("%w; start the applier for cluster %q, or turn settling off (--no-settle) if nothing replicates into the target", err, cfg.Cluster)
			}
			return nil, err
		}
	}
	if cfg.Repair {
		c, err := openConn(ctx, tgt)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		err = markRepairs(ctx, c)
		c.Close()
		if err != nil {
			return nil, err
		}
	}

	names, err := resolveTables(ctx, src, tgt, cfg.Tables)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w %s", ErrNoTables, strings.Join(cfg.Tables, ","))
	}
	patterns := cfg.Tables
	if len(patterns) == 0 {
		patterns = []string{"*.*"}
	}
	runID := RunID(cfg.Cluster, patterns, cfg.Repair)
	var state *stateStore
	if cfg.Resume {
		var resumed bool
		state, resumed, err = openState(ctx, tgt, runID, cfg.Cluster, patterns, cfg.Repair, cfg.Restart)
		if err != nil {
			return nil, err
		}
		if resumed {
			logger.Info("resuming interrupted reconcile run", "run", runID)
		}
	}

	rep := &Report{RunID: runID, Cluster: cfg.Cluster, Mode: "dry-run", Settle: cfg.Settle, StartedAt: time.Now().UTC()}
	if cfg.Repair {
		rep.Mode = "repair"
	}
	prog := newProgress(cfg.Progress, cfg.ProgressInterval, logger)
	results := make([]TableResult, len(names))
	var runs []*tableRun
	for i, name := range names {
		t, reason, err := loadTable(ctx, src, tgt, name, flavor)
		if err != nil {
			results[i] = TableResult{Table: name.String(), Status: StatusError, Error: err.Error()}
			continue
		}
		if reason != "" {
			logger.Warn("table not comparable", "table", name.String(), "reason", reason)
			results[i] = TableResult{Table: name.String(), Status: StatusNotComparable, Reason: reason}
			continue
		}
		prog.addTotal(t.EstimatedRows)
		runs = append(runs, &tableRun{
			cfg: &cfg, log: logger, t: t, b: &builder{t: t, digest: cfg.Digest}, flavor: flavor,
			srcPool: src, tgtPool: tgt, ckpt: ckpt, state: state, prog: prog, met: met,
			res: TableResult{Table: name.String(), Key: t.KeyNames()},
		})
		results[i].Table = name.String()
	}

	var progWG sync.WaitGroup
	progCtx, stopProg := context.WithCancel(ctx)
	if prog != nil {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			prog.run(progCtx)
		}()
	}
	forEach(ctx, cfg.Concurrency, runs, func(ctx context.Context, tr *tableRun) {
		logger.Info("comparing table", "table", tr.t.Name.String(), "key", strings.Join(tr.t.KeyNames(), ","))
		err := tr.run(ctx)
		tr.res.Status = tr.status()
		switch {
		case err != nil && ctx.Err() != nil:
			tr.res.Status = StatusError
			tr.res.Error = "interrupted"
		case err != nil:
			tr.res.Status = StatusError
			tr.res.Error = err.Error()
			logger.Error("table failed", "table", tr.t.Name.String(), "error", err)
		default:
			logger.Info("table compared", "table", tr.t.Name.String(), "status", tr.res.Status,
				"rows", tr.res.Rows, "differences", tr.res.Missing+tr.res.Extra+tr.res.Changed, "unsettled", tr.res.Unsettled)
		}
	})
	stopProg()
	progWG.Wait()

	byName := map[string]*tableRun{}
	for _, tr := range runs {
		byName[tr.res.Table] = tr
	}
	failed := false
	for i := range results {
		tr, ok := byName[results[i].Table]
		if !ok {
			failed = failed || results[i].Status == StatusError
			continue
		}
		if tr.res.Status == "" {
			// Never started: ctx ended first.
			tr.res.Status, tr.res.Error = StatusError, "interrupted"
		}
		results[i] = tr.res
		failed = failed || tr.res.Status == StatusError
		rep.Differences = append(rep.Differences, tr.diffs...)
		rep.Unsettled = append(rep.Unsettled, tr.unsettled...)
	}
	rep.Tables = results
	rep.FinishedAt = time.Now().UTC()
	rep.summarize()
	if rep.Differences == nil {
		rep.Differences = []Difference{}
	}
	if rep.Unsettled == nil {
		rep.Unsettled = []Unsettled{}
	}
	if ctx.Err() == nil {
		met.finished(rep)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("reconcile run %s interrupted (run it again to resume): %w", runID, err)
	}
	if !failed {
		// A run with failed tables stays "running", so running it again
		// retries those tables and reuses every chunk already done.
		if err := state.finish(ctx); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// pool returns the given pool, or opens one from dsn. Pools Run opens are
// closed by the returned func; given ones are left alone.
// openSides opens (or takes) the source and target pools and checks that
// both servers answer. close closes the pools it opened.
func openSides(ctx context.Context, src *sql.DB, srcDSN string, tgt *sql.DB, tgtDSN string, concurrency int) (s, t *sql.DB, close func(), err error) {
	s, closeSrc, err := pool(src, srcDSN, concurrency)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("source: %w", err)
	}
	t, closeTgt, err := pool(tgt, tgtDSN, concurrency)
	if err != nil {
		closeSrc()
		return nil, nil, nil, fmt.Errorf("target: %w", err)
	}
	close = func() { closeSrc(); closeTgt() }
	if err := s.PingContext(ctx); err != nil {
		close()
		return nil, nil, nil, fmt.Errorf("connect to source%s: %w", dsnAddr(srcDSN), err)
	}
	if err := t.PingContext(ctx); err != nil {
		close()
		return nil, nil, nil, fmt.Errorf("connect to target%s: %w", dsnAddr(tgtDSN), err)
	}
	return s, t, close, nil
}

// dsnAddr is " host:port" of dsn, for errors, or "" (a pool was given).
func dsnAddr(dsn string) string {
	if mc, err := mysql.ParseDSN(dsn); err == nil && dsn != "" {
		return " " + mc.Addr
	}
	return ""
}

func pool(db *sql.DB, dsn string, concurrency int) (*sql.DB, func(), error) {
	if db != nil {
		return db, func() {}, nil
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("parse DSN: %w", err)
	}
	// reconcile reads temporal values as text and binds keys by type; it
	// needs neither time parsing nor client-side interpolation.
	mc.ParseTime = false
	mc.InterpolateParams = false
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	p := sql.OpenDB(conn)
	// Per table: a connection per side for each of the two stages, and one
	// for repairs; plus the checkpoint poller.
	p.SetMaxIdleConns(5*concurrency + 2)
	return p, func() { p.Close() }, nil
}

// loadTable describes the table on both sides and plans its comparison.
func loadTable(ctx context.Context, src, tgt *sql.DB, name TableName, flavor Flavor) (*tablePlan, string, error) {
	var s, t rawTable
	err := both(ctx,
		func(ctx context.Context) (err error) { s, err = loadRawTable(ctx, src, name); return err },
		func(ctx context.Context) (err error) { t, err = loadRawTable(ctx, tgt, name); return err })
	if err != nil {
		return nil, "", err
	}
	tbl, reason := planTable(name, s, t, flavor)
	return tbl, reason, nil
}

// resolveTables expands the patterns against both sides' base tables. A
// table on either side counts, so one missing on a side is reported rather
// than skipped; a literal pattern that names nothing is reported too.
func resolveTables(ctx context.Context, src, tgt *sql.DB, patterns []string) ([]TableName, error) {
	ps, err := tablepattern.ParseList(patterns)
	if err != nil {
		return nil, err
	}
	seen := map[TableName]bool{}
	for _, db := range []*sql.DB{src, tgt} {
		names, err := listTables(ctx, db)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if len(ps) == 0 {
				seen[n] = !infoschema.IsSystem(n.DB)
				continue
			}
			for _, p := range ps {
				if p.Match(n.DB, n.Name) && (p.Literal() || !infoschema.IsSystem(n.DB)) {
					seen[n] = true
				}
			}
		}
	}
	for _, p := range ps {
		if p.Literal() {
			seen[TableName{DB: p.DB, Name: p.Table}] = true
		}
	}
	var out []TableName
	for n, ok := range seen {
		if ok {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DB != out[j].DB {
			return out[i].DB < out[j].DB
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func listTables(ctx context.Context, db *sql.DB) ([]TableName, error) {
	ts, err := infoschema.BaseTables(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]TableName, len(ts))
	for i, t := range ts {
		out[i] = TableName{DB: t.DB, Name: t.Name}
	}
	return out, nil
}
