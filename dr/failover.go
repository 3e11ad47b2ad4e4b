package dr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
)

// The steps of a failover after the standby has drained the topic.
const (
	stepLossReport = "loss_report"
	stepReplicator = "replicator"
)

// unknownText says what a failover cannot know.
const unknownText = "transactions the old primary committed and its replicator never published to Kafka are not in the new primary, " +
	"and cannot be listed until the old primary answers again"

// Failover promotes the standby when the primary is gone: it waits until
// the standby has applied everything the primary's replicator committed
// to Kafka, reports what the standby has (the data-loss report, given to
// Progress before anything changes), then makes the standby writable and
// checks that its own replicator publishes. A primary that still answers
// is refused (a switchover loses nothing) unless Options.Force.
func Failover(ctx context.Context, p Pair, opts Options) (Report, error) {
	opts.defaults()
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	a, b := p.Forward.Source, p.standby()
	last, err := lastOperation(ctx, b, p.Forward.Cluster)
	if err != nil {
		return Report{}, err
	}
	r := &run{opts: &opts, at: b}
	if last != nil && !last.finished && last.report.Operation == "failover" && last.report.To == b.Region {
		r.resume(last)
		if opts.DryRun {
			r.op.report.DryRun, r.op.report.Outcome = true, "planned"
			return r.op.report, nil
		}
	} else {
		if done, ok := alreadyDone(ctx, last, a, b); ok {
			return done, nil
		}
		rep := Report{Operation: "failover", Cluster: p.Forward.Cluster, From: a.Region, To: b.Region, DryRun: opts.DryRun}
		loss, err := checkFailover(ctx, p, opts)
		if err != nil {
			return refusedReport(rep, err)
		}
		rep.Loss = loss
		rep.addStep(stepDrained, "done", fmt.Sprintf("%s applied the topic's committed tail %s", b, loss.TopicTail), opts.Now())
		rep.addStep(stepLossReport, "done", lossSummary(a, b, loss), opts.Now())
		if opts.DryRun {
			rep.Outcome = "planned"
			rep.addStep(stepPromote, "planned", "make "+b.String()+" writable", time.Time{})
			rep.addStep(stepReplicator, "planned", "check that "+b.Region+"'s replicator publishes", time.Time{})
			return rep, nil
		}
		if err := r.begin(ctx, rep); err != nil {
			return rep, err
		}
	}
	return r.end(ctx, func() error { return failover(ctx, r, b) })
}

func failover(ctx context.Context, r *run, b Server) error {
	rep, opts := &r.op.report, r.opts
	// b's replicator's heartbeat before the promotion: one written after it
	// shows the replicator runs (compared by value, not by clock).
	before, _, err := b.heartbeat(ctx, b.Region)
	if err != nil {
		return err
	}
	if err := r.step(ctx, stepPromote, func() (string, error) {
		if err := r.promote(ctx, b); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s writable; its own transactions start after %s", b, rep.StartGTIDSet), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepReplicator, func() (string, error) {
		// b's replicator writes its heartbeat on b every interval: one
		// newer than the promotion shows it runs against the new primary.
		var ts time.Time
		running, err := waitUntil(ctx, min(opts.Timeout, 15*time.Second), func() (bool, error) {
			t, ok, err := b.heartbeat(ctx, b.Region)
			ts = t
			return ok && t.After(before), err
		})
		if err != nil {
			return "", err
		}
		rep.ReverseCaughtUp = &running
		if !running {
			return fmt.Sprintf("no heartbeat from %s's replicator since the promotion: start drc replicate with the reverse pipeline's config, or %s's writes reach no other region", b.Region, b.Region), nil
		}
		return fmt.Sprintf("%s's replicator wrote a heartbeat at %s", b.Region, ts.UTC().Format(time.RFC3339Nano)), nil
	}); err != nil {
		return err
	}
	return finish(ctx, r)
}

// checkFailover refuses a failover that is not one (the primary answers,
// the standby is already writable, both regions' IDs would collide), then
// drains: waits until the standby's applier has applied the topic's
// committed tail, and returns the data-loss report.
func checkFailover(ctx context.Context, p Pair, opts Options) (*LossReport, error) {
	a, b := p.Forward.Source, p.standby()
	if p.Forward.IDGenRegion != 0 && p.Forward.IDGenRegion == p.Reverse.IDGenRegion {
		return nil, refused("idgen.region_id is %d in both pipelines' configs: IDs issued in %s would collide with %s's", p.Forward.IDGenRegion, b.Region, a.Region)
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := a.DB.PingContext(pctx)
	cancel()
	unreachable := opts.Now()
	var me *mysql.MySQLError
	switch {
	case opts.Force:
	case err == nil:
		return nil, refused("%s still answers: a planned drc switchover loses nothing; fence %s yourself and pass --force to fail over anyway", a, a.Region)
	case errors.As(err, &me) || mysqlerr.Insecure(err):
		// The server answered: it is not gone, the account or TLS
		// settings are wrong.
		return nil, refused("%s answers, with an error (%v): fix the reverse pipeline's target settings; a failover needs a primary that does not answer at all", a, err)
	}
	if err := b.checkFlavor(ctx); err != nil {
		return nil, err
	}
	bRO, err := b.readOnly(ctx)
	if err != nil {
		return nil, err
	}
	if !bRO {
		return nil, refused("%s is writable already: it is not a standby", b)
	}
	if err := b.checkPrivileges(ctx); err != nil {
		return nil, err
	}
	tails, err := p.Forward.Tails(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the committed tail of %s's topic: %w", p.Forward.Cluster, err)
	}
	tail, ok, _ := p.Forward.tail(ctx)
	if !ok {
		return nil, refused("the topic of cluster %s holds no committed transaction: nothing to fail over from", p.Forward.Cluster)
	}
	// Each partition's applier can apply through that partition's tail
	// (a partition's records stop where the primary stopped writing to
	// it).
	covered, err := waitTails(ctx, b, p.Forward.Cluster, tails, opts.Timeout)
	if err != nil {
		return nil, err
	}
	cps, err := b.checkpoint(ctx, p.Forward.Cluster)
	if err != nil {
		return nil, err
	}
	if !covered {
		applied := "none"
		if len(cps) > 0 {
			applied = cps[0].GTIDSet
		}
		return nil, fmt.Errorf("%s's applier had not applied the topic's committed tail %s within %s (it has %s): is drc apply running for cluster %s?",
			b, tail, opts.Timeout, applied, p.Forward.Cluster)
	}
	loss := &LossReport{TopicTail: tail.String(), AppliedAll: true, Unreachable: unreachable.UTC(), Unknown: unknownText}
	// The intersection of the partitions' sets is what every partition
	// has; with one partition (the default) it is that partition's set.
	loss.Applied, loss.LastAppliedGTID = cps[0].GTIDSet, cps[0].LastGTID
	for _, cp := range cps[1:] {
		set, err := gtid.Parse(b.Flavor, cp.GTIDSet)
		if err != nil {
			return nil, err
		}
		cur, err := gtid.Parse(b.Flavor, loss.Applied)
		if err != nil {
			return nil, err
		}
		if cur.Contains(set) {
			loss.Applied, loss.LastAppliedGTID = cp.GTIDSet, cp.LastGTID
		}
	}
	heard, ok, err := b.heartbeat(ctx, a.Region)
	if err != nil {
		return nil, err
	}
	if ok {
		loss.LastHeard = timePtr(heard)
		loss.WindowSeconds = seconds(unreachable.Sub(heard))
	}
	return loss, nil
}

// waitTails waits up to timeout until the checkpoint of each partition
// of cluster on s contains that partition's tail.
func waitTails(ctx context.Context, s Server, cluster string, tails map[int32]replicator.Position, timeout time.Duration) (bool, error) {
	return waitUntil(ctx, timeout, func() (bool, error) {
		cps, err := s.checkpoint(ctx, cluster)
		if err != nil {
			return false, err
		}
		for part, tail := range tails {
			i := slices.IndexFunc(cps, func(c drcmeta.Checkpoint) bool { return c.Part == part })
			if i < 0 {
				return false, nil
			}
			got, err := gtid.Parse(s.Flavor, cps[i].GTIDSet)
			if err != nil {
				return false, fmt.Errorf("checkpoint of %s partition %d: %w", cluster, part, err)
			}
			if !got.Contains(tail) {
				return false, nil
			}
		}
		return true, nil
	})
}

func lossSummary(a, b Server, l *LossReport) string {
	s := fmt.Sprintf("%s has every transaction %s's replicator committed to Kafka (through %s)", b.Region, a.Region, l.TopicTail)
	if l.LastHeard != nil {
		s += fmt.Sprintf("; its newest data from %s was committed there at %s, %.1fs before %s was found not answering",
			a.Region, l.LastHeard.Format(time.RFC3339Nano), *l.WindowSeconds, a.Region)
	}
	return s + "; " + l.Unknown + " (then drc failback lists them exactly)"
}
