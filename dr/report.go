package dr

import (
	"errors"
	"fmt"
	"time"
)

// Report is what an operation did, step by step; `--output json` prints it
// and drc_meta.dr_operations keeps it, so a rerun after a crash resumes
// from it.
type Report struct {
	Operation string `json:"operation"` // switchover, failover or failback
	Cluster   string `json:"cluster"`   // the primary-to-standby pipeline's cluster
	From      string `json:"from"`      // the region that was primary
	To        string `json:"to"`        // the region made primary
	DryRun    bool   `json:"dry_run,omitempty"`
	// Outcome: done, already_done, refused, rolled_back, planned (dry
	// run), or failed (an error stopped it; run the command again).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Steps   []Step `json:"steps"`

	// Switchover.
	FencedAt             *time.Time `json:"fenced_at,omitempty"`
	PromotedAt           *time.Time `json:"promoted_at,omitempty"`
	WritesRefusedSeconds *float64   `json:"writes_refused_seconds,omitempty"`
	// FinalGTIDSet is the old primary's GTID position once fenced: the
	// new primary had applied all of it before it was made writable.
	FinalGTIDSet string `json:"final_gtid_set,omitempty"`
	// InFlight are the write transactions open on the old primary at the
	// fence: those that ended by themselves within the wait (committed
	// before the final position was read, or rolled back) and those killed.
	InFlight []Txn `json:"in_flight,omitempty"`
	// DrainSeconds is how long the new primary took to apply the final
	// position.
	DrainSeconds *float64 `json:"drain_seconds,omitempty"`

	// StartGTIDSet is the new primary's position when it was made
	// writable: its pipeline to the other region carries every
	// transaction after it.
	StartGTIDSet string `json:"start_gtid_set,omitempty"`
	// ReverseCaughtUp: the new primary's writes reach the other region.
	// Switchover: the other region's applier had applied StartGTIDSet when
	// the operation ended. Failover: the new primary's replicator wrote a
	// heartbeat after the promotion (the other region is gone).
	ReverseCaughtUp *bool `json:"reverse_caught_up,omitempty"`

	// Failover.
	Loss *LossReport `json:"data_loss,omitempty"`
	// Failback.
	Quarantine *Quarantine `json:"quarantine,omitempty"`
}

// LossReport is what a failover knows about the data the standby lacks,
// printed before it is promoted.
type LossReport struct {
	// TopicTail is the GTID set after the newest transaction the old
	// primary's replicator committed to Kafka.
	TopicTail string `json:"topic_tail_gtid_set"`
	// Applied is the standby's checkpoint after the drain: equal to (or
	// containing) TopicTail when every committed transaction is applied.
	Applied         string `json:"applied_gtid_set"`
	LastAppliedGTID string `json:"last_applied_gtid,omitempty"`
	AppliedAll      bool   `json:"applied_all"`
	// LastHeard is the source time of the old primary's newest heartbeat
	// the standby applied: every transaction committed there before it is
	// in the standby.
	LastHeard *time.Time `json:"last_heard,omitempty"`
	// Unreachable is when this failover found the old primary not
	// answering; WindowSeconds is Unreachable minus LastHeard: how long
	// before it stopped answering the standby's data ends. Transactions
	// it committed in that window and never published are unknown.
	Unreachable   time.Time `json:"unreachable_at"`
	WindowSeconds *float64  `json:"window_seconds,omitempty"`
	Unknown       string    `json:"unknown"`
}

// Step is one step of an operation.
type Step struct {
	Name   string     `json:"name"`
	Status string     `json:"status"` // planned, done, resumed (done by an earlier run)
	Detail string     `json:"detail,omitempty"`
	At     *time.Time `json:"at,omitempty"`
}

// ErrRefused is an operation that did not start, or was rolled back,
// for a reason the operator can act on (lag, a broken reverse path, a
// primary that is not the one the config names): exit code 1.
var ErrRefused = errors.New("refused")

// ErrPrivilege is an account without a privilege an operation needs.
var ErrPrivilege = errors.New("missing privilege")

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

func (r *Report) stepDone(name string) bool {
	for _, s := range r.Steps {
		if s.Name == name && s.Status != "planned" {
			return true
		}
	}
	return false
}

func (r *Report) addStep(name, status, detail string, at time.Time) {
	s := Step{Name: name, Status: status, Detail: detail}
	if !at.IsZero() {
		at = at.UTC()
		s.At = &at
	}
	r.Steps = append(r.Steps, s)
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

func timePtr(t time.Time) *time.Time {
	t = t.UTC()
	return &t
}
