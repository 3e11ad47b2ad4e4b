package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/drc-dev/drc/internal/gtid"
)

// world is a fake source, target and applier. The source commits
// transactions to a log (its GTIDs are 0-1-<n>); the applier applies the log
// to the target when settling waits for it, and on its way may overshoot
// (the target ahead of the position read). Hot keys are written on every
// read, as under a busy workload, except while they are locked.
type world struct {
	mu      sync.Mutex
	src     map[int]string
	tgt     map[int]string
	log     []write
	applied int
	locked  map[int]bool
	queued  []write // writes blocked by locks
	hot     []int
	step    int
	stuck   bool // the applier makes no progress
	ahead   int  // how far past a position the applier goes
}

type write struct {
	key int
	val string // "" deletes
}

func newWorld(n int) *world {
	w := &world{src: map[int]string{}, tgt: map[int]string{}, locked: map[int]bool{}}
	for i := 1; i <= n; i++ {
		w.src[i] = fmt.Sprint("v", i)
		w.tgt[i] = fmt.Sprint("v", i)
	}
	return w
}

func (w *world) commit(wr write) {
	if w.locked[wr.key] {
		w.queued = append(w.queued, wr)
		return
	}
	if wr.val == "" {
		delete(w.src, wr.key)
	} else {
		w.src[wr.key] = wr.val
	}
	w.log = append(w.log, wr)
}

// tick is the workload: every hot key is written once.
func (w *world) tick() {
	w.step++
	for _, k := range w.hot {
		w.commit(write{k, fmt.Sprintf("hot %d", w.step)})
	}
}

func (w *world) pos() gtid.Set {
	s, err := gtid.Parse(string(FlavorMariaDB), fmt.Sprintf("0-1-%d", len(w.log)))
	if err != nil {
		panic(err)
	}
	return s
}

func (w *world) applyTo(n int) {
	for ; w.applied < n && w.applied < len(w.log); w.applied++ {
		wr := w.log[w.applied]
		if wr.val == "" {
			delete(w.tgt, wr.key)
		} else {
			w.tgt[wr.key] = wr.val
		}
	}
}

func (w *world) rows(m map[int]string, keys []rowKey) map[string]rowImage {
	out := map[string]rowImage{}
	for _, k := range keys {
		if v, ok := m[keyInt(k)]; ok {
			out[k.id()] = rowImage{k[0], []byte(v)}
		}
	}
	return out
}

func (w *world) settler(settle bool) *settler {
	return &settler{
		settle: settle, rounds: 3, timeout: 200 * time.Millisecond, lockWait: 50 * time.Millisecond,
		columns: []string{"id", "v"},
		waitFor: func(_ context.Context, pos gtid.Set, _ time.Duration) (bool, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.stuck {
				return false, nil
			}
			var want int // the world's positions are 0-1-n
			fmt.Sscanf(pos.String(), "0-1-%d", &want)
			w.applyTo(want + w.ahead)
			return true, nil
		},
		sourcePos: func(context.Context) (gtid.Set, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.pos(), nil
		},
		readSource: func(_ context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.tick()
			return w.rows(w.src, keys), w.pos(), nil
		},
		readTarget: func(_ context.Context, keys []rowKey) (map[string]rowImage, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.tick()
			// The applier keeps going while we read: lag, and sometimes
			// past the position we waited for.
			w.applyTo(w.applied + 1)
			return w.rows(w.tgt, keys), nil
		},
		lockSource: func(_ context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.tick()
			for _, k := range keys {
				w.locked[keyInt(k)] = true
			}
			return w.rows(w.src, keys), w.pos(), nil
		},
		release: func(context.Context) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.locked = map[int]bool{}
			q := w.queued
			w.queued = nil
			for _, wr := range q {
				w.commit(wr)
			}
		},
	}
}

func settleAll(t *testing.T, s *settler, keys []rowKey, pos gtid.Set) ([]confirmed, []unsettledKey) {
	t.Helper()
	ctx := context.Background()
	pending, uns, err := s.filter(ctx, keys, pos)
	if err != nil {
		t.Fatal(err)
	}
	diffs, uns2, err := s.confirm(ctx, pending, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	return diffs, append(uns, uns2...)
}

func diffKeys(ds []confirmed) []int {
	var ks []int
	for _, d := range ds {
		ks = append(ks, keyInt(d.key))
	}
	slices.Sort(ks)
	return ks
}

// TestSettleLagIsNotDrift: rows that differ only because the applier lags
// (including hot rows written all the time, and an applier that overshoots
// the position waited for) are never confirmed; real drift is.
func TestSettleLagIsNotDrift(t *testing.T) {
	for _, ahead := range []int{0, 1, 5} {
		t.Run(fmt.Sprint("ahead", ahead), func(t *testing.T) {
			w := newWorld(100)
			w.ahead = ahead
			w.hot = []int{3, 4, 5}
			// Lag: source writes not yet applied.
			for _, k := range []int{10, 11, 12} {
				w.commit(write{k, "new"})
			}
			w.commit(write{13, ""})
			w.commit(write{200, "inserted"})
			// Drift: the target changed behind replication's back.
			w.tgt[50] = "drifted"
			delete(w.tgt, 51)
			w.tgt[300] = "extra"
			w.tick()
			pos := w.pos()

			var keys []rowKey
			for _, k := range []int{3, 4, 5, 10, 11, 12, 13, 200, 50, 51, 300} {
				keys = append(keys, intKey(k))
			}
			diffs, uns := settleAll(t, w.settler(true), keys, pos)
			if len(uns) != 0 {
				t.Errorf("unsettled: %v", uns)
			}
			if got, want := diffKeys(diffs), []int{50, 51, 300}; !slices.Equal(got, want) {
				t.Fatalf("confirmed %v, want %v", got, want)
			}
			kinds := map[int]Kind{}
			for _, d := range diffs {
				kinds[keyInt(d.key)] = d.kind
			}
			if kinds[50] != KindChanged || kinds[51] != KindMissing || kinds[300] != KindExtra {
				t.Errorf("kinds = %v", kinds)
			}
			for _, d := range diffs {
				if d.kind == KindChanged && !slices.Equal(d.columns, []string{"v"}) {
					t.Errorf("changed columns = %v", d.columns)
				}
			}
		})
	}
}

// TestSettleNoRoundsStillExact: without the cheap rounds every candidate
// goes straight to the locking confirmation, which alone must be exact.
func TestSettleNoRoundsStillExact(t *testing.T) {
	w := newWorld(20)
	w.ahead = 3
	w.hot = []int{1, 2}
	w.tgt[7] = "drifted"
	w.tick()
	s := w.settler(true)
	s.rounds = 0
	diffs, uns := settleAll(t, s, []rowKey{intKey(1), intKey(2), intKey(7)}, w.pos())
	if len(uns) != 0 {
		t.Errorf("unsettled: %v", uns)
	}
	if got := diffKeys(diffs); !slices.Equal(got, []int{7}) {
		t.Fatalf("confirmed %v, want [7]", got)
	}
}

// TestSettleTimeoutIsUnsettled: when the applier does not catch up, the
// candidates are unsettled, never drift.
func TestSettleTimeoutIsUnsettled(t *testing.T) {
	w := newWorld(10)
	w.commit(write{1, "lagging"})
	w.tgt[2] = "drifted"
	w.stuck = true
	diffs, uns := settleAll(t, w.settler(true), []rowKey{intKey(1), intKey(2)}, w.pos())
	if len(diffs) != 0 {
		t.Errorf("confirmed %v while the applier was stuck", diffKeys(diffs))
	}
	if len(uns) != 2 {
		t.Fatalf("unsettled = %v, want both keys", uns)
	}
}

// TestSettleOff: with settling off nothing waits; a plain comparison
// decides (nothing replicates into the target).
func TestSettleOff(t *testing.T) {
	w := newWorld(10)
	w.tgt[4] = "drifted"
	s := w.settler(false)
	s.waitFor = func(context.Context, gtid.Set, time.Duration) (bool, error) {
		t.Fatal("waited for a checkpoint with settling off")
		return false, nil
	}
	diffs, uns := settleAll(t, s, []rowKey{intKey(4), intKey(5)}, gtid.Set{})
	if len(uns) != 0 || !slices.Equal(diffKeys(diffs), []int{4}) {
		t.Fatalf("diffs %v unsettled %v", diffKeys(diffs), uns)
	}
}

// TestConfirmAppliesWhileLocked: repairs run inside the lock window, with
// the source rows locked.
func TestConfirmAppliesWhileLocked(t *testing.T) {
	w := newWorld(10)
	w.tgt[4] = "drifted"
	w.hot = []int{5}
	s := w.settler(true)
	var sawLocked bool
	apply := func(_ context.Context, ds []confirmed) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, d := range ds {
			sawLocked = w.locked[keyInt(d.key)]
			w.tgt[keyInt(d.key)] = string(d.src[1])
		}
		return nil
	}
	diffs, _, err := s.confirm(context.Background(), []rowKey{intKey(4)}, 10, apply)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || !sawLocked {
		t.Errorf("diffs %v, repaired under lock: %v", diffKeys(diffs), sawLocked)
	}
	again, _, err := s.confirm(context.Background(), []rowKey{intKey(4)}, 10, nil)
	if err != nil || len(again) != 0 {
		t.Errorf("after repair: %v, %v", diffKeys(again), err)
	}
}

func TestDiffRowNullVersusEmpty(t *testing.T) {
	s := &settler{columns: []string{"id", "v"}}
	d, differ := s.diffRow(intKey(1), rowImage{[]byte("1"), nil}, rowImage{[]byte("1"), []byte{}})
	if !differ || d.kind != KindChanged || !slices.Equal(d.columns, []string{"v"}) {
		t.Errorf("NULL vs '': %+v %v", d, differ)
	}
	if _, differ := s.diffRow(intKey(1), rowImage{[]byte("1"), []byte("a ")}, rowImage{[]byte("1"), []byte("a ")}); differ {
		t.Error("equal rows differ")
	}
	if _, differ := s.diffRow(intKey(1), rowImage{[]byte("1"), []byte("a ")}, rowImage{[]byte("1"), []byte("a")}); !differ {
		t.Error("trailing space not seen")
	}
}
