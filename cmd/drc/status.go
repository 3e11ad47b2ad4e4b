package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator"
)

// regionStatus is one line of `drc status`.
type regionStatus struct {
	Region   string `json:"region"`
	Role     string `json:"role"`
	Position string `json:"position,omitempty"` // the server's own GTID position
	// Published is, on the source, the position after the newest
	// transaction committed to the topic: where the replicator resumes.
	Published string `json:"published,omitempty"`
	// KafkaError says why Published could not be read. It is reported but
	// does not fail status: the databases answer for themselves.
	KafkaError string `json:"kafka_error,omitempty"`
	// Checkpoint is the applier's GTID set on the target, per partition.
	Checkpoint []drcmeta.Checkpoint `json:"checkpoint,omitempty"`
	CaughtUp   *bool                `json:"caught_up,omitempty"`
	// LagSeconds is now minus the newest source heartbeat applied here;
	// on the source, the age of its own heartbeat row (is a replicator
	// running?).
	LagSeconds          *float64 `json:"lag_seconds,omitempty"`
	PurgeHorizonSeconds *float64 `json:"purge_horizon_seconds,omitempty"`
	// PurgeHorizonNever is set in JSON instead of PurgeHorizonSeconds when
	// binlogs never expire by age (+Inf, which JSON cannot encode).
	PurgeHorizonNever bool   `json:"purge_horizon_never,omitempty"`
	Error             string `json:"error,omitempty"`
}

// forJSON replaces an infinite purge horizon, which encoding/json refuses,
// by purge_horizon_never: true.
func (r regionStatus) forJSON() regionStatus {
	if r.PurgeHorizonSeconds != nil && math.IsInf(*r.PurgeHorizonSeconds, 0) {
		r.PurgeHorizonSeconds, r.PurgeHorizonNever = nil, true
	}
	return r
}

func newStatusCmd() *cobra.Command {
	var path, output string
	var maxLag time.Duration
	cmd := &cobra.Command{
		Use:   "status --config FILE",
		Short: "Print position, checkpoint, lag and purge horizon per region",
		Long: `status reads both regions' databases and prints, per region:
  source  its GTID position, the topic's committed position (an error when
          the source has purged binlogs the replicator still needs), the age
          of its heartbeat row (a running replicator refreshes it every
          heartbeat_interval), and the purge
          horizon: binlog expiry minus the applier's lag, a lower bound on how
          long the unapplied binlog stays available;
  target  the applier checkpoint per partition, whether it has caught up
          with the source position, and the end-to-end lag: now minus the
          newest source heartbeat the applier has applied.
With --max-lag, a lag above it exits 1. Errors reaching a region are shown
on its line and exit 2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitCodeError{exitError, fmt.Errorf("--output must be text or json, got %q", output)}
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			src, dst := collectStatus(ctx, cfg)
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode([]regionStatus{src.forJSON(), dst.forJSON()}); err != nil {
					return err
				}
			} else {
				writeStatus(cmd.OutOrStdout(), src, dst)
			}
			if src.Error != "" || dst.Error != "" {
				return &exitCodeError{exitError, fmt.Errorf("status incomplete: %s", firstNonEmpty(src.Error, dst.Error))}
			}
			if maxLag > 0 && (dst.LagSeconds == nil || *dst.LagSeconds > maxLag.Seconds()) {
				return &exitCodeError{exitProblem, nil}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	cmd.Flags().DurationVar(&maxLag, "max-lag", 0, "exit 1 when the end-to-end lag is above this (0: never)")
	return cmd
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func collectStatus(ctx context.Context, cfg config.Config) (src, dst regionStatus) {
	src = regionStatus{Region: cfg.Source.Region, Role: "source"}
	dst = regionStatus{Region: cfg.Target.Region, Role: "target"}
	sdsn, err := cfg.Source.DSN("")
	var sdb *sql.DB
	if err == nil {
		sdb, err = sql.Open("mysql", sdsn)
	}
	if err == nil {
		defer sdb.Close()
		src.Position, err = gtidPosition(ctx, sdb, cfg.Source.Flavor)
	}
	if err != nil {
		src.Error = err.Error()
	} else {
		src.LagSeconds = heartbeatAge(ctx, sdb, cfg.Source.Region)
		src.Published, src.KafkaError, src.Error = publishedStatus(ctx, cfg, sdb)
	}
	expiry := binlogExpiry(ctx, sdb)

	tdsn, err := cfg.Target.DSN("")
	var tdb *sql.DB
	if err == nil {
		tdb, err = sql.Open("mysql", tdsn)
	}
	if err == nil {
		defer tdb.Close()
		dst.Position, err = gtidPosition(ctx, tdb, cfg.Target.Flavor)
	}
	if err == nil {
		dst.Checkpoint, err = drcmeta.ReadCheckpoints(ctx, tdb, cfg.Cluster)
	}
	if err != nil {
		dst.Error = err.Error()
		return src, dst
	}
	dst.LagSeconds = heartbeatAge(ctx, tdb, cfg.Source.Region)
	if src.Position != "" && len(dst.Checkpoint) > 0 {
		caught := checkpointCovers(cfg.Source.Flavor, dst.Checkpoint, src.Position)
		dst.CaughtUp = &caught
	}
	if expiry != nil && dst.LagSeconds != nil {
		h := *expiry - *dst.LagSeconds
		src.PurgeHorizonSeconds = &h
	}
	return src, dst
}

// publishedStatus reads the topic's committed position and checks that
// the source still has every binlog transaction after it. A purged
// position is an error: the replicator cannot resume, the region needs a
// new bootstrap.
func publishedStatus(ctx context.Context, cfg config.Config, sdb *sql.DB) (published, kafkaProblem, problem string) {
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	pos, ok, err := replicator.PublishedPosition(pctx, replicatorConfig(cfg))
	if err != nil {
		return "", fmt.Sprintf("read the topic's committed position: %v", err), ""
	}
	if !ok {
		return "", "", ""
	}
	if err := replicator.CheckPurged(ctx, sdb, pos); err != nil {
		return pos.String(), "", err.Error()
	}
	return pos.String(), "", ""
}

func gtidPosition(ctx context.Context, db *sql.DB, flavor string) (string, error) {
	pos, err := replicator.ServerPosition(ctx, db, flavor)
	if err != nil {
		return "", err
	}
	return pos.String(), nil
}

// heartbeatAge is now minus the heartbeat of region stored in db's
// drc_meta.heartbeat, or nil when there is none.
func heartbeatAge(ctx context.Context, db *sql.DB, region string) *float64 {
	var ts int64
	if err := db.QueryRowContext(ctx, "SELECT ts FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&ts); err != nil {
		return nil
	}
	age := time.Since(time.UnixMicro(ts)).Seconds()
	return &age
}

// binlogExpiry is the source's binlog expiry in seconds, +Inf when binlogs
// never expire by age, nil when it cannot be read.
func binlogExpiry(ctx context.Context, db *sql.DB) *float64 {
	if db == nil {
		return nil
	}
	var secs float64
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_expire_logs_seconds").Scan(&secs); err != nil {
		return nil
	}
	if secs == 0 {
		secs = math.Inf(1)
	}
	return &secs
}

// checkpointCovers reports whether every partition's checkpoint contains
// the source position.
func checkpointCovers(flavor string, cps []drcmeta.Checkpoint, pos string) bool {
	want, err := mysql.ParseGTIDSet(flavor, pos)
	if err != nil {
		return false
	}
	for _, cp := range cps {
		got, err := mysql.ParseGTIDSet(flavor, cp.GTIDSet)
		if err != nil || !got.Contain(want) {
			return false
		}
	}
	return true
}

func writeStatus(w io.Writer, rows ...regionStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tROLE\tPOSITION\tCHECKPOINT\tCAUGHT UP\tLAG\tPURGE HORIZON\tERROR")
	for _, r := range rows {
		cp := "-"
		for i, c := range r.Checkpoint {
			if i == 0 {
				cp = ""
			} else {
				cp += " "
			}
			cp += fmt.Sprintf("p%d:%s@%d", c.Part, c.GTIDSet, c.Offset)
		}
		caught := "-"
		if r.CaughtUp != nil {
			caught = fmt.Sprint(*r.CaughtUp)
		}
		problem := r.Error
		if r.KafkaError != "" {
			problem = strings.TrimPrefix(problem+"; kafka: "+r.KafkaError, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Region, r.Role, dash(r.Position), cp, caught,
			seconds(r.LagSeconds), seconds(r.PurgeHorizonSeconds), dash(problem))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func seconds(v *float64) string {
	if v == nil {
		return "-"
	}
	if math.IsInf(*v, 1) {
		return "never"
	}
	return (time.Duration(*v * float64(time.Second))).Round(time.Millisecond).String()
}
