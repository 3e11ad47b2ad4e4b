package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/reconcile"
)

func newBootstrapCmd() *cobra.Command {
	var (
		path   string
		tables []string
		verify bool
	)
	cmd := &cobra.Command{
		Use:   "bootstrap --config FILE [--tables db.t,...] [--verify]",
		Short: "Seed the target region from a consistent snapshot of the source",
		Long: `bootstrap copies the source's tables (source section) into the target
(target section) from one consistent snapshot, then writes the applier
checkpoint (drc_meta.apply_checkpoint) for the snapshot's GTID position, so
that "drc apply" continues exactly after it.

On MariaDB the snapshot takes no lock; on MySQL 8 a backup lock is held for
the moment it takes to open it, and its duration is logged. Databases and
tables missing on the target are created from the source's SHOW CREATE
TABLE; a table that exists with another definition stops the run (it is
never dropped). Rows are copied in primary-key chunks over
bootstrap.workers target connections, kept out of the target's binlog
(sql_log_bin=0, which needs SUPER or BINLOG ADMIN), with a progress display
on stderr. A killed run resumes: rerun the same command.

--tables (or bootstrap.tables) selects db.table patterns with * wildcards;
by default every table outside the system schemas. --verify compares the
copied tables with drc reconcile at the end; differences caused by writes
after the snapshot settle only once the applier has caught up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("tables") {
				cfg.Bootstrap.Tables = bootstrapSplitList(tables)
			}
			var verifyCode int
			err = runRole(cmd, cfg, func(rt *runtime) error {
				bc := bootstrapConfig(cfg, cmd.ErrOrStderr())
				bc.Registerer = rt.reg
				res, err := bootstrap.Run(rt.ctx, bc, rt.log)
				if err != nil {
					return err
				}
				printBootstrapResult(cmd.OutOrStdout(), res)
				if !verify {
					return nil
				}
				verifyCode, err = verifyBootstrap(rt, cfg, res, cmd.OutOrStdout(), cmd.ErrOrStderr())
				return err
			})
			if err == nil && verifyCode != 0 {
				return &exitCodeError{verifyCode, errors.New("verification found differences")}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	cmd.Flags().StringSliceVar(&tables, "tables", nil, "db.table patterns to copy, comma-separated (default: bootstrap.tables, else every table)")
	cmd.Flags().BoolVar(&verify, "verify", false, "compare the copied tables with drc reconcile at the end")
	return cmd
}

func bootstrapSplitList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func bootstrapConfig(c config.Config, progress io.Writer) bootstrap.Config {
	bc := bootstrap.NewConfig()
	bc.Cluster = c.Cluster
	bc.SourceRegion = c.Source.Region
	bc.Flavor = c.Source.Flavor
	bc.Source, bc.Target = c.Source.Endpoint(), c.Target.Endpoint()
	bc.Tables = c.Bootstrap.Tables
	bc.Partitions = c.Kafka.Partitions
	bc.Workers = c.Bootstrap.Workers
	bc.ChunkRows = c.Bootstrap.ChunkRows
	// A terminal shows a display redrawn in place; otherwise progress is
	// logged as records, so stderr stays one log.
	bc.Progress = progressOut(progress)
	bc.ProgressTerminal = bc.Progress != nil
	return bc
}

func printBootstrapResult(w io.Writer, r *bootstrap.Result) {
	if r.AlreadyDone {
		fmt.Fprintf(w, "bootstrap of cluster %s already complete at %s; nothing to do\n", r.Cluster, r.SnapshotGTID)
		return
	}
	fmt.Fprintf(w, "bootstrap of cluster %s complete\n", r.Cluster)
	fmt.Fprintf(w, "  snapshot gtid:      %s (written to drc_meta.apply_checkpoint)\n", r.SnapshotGTID)
	fmt.Fprintf(w, "  source lock held:   %s\n", r.LockHeld)
	fmt.Fprintf(w, "  tables:             %d (%d created)\n", len(r.Tables), len(r.Created))
	fmt.Fprintf(w, "  rows written:       %d in %s\n", r.Rows, r.CopyElapsed.Round(1e6))
	if r.Resumed {
		fmt.Fprintf(w, "  resumed:            generation %d, %d chunks recorded before; %d unchanged, %d rewritten, %d copied now\n",
			r.Generation, r.ChunksBefore, r.ChunksUnchanged, r.ChunksRewritten, r.ChunksCopied)
	} else {
		fmt.Fprintf(w, "  chunks:             %d\n", r.ChunksCopied)
	}
	if r.Throttled > 0 {
		fmt.Fprintf(w, "  throttled:          %s\n", r.Throttled.Round(1e6))
	}
}

// verifyBootstrap runs reconcile over the copied tables and returns the
// exit code its report calls for.
func verifyBootstrap(rt *runtime, c config.Config, res *bootstrap.Result, stdout, stderr io.Writer) (int, error) {
	rc := reconcile.NewConfig()
	var err error
	if rc.SourceDSN, err = bootstrap.DSN(c.Source.Endpoint()); err != nil {
		return exitError, err
	}
	if rc.TargetDSN, err = bootstrap.DSN(c.Target.Endpoint()); err != nil {
		return exitError, err
	}
	rc.Flavor = reconcile.Flavor(c.Source.Flavor)
	rc.Cluster = c.Cluster
	for _, t := range res.Tables {
		db, tbl, _ := strings.Cut(t, ".")
		// Backtick-quoted pattern parts match literally.
		rc.Tables = append(rc.Tables, mysqlconn.QuoteIdent(db)+"."+mysqlconn.QuoteIdent(tbl))
	}
	rc.Concurrency = c.Reconcile.Concurrency
	rc.ChunkTime = c.Reconcile.ChunkTime
	rc.SettleTimeout = c.Reconcile.SettleTimeout
	rc.MaxLag = c.Reconcile.MaxLag
	rc.Progress = progressOut(stderr)
	rc.Registerer = rt.reg
	rep, err := reconcile.Run(rt.ctx, rc, rt.log)
	if err != nil {
		return 0, fmt.Errorf("verify: %w", err)
	}
	if err := rep.WriteText(stdout); err != nil {
		return 0, err
	}
	return rep.ExitCode(), nil
}
