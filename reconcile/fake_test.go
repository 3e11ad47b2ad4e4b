package reconcile

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
)

// fakeSide is an in-memory table keyed by int, implementing rangeReader. It
// counts calls so tests can check how much work narrowing does.
type fakeSide struct {
	rows  map[int]string
	calls struct{ hash, digests, split int }
}

func newFakeSide(n int) *fakeSide {
	f := &fakeSide{rows: map[int]string{}}
	for i := 1; i <= n; i++ {
		f.rows[i] = fmt.Sprintf("row %d", i)
	}
	return f
}

func (f *fakeSide) clone() *fakeSide {
	c := &fakeSide{rows: map[int]string{}}
	for k, v := range f.rows {
		c.rows[k] = v
	}
	return c
}

func intKey(i int) rowKey { return rowKey{[]byte(strconv.Itoa(i))} }

func keyInt(k rowKey) int {
	n, err := strconv.Atoi(string(k[0]))
	if err != nil {
		panic(err)
	}
	return n
}

func (f *fakeSide) keysIn(r keyRange) []int {
	var ks []int
	for k := range f.rows {
		if (r.Lo == nil || k > keyInt(r.Lo)) && (r.Hi == nil || k <= keyInt(r.Hi)) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

func (f *fakeSide) hashRanges(_ context.Context, rs []keyRange) ([]partHash, error) {
	f.calls.hash++
	out := make([]partHash, len(rs))
	for i, r := range rs {
		ks := f.keysIn(r)
		if len(ks) == 0 {
			continue
		}
		h := sha256.New()
		for _, k := range ks {
			fmt.Fprintf(h, "%d|%s\n", k, f.rows[k])
		}
		out[i] = partHash{count: int64(len(ks)), digest: fmt.Sprintf("%x", h.Sum(nil))}
	}
	return out, nil
}

func (f *fakeSide) rowDigests(_ context.Context, r keyRange) (map[string]rowDigest, error) {
	f.calls.digests++
	out := map[string]rowDigest{}
	for _, k := range f.keysIn(r) {
		key := intKey(k)
		out[key.id()] = rowDigest{key: key, digest: f.rows[k]}
	}
	return out, nil
}

func (f *fakeSide) splitKey(_ context.Context, r keyRange, offset int64) (rowKey, bool, error) {
	f.calls.split++
	ks := f.keysIn(r)
	if int64(len(ks)) <= offset {
		return nil, false, nil
	}
	return intKey(ks[offset]), true, nil
}
