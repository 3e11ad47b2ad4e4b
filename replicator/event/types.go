package event

import (
	"fmt"
	"strconv"
	"strings"
)

// A type string is how a record's "types" field describes a column, e.g.
// "int unsigned", "decimal(10,2) unsigned", "datetime(6)", "bit(64)",
// "binary(16)", "longblob", "mediumtext utf8mb4", "point",
// "varchar utf8mb4", "enum latin1", "json". The grammar:
//
//	type    = name [ "(" n [ "," n ] ")" ] [ " unsigned" ] [ " " charset ]
//
// name is the kind's name (Kind.String), except for BLOB and TEXT, whose
// name says their size (tinyblob, blob, mediumblob, longblob, tinytext ..
// longtext), and GEOMETRY, whose name is its subtype when it has one
// (point, linestring, polygon, multipoint, multilinestring, multipolygon,
// geometrycollection). Parameters appear only where they change the value's
// form: decimal precision and scale, fractional-second digits (omitted when
// 0), bit width, and the width of BINARY, which is zero-padded. "unsigned"
// appears on integers, DECIMAL, FLOAT and DOUBLE. The charset appears on
// the textual kinds only. The strings are MySQL's COLUMN_TYPE without what
// the binlog's table map does not carry (display widths, ZEROFILL, CHAR and
// VARCHAR lengths, ENUM and SET members) and with the charset; they are not
// DDL.
//
// Records that drc wrote before the sizes and subtypes were added say
// "blob", "text" and "geometry" for every size and subtype; both spellings
// decode to the same Kind.

// blobSizes are the prefixes of blob and text type names by LengthBytes.
var blobSizes = [5]string{1: "tiny", 2: "", 3: "medium", 4: "long"}

// geometryTypes are the geometry subtypes by the code the table map's
// GEOMETRY_TYPE metadata gives them (Field::geometry_type in MySQL and
// MariaDB); code 0 is GEOMETRY itself.
var geometryTypes = [8]string{
	1: "point", 2: "linestring", 3: "polygon", 4: "multipoint",
	5: "multilinestring", 6: "multipolygon", 7: "geometrycollection",
}

// geometryName returns the subtype name of a GEOMETRY_TYPE code: "" for
// GEOMETRY itself, and for a code this package does not know, which is true
// of any subtype.
func geometryName(code uint64) string {
	if code < uint64(len(geometryTypes)) {
		return geometryTypes[code]
	}
	return ""
}

// typeName returns the first word of the column's type string, before any
// parameters.
func (c *Column) typeName() string {
	switch c.Kind {
	case KindBlob, KindText:
		if c.LengthBytes > 0 && c.LengthBytes < len(blobSizes) {
			return blobSizes[c.LengthBytes] + c.Kind.String()
		}
	case KindGeometry:
		if c.Geometry != "" {
			return c.Geometry
		}
	}
	return c.Kind.String()
}

// parseTypeName resolves the first word of a type string: a kind, and the
// size of a blob or text or the subtype of a geometry. An unknown name
// gives KindUnknown.
func parseTypeName(name string) (k Kind, lengthBytes int, geometry string) {
	for k := KindTinyInt; k < kindCount; k++ {
		if kindNames[k] == name {
			if k == KindBlob || k == KindText {
				return k, 2, ""
			}
			return k, 0, ""
		}
	}
	for n := 1; n < len(blobSizes); n++ {
		switch name {
		case blobSizes[n] + "blob":
			return KindBlob, n, ""
		case blobSizes[n] + "text":
			return KindText, n, ""
		}
	}
	for _, g := range geometryTypes[1:] {
		if g == name {
			return KindGeometry, 0, g
		}
	}
	return KindUnknown, 0, ""
}

// TypeString returns the column's type string.
func (c *Column) TypeString() string {
	b := make([]byte, 0, 24)
	b = append(b, c.typeName()...)
	switch c.Kind {
	case KindDecimal:
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(c.Precision), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(c.Scale), 10)
		b = append(b, ')')
	case KindTime, KindDateTime, KindTimestamp:
		if c.FSP > 0 {
			b = append(b, '(')
			b = strconv.AppendInt(b, int64(c.FSP), 10)
			b = append(b, ')')
		}
	case KindBit:
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(c.Bits), 10)
		b = append(b, ')')
	case KindBinary:
		b = append(b, '(')
		b = strconv.AppendInt(b, int64(c.Length), 10)
		b = append(b, ')')
	}
	if c.Unsigned {
		b = append(b, " unsigned"...)
	}
	if c.Kind.IsTextual() {
		b = append(b, ' ')
		b = append(b, c.Charset...)
	}
	return string(b)
}

// parseType fills c's type fields from a type string. A kind it does not
// know leaves KindUnknown, so that a newer producer's additive types do not
// make whole records undecodable; such columns fail only in Arg.
func (c *Column) parseType(s string) error {
	c.typeText = s
	words := strings.Split(s, " ")
	base := words[0]
	var params []int
	if open := strings.IndexByte(base, '('); open >= 0 {
		if !strings.HasSuffix(base, ")") {
			return fmt.Errorf("type %q: unbalanced parenthesis", s)
		}
		for _, p := range strings.Split(base[open+1:len(base)-1], ",") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 65535 {
				return fmt.Errorf("type %q: bad parameter %q", s, p)
			}
			params = append(params, n)
		}
		base = base[:open]
	}
	c.Kind, c.LengthBytes, c.Geometry = parseTypeName(base)
	if c.Kind == KindUnknown {
		return nil
	}
	rest := words[1:]
	if len(rest) > 0 && rest[0] == "unsigned" {
		if !c.Kind.canBeUnsigned() {
			return fmt.Errorf("type %q: only integers, decimal, float and double are unsigned", s)
		}
		c.Unsigned = true
		rest = rest[1:]
	}
	if c.Kind.IsTextual() {
		if len(rest) != 1 || !validCharsetName(rest[0]) {
			return fmt.Errorf("type %q: want one charset name after %s", s, base)
		}
		c.Charset = rest[0]
		c.class = classOf(c.Charset)
		if c.class == classBinary {
			return fmt.Errorf("type %q: binary columns are binary, varbinary or blob", s)
		}
		rest = nil
	}
	if len(rest) > 0 {
		return fmt.Errorf("type %q: unexpected %q", s, strings.Join(rest, " "))
	}
	want := 0
	switch c.Kind {
	case KindDecimal:
		want = 2
	case KindBit, KindBinary:
		want = 1
	case KindTime, KindDateTime, KindTimestamp:
		if len(params) == 1 {
			want = 1
		}
	}
	if len(params) != want {
		return fmt.Errorf("type %q: want %d parameters, got %d", s, want, len(params))
	}
	switch c.Kind {
	case KindDecimal:
		c.Precision, c.Scale = params[0], params[1]
		if c.Precision < 1 || c.Precision > 65 || c.Scale > 38 || c.Scale > c.Precision {
			return fmt.Errorf("type %q: precision/scale out of range", s)
		}
	case KindBit:
		c.Bits = params[0]
		if c.Bits < 1 || c.Bits > 64 {
			return fmt.Errorf("type %q: bit width out of range", s)
		}
	case KindBinary:
		c.Length = params[0]
		if c.Length > 255 {
			return fmt.Errorf("type %q: binary width out of range", s)
		}
	case KindTime, KindDateTime, KindTimestamp:
		if want == 1 {
			c.FSP = params[0]
			if c.FSP < 1 || c.FSP > 6 {
				return fmt.Errorf("type %q: fractional-second digits out of range", s)
			}
		}
	}
	if !c.Kind.IsTextual() {
		c.class = classBinary // only read for the byte-carrying kinds
	}
	return nil
}

// validCharsetName guards the one place a charset name reaches SQL text
// (Column.Placeholder): names of MySQL character sets are short and
// alphanumeric, and anything else in a record is rejected.
func validCharsetName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
