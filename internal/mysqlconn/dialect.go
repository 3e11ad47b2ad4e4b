package mysqlconn

import (
	"encoding/hex"
	"strings"
)

// This file is the SQL that drc writes the same way on both flavors. It
// only builds text, so all of it is unit-tested without a server.

// QuoteIdent quotes a MySQL identifier with backticks, doubling any
// backtick inside it, so that names with spaces, dots, backticks or
// non-ASCII letters are safe wherever drc puts them into SQL.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// QuoteString writes s, UTF-8 text, as a string literal that the server
// reads as exactly those characters whatever the session: under any
// sql_mode (NO_BACKSLASH_ESCAPES on or off) and in any connection
// character set. Printable ASCII other than the backslash is
// single-quoted, with each quote written twice; anything else is a hex literal
// with a utf8mb4 introducer (_utf8mb4 X'C3A9'), which no mode or
// character set reinterprets. Nothing is ever spliced into SQL unescaped.
//
// This is the rule for text drc writes into statements it builds itself
// and may print (reconcile's repairs, bootstrap's temporal values, bench's
// replication setup). Where the grammar takes only a quoted string (the
// options of CHANGE MASTER TO), non-ASCII text is refused by the parser
// rather than mangled. The applier's row values are replicator/event's
// AppendLiteral: backslash escapes, in the session whose sql_mode it sets.
func QuoteString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' {
			return "_utf8mb4 X'" + strings.ToUpper(hex.EncodeToString([]byte(s))) + "'"
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// IsNumber reports whether v, a number as a server prints it, can be
// written into SQL as it is: digits, sign, decimal point and exponent only,
// so a value that is not what its column promises is refused rather than
// spliced into a statement.
func IsNumber(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// KeyRange is the condition that selects the rows whose key lies in the
// range (lo, hi]: after lo, up to and including hi, in key order. It is
// how bootstrap and reconcile walk a table in chunks of its key.
//
// cols are the key's columns in key order, quoted (QuoteIdent). lo and hi
// give the SQL of a bound's i-th key value: a literal, or a placeholder
// whose argument the function appends as it is called. They are called
// once for each place a value appears, in the order the values appear in
// the text, so placeholders and arguments line up. A nil lo or hi leaves
// that side of the range open; with both nil, KeyRange returns "".
//
// A key of several columns is written in the expanded form
//
//	a >= x AND (a > x OR (a = x AND b > y))
//
// and not as the row comparison (a, b) > (x, y): its leading term is what
// the range optimizer turns into an index range, and row constructors are
// not range-optimized on every server.
func KeyRange(cols []string, lo, hi func(i int) string) string {
	var conds []string
	if lo != nil {
		conds = append(conds, keyBound(cols, ">=", ">", ">", lo))
	}
	if hi != nil {
		conds = append(conds, keyBound(cols, "<=", "<", "<=", hi))
	}
	return strings.Join(conds, " AND ")
}

// keyBound writes one side of a range: lead is the comparison of the first
// column that bounds the index scan, strict the comparison of every column
// but the last, last the comparison of the last one.
func keyBound(cols []string, lead, strict, last string, val func(i int) string) string {
	if len(cols) == 1 {
		return cols[0] + " " + last + " " + val(0)
	}
	var b strings.Builder
	b.WriteString(cols[0] + " " + lead + " " + val(0) + " AND (")
	for i := range cols {
		if i > 0 {
			b.WriteString(" OR (")
		}
		for j := 0; j < i; j++ {
			b.WriteString(cols[j] + " = " + val(j) + " AND ")
		}
		op := strict
		if i == len(cols)-1 {
			op = last
		}
		b.WriteString(cols[i] + " " + op + " " + val(i))
		if i > 0 {
			b.WriteByte(')')
		}
	}
	b.WriteByte(')')
	return b.String()
}
