// Package tablepattern is drc's one way of selecting tables by name: the
// replicator's include/exclude filters, the applier's per-table policies,
// bootstrap's and reconcile's table lists and config validation all parse
// and match patterns here, so that a pattern selects the same tables in
// every role.
//
// A pattern is db.table. An unquoted part may use '*' for any run of
// characters (none included); nothing else is special. A part in
// backticks is literal, with a backtick inside it written twice, so names
// containing '.', '*' or backticks can be given: "`my.db`.*". Unquoted,
// the first '.' separates the database from the table, and the table part
// takes the rest ("shop.a.b" is table "a.b" of shop).
package tablepattern

import (
	"fmt"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Pattern selects tables; the zero Pattern selects none.
type Pattern struct {
	DB, Table         string
	dbGlob, tableGlob bool
}

// Parse parses one db.table pattern.
func Parse(s string) (Pattern, error) {
	db, rest, dbGlob, err := part(s, false)
	if err != nil {
		return Pattern{}, fmt.Errorf("table pattern %q: %w", s, err)
	}
	if !strings.HasPrefix(rest, ".") {
		return Pattern{}, fmt.Errorf("table pattern %q: must be db.table, e.g. shop.orders or shop.*", s)
	}
	tbl, rest, tblGlob, err := part(rest[1:], true)
	if err != nil {
		return Pattern{}, fmt.Errorf("table pattern %q: %w", s, err)
	}
	if rest != "" {
		return Pattern{}, fmt.Errorf("table pattern %q: unexpected %q after the table name", s, rest)
	}
	if db == "" || tbl == "" {
		return Pattern{}, fmt.Errorf("table pattern %q: empty database or table name", s)
	}
	return Pattern{DB: db, Table: tbl, dbGlob: dbGlob, tableGlob: tblGlob}, nil
}

// part reads one part: a backtick-quoted identifier, or text up to the
// first '.' (the last part takes the rest). glob reports an unquoted '*'.
func part(s string, last bool) (p, rest string, glob bool, err error) {
	if !strings.HasPrefix(s, "`") {
		if last {
			return s, "", strings.Contains(s, "*"), nil
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return s, "", strings.Contains(s, "*"), nil
		}
		return s[:i], s[i:], strings.Contains(s[:i], "*"), nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '`' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '`' {
			b.WriteByte('`')
			i++
			continue
		}
		return b.String(), s[i+1:], false, nil
	}
	return "", "", false, fmt.Errorf("unterminated backtick")
}

// Match reports whether the pattern selects db.table. A statement about a
// whole database (CREATE DATABASE) is matched with table "": "shop.*"
// selects it, "shop.orders" does not.
func (p Pattern) Match(db, table string) bool {
	return matchPart(p.DB, p.dbGlob, db) && matchPart(p.Table, p.tableGlob, table)
}

// Literal reports whether the pattern names exactly one table.
func (p Pattern) Literal() bool { return !p.dbGlob && !p.tableGlob }

// String is the pattern as it would be written, quoting the parts that
// need it.
func (p Pattern) String() string {
	return quoted(p.DB, p.dbGlob) + "." + quoted(p.Table, p.tableGlob)
}

func quoted(s string, glob bool) string {
	if glob || !strings.ContainsAny(s, ".*`") {
		return s
	}
	return mysqlconn.QuoteIdent(s)
}

func matchPart(pattern string, glob bool, s string) bool {
	if !glob {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// List is several patterns; it selects a table any of them selects.
type List []Pattern

// ParseList parses each pattern; the error names the first bad one.
func ParseList(ss []string) (List, error) {
	l := make(List, 0, len(ss))
	for _, s := range ss {
		p, err := Parse(s)
		if err != nil {
			return nil, err
		}
		l = append(l, p)
	}
	return l, nil
}

// Match reports whether a pattern of l selects db.table.
func (l List) Match(db, table string) bool {
	for _, p := range l {
		if p.Match(db, table) {
			return true
		}
	}
	return false
}
