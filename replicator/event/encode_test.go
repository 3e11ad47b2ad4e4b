package event

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// typeCase is one value of one column type: what go-mysql hands the
// encoder, the JSON the record carries, and the SQL argument the applier
// gets back after a trip through the wire.
type typeCase struct {
	name     string
	col      colSpec
	in       any    // as go-mysql decodes it with SyncerConfig's options
	wantJSON string // the value in the row image
	wantType string // the column's type string
	wantArg  any    // Row.Arg after AppendJSON and Decode
	jsonNull bool   // JSON null literal in a JSON column
}

// enumZero: the case is ENUM index 0, the error value.
func (tc typeCase) enumZero() bool {
	n, ok := tc.in.(int64)
	return ok && n == 0 && tc.wantType[:4] == "enum"
}

func typeCases() []typeCase {
	t := func(typ byte, meta uint16, unsigned bool) colSpec {
		return colSpec{typ: typ, meta: meta, unsigned: unsigned}
	}
	s := func(typ byte, meta uint16, collation uint64) colSpec {
		return colSpec{typ: typ, meta: meta, collation: collation}
	}
	enum := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_ENUM, 1), collation: collLatin1, members: []string{"a", "b", "\xfc"}}
	enumEmpty := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_ENUM, 1), collation: collUTF8MB4, members: []string{"x", ""}}
	set := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_SET, 1), collation: collUTF8MB4, members: []string{"x", "y", "z"}}
	set64 := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_SET, 8), collation: collUTF8MB4}
	for i := range 64 {
		set64.members = append(set64.members, string(rune('A'+i%26))+string(rune('0'+i/26)))
	}
	all64 := strings.Join(set64.members, ",")

	tiny, short, int24, long, longlong := mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG
	dec := func(p, s int) colSpec { return t(mysql.MYSQL_TYPE_NEWDECIMAL, uint16(p)<<8|uint16(s), false) }
	flt, dbl := t(mysql.MYSQL_TYPE_FLOAT, 4, false), t(mysql.MYSQL_TYPE_DOUBLE, 8, false)
	bit := func(n int) colSpec { return t(mysql.MYSQL_TYPE_BIT, bitMeta(n), false) }
	year := t(mysql.MYSQL_TYPE_YEAR, 0, true) // MariaDB flags YEAR unsigned
	date := t(mysql.MYSQL_TYPE_DATE, 0, false)
	time2 := func(fsp int) colSpec { return t(mysql.MYSQL_TYPE_TIME2, uint16(fsp), false) }
	datetime2 := func(fsp int) colSpec { return t(mysql.MYSQL_TYPE_DATETIME2, uint16(fsp), false) }
	timestamp2 := func(fsp int) colSpec { return t(mysql.MYSQL_TYPE_TIMESTAMP2, uint16(fsp), false) }
	char := func(coll uint64) colSpec {
		return s(mysql.MYSQL_TYPE_STRING, stringMeta(mysql.MYSQL_TYPE_STRING, 20), coll)
	}
	varchar := func(coll uint64) colSpec { return s(mysql.MYSQL_TYPE_VARCHAR, 80, coll) }
	blob := func(coll uint64) colSpec { return s(mysql.MYSQL_TYPE_BLOB, 2, coll) }
	sizedBlob := func(lengthBytes uint16, coll uint64) colSpec { return s(mysql.MYSQL_TYPE_BLOB, lengthBytes, coll) }
	geometry := func(code uint64) colSpec {
		return colSpec{typ: mysql.MYSQL_TYPE_GEOMETRY, meta: 4, geometry: code}
	}
	point := []byte("\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@")
	binary4 := s(mysql.MYSQL_TYPE_STRING, stringMeta(mysql.MYSQL_TYPE_STRING, 4), collBinary)
	jsonCol := t(mysql.MYSQL_TYPE_JSON, 4, false)

	return []typeCase{
		// Integers: numbers up to INT UNSIGNED, strings for BIGINT, whose
		// values do not all fit a JSON consumer's double.
		{"tinyint min", t(tiny, 0, false), int8(-128), `-128`, "tinyint", int64(-128), false},
		{"tinyint max", t(tiny, 0, false), int8(127), `127`, "tinyint", int64(127), false},
		{"tinyint unsigned max", t(tiny, 0, true), uint8(255), `255`, "tinyint unsigned", uint64(255), false},
		{"tinyint unsigned decoded signed", t(tiny, 0, true), int8(-1), `255`, "tinyint unsigned", uint64(255), false},
		{"smallint min", t(short, 0, false), int16(-32768), `-32768`, "smallint", int64(-32768), false},
		{"smallint unsigned max", t(short, 0, true), uint16(65535), `65535`, "smallint unsigned", uint64(65535), false},
		{"mediumint min", t(int24, 0, false), int32(-8388608), `-8388608`, "mediumint", int64(-8388608), false},
		{"mediumint unsigned max", t(int24, 0, true), uint32(16777215), `16777215`, "mediumint unsigned", uint64(16777215), false},
		{"mediumint unsigned decoded signed", t(int24, 0, true), int32(-1), `16777215`, "mediumint unsigned", uint64(16777215), false},
		{"int min", t(long, 0, false), int32(math.MinInt32), `-2147483648`, "int", int64(math.MinInt32), false},
		{"int unsigned max", t(long, 0, true), uint32(math.MaxUint32), `4294967295`, "int unsigned", uint64(math.MaxUint32), false},
		{"int unsigned decoded signed", t(long, 0, true), int32(-2), `4294967294`, "int unsigned", uint64(math.MaxUint32 - 1), false},
		{"bigint min", t(longlong, 0, false), int64(math.MinInt64), `"-9223372036854775808"`, "bigint", int64(math.MinInt64), false},
		{"bigint max", t(longlong, 0, false), int64(math.MaxInt64), `"9223372036854775807"`, "bigint", int64(math.MaxInt64), false},
		{"bigint zero", t(longlong, 0, false), int64(0), `"0"`, "bigint", int64(0), false},
		{"bigint unsigned max", t(longlong, 0, true), uint64(math.MaxUint64), `"18446744073709551615"`, "bigint unsigned", uint64(math.MaxUint64), false},
		{"bigint unsigned decoded signed", t(longlong, 0, true), int64(-1), `"18446744073709551615"`, "bigint unsigned", uint64(math.MaxUint64), false},

		// DECIMAL: the exact string, all scale digits kept.
		{"decimal 65,30", dec(65, 30), "-12345678901234567890123456789012345.123456789012345678901234567890",
			`"-12345678901234567890123456789012345.123456789012345678901234567890"`, "decimal(65,30)",
			"-12345678901234567890123456789012345.123456789012345678901234567890", false},
		{"decimal zero with scale", dec(10, 2), "0.00", `"0.00"`, "decimal(10,2)", "0.00", false},
		{"decimal negative fraction", dec(10, 2), "-0.50", `"-0.50"`, "decimal(10,2)", "-0.50", false},
		{"decimal integer", dec(5, 0), "99999", `"99999"`, "decimal(5,0)", "99999", false},
		{"decimal unsigned", t(mysql.MYSQL_TYPE_NEWDECIMAL, 10<<8|2, true), "99999999.99", `"99999999.99"`, "decimal(10,2) unsigned", "99999999.99", false},

		// FLOAT and DOUBLE: shortest round-trip text, -0 kept.
		{"float negative zero", flt, float32(math.Copysign(0, -1)), `-0`, "float", math.Copysign(0, -1), false},
		{"float max", flt, float32(math.MaxFloat32), `3.4028235e+38`, "float", float64(float32(math.MaxFloat32)), false},
		{"float smallest denormal", flt, float32(math.SmallestNonzeroFloat32), `1e-45`, "float", float64(float32(math.SmallestNonzeroFloat32)), false},
		{"float one tenth", flt, float32(0.1), `0.1`, "float", float64(float32(0.1)), false},
		{"float large integer", flt, float32(16777217), `16777216`, "float", float64(16777216), false},
		{"double negative zero", dbl, math.Copysign(0, -1), `-0`, "double", math.Copysign(0, -1), false},
		{"double max", dbl, math.MaxFloat64, `1.7976931348623157e+308`, "double", math.MaxFloat64, false},
		{"double smallest denormal", dbl, math.SmallestNonzeroFloat64, `5e-324`, "double", math.SmallestNonzeroFloat64, false},
		{"double one tenth", dbl, 0.1, `0.1`, "double", 0.1, false},
		{"double 1e21", dbl, 1e21, `1e+21`, "double", 1e21, false},
		{"double below 1e21", dbl, 123456789012345680000.0, `123456789012345680000`, "double", 123456789012345680000.0, false},
		{"double tiny", dbl, -1.5e-7, `-1.5e-7`, "double", -1.5e-7, false},
		{"float unsigned", t(mysql.MYSQL_TYPE_FLOAT, 4, true), float32(1.5), `1.5`, "float unsigned", 1.5, false},
		{"double unsigned", t(mysql.MYSQL_TYPE_DOUBLE, 8, true), 2.5, `2.5`, "double unsigned", 2.5, false},

		// BIT: an unsigned integer; a string when wider than 53 bits.
		{"bit 1", bit(1), int64(1), `1`, "bit(1)", uint64(1), false},
		{"bit 12", bit(12), int64(0xABC), `2748`, "bit(12)", uint64(0xABC), false},
		{"bit 53 max", bit(53), int64(1<<53 - 1), `9007199254740991`, "bit(53)", uint64(1<<53 - 1), false},
		{"bit 54", bit(54), int64(1 << 53), `"9007199254740992"`, "bit(54)", uint64(1 << 53), false},
		{"bit 64 all ones", bit(64), int64(-1), `"18446744073709551615"`, "bit(64)", uint64(math.MaxUint64), false},

		// YEAR: a number; 0 is the zero year.
		{"year max", year, 2155, `2155`, "year", int64(2155), false},
		{"year min", year, 1901, `1901`, "year", int64(1901), false},
		{"year zero", year, 0, `0`, "year", int64(0), false},

		// Temporal types: strings with exactly the column's fractional digits.
		{"date", date, "2024-02-29", `"2024-02-29"`, "date", "2024-02-29", false},
		{"date zero", date, "0000-00-00", `"0000-00-00"`, "date", "0000-00-00", false},
		{"time min", time2(0), "-838:59:59", `"-838:59:59"`, "time", "-838:59:59", false},
		{"time max", time2(0), "838:59:59", `"838:59:59"`, "time", "838:59:59", false},
		{"time zero", time2(0), "00:00:00", `"00:00:00"`, "time", "00:00:00", false},
		{"time fsp padded", time2(3), "12:00:00", `"12:00:00.000"`, "time(3)", "12:00:00.000", false},
		{"time negative fraction", time2(3), "-00:00:00.500", `"-00:00:00.500"`, "time(3)", "-00:00:00.500", false},
		{"time max fsp 6", time2(6), "838:59:59", `"838:59:59.000000"`, "time(6)", "838:59:59.000000", false},
		{"time old type", t(mysql.MYSQL_TYPE_TIME, 0, false), "-01:02:03", `"-01:02:03"`, "time", "-01:02:03", false},
		{"datetime", datetime2(0), "2024-01-02 03:04:05", `"2024-01-02 03:04:05"`, "datetime", "2024-01-02 03:04:05", false},
		{"datetime fsp 4", datetime2(4), "2024-01-02 03:04:05.1200", `"2024-01-02 03:04:05.1200"`, "datetime(4)", "2024-01-02 03:04:05.1200", false},
		{"datetime max", datetime2(6), "9999-12-31 23:59:59.999999", `"9999-12-31 23:59:59.999999"`, "datetime(6)", "9999-12-31 23:59:59.999999", false},
		{"datetime zero", datetime2(2), "0000-00-00 00:00:00.00", `"0000-00-00 00:00:00.00"`, "datetime(2)", "0000-00-00 00:00:00.00", false},
		{"timestamp min", timestamp2(6), "1970-01-01 00:00:01.000000", `"1970-01-01 00:00:01.000000"`, "timestamp(6)", "1970-01-01 00:00:01.000000", false},
		{"timestamp max", timestamp2(0), "2038-01-19 03:14:07", `"2038-01-19 03:14:07"`, "timestamp", "2038-01-19 03:14:07", false},
		{"timestamp zero", timestamp2(1), "0000-00-00 00:00:00.0", `"0000-00-00 00:00:00.0"`, "timestamp(1)", "0000-00-00 00:00:00.0", false},

		// Text: JSON strings, utf8mb4/utf8mb3/ascii as they are, latin1
		// transcoded; other charsets as raw bytes in base64.
		{"char utf8mb4", char(collUTF8MB4), "ab", `"ab"`, "char utf8mb4", "ab", false},
		{"char emoji", char(collUCA0900), "😀", `"😀"`, "char utf8mb4", "😀", false},
		{"varchar escapes", varchar(collUTF8MB4), "a\"b\\c\n\x00\x1f/\u2028<", `"a\"b\\c\n\u0000\u001f/\u2028<"`, "varchar utf8mb4", "a\"b\\c\n\x00\x1f/\u2028<", false},
		{"varchar trailing spaces", varchar(collLatin1), "x  ", `"x  "`, "varchar latin1", "x  ", false},
		{"varchar latin1 accents", varchar(collLatin1), "\xe9\xff", `"éÿ"`, "varchar latin1", "éÿ", false},
		{"varchar latin1 cp1252 range", varchar(collLatin1), "\x80\x81\x9f", "\"€\u0081Ÿ\"", "varchar latin1", "€\u0081Ÿ", false},
		{"varchar utf8mb3", varchar(collUTF8MB3), "ü", `"ü"`, "varchar utf8mb3", "ü", false},
		{"varchar empty", varchar(collUTF8MB4), "", `""`, "varchar utf8mb4", "", false},
		{"text utf8mb4 bytes", blob(collUTF8MB4), []byte("héllo"), `"héllo"`, "text utf8mb4", "héllo", false},
		{"text latin1 bytes", blob(collLatin1), []byte("\xe9"), `"é"`, "text latin1", "é", false},
		{"varchar gbk raw", varchar(collGBK), "\xc4\xe3\xba\xc3", `"xOO6ww=="`, "varchar gbk", []byte("\xc4\xe3\xba\xc3"), false},
		{"text gbk raw", blob(collGBK), []byte("\xc4\xe3"), `"xOM="`, "text gbk", []byte("\xc4\xe3"), false},
		{"tinytext", sizedBlob(1, collUTF8MB4), []byte("t"), `"t"`, "tinytext utf8mb4", "t", false},
		{"mediumtext", sizedBlob(3, collLatin1), []byte("\xe9"), `"é"`, "mediumtext latin1", "é", false},
		{"longtext (MariaDB JSON)", sizedBlob(4, collUTF8MB4), []byte(`{"a": 1}`), `"{\"a\": 1}"`, "longtext utf8mb4", `{"a": 1}`, false},

		// Binary: base64; BINARY(n) padded back to n bytes.
		{"binary padded", binary4, "\x01", `"AQAAAA=="`, "binary(4)", []byte{1, 0, 0, 0}, false},
		{"binary empty padded", binary4, "", `"AAAAAA=="`, "binary(4)", []byte{0, 0, 0, 0}, false},
		{"binary full", binary4, "\xff\x00\x00\x01", `"/wAAAQ=="`, "binary(4)", []byte{0xff, 0, 0, 1}, false},
		{"varbinary zero byte", varchar(collBinary), "\x00", `"AA=="`, "varbinary", []byte{0}, false},
		{"blob", blob(collBinary), []byte{0, 0xff}, `"AP8="`, "blob", []byte{0, 0xff}, false},
		{"blob empty", blob(collBinary), []byte{}, `""`, "blob", []byte{}, false},
		{"tinyblob", sizedBlob(1, collBinary), []byte{1}, `"AQ=="`, "tinyblob", []byte{1}, false},
		{"mediumblob", sizedBlob(3, collBinary), []byte{2}, `"Ag=="`, "mediumblob", []byte{2}, false},
		{"longblob", sizedBlob(4, collBinary), []byte{3}, `"Aw=="`, "longblob", []byte{3}, false},
		{"geometry", t(mysql.MYSQL_TYPE_GEOMETRY, 4, false), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "geometry", []byte{0, 0, 0, 0, 1}, false},
		{"point", geometry(1), point, `"AAAAAAEBAAAAAAAAAAAA8D8AAAAAAAAAQA=="`, "point", point, false},
		{"linestring", geometry(2), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "linestring", []byte{0, 0, 0, 0, 1}, false},
		{"polygon", geometry(3), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "polygon", []byte{0, 0, 0, 0, 1}, false},
		{"multipoint", geometry(4), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "multipoint", []byte{0, 0, 0, 0, 1}, false},
		{"multilinestring", geometry(5), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "multilinestring", []byte{0, 0, 0, 0, 1}, false},
		{"multipolygon", geometry(6), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "multipolygon", []byte{0, 0, 0, 0, 1}, false},
		{"geometrycollection", geometry(7), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "geometrycollection", []byte{0, 0, 0, 0, 1}, false},
		{"geometry subtype unknown", geometry(99), []byte{0, 0, 0, 0, 1}, `"AAAAAAE="`, "geometry", []byte{0, 0, 0, 0, 1}, false},

		// ENUM and SET: member names.
		{"enum latin1 member", enum, int64(3), `"ü"`, "enum latin1", "ü", false},
		{"enum first", enum, int64(1), `"a"`, "enum latin1", "a", false},
		{"enum invalid-value index 0", enum, int64(0), `""`, "enum latin1", int64(0), false},
		{"enum member ''", enumEmpty, int64(2), `""`, "enum utf8mb4", "", false},
		{"enum index 0 beside a member ''", enumEmpty, int64(0), `""`, "enum utf8mb4", int64(0), false},
		{"set two members", set, int64(5), `"x,z"`, "set utf8mb4", "x,z", false},
		{"set empty", set, int64(0), `""`, "set utf8mb4", "", false},
		{"set 64 members", set64, int64(-1), `"` + all64 + `"`, "set utf8mb4", all64, false},

		// JSON (MySQL): the document itself, compacted, number text kept.
		{"json object", jsonCol, `{"a": 1.0, "b": [true, null, "x y"]}`, `{"a":1.0,"b":[true,null,"x y"]}`, "json", `{"a":1.0,"b":[true,null,"x y"]}`, false},
		{"json scalar string", jsonCol, `"null"`, `"null"`, "json", `"null"`, false},
		{"json null literal", jsonCol, `null`, `null`, "json", "null", true},
		{"json empty document", jsonCol, []byte{}, `null`, "json", "null", true},

		// SQL NULL is null for every type.
		{"null int", t(long, 0, false), nil, `null`, "int", nil, false},
		{"null bigint unsigned", t(longlong, 0, true), nil, `null`, "bigint unsigned", nil, false},
		{"null decimal", dec(10, 2), nil, `null`, "decimal(10,2)", nil, false},
		{"null double", dbl, nil, `null`, "double", nil, false},
		{"null bit", bit(64), nil, `null`, "bit(64)", nil, false},
		{"null datetime", datetime2(6), nil, `null`, "datetime(6)", nil, false},
		{"null varchar", varchar(collUTF8MB4), nil, `null`, "varchar utf8mb4", nil, false},
		{"null gbk", varchar(collGBK), nil, `null`, "varchar gbk", nil, false},
		{"null binary", binary4, nil, `null`, "binary(4)", nil, false},
		{"null enum", enum, nil, `null`, "enum latin1", nil, false},
		{"null json", jsonCol, nil, `null`, "json", nil, false},
	}
}

func TestTypeMapping(t *testing.T) {
	for _, tc := range typeCases() {
		t.Run(tc.name, func(t *testing.T) {
			tc.col.name = "v"
			tbl, err := NewTable(tableMap("db", "t", nil, tc.col))
			if err != nil {
				t.Fatalf("NewTable: %v", err)
			}
			if got := tbl.Columns[0].TypeString(); got != tc.wantType {
				t.Errorf("type string: got %q, want %q", got, tc.wantType)
			}
			var row Row
			if err := tbl.EncodeRow(&row, []any{tc.in}, nil); err != nil {
				t.Fatalf("EncodeRow(%#v): %v", tc.in, err)
			}
			if got := string(row.Values[0]); got != tc.wantJSON {
				t.Errorf("JSON: got %s, want %s", got, tc.wantJSON)
			}
			if got := row.IsJSONNull(0); got != tc.jsonNull {
				t.Errorf("IsJSONNull: got %v, want %v", got, tc.jsonNull)
			}
			if got := row.IsEnumZero(0); got != tc.enumZero() {
				t.Errorf("IsEnumZero: got %v, want %v", got, tc.enumZero())
			}

			rec := Record{V: 1, Op: OpInsert, DB: "db", Table: "t", PK: tbl.PK, After: &row}
			data, err := rec.AppendJSON(nil)
			if err != nil {
				t.Fatalf("AppendJSON: %v", err)
			}
			got, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			if got := got.After.IsEnumZero(0); got != tc.enumZero() {
				t.Errorf("decoded IsEnumZero: got %v, want %v", got, tc.enumZero())
			}
			if c := got.After.Table.Columns[0]; c.TypeString() != tc.wantType {
				t.Errorf("decoded type: got %q, want %q", c.TypeString(), tc.wantType)
			}
			arg, err := got.After.Arg(0)
			if err != nil {
				t.Fatalf("Arg(%s): %v", got.After.Values[0], err)
			}
			if !sameArg(arg, tc.wantArg) {
				t.Errorf("Arg: got %T %#v, want %T %#v", arg, arg, tc.wantArg, tc.wantArg)
			}
			// The decoded record re-encodes to the same bytes.
			again, err := got.AppendJSON(nil)
			if err != nil {
				t.Fatalf("AppendJSON of decoded record: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Errorf("re-encoded record differs:\n got %s\nwant %s", again, data)
			}
		})
	}
}

// sameArg is reflect.DeepEqual, except that floats compare by bits so that
// -0 and 0 differ.
func sameArg(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb)
	}
	return reflect.DeepEqual(a, b)
}

func TestEncodeRowErrors(t *testing.T) {
	enum := colSpec{typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_ENUM, 1), collation: collUTF8MB4, members: []string{"a"}}
	cases := []struct {
		name    string
		col     colSpec
		in      any
		wantErr error
		wantMsg string
	}{
		{"int as float", colSpec{typ: mysql.MYSQL_TYPE_LONG}, 1.5, ErrUnencodable, "unexpected Go type float64"},
		{"decimal as float", colSpec{typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 10<<8 | 2}, 1.5, ErrUnencodable, "UseDecimal=false"},
		{"decimal malformed", colSpec{typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 10<<8 | 2}, "1e5", ErrUnencodable, "decimal string"},
		{"datetime as time.Time", colSpec{typ: mysql.MYSQL_TYPE_DATETIME2}, time.Unix(0, 0), ErrUnencodable, "ParseTime=false"},
		{"datetime too many digits", colSpec{typ: mysql.MYSQL_TYPE_DATETIME2, meta: 2}, "2024-01-01 00:00:00.123", ErrUnencodable, "2 fractional digits"},
		{"float NaN", colSpec{typ: mysql.MYSQL_TYPE_DOUBLE, meta: 8}, math.NaN(), ErrUnencodable, "NaN"},
		{"float as trailing-zero type", colSpec{typ: mysql.MYSQL_TYPE_DOUBLE, meta: 8}, replication.FloatWithTrailingZero(1), ErrUnencodable, "UseFloatWithTrailingZero"},
		{"utf8mb4 invalid", colSpec{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 80, collation: collUTF8MB4}, "\xff", ErrUnencodable, "not valid UTF-8"},
		{"enum out of range", enum, int64(2), nil, "enum index 2 out of range"},
		{"json invalid", colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}, "{", ErrUnencodable, "not valid JSON"},
		{"json partial update", colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}, &replication.JsonDiff{}, ErrUnsupportedType, "binlog_row_value_options"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.col.name = "v"
			tbl, err := NewTable(tableMap("db", "t", nil, tc.col))
			if err != nil {
				t.Fatalf("NewTable: %v", err)
			}
			var row Row
			err = tbl.EncodeRow(&row, []any{tc.in}, nil)
			if err == nil {
				t.Fatalf("EncodeRow(%#v): no error, got %s", tc.in, row.Values[0])
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v: want errors.Is %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), `db.t column "v"`) {
				t.Errorf("error %q: want it to name the column and contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestEncodeRowSkippedAndReuse(t *testing.T) {
	tbl, err := NewTable(tableMap("db", "t", []int{0},
		colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG, notNull: true},
		colSpec{name: "a", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 40, collation: collUTF8MB4},
		colSpec{name: "b", typ: mysql.MYSQL_TYPE_LONGLONG},
	))
	if err != nil {
		t.Fatal(err)
	}
	var row Row
	if err := tbl.EncodeRow(&row, []any{int32(1), nil, int64(7)}, []int{1}); err != nil {
		t.Fatal(err)
	}
	if row.Values[1] != nil {
		t.Errorf("skipped column: got %s, want absent", row.Values[1])
	}
	if got := string(row.appendJSON(nil)); got != `{"id":1,"b":"7"}` {
		t.Errorf("image: got %s", got)
	}
	if _, err := row.Arg(1); !errors.Is(err, ErrPartialImage) {
		t.Errorf("Arg of skipped column: got %v, want ErrPartialImage", err)
	}
	// Reusing the Row must not leave stale values or JSON-null marks.
	if err := tbl.EncodeRow(&row, []any{int32(2), "x", nil}, nil); err != nil {
		t.Fatal(err)
	}
	if got := string(row.appendJSON(nil)); got != `{"id":2,"a":"x","b":null}` {
		t.Errorf("reused image: got %s", got)
	}
	if err := tbl.EncodeRow(&row, []any{int32(1)}, nil); err == nil {
		t.Error("short image: want an error")
	}
}

func TestNewTableMetadata(t *testing.T) {
	ev := tableMap("shop", "orders", []int{2, 0},
		colSpec{name: "region", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 16, collation: collUTF8MB4, notNull: true},
		colSpec{name: "note", typ: mysql.MYSQL_TYPE_BLOB, meta: 2, collation: collLatin1},
		colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONGLONG, unsigned: true, notNull: true},
		colSpec{name: "y", typ: mysql.MYSQL_TYPE_YEAR},
		colSpec{name: "n", typ: mysql.MYSQL_TYPE_LONG, unsigned: true},
	)
	tbl, err := NewTable(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tbl.PK, []string{"id", "region"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PK: got %v, want %v", got, want)
	}
	if got, want := tbl.PKIndex, []int{2, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("PKIndex: got %v, want %v", got, want)
	}
	type want struct {
		kind     Kind
		unsigned bool
		charset  string
		nullable bool
	}
	wants := []want{
		{KindVarChar, false, "utf8mb4", false},
		{KindText, false, "latin1", true},
		{KindBigInt, true, "", false},
		{KindYear, false, "", true},
		{KindInt, true, "", true},
	}
	for i, w := range wants {
		c := tbl.Columns[i]
		if c.Kind != w.kind || c.Unsigned != w.unsigned || c.Charset != w.charset || c.Nullable != w.nullable {
			t.Errorf("column %q: got kind %s unsigned %v charset %q nullable %v, want %+v", c.Name, c.Kind, c.Unsigned, c.Charset, c.Nullable, w)
		}
	}
	if got, want := string(tbl.types), `{"region":"varchar utf8mb4","note":"text latin1","id":"bigint unsigned","y":"year","n":"int unsigned"}`; got != want {
		t.Errorf("types: got %s, want %s", got, want)
	}
	if tbl.ColumnIndex("n") != 4 || tbl.ColumnIndex("missing") != -1 {
		t.Error("ColumnIndex")
	}

	noPK, err := NewTable(tableMap("db", "log", nil, colSpec{name: "msg", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 4, collation: collUTF8MB4}))
	if err != nil {
		t.Fatal(err)
	}
	if noPK.PK == nil || len(noPK.PK) != 0 {
		t.Errorf("no-PK table: PK = %#v, want empty non-nil", noPK.PK)
	}
}

func TestNewTableMissingMetadata(t *testing.T) {
	full := func() *replication.TableMapEvent {
		return tableMap("db", "t", nil,
			colSpec{name: "n", typ: mysql.MYSQL_TYPE_LONG},
			colSpec{name: "s", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 4, collation: collUTF8MB4},
			colSpec{name: "e", typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_ENUM, 1), collation: collUTF8MB4, members: []string{"a"}},
		)
	}
	cases := []struct {
		name  string
		strip func(ev *replication.TableMapEvent)
	}{
		{"no column names (binlog_row_metadata=MINIMAL)", func(ev *replication.TableMapEvent) { ev.ColumnName = nil }},
		{"no signedness", func(ev *replication.TableMapEvent) { ev.SignednessBitmap = nil }},
		{"no charsets", func(ev *replication.TableMapEvent) { ev.ColumnCharset = nil }},
		{"no enum values", func(ev *replication.TableMapEvent) { ev.EnumStrValue = nil }},
		{"no enum charset", func(ev *replication.TableMapEvent) { ev.EnumSetColumnCharset = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := full()
			tc.strip(ev)
			_, err := NewTable(ev)
			if !errors.Is(err, ErrNoRowMetadata) {
				t.Fatalf("got %v, want ErrNoRowMetadata", err)
			}
			if !strings.Contains(err.Error(), "binlog_row_metadata=FULL required") {
				t.Errorf("error %q does not name the setting", err)
			}
		})
	}
	if _, err := NewTable(full()); err != nil {
		t.Fatalf("full metadata: %v", err)
	}
	ev := full()
	ev.ColumnCharset[0] = 9999
	if _, err := NewTable(ev); !errors.Is(err, ErrUnknownCollation) || !strings.Contains(err.Error(), `column "s"`) {
		t.Errorf("unknown collation: got %v", err)
	}
}

func TestTableCache(t *testing.T) {
	var c TableCache
	ev := tableMap("db", "t", []int{0}, colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG})
	t1, err := c.Table(ev)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := c.Table(tableMap("db", "t", []int{0}, colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG}))
	if err != nil {
		t.Fatal(err)
	}
	if t1 != t2 {
		t.Error("same schema and table id: want the cached Table")
	}
	// Same table id, different schema (after a DDL): a new Table.
	t3, err := c.Table(tableMap("db", "t", []int{0}, colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONG, unsigned: true}))
	if err != nil {
		t.Fatal(err)
	}
	if t3 == t1 || !t3.Columns[0].Unsigned {
		t.Error("changed signedness under the same table id: want a new Table")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Table(ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("cache hit allocates %v times", allocs)
	}
}

func TestCharsetOfCollation(t *testing.T) {
	cases := []struct {
		id   uint64
		want string
	}{
		{8, "latin1"}, {33, "utf8mb3"}, {45, "utf8mb4"}, {46, "utf8mb4"}, {63, "binary"}, {28, "gbk"},
		{76, "utf8mb3"}, {224, "utf8mb4"}, {248, "gb18030"}, {255, "utf8mb4"}, {309, "utf8mb4"}, {323, "utf8mb4"},
		{576, "utf8mb3"}, {608, "utf8mb4"},
		{1032, "latin1"}, {1069, "utf8mb4"}, {1087, "binary"}, // MariaDB NO PAD variants: id-1024
		{2048, "utf8mb3"}, {2304, "utf8mb4"}, {2488, "utf8mb4"}, {3072, "utf32"}, // MariaDB UCA 14.0
	}
	for _, tc := range cases {
		got, err := charsetOfCollation(tc.id)
		if err != nil || got != tc.want {
			t.Errorf("charsetOfCollation(%d) = %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
	for _, id := range []uint64{0, 17, 100, 324, 1024, 4000} {
		if _, err := charsetOfCollation(id); !errors.Is(err, ErrUnknownCollation) {
			t.Errorf("charsetOfCollation(%d): got %v, want ErrUnknownCollation", id, err)
		}
	}
}

func TestPlaceholder(t *testing.T) {
	cases := []struct {
		col  colSpec
		want string
	}{
		{colSpec{typ: mysql.MYSQL_TYPE_LONG}, "?"},
		{colSpec{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 8, collation: collUTF8MB4}, "?"},
		{colSpec{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 8, collation: collLatin1}, "?"},
		{colSpec{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 8, collation: collBinary}, "?"},
		{colSpec{typ: mysql.MYSQL_TYPE_VARCHAR, meta: 8, collation: collGBK}, "CONVERT(CONVERT(? USING binary) USING gbk)"},
		{colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}, "CAST(? AS JSON)"},
		{colSpec{typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 65<<8 | 30}, "CAST(? AS DECIMAL(65,30))"},
	}
	for _, tc := range cases {
		tbl, err := NewTable(tableMap("db", "t", nil, tc.col))
		if err != nil {
			t.Fatal(err)
		}
		if got := tbl.Columns[0].Placeholder(); got != tc.want {
			t.Errorf("%s: Placeholder() = %q, want %q", tbl.Columns[0].TypeString(), got, tc.want)
		}
	}
	// Bound to a target column, the target's type decides for JSON.
	bound := []struct {
		col  colSpec
		json bool
		want string
	}{
		{colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}, false, "?"}, // MySQL JSON into MariaDB's LONGTEXT
		{colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}, true, "CAST(? AS JSON)"},
		{colSpec{typ: mysql.MYSQL_TYPE_BLOB, meta: 4, collation: collUTF8MB4}, true, "CAST(? AS JSON)"}, // MariaDB JSON into MySQL's
		{colSpec{typ: mysql.MYSQL_TYPE_BLOB, meta: 4, collation: collUTF8MB4}, false, "?"},
		{colSpec{typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 10<<8 | 2}, false, "CAST(? AS DECIMAL(10,2))"},
	}
	for _, tc := range bound {
		tbl, err := NewTable(tableMap("db", "t", nil, tc.col))
		if err != nil {
			t.Fatal(err)
		}
		c := tbl.Columns[0].BoundTo(tc.json)
		if got := c.Placeholder(); got != tc.want {
			t.Errorf("%s bound to a JSON column %v: Placeholder() = %q, want %q", c.TypeString(), tc.json, got, tc.want)
		}
	}
	// What a WHERE compares.
	jsonCol, err := NewTable(tableMap("db", "t", nil, colSpec{typ: mysql.MYSQL_TYPE_JSON, meta: 4}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Column
		want string
	}{
		{jsonCol.Columns[0], "`j`"},
		{jsonCol.Columns[0].BoundTo(true), "`j`"},
		{jsonCol.Columns[0].BoundTo(false), "JSON_COMPACT(`j`)"},
		{Column{Kind: KindVector}, "CAST(`j` AS BINARY)"},
		{Column{Kind: KindInt}, "`j`"},
	} {
		if got := tc.c.Compared("`j`"); got != tc.want {
			t.Errorf("%s: Compared = %q, want %q", tc.c.TypeString(), got, tc.want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	// encoding/json's float text is the de-facto JSON form; ours must agree
	// with it, -0 included.
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123.456, math.MaxFloat64, math.SmallestNonzeroFloat64, 1.5e-300} {
		want, err := jsonMarshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendFloat(nil, f, 64)); got != want {
			t.Errorf("appendFloat(%v, 64) = %s, encoding/json says %s", f, got, want)
		}
	}
	for _, f := range []float32{0.1, 1e-6, 9.99e-7, 1e20, 1e21, math.MaxFloat32, math.SmallestNonzeroFloat32} {
		want, err := jsonMarshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendFloat(nil, float64(f), 32)); got != want {
			t.Errorf("appendFloat(%v, 32) = %s, encoding/json says %s", f, got, want)
		}
	}
}
