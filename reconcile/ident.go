package reconcile

import (
	"fmt"
	"strings"
)

// QuoteIdent quotes a MySQL identifier with backticks, doubling any backtick
// inside it. Every identifier reconcile puts into SQL goes through it, so
// names with backticks, spaces, dots or non-ASCII letters are safe.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// TableName is a table in a database.
type TableName struct {
	DB, Name string
}

// String is the unquoted db.table form used in reports and logs.
func (t TableName) String() string { return t.DB + "." + t.Name }

// Quoted is the quoted form used in SQL.
func (t TableName) Quoted() string { return QuoteIdent(t.DB) + "." + QuoteIdent(t.Name) }

// TablePattern selects tables: db.table where an unquoted part may use '*'
// for any run of characters, the same form as the replicator's filters. A part
// in backticks is literal, with a backtick inside it written twice, so names
// containing '.', '*' or backticks can be given, as in "`my.db`.*".
type TablePattern struct {
	DB, Table         string
	dbGlob, tableGlob bool
}

// ParseTablePattern parses one db.table pattern.
func ParseTablePattern(s string) (TablePattern, error) {
	db, rest, dbGlob, err := patternPart(s, false)
	if err != nil {
		return TablePattern{}, fmt.Errorf("table pattern %q: %w", s, err)
	}
	if !strings.HasPrefix(rest, ".") {
		return TablePattern{}, fmt.Errorf("table pattern %q: must be db.table, e.g. shop.orders or shop.*", s)
	}
	tbl, rest, tblGlob, err := patternPart(rest[1:], true)
	if err != nil {
		return TablePattern{}, fmt.Errorf("table pattern %q: %w", s, err)
	}
	if rest != "" {
		return TablePattern{}, fmt.Errorf("table pattern %q: unexpected %q after the table name", s, rest)
	}
	if db == "" || tbl == "" {
		return TablePattern{}, fmt.Errorf("table pattern %q: empty database or table name", s)
	}
	return TablePattern{DB: db, Table: tbl, dbGlob: dbGlob, tableGlob: tblGlob}, nil
}

// patternPart reads one part: a backtick-quoted identifier, or text up to the
// first '.' (the last part takes the rest, like the replicator's filters).
// glob reports an unquoted '*'.
func patternPart(s string, last bool) (part, rest string, glob bool, err error) {
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

// Match reports whether the pattern selects db.table.
func (p TablePattern) Match(t TableName) bool {
	return matchPart(p.DB, p.dbGlob, t.DB) && matchPart(p.Table, p.tableGlob, t.Name)
}

// Literal reports whether the pattern names exactly one table.
func (p TablePattern) Literal() bool { return !p.dbGlob && !p.tableGlob }

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
