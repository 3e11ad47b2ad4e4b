package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/reconcile"
)

func newReconcileCmd() *cobra.Command {
	var (
		path, tables, output string
		repair, noSettle     bool
		restart, idRanges    bool
		every                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "reconcile --config FILE [--tables db.t,...] [--repair | --id-ranges] [--output json]",
		Short: "Find (and optionally repair) drift between the source and the target",
		Long: `reconcile compares source and target table by table in primary-key chunks,
by row count and a strong hash computed inside each database. Mismatched
chunks are narrowed to rows. A candidate difference is reported only after
the target's applier checkpoint has passed the source position it was read
at, so replication lag never shows as drift.

Without --repair the repairs are printed as SQL. With --repair the source's
current rows are written to the target in small transactions with
sql_log_bin=0, throttled by lag, and verified by a second pass.

A killed run resumes where it stopped (state in the target's drc_meta).
Exit codes: 0 consistent, 1 drift found (or left unrepaired), 2 error.

With --id-ranges, reconcile compares no rows. It scans, on the source and on
the target, every column that applier.tables[].id_columns names (in the
tables --tables also selects) and reports its values grouped by the region
and node of the drc ID, with the times of the first and last ID, marking
IDs of a region not allowed on that side FOREIGN and values idgen never
issued NOT A DRC ID. The source region is allowed; so is the target region
when the pair is two-way (the target region has run a replicator). Each
side decodes with the layout in its drc_meta.idgen_layout, else the
config's idgen layout. Exit codes: 0 nothing foreign, 1 foreign IDs or
values that are not drc IDs, 2 error.

With metrics.listen set, reconcile serves /metrics while it runs
(drc_reconcile_tables_differ, drc_reconcile_rows_differ,
drc_reconcile_rows_checked_total, drc_reconcile_repairs_total,
drc_reconcile_last_run_timestamp_seconds). A one-shot run's gauges vanish
when it exits, so to alert on drift run it as a service with --every: it
reconciles, waits the interval, and again, until SIGTERM (exit 0), printing
each run's report; a failed run is logged and the next one goes ahead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitCodeError{exitError, fmt.Errorf("--output must be text or json, got %q", output)}
			}
			if idRanges && (repair || noSettle || restart || every != 0) {
				return &exitCodeError{exitError, fmt.Errorf("--id-ranges compares no rows: it takes no --repair, --no-settle, --restart or --every")}
			}
			if every < 0 || every > 0 && every < time.Minute {
				return &exitCodeError{exitError, fmt.Errorf("--every must be at least 1m (or 0: run once), got %s", every)}
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if idRanges {
				return runIDRanges(cmd, cfg, tables, output)
			}
			rc := reconcile.NewConfig()
			if rc.SourceDSN, rc.TargetDSN, err = pairDSNs(cfg); err != nil {
				return &exitCodeError{exitError, err}
			}
			rc.Flavor = reconcile.Flavor(cfg.Source.Flavor)
			rc.Cluster = cfg.Cluster
			rc.Tables = cfg.Reconcile.Tables
			if tables != "" {
				rc.Tables = strings.Split(tables, ",")
			}
			rc.Concurrency = cfg.Reconcile.Concurrency
			rc.ChunkTime = cfg.Reconcile.ChunkTime
			rc.SettleTimeout = cfg.Reconcile.SettleTimeout
			rc.MaxLag = cfg.Reconcile.MaxLag
			rc.Settle = !noSettle
			rc.Repair = repair
			rc.Restart = restart
			rc.Progress = progressOut(cmd.ErrOrStderr())
			if err := rc.Validate(); err != nil {
				return &exitCodeError{exitError, err}
			}
			code := exitOK
			if every == 0 {
				// One run ends before a scrape could see its gauges, and
				// metrics.listen is often held by the applier or the
				// replicator of the same file: only --every serves them.
				cfg.Metrics.Listen = ""
			}
			err = runRole(cmd, cfg, func(rt *runtime) error {
				rc.Registerer = rt.reg
				if every > 0 {
					return reconcileEvery(rt, rc, every, output, cmd.OutOrStdout())
				}
				var err error
				code, err = reconcileOnce(rt, rc, output, cmd.OutOrStdout())
				return err
			})
			if err != nil || code == exitOK {
				return err
			}
			return &exitCodeError{code, nil}
		},
	}
	f := cmd.Flags()
	f.StringVar(&path, "config", "", "path of the drc YAML config (required)")
	f.StringVar(&tables, "tables", "", "comma-separated db.table patterns ('*' allowed); default reconcile.tables, or every table (with --id-ranges: every table applier.tables[] gives id_columns)")
	f.BoolVar(&repair, "repair", false, "write the source's rows to the target (default: print the repairs as SQL)")
	f.StringVar(&output, "output", "text", "report format: text or json")
	f.BoolVar(&noSettle, "no-settle", false, "do not wait for the applier checkpoint (only when nothing replicates into the target)")
	f.BoolVar(&restart, "restart", false, "ignore the progress of an interrupted run and start over")
	f.DurationVar(&every, "every", 0, "run again this long after each run ends, until SIGTERM, serving /metrics on metrics.listen throughout (at least 1m; 0: run once)")
	f.BoolVar(&idRanges, "id-ranges", false, "instead of comparing rows, report IDs of the wrong region (or no drc IDs) in applier.tables[].id_columns on both sides")
	return cmd
}

// reconcileOnce runs reconcile and writes its report; it returns the exit
// code the report calls for. A run that failed (Run's error) returns its
// error, for runRole to log and exit 2 with.
func reconcileOnce(rt *runtime, rc reconcile.Config, output string, stdout io.Writer) (int, error) {
	rep, err := reconcile.Run(rt.ctx, rc, rt.log)
	code := reconcile.ExitCode(rep, err)
	if rep != nil {
		var werr error
		if output == "json" {
			werr = rep.WriteJSON(stdout)
		} else {
			werr = rep.WriteText(stdout)
		}
		if werr != nil && err == nil {
			err = werr
		}
	}
	return code, err
}

// reconcileEvery is reconcile --every: a run, then the interval, until
// ctx ends. The metrics of the last finished run stay on /metrics between
// runs; a failed run is logged (drc_reconcile_last_run_timestamp_seconds
// then stops advancing) and does not stop the next.
func reconcileEvery(rt *runtime, rc reconcile.Config, every time.Duration, output string, stdout io.Writer) error {
	for {
		code, err := reconcileOnce(rt, rc, output, stdout)
		if rt.ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			rt.log.Error("reconcile run failed; trying again at the next interval", "error", err, "next_in", every)
		default:
			rt.log.Info("reconcile run finished", "exit_code", code, "next_in", every)
		}
		t := time.NewTimer(every)
		select {
		case <-rt.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// runIDRanges is reconcile --id-ranges.
func runIDRanges(cmd *cobra.Command, cfg config.Config, tables, output string) error {
	log, err := newLogger(cfg.Log, cmd.ErrOrStderr())
	if err != nil {
		return &exitCodeError{exitError, err}
	}
	rc, err := idRangesConfig(cfg, tables)
	if err != nil {
		return &exitCodeError{exitError, err}
	}
	rep, err := reconcile.IDRanges(cmd.Context(), rc, log)
	if err != nil {
		return &exitCodeError{exitError, err}
	}
	if output == "json" {
		err = rep.WriteJSON(cmd.OutOrStdout())
	} else {
		err = rep.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return &exitCodeError{exitError, err}
	}
	if code := rep.ExitCode(); code != exitOK {
		return &exitCodeError{code, nil}
	}
	return nil
}

// idRangesConfig maps the config onto reconcile.IDRangesConfig: the ID
// columns of applier.tables[], idgen.regions and the idgen layout. tables
// is the --tables flag.
func idRangesConfig(cfg config.Config, tables string) (reconcile.IDRangesConfig, error) {
	layout, err := idgenLayout(cfg)
	if err != nil {
		return reconcile.IDRangesConfig{}, err
	}
	src, tgt, err := pairDSNs(cfg)
	if err != nil {
		return reconcile.IDRangesConfig{}, err
	}
	rc := reconcile.IDRangesConfig{
		SourceDSN: src, TargetDSN: tgt,
		SourceRegion: cfg.Source.Region, TargetRegion: cfg.Target.Region,
		Regions: cfg.IDGen.Regions,
		Layout:  layout,
	}
	for _, t := range cfg.Applier.Tables {
		if len(t.IDColumns) > 0 {
			rc.Columns = append(rc.Columns, reconcile.IDColumns{Table: t.Table, Columns: t.IDColumns})
		}
	}
	if tables != "" {
		rc.Tables = strings.Split(tables, ",")
	}
	return rc, rc.Validate()
}

// pairDSNs are the source's and the target's DSNs.
func pairDSNs(cfg config.Config) (src, tgt string, err error) {
	if src, err = cfg.Source.DSN(""); err != nil {
		return "", "", fmt.Errorf("source: %w", err)
	}
	if tgt, err = cfg.Target.DSN(""); err != nil {
		return "", "", fmt.Errorf("target: %w", err)
	}
	return src, tgt, nil
}
