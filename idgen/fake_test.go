package idgen

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeLeases is a LeaseStore built from function fields; set only the ones
// a test needs. The fields must not change while a Node uses the store.
type fakeLeases struct {
	EnsureLayoutFn func(ctx context.Context, l Layout) error
	EnsureRegionFn func(ctx context.Context, region int, name string) (map[int]string, error)
	AcquireFn      func(ctx context.Context, req AcquireRequest) (Lease, error)
	RenewFn        func(ctx context.Context, l Lease, ttl time.Duration, hw int64) (Lease, error)
	ReleaseFn      func(ctx context.Context, l Lease, hw int64) error
}

func (f *fakeLeases) EnsureLayout(ctx context.Context, l Layout) error {
	if f.EnsureLayoutFn == nil {
		return nil
	}
	return f.EnsureLayoutFn(ctx, l)
}

func (f *fakeLeases) EnsureRegion(ctx context.Context, region int, name string) (map[int]string, error) {
	if f.EnsureRegionFn == nil {
		return nil, nil
	}
	return f.EnsureRegionFn(ctx, region, name)
}

func (f *fakeLeases) Acquire(ctx context.Context, req AcquireRequest) (Lease, error) {
	return f.AcquireFn(ctx, req)
}

func (f *fakeLeases) Renew(ctx context.Context, l Lease, ttl time.Duration, hw int64) (Lease, error) {
	return f.RenewFn(ctx, l, ttl, hw)
}

func (f *fakeLeases) Release(ctx context.Context, l Lease, hw int64) error {
	if f.ReleaseFn == nil {
		return nil
	}
	return f.ReleaseFn(ctx, l, hw)
}

// memLeases is an in-memory lease table with the SQL store's semantics,
// exposed as a fakeLeases. Its clock plays the database clock. The flags
// inject failures.
type memLeases struct {
	clock Clock

	failRenew   atomic.Bool // Renew returns a transient error
	dropRelease atomic.Bool // Release does nothing (a crash)

	mu      sync.Mutex
	layout  *Layout
	regions map[int]string // idgen_regions
	rows    map[[2]int]*memRow
	renews  int
	release []int64 // marks passed to Release
}

type memRow struct {
	owner   string
	epoch   uint64
	expires time.Time
	hw      int64
}

func newMemLeases(clock Clock) *memLeases {
	return &memLeases{clock: clock, regions: map[int]string{}, rows: map[[2]int]*memRow{}}
}

func (m *memLeases) store() *fakeLeases {
	return &fakeLeases{
		EnsureLayoutFn: func(_ context.Context, l Layout) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.layout == nil {
				m.layout = &l
			}
			if !m.layout.Equal(l) {
				return fmt.Errorf("%w: stored %s; configured %s", ErrLayoutMismatch, m.layout, l)
			}
			return nil
		},
		EnsureRegionFn: func(_ context.Context, region int, name string) (map[int]string, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			if name != "" {
				if err := regionConflict(m.regions, region, name, "mem.idgen_regions"); err != nil {
					return nil, err
				}
				m.regions[region] = name
			}
			return maps.Clone(m.regions), nil
		},
		AcquireFn: func(_ context.Context, req AcquireRequest) (Lease, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			now := m.clock.Now()
			var rows []leaseRow
			for k, r := range m.rows {
				if k[0] == req.Region && k[1] < req.Nodes {
					rows = append(rows, leaseRow{node: k[1], epoch: r.epoch, highWater: r.hw, expired: !now.Before(r.expires)})
				}
			}
			c, ok := chooseNode(rows, req.Nodes, req.Now)
			if !ok {
				return Lease{}, ErrNoFreeNode
			}
			hw := max(c.highWater, req.HighWater)
			m.rows[[2]int{req.Region, c.node}] = &memRow{owner: req.Owner, epoch: c.epoch + 1, expires: now.Add(req.TTL), hw: hw}
			return Lease{Region: req.Region, Node: c.node, Owner: req.Owner, Epoch: c.epoch + 1, Floor: c.highWater, HighWater: hw}, nil
		},
		RenewFn: func(_ context.Context, l Lease, ttl time.Duration, hw int64) (Lease, error) {
			if m.failRenew.Load() {
				return l, fmt.Errorf("renew: injected outage")
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			r := m.rows[[2]int{l.Region, l.Node}]
			if r == nil || r.owner != l.Owner || r.epoch != l.Epoch {
				return l, fmt.Errorf("renew: %w", ErrLeaseLost)
			}
			m.renews++
			r.expires = m.clock.Now().Add(ttl)
			r.hw = max(r.hw, hw)
			l.HighWater = max(l.HighWater, hw)
			return l, nil
		},
		ReleaseFn: func(_ context.Context, l Lease, hw int64) error {
			if m.dropRelease.Load() {
				return nil
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.release = append(m.release, hw)
			if r := m.rows[[2]int{l.Region, l.Node}]; r != nil && r.owner == l.Owner && r.epoch == l.Epoch {
				r.expires = m.clock.Now()
				r.hw = hw
			}
			return nil
		},
	}
}

func (m *memLeases) row(region, node int) memRow {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.rows[[2]int{region, node}]; r != nil {
		return *r
	}
	return memRow{}
}

// steal gives a row to another owner, as a node that found it expired would.
func (m *memLeases) steal(region, node int, owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[[2]int{region, node}]
	r.owner, r.epoch, r.expires = owner, r.epoch+1, m.clock.Now().Add(time.Hour)
}

// runNode starts n.Run in the background and stops it at cleanup. The
// returned channel yields Run's result.
func runNode(t *testing.T, n *Node) (cancel func(), done <-chan error) {
	t.Helper()
	ctx, cancelFn := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		ch <- n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancelFn()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("node Run did not return after cancel")
		}
	})
	return cancelFn, ch
}

func waitReady(t *testing.T, n *Node) {
	t.Helper()
	select {
	case <-n.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("node not ready; state %+v", n.State())
	}
}

// eventually polls cond every millisecond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}
