package dr

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// Pair is a DR pair: two pipelines, one per direction. Forward runs from
// the primary (its source) to the standby (its target); Reverse from the
// standby to the primary.
type Pair struct {
	Forward, Reverse Pipeline
}

// Pipeline is one direction of a pair.
type Pipeline struct {
	Cluster string
	// Source and Target are reached with the accounts of the appliers
	// that write to them: Target with this pipeline's applier account,
	// Source with the other pipeline's (see Pair.primary).
	Source, Target Server
	// Tails reads the committed tail of each partition of the pipeline's
	// topic (replicator.PublishedTails): what an applier of the partition
	// can apply through. The newest of them is where the replicator
	// resumes. Empty for an empty topic.
	Tails func(ctx context.Context) (map[int32]replicator.Position, error)
	// IDGenRegion is the region number idgen.region_id gives the
	// pipeline's source region (0: none configured).
	IDGenRegion int
	// Unpublished gives fn the records the pipeline's replicator would
	// publish for the source's binlog after from up to to
	// (replicator.Unpublished); PublishPosition moves the topic's resume
	// position to pos (replicator.PublishPosition). drc failback uses
	// both on the pipeline from the region that returns.
	Unpublished     func(ctx context.Context, from, to replicator.Position, fn func(*event.Record) error) error
	PublishPosition func(ctx context.Context, expect, pos replicator.Position) error
	// ReplicatorUser is the account the pipeline's replicator reads the
	// source's binlog with: failback looks for its binlog dump thread.
	ReplicatorUser string
}

// primary and standby are the two servers as operations use them: each
// through the account of the applier that writes to it, which already
// bypasses read_only when its region is the standby.
func (p Pair) primary() Server { return p.Reverse.Target }
func (p Pair) standby() Server { return p.Forward.Target }

// Validate checks that the two pipelines describe one pair.
func (p Pair) Validate() error {
	f, r := p.Forward, p.Reverse
	switch {
	case f.Cluster == r.Cluster:
		return fmt.Errorf("the reverse pipeline has the same cluster name %q: each direction needs its own", f.Cluster)
	case f.Source.Addr != r.Target.Addr || f.Source.Region != r.Target.Region:
		return fmt.Errorf("the reverse pipeline's target is %s, not this pipeline's source %s", r.Target, f.Source)
	case f.Target.Addr != r.Source.Addr || f.Target.Region != r.Source.Region:
		return fmt.Errorf("the reverse pipeline's source is %s, not this pipeline's target %s", r.Source, f.Target)
	case f.Source.Flavor != f.Target.Flavor:
		return fmt.Errorf("a DR pair needs one flavor on both regions: %s is %s, %s is %s", f.Source, f.Source.Flavor, f.Target, f.Target.Flavor)
	}
	return nil
}

// Options tune an operation.
type Options struct {
	// DryRun runs every check and prints the plan; nothing is changed.
	DryRun bool
	// MaxLag is the highest lag, in either direction, a switchover starts
	// with.
	MaxLag time.Duration
	// Timeout bounds each wait: the standby applying the old primary's
	// final position (a switchover rolls back when it passes), and the
	// reverse path applying the new primary's start position.
	Timeout time.Duration
	// FenceWait is how long open write transactions on the old primary
	// get to end after the fence before their connections are killed.
	FenceWait time.Duration
	// QuarantineDir is where drc failback writes the quarantine's files
	// (empty: the working directory).
	QuarantineDir string
	// Force lets a failover promote the standby while the primary still
	// answers (the operator has fenced it some other way).
	Force bool
	// Progress is told each step as it completes (may be nil).
	Progress func(Step)
	// AfterStep, when set, runs after each step is recorded; an error
	// stops the operation there, as a crash would. For tests.
	AfterStep func(step string) error
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxLag <= 0 {
		o.MaxLag = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.FenceWait <= 0 {
		o.FenceWait = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// The steps of a switchover, in order.
const (
	stepChecked = "checked"
	stepFenced  = "fenced"
	stepFinal   = "final_position"
	stepDrained = "drained"
	stepPromote = "promoted"
	stepStandby = "standby"
	stepReverse = "reverse_path"
)

// run drives an operation's steps: each runs unless an earlier run of the
// same operation completed it, then is recorded.
type run struct {
	opts *Options
	at   Server // where the operation is recorded
	op   *operation
}

func (r *run) step(ctx context.Context, name string, fn func() (string, error)) error {
	if r.op.report.stepDone(name) {
		return nil
	}
	detail, err := fn()
	if err != nil {
		return err
	}
	r.op.report.addStep(name, "done", detail, r.opts.Now())
	r.op.step = name
	if err := record(ctx, r.at, r.op); err != nil {
		return err
	}
	if r.opts.Progress != nil {
		r.opts.Progress(r.op.report.Steps[len(r.op.report.Steps)-1])
	}
	if r.opts.AfterStep != nil {
		return r.opts.AfterStep(name)
	}
	return nil
}

// resume continues op, an operation an earlier run left unfinished: its
// steps done are marked resumed and are not run again.
func (r *run) resume(op *operation) {
	r.op = op
	for i := range op.report.Steps {
		op.report.Steps[i].Status = "resumed"
	}
}

// begin records rep, whose checks have passed (its steps so far are done),
// as a new operation, and reports those steps.
func (r *run) begin(ctx context.Context, rep Report) error {
	r.op = &operation{report: rep, step: rep.Steps[len(rep.Steps)-1].Name}
	if err := record(ctx, r.at, r.op); err != nil {
		return err
	}
	for _, s := range rep.Steps {
		if r.opts.Progress != nil {
			r.opts.Progress(s)
		}
	}
	if r.opts.AfterStep != nil {
		return r.opts.AfterStep(r.op.step)
	}
	return nil
}

// end runs the operation's remaining steps and returns its report.
func (r *run) end(ctx context.Context, steps func() error) (Report, error) {
	rep := &r.op.report
	err := steps()
	if err != nil && rep.Outcome == "" {
		rep.Outcome, rep.Reason = outcomeOf(err), err.Error()
	}
	return *rep, err
}

// tail is the newest of the pipeline's partition tails: the replicator's
// resume position; ok is false for an empty topic.
func (p Pipeline) tail(ctx context.Context) (pos replicator.Position, ok bool, err error) {
	tails, err := p.Tails(ctx)
	if err != nil {
		return replicator.Position{}, false, fmt.Errorf("read the committed tail of %s's topic: %w", p.Cluster, err)
	}
	pos, ok = gtid.Newest(maps.Values(tails))
	return pos, ok, nil
}

// refusedReport is rep stopped by err before anything changed.
func refusedReport(rep Report, err error) (Report, error) {
	rep.Outcome, rep.Reason = outcomeOf(err), err.Error()
	return rep, err
}

// Switchover moves the primary role from the forward pipeline's source to
// its target with nothing lost: fence the primary, wait until the standby
// has applied the primary's final position, make the standby writable,
// leave the old primary a standby, and check that the reverse pipeline
// carries the new primary's writes. Each step is recorded in the new
// primary's drc_meta.dr_operations; run again after a crash, it resumes.
// A standby that does not catch up within Options.Timeout is not
// promoted: the old primary is made writable again (ErrRefused).
func Switchover(ctx context.Context, p Pair, opts Options) (Report, error) {
	opts.defaults()
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	a, b := p.primary(), p.standby()
	last, err := lastOperation(ctx, b, p.Forward.Cluster)
	if err != nil {
		return Report{}, err
	}
	r := &run{opts: &opts, at: b}
	if last != nil && !last.finished && last.report.Operation == "switchover" && last.report.From == a.Region && last.report.To == b.Region {
		r.resume(last)
		if err := refence(ctx, r, a); err != nil {
			return r.op.report, err
		}
		if opts.DryRun {
			r.op.report.DryRun, r.op.report.Outcome = true, "planned"
			planSwitchover(&r.op.report, a, b)
			return r.op.report, nil
		}
	} else {
		rep := Report{Operation: "switchover", Cluster: p.Forward.Cluster, From: a.Region, To: b.Region, DryRun: opts.DryRun}
		if done, ok := alreadyDone(ctx, last, a, b); ok {
			return done, nil
		}
		if err := checkSwitchover(ctx, p, opts); err != nil {
			return refusedReport(rep, err)
		}
		rep.addStep(stepChecked, "done", fmt.Sprintf("%s is writable, %s read-only; lag within %s both ways; privileges present", a, b, opts.MaxLag), opts.Now())
		if opts.DryRun {
			rep.Outcome = "planned"
			planSwitchover(&rep, a, b)
			return rep, nil
		}
		if err := r.begin(ctx, rep); err != nil {
			return rep, err
		}
	}
	return r.end(ctx, func() error { return switchover(ctx, r, p, a, b) })
}

func switchover(ctx context.Context, r *run, p Pair, a, b Server) error {
	rep, opts := &r.op.report, r.opts
	if err := r.step(ctx, stepFenced, func() (string, error) {
		at := opts.Now()
		txns, err := a.fence(ctx, opts.FenceWait)
		rep.InFlight = mergeTxns(rep.InFlight, txns, true)
		if err != nil {
			return "", err
		}
		if rep.FencedAt == nil {
			rep.FencedAt = timePtr(at)
		}
		killed := 0
		for _, t := range txns {
			if t.Killed {
				killed++
			}
		}
		return fmt.Sprintf("%s set %s; %d write transactions open at the fence, %d killed after %s", a, a.fenceVariable(), len(txns), killed, opts.FenceWait), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepFinal, func() (string, error) {
		pos, err := a.position(ctx)
		if err != nil {
			return "", err
		}
		rep.FinalGTIDSet = pos.String()
		return rep.FinalGTIDSet, nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepDrained, func() (string, error) {
		final, err := gtid.Parse(a.Flavor, rep.FinalGTIDSet)
		if err != nil {
			return "", err
		}
		start := opts.Now()
		ok, err := waitCovers(ctx, b, p.Forward.Cluster, final, opts.Timeout)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", rollback(ctx, r, a, fmt.Sprintf("%s had not applied %s's final position %s within %s", b, a, rep.FinalGTIDSet, opts.Timeout))
		}
		rep.DrainSeconds = seconds(opts.Now().Sub(start))
		return fmt.Sprintf("%s applied %s in %.3fs", b, rep.FinalGTIDSet, *rep.DrainSeconds), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepPromote, func() (string, error) {
		if err := r.promote(ctx, b); err != nil {
			return "", err
		}
		now := *rep.PromotedAt
		if rep.FencedAt != nil {
			rep.WritesRefusedSeconds = seconds(now.Sub(*rep.FencedAt))
		}
		return fmt.Sprintf("%s writable at %s; its pipeline to %s carries every transaction after %s", b, now.UTC().Format(time.RFC3339Nano), a.Region, rep.StartGTIDSet), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepStandby, func() (string, error) {
		if err := a.makeStandby(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s read-only for applications; drc's applier writes to it", a), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepReverse, func() (string, error) {
		start, err := gtid.Parse(b.Flavor, rep.StartGTIDSet)
		if err != nil {
			return "", err
		}
		ok, err := waitCovers(ctx, a, p.Reverse.Cluster, start, opts.Timeout)
		if err != nil {
			return "", err
		}
		rep.ReverseCaughtUp = &ok
		if !ok {
			return fmt.Sprintf("%s's applier (cluster %s) had not applied %s within %s: check drc apply --config <reverse> on %s", a, p.Reverse.Cluster, rep.StartGTIDSet, opts.Timeout, a.Region), nil
		}
		return fmt.Sprintf("%s's applier (cluster %s) has applied %s", a, p.Reverse.Cluster, rep.StartGTIDSet), nil
	}); err != nil {
		return err
	}
	return finish(ctx, r)
}

// promote records b's position, the start of what its pipeline carries
// from now on, then makes b writable. The position is recorded before b
// takes a write, so a rerun keeps it.
func (r *run) promote(ctx context.Context, b Server) error {
	rep := &r.op.report
	if rep.StartGTIDSet == "" {
		pos, err := b.position(ctx)
		if err != nil {
			return err
		}
		rep.StartGTIDSet = pos.String()
		if err := record(ctx, r.at, r.op); err != nil {
			return err
		}
	}
	if err := b.makeWritable(ctx); err != nil {
		return err
	}
	rep.PromotedAt = timePtr(r.opts.Now())
	return nil
}

// refence: a switchover resumed before b was made writable finds a
// fenced, or fences it again and reads its final position again (a
// restarted server, or an operator, may have lifted the fence, and a may
// have taken writes since).
func refence(ctx context.Context, r *run, a Server) error {
	rep := &r.op.report
	if !rep.stepDone(stepFenced) || rep.stepDone(stepPromote) {
		return nil
	}
	var on int
	if err := a.DB.QueryRowContext(ctx, "SELECT @@GLOBAL."+a.fenceVariable()).Scan(&on); err != nil {
		return fmt.Errorf("%s: read @@%s: %w", a, a.fenceVariable(), err)
	}
	if on != 0 {
		return nil
	}
	forget(rep, stepFenced, stepFinal, stepDrained)
	rep.FinalGTIDSet, rep.DrainSeconds, rep.FencedAt = "", nil, nil
	return nil
}

// finish records the operation as done. A reverse path that did not catch
// up leaves the operation done but reported as a problem (exit code 1).
func finish(ctx context.Context, r *run) error {
	rep := &r.op.report
	rep.Outcome = "done"
	var problem error
	if rep.ReverseCaughtUp != nil && !*rep.ReverseCaughtUp {
		rep.Reason = "the reverse path has not applied the new primary's start position: writes on " + rep.To + " are not yet reaching " + rep.From
		problem = fmt.Errorf("%w: %s", ErrRefused, rep.Reason)
	}
	r.op.finished = true
	if err := record(ctx, r.at, r.op); err != nil {
		return err
	}
	return problem
}

// rollback makes the old primary writable again after a switchover that
// could not drain, and records the operation as rolled back.
func rollback(ctx context.Context, r *run, a Server, reason string) error {
	if err := a.makeWritable(ctx); err != nil {
		return fmt.Errorf("%s; rolling back: %w", reason, err)
	}
	rep := &r.op.report
	rep.Outcome, rep.Reason = "rolled_back", reason+"; "+a.Region+" is writable again"
	rep.addStep("rolled_back", "done", rep.Reason, r.opts.Now())
	r.op.finished = true
	if err := record(ctx, r.at, r.op); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrRefused, rep.Reason)
}

// alreadyDone is the report of a finished operation that made b the
// primary, when the servers are still in the state it left.
func alreadyDone(ctx context.Context, last *operation, a, b Server) (Report, bool) {
	if last == nil || !last.finished || last.report.To != b.Region || last.report.Outcome != "done" ||
		last.report.Operation != "switchover" && last.report.Operation != "failover" {
		return Report{}, false
	}
	bRO, err := b.readOnly(ctx)
	if err != nil || bRO {
		return Report{}, false
	}
	rep := last.report
	rep.Outcome = "already_done"
	return rep, true
}

// checkSwitchover refuses a switchover that cannot complete: the servers
// are not in the roles the config names, an account lacks a privilege,
// the standby lags, or the reverse path does not run.
func checkSwitchover(ctx context.Context, p Pair, opts Options) error {
	a, b := p.primary(), p.standby()
	for _, s := range []Server{a, b} {
		if err := s.checkFlavor(ctx); err != nil {
			return err
		}
	}
	aRO, err := a.readOnly(ctx)
	if err != nil {
		return err
	}
	bRO, err := b.readOnly(ctx)
	if err != nil {
		return err
	}
	switch {
	case aRO && !bRO:
		return refused("the primary is %s, not %s as this config names: to move the primary role back, run with the reverse pipeline's config", b, a)
	case !aRO && !bRO:
		return refused("both %s and %s are writable (active-active): a switchover needs %s read-only", a, b, b)
	case aRO && bRO:
		return refused("neither %s nor %s is writable: no primary to move from", a, b)
	}
	for _, s := range []Server{a, b} {
		if err := s.checkPrivileges(ctx); err != nil {
			return err
		}
	}
	if err := checkLag(ctx, b, a.Region, "the pipeline "+p.Forward.Cluster, opts); err != nil {
		return err
	}
	if err := checkLag(ctx, a, b.Region, "the reverse pipeline "+p.Reverse.Cluster, opts); err != nil {
		return err
	}
	for _, c := range []struct {
		s       Server
		cluster string
	}{{b, p.Forward.Cluster}, {a, p.Reverse.Cluster}} {
		cps, err := c.s.checkpoint(ctx, c.cluster)
		if err != nil {
			return err
		}
		if len(cps) == 0 {
			return refused("%s has no applier checkpoint of cluster %s: is drc apply running for it?", c.s, c.cluster)
		}
	}
	return nil
}

// checkLag refuses when the newest heartbeat of region applied on s is
// older than MaxLag: the pipeline from region to s is stalled or behind.
func checkLag(ctx context.Context, s Server, region, pipeline string, opts Options) error {
	ts, ok, err := s.heartbeat(ctx, region)
	if err != nil {
		return err
	}
	if !ok {
		return refused("%s has no heartbeat of %s: %s (drc replicate on %s, drc apply on %s) has never run", s, region, pipeline, region, s.Region)
	}
	if lag := opts.Now().Sub(ts); lag > opts.MaxLag {
		return refused("%s's newest heartbeat of %s is %s old (more than --max-lag %s): %s is behind or stopped", s, region, lag.Round(time.Millisecond), opts.MaxLag, pipeline)
	}
	return nil
}

// waitCovers waits up to timeout for every checkpoint row of cluster on s
// to contain pos.
func waitCovers(ctx context.Context, s Server, cluster string, pos replicator.Position, timeout time.Duration) (bool, error) {
	return waitUntil(ctx, timeout, func() (bool, error) {
		cps, err := s.checkpoint(ctx, cluster)
		if err != nil {
			return false, err
		}
		return covers(s.Flavor, cps, pos)
	})
}

// planSwitchover lists the steps a run would take, for --dry-run.
func planSwitchover(rep *Report, a, b Server) {
	for _, s := range []struct{ name, detail string }{
		{stepFenced, fmt.Sprintf("SET GLOBAL %s = ON on %s; open write transactions get --fence-wait to end, then their connections are killed", a.fenceVariable(), a)},
		{stepFinal, "read " + a.String() + "'s GTID position"},
		{stepDrained, "wait until " + b.String() + "'s applier checkpoint contains it (else: " + a.Region + " writable again, exit 1)"},
		{stepPromote, "read " + b.String() + "'s GTID position (the reverse stream's start), then make it writable"},
		{stepStandby, a.String() + " stays read-only for applications; drc's applier may write to it"},
		{stepReverse, "wait until " + a.String() + "'s applier checkpoint contains " + b.Region + "'s start position"},
	} {
		if !rep.stepDone(s.name) {
			rep.addStep(s.name, "planned", s.detail, time.Time{})
		}
	}
}

// outcomeOf is the report outcome of an operation that err stopped.
func outcomeOf(err error) string {
	if errors.Is(err, ErrRefused) {
		return "refused"
	}
	return "failed"
}
