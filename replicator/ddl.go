package replicator

import (
	"fmt"
	"strings"
	"unicode"
)

// StatementKind is what a query event in the binlog means to the replicator.
type StatementKind int

// The statement kinds. Every query event is exactly one of these; a query
// the classifier cannot place is KindUnknown, which stops the stream.
const (
	KindUnknown  StatementKind = iota
	KindIgnore                 // transaction control and no-ops: BEGIN, COMMIT, SAVEPOINT, comments
	KindTable                  // DDL on one or more tables: CREATE/ALTER/DROP/RENAME/TRUNCATE TABLE, indexes
	KindDatabase               // CREATE/ALTER/DROP DATABASE
	KindObject                 // views, triggers, routines, events, sequences
	KindAccount                // users, roles, grants
	KindAdmin                  // ANALYZE, OPTIMIZE, REPAIR, FLUSH
	KindDML                    // a statement-format DML: impossible with binlog_format=ROW, so an error
	KindXA                     // XA transactions, not supported
)

func (k StatementKind) String() string {
	switch k {
	case KindIgnore:
		return "ignore"
	case KindTable:
		return "table"
	case KindDatabase:
		return "database"
	case KindObject:
		return "object"
	case KindAccount:
		return "account"
	case KindAdmin:
		return "admin"
	case KindDML:
		return "dml"
	case KindXA:
		return "xa"
	}
	return "unknown"
}

// Statement is a classified query event.
type Statement struct {
	Kind StatementKind
	// DB and Table name the object the statement changes; DB falls back to
	// the query event's default schema. For RENAME and multi-table DROP,
	// Table is the first table named.
	DB, Table string
	SQL       string
	// Verb and Object, for CREATE/ALTER/DROP: e.g. CREATE and TRIGGER (the
	// word after the verb and its modifiers).
	Verb, Object string
}

// Label names the statement without its text, for logs (statement text is
// logged at DEBUG only): "CREATE USER", "ALTER TABLE", "GRANT".
func (st Statement) Label() string {
	if st.Verb != "" {
		obj := st.Object
		if obj == "" {
			obj = strings.ToUpper(st.Kind.String())
		}
		return st.Verb + " " + obj
	}
	w, rest := word(skipSpaceAndComments(st.SQL))
	if w2, _ := word(rest); w == "SET" || w == "RENAME" {
		return w + " " + w2
	}
	return w
}

// The DDL kinds a target may allow (applier.ddl_kinds): what a published
// DDL statement changes, one word each.
const (
	DDLKindTable    = "table"    // CREATE/ALTER/DROP/RENAME/TRUNCATE TABLE
	DDLKindIndex    = "index"    // CREATE/DROP INDEX
	DDLKindDatabase = "database" // CREATE/ALTER/DROP DATABASE
	DDLKindView     = "view"
	DDLKindTrigger  = "trigger"
	DDLKindRoutine  = "routine" // PROCEDURE, FUNCTION, PACKAGE
	DDLKindEvent    = "event"
	DDLKindSequence = "sequence"
	DDLKindAdmin    = "admin" // ANALYZE, OPTIMIZE, REPAIR, FLUSH, ...
	DDLKindOther    = "other" // a statement replicator.allow_ddl let through, plugins, versioned-comment tricks

	// Kinds no applier.ddl_kinds can allow: a DDL record carrying one is
	// not drc's replicator's (it publishes none), and stops the applier.
	DDLKindAccount = "account" // users, roles, grants, passwords, servers
	DDLKindDML     = "dml"     // statement-format row changes
	DDLKindNone    = "none"    // transaction control, XA
)

// DDLKinds lists every DDL kind, in the order documentation shows them.
func DDLKinds() []string {
	return []string{DDLKindTable, DDLKindIndex, DDLKindDatabase, DDLKindView, DDLKindTrigger,
		DDLKindRoutine, DDLKindEvent, DDLKindSequence, DDLKindAdmin, DDLKindOther}
}

// DDLKind is the kind of a DDL statement as applier.ddl_kinds names it.
// Statements no DDL kind allows come out as DDLKindAccount, DDLKindDML or
// DDLKindNone (transaction control, XA), which applier.ddl_kinds cannot
// list. A statement whose meaning depends on a versioned comment before
// its object word (CREATE /*!99999 TABLE ... */ TRIGGER ..., which a
// server skipping that version reads as a trigger), a plugin statement
// (INSTALL, UNINSTALL, CREATE FUNCTION ... SONAME: a shared library on the
// target) and anything the classifier cannot place are DDLKindOther.
func (st Statement) DDLKind() string {
	if strings.Contains(st.SQL, "/*!") || strings.Contains(st.SQL, "/*M!") {
		plain := ClassifyStatement(stripVersionedComments(st.SQL), st.DB)
		if plain.Kind != st.Kind || plain.Verb != st.Verb || plain.Object != st.Object {
			return DDLKindOther
		}
	}
	switch st.Kind {
	case KindAccount:
		return DDLKindAccount
	case KindDML:
		return DDLKindDML
	case KindIgnore, KindXA:
		return DDLKindNone
	case KindTable:
		if st.Object == "INDEX" || st.Object == "KEY" {
			return DDLKindIndex
		}
		return DDLKindTable
	case KindDatabase:
		return DDLKindDatabase
	case KindAdmin:
		if w, _ := word(skipSpaceAndComments(st.SQL)); w == "INSTALL" || w == "UNINSTALL" {
			return DDLKindOther
		}
		return DDLKindAdmin
	case KindObject:
		switch st.Object {
		case "VIEW":
			return DDLKindView
		case "TRIGGER":
			return DDLKindTrigger
		case "PROCEDURE", "FUNCTION", "PACKAGE":
			if indexWord(st.SQL, "SONAME") >= 0 {
				return DDLKindOther
			}
			return DDLKindRoutine
		case "EVENT":
			return DDLKindEvent
		case "SEQUENCE":
			return DDLKindSequence
		}
	}
	return DDLKindOther
}

// stripVersionedComments removes /*!NNNNN ... */ and /*M!NNNNN ... */
// comments whole, as a server that skips their version reads the text.
func stripVersionedComments(sql string) string {
	var b strings.Builder
	for {
		i := strings.Index(sql, "/*!")
		if j := strings.Index(sql, "/*M!"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			b.WriteString(sql)
			return b.String()
		}
		b.WriteString(sql[:i])
		end := strings.Index(sql[i:], "*/")
		if end < 0 {
			return b.String()
		}
		b.WriteByte(' ')
		sql = sql[i+end+2:]
	}
}

// ClassifyStatement places a query event's SQL. defaultDB is the event's
// schema (the session's current database).
func ClassifyStatement(sql, defaultDB string) Statement {
	st := Statement{SQL: sql, DB: defaultDB}
	s := skipSpaceAndComments(sql)
	if s == "" {
		st.Kind = KindIgnore
		return st
	}
	w, rest := word(s)
	switch w {
	case "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE":
		st.Kind = KindIgnore
	case "XA":
		st.Kind = KindXA
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD", "CALL", "DO", "SET", "SELECT", "WITH":
		// SET PASSWORD and SET DEFAULT ROLE are account statements.
		if w == "SET" {
			if w2, _ := word(rest); w2 == "PASSWORD" || w2 == "DEFAULT" || w2 == "ROLE" {
				st.Kind = KindAccount
				return st
			}
		}
		st.Kind = KindDML
	case "GRANT", "REVOKE":
		st.Kind = KindAccount
	case "ANALYZE", "OPTIMIZE", "REPAIR", "FLUSH", "CHECK", "INSTALL", "UNINSTALL":
		st.Kind = KindAdmin
	case "TRUNCATE":
		if w2, r2 := word(rest); w2 == "TABLE" {
			rest = r2
		}
		st.Kind = KindTable
		st.setName(rest)
	case "RENAME":
		w2, r2 := word(rest)
		switch w2 {
		case "TABLE":
			st.Kind = KindTable
			st.setName(r2)
		case "USER":
			st.Kind = KindAccount
		case "DATABASE", "SCHEMA":
			st.Kind = KindDatabase
		}
	case "CREATE", "ALTER", "DROP":
		st.classifyObject(w, rest)
	}
	return st
}

func (st *Statement) classifyObject(verb, rest string) {
	st.Verb = verb
	// Skip modifiers that may stand between the verb and the object type.
	for {
		w, r := word(rest)
		switch w {
		case "OR", "REPLACE", "TEMPORARY", "ONLINE", "OFFLINE", "IGNORE", "UNIQUE", "FULLTEXT", "SPATIAL",
			"DEFINER", "SQL", "SECURITY", "ALGORITHM", "AGGREGATE", "DEFINITION", "INVOKER", "MERGE",
			"TEMPTABLE", "UNDEFINED":
			rest = r
			if r := skipSpaceAndComments(rest); (w == "DEFINER" || w == "ALGORITHM") && strings.HasPrefix(r, "=") {
				// DEFINER = user@host / ALGORITHM = x: skip "=" and the value.
				rest = r[1:]
				_, rest = identOrWord(skipSpaceAndComments(rest))
				if strings.HasPrefix(rest, "@") {
					_, rest = identOrWord(rest[1:])
				}
			}
			continue
		}
		st.Object = w
		switch w {
		case "TABLE":
			st.Kind = KindTable
			st.setName(skipIfExists(r))
		case "INDEX", "KEY":
			st.Kind = KindTable
			// CREATE INDEX name ON tbl / DROP INDEX name ON tbl
			_, r2 := identOrWord(skipSpaceAndComments(r))
			if i := indexWord(r2, "ON"); i >= 0 {
				st.setName(r2[i+2:])
			}
		case "DATABASE", "SCHEMA":
			st.Kind = KindDatabase
			name, _ := identOrWord(skipSpaceAndComments(skipIfExists(r)))
			if name != "" {
				st.DB = name
			}
		case "VIEW", "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT", "SEQUENCE", "PACKAGE":
			st.Kind = KindObject
			st.Object = w
			st.setName(skipIfExists(r))
		case "USER", "ROLE", "SERVER":
			// A server definition holds a password, like an account.
			st.Kind = KindAccount
			st.Object = w
		case "LOGFILE", "TABLESPACE":
			st.Kind = KindAdmin
		}
		return
	}
}

// setName reads a possibly qualified name at the start of s.
func (st *Statement) setName(s string) {
	s = skipSpaceAndComments(s)
	first, rest := identOrWord(s)
	if first == "" {
		return
	}
	if strings.HasPrefix(rest, ".") {
		second, _ := identOrWord(rest[1:])
		st.DB, st.Table = first, second
		return
	}
	st.Table = first
}

func skipIfExists(s string) string {
	w, r := word(s)
	if w != "IF" {
		return s
	}
	w2, r2 := word(r)
	if w2 == "NOT" {
		_, r2 = word(r2)
	}
	return r2
}

// word returns the next bare word upper-cased, and the text after it.
func word(s string) (string, string) {
	s = skipSpaceAndComments(s)
	i := 0
	for i < len(s) && isWordByte(s[i]) {
		i++
	}
	return strings.ToUpper(s[:i]), s[i:]
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}

// identOrWord reads a backtick-quoted identifier (with “ escapes), a
// quoted string, or a bare word, keeping its case.
func identOrWord(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	if q := s[0]; q == '`' || q == '"' || q == '\'' {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == q {
				if i+1 < len(s) && s[i+1] == q {
					b.WriteByte(q)
					i++
					continue
				}
				return b.String(), s[i+1:]
			}
			b.WriteByte(s[i])
		}
		return b.String(), ""
	}
	i := 0
	for i < len(s) && (isWordByte(s[i]) || s[i] == '$') {
		i++
	}
	return s[:i], s[i:]
}

// indexWord finds keyword kw as a whole word in s, outside quotes.
func indexWord(s, kw string) int {
	up := strings.ToUpper(s)
	for i := 0; i+len(kw) <= len(s); i++ {
		switch s[i] {
		case '`', '\'', '"':
			_, rest := identOrWord(s[i:])
			i = len(s) - len(rest) - 1
			continue
		}
		if up[i:i+len(kw)] == kw && (i == 0 || !isWordByte(s[i-1])) && (i+len(kw) == len(s) || !isWordByte(s[i+len(kw)])) {
			return i
		}
	}
	return -1
}

// skipSpaceAndComments drops leading white space and SQL comments. MariaDB
// keeps version comments (/*!50001 ...*/) executable, so their body is kept.
func skipSpaceAndComments(s string) string {
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		switch {
		case strings.HasPrefix(s, "/*!") || strings.HasPrefix(s, "/*M!"):
			// Executable comment: skip the marker and version digits only.
			s = strings.TrimLeft(s[2:], "!M0123456789")
			if end := strings.Index(s, "*/"); end >= 0 {
				s = s[:end] + " " + s[end+2:]
			}
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s, "*/")
			if end < 0 {
				return ""
			}
			s = s[end+2:]
		case strings.HasPrefix(s, "--") || strings.HasPrefix(s, "#"):
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				return ""
			}
			s = s[end+1:]
		default:
			return s
		}
	}
}

// ErrUnclassified reports a statement the replicator will not guess about.
type ErrUnclassified struct {
	GTID string
	SQL  string
	Kind StatementKind
}

func (e *ErrUnclassified) Error() string {
	sql := RedactSQL(e.SQL) // literals may hold secrets or row values
	if len(sql) > 200 {
		sql = sql[:200] + "..."
	}
	return fmt.Sprintf("transaction %s: cannot replicate %s statement %q; stopping instead of skipping it "+
		"(if it is safe to publish, add its exact text, as the binlog holds it, to replicator.allow_ddl)", e.GTID, e.Kind, sql)
}

// normalizeSQL folds white space so allow_ddl entries match regardless of
// line breaks.
func normalizeSQL(s string) string { return strings.Join(strings.Fields(s), " ") }

// RedactSQL returns sql with every quoted string literal ('…' and "…"),
// every hex or bit literal and every comment replaced by '?' (comments by
// /*?*/): passwords (IDENTIFIED BY '…', PASSWORD('…'), AS '…', hashes),
// connection strings and row values go, the statement's shape stays.
// Backquoted identifiers are kept. It is what drc puts in errors and logs
// in place of a statement.
//
// A backslash inside a literal is an escape, or not (NO_BACKSLASH_ESCAPES),
// and the two readings end the literal at different places; when one
// appears, everything from that literal on is redacted, so no reading can
// print a literal.
func RedactSQL(sql string) string {
	var b strings.Builder
	b.Grow(len(sql))
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == '\\' {
					b.WriteString("'?'…")
					return b.String()
				}
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString("'?'")
			i = min(j+1, len(sql))
		case c == '`':
			j := i + 1
			for j < len(sql) && !(sql[j] == '`' && (j+1 >= len(sql) || sql[j+1] != '`')) {
				if sql[j] == '`' {
					j++
				}
				j++
			}
			end := min(j+1, len(sql))
			b.WriteString(sql[i:end])
			i = end
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			b.WriteString("/*?*/")
			if j < 0 {
				return b.String()
			}
			i += j + 4
		case c == '#' || c == '-' && strings.HasPrefix(sql[i:], "-- "):
			j := strings.IndexByte(sql[i:], '\n')
			b.WriteString("/*?*/")
			if j < 0 {
				return b.String()
			}
			i += j
		case (c == '0' && i+1 < len(sql) && (sql[i+1] == 'x' || sql[i+1] == 'b')) && (i == 0 || !isWordByte(sql[i-1])):
			j := i + 2
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			b.WriteString("'?'")
			i = j
		case (c == 'x' || c == 'X' || c == 'b' || c == 'B') && i+1 < len(sql) && sql[i+1] == '\'' && (i == 0 || !isWordByte(sql[i-1])):
			i++ // x'…' / b'…': the quote case takes the literal
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// ddlOriginPrefix starts the comment the applier puts in front of a DDL
// statement it applies: /* drc:origin=<region> */.
const ddlOriginPrefix = "/* drc:origin="

// DDLOriginComment is the comment the applier prefixes to a DDL statement
// that came from region origin, so that the target region's replicator
// does not send it back (see DDLOrigin).
func DDLOriginComment(origin string) string { return ddlOriginPrefix + origin + " */ " }

// DDLOrigin returns the origin region named by a leading DDLOriginComment.
func DDLOrigin(sql string) (string, bool) {
	s := strings.TrimLeftFunc(sql, unicode.IsSpace)
	rest, ok := strings.CutPrefix(s, ddlOriginPrefix)
	if !ok {
		return "", false
	}
	origin, _, ok := strings.Cut(rest, " */")
	return origin, ok && origin != ""
}
