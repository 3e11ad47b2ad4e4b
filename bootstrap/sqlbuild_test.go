package bootstrap

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// weird is a table whose names need quoting everywhere, with a composite
// primary key (text, int) declared out of column order.
func weird() *Table {
	return &Table{
		DB: "my`db", Name: "t able é",
		Columns: []Column{
			{Name: "v`al", DataType: "varchar", Kind: KindBytes, Charset: "utf8mb4", Collation: "utf8mb4_general_ci"},
			{Name: "k 2", DataType: "int", Kind: KindInteger},
			{Name: "ключ", DataType: "varchar", Kind: KindBytes, Charset: "latin1", Collation: "latin1_swedish_ci"},
			{Name: "d", DataType: "decimal", Kind: KindDecimal, Precision: 10, Scale: 2},
		},
		PK: []int{2, 1},
	}
}

func TestSelectChunkQuotingAndCompositeBounds(t *testing.T) {
	tb := weird()
	lo := Key{[]byte("a'b"), int64(5)}
	hi := Key{[]byte("z"), int64(-1)}
	got, args := tb.SelectChunk(lo, hi, 100)
	txt := "CONVERT(UNHEX(?) USING latin1) COLLATE latin1_swedish_ci"
	want := "SELECT `v``al`, `k 2`, `ключ`, `d` FROM `my``db`.`t able é` FORCE INDEX (PRIMARY)" +
		" WHERE `ключ` >= " + txt + " AND (`ключ` > " + txt + " OR (`ключ` = " + txt + " AND `k 2` > ?))" +
		" AND `ключ` <= " + txt + " AND (`ключ` < " + txt + " OR (`ключ` = " + txt + " AND `k 2` <= ?))" +
		" ORDER BY `ключ`, `k 2` LIMIT 100"
	if got != want {
		t.Errorf("SelectChunk:\n got %s\nwant %s", got, want)
	}
	wantArgs := []any{"612762", "612762", "612762", int64(5), "7a", "7a", "7a", int64(-1)}
	if !reflect.DeepEqual(args, wantArgs) {
		t.Errorf("args = %v, want %v", args, wantArgs)
	}
	if strings.Count(got, "?") != len(args) {
		t.Errorf("%d placeholders for %d args", strings.Count(got, "?"), len(args))
	}
}

func TestChunkBoundsOpenAndSingleColumn(t *testing.T) {
	tb := &Table{DB: "d", Name: "t", Columns: []Column{
		{Name: "id", Kind: KindInteger}, {Name: "x", Kind: KindBytes},
	}, PK: []int{0}}
	for _, tc := range []struct {
		lo, hi   Key
		limit    int
		want     string
		wantArgs []any
	}{
		{nil, nil, 10, "SELECT `id`, `x` FROM `d`.`t` FORCE INDEX (PRIMARY) ORDER BY `id` LIMIT 10", nil},
		{Key{int64(7)}, nil, 10, "SELECT `id`, `x` FROM `d`.`t` FORCE INDEX (PRIMARY) WHERE `id` > ? ORDER BY `id` LIMIT 10", []any{int64(7)}},
		{nil, Key{int64(9)}, 0, "SELECT `id`, `x` FROM `d`.`t` FORCE INDEX (PRIMARY) WHERE `id` <= ? ORDER BY `id`", []any{int64(9)}},
		{Key{int64(7)}, Key{int64(9)}, 0, "SELECT `id`, `x` FROM `d`.`t` FORCE INDEX (PRIMARY) WHERE `id` > ? AND `id` <= ? ORDER BY `id`", []any{int64(7), int64(9)}},
	} {
		got, args := tb.SelectChunk(tc.lo, tc.hi, tc.limit)
		if got != tc.want || !reflect.DeepEqual(args, tc.wantArgs) {
			t.Errorf("SelectChunk(%v, %v):\n got %s %v\nwant %s %v", tc.lo, tc.hi, got, args, tc.want, tc.wantArgs)
		}
	}
	got, args := tb.DeleteChunk(Key{int64(7)}, nil)
	if want := "DELETE FROM `d`.`t` WHERE `id` > ?"; got != want || len(args) != 1 {
		t.Errorf("DeleteChunk = %s %v, want %s", got, args, want)
	}
}

func TestInsertStatementsLiteralsAndSplitting(t *testing.T) {
	tb := &Table{DB: "d", Name: "t`x", Columns: []Column{
		{Name: "id", Kind: KindInteger},
		{Name: "u", Kind: KindInteger},
		{Name: "f", Kind: KindFloat},
		{Name: "g", Kind: KindFloat},
		{Name: "dec", Kind: KindDecimal},
		{Name: "ts", Kind: KindTemporal},
		{Name: "s", Kind: KindBytes},
		{Name: "j", Kind: KindJSON},
	}, PK: []int{0}}
	rows := [][]any{
		{int64(-1), []byte("18446744073709551615"), float32(0.1), 1e300, []byte("-12.50"), []byte("2024-02-29 23:59:59.123456"), []byte("it's\x00\xff"), []byte(`{"a":1}`)},
		{int64(2), nil, float32(3), 0.5, nil, nil, []byte{}, nil},
	}
	stmts, err := tb.InsertStatements(rows, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := "INSERT INTO `d`.`t``x` (`id`, `u`, `f`, `g`, `dec`, `ts`, `s`, `j`) VALUES " +
		"(-1,18446744073709551615,0.10000000149011612,1e+300,-12.50,'2024-02-29 23:59:59.123456',X'69742773" + "00ff',CONVERT(X'7b2261223a317d' USING utf8mb4))," +
		"(2,NULL,3,0.5,NULL,NULL,X'',NULL)"
	if len(stmts) != 1 || stmts[0] != want {
		t.Fatalf("InsertStatements:\n got %q\nwant %q", stmts, want)
	}

	// Splitting: every statement stays under the limit, no row is lost.
	var many [][]any
	for i := range 100 {
		many = append(many, []any{int64(i), nil, nil, nil, nil, nil, bytes.Repeat([]byte{'x'}, 50), nil})
	}
	stmts, err = tb.InsertStatements(many, 1000)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range stmts {
		if len(s) > 1000 {
			t.Errorf("statement of %d bytes exceeds 1000", len(s))
		}
		total += strings.Count(s, "X'")
	}
	if total != 100 || len(stmts) < 10 {
		t.Errorf("%d rows in %d statements, want 100 rows in at least 10", total, len(stmts))
	}

	if _, err := tb.InsertStatements([][]any{{[]byte("1; DROP TABLE x"), nil, nil, nil, nil, nil, nil, nil}}, 1000); err == nil {
		t.Error("a non-numeric value for an integer column was encoded")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	tb := &Table{Columns: []Column{
		{Name: "a", Kind: KindInteger}, {Name: "b", Kind: KindBytes}, {Name: "c", Kind: KindFloat}, {Name: "d", Kind: KindInteger},
	}, PK: []int{3, 1, 2, 0}}
	k, err := tb.keyOf([]any{int64(-5), []byte("x\x00y"), float32(1.5), []byte("18446744073709551615")})
	if err != nil {
		t.Fatal(err)
	}
	want := Key{uint64(18446744073709551615), []byte("x\x00y"), float32(1.5), int64(-5)}
	if !reflect.DeepEqual(k, want) {
		t.Fatalf("keyOf = %#v, want %#v", k, want)
	}
	enc, err := EncodeKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := DecodeKey(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dec, k) {
		t.Errorf("DecodeKey(EncodeKey(k)) = %#v, want %#v", dec, k)
	}
	if enc2, _ := EncodeKey(dec); enc2 != enc {
		t.Errorf("encoding not deterministic: %s vs %s", enc, enc2)
	}
	if e, _ := EncodeKey(nil); e != "" {
		t.Errorf("EncodeKey(nil) = %q, want open bound", e)
	}
	if _, err := tb.keyOf([]any{int64(1), nil, float32(1), int64(1)}); err == nil {
		t.Error("NULL key value accepted")
	}
}

func FuzzDecodeKey(f *testing.F) {
	f.Add(`[{"i":1},{"b":"eA=="}]`)
	f.Add(`[{"u":18446744073709551615},{"f32":1.5}]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := DecodeKey(s)
		if err != nil || k == nil {
			return
		}
		enc, err := EncodeKey(k)
		if err != nil {
			return
		}
		k2, err := DecodeKey(enc)
		if err != nil || !reflect.DeepEqual(k, k2) {
			t.Fatalf("round trip of %q: %v, %#v vs %#v", s, err, k, k2)
		}
	})
}
