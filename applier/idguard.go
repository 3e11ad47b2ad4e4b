package applier

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/replicator/event"
)

// ForeignIDAction is what the applier does with a row whose ID column
// holds an ID of another region, or a value idgen never issued.
type ForeignIDAction uint8

// The foreign_id policies.
const (
	// ForeignIDStop records the conflict and stops the applier: a writer is
	// misconfigured, and its keys will collide with another region's.
	ForeignIDStop ForeignIDAction = iota
	// ForeignIDRecord applies the row and records the conflict, for a
	// migration from AUTO_INCREMENT keys still under way.
	ForeignIDRecord
)

func (a ForeignIDAction) String() string {
	if a == ForeignIDRecord {
		return "record"
	}
	return "stop"
}

// ParseForeignIDPolicy parses stop or record.
func ParseForeignIDPolicy(s string) (ForeignIDAction, error) {
	switch s {
	case "stop":
		return ForeignIDStop, nil
	case "record":
		return ForeignIDRecord, nil
	}
	return 0, fmt.Errorf("foreign_id policy %q: want stop or record", s)
}

// idGuard checks the ID columns of a row (TablePolicy.IDColumns) against
// the region the row was written in: its record's origin. The check is
// arithmetic on the record's own values, with no round trip; only a
// failure costs one, to record the conflict.
type idGuard struct {
	layout  idgen.Layout
	regions map[string]int // by region name
	names   map[int]string // by region number
}

func newIDGuard(layout idgen.Layout, regions map[string]int) (*idGuard, error) {
	g := &idGuard{layout: layout, regions: regions, names: make(map[int]string, len(regions))}
	for name, n := range regions {
		if n < 0 || n >= 1<<layout.RegionBits {
			return nil, fmt.Errorf("region %s is numbered %d, outside 0..%d of the layout's %d region bits (%s)",
				name, n, 1<<layout.RegionBits-1, layout.RegionBits, layout)
		}
		g.names[n] = name
	}
	return g, nil
}

// foreignID is a failed check: the column, why, and what the conflict row
// records about it.
type foreignID struct {
	col    int    // index into the record's table columns
	reason error  // wraps idgen.ErrForeignID or idgen.ErrNotDRCID
	detail string // JSON for drc_meta.conflicts.detail
}

// check returns the first ID column of r's new image that fails, or nil.
// An insert checks every ID column, an update those it changes; NULL is
// not checked (it collides with nothing).
func (g *idGuard) check(r *event.Record, pl *plan, now time.Time) *foreignID {
	region, known := g.regions[r.Origin]
	// The arithmetic of Layout.Check, which is called only to say why a
	// value fails.
	latest := g.layout.ElapsedAt(now.Add(idgen.MaxSkew))
	for _, i := range pl.ids {
		v := r.After.Values[i]
		if v == nil || string(v) == "null" {
			continue
		}
		if r.Op == event.OpUpdate && bytes.Equal(v, r.Before.Values[i]) {
			continue
		}
		id, isInt := parseID(v)
		if isInt && known && id > 0 {
			if elapsed, _, reg, _ := g.layout.Fields(id); elapsed > 0 && elapsed <= latest && reg == region {
				continue
			}
		}
		var err error
		switch {
		case !isInt:
			err = fmt.Errorf("%w: not an integer in 0..2^63-1", idgen.ErrNotDRCID)
		case !known:
			// The ID cannot be checked against a region without a number:
			// a configuration error, reported like a foreign ID so that
			// the policy (and its record) applies.
			if err = g.layout.Check(id, 0, now); err == nil || errors.Is(err, idgen.ErrForeignID) {
				err = fmt.Errorf("%w: the origin region %q has no number in idgen.regions", idgen.ErrForeignID, r.Origin)
			}
		default:
			err = g.layout.Check(id, region, now)
		}
		if err != nil {
			return &foreignID{col: i, reason: err, detail: g.detail(r, i, v, id, isInt, err)}
		}
	}
	return nil
}

// detail renders what the conflict row records: the column, the value, the
// decomposed ID and the origin region.
func (g *idGuard) detail(r *event.Record, col int, v []byte, id int64, isInt bool, reason error) string {
	d := map[string]any{
		"column": r.After.Table.Columns[col].Name,
		"value":  json.RawMessage(v),
		"reason": reason.Error(),
		"origin": r.Origin,
	}
	if n, ok := g.regions[r.Origin]; ok {
		d["origin_region"] = n
	}
	if isInt && errors.Is(reason, idgen.ErrForeignID) {
		if p, err := idgen.Decompose(id, g.layout); err == nil {
			d["id"] = p
			if name, ok := g.names[p.Region]; ok {
				d["id_region_name"] = name
			}
		}
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// describe is the part of a stop error that says whose ID it was, without
// the value itself (row values are not logged).
func (g *idGuard) describe(r *event.Record, f *foreignID) string {
	col := r.After.Table.Columns[f.col].Name
	if !errors.Is(f.reason, idgen.ErrForeignID) {
		return fmt.Sprintf("column %s holds a value idgen never issued (zero, negative, an AUTO_INCREMENT value or a time in the future); the row was written in region %s", col, r.Origin)
	}
	id, _ := parseID(r.After.Values[f.col])
	_, _, region, node := g.layout.Fields(id)
	name := g.names[region]
	if name == "" {
		name = "unnumbered"
	}
	return fmt.Sprintf("column %s holds an ID issued in region %d (%s) by node %d, but the row was written in region %s: a writer there uses another region's idgen", col, region, name, node, r.Origin)
}

// parseID reads a JSON integer, or a decimal string (BIGINT UNSIGNED),
// that fits an int64 without allocating.
func parseID(v []byte) (int64, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
