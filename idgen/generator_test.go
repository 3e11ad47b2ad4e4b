package idgen

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// testLayout: 1ms units, 4 IDs per unit, so exhaustion is easy to reach.
func testLayout() Layout {
	return Layout{TimeUnit: time.Millisecond, StartTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		SequenceBits: 2, RegionBits: 2, NodeBits: 3}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestGenerator(l Layout, c Clock, budget time.Duration) (*generator, *int) {
	kicks := new(int)
	g := newGenerator(l, c, budget, 0, func() { *kicks++ })
	return g, kicks
}

func TestGeneratorComposesSonyflakeIDs(t *testing.T) {
	l := testLayout()
	clk := newFakeClock(t0.Add(123 * time.Microsecond))
	g, _ := newTestGenerator(l, clk, 0)
	machine := l.MachineID(2, 5)
	floor := l.unitOf(t0)
	g.activate(int64(machine), floor, floor+1000, t0.Add(time.Hour))
	sf, err := l.sonyflake()
	if err != nil {
		t.Fatal(err)
	}
	for seq := 0; seq < 4; seq++ {
		got, err := g.nextID()
		if err != nil {
			t.Fatal(err)
		}
		want, err := sf.Compose(clk.Now(), seq, machine)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("seq %d: got %d, sonyflake composes %d", seq, got, want)
		}
		p, _ := Decompose(got, l)
		if p.Region != 2 || p.Node != 5 || p.Sequence != seq || !p.Time.Equal(t0) {
			t.Fatalf("seq %d: decomposed %+v", seq, p)
		}
	}
}

func TestGeneratorRefusals(t *testing.T) {
	l := testLayout()
	base := l.unitOf(t0)
	tests := []struct {
		name    string
		budget  time.Duration
		steps   []time.Duration // clock offsets from t0, one call each
		wantOK  int             // calls expected to succeed before the last
		wantErr error           // of the last call
	}{
		// 4 per unit, no budget: the 5th in the same unit is refused.
		{"exhausted without budget", 0, repeat(0, 5), 4, ErrSequenceExhausted},
		// Budget 2 units: borrow units +1 and +2, then refuse.
		{"borrows up to budget", 2 * time.Millisecond, repeat(0, 13), 12, ErrSequenceExhausted},
		// A step back within the budget continues the sequence.
		{"small step absorbed", 2 * time.Millisecond, []time.Duration{5 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond}, 3, nil},
		// A step back beyond the budget is refused at once.
		{"large step refused", 2 * time.Millisecond, []time.Duration{5 * time.Millisecond, 2 * time.Millisecond}, 1, ErrClockBackward},
		{"hour step refused", 2 * time.Millisecond, []time.Duration{5 * time.Millisecond, -time.Hour}, 1, ErrClockBackward},
		// The reservation ends at base+10.
		{"not reserved", 0, []time.Duration{9 * time.Millisecond, 10 * time.Millisecond}, 1, ErrNotReserved},
		// The lease deadline is t0+20ms.
		{"deadline", 0, []time.Duration{time.Millisecond, 20 * time.Millisecond}, 1, ErrLeaseExpiring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock(t0)
			g, _ := newTestGenerator(l, clk, tt.budget)
			g.activate(1, base, base+10, t0.Add(20*time.Millisecond))
			var ids []int64
			var err error
			for i, d := range tt.steps {
				clk.Set(t0.Add(d))
				var id int64
				id, err = g.nextID()
				if i < len(tt.steps)-1 && err != nil {
					t.Fatalf("call %d at %s: %v", i, d, err)
				}
				if err == nil {
					ids = append(ids, id)
				}
			}
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Fatalf("last call: got %v, want %v", err, tt.wantErr)
			}
			if len(ids) != tt.wantOK {
				t.Fatalf("issued %d, want %d", len(ids), tt.wantOK)
			}
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Fatalf("ids not strictly increasing: %v", ids)
			}
			for _, id := range ids {
				p, _ := Decompose(id, l)
				if lead := p.Elapsed - base - 5; tt.name == "small step absorbed" && lead > 0 {
					t.Fatalf("issued time ran %d units ahead of the first", lead)
				}
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func TestGeneratorNeverBelowFloor(t *testing.T) {
	l := testLayout()
	clk := newFakeClock(t0)
	g, _ := newTestGenerator(l, clk, 5*time.Millisecond)
	floor := l.unitOf(t0)
	g.activate(1, floor, floor+100, t0.Add(time.Hour))
	// Clock one unit behind the floor, within budget: the first ID must
	// still be at the floor, not below it.
	clk.Set(t0.Add(-time.Millisecond))
	id, err := g.nextID()
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := Decompose(id, l); p.Elapsed != floor {
		t.Fatalf("first ID at unit %d, want floor %d", p.Elapsed, floor)
	}
	if hw := g.deactivate(); hw != floor+1 {
		t.Fatalf("deactivate mark %d, want %d", hw, floor+1)
	}
	if _, err := g.nextID(); !errors.Is(err, ErrNotIssuing) {
		t.Fatalf("after deactivate: %v, want ErrNotIssuing", err)
	}
}

func TestGeneratorFillStopsAtRefusal(t *testing.T) {
	l := testLayout()
	clk := newFakeClock(t0)
	g, kicks := newTestGenerator(l, clk, time.Millisecond)
	base := l.unitOf(t0)
	g.activate(1, base, base+1, t0.Add(time.Hour)) // only unit base is reserved
	dst := make([]int64, 10)
	n, err := g.fill(dst)
	if n != 4 || !errors.Is(err, ErrNotReserved) {
		t.Fatalf("fill = %d, %v; want 4, ErrNotReserved", n, err)
	}
	if *kicks == 0 {
		t.Fatalf("refusal for want of reservation did not ask for renewal")
	}
	g.extend(base+10, t0.Add(time.Hour))
	n, err = g.fill(dst)
	if n != 4 || !errors.Is(err, ErrSequenceExhausted) {
		t.Fatalf("after extend: fill = %d, %v; want 4 (one borrowed unit), ErrSequenceExhausted", n, err)
	}
	st := g.state()
	if st.issued != 8 || st.refused[refNotReserved] != 1 || st.refused[refSequenceExhausted] != 1 {
		t.Fatalf("state counters %+v", st)
	}
}

func TestGeneratorOverTimeLimit(t *testing.T) {
	l := Layout{TimeUnit: time.Millisecond, StartTime: time.Unix(0, 0), SequenceBits: 20, RegionBits: 1, NodeBits: 10}
	// 32 time bits of 1ms from 1970 ran out in 1970.
	clk := newFakeClock(time.Unix(0, 0).Add(50 * 24 * time.Hour))
	g, _ := newTestGenerator(l, clk, 0)
	u := l.unitOf(clk.Now())
	g.activate(1, u, u+10, clk.Now().Add(time.Hour))
	if _, err := g.nextID(); !errors.Is(err, ErrOverTimeLimit) {
		t.Fatalf("got %v, want ErrOverTimeLimit", err)
	}
}
