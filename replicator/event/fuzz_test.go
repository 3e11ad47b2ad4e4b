package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// FuzzDecode: Decode never panics on any input, rejects all that
// json.Valid rejects, and what it accepts re-encodes to a record that
// decodes to the same bytes again.
func FuzzDecode(f *testing.F) {
	for _, tc := range typeCases() {
		tc.col.name = "v"
		tbl, err := NewTable(tableMap("db", "t", []int{0}, tc.col))
		if err != nil {
			f.Fatal(err)
		}
		var row Row
		if err := tbl.EncodeRow(&row, []any{tc.in}, nil); err != nil {
			f.Fatal(err)
		}
		rec := Record{V: 1, Op: OpDelete, DB: "db", Table: "t", PK: tbl.PK, Before: &row}
		data, err := rec.AppendJSON(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"v":1,"op":"update","db":"d","table":"t","pk":["id"],"types":{"id":"int","j":"json"},"before":{"id":1,"j":null},"after":{"id":2,"j":null},"after_json_null":["j"]}`))
	f.Add([]byte(`{"v":1,"op":"ddl","db":"d","sql":"DROP TABLE t","pk":[]}`))
	f.Add([]byte(`{"v":1,"op":"update","db":"d","table":"t","pk":["id"],"types":{"id":"int","s":"set latin1","b":"longblob","p":"point","d":"decimal(5,2) unsigned"},"before":{"id":1,"s":"a","b":"","p":null,"d":"1.00"},"after":{"id":1,"s":"","b":"AA==","p":null,"d":null},"before_set_bits":{"s":"9"},"after_set_bits":{"s":"18446744073709551615"}}`))
	f.Add([]byte(`{"v":1,"op":"insert","db":"d","table":"t","pk":[],"after":{"a\u0000b":[1,{"x":"}"}]}}`))
	f.Add([]byte(`{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"x":"binary(4)"},"after":{"x":"AAAAAA=="}}`))
	f.Add([]byte(`{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},"after":{"j":[1,{"x":01}]}}`))
	f.Add([]byte(`{"v":1,"op":"ddl","db":"d","sql":"DROP TABLE t","pk":[],"x":"\q"} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Decode error %v does not wrap ErrInvalidRecord", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Decode accepted invalid JSON %q", data)
		}
		for _, img := range []*Row{rec.Before, rec.After} {
			if img == nil {
				continue
			}
			for i := range img.Values {
				_, _ = img.Arg(i) // must not panic
			}
		}
		_, _ = rec.AppendKey(nil)
		out, err := rec.AppendJSON(nil)
		if err != nil {
			t.Fatalf("AppendJSON of a decoded record: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("AppendJSON wrote invalid JSON: %s", out)
		}
		rec2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		out2, err := rec2.AppendJSON(nil)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s (%v)", out, out2, err)
		}
	})
}

// FuzzRoundTrip: values as go-mysql hands them to the encoder come back
// from Arg, after AppendJSON and Decode, as exactly the SQL arguments that
// reproduce them.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(-1), uint64(math.MaxUint64), math.Copysign(0, -1), uint32(0x80000000), "héllo 😀", []byte{0, 1, 0xff}, uint8(3))
	f.Add(int64(math.MinInt64), uint64(0), math.MaxFloat64, uint32(1), "", []byte{}, uint8(0))
	f.Add(int64(42), uint64(1<<53), 1e-300, math.Float32bits(0.1), "\"\\\n\u2028", []byte("\x80\x81\x9f\xa0"), uint8(6))
	f.Add(int64(0), uint64(7), math.Inf(1), uint32(0x7fc00000), "\xff", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(9))

	tbl, err := NewTable(tableMap("db", "t", []int{0},
		colSpec{name: "bi", typ: mysql.MYSQL_TYPE_LONGLONG},
		colSpec{name: "bu", typ: mysql.MYSQL_TYPE_LONGLONG, unsigned: true},
		colSpec{name: "i", typ: mysql.MYSQL_TYPE_LONG},
		colSpec{name: "d", typ: mysql.MYSQL_TYPE_DOUBLE, meta: 8},
		colSpec{name: "f", typ: mysql.MYSQL_TYPE_FLOAT, meta: 4},
		colSpec{name: "s", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 400, collation: collUTF8MB4},
		colSpec{name: "l", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 400, collation: collLatin1},
		colSpec{name: "vb", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 400, collation: collBinary},
		colSpec{name: "bn", typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_STRING, 8), collation: collBinary},
		colSpec{name: "g", typ: mysql.MYSQL_TYPE_BLOB, meta: 2, collation: collGBK},
		colSpec{name: "bit", typ: mysql.MYSQL_TYPE_BIT, meta: bitMeta(64)},
		colSpec{name: "dec", typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 65<<8 | 30},
		colSpec{name: "dt", typ: mysql.MYSQL_TYPE_DATETIME2, meta: 6},
	))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, i64 int64, u64 uint64, f64 float64, f32bits uint32, s string, b []byte, fsp uint8) {
		f32 := math.Float32frombits(f32bits)
		// BINARY(8) as the binlog carries it: at most 8 bytes, trailing
		// zeros stripped.
		bn := b[:min(len(b), 8)]
		bn = bytes.TrimRight(bn, "\x00")
		padded := append(bytes.Clone(bn), make([]byte, 8-len(bn))...)
		dec := fmt.Sprintf("%d.%030d", i64, u64%1e18)
		frac := fmt.Sprintf("%06d", u64%1e6)
		dt := "2024-01-02 03:04:05." + frac

		image := []any{i64, u64, int32(i64), f64, f32, s, b, string(b), string(bn), b, int64(u64), dec, dt}
		var row Row
		err := tbl.EncodeRow(&row, image, nil)
		badFloat := math.IsNaN(f64) || math.IsInf(f64, 0) || math.IsNaN(float64(f32)) || math.IsInf(float64(f32), 0)
		if badFloat || !utf8.ValidString(s) {
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("NaN/Inf or invalid UTF-8: got %v, want ErrUnencodable", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("EncodeRow: %v", err)
		}
		rec := Record{V: 1, Op: OpInsert, DB: "db", Table: "t", PK: tbl.PK, After: &row}
		data, err := rec.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(data, &generic); err != nil {
			t.Fatalf("encoding/json cannot read %s: %v", data, err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", data, err)
		}
		want := []any{i64, u64, int64(int32(i64)), f64, float64(f32), s, latin1ToUTF8(b), b, padded, b, u64, dec, dt}
		for i, w := range want {
			a, err := got.After.Arg(i)
			if err != nil {
				t.Fatalf("Arg(%s = %s): %v", tbl.Columns[i].Name, got.After.Values[i], err)
			}
			if bs, ok := w.([]byte); ok && len(bs) == 0 {
				w = []byte{}
			}
			if !sameArg(a, w) {
				t.Fatalf("column %s: got %T %#v, want %T %#v (JSON %s)", tbl.Columns[i].Name, a, a, w, w, got.After.Values[i])
			}
		}
		// latin1 is a bijection: the server's conversion back restores b.
		if back := utf8ToLatin1(t, latin1ToUTF8(b)); !bytes.Equal(back, b) {
			t.Fatalf("latin1 round trip: %x -> %x", b, back)
		}
	})
}

// latin1ToUTF8 and utf8ToLatin1 model the server's conversions between
// MySQL latin1 and utf8mb4 with the table in charset.go.
func latin1ToUTF8(b []byte) string {
	s := string(appendLatin1(nil, b))
	var out string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		panic(err)
	}
	return out
}

func utf8ToLatin1(t *testing.T, s string) []byte {
	var out []byte
	for _, r := range s {
		switch {
		case r < 0x80 || r >= 0xA0 && r <= 0xFF:
			out = append(out, byte(r))
		default:
			found := false
			for j, h := range latin1High {
				if h == r {
					out = append(out, byte(0x80+j))
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("rune %U has no latin1 byte", r)
			}
		}
	}
	return out
}
