package applier

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"unicode"
	"unicode/utf8"

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
//
// Exact keys are not enough for a secondary unique index. InnoDB checks an
// entry it inserts there for duplicates whenever the index already holds an
// entry with the same value, even a delete-marked one, and that check
// takes shared next-key locks, under READ COMMITTED too: on every equal
// entry, on the first entry after them (another row's) and on the gaps
// between. A delete-marked equal entry exists whenever the value was just
// removed: by an update that changes the row's primary key and keeps the
// value (the entry holds the primary key, so it is deleted and inserted),
// by a swap of unique values, by a delete and re-insert. Those locks reach
// rows no write-set names, and when the later of two concurrent
// transactions holds them, the earlier one waits for a lock its successor
// keeps until it commits, which it does only after the earlier one: a lock
// wait timeout. So every row change of a table also holds the key of each
// of its secondary unique indexes as a whole: shared by a plain change,
// and exclusive by a change that may run that check (it inserts a value
// removed by itself or by a recent change; see recentlyRemoved), which so
// runs alone among the table's changes. Plain changes stay concurrent.
// Even a change that leaves the index alone holds it: the optimizer may
// find the row through that index (MariaDB prefers a unique secondary
// index to the primary key for the applier's WHERE k = ? AND c <=> ...),
// and the entry it locks may be one a concurrent check locked.
type WriteSet []uint64

// sharedKey marks a key held shared: two holders of a shared key need no
// order, a shared and an exclusive holder do. Keys without it are
// exclusive. See follows.
const sharedKey uint64 = 1 << 63

// follows returns the transaction in keys (the latest holder of each key,
// shared keys under their marked form) that owner, about to hold k, must
// wait for, or nil: for an exclusive key the latest other holder in either
// mode, for a shared key the latest other exclusive holder. Transactions
// commit in dispatch order, so waiting for the latest is waiting for all.
//
// A group that holds k's shared form itself hides the earlier shared
// holders it replaced; it then waits for the transaction dispatched before
// it. Callers look every key of a transaction up before recording any, so
// that this happens only when a transaction joins a group.
func follows(keys map[uint64]*txn, k uint64, owner *txn) *txn {
	x := k &^ sharedKey
	h := keys[x]
	if h == owner {
		h = nil
	}
	if k&sharedKey != 0 {
		return h
	}
	s := keys[x|sharedKey]
	if s == owner {
		s = owner.prev
	}
	if s != nil && (h == nil || s.seq > h.seq) {
		h = s
	}
	return h
}

// writeSetHasher builds write-sets with one seed.
type writeSetHasher struct {
	seed maphash.Seed
	h    maphash.Hash
	buf  []byte
	// removed holds the value keys of recently removed secondary unique
	// index entries, see recentlyRemoved; allocated on first use.
	removed *[recentlyRemoved]uint64
}

// recentlyRemoved is how many secondary unique index entries the hasher
// remembers having seen removed: an entry the target removed stays
// delete-marked in the index until purge reaches it, and a change that
// inserts its value meanwhile runs the duplicate check. Removed values are
// remembered in a direct-mapped table (512 KiB per partition that
// writes such an index), so a value
// is forgotten after some tens of thousands of later removals, typically
// seconds; purge is usually as quick. A value forgotten too early costs
// what any missed dependency costs: a lock wait timeout, a restart, a
// minute of serial apply.
const recentlyRemoved = 1 << 16

func newWriteSetHasher() *writeSetHasher {
	w := &writeSetHasher{seed: maphash.MakeSeed()}
	w.h.SetSeed(w.seed)
	return w
}

// addRow appends the keys of one row change: before is nil for an insert,
// after for a delete.
func (w *writeSetHasher) addRow(ws WriteSet, p *plan, before, after *event.Row) WriteSet {
	ws = w.add(ws, p, after)
	ws = w.add(ws, p, before)
	if p.nKey == 0 {
		return ws // the table key orders all of the table's changes
	}
	if len(p.uniques) > 0 && w.removed == nil {
		w.removed = new([recentlyRemoved]uint64)
	}
	for u, idx := range p.uniques {
		checked := false
		if before == nil || after == nil || entryChanges(p.tbl.PKIndex, idx, before, after) {
			if before != nil {
				if k, st := w.key(p.q, u+1, idx, before, nil); st == keyHashed {
					w.removed[k%recentlyRemoved] = k
				}
			}
			if after != nil {
				switch k, st := w.key(p.q, u+1, idx, after, before); st {
				case keyHashed:
					checked = k != 0 && w.removed[k%recentlyRemoved] == k
				case keyUnknown:
					// Not logged (binlog_row_image=MINIMAL): the value may
					// well be the one this change removed.
					checked = true
				}
			}
		}
		k := w.indexKey(p.q, u+1)
		if !checked {
			k |= sharedKey
		}
		ws = append(ws, k)
	}
	return ws
}

// entryChanges reports whether an update rewrites the entry of a secondary
// unique index with columns idx: InnoDB deletes and inserts the entry when
// any of its columns or the primary key's changes, compared byte for byte.
// A value missing from the after image was not logged and is unchanged.
func entryChanges(pk, idx []int, before, after *event.Row) bool {
	changed := func(i int) bool {
		a := after.Values[i]
		return a != nil && !bytes.Equal(a, before.Values[i])
	}
	for _, i := range idx {
		if changed(i) {
			return true
		}
	}
	for _, i := range pk {
		if changed(i) {
			return true
		}
	}
	return false
}

// add appends the keys of one row image.
func (w *writeSetHasher) add(ws WriteSet, p *plan, img *event.Row) WriteSet {
	if img == nil {
		return ws
	}
	if p.nKey == 0 {
		ws = append(ws, w.tableKey(p.q))
	} else if k, st := w.key(p.q, 0, p.tbl.PKIndex, img, nil); st == keyHashed {
		ws = append(ws, k)
	}
	for u, idx := range p.uniques {
		if k, st := w.key(p.q, u+1, idx, img, nil); st == keyHashed {
			ws = append(ws, k)
		}
	}
	for _, fk := range p.fkeys {
		if k, st := w.key(fk.ns, fkeyKey, fk.idx, img, nil); st == keyHashed {
			ws = append(ws, k)
		}
	}
	return ws
}

// Key numbers beside the unique keys' 0 (primary) and 1..: foreign-key
// parent keys, whose namespace (parent table and referenced columns)
// already differs from a table's, and secondary unique indexes as a whole.
const (
	fkeyKey  = 255
	indexKey = 254
)

func (w *writeSetHasher) sum() uint64 { return w.h.Sum64() &^ sharedKey }

func (w *writeSetHasher) tableKey(q string) uint64 {
	w.h.Reset()
	w.h.WriteString(q)
	return w.sum()
}

// indexKey is the exclusive key of unique key n of table q as a whole.
func (w *writeSetHasher) indexKey(q string, n int) uint64 {
	w.h.Reset()
	w.h.WriteString(q)
	w.h.WriteByte(indexKey)
	w.h.WriteByte(byte(n))
	return w.sum()
}

// namedKey is the key of a row named by text, e.g. a heartbeat's region.
func (w *writeSetHasher) namedKey(q, name string) uint64 {
	w.h.Reset()
	w.h.WriteString(q)
	w.h.WriteByte(0)
	w.h.WriteString(name)
	return w.sum()
}

// What key found.
const (
	keyHashed  = iota
	keyNull    // a value is NULL: the key never conflicts
	keyUnknown // a value is missing from the image (and from fallback)
)

// key hashes the values of one key, taking a value missing from img from
// fallback (nil: none). A key with a NULL value never conflicts and has no
// hash. Values are hashed in the form under which the target compares
// them (see canonical).
func (w *writeSetHasher) key(q string, n int, idx []int, img, fallback *event.Row) (uint64, int) {
	w.h.Reset()
	w.h.WriteString(q)
	w.h.WriteByte(byte(n))
	for _, i := range idx {
		v := img.Values[i]
		if v == nil && fallback != nil {
			v = fallback.Values[i]
		}
		if v == nil {
			return 0, keyUnknown
		}
		if bytes.Equal(v, nullJSON) {
			return 0, keyNull
		}
		w.h.WriteByte(0)
		w.buf = canonical(w.buf[:0], &img.Table.Columns[i], v)
		w.h.Write(w.buf)
	}
	return w.sum(), keyHashed
}

var nullJSON = []byte("null")

// canonical appends v, a value of column c, in a form that is equal for
// values the target compares equal in a key, whichever record (or table
// version: DATETIME(6) or DATETIME, INT or BIGINT) they come from. Where
// the comparison depends on the collation, the form is coarser than the
// common collations: text is case-folded, without trailing spaces (PAD
// SPACE collations, MariaDB's defaults, ignore them: 'a' and 'a ' collide
// on a unique key). A fold that is too coarse only adds waits; one that is
// too fine (accents, which utf8mb4_general_ci ignores, are kept) misses a
// dependency, which the lock wait bound catches.
func canonical(dst []byte, c *event.Column, v json.RawMessage) []byte {
	switch {
	case c.Kind.IsTextual():
		return canonicalText(dst, c, v)
	case c.Kind.IsInteger(), c.Kind == event.KindBit, c.Kind == event.KindYear:
		return append(dst, unquoted(v)...) // "42" (BIGINT) and 42 (INT)
	case c.Kind == event.KindDecimal:
		return appendNumber(dst, unquoted(v)) // 1.50 = 1.5
	case c.Kind == event.KindFloat, c.Kind == event.KindDouble:
		return appendNumber(dst, v) // -0 = 0
	case c.Kind == event.KindDate, c.Kind == event.KindTime, c.Kind == event.KindDateTime, c.Kind == event.KindTimestamp:
		// '2026-01-01 00:00:00.000000' = '2026-01-01 00:00:00'
		s := unquoted(v)
		if bytes.IndexByte(s, '.') >= 0 {
			s = bytes.TrimRight(bytes.TrimRight(s, "0"), ".")
		}
		return append(dst, s...)
	}
	return append(dst, v...)
}

func unquoted(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// appendNumber appends the decimal text s without trailing fractional
// zeros and without the sign of a zero.
func appendNumber(dst, s []byte) []byte {
	if bytes.IndexByte(s, '.') >= 0 && bytes.IndexAny(s, "eE") < 0 {
		s = bytes.TrimRight(bytes.TrimRight(s, "0"), ".")
	}
	if len(s) > 1 && s[0] == '-' && len(bytes.Trim(s[1:], "0.")) == 0 {
		s = s[1:]
	}
	return append(dst, s...)
}

// canonicalText folds a textual value: its characters (a JSON string) or,
// in character sets that travel in base64, its bytes.
func canonicalText(dst []byte, c *event.Column, v json.RawMessage) []byte {
	var s []byte
	switch c.Charset {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "latin1":
		s = unquoted(v)
		if bytes.IndexByte(s, '\\') >= 0 {
			var str string
			if json.Unmarshal(v, &str) != nil {
				return append(dst, v...)
			}
			s = []byte(str)
		}
	default:
		a, err := c.Arg(v)
		b, ok := a.([]byte)
		if err != nil || !ok {
			return append(dst, v...)
		}
		// Bytes in the column's charset: trim its space, fold ASCII (which
		// may fold a byte of a multibyte character too: coarser only).
		space := []byte(" ")
		switch c.Charset {
		case "ucs2", "utf16":
			space = []byte{0, ' '}
		case "utf16le":
			space = []byte{' ', 0}
		case "utf32":
			space = []byte{0, 0, 0, ' '}
		}
		for bytes.HasSuffix(b, space) {
			b = b[:len(b)-len(space)]
		}
		for _, ch := range b {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			dst = append(dst, ch)
		}
		return dst
	}
	s = bytes.TrimRight(s, " ")
	for len(s) > 0 {
		if ch := s[0]; ch < utf8.RuneSelf {
			if 'A' <= ch && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			dst = append(dst, ch)
			s = s[1:]
			continue
		}
		r, n := utf8.DecodeRune(s)
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
		s = s[n:]
	}
	return dst
}
