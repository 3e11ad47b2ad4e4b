package event

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/replication"
)

// EncodeRow encodes one row image into dst, reusing dst's storage.
//
// image is one element of replication.RowsEvent.Rows as go-mysql decodes it
// with the syncer options of SyncerConfig, and skipped the matching element
// of RowsEvent.SkippedColumns (nil when the image is full). A skipped column
// is left out of the image; it is not NULL.
//
// go-mysql's strings and byte slices may alias the event's buffer, so
// EncodeRow must run before that buffer is reused; dst owns copies.
func (t *Table) EncodeRow(dst *Row, image []any, skipped []int) error {
	if len(image) != len(t.Columns) {
		return fmt.Errorf("table %s: row image has %d values for %d columns", t.qualified(), len(image), len(t.Columns))
	}
	dst.Table = t
	dst.buf = dst.buf[:0]
	dst.ends = dst.ends[:0]
	dst.jsonNull = dst.jsonNull[:0]
	dst.enumZero = dst.enumZero[:0]
	dst.setBits = dst.setBits[:0]
	s := 0
	for i := range t.Columns {
		if s < len(skipped) && skipped[s] == i {
			s++
			dst.ends = append(dst.ends, -1)
			continue
		}
		c := &t.Columns[i]
		var m mark
		var err error
		dst.buf, m, err = c.appendValue(dst.buf, image[i], &dst.scratch)
		if err != nil {
			return fmt.Errorf("table %s column %q (%s): %w", t.qualified(), c.Name, c.typeText, err)
		}
		switch m {
		case markJSONNull:
			dst.jsonNull = append(dst.jsonNull, i)
		case markEnumZero:
			dst.enumZero = append(dst.enumZero, i)
		case markSetBits:
			bits, _ := image[i].(int64) // appendValue checked it
			dst.setBits = append(dst.setBits, setBits{col: i, bits: uint64(bits)})
		}
		dst.ends = append(dst.ends, len(dst.buf))
	}
	if cap(dst.Values) < len(t.Columns) {
		dst.Values = make([]json.RawMessage, len(t.Columns))
	}
	dst.Values = dst.Values[:len(t.Columns)]
	start := 0
	for i, end := range dst.ends {
		if end < 0 {
			dst.Values[i] = nil
			continue
		}
		dst.Values[i] = dst.buf[start:end:end]
		start = end
	}
	return nil
}

// mark is what a value's JSON form alone cannot say, which travels beside
// the image.
type mark uint8

const (
	markNone     mark = iota
	markJSONNull      // a JSON null document in a JSON column, not SQL NULL
	markEnumZero      // ENUM index 0, the error value, not a member ''
	markSetBits       // a SET bitmap with bits that name no member
)

// appendValue appends the JSON form of v, one value of column c as go-mysql
// decoded it, and the value's mark.
func (c *Column) appendValue(dst []byte, v any, scratch *[]byte) (_ []byte, m mark, err error) {
	if v == nil {
		return append(dst, "null"...), markNone, nil
	}
	switch c.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		dst, err = c.appendInteger(dst, v)
	case KindYear:
		// go-mysql yields an int: 0 for the zero year, else 1901..2155.
		n, ok := intBits(v)
		if !ok {
			return dst, markNone, wrongGoType(v)
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	case KindDecimal:
		s, ok := v.(string)
		if !ok || !validDecimal(s) {
			return dst, markNone, badValue(v, "want a decimal string; set UseDecimal=false")
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	case KindFloat, KindDouble:
		dst, err = c.appendFloatValue(dst, v)
	case KindBit:
		n, ok := v.(int64)
		if !ok {
			return dst, markNone, wrongGoType(v)
		}
		u := uint64(n) & widthMask(c.Bits)
		if c.Bits <= 53 {
			dst = strconv.AppendUint(dst, u, 10)
		} else {
			dst = appendQuotedUint(dst, u)
		}
	case KindDate, KindTime, KindDateTime, KindTimestamp:
		s, ok := v.(string)
		if !ok {
			return dst, markNone, badValue(v, "want a string; set ParseTime=false")
		}
		dst, err = appendTemporal(dst, s, c.FSP)
	case KindEnum:
		n, ok := v.(int64)
		if !ok {
			return dst, markNone, wrongGoType(v)
		}
		// Index 0 is the error value MySQL stores for an invalid value in
		// non-strict mode; it reads as '', like a member '' would, so it is
		// marked. Members are numbered from 1.
		var member []byte
		if n < 0 || n > int64(len(c.members)) {
			return dst, markNone, fmt.Errorf("enum index %d out of range 0..%d", n, len(c.members))
		}
		if n > 0 {
			member = c.members[n-1]
		} else {
			m = markEnumZero
		}
		dst, err = c.appendText(dst, member)
	case KindSet:
		n, ok := v.(int64)
		if !ok {
			return dst, markNone, wrongGoType(v)
		}
		// A bitmap may have bits beyond the members: a server applying row
		// events (a replica, or a BINLOG statement) stores a SET's bytes as
		// they come, from a table whose SET had more members. The server
		// reads such a value as its members' names, which the image holds;
		// the whole bitmap travels beside it ("before_set_bits"/
		// "after_set_bits"), so the record still says what was stored.
		bits := uint64(n)
		if len(c.members) < 64 && bits>>len(c.members) != 0 {
			m = markSetBits
		}
		b := (*scratch)[:0]
		for j, member := range c.members {
			if bits&(1<<j) != 0 {
				if len(b) > 0 {
					b = append(b, ',')
				}
				b = append(b, member...)
			}
		}
		*scratch = b
		dst, err = c.appendText(dst, b)
	case KindChar, KindVarChar, KindText, KindBinary, KindVarBinary, KindBlob, KindGeometry, KindVector:
		switch x := v.(type) {
		case string:
			if c.class == classUTF8 {
				// The common case, without a copy.
				if !utf8.ValidString(x) {
					return dst, markNone, fmt.Errorf("%w: %s value is not valid UTF-8", ErrUnencodable, c.Charset)
				}
				return appendString(dst, x), markNone, nil
			}
			*scratch = append((*scratch)[:0], x...)
			dst, err = c.appendText(dst, *scratch)
		case []byte:
			dst, err = c.appendText(dst, x)
		default:
			return dst, markNone, wrongGoType(v)
		}
	case KindJSON:
		var jsonNull bool
		dst, jsonNull, err = appendJSONDocument(dst, v, scratch)
		if jsonNull {
			m = markJSONNull
		}
	default:
		return dst, markNone, fmt.Errorf("%w: %s", ErrUnsupportedType, c.Kind)
	}
	return dst, m, err
}

// appendInteger handles TINYINT..BIGINT. go-mysql applies the table map's
// signedness itself in v1.16, but an older decoder or a missing flag hands
// back an unsigned column as a negative signed value; reinterpreting the
// bits at the column's width makes both cases right.
func (c *Column) appendInteger(dst []byte, v any) ([]byte, error) {
	raw, ok := intBits(v)
	if !ok {
		return dst, wrongGoType(v)
	}
	width := intWidth(c.Kind)
	bits := raw & widthMask(width)
	if c.Unsigned {
		if c.Kind == KindBigInt {
			return appendQuotedUint(dst, bits), nil
		}
		return strconv.AppendUint(dst, bits, 10), nil
	}
	// Sign-extend from the column's width.
	shift := 64 - width
	i := int64(bits<<shift) >> shift
	if c.Kind == KindBigInt {
		return appendQuotedInt(dst, i), nil
	}
	return strconv.AppendInt(dst, i, 10), nil
}

func intWidth(k Kind) uint {
	switch k {
	case KindTinyInt:
		return 8
	case KindSmallInt:
		return 16
	case KindMediumInt:
		return 24
	case KindInt:
		return 32
	}
	return 64
}

func widthMask[W int | uint](w W) uint64 {
	if w >= 64 {
		return math.MaxUint64
	}
	return 1<<uint(w) - 1
}

// intBits returns the two's-complement bits of any Go integer.
func intBits(v any) (uint64, bool) {
	switch x := v.(type) {
	case int8:
		return uint64(x), true
	case int16:
		return uint64(x), true
	case int32:
		return uint64(x), true
	case int64:
		return uint64(x), true
	case int:
		return uint64(x), true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	return 0, false
}

func (c *Column) appendFloatValue(dst []byte, v any) ([]byte, error) {
	var f float64
	bitSize := 64
	switch x := v.(type) {
	case float32:
		f = float64(x)
		bitSize = 32
	case float64:
		f = x
		if c.Kind == KindFloat {
			if float64(float32(x)) != x {
				return dst, badValue(v, "FLOAT value is not a float32")
			}
			bitSize = 32
		}
	default:
		return dst, badValue(v, "want float32 or float64; set UseFloatWithTrailingZero=false")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		// MySQL rejects both, so the binlog cannot carry them.
		return dst, fmt.Errorf("%w: %v", ErrUnencodable, f)
	}
	return appendFloat(dst, f, bitSize), nil
}

// appendText appends b, the bytes of a string-like column, in the column's
// JSON form: base64 for binary data and for character sets that are not
// transcoded (classRaw), a JSON string otherwise.
func (c *Column) appendText(dst []byte, b []byte) ([]byte, error) {
	switch c.class {
	case classBinary, classRaw:
		if c.Kind == KindBinary && len(b) < c.Length {
			// The binlog drops BINARY(n)'s trailing zero bytes; the value is
			// the padded one, and a WHERE on the unpadded one would miss.
			pad := c.Length - len(b)
			dst = append(dst, '"')
			dst = appendBase64Padded(dst, b, pad)
			return append(dst, '"'), nil
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"'), nil
	case classUTF8:
		if !utf8.Valid(b) {
			return dst, fmt.Errorf("%w: %s value is not valid UTF-8", ErrUnencodable, c.Charset)
		}
		return appendString(dst, b), nil
	case classLatin1:
		return appendLatin1(dst, b), nil
	}
	return dst, fmt.Errorf("%w: charset class %d", ErrUnsupportedType, c.class)
}

// appendBase64Padded appends base64 of b followed by pad zero bytes.
func appendBase64Padded(dst, b []byte, pad int) []byte {
	var tmp [255]byte // BINARY is at most 255 bytes
	n := copy(tmp[:], b)
	clear(tmp[n : n+pad])
	return base64.StdEncoding.AppendEncode(dst, tmp[:n+pad])
}

// appendTemporal appends a DATE, TIME, DATETIME or TIMESTAMP string with
// exactly fsp fractional digits. go-mysql drops the fraction of a TIME whose
// fraction is zero ("12:00:00" for TIME(3)); the contract says temporal
// values carry their column's digits, so "12:00:00.000".
func appendTemporal(dst []byte, s string, fsp int) ([]byte, error) {
	digits, ok := fractionDigits(s)
	if !ok {
		return dst, badValue(s, "malformed temporal value")
	}
	if digits > fsp || digits == 0 {
		return dst, badValue(s, fmt.Sprintf("want %d fractional digits", fsp))
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	if digits < 0 && fsp > 0 {
		dst = append(dst, '.')
		digits = 0
	}
	for ; digits >= 0 && digits < fsp; digits++ {
		dst = append(dst, '0')
	}
	return append(dst, '"'), nil
}

// fractionDigits checks that s is made of the characters of a temporal
// value and returns the number of digits after its point, -1 if none.
func fractionDigits(s string) (digits int, ok bool) {
	digits = -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits >= 0 {
				digits++
			}
		case c == '.':
			if digits >= 0 {
				return 0, false
			}
			digits = 0
		case c == '-' || c == ':' || c == ' ':
			if digits >= 0 {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return digits, len(s) > 0
}

// appendJSONDocument appends a MySQL JSON column's document, which go-mysql
// renders as JSON text, as a JSON value with insignificant whitespace
// removed (numbers keep their text, so 1.0 stays 1.0).
func appendJSONDocument(dst []byte, v any, scratch *[]byte) (_ []byte, jsonNull bool, _ error) {
	var doc []byte
	switch x := v.(type) {
	case string:
		*scratch = append((*scratch)[:0], x...)
		doc = *scratch
	case []byte:
		doc = x
	case *replication.JsonDiff:
		return dst, false, fmt.Errorf("%w: partial JSON update (set binlog_row_value_options='')", ErrUnsupportedType)
	default:
		return dst, false, wrongGoType(v)
	}
	if len(doc) == 0 {
		// MySQL reads an empty document, which non-strict inserts can
		// leave, as the JSON null literal.
		return append(dst, "null"...), true, nil
	}
	if !json.Valid(doc) || !utf8.Valid(doc) {
		return dst, false, fmt.Errorf("%w: JSON document is not valid JSON text", ErrUnencodable)
	}
	start := len(dst)
	dst = appendCompactJSON(dst, doc)
	return dst, string(dst[start:]) == "null", nil
}

// appendCompactJSON appends valid JSON text without insignificant
// whitespace.
func appendCompactJSON(dst, src []byte) []byte {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			switch c {
			case '\\':
				i++
				dst = append(dst, src[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// validDecimal reports whether s is a decimal literal as go-mysql renders
// DECIMAL: an optional minus, digits, optionally a point and digits.
func validDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	intDigits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		intDigits++
	}
	if intDigits == 0 {
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' {
		return false
	}
	i++
	fracDigits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		fracDigits++
	}
	return fracDigits > 0 && i == len(s)
}

func wrongGoType(v any) error {
	return fmt.Errorf("%w: unexpected Go type %T from the binlog decoder; configure the syncer with event.SyncerConfig", ErrUnencodable, v)
}

func badValue(v any, why string) error {
	if s, ok := v.(string); ok {
		return fmt.Errorf("%w: %q: %s", ErrUnencodable, s, why)
	}
	return fmt.Errorf("%w: %T %v: %s", ErrUnencodable, v, v, why)
}
