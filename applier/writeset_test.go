package applier

import (
	"testing"

	"github.com/drc-dev/drc/replicator/event"
)

// TestWriteSetCanonicalKeys: one key value written two ways, by two records
// (or two versions of a table), hashes the same when the target compares
// the two equal, and differently when it does not.
func TestWriteSetCanonicalKeys(t *testing.T) {
	tests := []struct {
		name          string
		typeA, a      string
		typeB, b      string
		wantColliding bool
	}{
		{"datetime(6) zero fraction, datetime", "datetime(6)", `"2026-01-01 00:00:00.000000"`, "datetime", `"2026-01-01 00:00:00"`, true},
		{"datetime(6) without its digits", "datetime(6)", `"2026-01-01 00:00:00.000000"`, "datetime(6)", `"2026-01-01 00:00:00"`, true},
		{"datetime(6), datetime(1)", "datetime(6)", `"2026-01-01 00:00:00.500000"`, "datetime(1)", `"2026-01-01 00:00:00.5"`, true},
		{"datetime fractions differ", "datetime(6)", `"2026-01-01 00:00:00.500000"`, "datetime(6)", `"2026-01-01 00:00:00.000000"`, false},
		{"time(3), time", "time(3)", `"-12:00:00.000"`, "time", `"-12:00:00"`, true},
		{"bigint unsigned string, int unsigned number", "bigint unsigned", `"4294967295"`, "int unsigned", `4294967295`, true},
		{"bigint unsigned max", "bigint unsigned", `"18446744073709551615"`, "bigint unsigned", `"18446744073709551614"`, false},
		{"decimal scales", "decimal(5,2)", `"1.50"`, "decimal(5,1)", `"1.5"`, true},
		{"decimal integer zeros kept", "decimal(5,0)", `"10"`, "decimal(5,0)", `"1"`, false},
		{"decimal negative zero", "decimal(5,2)", `"-0.00"`, "decimal(5,2)", `"0.00"`, true},
		{"double negative zero", "double", `-0`, "double", `0`, true},
		{"PAD SPACE", "varchar utf8mb4", `"a "`, "varchar utf8mb4", `"a"`, true},
		{"case", "varchar utf8mb4", `"ABC"`, "varchar utf8mb4", `"abc"`, true},
		{"non-ASCII case", "varchar utf8mb4", `"ÉTÉ"`, "varchar utf8mb4", `"été"`, true},
		{"latin1 case", "char latin1", `"Ä"`, "char latin1", `"ä"`, true},
		{"JSON escape", "varchar utf8mb4", `"\u0041b"`, "varchar utf8mb4", `"ab"`, true},
		{"leading space counts", "varchar utf8mb4", `" a"`, "varchar utf8mb4", `"a"`, false},
		{"gbk PAD SPACE and case (base64)", "varchar gbk", `"QSA="`, "varchar gbk", `"YQ=="`, true},
		{"ucs2 PAD SPACE (base64)", "varchar ucs2", `"AGEAIA=="`, "varchar ucs2", `"AGE="`, true},
		{"binary is exact", "varbinary", `"QQ=="`, "varbinary", `"YQ=="`, false},
	}
	h := newWriteSetHasher()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka := keyOf(t, h, tt.typeA, tt.a)
			kb := keyOf(t, h, tt.typeB, tt.b)
			if got := ka == kb; got != tt.wantColliding {
				t.Errorf("%s %s and %s %s collide = %v, want %v", tt.typeA, tt.a, tt.typeB, tt.b, got, tt.wantColliding)
			}
		})
	}
}

// keyOf hashes a one-column unique key k of type typ holding v.
func keyOf(t *testing.T, h *writeSetHasher, typ, v string) uint64 {
	t.Helper()
	r := decodeRecord(t, &event.Decoder{}, `{"v":1,"op":"insert","db":"s","table":"t","pk":["id"],"types":{"id":"int","k":"`+typ+`"},"after":{"id":1,"k":`+v+`}}`)
	k, st := h.key("`s`.`t`", 1, []int{1}, r.After, nil)
	if st != keyHashed {
		t.Fatalf("%s %s: no key (%d)", typ, v, st)
	}
	return k
}

func decodeRecord(t *testing.T, dec *event.Decoder, js string) *event.Record {
	t.Helper()
	r, err := dec.Decode([]byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return r
}

// tsTable is the tester's table: (ts DATETIME(6) PRIMARY KEY, u BIGINT
// UNSIGNED UNIQUE, v INT).
type tsTable struct {
	t   *testing.T
	dec event.Decoder
	h   *writeSetHasher
	tt  *targetTable
}

func newTSTable(t *testing.T) *tsTable {
	return &tsTable{t: t, h: newWriteSetHasher(), tt: &targetTable{uniques: [][]string{{"ts"}, {"u"}}}}
}

// ws returns the write-set of a transaction of row records, each written
// as op, before, after (JSON objects, "" for none).
func (s *tsTable) ws(rows ...[3]string) WriteSet {
	s.t.Helper()
	var ws WriteSet
	for _, r := range rows {
		js := `{"v":1,"op":"` + r[0] + `","db":"s","table":"t","pk":["ts"],"types":{"ts":"datetime(6)","u":"bigint unsigned","v":"int"}`
		if r[1] != "" {
			js += `,"before":` + r[1]
		}
		if r[2] != "" {
			js += `,"after":` + r[2]
		}
		rec := decodeRecord(s.t, &s.dec, js+"}")
		img := rec.After
		if img == nil {
			img = rec.Before
		}
		ws = s.h.addRow(ws, newPlan(img.Table, s.tt), rec.Before, rec.After)
	}
	return ws
}

// index returns how ws holds the u index as a whole: "" (not at all),
// "shared" or "exclusive".
func (s *tsTable) index(ws WriteSet) string {
	x := s.h.indexKey("`s`.`t`", 1)
	mode := ""
	for _, k := range ws {
		switch k {
		case x:
			mode = "exclusive"
		case x | sharedKey:
			if mode == "" {
				mode = "shared"
			}
		}
	}
	return mode
}

func row(ts string, u string, v int) string {
	return `{"ts":"2026-01-01 00:00:` + ts + `.000000","u":` + u + `,"v":` + string(rune('0'+v)) + `}`
}

// TestWriteSetPrimaryKeyChange: an update that changes the primary key
// holds both primary keys and its unique key, and, because InnoDB deletes
// and re-inserts its unique index entry with the same value (a duplicate
// check that next-key locks the neighbouring entry, another row's), the
// unique index exclusively: two such updates of unrelated rows, which
// deadlocked against the commit order on MariaDB, are now ordered.
func TestWriteSetPrimaryKeyChange(t *testing.T) {
	s := newTSTable(t)
	a := s.ws([3]string{"update", row("00", `"10"`, 0), row("01", `"10"`, 0)})
	b := s.ws([3]string{"update", row("10", `"20"`, 0), row("11", `"20"`, 0)})
	distinct := map[uint64]bool{}
	for _, k := range a {
		distinct[k] = true
	}
	if len(distinct) != 4 {
		t.Errorf("write-set %v: want 4 keys (primary key before and after, unique key, the index)", a)
	}
	pk := func(ts string) uint64 {
		r := decodeRecord(t, &s.dec, `{"v":1,"op":"insert","db":"s","table":"t","pk":["ts"],"types":{"ts":"datetime(6)","u":"bigint unsigned","v":"int"},"after":`+row(ts, `"1"`, 0)+`}`)
		k, _ := s.h.key("`s`.`t`", 0, []int{0}, r.After, nil)
		return k
	}
	for _, want := range []uint64{pk("00"), pk("01")} {
		if !contains(a, want) {
			t.Errorf("write-set %v lacks a primary key %x of the update", a, want)
		}
	}
	if s.index(a) != "exclusive" || s.index(b) != "exclusive" {
		t.Errorf("primary-key changing updates hold the unique index %q and %q, want exclusive", s.index(a), s.index(b))
	}
	if !ordered(a, b) {
		t.Errorf("two primary-key changing updates %v and %v run concurrently", a, b)
	}
}

// TestWriteSetUniqueIndexModes: which row changes hold the unique index,
// and how.
func TestWriteSetUniqueIndexModes(t *testing.T) {
	s := newTSTable(t)
	tests := []struct {
		name string
		rows [][3]string
		want string
	}{
		{"insert of a new value", [][3]string{{"insert", "", row("30", `"30"`, 0)}}, "shared"},
		{"insert of NULL", [][3]string{{"insert", "", row("31", `null`, 0)}}, "shared"},
		{"update of a non-key column", [][3]string{{"update", row("30", `"30"`, 0), row("30", `"30"`, 1)}}, "shared"},
		{"update of the unique value", [][3]string{{"update", row("30", `"30"`, 1), row("30", `"32"`, 1)}}, "shared"},
		{"delete", [][3]string{{"delete", row("30", `"32"`, 1), ""}}, "shared"},
		{"re-insert of a deleted value", [][3]string{{"insert", "", row("33", `"32"`, 0)}}, "exclusive"},
		{"re-insert differing in form only", [][3]string{{"delete", row("40", `"40"`, 0), ""}, {"insert", "", `{"ts":"2026-01-01 00:00:41","u":"40","v":0}`}}, "exclusive"},
		{"swap through NULL", [][3]string{
			{"update", row("50", `"50"`, 0), row("50", `null`, 0)},
			{"update", row("51", `"51"`, 0), row("51", `"50"`, 0)},
			{"update", row("50", `null`, 0), row("50", `"51"`, 0)},
		}, "exclusive"},
		{"primary key change, u not logged (minimal image)", [][3]string{{"update", `{"ts":"2026-01-01 00:00:52.000000"}`, `{"ts":"2026-01-01 00:00:53.000000"}`}}, "exclusive"},
		{"v change, minimal image", [][3]string{{"update", `{"ts":"2026-01-01 00:00:53.000000"}`, `{"v":5}`}}, "shared"},
	}
	for _, tt := range tests {
		if got := s.index(s.ws(tt.rows...)); got != tt.want {
			t.Errorf("%s: holds the unique index %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestWriteSetSharedKeysLink: plain writers of an index run concurrently;
// an exclusive holder waits for the latest of them, and the next plain
// writer waits for it.
func TestWriteSetSharedKeysLink(t *testing.T) {
	p := testPartition(t)
	const x = 0x42
	seq := uint64(0)
	enqueue := func(ws ...uint64) *txn {
		seq++
		tx := &txn{seq: seq, ws: ws, prev: p.last}
		p.link(tx, tx)
		p.last = tx
		return tx
	}
	enqueue(x | sharedKey)
	w2 := enqueue(x | sharedKey)
	if w2.waitFor != nil {
		t.Errorf("second plain writer waits for %d", w2.waitFor.seq)
	}
	e := enqueue(x)
	if e.waitFor != w2 {
		t.Errorf("exclusive holder waits for %v, want the latest plain writer (seq %d)", e.waitFor, w2.seq)
	}
	w3 := enqueue(x | sharedKey)
	if w3.waitFor != e {
		t.Errorf("plain writer after an exclusive holder waits for %v, want it", w3.waitFor)
	}
	// A transaction holding both forms waits for the plain writer before it.
	both := enqueue(x|sharedKey, x)
	if both.waitFor != w3 {
		t.Errorf("a transaction holding both forms waits for %v, want seq %d", both.waitFor, w3.seq)
	}
	// A group holding the shared form that takes the exclusive one hides the
	// plain writers it replaced: it waits for the transaction before it.
	w4 := enqueue(x | sharedKey)
	g := enqueue(x | sharedKey)
	if g.waitFor != both {
		t.Fatalf("group waits for %v, want seq %d", g.waitFor, both.seq)
	}
	p.join(g, &txn{ws: WriteSet{x}})
	if g.waitFor != w4 {
		t.Errorf("group that joined an exclusive holder waits for %v, want the transaction before it (seq %d)", g.waitFor, w4.seq)
	}
}

func contains(ws WriteSet, k uint64) bool {
	for _, x := range ws {
		if x == k {
			return true
		}
	}
	return false
}

// ordered reports whether a transaction with write-set b dispatched after
// one with a waits for it.
func ordered(a, b WriteSet) bool {
	for _, k := range b {
		x := k &^ sharedKey
		if contains(a, x) || k&sharedKey == 0 && contains(a, x|sharedKey) {
			return true
		}
	}
	return false
}
