package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// rangeReader is what narrowing needs from one side. sideConn implements it;
// tests use an in-memory fake.
type rangeReader interface {
	// hashRanges returns count and digest of each range. Ranges are disjoint.
	hashRanges(ctx context.Context, rs []keyRange) ([]partHash, error)
	// rowDigests lists the rows of r by rowKey.id().
	rowDigests(ctx context.Context, r keyRange) (map[string]rowDigest, error)
	// splitKey returns the key at offset (0-based, key order) within r, or
	// false when r holds no more than offset rows.
	splitKey(ctx context.Context, r keyRange, offset int64) (rowKey, bool, error)
}

// hashRanges implements rangeReader for a live side. Narrowing hashes small
// ranges, far below group_concat_max_len; a cut is still an error, not a
// silent partial digest.
func (s *sideConn) hashRanges(ctx context.Context, rs []keyRange) ([]partHash, error) {
	h, _, cut, err := s.hashParts(ctx, rs, false)
	if err != nil {
		return nil, err
	}
	if cut {
		return nil, fmt.Errorf("narrow %s on %s: %w", s.b.t.Name, s.side, ErrRowTooLarge)
	}
	return h, nil
}

// candidate is a key whose row may differ. Its kind is only a first guess;
// settling reads both rows again and decides.
type candidate struct {
	key  rowKey
	kind Kind
}

// maxNarrowDepth bounds bisection. Each level at least halves a range, so it
// is only reached when live writes keep moving rows between reads; the range
// is then fetched whole.
const maxNarrowDepth = 48

// narrow finds the rows that differ within r, given r's hashes on both
// sides. A range of at most fetchRows rows (on either side) is fetched row by
// row; a larger one is split at its middle key (taken from the side with
// more rows) and each half whose hashes differ is narrowed in turn.
func narrow(ctx context.Context, src, tgt rangeReader, r keyRange, sh, th partHash, fetchRows int64) ([]candidate, error) {
	return narrowAt(ctx, src, tgt, r, sh, th, fetchRows, 0)
}

func narrowAt(ctx context.Context, src, tgt rangeReader, r keyRange, sh, th partHash, fetchRows int64, depth int) ([]candidate, error) {
	if sh == th {
		return nil, nil
	}
	if max(sh.count, th.count) <= fetchRows || depth >= maxNarrowDepth {
		var sd, td map[string]rowDigest
		err := both(ctx,
			func(ctx context.Context) (err error) { sd, err = src.rowDigests(ctx, r); return err },
			func(ctx context.Context) (err error) { td, err = tgt.rowDigests(ctx, r); return err })
		if err != nil {
			return nil, err
		}
		return diffDigests(sd, td), nil
	}

	splitter, n := src, sh.count
	if th.count > sh.count {
		splitter, n = tgt, th.count
	}
	mid, ok, err := splitter.splitKey(ctx, r, n/2)
	if err != nil {
		return nil, err
	}
	if !ok {
		// The range shrank since it was hashed (live deletes): hash again.
		return narrowAgain(ctx, src, tgt, r, fetchRows, depth+1)
	}
	halves := []keyRange{{Lo: r.Lo, Hi: mid}, {Lo: mid, Hi: r.Hi}}
	var sh2, th2 []partHash
	err = both(ctx,
		func(ctx context.Context) (err error) { sh2, err = src.hashRanges(ctx, halves); return err },
		func(ctx context.Context) (err error) { th2, err = tgt.hashRanges(ctx, halves); return err })
	if err != nil {
		return nil, err
	}
	var out []candidate
	for i, h := range halves {
		c, err := narrowAt(ctx, src, tgt, h, sh2[i], th2[i], fetchRows, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

func narrowAgain(ctx context.Context, src, tgt rangeReader, r keyRange, fetchRows int64, depth int) ([]candidate, error) {
	var sh, th []partHash
	err := both(ctx,
		func(ctx context.Context) (err error) { sh, err = src.hashRanges(ctx, []keyRange{r}); return err },
		func(ctx context.Context) (err error) { th, err = tgt.hashRanges(ctx, []keyRange{r}); return err })
	if err != nil {
		return nil, err
	}
	return narrowAt(ctx, src, tgt, r, sh[0], th[0], fetchRows, depth)
}

// diffDigests compares two row listings of the same range, in a stable
// order (by key id) so reports do not depend on map iteration.
func diffDigests(src, tgt map[string]rowDigest) []candidate {
	var out []candidate
	for id, s := range src {
		t, ok := tgt[id]
		switch {
		case !ok:
			out = append(out, candidate{key: s.key, kind: KindMissing})
		case t.digest != s.digest:
			out = append(out, candidate{key: s.key, kind: KindChanged})
		}
	}
	for id, t := range tgt {
		if _, ok := src[id]; !ok {
			out = append(out, candidate{key: t.key, kind: KindExtra})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.key.id(), b.key.id()) })
	return out
}
