package reconcile

import (
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// TableName is a table in a database.
type TableName struct {
	DB, Name string
}

// String is the unquoted db.table form used in reports and logs.
func (t TableName) String() string { return t.DB + "." + t.Name }

// Quoted is the quoted form used in SQL.
func (t TableName) Quoted() string {
	return mysqlconn.QuoteIdent(t.DB) + "." + mysqlconn.QuoteIdent(t.Name)
}
