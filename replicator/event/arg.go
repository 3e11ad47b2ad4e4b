package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Arg returns column i of the image as an argument for go-sql-driver/mysql,
// such that binding it to the column's Placeholder in an INSERT, an UPDATE's
// SET or a WHERE reproduces, or matches, the source value exactly:
//
//	NULL                       nil
//	signed integers, YEAR      int64
//	unsigned integers, BIT     uint64
//	FLOAT, DOUBLE              float64 (a FLOAT's float32 value, widened exactly)
//	DECIMAL                    string, e.g. "-1.50"
//	temporal types             string, e.g. "2024-01-02 03:04:05.120"
//	utf8mb4/utf8mb3/ascii/latin1 text, ENUM, SET   string
//	binary types, GEOMETRY, VECTOR, text in other charsets   []byte
//	JSON                       string (JSON text; "null" for the JSON null literal)
//	ENUM index 0 (enum_zero)   int64 0, the index: storing it needs a non-strict sql_mode
//	SET with bits beyond its members (set_bits)   string: the members it has
//
// A SET value whose bitmap has bits that name no member (Row.SetBits) cannot
// be reproduced through SQL: MySQL and MariaDB mask those bits off every
// value a statement stores, whether given as names, a number or another
// SET column's value; only applying row events stores them. Its Arg is
// therefore the names of the members it has: what the server stores from
// any form (the integer would fail in strict mode and be masked otherwise),
// and what WHERE s <=> ? matches in the row drc stored, through an index
// on s too. s+0 then lacks the extra bits on the target; Row.SetBits keeps
// them for consumers that can store them.
//
// The connection must run the statements of SessionSQL, and must not set
// interpolateParams=true: client-side interpolation renders a float64 -0 as
// the integer literal 0 and loses the sign.
func (r *Row) Arg(i int) (any, error) {
	if r.Table == nil || i < 0 || i >= len(r.Values) || i >= len(r.Table.Columns) {
		return nil, fmt.Errorf("column index %d out of range", i)
	}
	c := &r.Table.Columns[i]
	v := r.Values[i]
	if v == nil {
		return nil, fmt.Errorf("column %q: %w: not in the image", c.Name, ErrPartialImage)
	}
	if c.Kind == KindJSON && r.IsJSONNull(i) {
		return "null", nil
	}
	if c.Kind == KindEnum && r.IsEnumZero(i) {
		// The index itself: stored, it is the error value (in non-strict
		// mode); compared, it matches index 0 and not a member ''.
		return int64(0), nil
	}
	a, err := c.Arg(v)
	if err != nil {
		return nil, fmt.Errorf("column %q (%s): %w", c.Name, c.typeText, err)
	}
	return a, nil
}

// Arg converts one encoded value of the column to its SQL argument; see
// Row.Arg, which also handles the JSON null literal.
func (c *Column) Arg(v json.RawMessage) (any, error) {
	if bytes.Equal(v, []byte("null")) {
		return nil, nil
	}
	switch c.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		s, err := c.numberText(v, c.Kind == KindBigInt)
		if err != nil {
			return nil, err
		}
		width := intWidth(c.Kind)
		if c.Unsigned {
			u, err := strconv.ParseUint(s, 10, int(width))
			if err != nil {
				return nil, invalid(v, "want an unsigned %d-bit integer", width)
			}
			return u, nil
		}
		n, err := strconv.ParseInt(s, 10, int(width))
		if err != nil {
			return nil, invalid(v, "want a signed %d-bit integer", width)
		}
		return n, nil
	case KindYear:
		n, err := strconv.ParseInt(string(v), 10, 16)
		if err != nil || n != 0 && (n < 1901 || n > 2155) {
			return nil, invalid(v, "want 0 or a year 1901..2155")
		}
		return n, nil
	case KindBit:
		s, err := c.numberText(v, c.Bits > 53)
		if err != nil {
			return nil, err
		}
		u, err := strconv.ParseUint(s, 10, c.Bits)
		if err != nil {
			return nil, invalid(v, "want an unsigned %d-bit integer", c.Bits)
		}
		return u, nil
	case KindFloat, KindDouble:
		if !isJSONNumber(v) {
			return nil, invalid(v, "want a number")
		}
		if c.Kind == KindFloat {
			f, err := strconv.ParseFloat(string(v), 32)
			if err != nil {
				return nil, invalid(v, "want a FLOAT")
			}
			return f, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, invalid(v, "want a DOUBLE")
		}
		return f, nil
	case KindDecimal:
		s, err := unquote(v)
		if err != nil || !validDecimal(s) {
			return nil, invalid(v, "want a decimal string")
		}
		return s, nil
	case KindDate, KindTime, KindDateTime, KindTimestamp:
		s, err := unquote(v)
		if err != nil {
			return nil, invalid(v, "want a string")
		}
		// Exactly the column's digits, as the encoder writes them.
		if digits, ok := fractionDigits(s); !ok || digits != c.FSP && !(digits < 0 && c.FSP == 0) {
			return nil, invalid(v, "want a %s with %d fractional digits", c.Kind, c.FSP)
		}
		return s, nil
	case KindChar, KindVarChar, KindText, KindEnum, KindSet:
		if c.class == classRaw {
			return decodeBase64(v)
		}
		s, err := unquote(v)
		if err != nil {
			return nil, invalid(v, "want a string")
		}
		return s, nil
	case KindBinary, KindVarBinary, KindBlob, KindGeometry, KindVector:
		return decodeBase64(v)
	case KindJSON:
		// Any JSON value is the document itself, passed as JSON text.
		return string(v), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedType, c.typeText)
}

// Placeholder returns the SQL expression to bind the column's Arg to: "?"
// for most columns. Three kinds need a conversion around it:
//
//   - DECIMAL: "CAST(? AS DECIMAL(p,s))". The argument is a string, and
//     MySQL compares a DECIMAL column with a string as two doubles, so
//     WHERE d = ? on a string could match a neighbouring value; the cast
//     makes the comparison exact. (Storing a string is exact either way.)
//   - text in a charset that travels as raw bytes (classRaw, e.g. gbk):
//     "CONVERT(CONVERT(? USING binary) USING gbk)". The inner conversion
//     relabels the argument as bytes, so the server neither validates it as
//     the connection's utf8mb4 nor transcodes it; the outer one reinterprets
//     those bytes as the column's charset, so that comparisons use the
//     column's collation and its index. (MariaDB 10.11 rejects the spelling
//     CONVERT(CAST(? AS BINARY) USING gbk) as invalid utf8mb4, and a bare
//     CAST(? AS BINARY) in a WHERE with an indexed CHAR column can miss the
//     row; both were tried.)
//   - MySQL JSON: "CAST(? AS JSON)", because a string compared with a JSON
//     column is a JSON string scalar, so WHERE j = ? would never match. A
//     column BoundTo a target column decides by that column's type instead
//     of its own.
func (c *Column) Placeholder() string {
	switch {
	case c.targetJSON == targetIsJSON:
		return "CAST(? AS JSON)"
	case c.targetJSON == targetNotJSON && c.Kind == KindJSON:
		return "?"
	case c.Kind == KindDecimal:
		return "CAST(? AS DECIMAL(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + "))"
	case c.Kind.IsTextual() && c.class == classRaw && validCharsetName(c.Charset):
		return "CONVERT(CONVERT(? USING binary) USING " + c.Charset + ")"
	case c.Kind == KindJSON:
		return "CAST(? AS JSON)"
	}
	return "?"
}

// Compared returns what a WHERE compares for the column, given its quoted
// name: the column itself, except
//
//   - VECTOR: "CAST(col AS BINARY)", its bytes, because MySQL refuses <=>
//     on a vector ("Incorrect arguments to <=>");
//   - MySQL JSON bound to a text column (MariaDB's JSON): "JSON_COMPACT(col)",
//     because rows copied there by other means (bootstrap, a dump) hold
//     MySQL's rendering with spaces, and drc's value is the compact one.
func (c *Column) Compared(quoted string) string {
	switch {
	case c.Kind == KindVector:
		return "CAST(" + quoted + " AS BINARY)"
	case c.Kind == KindJSON && c.targetJSON == targetNotJSON:
		return "JSON_COMPACT(" + quoted + ")"
	}
	return quoted
}

// SessionSQL returns the statements an applier runs on each target
// connection before applying records, because the mapping depends on them:
//
//   - time_zone '+00:00': TIMESTAMP values travel in UTC.
//   - utf8mb4: text travels as UTF-8 and the server transcodes it to each
//     column's charset (latin1 included, losslessly).
//   - sql_mode: NO_AUTO_VALUE_ON_ZERO so that a replicated 0 in an
//     AUTO_INCREMENT column stays 0; strict, so that any value the target
//     cannot hold fails loudly instead of being truncated; and without
//     NO_ZERO_DATE/NO_ZERO_IN_DATE, so zero dates the source holds apply.
func SessionSQL() []string {
	return []string{
		"SET time_zone = '+00:00'",
		"SET NAMES utf8mb4",
		"SET sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
	}
}

// numberText returns the digits of an integer value, which is a JSON number
// or, for the types that may exceed 2^53, a JSON string.
func (c *Column) numberText(v json.RawMessage, quoted bool) (string, error) {
	if quoted {
		s, err := unquote(v)
		if err != nil {
			return "", invalid(v, "want a string of digits")
		}
		return s, nil
	}
	if len(v) == 0 || v[0] == '"' {
		return "", invalid(v, "want a number")
	}
	return string(v), nil
}

// unquote returns the string value of a JSON string. Strings this package
// writes carry no escapes in the common case, which skips encoding/json.
func unquote(v json.RawMessage) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("not a JSON string")
	}
	inner := v[1 : len(v)-1]
	if plainString(inner) && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", err
	}
	return s, nil
}

func decodeBase64(v json.RawMessage) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, invalid(v, "want a base64 string")
	}
	b, err := base64.StdEncoding.AppendDecode(make([]byte, 0, base64.StdEncoding.DecodedLen(len(v)-2)), v[1:len(v)-1])
	if err != nil {
		return nil, invalid(v, "want a base64 string")
	}
	return b, nil
}

// isJSONNumber reports whether v is a JSON number; strconv.ParseFloat alone
// would accept "Inf", "0x1p3" and underscores.
func isJSONNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(v)
}

func invalid(v []byte, format string, args ...any) error {
	const max = 64
	shown := v
	if len(shown) > max {
		shown = shown[:max]
	}
	return fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalidValue, shown}, args...)...)
}
