package idgen

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func nodeConfig(region int, store LeaseStore, clk Clock) Config {
	l := testLayout()
	l.SequenceBits = 10
	return Config{
		Region: region, RegionBits: l.RegionBits, NodeBits: l.NodeBits, SequenceBits: l.SequenceBits,
		TimeUnit: l.TimeUnit, StartTime: l.StartTime,
		LeaseTTL: time.Second, RenewInterval: 20 * time.Millisecond,
		MaxClockWait: 0, BackwardBudget: 5 * time.Millisecond,
		Leases: store, Clock: clk,
	}
}

func newTestNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := NewNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNodeIssuesAndReleases(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	n := newTestNode(t, nodeConfig(1, mem.store(), clk))
	if _, err := n.NextID(); !errors.Is(err, ErrNotIssuing) {
		t.Fatalf("before Run: %v, want ErrNotIssuing", err)
	}
	cancel, done := runNode(t, n)
	waitReady(t, n)
	ids := make([]int64, 100)
	if err := n.Next(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	st := n.State()
	if !st.Issuing || st.Node != 0 || st.Phase != PhaseIssuing {
		t.Fatalf("state %+v", st)
	}
	for _, id := range ids {
		if p, _ := Decompose(id, n.Layout()); p.Region != 1 || p.Node != 0 {
			t.Fatalf("id %d decodes to %+v", id, p)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Released with the mark lowered to what was issued: one past the last
	// unit used, not the reservation a TTL ahead.
	last, _ := Decompose(ids[len(ids)-1], n.Layout())
	if r := mem.row(1, 0); r.hw != last.Elapsed+1 || r.expires.After(clk.Now()) {
		t.Fatalf("row after release %+v, want mark %d and expired", r, last.Elapsed+1)
	}
	if _, err := n.NextID(); !errors.Is(err, ErrNotIssuing) {
		t.Fatalf("after Run: %v, want ErrNotIssuing", err)
	}
}

func TestNodeRefusesOtherLayout(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	n1 := newTestNode(t, nodeConfig(1, mem.store(), clk))
	runNode(t, n1)
	waitReady(t, n1)
	cfg := nodeConfig(1, mem.store(), clk)
	cfg.SequenceBits = 9
	n2 := newTestNode(t, cfg)
	err := n2.Run(context.Background())
	if !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("Run with another layout: %v, want ErrLayoutMismatch", err)
	}
	t.Logf("refusal reads: %v", err)
}

// The renewal fails (database unreachable): the node must stop issuing
// before the lease could have expired in the database, i.e. before the last
// successful renewal's start + TTL.
func TestNodeStopsBeforeLeaseExpires(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	cfg := nodeConfig(0, mem.store(), clk)
	n := newTestNode(t, cfg)
	runNode(t, n)
	waitReady(t, n)
	eventually(t, 5*time.Second, "a renewal", func() bool { return n.State().Renewals > 0 })

	mem.failRenew.Store(true)
	eventually(t, 5*time.Second, "a failed renewal", func() bool { return n.State().RenewFailures > 0 })
	lastRenew := n.State().LastRenew // fake clock: the start of the last good renewal
	expiry := lastRenew.Add(cfg.LeaseTTL)

	var firstErr time.Time
	for at := lastRenew; at.Before(expiry.Add(time.Millisecond)); at = at.Add(time.Millisecond) {
		clk.Set(at)
		if _, err := n.NextID(); err != nil {
			if !errors.Is(err, ErrLeaseExpiring) {
				t.Fatalf("at +%s: %v, want ErrLeaseExpiring", at.Sub(lastRenew), err)
			}
			firstErr = at
			break
		}
	}
	if firstErr.IsZero() || !firstErr.Before(expiry) {
		t.Fatalf("still issuing at %s, the lease expiry (last renewal + TTL)", expiry.Sub(lastRenew))
	}
	t.Logf("issuing stopped %s after the last renewal (TTL %s)", firstErr.Sub(lastRenew), cfg.LeaseTTL)
	if st := n.State(); st.Issuing {
		t.Fatalf("healthz state says issuing: %+v", st)
	}

	// The database comes back before anyone else took the lease: issuing
	// resumes with the same node ID.
	mem.failRenew.Store(false)
	eventually(t, 5*time.Second, "issuing again", func() bool { _, err := n.NextID(); return err == nil })
	if st := n.State(); st.Node != 0 || st.LeasesLost != 0 {
		t.Fatalf("after recovery %+v", st)
	}
}

// Another node took the lease (ours had expired in the database): the next
// renewal sees it, issuing stops at once, and a new node ID is acquired.
func TestNodeLeaseLostReacquires(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	n := newTestNode(t, nodeConfig(0, mem.store(), clk))
	runNode(t, n)
	waitReady(t, n)
	before, err := n.NextID()
	if err != nil {
		t.Fatal(err)
	}
	mem.steal(0, 0, "thief")
	eventually(t, 5*time.Second, "a new lease", func() bool {
		st := n.State()
		return st.LeasesLost == 1 && st.Node == 1 && st.Issuing
	})
	after, err := n.NextID()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := Decompose(after, n.Layout()); p.Node != 1 || after == before {
		t.Fatalf("after loss issued %+v", p)
	}
}

// A restart while the clock is behind the persisted mark: with a short
// max wait the node refuses with ClockBehindError; with a longer one it
// waits, then issues only IDs above everything issued before.
func TestNodeClockBehindAtRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "after release", true: "after crash"}[crash]
		t.Run(name, func(t *testing.T) {
			dbClock := newFakeClock(t0)
			mem := newMemLeases(dbClock)
			clk := newFakeClock(t0)
			cfg := nodeConfig(0, mem.store(), clk)
			cfg.NodeBits = 1
			// One of the two node IDs is held by someone else throughout,
			// so restarts must reuse the other one and its mark.
			_, err := mem.store().Acquire(context.Background(), AcquireRequest{Region: 0, Nodes: 2, Owner: "other", TTL: 100 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}

			n1 := newTestNode(t, cfg)
			cancel1, done1 := runNode(t, n1)
			waitReady(t, n1)
			var first []int64
			for i := 0; i < 50; i++ {
				clk.Add(100 * time.Microsecond)
				buf := make([]int64, 20)
				if err := n1.Next(context.Background(), buf); err != nil {
					t.Fatal(err)
				}
				first = append(first, buf...)
			}
			mem.dropRelease.Store(crash)
			cancel1()
			<-done1
			mem.dropRelease.Store(false)
			dbClock.Add(time.Hour) // the old lease has expired either way

			// The clock is now 2s behind where node 1 stopped.
			clk.Add(-2 * time.Second)
			cfg.MaxClockWait = time.Second
			if crash {
				cfg.MaxClockWait = cfg.LeaseTTL // the crash left a mark a TTL ahead
			}
			n2 := newTestNode(t, cfg)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = n2.Run(ctx)
			var cbe *ClockBehindError
			if !errors.As(err, &cbe) || !errors.Is(err, ErrClockBehind) {
				t.Fatalf("Run: %v, want ClockBehindError", err)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("refusal took %s", time.Since(start))
			}
			t.Logf("refusal reads: %v", err)

			cfg.MaxClockWait = time.Hour
			n3 := newTestNode(t, cfg)
			runNode(t, n3)
			eventually(t, 5*time.Second, "waiting for the clock", func() bool { return n3.State().Phase == PhaseWaitingClock })
			if _, err := n3.NextID(); !errors.Is(err, ErrNotIssuing) {
				t.Fatalf("while waiting: %v, want ErrNotIssuing", err)
			}
			clk.Add(5 * time.Second)
			waitReady(t, n3)
			buf := make([]int64, 1000)
			if err := n3.Next(context.Background(), buf); err != nil {
				t.Fatal(err)
			}
			if buf[0] <= slices.Max(first) {
				t.Fatalf("after restart issued %d, not above the earlier maximum %d", buf[0], slices.Max(first))
			}
			all := slices.Concat(first, buf)
			slices.Sort(all)
			if len(slices.Compact(all)) != len(first)+len(buf) {
				t.Fatalf("repeated IDs across the restart")
			}
		})
	}
}

// A backward step at run time beyond the budget fails fast, and issuing
// resumes once the clock has caught up.
func TestNodeBackwardStepFailsFast(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	cfg := nodeConfig(0, mem.store(), clk)
	n := newTestNode(t, cfg)
	runNode(t, n)
	waitReady(t, n)
	clk.Add(100 * time.Millisecond)
	var last int64
	eventually(t, 5*time.Second, "issuing", func() bool {
		var err error
		last, err = n.NextID()
		return err == nil
	})
	clk.Add(-10 * time.Minute)
	start := time.Now()
	_, err := n.NextID()
	if !errors.Is(err, ErrClockBackward) {
		t.Fatalf("after a 10min step back: %v, want ErrClockBackward", err)
	}
	err = n.Next(context.Background(), make([]int64, 10))
	if !errors.Is(err, ErrClockBackward) {
		t.Fatalf("Next after a 10min step back: %v, want ErrClockBackward", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("refusal took %s", d)
	}
	if st := n.State(); st.Issuing || st.ClockOK {
		t.Fatalf("state during the step %+v", st)
	}
	// The fake clock has no monotonic reading, so renewals during the step
	// moved the lease deadline back too; a real clock's would not. Hence
	// eventually.
	clk.Add(10 * time.Minute)
	var id int64
	eventually(t, 5*time.Second, "issuing after the clock caught up", func() bool {
		id, err = n.NextID()
		return err == nil
	})
	if id <= last {
		t.Fatalf("after the clock caught up: %d <= last %d", id, last)
	}
}

// Nodes that come and go without releasing (crashes) do not exhaust the
// node IDs: expired leases are reclaimed.
func TestNodeReclaimsExpiredLeases(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	mem.dropRelease.Store(true)
	cfg := nodeConfig(0, mem.store(), clk)
	cfg.NodeBits = 1
	cfg.MaxClockWait = time.Hour
	waits := 0
	for i := 0; i < 6; i++ {
		n := newTestNode(t, cfg)
		cancel, done := runNode(t, n)
		select {
		case <-n.Ready():
		case <-time.After(300 * time.Millisecond):
			// Both node IDs are held by crashed nodes until they expire.
			if st := n.State(); !strings.Contains(st.LastError, ErrNoFreeNode.Error()) {
				t.Fatalf("node %d not ready: %+v", i, st)
			}
			waits++
			clk.Add(cfg.LeaseTTL + time.Millisecond)
			waitReady(t, n)
		}
		if _, err := n.NextID(); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
	}
	if waits != 2 {
		t.Fatalf("waited for expiry %d times, want 2 (6 nodes, 2 node ids)", waits)
	}
}

// Concurrency: several nodes of two regions share one store and many
// goroutines; every ID is unique and decodes to its node's region.
func TestNodesUniqueUnderConcurrency(t *testing.T) {
	mem := newMemLeases(SystemClock{})
	per := 200_000
	if testing.Short() {
		per = 20_000
	}
	type result struct {
		region int
		ids    []int64
	}
	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for region := 0; region < 2; region++ {
		for k := 0; k < 3; k++ {
			cfg := nodeConfig(region, mem.store(), SystemClock{})
			cfg.SequenceBits = 8
			cfg.MaxClockWait = 10 * time.Second
			// Twelve busy goroutines under -race on two loaded cores can
			// starve the renewal goroutine for a while; this test is about
			// uniqueness, not lease timing.
			cfg.LeaseTTL, cfg.RenewInterval = 10*time.Second, 100*time.Millisecond
			n := newTestNode(t, cfg)
			runNode(t, n)
			waitReady(t, n)
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids := make([]int64, 0, per)
					buf := make([]int64, 37)
					for len(ids) < per {
						if w == 0 {
							id, err := n.NextID()
							if errors.Is(err, ErrSequenceExhausted) {
								err = n.Next(context.Background(), buf[:1]) // waits for the next unit
								id = buf[0]
							}
							if err != nil {
								t.Error(err)
								return
							}
							ids = append(ids, id)
							continue
						}
						if err := n.Next(context.Background(), buf); err != nil {
							t.Error(err)
							return
						}
						ids = append(ids, buf...)
					}
					mu.Lock()
					results = append(results, result{region, ids})
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	var all []int64
	l := testLayout()
	for _, r := range results {
		for _, id := range r.ids {
			if got := int(id>>l.NodeBits) & (1<<l.RegionBits - 1); got != r.region {
				t.Fatalf("id %d of region %d decodes to region %d", id, r.region, got)
			}
		}
		all = append(all, r.ids...)
	}
	slices.Sort(all)
	if d := len(all) - len(slices.Compact(all)); d != 0 {
		t.Fatalf("%d repeated IDs among %d", d, len(all))
	}
}

func TestChooseNode(t *testing.T) {
	tests := []struct {
		name   string
		rows   []leaseRow
		nodes  int
		now    int64
		want   int
		wantOK bool
	}{
		{"empty table", nil, 4, 100, 0, true},
		{"first gap", []leaseRow{{node: 0}, {node: 2}}, 4, 100, 1, true},
		{"after last", []leaseRow{{node: 0}, {node: 1}}, 4, 100, 2, true},
		{"all held", []leaseRow{{node: 0}, {node: 1}}, 2, 100, 0, false},
		{"expired usable", []leaseRow{{node: 0}, {node: 1, expired: true, highWater: 50, epoch: 3}}, 2, 100, 1, true},
		{"lowest usable over new", []leaseRow{{node: 0, expired: true, highWater: 90}, {node: 1}}, 4, 100, 0, true},
		{"usable new over waiting", []leaseRow{{node: 0, expired: true, highWater: 900}, {node: 1}}, 4, 100, 2, true},
		{"least wait", []leaseRow{{node: 0, expired: true, highWater: 900}, {node: 1, expired: true, highWater: 300}}, 2, 100, 1, true},
		{"ignores node ids beyond", []leaseRow{{node: 0}}, 1, 100, 0, false},
	}
	for _, tt := range tests {
		got, ok := chooseNode(tt.rows, tt.nodes, tt.now)
		if ok != tt.wantOK || (ok && got.node != tt.want) {
			t.Errorf("%s: got node %d ok=%v, want %d ok=%v", tt.name, got.node, ok, tt.want, tt.wantOK)
		}
	}
}
