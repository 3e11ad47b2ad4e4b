package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrNoLiteral: a value AppendLiteral cannot write exactly as a literal.
var ErrNoLiteral = errors.New("no exact literal")

// Interpolate appends tmpl with each ? placeholder replaced by the literal
// of the next argument (an Arg value, see AppendLiteral). The templates are
// drc's own statements (the applier's): their only quoted parts are
// backtick identifiers, which may contain a ?.
func Interpolate(dst []byte, tmpl string, args []any) ([]byte, error) {
	next := 0
	inIdent := false
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '`':
			inIdent = !inIdent // a doubled backtick toggles twice
		case c == '?' && !inIdent:
			if next >= len(args) {
				return dst, (fmt.Errorf("statement has more placeholders than its %d arguments", len(args)))
			}
			var err error
			if dst, err = AppendLiteral(dst, args[next]); err != nil {
				return dst, err
			}
			next++
			continue
		}
		dst = append(dst, c)
	}
	if next != len(args) {
		return dst, (fmt.Errorf("statement has %d placeholders for %d arguments", next, len(args)))
	}
	return dst, nil
}

// AppendLiteral writes a Row.Arg value as an SQL literal that the
// server reads as the same value the binary protocol would bind: integers
// as digits, floats in exponent form (always a DOUBLE literal, and the
// shortest text that reads back as the same float64), text as an escaped
// string in the connection's utf8mb4, bytes as a hex binary string. A
// negative zero returns ErrNoLiteral (the path does not rely on how the
// server negates a zero literal), as does any type not listed.
func AppendLiteral(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "NULL"...), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float64:
		if v == 0 && math.Signbit(v) || math.IsInf(v, 0) || math.IsNaN(v) {
			return dst, ErrNoLiteral
		}
		return strconv.AppendFloat(dst, v, 'e', -1, 64), nil
	case string:
		return appendQuoted(dst, v), nil
	case []byte:
		const hex = "0123456789abcdef"
		dst = append(dst, "X'"...)
		for _, b := range v {
			dst = append(dst, hex[b>>4], hex[b&15])
		}
		return append(dst, '\''), nil
	}
	return dst, ErrNoLiteral
}

// appendQuoted appends s as a single-quoted literal, escaped with MySQL's backslash escapes.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			dst = append(dst, `\'`...)
		case '\\':
			dst = append(dst, `\\`...)
		case 0:
			dst = append(dst, `\0`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case 0x1a:
			dst = append(dst, `\Z`...)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '\'')
}
