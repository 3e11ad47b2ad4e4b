package idgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Phases of a Node, as reported in NodeState.Phase.
const (
	PhaseStarting     = "starting"          // checking the layout and the region name
	PhaseAcquiring    = "acquiring"         // looking for a free node ID
	PhaseWaitingClock = "waiting_for_clock" // leased, clock behind the mark
	PhaseIssuing      = "issuing"           // leased and active (see NodeState.Issuing)
	PhaseStopped      = "stopped"
)

const (
	// clockPollInterval bounds the sleep while waiting for the clock, so
	// that a clock that is stepped (rather than merely ticking) is noticed.
	clockPollInterval = 50 * time.Millisecond
	// errorLogInterval rate-limits the logging of a retry loop.
	errorLogInterval = 10 * time.Second
	// minRetryBackoff is the first pause of a retry loop.
	minRetryBackoff = 50 * time.Millisecond
	// releaseGracePeriod bounds the release at shutdown, which runs after
	// the caller's context is cancelled; within the 5 s a role has to stop
	// after SIGTERM. An unreleased lease expires by itself.
	releaseGracePeriod = 3 * time.Second
)

// Node issues the IDs of one region from a node ID it leases, renews and
// releases. Run drives the lease; NextID, Next and State may be called from
// any goroutine at any time (they refuse with ErrNotIssuing until the lease
// is held and the clock has passed its high-water mark).
type Node struct {
	cfg    Config // with defaults
	layout Layout
	store  LeaseStore
	log    *slog.Logger
	clock  Clock
	gen    *generator

	margin       time.Duration // issuing stops this long before lease expiry
	reserveUnits int64         // how far ahead the mark is persisted
	opTimeout    time.Duration // per store call

	kick      chan struct{} // cap 1: the generator asks for an early renewal
	ready     chan struct{} // closed at the first activation
	readyOnce sync.Once
	started   atomic.Bool

	renewals, renewFailures, leasesLost, acquisitions atomic.Uint64

	mu        sync.Mutex     // guards the fields below
	names     map[int]string // region names by number; replaced, never changed
	phase     string
	lease     Lease
	hasLease  bool
	lastRenew time.Time
	lastErr   string
}

// NewNode checks cfg and returns a Node that uses cfg.Leases, or an
// SQLLeaseStore on cfg.DB. logger may be nil (discard).
func NewNode(cfg Config, logger *slog.Logger) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	layout := cfg.Layout()
	store := cfg.Leases
	if store == nil {
		if cfg.DB == nil {
			return nil, errors.New("idgen node: config has neither Leases nor DB")
		}
		s, err := NewSQLLeaseStore(cfg.DB, cfg.Schema, layout)
		if err != nil {
			return nil, err
		}
		store = s
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "idgen", "region", cfg.Region)
	if cfg.RegionName != "" {
		logger = logger.With("region_name", cfg.RegionName)
	}
	names := maps.Clone(cfg.RegionNames)
	if names == nil {
		names = map[int]string{}
	}
	if cfg.RegionName != "" {
		names[cfg.Region] = cfg.RegionName
	}
	n := &Node{
		cfg:          cfg,
		layout:       layout,
		store:        store,
		log:          logger,
		clock:        cfg.Clock,
		margin:       cfg.LeaseTTL / 10,
		reserveUnits: int64(cfg.LeaseTTL / layout.TimeUnit),
		opTimeout:    min(cfg.RenewInterval, cfg.LeaseTTL/4),
		kick:         make(chan struct{}, 1),
		ready:        make(chan struct{}),
		names:        names,
		phase:        PhaseStarting,
	}
	// The mark is persisted a whole TTL ahead, so it lines up with the
	// lease expiry: a node ID reclaimed after a crash is usable at once.
	// Ask for renewal early only when less than half of that is left, which
	// with the default renew interval happens only after a forward jump.
	n.gen = newGenerator(layout, cfg.Clock, cfg.BackwardBudget, cfg.LeaseTTL/2, n.requestRenew)
	return n, nil
}

func (n *Node) requestRenew() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Layout is the node's ID layout.
func (n *Node) Layout() Layout { return n.layout }

// RegionName is the name of region, or "" if unknown: from
// Config.RegionNames and RegionName, and, once Run has started, the names
// stored in drc_meta.idgen_regions.
func (n *Node) RegionName(region int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[region]
}

// Decompose splits id into its parts with the node's layout and fills in
// the region name if known.
func (n *Node) Decompose(id int64) (Parts, error) {
	p, err := Decompose(id, n.layout)
	if err != nil {
		return Parts{}, err
	}
	p.RegionName = n.RegionName(p.Region)
	return p, nil
}

// Ready is closed when the node first starts issuing.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// NextID returns one ID, or an error at once if it cannot: it never waits.
// Errors are sentinels of this package; see IsRetryable.
func (n *Node) NextID() (int64, error) { return n.gen.nextID() }

// Fill writes up to len(dst) IDs without waiting and returns how many, with
// the reason it stopped early.
func (n *Node) Fill(dst []int64) (int, error) { return n.gen.fill(dst) }

// Next fills dst with IDs. When the sequence of the current time unit runs
// out it waits for the next unit (outside any lock); every other refusal is
// returned at once. On error, dst may be partly written; those IDs are
// simply never used.
func (n *Node) Next(ctx context.Context, dst []int64) error {
	for filled := 0; ; {
		k, err := n.gen.fill(dst[filled:])
		filled += k
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrSequenceExhausted) {
			return err
		}
		unit := int64(n.layout.TimeUnit)
		t := time.NewTimer(time.Duration(unit - n.clock.Now().UnixNano()%unit))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("idgen next: waiting for the next time unit: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Run checks the layout and records the region name, then acquires a lease
// and holds it until ctx is done, when it stops issuing, releases the lease
// and returns nil. It returns an error for a layout mismatch, a region
// number or name that is another region's (RegionConflictError), and when
// the clock is too far behind the leased mark (ClockBehindError). A lost
// lease is replaced by a new one; database outages are retried. Run may be
// called once.
func (n *Node) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("idgen node: Run called twice")
	}
	defer n.setPhase(PhaseStopped)
	if err := n.prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		lease, at, err := n.acquire(ctx)
		if err != nil {
			return nil // only ctx ends acquire
		}
		err = n.hold(ctx, lease, at)
		if !errors.Is(err, ErrLeaseLost) {
			return err
		}
		n.leasesLost.Add(1)
		n.log.Warn("lease lost, stopped issuing; acquiring a new one", "node", lease.Node, "error", err)
	}
}

// prepare checks the stored layout and records the region name, retrying
// until ctx is done; a mismatch or conflict is returned at once.
func (n *Node) prepare(ctx context.Context) error {
	n.setPhase(PhaseStarting)
	var rl retryLog
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, n.opTimeout)
		err := n.store.EnsureLayout(cctx, n.layout)
		cancel()
		var stored map[int]string
		if err == nil {
			cctx, cancel = context.WithTimeout(ctx, n.opTimeout)
			stored, err = n.store.EnsureRegion(cctx, n.cfg.Region, n.cfg.RegionName)
			cancel()
		}
		if err == nil {
			rl.recovered(n.log, "layout and region check")
			n.learnNames(stored)
			return nil
		}
		if errors.Is(err, ErrLayoutMismatch) || errors.Is(err, ErrRegionConflict) {
			return err
		}
		if _, missing := errors.AsType[*grants.MissingError](err); missing || mysqlerr.Denied(err) || mysqlerr.UnknownHost(err) {
			// A wrong password, host or grant: no retry fixes it.
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n.setErr(err)
		rl.failed(n.log, "layout and region check", err)
		if !sleepCtx(ctx, backoff(attempt, n.cfg.RenewInterval)) {
			return ctx.Err()
		}
	}
}

// learnNames adds the stored region names to the configured ones.
func (n *Node) learnNames(stored map[int]string) {
	n.mu.Lock()
	merged, dropped := mergeRegionNames(n.names, stored)
	n.names = merged
	n.mu.Unlock()
	if len(dropped) > 0 {
		n.log.Warn("configured region names disagree with "+n.cfg.Schema+".idgen_regions; showing the stored ones "+
			"(idgen.regions should be the same in every region's config)", "configured", dropped, "stored", stored)
	}
}

// mergeRegionNames adds the stored names to the configured ones. Stored
// names win, because each was stored by a node of that region from its own
// config; configured entries they contradict (same number, other name, or
// the reverse) are left out and returned as "number=name".
func mergeRegionNames(configured, stored map[int]string) (merged map[int]string, dropped []string) {
	storedNum := make(map[string]int, len(stored))
	for r, name := range stored {
		storedNum[name] = r
	}
	merged = make(map[int]string, len(configured)+len(stored))
	for r, name := range configured {
		sname, numStored := stored[r]
		snum, nameStored := storedNum[name]
		if numStored && sname != name || nameStored && snum != r {
			dropped = append(dropped, fmt.Sprintf("%d=%s", r, name))
			continue
		}
		merged[r] = name
	}
	maps.Copy(merged, stored)
	slices.Sort(dropped)
	return merged, dropped
}

// acquire retries until it holds a lease or ctx is done. at is the clock
// reading taken before the request: the lease deadline counts from it,
// because the database's expiry counts from a later instant.
func (n *Node) acquire(ctx context.Context) (_ Lease, at time.Time, _ error) {
	n.setPhase(PhaseAcquiring)
	var rl retryLog
	for attempt := 1; ; attempt++ {
		at = n.clock.Now()
		u := n.layout.unitOf(at)
		cctx, cancel := context.WithTimeout(ctx, n.opTimeout)
		l, err := n.store.Acquire(cctx, AcquireRequest{
			Region: n.cfg.Region, Nodes: n.layout.Nodes(), Owner: n.cfg.Owner,
			TTL: n.cfg.LeaseTTL, Now: u, HighWater: u + n.reserveUnits,
		})
		cancel()
		if err == nil {
			rl.recovered(n.log, "lease acquisition")
			n.acquisitions.Add(1)
			n.log.Info("lease acquired", "node", l.Node, "epoch", l.Epoch,
				"floor", n.layout.timeOf(l.Floor), "owner", l.Owner)
			return l, at, nil
		}
		if ctx.Err() != nil {
			return Lease{}, at, ctx.Err()
		}
		n.setErr(err)
		rl.failed(n.log, "lease acquisition", err)
		if !sleepCtx(ctx, backoff(attempt, n.cfg.RenewInterval)) {
			return Lease{}, at, ctx.Err()
		}
	}
}

// hold waits for the clock to pass the lease's floor, issues, and renews
// until ctx is done (release, nil), the lease is lost (ErrLeaseLost) or the
// clock is too far behind (ClockBehindError, after release).
func (n *Node) hold(ctx context.Context, lease Lease, acquiredAt time.Time) error {
	deadline := acquiredAt.Add(n.cfg.LeaseTTL - n.margin)
	n.noteLease(lease, acquiredAt)
	active := false
	waitStart := n.clock.Now()

	waitT := time.NewTimer(0) // armed only while waiting for the clock
	defer waitT.Stop()
	renewT := time.NewTimer(n.cfg.RenewInterval)
	defer renewT.Stop()
	var rl retryLog
	fails := 0

	for {
		select {
		case <-ctx.Done():
			n.release(ctx, lease, active)
			return nil

		case <-waitT.C:
			now := n.clock.Now()
			behind := n.layout.timeOf(lease.Floor).Sub(now)
			if behind <= 0 {
				n.gen.activate(int64(n.layout.MachineID(lease.Region, lease.Node)), lease.Floor, lease.HighWater, deadline)
				active = true
				n.setPhase(PhaseIssuing)
				n.readyOnce.Do(func() { close(n.ready) })
				if lease.HighWater-n.layout.unitOf(now) < n.reserveUnits/2 {
					n.requestRenew() // the reservation aged while we waited
				}
				continue
			}
			if waited := now.Sub(waitStart); waited+behind > n.cfg.MaxClockWait {
				n.release(ctx, lease, false)
				return &ClockBehindError{Region: lease.Region, Node: lease.Node, HighWater: n.layout.timeOf(lease.Floor),
					Now: now, Behind: behind, MaxWait: n.cfg.MaxClockWait}
			}
			if n.setPhase(PhaseWaitingClock) {
				n.log.Warn("clock is behind the high-water mark of the leased node id; waiting",
					"node", lease.Node, "behind", behind, "max_clock_wait", n.cfg.MaxClockWait)
			}
			waitT.Reset(min(behind, clockPollInterval))
			continue

		case <-renewT.C:
		case <-n.kick:
		}
		if ctx.Err() != nil {
			continue // release at the top
		}

		start := n.clock.Now()
		cctx, cancel := context.WithTimeout(ctx, n.opTimeout)
		l, err := n.store.Renew(cctx, lease, n.cfg.LeaseTTL, n.layout.unitOf(start)+n.reserveUnits)
		cancel()
		switch {
		case err == nil:
			lease = l
			deadline = start.Add(n.cfg.LeaseTTL - n.margin)
			n.gen.extend(l.HighWater, deadline)
			n.renewals.Add(1)
			n.noteRenew(l, start)
			rl.recovered(n.log, "lease renewal")
			fails = 0
			renewT.Reset(n.cfg.RenewInterval)
		case errors.Is(err, ErrLeaseLost):
			if active {
				n.gen.deactivate()
			}
			n.clearLease()
			n.setErr(err)
			return err
		case ctx.Err() != nil:
			// Stopping; the next iteration releases.
		default:
			fails++
			n.renewFailures.Add(1)
			n.setErr(err)
			rl.failed(n.log, "lease renewal", err, "node", lease.Node,
				"stops_issuing_in", deadline.Sub(n.clock.Now()).Round(time.Millisecond))
			renewT.Reset(backoff(fails, n.cfg.RenewInterval/2))
		}
	}
}

// release stops issuing and gives the node ID back with the mark lowered to
// what was really issued, so the next holder need not wait for the
// reservation. Failure only delays reuse until the lease expires.
func (n *Node) release(ctx context.Context, lease Lease, active bool) {
	hw := lease.Floor
	if active {
		hw = max(hw, n.gen.deactivate())
	}
	n.clearLease()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseGracePeriod)
	defer cancel()
	if err := n.store.Release(cctx, lease, hw); err != nil {
		n.log.Warn("lease release failed; it will expire by itself", "node", lease.Node, "error", err)
		return
	}
	n.log.Info("lease released", "node", lease.Node, "high_water", n.layout.timeOf(hw))
}

func (n *Node) setPhase(p string) (changed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	changed = n.phase != p
	n.phase = p
	return changed
}

func (n *Node) setErr(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lastErr = err.Error()
}

func (n *Node) noteLease(l Lease, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lease, n.hasLease, n.lastRenew, n.lastErr = l, true, at, ""
}

func (n *Node) noteRenew(l Lease, at time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lease, n.lastRenew, n.lastErr = l, at, ""
}

func (n *Node) clearLease() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hasLease = false
}

// NodeState is what /healthz reports.
type NodeState struct {
	Phase string `json:"phase"`
	// Issuing is true when a call made now would not be refused for lease
	// or clock reasons (it may still hit a momentarily exhausted sequence).
	Issuing    bool   `json:"issuing"`
	Region     int    `json:"region"`
	RegionName string `json:"region_name,omitempty"`
	Node       int    `json:"node"` // -1 without a lease
	Machine    int    `json:"machine"`
	Owner      string `json:"owner"`
	Epoch      uint64 `json:"epoch,omitempty"`
	// LeaseDeadline is when this node stops issuing unless it renews.
	LeaseDeadline  time.Time         `json:"lease_deadline,omitzero"`
	LeaseRemaining float64           `json:"lease_remaining_seconds"`
	LastRenew      time.Time         `json:"last_renew,omitzero"`
	Floor          time.Time         `json:"floor,omitzero"`      // mark found at acquisition
	HighWater      time.Time         `json:"high_water,omitzero"` // persisted mark
	LastIssued     time.Time         `json:"last_issued,omitzero"`
	ClockLead      float64           `json:"clock_lead_seconds"` // last issued minus now
	ClockOK        bool              `json:"clock_ok"`
	Issued         uint64            `json:"issued"`
	Refused        map[string]uint64 `json:"refused"`
	Renewals       uint64            `json:"renewals"`
	RenewFailures  uint64            `json:"renew_failures"`
	LeasesLost     uint64            `json:"leases_lost"`
	Acquisitions   uint64            `json:"acquisitions"`
	LastError      string            `json:"last_error,omitempty"`
	Layout         Layout            `json:"layout"`
	Now            time.Time         `json:"now"`
	// HighWaterLead is how far the persisted mark is ahead of the clock.
	HighWaterLead float64 `json:"high_water_lead_seconds"`
}

// State reports lease and clock state.
func (n *Node) State() NodeState {
	g := n.gen.state()
	n.mu.Lock()
	s := NodeState{
		Phase: n.phase, Region: n.cfg.Region, RegionName: n.names[n.cfg.Region], Node: -1, Owner: n.cfg.Owner,
		LastError: n.lastErr, Layout: n.layout, Now: g.now, Issued: g.issued,
		Renewals: n.renewals.Load(), RenewFailures: n.renewFailures.Load(),
		LeasesLost: n.leasesLost.Load(), Acquisitions: n.acquisitions.Load(),
		Refused: make(map[string]uint64, numRefusals),
	}
	if n.hasLease {
		s.Node, s.Epoch, s.LastRenew = n.lease.Node, n.lease.Epoch, n.lastRenew
		s.Machine = n.layout.MachineID(n.lease.Region, n.lease.Node)
		s.Floor = n.layout.timeOf(n.lease.Floor)
	}
	n.mu.Unlock()
	for i, v := range g.refused {
		s.Refused[refusalNames[i]] = v
	}
	if g.active {
		s.LeaseDeadline = g.deadline
		s.LeaseRemaining = g.deadline.Sub(g.now).Seconds()
		s.HighWater = n.layout.timeOf(g.reserved)
		s.HighWaterLead = s.HighWater.Sub(g.now).Seconds()
		s.ClockOK = g.clockOK
		if g.elapsed >= g.floor {
			s.LastIssued = n.layout.timeOf(g.elapsed)
			s.ClockLead = s.LastIssued.Sub(g.now).Seconds()
		}
		s.Issuing = s.LeaseRemaining > 0 && g.clockOK && n.layout.unitOf(g.now) < g.reserved
	}
	return s
}

// retryLog logs the first failure of a retry loop, then at most once per
// errorLogInterval, and once when the loop recovers.
type retryLog struct {
	fails   int
	lastLog time.Time
}

func (r *retryLog) failed(log *slog.Logger, what string, err error, args ...any) {
	r.fails++
	if r.fails == 1 || time.Since(r.lastLog) >= errorLogInterval {
		r.lastLog = time.Now()
		log.Error(what+" failed; retrying", append(args, "consecutive_failures", r.fails, "error", err)...)
	}
}

func (r *retryLog) recovered(log *slog.Logger, what string) {
	if r.fails > 0 {
		log.Info(what+" recovered", "after_failures", r.fails)
	}
	r.fails = 0
}

// backoff is capped exponential: 50ms, 100ms, ... up to limit.
func backoff(attempt int, limit time.Duration) time.Duration {
	d := minRetryBackoff << min(attempt-1, 20)
	return max(min(d, limit), minRetryBackoff)
}

// sleepCtx sleeps d or until ctx is done; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
