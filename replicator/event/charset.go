package event

import (
	"fmt"
	"unicode/utf8"
)

// charsetClass says how a character set's bytes travel in JSON. The choice is
// per column (by its collation in the table map), never per value, so a
// consumer can rely on one JSON form per column.
type charsetClass uint8

const (
	// classBinary: the binary "charset" (BINARY, VARBINARY, BLOB); base64.
	classBinary charsetClass = iota
	// classUTF8: utf8mb4, utf8mb3 and ascii; the bytes are already UTF-8 and
	// travel as a JSON string unchanged.
	classUTF8
	// classLatin1: MySQL's latin1 (cp1252 with the five undefined cp1252
	// bytes mapped to the C1 controls, so all 256 bytes round-trip). It is
	// transcoded to a JSON string; the server transcodes back on apply.
	classLatin1
	// classRaw: every other character set (ucs2, utf16, gbk, sjis, ...).
	// The column's bytes travel base64 encoded, untouched, and the applier
	// reinterprets them in the column's charset (see Column.Placeholder).
	// Transcoding these would need MySQL's exact conversion tables for each.
	classRaw
)

func classOf(charset string) charsetClass {
	switch charset {
	case "binary":
		return classBinary
	case "utf8mb4", "utf8mb3", "utf8", "ascii":
		return classUTF8
	case "latin1":
		return classLatin1
	default:
		return classRaw
	}
}

// collationRange maps collation ids lo..hi to a character set.
type collationRange struct {
	lo, hi  uint16
	charset string
}

// collationRanges lists the collation ids below 1024 of MariaDB 10.11
// (information_schema.COLLATION_CHARACTER_SET_APPLICABILITY) and MySQL 8
// (which adds 76, 248-250 and 255-323). The two servers agree where both
// define an id. Ids 1024 and above are MariaDB's and follow rules, see
// charsetOfCollation.
var collationRanges = [...]collationRange{
	{1, 1, "big5"},
	{2, 2, "latin2"},
	{3, 3, "dec8"},
	{4, 4, "cp850"},
	{5, 5, "latin1"},
	{6, 6, "hp8"},
	{7, 7, "koi8r"},
	{8, 8, "latin1"},
	{9, 9, "latin2"},
	{10, 10, "swe7"},
	{11, 11, "ascii"},
	{12, 12, "ujis"},
	{13, 13, "sjis"},
	{14, 14, "cp1251"},
	{15, 15, "latin1"},
	{16, 16, "hebrew"},
	{18, 18, "tis620"},
	{19, 19, "euckr"},
	{20, 20, "latin7"},
	{21, 21, "latin2"},
	{22, 22, "koi8u"},
	{23, 23, "cp1251"},
	{24, 24, "gb2312"},
	{25, 25, "greek"},
	{26, 26, "cp1250"},
	{27, 27, "latin2"},
	{28, 28, "gbk"},
	{29, 29, "cp1257"},
	{30, 30, "latin5"},
	{31, 31, "latin1"},
	{32, 32, "armscii8"},
	{33, 33, "utf8mb3"},
	{34, 34, "cp1250"},
	{35, 35, "ucs2"},
	{36, 36, "cp866"},
	{37, 37, "keybcs2"},
	{38, 38, "macce"},
	{39, 39, "macroman"},
	{40, 40, "cp852"},
	{41, 42, "latin7"},
	{43, 43, "macce"},
	{44, 44, "cp1250"},
	{45, 46, "utf8mb4"},
	{47, 49, "latin1"},
	{50, 52, "cp1251"},
	{53, 53, "macroman"},
	{54, 55, "utf16"},
	{56, 56, "utf16le"},
	{57, 57, "cp1256"},
	{58, 59, "cp1257"},
	{60, 61, "utf32"},
	{62, 62, "utf16le"},
	{63, 63, "binary"},
	{64, 64, "armscii8"},
	{65, 65, "ascii"},
	{66, 66, "cp1250"},
	{67, 67, "cp1256"},
	{68, 68, "cp866"},
	{69, 69, "dec8"},
	{70, 70, "greek"},
	{71, 71, "hebrew"},
	{72, 72, "hp8"},
	{73, 73, "keybcs2"},
	{74, 74, "koi8r"},
	{75, 75, "koi8u"},
	{76, 76, "utf8mb3"},
	{77, 77, "latin2"},
	{78, 78, "latin5"},
	{79, 79, "latin7"},
	{80, 80, "cp850"},
	{81, 81, "cp852"},
	{82, 82, "swe7"},
	{83, 83, "utf8mb3"},
	{84, 84, "big5"},
	{85, 85, "euckr"},
	{86, 86, "gb2312"},
	{87, 87, "gbk"},
	{88, 88, "sjis"},
	{89, 89, "tis620"},
	{90, 90, "ucs2"},
	{91, 91, "ujis"},
	{92, 93, "geostd8"},
	{94, 94, "latin1"},
	{95, 96, "cp932"},
	{97, 98, "eucjpms"},
	{99, 99, "cp1250"},
	{101, 124, "utf16"},
	{128, 151, "ucs2"},
	{159, 159, "ucs2"},
	{160, 183, "utf32"},
	{192, 215, "utf8mb3"},
	{223, 223, "utf8mb3"},
	{224, 247, "utf8mb4"},
	{248, 250, "gb18030"},
	{255, 323, "utf8mb4"},
	{576, 578, "utf8mb3"},
	{608, 610, "utf8mb4"},
	{640, 642, "ucs2"},
	{672, 674, "utf16"},
	{736, 738, "utf32"},
}

// ucaCharsets are the character sets of MariaDB's UCA 14.0 collations,
// which occupy ids 2048 + 256*i (i indexing this list) upwards.
var ucaCharsets = [...]string{"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"}

// charsetOfCollation returns the character set of a collation id as the
// table map carries it.
func charsetOfCollation(id uint64) (string, error) {
	switch {
	case id >= 2048 && id < 2048+256*uint64(len(ucaCharsets)):
		return ucaCharsets[(id-2048)/256], nil
	case id > 1024 && id < 1024+256:
		// MariaDB's NO PAD variant of collation id-1024.
		id -= 1024
	}
	lo, hi := 0, len(collationRanges)
	for lo < hi {
		m := (lo + hi) / 2
		r := &collationRanges[m]
		switch {
		case id < uint64(r.lo):
			hi = m
		case id > uint64(r.hi):
			lo = m + 1
		default:
			return r.charset, nil
		}
	}
	return "", fmt.Errorf("%w: collation id %d", ErrUnknownCollation, id)
}

// latin1High maps MySQL latin1 bytes 0x80..0x9F to Unicode. Bytes below 0x80
// are ASCII and bytes from 0xA0 equal their code point (ISO 8859-1). This is
// cp1252 except that its five undefined bytes map to the C1 controls, as in
// MySQL's own table, so every byte has a code point and converting back
// (which the server does on apply) restores the byte.
var latin1High = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// appendLatin1 appends the latin1 bytes s transcoded to UTF-8 as a JSON
// string.
func appendLatin1(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c < utf8.RuneSelf:
			dst = appendEscapedASCII(dst, c)
		case c < 0xA0:
			dst = utf8.AppendRune(dst, latin1High[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return append(dst, '"')
}
