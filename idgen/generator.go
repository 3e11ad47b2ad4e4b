package idgen

import (
	"sync"
	"time"
)

// refusal indexes generator.refused, for the drc_idgen_refusals_total metric.
type refusal int

const (
	refNotIssuing refusal = iota
	refLeaseExpiring
	refNotReserved
	refClockBackward
	refSequenceExhausted
	refOverTimeLimit
	numRefusals
)

var refusalNames = [numRefusals]string{"not_issuing", "lease_expiring", "not_reserved",
	"clock_backward", "sequence_exhausted", "over_time_limit"}

var refusalErrs = [numRefusals]error{ErrNotIssuing, ErrLeaseExpiring, ErrNotReserved,
	ErrClockBackward, ErrSequenceExhausted, ErrOverTimeLimit}

// generator issues the IDs of one leased machine ID. It composes exactly the
// IDs sonyflake's NextID would (time<<(seq+machine) | seq<<machine |
// machine, time = now/unit - start/unit), but keeps its own sequence state,
// because sonyflake v2.2.0's NextID
//   - sleeps while holding its lock when the sequence of a unit runs out,
//     and, after a backward clock step, for as long as the step;
//   - starts from time zero in every process, so it cannot honour a
//     persisted high-water mark;
//   - reads time.Now directly, so tests cannot step its clock.
//
// Instead the generator never sleeps: every refusal is an error returned at
// once, and the caller decides whether to wait (Node.Next waits, outside
// any lock, for the next time unit when the sequence runs out).
//
// Invariants, while active:
//   - floor-1 <= elapsed < reserved: every issued time part is at or above
//     the floor found at acquisition and below the persisted mark;
//   - elapsed - unit(now) <= budget: issued time never runs further ahead
//     of the clock than the backward-step budget;
//   - now < deadline: the lease is valid (by the monotonic clock).
type generator struct {
	clock       Clock
	sysClock    bool // clock is SystemClock
	unitNs      int64
	startUnits  int64
	timeLimit   int64 // 1 << time bits
	timeShift   uint  // sequence bits + machine bits
	machineBits uint
	seqMask     int64
	budget      int64  // in units
	lowWater    int64  // units of reservation left below which onLow is called
	onLow       func() // asks for an early renewal; must not block

	mu       sync.Mutex
	active   bool
	machine  int64
	floor    int64
	elapsed  int64 // time part of the last ID issued (floor-1 before the first)
	seq      int64
	reserved int64 // exclusive: the persisted high-water mark
	deadline time.Time
	issued   uint64
	refused  [numRefusals]uint64
}

func newGenerator(l Layout, clock Clock, budget time.Duration, lowWater time.Duration, onLow func()) *generator {
	return &generator{
		clock:       clock,
		sysClock:    clock == Clock(SystemClock{}),
		unitNs:      int64(l.TimeUnit),
		startUnits:  l.startUnits(),
		timeLimit:   1 << l.TimeBits(),
		timeShift:   uint(l.SequenceBits + l.MachineBits()),
		machineBits: uint(l.MachineBits()),
		seqMask:     1<<l.SequenceBits - 1,
		budget:      int64(budget / l.TimeUnit),
		lowWater:    int64(lowWater / l.TimeUnit),
		onLow:       onLow,
	}
}

// activate starts issuing for machine. floor is the high-water mark found
// when the lease was taken: every ID issued earlier under this machine ID,
// by any process, has a time part below it.
func (g *generator) activate(machine, floor, reserved int64, deadline time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active = true
	g.machine = machine
	g.floor = floor
	// The next ID in unit floor-1 would overflow the sequence into unit
	// floor, so nothing below the floor is ever issued.
	g.elapsed = floor - 1
	g.seq = g.seqMask
	g.reserved = reserved
	g.deadline = deadline
}

// extend records a successful renewal.
func (g *generator) extend(reserved int64, deadline time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if reserved > g.reserved {
		g.reserved = reserved
	}
	g.deadline = deadline
}

// deactivate stops issuing and returns the high-water mark that is true of
// what was issued: one past the last issued time part (the floor if none).
func (g *generator) deactivate() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active = false
	return g.elapsed + 1
}

// nextID issues one ID or refuses at once. It is the hot path: the common
// cases (a new unit well inside the reservation, or the next sequence
// number of the current unit) are decided inline, the rest by step.
func (g *generator) nextID() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Read the clock under the lock, like sonyflake: a goroutine preempted
	// between reading the clock and locking would otherwise look like a
	// backward step. time.Now is called directly for the system clock
	// because it is most of the cost of an ID and the interface call shows.
	var now time.Time
	if g.sysClock {
		now = time.Now()
	} else {
		now = g.clock.Now()
	}
	if !g.active || !now.Before(g.deadline) {
		return 0, g.refuse(g.check(now))
	}
	u := now.UnixNano()/g.unitNs - g.startUnits
	switch {
	case u > g.elapsed && u < g.reserved-g.lowWater && u < g.timeLimit:
		g.elapsed, g.seq = u, 0
	case u <= g.elapsed && u >= g.elapsed-g.budget && g.seq < g.seqMask:
		g.seq++
	default:
		if r := g.step(u); r != numRefusals {
			return 0, g.refuse(r)
		}
	}
	g.issued++
	return g.elapsed<<g.timeShift | g.seq<<g.machineBits | g.machine, nil
}

// fill issues len(dst) IDs under one lock and one clock reading, or as many
// as it can before a refusal, which it returns with the count.
func (g *generator) fill(dst []int64) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var now time.Time
	if g.sysClock {
		now = time.Now()
	} else {
		now = g.clock.Now()
	}
	if r := g.check(now); r != numRefusals {
		return 0, g.refuse(r)
	}
	u := now.UnixNano()/g.unitNs - g.startUnits
	for i := range dst {
		if r := g.step(u); r != numRefusals {
			g.issued += uint64(i)
			return i, g.refuse(r)
		}
		dst[i] = g.elapsed<<g.timeShift | g.seq<<g.machineBits | g.machine
	}
	g.issued += uint64(len(dst))
	return len(dst), nil
}

func (g *generator) check(now time.Time) refusal {
	if !g.active {
		return refNotIssuing
	}
	if !now.Before(g.deadline) {
		return refLeaseExpiring
	}
	return numRefusals
}

// step advances (elapsed, seq) to the next free slot for clock unit u, or
// says why it cannot. It never changes state when it refuses.
func (g *generator) step(u int64) refusal {
	switch {
	case u > g.elapsed:
		if u >= g.reserved {
			g.onLow()
			return refNotReserved
		}
		if u >= g.timeLimit {
			return refOverTimeLimit
		}
		if g.reserved-u < g.lowWater {
			g.onLow()
		}
		g.elapsed, g.seq = u, 0
	case u < g.elapsed-g.budget:
		return refClockBackward
	case g.seq < g.seqMask:
		g.seq++
	default:
		// Sequence used up: borrow the next unit if that keeps issued time
		// within the budget ahead of the clock (sonyflake borrows too, but
		// then sleeps under its lock).
		if g.elapsed+1-u > g.budget {
			return refSequenceExhausted
		}
		if g.elapsed+1 >= g.reserved {
			g.onLow()
			return refNotReserved
		}
		if g.elapsed+1 >= g.timeLimit {
			return refOverTimeLimit
		}
		g.elapsed, g.seq = g.elapsed+1, 0
	}
	return numRefusals
}

func (g *generator) refuse(r refusal) error {
	g.refused[r]++
	return refusalErrs[r]
}

// genState is a snapshot for health and metrics.
type genState struct {
	active   bool
	machine  int64
	floor    int64
	elapsed  int64
	reserved int64
	deadline time.Time
	issued   uint64
	refused  [numRefusals]uint64
	now      time.Time
	// clockOK is false when the clock is more than the budget behind the
	// last issued time, i.e. the next call would return ErrClockBackward.
	clockOK bool
}

func (g *generator) state() genState {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	u := now.UnixNano()/g.unitNs - g.startUnits
	return genState{
		active: g.active, machine: g.machine, floor: g.floor, elapsed: g.elapsed,
		reserved: g.reserved, deadline: g.deadline, issued: g.issued, refused: g.refused,
		now: now, clockOK: u >= g.elapsed-g.budget,
	}
}
