package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/dr"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// drFlags are the flags the DR operations share.
type drFlags struct {
	path, output string
	opts         dr.Options
}

func (f *drFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "config", "", "the config of the pipeline from the primary to the standby (required; its dr.reverse_config names the other direction's)")
	cmd.Flags().StringVar(&f.output, "output", "text", "text or json (the report, on stdout)")
	cmd.Flags().BoolVar(&f.opts.DryRun, "dry-run", false, "run every check and print the steps; change nothing")
	cmd.Flags().DurationVar(&f.opts.Timeout, "timeout", time.Minute, "bound on each wait for an applier to reach a position")
}

func newSwitchoverCmd() *cobra.Command {
	var f drFlags
	cmd := &cobra.Command{
		Use:   "switchover --config FILE [--dry-run] [--max-lag D] [--timeout D] [--fence-wait D] [--output json]",
		Short: "Move the primary role to the standby region with nothing lost (planned)",
		Long: `switchover moves the primary role from the config's source region (a) to
its target region (b). Both directions of the DR pair must be running:
drc replicate and drc apply with this config (a to b) and with the config
dr.reverse_config names (b to a), b read-only.

It checks first, and changes nothing unless all of these hold: a is
writable and b read-only; each account has the privileges a switchover
needs; b's newest heartbeat from a, and a's from b, are younger than
--max-lag (both pipelines run and keep up).

Then, each step recorded in b's drc_meta.dr_operations:
  fenced          a refuses writes (super_read_only on MySQL, read_only on
                  MariaDB); write transactions open on a get --fence-wait
                  to end, then their connections are killed;
  final_position  a's GTID position is read;
  drained         b's applier has applied it (if that takes longer than
                  --timeout, a is made writable again and switchover exits 1);
  promoted        b's position is recorded (its pipeline to a carries
                  everything after it) and b is made writable;
  standby         a stays read-only for applications (on MySQL
                  super_read_only is lifted so drc's applier can write);
  reverse_path    a's applier has applied b's start position.

Killed or failed at any step, the same command resumes where it stopped.
Run after it completed, it reports the finished operation again. To move
the primary role back, run it with the reverse pipeline's config.

The report gives the time writes were refused, a's final GTID set, b's
start position and the transactions open at the fence (who held them and
for how long, never their statements). Exit codes: 0 done, 1 refused with
a reason (or done with the reverse path not confirmed), 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDR(cmd, &f, dr.Switchover)
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.opts.MaxLag, "max-lag", 30*time.Second, "refuse to start when either direction lags more than this")
	cmd.Flags().DurationVar(&f.opts.FenceWait, "fence-wait", 5*time.Second, "how long write transactions open on the old primary get to end before they are killed")
	return cmd
}

func newFailoverCmd() *cobra.Command {
	var f drFlags
	cmd := &cobra.Command{
		Use:   "failover --config FILE [--dry-run] [--force] [--timeout D] [--output json]",
		Short: "Promote the standby region when the primary is gone, with a data-loss report",
		Long: `failover promotes the config's target region (b) when its source region (a)
does not answer. It refuses while a answers (drc switchover loses nothing;
--force overrides, once a is fenced some other way).

First it waits until b's applier has applied everything a's replicator
committed to Kafka, then prints the data-loss report before anything
changes:
  topic tail     the GTID set after the newest transaction a published;
  applied        b's checkpoint (it contains the tail after the wait);
  last heard     the source time of a's newest heartbeat b applied: every
                 transaction a committed before it is in b;
  window         how long before a was found not answering that was.
Transactions a committed and never published cannot be known until a
answers again.

Then b is made writable (its start position recorded in b's
drc_meta.dr_operations) and failover checks that b's own replicator
(drc replicate with the reverse pipeline's config) is publishing.
--dry-run prints the report and stops. Exit codes: 0 done, 1 refused
with a reason (or done without b's replicator running), 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDR(cmd, &f, dr.Failover)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.opts.Force, "force", false, "fail over although the primary answers (fence it yourself first)")
	return cmd
}

func newFailbackCmd() *cobra.Command {
	var f drFlags
	var replay bool
	cmd := &cobra.Command{
		Use:   "failback --config FILE [--dry-run] [--quarantine-dir DIR] [--replay-quarantine] [--output json]",
		Short: "Bring the old primary back after a failover as the new primary's standby, without a re-copy",
		Long: `failback brings back the config's source region (a) after drc failover made
its target region (b) the primary. Run it once a answers again, with drc
replicate (this config) and drc apply (the reverse config) stopped on a.

Steps, each recorded in b's drc_meta.dr_operations (a rerun resumes):
  replicator_stopped  no replicator writes a's heartbeat;
  fenced              a read-only for applications, open writes killed;
  final_position      a's GTID position, and the topic's committed tail;
  quarantined         every transaction a committed and never published:
                      its position minus the tail, read from a's binlog with
                      row images, kept in a's drc_meta.quarantine and in two
                      files in --quarantine-dir (JSON records, and SQL that
                      would apply them again);
  undone              their inverse row changes applied on a, newest first,
                      in one transaction with the binlog off, each checked
                      against the row as the transaction left it;
  position_published  the topic's resume position moves past them, so a's
                      replicator never publishes them;
  reverse_path        a follows b's stream from its applier checkpoint.
Then start drc apply (reverse config) and drc replicate (this config) on a;
once a has caught up, drc switchover --config <reverse> moves the primary
role back to a.

It stops, changing nothing on a's data, when a's unpublished transactions
include DDL, when a's binlog no longer holds them (a then needs drc
bootstrap), or when a row is no longer as the transaction left it.

--replay-quarantine, later, applies the quarantined transactions that are
not replayed yet to whichever region is then the primary, in their
original order, each exactly or not at all: a transaction whose rows the
primary has changed since (a row missing, different, or a key taken) is
left out and listed, and stays in drc_meta.quarantine for the operator.
Replayed transactions replicate like any other write.

Exit codes: 0 done, 1 refused with a reason (or transactions left out of
a replay), 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if replay {
				return runDR(cmd, &f, dr.ReplayQuarantine)
			}
			return runDR(cmd, &f, dr.Failback)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.opts.QuarantineDir, "quarantine-dir", ".", "where the quarantine's JSON and SQL files are written")
	cmd.Flags().BoolVar(&replay, "replay-quarantine", false, "apply the last failback's quarantined transactions to the current primary, each exactly or not at all")
	cmd.Flags().DurationVar(&f.opts.FenceWait, "fence-wait", 5*time.Second, "how long write transactions open on the returning region get to end before they are killed")
	return cmd
}

// runDR loads the pair, runs op and prints its report.
func runDR(cmd *cobra.Command, f *drFlags, op func(context.Context, dr.Pair, dr.Options) (dr.Report, error)) error {
	if f.output != "text" && f.output != "json" {
		return &exitCodeError{exitError, fmt.Errorf("--output must be text or json, got %q", f.output)}
	}
	pair, closeAll, err := loadPair(f.path)
	if err != nil {
		return err
	}
	defer closeAll()
	out := cmd.OutOrStdout()
	if f.output == "text" {
		f.opts.Progress = func(s dr.Step) { writeStep(out, s) }
	}
	rep, err := op(cmd.Context(), pair, f.opts)
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		writeReport(out, rep)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dr.ErrRefused):
		return &exitCodeError{exitProblem, err}
	}
	return &exitCodeError{exitError, err}
}

// loadPair reads the config and the reverse pipeline's config it names
// and opens one connection pool per region, each with the account of the
// applier that writes there.
func loadPair(path string) (dr.Pair, func(), error) {
	fwd, err := loadConfig(path)
	if err != nil {
		return dr.Pair{}, nil, err
	}
	if fwd.DR.ReverseConfig == "" {
		return dr.Pair{}, nil, &exitCodeError{exitError, fmt.Errorf("config %s: dr.reverse_config is not set: a DR operation needs the config of the pipeline the other way", path)}
	}
	revPath := fwd.DR.ReverseConfig
	if !filepath.IsAbs(revPath) {
		revPath = filepath.Join(filepath.Dir(path), revPath)
	}
	rev, err := loadConfig(revPath)
	if err != nil {
		return dr.Pair{}, nil, err
	}
	var dbs []*sql.DB
	closeAll := func() {
		for _, db := range dbs {
			db.Close()
		}
	}
	open := func(m config.MySQL, key string) (*sql.DB, error) {
		mc, err := m.Endpoint().Driver()
		if err != nil {
			return nil, &exitCodeError{exitError, fmt.Errorf("%s: %w", key, err)}
		}
		// An UPDATE reports the rows it matched, as the applier's sessions
		// do, so a row change that leaves a value as it was still counts.
		mc.ClientFoundRows = true
		db, err := sql.Open("mysql", mc.FormatDSN())
		if err != nil {
			return nil, &exitCodeError{exitError, fmt.Errorf("%s: %w", key, err)}
		}
		dbs = append(dbs, db)
		return db, nil
	}
	a, err := open(rev.Target, revPath+": target")
	if err != nil {
		closeAll()
		return dr.Pair{}, nil, err
	}
	b, err := open(fwd.Target, path+": target")
	if err != nil {
		closeAll()
		return dr.Pair{}, nil, err
	}
	server := func(m config.MySQL, db *sql.DB) dr.Server {
		return dr.Server{Region: m.Region, Flavor: m.Flavor, Addr: m.Addr(), DB: db}
	}
	pipeline := func(c config.Config, src, dst *sql.DB) dr.Pipeline {
		rc := replicatorConfig(c)
		return dr.Pipeline{
			Cluster: c.Cluster, Source: server(c.Source, src), Target: server(c.Target, dst),
			IDGenRegion: c.IDGenRegionID(),
			Tails: func(ctx context.Context) (map[int32]replicator.Position, error) {
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				return replicator.PublishedTails(ctx, rc)
			},
			Unpublished: func(ctx context.Context, from, to replicator.Position, fn func(*event.Record) error) error {
				return replicator.Unpublished(ctx, rc, from, to, fn)
			},
			PublishPosition: func(ctx context.Context, expect, pos replicator.Position) error {
				return replicator.PublishPosition(ctx, rc, expect, pos)
			},
			ReplicatorUser: rc.User,
		}
	}
	pair := dr.Pair{Forward: pipeline(fwd, a, b), Reverse: pipeline(rev, b, a)}
	if err := pair.Validate(); err != nil {
		closeAll()
		return dr.Pair{}, nil, &exitCodeError{exitError, fmt.Errorf("%s and %s are not one DR pair: %w", path, revPath, err)}
	}
	return pair, closeAll, nil
}

func writeStep(w io.Writer, s dr.Step) {
	fmt.Fprintf(w, "%-8s %-15s %s\n", s.Status, s.Name, s.Detail)
}

func writeReport(w io.Writer, r dr.Report) {
	if r.Operation == "" {
		return
	}
	if r.Outcome == "planned" || r.Outcome == "already_done" {
		for _, s := range r.Steps {
			writeStep(w, s)
		}
	}
	fmt.Fprintf(w, "%s %s -> %s (cluster %s): %s\n", r.Operation, r.From, r.To, r.Cluster, r.Outcome)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason:            %s\n", r.Reason)
	}
	if r.WritesRefusedSeconds != nil {
		fmt.Fprintf(w, "  writes refused:    %.3fs\n", *r.WritesRefusedSeconds)
	}
	if r.FinalGTIDSet != "" {
		fmt.Fprintf(w, "  final gtid set:    %s (%s)\n", r.FinalGTIDSet, r.From)
	}
	if r.InFlight != nil || r.FencedAt != nil {
		killed := 0
		for _, t := range r.InFlight {
			if t.Killed {
				killed++
			}
		}
		fmt.Fprintf(w, "  open at the fence: %d write transactions, %d killed\n", len(r.InFlight), killed)
	}
	if r.StartGTIDSet != "" {
		fmt.Fprintf(w, "  start gtid set:    %s (%s; its pipeline carries everything after it)\n", r.StartGTIDSet, r.To)
	}
	if l := r.Loss; l != nil {
		fmt.Fprintf(w, "  topic tail:        %s\n", l.TopicTail)
		fmt.Fprintf(w, "  applied on %s:    %s\n", r.To, l.Applied)
		if l.LastHeard != nil {
			fmt.Fprintf(w, "  last heard:        %s (%.1fs before %s was found not answering)\n", l.LastHeard.Format(time.RFC3339Nano), *l.WindowSeconds, r.From)
		}
		fmt.Fprintf(w, "  unknown:           %s\n", l.Unknown)
	}
	if q := r.Quarantine; q != nil {
		fmt.Fprintf(w, "  published:         %s (%s's topic tail)\n", q.Published, r.From)
		fmt.Fprintf(w, "  quarantined:       %d transactions, %d rows; %d row changes undone on %s\n", q.Transactions, q.Rows, q.UndoneRows, r.From)
		if q.JSONFile != "" {
			fmt.Fprintf(w, "  files:             %s, %s\n", q.JSONFile, q.SQLFile)
		}
		if r.Operation == "replay_quarantine" {
			fmt.Fprintf(w, "  replayed:          %d of %d transactions on %s\n", q.Replayed, q.Transactions, r.To)
			for _, c := range q.ReplayConflicts {
				fmt.Fprintf(w, "  left out:          %s\n", c)
			}
		}
	}
}
