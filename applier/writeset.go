package applier

import (
	"bytes"
	"hash/maphash"

	"github.com/drc-dev/drc/replicator/event"
)

// A WriteSet is the set of rows a transaction writes, as 64-bit hashes of
// (table, key, key values): the primary key and every unique key of the
// target, in both the before and the after image, and the parent key of
// every foreign key the row takes part in (as the child: the key its
// referencing columns point at; as the parent: its referenced columns), so
// a child row waits for the transaction that wrote its parent, and a
// parent's delete for the children written before it. Two transactions whose
// write-sets are disjoint touch different rows and can run concurrently;
// a hash collision only adds an unneeded wait. A table without a primary
// key contributes one key for the whole table, so its transactions run in
// order.
type WriteSet []uint64

// writeSetHasher builds write-sets with one seed.
type writeSetHasher struct {
	seed maphash.Seed
	h    maphash.Hash
}

func newWriteSetHasher() *writeSetHasher {
	w := &writeSetHasher{seed: maphash.MakeSeed()}
	w.h.SetSeed(w.seed)
	return w
}

// add appends the keys of one row image.
func (w *writeSetHasher) add(ws WriteSet, p *plan, img *event.Row) WriteSet {
	if img == nil {
		return ws
	}
	if p.nKey == 0 {
		ws = append(ws, w.tableKey(p.q))
	} else if k, ok := w.key(p.q, 0, p.tbl.PKIndex, img); ok {
		ws = append(ws, k)
	}
	for u, idx := range p.uniques {
		if k, ok := w.key(p.q, u+1, idx, img); ok {
			ws = append(ws, k)
		}
	}
	for _, fk := range p.fkeys {
		if k, ok := w.key(fk.ns, fkeyKey, fk.idx, img); ok {
			ws = append(ws, k)
		}
	}
	return ws
}

// fkeyKey is the key number of foreign-key parent keys; their namespace
// (parent table and referenced columns) already differs from a table's.
const fkeyKey = 255

func (w *writeSetHasher) tableKey(q string) uint64 {
	w.h.Reset()
	w.h.WriteString(q)
	return w.h.Sum64()
}

// namedKey is the key of a row named by text, e.g. a heartbeat's region.
func (w *writeSetHasher) namedKey(q, name string) uint64 {
	w.h.Reset()
	w.h.WriteString(q)
	w.h.WriteByte(0)
	w.h.WriteString(name)
	return w.h.Sum64()
}

// key hashes the values of one key. A key with a NULL (or absent) value
// never conflicts and has no hash. Text is folded to ASCII lower case
// without trailing spaces, because the common collations compare that way;
// a fold that is too coarse only adds waits.
func (w *writeSetHasher) key(q string, n int, idx []int, img *event.Row) (uint64, bool) {
	w.h.Reset()
	w.h.WriteString(q)
	w.h.WriteByte(byte(n))
	for _, i := range idx {
		v := img.Values[i]
		if v == nil || bytes.Equal(v, nullJSON) {
			return 0, false
		}
		w.h.WriteByte(0)
		if img.Table.Columns[i].Kind.IsTextual() {
			v = bytes.TrimRight(v[:len(v)-1], " ") // drop the closing quote, then pad
			for _, c := range v {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				w.h.WriteByte(c)
			}
			continue
		}
		w.h.Write(v)
	}
	return w.h.Sum64(), true
}

var nullJSON = []byte("null")
