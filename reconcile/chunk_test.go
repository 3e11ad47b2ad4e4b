package reconcile

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"testing"
	"time"
)

// walk runs a planner to the end and returns every part, checking that
// consecutive parts share their bounds (no gap, no overlap).
func walk(t *testing.T, pl planner, rowsPerPart func(keyRange) int64, elapsed time.Duration) []keyRange {
	t.Helper()
	var all []keyRange
	var lo rowKey
	for i := 0; i < 100000; i++ {
		parts, last, err := pl.next(context.Background(), lo)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) == 0 {
			t.Fatal("empty chunk")
		}
		rows := make([]int64, len(parts))
		for j, p := range parts {
			if j == 0 && p.Lo.id() != lo.id() {
				t.Fatalf("chunk starts at %q, want %q", p.Lo, lo)
			}
			if j > 0 && p.Lo.id() != parts[j-1].Hi.id() {
				t.Fatalf("gap between parts: %q then %q", parts[j-1].Hi, p.Lo)
			}
			rows[j] = rowsPerPart(p)
		}
		pl.feedback(rows, elapsed)
		all = append(all, parts...)
		hi := parts[len(parts)-1].Hi
		if last {
			if hi != nil {
				t.Fatalf("last chunk ends at %q, want open", hi)
			}
			return all
		}
		if hi == nil {
			t.Fatal("open part in a chunk that is not last")
		}
		lo = hi
	}
	t.Fatal("planner did not finish")
	return nil
}

func inRange(k int64, r keyRange) bool {
	if r.Lo != nil {
		lo, _ := strconv.ParseInt(string(r.Lo[0]), 10, 64)
		if k <= lo {
			return false
		}
	}
	if r.Hi != nil {
		hi, _ := strconv.ParseInt(string(r.Hi[0]), 10, 64)
		if k > hi {
			return false
		}
	}
	return true
}

func TestIntPlannerCoversKeys(t *testing.T) {
	// Dense ids, a big gap, negative keys, and keys beyond the start-time
	// bounds (inserted later or only on the target).
	var keys []int64
	for i := int64(1); i <= 5000; i++ {
		keys = append(keys, i)
	}
	for i := int64(1_000_000_000); i < 1_000_000_000+3000; i += 3 {
		keys = append(keys, i)
	}
	keys = append(keys, -7, -3)
	count := func(r keyRange) int64 {
		var n int64
		for _, k := range keys {
			if inRange(k, r) {
				n++
			}
		}
		return n
	}
	nextKey := func(_ context.Context, after rowKey) ([]byte, error) {
		a, _ := strconv.ParseInt(string(after[0]), 10, 64)
		best := int64(-1)
		for _, k := range keys {
			if k > a && (best == -1 || k < best) {
				best = k
			}
		}
		if best == -1 {
			return nil, nil
		}
		return []byte(strconv.FormatInt(best, 10)), nil
	}
	// The planner is told the range is 1..1_000_002_997; -7, -3 are below it.
	pl := newIntPlanner(100, 50*time.Millisecond, []byte("1"), []byte("1000002997"), int64(len(keys)), nextKey)
	parts := walk(t, pl, count, 10*time.Millisecond)
	for _, k := range append(keys, 2_000_000_000) {
		n := 0
		for _, p := range parts {
			if inRange(k, p) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("key %d is in %d parts", k, n)
		}
	}
	// The gap must be skipped, not stepped through part by part.
	if len(parts) > 500 {
		t.Errorf("%d parts for %d keys: the gap was not skipped", len(parts), len(keys))
	}
}

func TestIntPlannerEmptyTable(t *testing.T) {
	pl := newIntPlanner(100, time.Second, nil, nil, 0, nil)
	parts, last, err := pl.next(context.Background(), nil)
	if err != nil || !last || len(parts) != 1 || parts[0].Lo != nil || parts[0].Hi != nil {
		t.Fatalf("empty table: %v %v %v", parts, last, err)
	}
}

func TestIntPlannerUnsignedExtremes(t *testing.T) {
	max := new(big.Int).SetUint64(^uint64(0)).String()
	pl := newIntPlanner(10, time.Second, []byte("18446744073709551000"), []byte(max), 100, nil)
	parts := walk(t, pl, func(keyRange) int64 { return 10 }, time.Millisecond)
	for _, p := range parts {
		if p.Hi != nil {
			n, ok := new(big.Int).SetString(string(p.Hi[0]), 10)
			if !ok || n.Cmp(new(big.Int).SetUint64(^uint64(0))) > 0 {
				t.Fatalf("bound %s beyond BIGINT UNSIGNED", p.Hi[0])
			}
		}
	}
}

func TestSamplePlanner(t *testing.T) {
	var keys []rowKey
	for i := 0; i < 1234; i++ {
		keys = append(keys, rowKey{[]byte(fmt.Sprintf("k%05d", i))})
	}
	sample := func(_ context.Context, lo rowKey, limit int) ([]rowKey, error) {
		i := 0
		if lo != nil {
			i = slices.IndexFunc(keys, func(k rowKey) bool { return k.id() == lo.id() }) + 1
		}
		return keys[i:min(i+limit, len(keys))], nil
	}
	pl := newSamplePlanner(100, time.Second, sample)
	parts := walk(t, pl, func(keyRange) int64 { return 100 }, time.Millisecond)
	// Each part holds 100 keys except the open last one.
	if len(parts) != 13 {
		t.Errorf("%d parts, want 13", len(parts))
	}
	for i, p := range parts[:len(parts)-1] {
		if want := fmt.Sprintf("k%05d", (i+1)*100-1); string(p.Hi[0]) != want {
			t.Errorf("part %d ends at %s, want %s", i, p.Hi[0], want)
		}
	}
}

func TestSizerAdapts(t *testing.T) {
	z := sizer{parts: 16, maxParts: 512, chunkTime: 500 * time.Millisecond}
	z.adapt(50 * time.Millisecond) // 10× too fast: grow, but by 4× at most
	if z.parts != 64 {
		t.Errorf("parts = %d, want 64", z.parts)
	}
	z.adapt(5 * time.Second) // 10× too slow: shrink, but by half at most
	if z.parts != 32 {
		t.Errorf("parts = %d, want 32", z.parts)
	}
	z.adapt(500 * time.Millisecond)
	if z.parts != 32 {
		t.Errorf("parts = %d, want 32", z.parts)
	}
}
