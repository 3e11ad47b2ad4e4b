package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/status"
)

func newStatusCmd() *cobra.Command {
	var path, output string
	var lim status.Limits
	cmd := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Say whether the pipeline is healthy, and where it is stuck if not",
		Long: `status reads the pipeline's source, Kafka and target, read-only, and prints:
  source  its GTID position; the published position (the newest transaction
          committed to the topic), its commit time and the publish lag (now
          minus that time: it grows while nothing is published); the age of
          the heartbeat row (is a replicator running?); the purge horizon,
          the same number as drc_replicator_purge_horizon_seconds;
  kafka   reachable or why not; per partition the high watermark, the
          applier's checkpoint offset, records and source transactions
          behind, the age of the oldest unapplied transaction;
  target  the applier checkpoint, records and transactions behind, the
          end-to-end lag (now minus the newest source heartbeat applied),
          CAUGHT UP, conflicts recorded (counts, and the newest one's time,
          table and kind: never row values), and the error the applier last
          stopped on.
CAUGHT UP: in every partition, the oldest transaction not yet applied was
committed on the source at most --caught-up-within before this call (or
there is none): the checkpoint holds all the source had published by then.

Exit codes:
  0  healthy
  1  degraded: Kafka unreachable, target not caught up, lag above --max-lag
     (or unknown), conflicts within --conflict-window, or the applier
     stopped on an error
  2  error: a database could not be read (down, wrong password or host,
     missing grant), Kafka refused the credentials or a broker name does
     not resolve, the source has purged binlogs the replicator needs, or
     bad flags or config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitCodeError{exitError, fmt.Errorf("--output must be text or json, got %q", output)}
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			if lim.CaughtUpWithin <= 0 {
				lim.CaughtUpWithin = 2*cfg.Replicator.HeartbeatInterval + time.Second
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			rep, err := collectStatus(ctx, cfg, lim)
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			if output == "json" {
				err = status.WriteJSON(cmd.OutOrStdout(), rep)
			} else {
				err = status.WriteText(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			switch rep.Health {
			case status.Healthy:
				return nil
			case status.Degraded:
				return &exitCodeError{exitProblem, nil}
			}
			return &exitCodeError{exitError, fmt.Errorf("status incomplete: %s", strings.Join(rep.Reasons, "; "))}
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	cmd.Flags().DurationVar(&lim.MaxLag, "max-lag", 0, "exit 1 when the end-to-end or publish lag is above this, or unknown (0: no limit)")
	cmd.Flags().DurationVar(&lim.CaughtUpWithin, "caught-up-within", 0,
		"how old the oldest unapplied transaction may be for CAUGHT UP (0: twice replicator.heartbeat_interval plus 1s, the resolution of MariaDB commit times)")
	cmd.Flags().DurationVar(&lim.ConflictWindow, "conflict-window", time.Hour, "exit 1 when a conflict was recorded within this")
	return cmd
}

// collectStatus wires the pipeline's servers and topic to status.Collect.
// An error is one of the config: no server was reached.
func collectStatus(ctx context.Context, cfg config.Config, lim status.Limits) (status.Report, error) {
	src, err := openReadOnly(cfg.Source)
	if err != nil {
		return status.Report{}, fmt.Errorf("source %s: %w", cfg.Source.Region, err)
	}
	defer src.Close()
	dst, err := openReadOnly(cfg.Target)
	if err != nil {
		return status.Report{}, fmt.Errorf("target %s: %w", cfg.Target.Region, err)
	}
	defer dst.Close()
	topic := &status.KafkaTopic{Replicator: replicatorConfig(cfg), Conn: cfg.Kafka.Conn(), Topic: cfg.TopicName()}
	defer topic.Close()
	p := status.Pipeline{
		Cluster: cfg.Cluster, SourceRegion: cfg.Source.Region, TargetRegion: cfg.Target.Region,
		SourceEndpoint: cfg.Source.Addr(), TargetEndpoint: cfg.Target.Addr(),
		Kafka: cfg.Kafka.Conn(), Topic: cfg.TopicName(),
	}
	return status.Collect(ctx, p,
		&status.Server{DB: src, Flavor: cfg.Source.Flavor, Cluster: cfg.Cluster, Role: grants.StatusSource},
		&status.Server{DB: dst, Flavor: cfg.Target.Flavor, Cluster: cfg.Cluster, Role: grants.StatusTarget},
		topic, lim, time.Now()), nil
}

// openReadOnly opens a small pool to one server; status only reads.
func openReadOnly(m config.MySQL) (*sql.DB, error) {
	mc, err := m.Endpoint().Driver()
	if err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(2)
	return db, nil
}
