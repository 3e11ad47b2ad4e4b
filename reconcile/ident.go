package reconcile

import (
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
