package reconcile

import (
	"context"
	"fmt"
	"math/big"
	"time"
)

// A chunk is a run of consecutive parts hashed in one statement per side.
// Parts are the unit of mismatch (about PartRows rows each, so a mismatch is
// narrowed cheaply); the number of parts per chunk adapts so that hashing a
// chunk takes about ChunkTime. Chunks cover the key space without gaps:
// the first part is open below, the last part of the last chunk open above,
// so rows that exist only on the target are compared too.

// planner proposes chunks. feedback and shrink adapt its sizes.
type planner interface {
	// next returns the parts of the chunk after lo (nil: the start) and
	// whether it is the table's last chunk.
	next(ctx context.Context, lo rowKey) (parts []keyRange, last bool, err error)
	// feedback reports the rows seen per part (the larger side) and the
	// time the chunk took to hash.
	feedback(rows []int64, elapsed time.Duration)
	// shrink makes parts smaller after a GROUP_CONCAT cut; false when they
	// cannot get any smaller.
	shrink() bool
}

const (
	// initialParts starts small so that a slow server is not handed a
	// huge first chunk; sizes grow quickly from there.
	initialParts = 16
	// maxParts bounds one statement: 512 UNION ALL branches are well within
	// what the servers parse quickly, and at 1000 rows a part the chunk takes
	// about a quarter second on a modest server.
	maxParts = 512
	// maxSampleKeys bounds the keys a sampling planner reads per chunk.
	maxSampleKeys = 100000
)

// sizer adapts the number of parts per chunk to the target chunk time.
type sizer struct {
	parts, maxParts int
	chunkTime       time.Duration
}

func (z *sizer) adapt(elapsed time.Duration) {
	if elapsed <= 0 {
		z.parts = min(z.parts*2, z.maxParts)
		return
	}
	// Move toward the target, but at most by a factor of four up and two
	// down per chunk: one slow chunk (a cold page, a busy neighbour) must not
	// collapse the size.
	n := int(float64(z.parts) * float64(z.chunkTime) / float64(elapsed))
	n = max(n, z.parts/2, 1)
	z.parts = min(n, z.parts*4, z.maxParts)
}

// samplePlanner takes part boundaries from the source's keys: every
// partRows-th key after lo. It works for any key.
type samplePlanner struct {
	sizer
	partRows int
	sample   func(ctx context.Context, lo rowKey, limit int) ([]rowKey, error)
}

func newSamplePlanner(partRows int, chunkTime time.Duration, sample func(context.Context, rowKey, int) ([]rowKey, error)) *samplePlanner {
	return &samplePlanner{
		sizer:    sizer{parts: initialParts, maxParts: max(1, min(maxParts, maxSampleKeys/partRows)), chunkTime: chunkTime},
		partRows: partRows,
		sample:   sample,
	}
}

func (p *samplePlanner) next(ctx context.Context, lo rowKey) ([]keyRange, bool, error) {
	want := p.parts * p.partRows
	keys, err := p.sample(ctx, lo, want)
	if err != nil {
		return nil, false, err
	}
	last := len(keys) < want
	var parts []keyRange
	prev := lo
	for i := p.partRows - 1; i < len(keys); i += p.partRows {
		if last && i == len(keys)-1 {
			break // the open last part takes it
		}
		parts = append(parts, keyRange{Lo: prev, Hi: keys[i]})
		prev = keys[i]
	}
	if last {
		parts = append(parts, keyRange{Lo: prev})
	}
	return parts, last, nil
}

func (p *samplePlanner) feedback(_ []int64, elapsed time.Duration) { p.adapt(elapsed) }

func (p *samplePlanner) shrink() bool {
	if p.partRows == 1 {
		return false
	}
	p.partRows = max(1, p.partRows/4)
	p.maxParts = max(1, min(maxParts, maxSampleKeys/p.partRows))
	return true
}

// intPlanner steps through a single-column integer key arithmetically: part
// bounds are lo+w, lo+2w, … with a width w adapted to the key density, so no
// statement is spent finding boundaries. Gaps in the key space are skipped by
// asking both sides for the next key.
type intPlanner struct {
	sizer
	partRows int64
	width    *big.Int // key units per part
	min, max *big.Int // smallest and largest key on either side when the table started
	empty    bool     // the table was empty on both sides
	// gap is set when the previous chunk held no rows: the next chunk
	// starts at the next existing key instead of stepping through nothing.
	gap     bool
	nextKey func(ctx context.Context, after rowKey) ([]byte, error) // smallest key above, over both sides
}

// newIntPlanner sizes parts from the key range and the row estimate. min and
// max are the smallest and largest keys over both sides (nil: both empty).
func newIntPlanner(partRows int, chunkTime time.Duration, minKey, maxKey []byte, estRows int64,
	nextKey func(context.Context, rowKey) ([]byte, error)) *intPlanner {
	p := &intPlanner{
		sizer:    sizer{parts: initialParts, maxParts: maxParts, chunkTime: chunkTime},
		partRows: int64(partRows),
		nextKey:  nextKey,
	}
	lo, ok1 := new(big.Int).SetString(string(minKey), 10)
	hi, ok2 := new(big.Int).SetString(string(maxKey), 10)
	if !ok1 || !ok2 {
		p.empty = true
		return p
	}
	p.min, p.max = lo, hi
	span := new(big.Int).Sub(hi, lo)
	span.Add(span, big.NewInt(1))
	// width = partRows × span / rows, at least 1.
	w := new(big.Int).Mul(span, big.NewInt(p.partRows))
	w.Quo(w, big.NewInt(max(estRows, 1)))
	if w.Sign() <= 0 {
		w.SetInt64(1)
	}
	p.width = w
	return p
}

func (p *intPlanner) next(ctx context.Context, lo rowKey) ([]keyRange, bool, error) {
	if p.empty {
		return []keyRange{{Lo: lo}}, true, nil
	}
	// cur is the exclusive lower bound as a number. At the start it is
	// min-1, but the first part's bound stays nil (open below), so keys
	// smaller than the start-time minimum (inserted since, or only on the
	// target) are compared too.
	cur := new(big.Int).Sub(p.min, big.NewInt(1))
	if lo != nil {
		if _, ok := cur.SetString(string(lo[0]), 10); !ok {
			return nil, false, fmt.Errorf("integer key bound %q is not a number", lo[0])
		}
	}
	if p.gap && lo != nil {
		p.gap = false
		k, err := p.nextKey(ctx, lo)
		if err != nil {
			return nil, false, err
		}
		if k == nil {
			// Nothing above lo on either side (as of now): one open part
			// covers whatever arrives meanwhile.
			return []keyRange{{Lo: lo}}, true, nil
		}
		n, ok := new(big.Int).SetString(string(k), 10)
		if ok && n.Cmp(cur) > 0 {
			// The part (lo, n-1+w] starts at the gap's end. Its lower bound
			// stays lo, so nothing in (lo, n) escapes the comparison.
			cur = n.Sub(n, big.NewInt(1))
		}
	}
	var parts []keyRange
	prev := lo
	for len(parts) < p.parts {
		hi := new(big.Int).Add(cur, p.width)
		if hi.Cmp(p.max) >= 0 {
			// Past the start-time maximum: the last part is open above, for
			// rows inserted since and rows only the target has.
			parts = append(parts, keyRange{Lo: prev})
			return parts, true, nil
		}
		hk := rowKey{[]byte(hi.String())}
		parts = append(parts, keyRange{Lo: prev, Hi: hk})
		prev, cur = hk, hi
	}
	return parts, false, nil
}

func (p *intPlanner) feedback(rows []int64, elapsed time.Duration) {
	p.adapt(elapsed)
	var total int64
	for _, r := range rows {
		total += r
	}
	if total == 0 {
		p.gap = true
		return
	}
	avg := float64(total) / float64(len(rows))
	// Scale the width toward partRows rows per part, by at most 4× a step.
	f := min(max(float64(p.partRows)/avg, 0.25), 4)
	w := new(big.Float).Mul(new(big.Float).SetInt(p.width), big.NewFloat(f))
	w.Int(p.width)
	if p.width.Sign() <= 0 {
		p.width.SetInt64(1)
	}
}

func (p *intPlanner) shrink() bool {
	if p.empty || p.width.Cmp(big.NewInt(1)) <= 0 {
		return false
	}
	p.width.Quo(p.width, big.NewInt(4))
	if p.width.Sign() <= 0 {
		p.width.SetInt64(1)
	}
	return true
}
