package bootstrap

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// This file builds every statement the copy runs, apart from running it, so
// that quoting, range predicates and literal encoding are unit-tested
// without a database.

// Kind is how a column's values are written as SQL literals and bound as
// range parameters.
type Kind int

const (
	// KindBytes: text, binary, ENUM, SET, BIT, spatial and anything else;
	// values are written as hex literals, byte for byte, and never pass
	// through a character-set conversion.
	KindBytes Kind = iota
	// KindInteger: TINYINT..BIGINT and YEAR.
	KindInteger
	// KindDecimal: DECIMAL, written as its exact text.
	KindDecimal
	// KindFloat: FLOAT and DOUBLE, read in the binary protocol (exact) and
	// written with the shortest text that round-trips the double.
	KindFloat
	// KindTemporal: DATE, TIME, DATETIME, TIMESTAMP, as quoted text with
	// their fraction (sessions run with time_zone '+00:00').
	KindTemporal
	// KindJSON: MySQL's native JSON, which refuses binary strings.
	KindJSON
)

// Column is one copied column of a table.
type Column struct {
	Name string
	// DataType is information_schema.COLUMNS.DATA_TYPE, lower case.
	DataType string
	Kind     Kind
	// Charset and Collation are set for text columns (used to bind text
	// key values without conversion).
	Charset, Collation string
	// Precision and Scale are set for DECIMAL.
	Precision, Scale int
}

// kindOf maps information_schema's DATA_TYPE to a Kind. flavor matters
// for JSON only: MariaDB's JSON is LONGTEXT.
func kindOf(dataType, flavor string) Kind {
	switch strings.ToLower(dataType) {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		return KindInteger
	case "decimal", "numeric":
		return KindDecimal
	case "float", "double", "real":
		return KindFloat
	case "date", "time", "datetime", "timestamp":
		return KindTemporal
	case "json":
		if flavor == FlavorMySQL {
			return KindJSON
		}
	}
	return KindBytes
}

// isTextType reports whether a key column of this type is compared through
// its collation.
func (c Column) isText() bool { return c.Kind == KindBytes && c.Collation != "" }

// Table is a table to copy: the copied (non-generated) columns and its
// primary key.
type Table struct {
	DB, Name string
	Columns  []Column
	// PK lists the primary-key columns as indexes into Columns, in key order.
	PK []int
	// Create is the source's SHOW CREATE TABLE text.
	Create string
	// EstRows is the source's row estimate (information_schema), for the
	// progress display only.
	EstRows int64
}

// String is the unquoted db.table form used in logs and errors.
func (t *Table) String() string { return t.DB + "." + t.Name }

// Quoted is the quoted db.table form used in SQL.
func (t *Table) Quoted() string {
	return mysqlconn.QuoteIdent(t.DB) + "." + mysqlconn.QuoteIdent(t.Name)
}

func (t *Table) columnList() string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = mysqlconn.QuoteIdent(c.Name)
	}
	return strings.Join(names, ", ")
}

func (t *Table) pkList() string { return strings.Join(t.pkColumns(), ", ") }

// pkColumns are the primary key's columns, quoted, in key order.
func (t *Table) pkColumns() []string {
	names := make([]string, len(t.PK))
	for i, p := range t.PK {
		names[i] = mysqlconn.QuoteIdent(t.Columns[p].Name)
	}
	return names
}

// param is the placeholder for one key column's value. Byte-valued keys
// (text, binary) are bound as hex text and decoded by UNHEX in the server:
// a raw byte string bound in the connection's character set would be
// checked and converted as utf8mb4 first. Text values are then relabelled
// into the column's own character set and collation, so they are compared
// under the collation ORDER BY uses. DECIMAL is cast so it is not compared
// as a double.
func param(c Column) string {
	switch {
	case c.isText():
		return fmt.Sprintf("CONVERT(UNHEX(?) USING %s) COLLATE %s", c.Charset, c.Collation)
	case c.Kind == KindBytes:
		return "UNHEX(?)"
	case c.Kind == KindDecimal:
		return fmt.Sprintf("CAST(? AS DECIMAL(%d,%d))", c.Precision, c.Scale)
	}
	return "?"
}

// arg is the value bound to param(c).
func arg(c Column, v any) any {
	if b, ok := v.([]byte); ok && c.Kind == KindBytes {
		return hex.EncodeToString(b)
	}
	return v
}

// rangeWhere is the WHERE clause of a chunk (lo, hi]; a nil bound is open.
// It returns "" when both are open.
func (t *Table) rangeWhere(lo, hi Key) (string, []any) {
	var args []any
	bind := func(k Key) func(int) string {
		if k == nil {
			return nil
		}
		return func(i int) string {
			c := t.Columns[t.PK[i]]
			args = append(args, arg(c, k[i]))
			return param(c)
		}
	}
	cond := mysqlconn.KeyRange(t.pkColumns(), bind(lo), bind(hi))
	if cond == "" {
		return "", nil
	}
	return " WHERE " + cond, args
}

// SelectChunk reads rows of (lo, hi] in key order, at most limit of them
// (limit 0: all).
func (t *Table) SelectChunk(lo, hi Key, limit int) (string, []any) {
	where, args := t.rangeWhere(lo, hi)
	q := "SELECT " + t.columnList() + " FROM " + t.Quoted() + " FORCE INDEX (PRIMARY)" + where +
		" ORDER BY " + t.pkList()
	if limit > 0 {
		q += " LIMIT " + strconv.Itoa(limit)
	}
	return q, args
}

// DeleteChunk removes the target's rows of (lo, hi], before a changed chunk
// is written again.
func (t *Table) DeleteChunk(lo, hi Key) (string, []any) {
	where, args := t.rangeWhere(lo, hi)
	return "DELETE FROM " + t.Quoted() + where, args
}

// insertBuilder builds multi-row INSERT statements of at most maxBytes
// each.
type insertBuilder struct {
	t        *Table
	maxBytes int
	head     string
	buf      bytes.Buffer
	rows     int
	out      []string
}

func newInsertBuilder(t *Table, maxBytes int) *insertBuilder {
	return &insertBuilder{t: t, maxBytes: maxBytes,
		head: "INSERT INTO " + t.Quoted() + " (" + t.columnList() + ") VALUES "}
}

// add appends one row. A row larger than maxBytes on its own still gets a
// statement of its own (the server then says the packet is too large,
// naming the limit).
func (ib *insertBuilder) add(row []any) error {
	var tuple bytes.Buffer
	tuple.WriteByte('(')
	for i, v := range row {
		if i > 0 {
			tuple.WriteByte(',')
		}
		if err := appendLiteral(&tuple, ib.t.Columns[i], v); err != nil {
			return fmt.Errorf("column %s: %w", ib.t.Columns[i].Name, err)
		}
	}
	tuple.WriteByte(')')
	if ib.rows > 0 && ib.buf.Len()+1+tuple.Len() > ib.maxBytes {
		ib.flush()
	}
	if ib.rows == 0 {
		ib.buf.WriteString(ib.head)
	} else {
		ib.buf.WriteByte(',')
	}
	ib.buf.Write(tuple.Bytes())
	ib.rows++
	return nil
}

func (ib *insertBuilder) flush() {
	if ib.rows > 0 {
		ib.out = append(ib.out, ib.buf.String())
		ib.buf.Reset()
		ib.rows = 0
	}
}

// statements returns the statements built so far, flushing the last one.
func (ib *insertBuilder) statements() []string {
	ib.flush()
	return ib.out
}

// InsertStatements encodes rows as multi-row INSERTs of at most maxBytes.
func (t *Table) InsertStatements(rows [][]any, maxBytes int) ([]string, error) {
	ib := newInsertBuilder(t, maxBytes)
	for _, r := range rows {
		if err := ib.add(r); err != nil {
			return nil, fmt.Errorf("encode row of %s: %w", t, err)
		}
	}
	return ib.statements(), nil
}

// appendLiteral writes v, as read in the binary protocol, as a literal for
// column c. Text and binary values become hex literals, so their exact bytes
// reach the column without any character-set conversion (reads run with
// character_set_results=binary).
func appendLiteral(b *bytes.Buffer, c Column, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("NULL")
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case uint64:
		b.WriteString(strconv.FormatUint(x, 10))
	case float32:
		// The float32's exact value as a double: parsing it gives that
		// double, and storing it into FLOAT is then exact.
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 64))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case []byte:
		return appendBytes(b, c, x)
	case string:
		return appendBytes(b, c, []byte(x))
	default:
		return fmt.Errorf("unexpected value type %T", v)
	}
	return nil
}

func appendBytes(b *bytes.Buffer, c Column, x []byte) error {
	switch c.Kind {
	case KindInteger, KindDecimal, KindFloat:
		if !mysqlconn.IsNumber(x) {
			return fmt.Errorf("value %q is not a number", x)
		}
		b.Write(x)
	case KindTemporal:
		b.WriteString(mysqlconn.QuoteString(string(x)))
	case KindJSON:
		b.WriteString("CONVERT(X'")
		b.WriteString(hex.EncodeToString(x))
		b.WriteString("' USING utf8mb4)")
	default:
		b.WriteString("X'")
		b.WriteString(hex.EncodeToString(x))
		b.WriteByte('\'')
	}
	return nil
}
