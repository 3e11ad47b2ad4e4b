package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func ordersTable(t testing.TB) *Table {
	t.Helper()
	tbl, err := NewTable(tableMap("shop", "orders", []int{0, 1},
		colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONGLONG, unsigned: true, notNull: true},
		colSpec{name: "at", typ: mysql.MYSQL_TYPE_DATETIME2, meta: 3, notNull: true},
		colSpec{name: "qty", typ: mysql.MYSQL_TYPE_LONG},
		colSpec{name: "note", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 80, collation: collUTF8MB4},
	))
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func encodeRow(t testing.TB, tbl *Table, image ...any) *Row {
	t.Helper()
	row := new(Row)
	if err := tbl.EncodeRow(row, image, nil); err != nil {
		t.Fatal(err)
	}
	return row
}

func TestRecordRoundTrip(t *testing.T) {
	tbl := ordersTable(t)
	before := encodeRow(t, tbl, uint64(7), "2024-01-02 03:04:05.000", int32(1), "old")
	after := encodeRow(t, tbl, uint64(7), "2024-01-02 03:04:05.000", int32(2), "new \"quoted\"")
	rec := &Record{
		V: Version, Cluster: "main", Region: "eu", Origin: "us", GTID: "0-1-42", TS: 1700000000123,
		Seq: 3, Last: true, Op: OpUpdate, DB: "shop", Table: "orders", PK: tbl.PK,
		Before: before, After: after, GTIDSet: "0-1-42,1-2-7",
	}
	data, err := rec.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"v":1,"cluster":"main","region":"eu","origin":"us","gtid":"0-1-42","ts":1700000000123,"seq":3,"last":true,"op":"update","db":"shop","table":"orders","pk":["id","at"],` +
		`"types":{"id":"bigint unsigned","at":"datetime(3)","qty":"int","note":"varchar utf8mb4"},` +
		`"before":{"id":"7","at":"2024-01-02 03:04:05.000","qty":1,"note":"old"},` +
		`"after":{"id":"7","at":"2024-01-02 03:04:05.000","qty":2,"note":"new \"quoted\""},"gtid_set":"0-1-42,1-2-7"}`
	if string(data) != want {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", data, want)
	}
	// Any JSON consumer reads it; the images are plain objects.
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatalf("encoding/json cannot read the record: %v", err)
	}
	if generic["after"].(map[string]any)["qty"] != 2.0 {
		t.Errorf("generic read of after.qty: %v", generic["after"])
	}

	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.GTID != rec.GTID || got.TS != rec.TS || got.Seq != 3 || !got.Last || got.Origin != "us" || got.GTIDSet != rec.GTIDSet {
		t.Errorf("header fields: got %+v", got)
	}
	if !reflect.DeepEqual(got.After.Table.PK, []string{"id", "at"}) || !reflect.DeepEqual(got.After.Table.PKIndex, []int{0, 1}) {
		t.Errorf("decoded PK: %v %v", got.After.Table.PK, got.After.Table.PKIndex)
	}
	args := make([]any, 0, 4)
	for i := range got.Before.Values {
		a, err := got.Before.Arg(i)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, a)
	}
	if want := []any{uint64(7), "2024-01-02 03:04:05.000", int64(1), "old"}; !reflect.DeepEqual(args, want) {
		t.Errorf("before args: got %#v, want %#v", args, want)
	}
	if v, ok := got.After.Value("note"); !ok || string(v) != `"new \"quoted\""` {
		t.Errorf("Value(note) = %s, %v", v, ok)
	}

	// json.Marshal and json.Unmarshal go through the same code.
	viaStd, err := json.Marshal(rec)
	if err != nil || string(viaStd) != want {
		t.Errorf("json.Marshal: %s, %v", viaStd, err)
	}
	var back Record
	if err := json.Unmarshal(data, &back); err != nil || back.GTID != "0-1-42" {
		t.Errorf("json.Unmarshal: %+v, %v", back, err)
	}
}

func TestRecordKey(t *testing.T) {
	tbl := ordersTable(t)
	row := encodeRow(t, tbl, uint64(18446744073709551615), "2024-01-02 03:04:05.000", nil, nil)
	noPK, err := NewTable(tableMap("shop", "audit", nil, colSpec{name: "msg", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 8, collation: collUTF8MB4}))
	if err != nil {
		t.Fatal(err)
	}
	odd, err := NewTable(tableMap("a.b", "c/`d", []int{0}, colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		rec  Record
		want string
	}{
		{"insert", Record{Op: OpInsert, DB: "shop", Table: "orders", After: row}, `shop.orders/["18446744073709551615","2024-01-02 03:04:05.000"]`},
		{"delete uses before", Record{Op: OpDelete, DB: "shop", Table: "orders", Before: row}, `shop.orders/["18446744073709551615","2024-01-02 03:04:05.000"]`},
		{"no primary key", Record{Op: OpInsert, DB: "shop", Table: "audit", After: encodeRow(t, noPK, "x")}, `shop.audit/[]`},
		{"names quoted when ambiguous", Record{Op: OpInsert, DB: "a.b", Table: "c/`d", After: encodeRow(t, odd, int32(5))}, "`a.b`.`c/``d`/[5]"},
		{"ddl", Record{Op: OpDDL, DB: "shop", Table: "orders", SQL: "ALTER TABLE orders ADD x INT"}, `shop.orders`},
		{"ddl without table", Record{Op: OpDDL, DB: "shop", SQL: "CREATE DATABASE shop"}, `shop`},
		{"heartbeat", Record{Op: OpHeartbeat, DB: "drc_meta", Table: "heartbeat"}, `drc_meta.heartbeat`},
	}
	for _, tc := range cases {
		got, err := tc.rec.AppendKey(nil)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: AppendKey = %s, %v; want %s", tc.name, got, err, tc.want)
		}
	}
	partial := new(Row)
	if err := tbl.EncodeRow(partial, []any{nil, "2024-01-02 03:04:05.000", nil, nil}, []int{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Record{Op: OpInsert, DB: "shop", Table: "orders", After: partial}).AppendKey(nil); !errors.Is(err, ErrPartialImage) {
		t.Errorf("key of image without its PK column: got %v, want ErrPartialImage", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	const head = `"v":1,"cluster":"c","region":"r","origin":"r","gtid":"g","ts":1,"seq":0,"last":true`
	const types = `"types":{"id":"int","s":"varchar utf8mb4"}`
	cases := []struct {
		name, in, want string
	}{
		{"not JSON", `{`, "unexpected end of JSON input"},
		{"not an object", `[1]`, "want a JSON object"},
		{"no version", `{"op":"insert"}`, `missing field "v"`},
		{"future version", `{"v":2,"op":"insert"}`, "unsupported format version 2"},
		{"unknown op", `{` + head + `,"op":"upsert"}`, `unknown op "upsert"`},
		{"seq of wrong type", `{"v":1,"seq":"x","op":"insert"}`, "seq"},
		{"insert without after", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `}`, `insert record on d.t must have "after" and no "before"`},
		{"insert with before", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"before":{"id":1},"after":{"id":1}}`, `must have "after" and no "before"`},
		{"update without before", `{` + head + `,"op":"update","db":"d","table":"t","pk":[],` + types + `,"after":{"id":1}}`, `must have "before" and "after"`},
		{"delete with after", `{` + head + `,"op":"delete","db":"d","table":"t","pk":[],` + types + `,"before":{"id":1},"after":{"id":1}}`, `must have "before" and no "after"`},
		{"row without table", `{` + head + `,"op":"insert","db":"d","pk":[],"after":{"id":1}}`, `without "db" and "table"`},
		{"row without pk", `{` + head + `,"op":"insert","db":"d","table":"t",` + types + `,"after":{"id":1}}`, `without "pk"`},
		{"ddl without sql", `{` + head + `,"op":"ddl","db":"d"}`, `ddl record without "sql"`},
		{"ddl with image", `{` + head + `,"op":"ddl","sql":"x","after":{"a":1}}`, "ddl record has a row image"},
		{"column without type", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":{"id":1,"x":2}}`, `d.t after image: column "x" has no type`},
		{"column twice", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":{"id":1,"id":2}}`, `column "id" appears twice`},
		{"image not an object", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":[1]}`, `d.t after image: want a JSON object`},
		{"before image not an object", `{` + head + `,"op":"update","db":"d","table":"t","pk":[],` + types + `,"before":"x","after":{"id":1}}`, `d.t before image: want a JSON object`},
		{"image key escaped twice", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":{"id":1,"\u0069d":2}}`, `column "id" appears twice`},
		{"image given twice, the last counts", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":{"id":1},"after":{"x":2}}`, `column "x" has no type`},
		{"pk column without type", `{` + head + `,"op":"insert","db":"d","table":"t","pk":["k"],` + types + `,"after":{"id":1}}`, `primary-key column "k" has no type`},
		{"bad type string", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],"types":{"id":"decimal(10)"},"after":{"id":1}}`, `types: column "id": type "decimal(10)": want 2 parameters, got 1`},
		{"charset injection", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],"types":{"s":"varchar gbk) OR (1"},"after":{"s":"x"}}`, `want one charset name`},
		{"type not a string", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],"types":{"id":5},"after":{"id":1}}`, `column "id": want a type string`},
		{"json_null on non-json", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],` + types + `,"after":{"id":null},"after_json_null":["id"]}`, `of type int, want json`},
		{"json_null without image", `{` + head + `,"op":"insert","db":"d","table":"t","pk":[],"types":{"j":"json"},"after":{"j":null},"before_json_null":["j"]}`, "before_json_null without a before image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("Decode(%s): no error", tc.in)
			}
			if !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("error %v: want errors.Is ErrInvalidRecord", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestArgErrors(t *testing.T) {
	cases := []struct {
		typ, val, want string
	}{
		{"tinyint", `300`, "want a signed 8-bit integer"},
		{"tinyint unsigned", `-1`, "want an unsigned 8-bit integer"},
		{"int", `"5"`, "want a number"},
		{"int", `1.5`, "want a signed 32-bit integer"},
		{"bigint", `5`, "want a string of digits"},
		{"bigint unsigned", `"18446744073709551616"`, "want an unsigned 64-bit integer"},
		{"bit(8)", `256`, "want an unsigned 8-bit integer"},
		{"year", `1800`, "want 0 or a year"},
		{"decimal(10,2)", `"1e5"`, "want a decimal string"},
		{"decimal(10,2)", `1.5`, "want a decimal string"},
		{"double", `"NaN"`, "want a number"},
		{"double", `1e999`, "want a DOUBLE"},
		{"float", `1e39`, "want a FLOAT"},
		{"datetime(3)", `"2024-01-02 03:04:05"`, "want a datetime with 3 fractional digits"},
		{"time", `"12:00:00.5"`, "want a time with 0 fractional digits"},
		{"varbinary", `"not base64!"`, "want a base64 string"},
		{"varchar gbk", `"xyz"`, "want a base64 string"},
		{"varchar utf8mb4", `5`, "want a string"},
		{"mystery", `1`, "unsupported column type"},
	}
	for _, tc := range cases {
		in := `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"c":` + strings.ReplaceAll(mustJSON(t, tc.typ), "", "") + `},"after":{"c":` + tc.val + `}}`
		rec, err := Decode([]byte(in))
		if err != nil {
			t.Errorf("%s %s: Decode: %v", tc.typ, tc.val, err)
			continue
		}
		_, err = rec.After.Arg(0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `column "c"`) {
			t.Errorf("%s %s: Arg error %v, want one naming the column and containing %q", tc.typ, tc.val, err, tc.want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	s, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeWithoutTypes(t *testing.T) {
	// A producer that omits the additive "types" still yields a readable
	// record; only the conversion to SQL arguments needs them.
	rec, err := Decode([]byte(`{"v":1,"op":"delete","db":"d","table":"t","pk":["id"],"before":{"id":1,"s":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := rec.Before.Value("s"); !ok || string(v) != `"x"` {
		t.Errorf("Value(s) = %s, %v", v, ok)
	}
	if _, err := rec.Before.Arg(0); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("Arg without types: got %v, want ErrUnsupportedType", err)
	}
	if key, err := rec.AppendKey(nil); err != nil || string(key) != `d.t/[1]` {
		t.Errorf("key: %s, %v", key, err)
	}
}

func TestDecoderCachesTables(t *testing.T) {
	tbl := ordersTable(t)
	rec := &Record{V: 1, Op: OpInsert, DB: "shop", Table: "orders", PK: tbl.PK,
		After: encodeRow(t, tbl, uint64(1), "2024-01-02 03:04:05.000", int32(1), "x")}
	data, err := rec.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	a, err := d.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if a.After.Table != b.After.Table {
		t.Error("same types twice: want one cached Table")
	}
	// Another schema for the same table (after a DDL) is another Table.
	other := strings.Replace(string(data), `"qty":"int"`, `"qty":"bigint"`, 1)
	other = strings.Replace(other, `"qty":1`, `"qty":"1"`, 1)
	c, err := d.Decode([]byte(other))
	if err != nil {
		t.Fatal(err)
	}
	if c.After.Table == a.After.Table || c.After.Table.Columns[2].Kind != KindBigInt {
		t.Error("changed types: want a new Table")
	}
}

func TestAppendJSONRejectsWrongShape(t *testing.T) {
	tbl := ordersTable(t)
	row := encodeRow(t, tbl, uint64(1), "2024-01-02 03:04:05.000", nil, nil)
	for _, rec := range []*Record{
		{V: 1, Op: OpInsert, DB: "shop", Table: "orders"},
		{V: 1, Op: OpInsert, DB: "shop", Table: "orders", Before: row, After: row},
		{V: 1, Op: OpUpdate, DB: "shop", Table: "orders", After: row},
		{V: 1, Op: OpDelete, DB: "shop", Table: "orders", After: row},
		{V: 1, Op: OpHeartbeat, DB: "drc_meta", Table: "heartbeat", Before: row},
		{V: 1, Op: OpDDL, DB: "shop", SQL: "x", After: row},
	} {
		if data, err := rec.AppendJSON(nil); err == nil {
			t.Errorf("%s with before=%v after=%v: want an error, got %s", rec.Op, rec.Before != nil, rec.After != nil, data)
		}
	}
}

func TestAppendJSONRejectsInvalidUTF8(t *testing.T) {
	rec := &Record{V: 1, Op: OpDDL, DB: "d", SQL: "ALTER TABLE t COMMENT '\xff'"}
	if _, err := rec.AppendJSON(nil); !errors.Is(err, ErrUnencodable) || !strings.Contains(err.Error(), `"sql"`) {
		t.Errorf("got %v, want ErrUnencodable naming the field", err)
	}
}

func TestControlRecords(t *testing.T) {
	for _, rec := range []*Record{
		{V: 1, Cluster: "c", Op: OpDDL, DB: "shop", Table: "orders", SQL: "ALTER TABLE `orders` ADD COLUMN `x` INT", GTID: "0-1-9", Last: true},
	} {
		data, err := rec.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", data, err)
		}
		again, _ := got.AppendJSON(nil)
		if string(again) != string(data) {
			t.Errorf("round trip:\n got %s\nwant %s", again, data)
		}
		if strings.Contains(string(data), `"types"`) || !strings.Contains(string(data), `"pk":[]`) {
			t.Errorf("control record %s: want no types and an empty pk", data)
		}
	}
}

// TestSetBitsRoundTrip: a SET bitmap with bits that name no member (a
// server applying row events stores a wider SET's bytes as they come)
// keeps the member names it has in the image, and its whole bitmap in
// before_set_bits/after_set_bits, through AppendJSON and Decode; Arg is the
// member names, which is all a statement can store.
func TestSetBitsRoundTrip(t *testing.T) {
	set3 := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_SET, 1), collation: collUTF8MB4, members: []string{"x", "y", "z"}}
	set9 := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_SET, 2), collation: collLatin1}
	set33 := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_SET, 8), collation: collUTF8MB4}
	for i := range 9 {
		set9.members = append(set9.members, string(rune('a'+i)))
	}
	for i := range 33 {
		set33.members = append(set33.members, "m"+string(rune('A'+i%26))+string(rune('0'+i/26)))
	}
	s3, s9, s33 := set3, set9, set33
	s3.name, s9.name, s33.name = "s3", "s9", "s33"
	tbl, err := NewTable(tableMap("db", "t", []int{0}, colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG}, s3, s9, s33))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		before    []any // image for id 1; nil: an insert
		after     []any
		wantTail  string // the record after "types", from the images on
		wantBits  [2]map[int]uint64
		wantArgs  [2][]any
		wantClean bool // no set_bits field at all
	}{
		{
			name:      "ordinary values carry nothing",
			after:     []any{int32(1), int64(5), int64(0x1ff), int64(1)},
			wantTail:  `"after":{"id":1,"s3":"x,z","s9":"a,b,c,d,e,f,g,h,i","s33":"mA0"}}`,
			wantArgs:  [2][]any{nil, {int64(1), "x,z", "a,b,c,d,e,f,g,h,i", "mA0"}},
			wantClean: true,
		},
		{
			name:     "only a bit beyond the members",
			after:    []any{int32(1), int64(8), nil, nil},
			wantTail: `"after":{"id":1,"s3":"","s9":null,"s33":null},"after_set_bits":{"s3":"8"}}`,
			wantBits: [2]map[int]uint64{nil, {1: 8}},
			wantArgs: [2][]any{nil, {int64(1), "", nil, nil}},
		},
		{
			name:     "members and bits beyond, in every storage width",
			after:    []any{int32(1), int64(0xff), int64(0x8001), int64(-1)},
			wantTail: `"after":{"id":1,"s3":"x,y,z","s9":"a","s33":"` + strings.Join(set33.members, ",") + `"},"after_set_bits":{"s3":"255","s9":"32769","s33":"18446744073709551615"}}`,
			wantBits: [2]map[int]uint64{nil, {1: 255, 2: 0x8001, 3: 1<<64 - 1}},
			wantArgs: [2][]any{nil, {int64(1), "x,y,z", "a", strings.Join(set33.members, ",")}},
		},
		{
			name:     "update from bits beyond to a member",
			before:   []any{int32(1), int64(13), int64(0), nil},
			after:    []any{int32(1), int64(2), int64(0), nil},
			wantTail: `"before":{"id":1,"s3":"x,z","s9":"","s33":null},"after":{"id":1,"s3":"y","s9":"","s33":null},"before_set_bits":{"s3":"13"}}`,
			wantBits: [2]map[int]uint64{{1: 13}, nil},
			wantArgs: [2][]any{{int64(1), "x,z", "", nil}, {int64(1), "y", "", nil}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &Record{V: Version, Op: OpInsert, DB: "db", Table: "t", PK: tbl.PK, After: encodeRow(t, tbl, tc.after...)}
			if tc.before != nil {
				rec.Op, rec.Before = OpUpdate, encodeRow(t, tbl, tc.before...)
			}
			data, err := rec.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(string(data), tc.wantTail) {
				t.Errorf("record:\n got %s\nwant it to end %s", data, tc.wantTail)
			}
			if tc.wantClean && strings.Contains(string(data), "set_bits") {
				t.Errorf("record of ordinary values names set_bits: %s", data)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			for side, img := range [2]*Row{got.Before, got.After} {
				encoded := [2]*Row{rec.Before, rec.After}[side]
				if img == nil {
					continue
				}
				if img.HasSetBits() != (len(tc.wantBits[side]) > 0) || encoded.HasSetBits() != img.HasSetBits() {
					t.Errorf("image %d: HasSetBits %v (encoded %v), want %v", side, img.HasSetBits(), encoded.HasSetBits(), len(tc.wantBits[side]) > 0)
				}
				for i := range tbl.Columns {
					want, wantOK := tc.wantBits[side][i]
					for _, r := range []*Row{encoded, img} {
						if bits, ok := r.SetBits(i); bits != want || ok != wantOK {
							t.Errorf("image %d column %s: SetBits = %d, %v; want %d, %v", side, tbl.Columns[i].Name, bits, ok, want, wantOK)
						}
					}
					a, err := img.Arg(i)
					if err != nil {
						t.Fatalf("Arg(%d): %v", i, err)
					}
					if !reflect.DeepEqual(a, tc.wantArgs[side][i]) {
						t.Errorf("image %d column %s: Arg = %#v, want %#v", side, tbl.Columns[i].Name, a, tc.wantArgs[side][i])
					}
				}
			}
			again, err := got.AppendJSON(nil)
			if err != nil || string(again) != string(data) {
				t.Errorf("re-encoded:\n got %s\nwant %s (%v)", again, data, err)
			}
		})
	}
	// A Row reused for an ordinary value forgets the bits.
	row := encodeRow(t, tbl, int32(1), int64(8), nil, nil)
	if err := tbl.EncodeRow(row, []any{int32(1), int64(1), nil, nil}, nil); err != nil {
		t.Fatal(err)
	}
	if row.HasSetBits() {
		t.Error("reused Row keeps the set bits of its previous value")
	}
}

func TestDecodeSetBitsErrors(t *testing.T) {
	const head = `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"id":"int","s":"set utf8mb4","e":"enum utf8mb4"},"after":{"id":1,"s":"","e":"a"}`
	cases := []struct {
		name, tail, want string
	}{
		{"unknown column", `,"after_set_bits":{"q":"8"}}`, `set_bits names unknown column "q"`},
		{"not a set", `,"after_set_bits":{"e":"8"}}`, `set_bits names column "e" of type enum utf8mb4, want set`},
		{"twice", `,"after_set_bits":{"s":"8","s":"8"}}`, `set_bits names column "s" twice`},
		{"number", `,"after_set_bits":{"s":8}}`, `want a string of digits`},
		{"zero", `,"after_set_bits":{"s":"0"}}`, `want a non-zero 64-bit bitmap`},
		{"leading zero", `,"after_set_bits":{"s":"08"}}`, `want a non-zero 64-bit bitmap`},
		{"over 64 bits", `,"after_set_bits":{"s":"18446744073709551616"}}`, `want a non-zero 64-bit bitmap`},
		{"not an object", `,"after_set_bits":["s"]}`, `want a JSON object`},
		{"without the image", `,"before_set_bits":{"s":"8"}}`, `before_set_bits without a before image`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(head + tc.tail))
			if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: got %v, want ErrInvalidRecord containing %q", err, tc.want)
			}
		})
	}
	null := `{"v":1,"op":"insert","db":"d","table":"t","pk":[],"types":{"s":"set utf8mb4"},"after":{"s":null},"after_set_bits":{"s":"8"}}`
	if _, err := Decode([]byte(null)); err == nil || !strings.Contains(err.Error(), "no value in the image") {
		t.Errorf("set_bits on NULL: got %v", err)
	}
	// A null field is absent, as for the other additive fields.
	if rec, err := Decode([]byte(head + `,"after_set_bits":null}`)); err != nil || rec.After.HasSetBits() {
		t.Errorf("null set_bits: %v", err)
	}
}

// TestDecoderCopiesItsInput: a Record must not alias the bytes it was
// decoded from, which a Kafka client or the fragment assembler reuses for
// the next record.
func TestDecoderCopiesItsInput(t *testing.T) {
	data := benchInsertJSON(t)
	var d Decoder
	buf := bytes.Clone(data)
	first, err := d.Decode(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := string(first.After.Values[8])
	for i := range buf {
		buf[i] = 'x' // the caller reuses its buffer
	}
	if _, err := d.Decode(data); err != nil {
		t.Fatal(err)
	}
	if got := string(first.After.Values[8]); got != want {
		t.Fatalf("the first record's value changed with its input buffer: %s, want %s", got, want)
	}
}

// TestDecodeKeepsOnlyTheRecord: the package's Decode, which callers use
// for records they keep (a failback's quarantine), copies the record
// alone, not into a slab that each kept record would pin.
func TestDecodeKeepsOnlyTheRecord(t *testing.T) {
	data := benchInsertJSON(t)
	const n = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := Decode(data); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The record, its Table and values: a few KiB, far from a slab.
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > slabBytes/4 {
		t.Fatalf("Decode allocates %d bytes for a %d-byte record", per, len(data))
	}
}

// benchInsertJSON is an insert record of benchTable's row, encoded.
func benchInsertJSON(t *testing.T) []byte {
	t.Helper()
	tbl, image := benchTable(t)
	var row Row
	if err := tbl.EncodeRow(&row, image, nil); err != nil {
		t.Fatal(err)
	}
	rec := Record{V: 1, Op: OpInsert, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK, After: &row}
	data, err := rec.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
