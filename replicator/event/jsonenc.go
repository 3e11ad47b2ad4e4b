package event

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// This file holds the append-style JSON primitives of the hot path. They
// write into a caller's buffer so that encoding a record allocates nothing
// once the buffer has grown.

const hexDigits = "0123456789abcdef"

// needsEscape[c] is true for the ASCII bytes a JSON string cannot hold raw.
var needsEscape = func() (t [utf8.RuneSelf]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

func appendEscapedASCII(dst []byte, c byte) []byte {
	if !needsEscape[c] {
		return append(dst, c)
	}
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendString appends s as a JSON string. s must be valid UTF-8 (callers
// check with utf8.ValidString where the input is not already known valid):
// JSON text cannot carry arbitrary bytes, and silently substituting U+FFFD,
// as encoding/json does, would corrupt data. U+2028 and U+2029 are escaped
// because JavaScript consumers choke on them raw.
func appendString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if needsEscape[c] {
				dst = append(dst, s[start:i]...)
				dst = appendEscapedASCII(dst, c)
				start = i + 1
			}
			i++
			continue
		}
		// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
		if c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&1+8])
			i += 3
			start = i
			continue
		}
		i++
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat appends f as a JSON number in its shortest form that parses
// back to the same bits (bitSize 32 for FLOAT, 64 for DOUBLE), in the same
// layout as encoding/json: plain decimals for 1e-6 <= |f| < 1e21, exponent
// form otherwise. -0 is kept as "-0". f must be finite.
func appendFloat(dst []byte, f float64, bitSize int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) ||
			bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bitSize)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendQuotedUint and friends write integers as JSON strings, the form of
// the types whose values may exceed 2^53 (see doc.go).
func appendQuotedUint(dst []byte, u uint64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, u, 10)
	return append(dst, '"')
}

func appendQuotedInt(dst []byte, i int64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, i, 10)
	return append(dst, '"')
}
