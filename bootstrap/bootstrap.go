package bootstrap

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Result is the outcome of a run.
type Result struct {
	Cluster string
	// SnapshotGTID is the position handed over to the applier: the target
	// holds exactly the source's tables as of it.
	SnapshotGTID string
	// Generation counts the snapshots taken for this bootstrap: 1 on a
	// fresh run, one more for every resumed run.
	Generation int
	// LockHeld is the longest time a lock was held on the source (zero on
	// MariaDB, the backup lock on MySQL).
	LockHeld time.Duration
	// Tables copied, as db.table; Created were created on the target now.
	Tables, Created []string

	// Resumed: an interrupted run's chunks were found. ChunksBefore is how
	// many chunks were recorded when this run started.
	Resumed      bool
	ChunksBefore int
	// ChunksCopied were copied for the first time by this run.
	ChunksCopied int
	// ChunksUnchanged were copied by an earlier run and found equal to this
	// run's snapshot; ChunksRewritten had changed and were written again.
	ChunksUnchanged, ChunksRewritten int
	// Rows written to the target by this run.
	Rows int64
	// AlreadyDone: a previous run finished; nothing was done.
	AlreadyDone bool

	// Throttled is how long the copy paused for a busy source.
	Throttled time.Duration
	// CopyElapsed is the copy's wall time; ReadBusy and WriteBusy the time
	// spent in source reads and in target transactions (summed over
	// writers).
	CopyElapsed, ReadBusy, WriteBusy time.Duration
	Elapsed                          time.Duration
}

// Run seeds the target from a consistent snapshot of the source and hands
// the snapshot's position over to the applier. See the package doc for the
// whole story. It returns when every goroutine it started has stopped.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	began := cfg.now()
	res := &Result{Cluster: cfg.Cluster}
	m := newMetrics(cfg.Registerer)

	srcDSN, err := DSN(cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Addr(), err)
	}
	dstDSN, err := DSN(cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Target.Addr(), err)
	}
	src, err := sql.Open("mysql", srcDSN)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source.Addr(), err)
	}
	defer src.Close()
	dst, err := sql.Open("mysql", dstDSN)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", cfg.Target.Addr(), err)
	}
	defer dst.Close()
	// Both accounts' privileges are named before anything is locked or
	// written, not as an "Access denied" half way through.
	if err := grants.CheckRole(ctx, src, "bootstrap: source "+cfg.Source.Addr(), grants.BootstrapSource, grants.Options{}); err != nil {
		return nil, lacking(ErrSourcePrivilege, err)
	}
	if err := grants.CheckRole(ctx, dst, "bootstrap: target "+cfg.Target.Addr(), grants.BootstrapTarget, grants.Options{}); err != nil {
		return nil, lacking(ErrTargetPrivilege, err)
	}

	meta, err := targetSession(ctx, dst, false)
	if err != nil {
		return nil, err
	}
	defer meta.Close()
	if err := lockCluster(ctx, meta, cfg.Cluster); err != nil {
		return nil, err
	}
	if err := drcmeta.EnsureConn(ctx, meta); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	st, err := loadState(ctx, meta, cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if st.Exists && st.Status == statusDone {
		m.phase(phaseDone)
		log.Info("bootstrap: already complete; nothing to do", "cluster", cfg.Cluster, "snapshot_gtid", st.SnapshotGTID)
		res.AlreadyDone, res.SnapshotGTID, res.Generation, res.Tables = true, st.SnapshotGTID, st.Generation, st.Tables
		res.Elapsed = cfg.now().Sub(began)
		return res, nil
	}
	cks, err := drcmeta.ReadCheckpoints(ctx, meta, cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if len(cks) > 0 {
		return nil, fmt.Errorf("%w %q (an applier already runs into this target; bootstrapping would move its position)", ErrCheckpointExists, cfg.Cluster)
	}

	// The snapshot session: every read of the copy runs in it.
	snap, err := src.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
	}
	defer snap.Close()
	for _, q := range []string{"SET SESSION time_zone = '+00:00'", "SET SESSION character_set_results = binary"} {
		if _, err := snap.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("source: %s: %w", q, err)
		}
	}
	s, err := takeSnapshot(ctx, connExecutor{snap}, cfg.Flavor, cfg.now)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
	}
	res.SnapshotGTID, res.LockHeld = s.GTID, s.LockHeld
	m.lock(s.LockHeld.Seconds())
	log.Info("bootstrap: snapshot taken", "gtid", s.GTID, "binlog_file", s.File, "binlog_pos", s.Pos,
		"lock_held", s.LockHeld.Round(time.Microsecond).String())

	tables, err := discoverTables(ctx, src, cfg.Flavor, cfg.Tables)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	for _, t := range tables {
		res.Tables = append(res.Tables, t.String())
	}
	chunks, err := loadChunks(ctx, dst, cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	var gone []string
	for k, cs := range chunks {
		res.ChunksBefore += len(cs)
		if !slices.Contains(res.Tables, k[0]+"."+k[1]) {
			gone = append(gone, k[0]+"."+k[1])
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		return nil, fmt.Errorf("%w: the interrupted run copied %v, which this run would not; rerun with the same --tables", ErrSourceChanged, gone)
	}
	res.Resumed = res.ChunksBefore > 0

	if res.Created, err = prepareTarget(ctx, src, meta, tables); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if len(chunks[[2]string{t.DB, t.Name}]) > 0 {
			continue
		}
		var one int
		err := meta.QueryRowContext(ctx, "SELECT 1 FROM "+t.Quoted()+" LIMIT 1").Scan(&one)
		if err == nil {
			return nil, fmt.Errorf("%w: %s (empty it, or leave it out of --tables)", ErrTargetNotEmpty, t)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("target: %w", err)
		}
	}

	gen := st.Generation + 1
	res.Generation = gen
	if err := saveState(ctx, meta, cfg.Cluster, cfg.SourceRegion, runState{
		Generation: gen, SnapshotGTID: s.GTID, Status: statusCopying, Tables: res.Tables,
	}); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}

	prog := newProgress(cfg.Progress, cfg.ProgressTerminal, cfg.ProgressInterval, cfg.now, log, m)
	runs := make([]*tableRun, 0, len(tables))
	var refresh, gaps, kept int
	for _, t := range tables {
		p, err := planTable(chunks[[2]string{t.DB, t.Name}], gen)
		if err != nil {
			return nil, fmt.Errorf("target: drc_meta.bootstrap_chunks of %s: %w", t, err)
		}
		for _, s := range p.Steps {
			if s.Kind == stepRefresh {
				refresh++
			} else {
				gaps++
			}
		}
		kept += p.Current
		runs = append(runs, &tableRun{Table: t, plan: p, progress: prog.table(t.String(), t.EstRows, p.CurrentRows)})
	}
	if res.Resumed {
		log.Info("bootstrap: resuming an interrupted run", "generation", gen, "chunks_recorded", res.ChunksBefore,
			"chunks_to_compare", refresh, "lost_chunks", gaps, "chunks_current", kept)
	}
	m.phase(phaseCopy)
	log.Info("bootstrap: copying", "tables", len(tables), "created", len(res.Created), "workers", cfg.Workers, "chunk_rows", cfg.ChunkRows)

	maxStmt, err := statementLimit(ctx, meta)
	if err != nil {
		return nil, err
	}
	writers := make([]*sql.Conn, cfg.Workers)
	for i := range writers {
		if writers[i], err = targetSession(ctx, dst, true); err != nil {
			return nil, err
		}
		defer writers[i].Close()
	}

	c := &copier{cfg: &cfg, log: log, gen: gen, snap: snap, srcPool: src, writers: writers,
		maxStmt: maxStmt, prog: prog, metrics: m, budget: newByteBudget(cfg.MaxQueueBytes)}
	progCtx, stopProg := context.WithCancel(ctx)
	progDone := make(chan struct{})
	go func() { defer close(progDone); prog.run(progCtx) }()
	copyBegan := cfg.now()
	err = c.run(ctx, runs)
	stopProg()
	<-progDone
	res.CopyElapsed = cfg.now().Sub(copyBegan)
	res.Rows, res.ChunksCopied, res.ChunksUnchanged, res.ChunksRewritten = c.counts.rows, c.counts.copied, c.counts.unchanged, c.counts.rewritten
	res.Throttled, res.ReadBusy, res.WriteBusy = c.counts.throttled, c.counts.readBusy, c.counts.writeBusy
	if err != nil {
		return res, err
	}
	if _, err := snap.ExecContext(ctx, "COMMIT"); err != nil {
		return res, fmt.Errorf("source: end snapshot: %w", err)
	}
	m.phase(phaseHandover)
	if err := handOver(ctx, meta, &cfg, s.GTID); err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	res.Elapsed = cfg.now().Sub(began)
	m.phase(phaseDone)
	log.Info("bootstrap: done; the applier continues after the snapshot", "gtid", s.GTID, "rows", res.Rows,
		"chunks_copied", res.ChunksCopied, "chunks_unchanged", res.ChunksUnchanged, "chunks_rewritten", res.ChunksRewritten,
		"lock_held", res.LockHeld.String(), "elapsed", res.Elapsed.Round(time.Millisecond).String())
	return res, nil
}

// targetSession returns a target connection kept out of the target's binlog
// (sql_log_bin=0): bootstrap's writes must not be replicated anywhere by the
// target region's own replicator. Writers also read rows back in the
// copy's form (binary results, UTC).
func targetSession(ctx context.Context, db *sql.DB, writer bool) (*sql.Conn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		conn.Close()
		if mysqlerr.Denied(err) {
			return nil, fmt.Errorf("target: %w: %v", ErrNoBinlogPrivilege, err)
		}
		return nil, fmt.Errorf("target: SET sql_log_bin=0: %w", err)
	}
	stmts := []string{
		"SET SESSION time_zone = '+00:00'",
		// Non-strict: the copy writes exactly what the source holds, zero
		// dates included. NO_AUTO_VALUE_ON_ZERO keeps a 0 id a 0.
		"SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
		// Chunks land in any order across tables.
		"SET SESSION foreign_key_checks = 0",
	}
	if writer {
		stmts = append(stmts, "SET SESSION character_set_results = binary")
	}
	for _, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, fmt.Errorf("target: %s: %w", q, err)
		}
	}
	return conn, nil
}

// lockCluster takes a named lock on the target for the session's lifetime,
// so two bootstraps of one cluster never interleave.
func lockCluster(ctx context.Context, conn *sql.Conn, cluster string) error {
	sum := sha256.Sum256([]byte(cluster))
	name := "drc_bootstrap." + hex.EncodeToString(sum[:16])
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", name).Scan(&got); err != nil {
		return fmt.Errorf("target: GET_LOCK: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("%w (cluster %q)", ErrBusy, cluster)
	}
	return nil
}

// statementLimit sizes INSERT statements to the target's
// max_allowed_packet, with room for the protocol's framing.
func statementLimit(ctx context.Context, conn *sql.Conn) (int, error) {
	var packet int
	if err := conn.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&packet); err != nil {
		return 0, fmt.Errorf("target: max_allowed_packet: %w", err)
	}
	return min(maxStatementBytes, packet-packet/16-1024), nil
}

// handOver writes the applier checkpoint, one row per partition, and marks
// the bootstrap done, in one target transaction.
func handOver(ctx context.Context, conn *sql.Conn, cfg *Config, gtid string) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// Offset unknown: the applier starts at the topic's oldest retained
	// offset and skips every transaction contained in gtid.
	for part := range cfg.Partitions {
		ck := drcmeta.Checkpoint{Cluster: cfg.Cluster, Part: int32(part), Offset: drcmeta.OffsetUnknown, GTIDSet: gtid, Origin: cfg.SourceRegion}
		if err := drcmeta.WriteCheckpoint(ctx, conn, ck); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "UPDATE drc_meta.bootstrap_state SET status = ? WHERE cluster = ?", statusDone, cfg.Cluster); err != nil {
		return fmt.Errorf("write drc_meta.bootstrap_state: %w", err)
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// lacking marks a missing privilege with sentinel; another failure (a
// wrong password, an unreachable server) is returned as it is.
func lacking(sentinel, err error) error {
	if _, ok := errors.AsType[*grants.MissingError](err); ok {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}
