package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNarrowFindsEveryDifference(t *testing.T) {
	ctx := context.Background()
	for _, fetchRows := range []int64{1, 7, 100, 5000} {
		t.Run(fmt.Sprint("fetch", fetchRows), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(fetchRows)))
			src := newFakeSide(3000)
			tgt := src.clone()
			want := map[int]Kind{}
			for len(want) < 40 {
				k := 1 + rng.IntN(3200)
				if _, dup := want[k]; dup {
					continue
				}
				switch _, onSrc := src.rows[k]; {
				case !onSrc:
					tgt.rows[k] = "only on target"
					want[k] = KindExtra
				case rng.IntN(2) == 0:
					delete(tgt.rows, k)
					want[k] = KindMissing
				default:
					tgt.rows[k] += " changed"
					want[k] = KindChanged
				}
			}
			whole := keyRange{}
			sh, _ := src.hashRanges(ctx, []keyRange{whole})
			th, _ := tgt.hashRanges(ctx, []keyRange{whole})
			got, err := narrow(ctx, src, tgt, whole, sh[0], th[0], fetchRows)
			if err != nil {
				t.Fatal(err)
			}
			gotMap := map[int]Kind{}
			for _, c := range got {
				gotMap[keyInt(c.key)] = c.kind
			}
			if len(gotMap) != len(got) {
				t.Errorf("duplicate candidates: %v", got)
			}
			for k, kind := range want {
				if gotMap[k] != kind {
					t.Errorf("key %d: got %q, want %q", k, gotMap[k], kind)
				}
			}
			for k := range gotMap {
				if _, ok := want[k]; !ok {
					t.Errorf("key %d reported but not injected", k)
				}
			}
		})
	}
}

func TestNarrowEqualRangesCostNothing(t *testing.T) {
	ctx := context.Background()
	src := newFakeSide(1000)
	tgt := src.clone()
	h, _ := src.hashRanges(ctx, []keyRange{{}})
	got, err := narrow(ctx, src, tgt, keyRange{}, h[0], h[0], 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("narrow equal = %v, %v", got, err)
	}
	if src.calls.hash != 1 || src.calls.digests != 0 || tgt.calls.hash != 0 {
		t.Errorf("equal ranges did work: src %+v tgt %+v", src.calls, tgt.calls)
	}
}

// TestNarrowBisects: a single changed row in a large range is found by
// bisection, fetching rows only for a range of at most fetchRows rows.
func TestNarrowBisects(t *testing.T) {
	ctx := context.Background()
	src := newFakeSide(4096)
	tgt := src.clone()
	tgt.rows[1234] = "changed"
	sh, _ := src.hashRanges(ctx, []keyRange{{}})
	th, _ := tgt.hashRanges(ctx, []keyRange{{}})
	got, err := narrow(ctx, src, tgt, keyRange{}, sh[0], th[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || keyInt(got[0].key) != 1234 || got[0].kind != KindChanged {
		t.Fatalf("got %v", got)
	}
	if src.calls.digests != 1 {
		t.Errorf("fetched rows %d times, want once", src.calls.digests)
	}
	// 4096 → 64 rows is 6 halvings.
	if src.calls.split > 8 {
		t.Errorf("%d splits, want about log2(4096/64)", src.calls.split)
	}
}

// TestNarrowTargetOnlyRows: a range empty on the source but full on the
// target is split on the target's keys.
func TestNarrowTargetOnlyRows(t *testing.T) {
	ctx := context.Background()
	src := &fakeSide{rows: map[int]string{}}
	tgt := newFakeSide(500)
	sh, _ := src.hashRanges(ctx, []keyRange{{}})
	th, _ := tgt.hashRanges(ctx, []keyRange{{}})
	got, err := narrow(ctx, src, tgt, keyRange{}, sh[0], th[0], 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 {
		t.Fatalf("got %d candidates, want 500", len(got))
	}
	for _, c := range got {
		if c.kind != KindExtra {
			t.Fatalf("got %v", c)
		}
	}
}

func TestDiffDigestsOrder(t *testing.T) {
	src := map[string]rowDigest{}
	tgt := map[string]rowDigest{}
	for i := 0; i < 50; i++ {
		k := intKey(i)
		src[k.id()] = rowDigest{key: k, digest: "a"}
		tgt[k.id()] = rowDigest{key: k, digest: "b"}
	}
	a := diffDigests(src, tgt)
	b := diffDigests(src, tgt)
	if !slices.EqualFunc(a, b, func(x, y candidate) bool { return x.key.id() == y.key.id() }) {
		t.Error("diffDigests order is not stable")
	}
}
