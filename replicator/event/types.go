package event

import (
	"fmt"
	"strconv"
	"strings"
)

// A type string is how a record's "types" field describes a column, e.g.
// "int unsigned", "decimal(65,30)", "datetime(6)", "bit(64)", "binary(16)",
// "varchar utf8mb4", "enum latin1", "json". The grammar:
//
//	type    = kind [ "(" n [ "," n ] ")" ] [ " unsigned" ] [ " " charset ]
//
// Parameters appear only where they change the value's form: decimal
// precision and scale, fractional-second digits (omitted when 0), bit width,
// and the width of BINARY, which is zero-padded. The charset appears on the
// textual kinds only. The strings resemble MySQL's COLUMN_TYPE on purpose,
// so that a person reading a record recognises them; they are not DDL.

// TypeString returns the column's type string.
func (c *Column) TypeString() string {
	b := make([]byte, 0, 24)
	b = append(b, c.Kind.String()...)
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
	c.Kind = KindUnknown
	for k := KindTinyInt; k < kindCount; k++ {
		if kindNames[k] == base {
			c.Kind = k
			break
		}
	}
	if c.Kind == KindUnknown {
		return nil
	}
	rest := words[1:]
	if len(rest) > 0 && rest[0] == "unsigned" {
		if !c.Kind.IsInteger() {
			return fmt.Errorf("type %q: only integers are unsigned", s)
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
