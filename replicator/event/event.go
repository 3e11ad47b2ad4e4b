package event

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Version is the event format version written in every record's "v" field.
const Version = 1

// Op is the kind of change a record carries.
type Op string

// The operations of format v1.
const (
	OpInsert    Op = "insert"
	OpUpdate    Op = "update"
	OpDelete    Op = "delete"
	OpDDL       Op = "ddl"
	OpHeartbeat Op = "heartbeat"
)

// IsRow reports whether op carries row images.
func (op Op) IsRow() bool { return op == OpInsert || op == OpUpdate || op == OpDelete }

// hasImage reports whether op carries row images: the row ops, and
// heartbeat, whose after image is the drc_meta.heartbeat row (region, ts).
// A heartbeat without an image is the position marker a replicator
// publishes when it starts on an empty topic.
func (op Op) hasImage() bool { return op.IsRow() || op == OpHeartbeat }

// ops lists every op of format v1.
var ops = [...]Op{OpInsert, OpUpdate, OpDelete, OpDDL, OpHeartbeat}

func (op Op) valid() bool { return slices.Contains(ops[:], op) }

// Errors of this package. Callers match them with errors.Is; the wrapping
// error names the table and column.
var (
	// ErrNoRowMetadata: a table-map event lacks the optional metadata that
	// binlog_row_metadata=FULL adds. Fix the source's setting.
	ErrNoRowMetadata = errors.New("table map lacks column metadata: binlog_row_metadata=FULL required")
	// ErrUnsupportedType: a column type the format cannot carry exactly.
	ErrUnsupportedType = errors.New("unsupported column type")
	// ErrUnknownCollation: a collation id missing from the package's table,
	// so the column's character set, and with it the value's form, is unknown.
	ErrUnknownCollation = errors.New("unknown collation")
	// ErrUnencodable: a value that cannot be encoded exactly, such as
	// invalid UTF-8 in a utf8mb4 column, or a Go type the syncer options
	// should not produce.
	ErrUnencodable = errors.New("value cannot be encoded exactly")
	// ErrPartialImage: the image lacks a column the operation needs, such as
	// a primary-key column for the record key.
	ErrPartialImage = errors.New("row image lacks a column")
	// ErrInvalidRecord: Decode's input is not a valid v1 record.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidValue: a value in a decoded image does not match its type.
	ErrInvalidValue = errors.New("invalid value")
)

// Record is one Kafka record of format v1: one row change, or a control
// record (ddl, heartbeat). The JSON field names are the contract; doc.go
// lists them.
type Record struct {
	V       int    `json:"v"`
	Cluster string `json:"cluster"`
	Region  string `json:"region"`
	Origin  string `json:"origin"`
	GTID    string `json:"gtid"`
	TS      int64  `json:"ts"`
	Seq     int    `json:"seq"`
	Last    bool   `json:"last"`
	Op      Op     `json:"op"`
	DB      string `json:"db,omitempty"`
	Table   string `json:"table,omitempty"`
	// PK holds the primary-key column names, in order; empty (never absent)
	// for tables without one and for control records. A Decoder shares one
	// PK slice between consecutive records of a table and their Table:
	// read it, never modify it.
	PK []string `json:"pk"`
	// Before and After are the row images: Before is nil for inserts, After
	// for deletes. Both images of a record share one Table, whose column
	// types travel in the additive "types" field.
	Before *Row   `json:"before,omitempty"`
	After  *Row   `json:"after,omitempty"`
	SQL    string `json:"sql,omitempty"`
	// GTIDSet is additive to v1: on a transaction's last record it holds the
	// source GTID set after the transaction, which is all a restarting
	// replicator needs to resume.
	GTIDSet string `json:"gtid_set,omitempty"`
}

// image returns the image that identifies the row: the after image, or the
// before image of a delete.
func (r *Record) image() *Row {
	if r.After != nil {
		return r.After
	}
	return r.Before
}

// AppendJSON appends the record's JSON encoding to dst. Fields come in a
// fixed order and row images in column order, so equal records encode to
// equal bytes. It fails only on strings that are not valid UTF-8, which
// JSON cannot carry exactly, and on images of different tables.
func (r *Record) AppendJSON(dst []byte) ([]byte, error) {
	if err := r.checkStrings(); err != nil {
		return dst, err
	}
	if r.Op.hasImage() {
		// The shape Decode insists on, checked where a bug would be made.
		hasBefore, hasAfter := r.Before != nil && r.Before.Table != nil, r.After != nil && r.After.Table != nil
		if r.Op == OpInsert && (hasBefore || !hasAfter) || r.Op == OpHeartbeat && hasBefore || r.Op == OpUpdate && (!hasBefore || !hasAfter) || r.Op == OpDelete && (!hasBefore || hasAfter) {
			return dst, fmt.Errorf("%s record on %s: must have %s", r.Op, appendQualified(nil, r.DB, r.Table), wantImages(r.Op))
		}
		if hasBefore && hasAfter && r.Before.Table != r.After.Table {
			return dst, fmt.Errorf("%s record on %s: before and after images belong to different tables", r.Op, appendQualified(nil, r.DB, r.Table))
		}
	} else if r.Before != nil || r.After != nil {
		return dst, fmt.Errorf("%s record: has a row image", r.Op)
	}
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, int64(r.V), 10)
	dst = append(dst, `,"cluster":`...)
	dst = appendString(dst, r.Cluster)
	dst = append(dst, `,"region":`...)
	dst = appendString(dst, r.Region)
	dst = append(dst, `,"origin":`...)
	dst = appendString(dst, r.Origin)
	dst = append(dst, `,"gtid":`...)
	dst = appendString(dst, r.GTID)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, r.TS, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, int64(r.Seq), 10)
	dst = append(dst, `,"last":`...)
	dst = strconv.AppendBool(dst, r.Last)
	dst = append(dst, `,"op":`...)
	dst = appendString(dst, string(r.Op))
	if r.DB != "" {
		dst = append(dst, `,"db":`...)
		dst = appendString(dst, r.DB)
	}
	if r.Table != "" {
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, r.Table)
	}
	dst = append(dst, `,"pk":[`...)
	for i, name := range r.PK {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, name)
	}
	dst = append(dst, ']')
	if img := r.image(); img != nil && img.Table != nil {
		dst = append(dst, `,"types":`...)
		dst = img.Table.appendTypes(dst)
	}
	if r.Before != nil {
		dst = append(dst, `,"before":`...)
		dst = r.Before.appendJSON(dst)
	}
	if r.After != nil {
		dst = append(dst, `,"after":`...)
		dst = r.After.appendJSON(dst)
	}
	if r.Before != nil && len(r.Before.jsonNull) > 0 {
		dst = append(dst, `,"before_json_null":`...)
		dst = r.Before.appendNames(dst, r.Before.jsonNull)
	}
	if r.After != nil && len(r.After.jsonNull) > 0 {
		dst = append(dst, `,"after_json_null":`...)
		dst = r.After.appendNames(dst, r.After.jsonNull)
	}
	if r.Before != nil && len(r.Before.enumZero) > 0 {
		dst = append(dst, `,"before_enum_zero":`...)
		dst = r.Before.appendNames(dst, r.Before.enumZero)
	}
	if r.After != nil && len(r.After.enumZero) > 0 {
		dst = append(dst, `,"after_enum_zero":`...)
		dst = r.After.appendNames(dst, r.After.enumZero)
	}
	if r.Before != nil && len(r.Before.setBits) > 0 {
		dst = append(dst, `,"before_set_bits":`...)
		dst = r.Before.appendSetBits(dst)
	}
	if r.After != nil && len(r.After.setBits) > 0 {
		dst = append(dst, `,"after_set_bits":`...)
		dst = r.After.appendSetBits(dst)
	}
	if r.SQL != "" {
		dst = append(dst, `,"sql":`...)
		dst = appendString(dst, r.SQL)
	}
	if r.GTIDSet != "" {
		dst = append(dst, `,"gtid_set":`...)
		dst = appendString(dst, r.GTIDSet)
	}
	return append(dst, '}'), nil
}

func (r *Record) checkStrings() error {
	for _, f := range [...]struct{ name, v string }{
		{"cluster", r.Cluster}, {"region", r.Region}, {"origin", r.Origin}, {"gtid", r.GTID},
		{"op", string(r.Op)}, {"db", r.DB}, {"table", r.Table}, {"sql", r.SQL}, {"gtid_set", r.GTIDSet},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("record field %q: %w: not valid UTF-8", f.name, ErrUnencodable)
		}
	}
	for _, name := range r.PK {
		if !utf8.ValidString(name) {
			return fmt.Errorf("record field \"pk\": %w: not valid UTF-8", ErrUnencodable)
		}
	}
	return nil
}

func (t *Table) appendTypes(dst []byte) []byte {
	if t.types != nil {
		return append(dst, t.types...)
	}
	// A Table assembled by hand rather than by NewTable or Decode.
	dst = append(dst, '{')
	for i := range t.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, t.Columns[i].quotedName()...)
		dst = appendString(dst, t.Columns[i].TypeString())
	}
	return append(dst, '}')
}

// MarshalJSON implements json.Marshaler with AppendJSON. Its value receiver
// lets json.Marshal use it for both Record and *Record.
func (r Record) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil) }

// UnmarshalJSON implements json.Unmarshaler with Decode.
func (r *Record) UnmarshalJSON(data []byte) error {
	d, err := Decode(data)
	if err != nil {
		return err
	}
	*r = *d
	return nil
}

// AppendKey appends the record's Kafka key to dst:
//
//	db.table/[pk values]
//
// db and table are written as they are unless they contain '.', '/' or '`',
// in which case they are quoted MySQL-style (`a.b`.t, with ` doubled), so no
// two tables share a key prefix. The bracketed part is a JSON array of the
// primary-key values exactly as they appear in the row image, in PK order:
// the after image, or the before image for a delete. So
//
//	shop.orders/[42]
//	shop.order_lines/["18446744073709551615","2024-01-02 03:04:05.000"]
//	shop.audit/[]           (no primary key)
//
// A table without a primary key therefore keeps all its rows under one key.
// Control records have no bracketed part: "db.table", or "db" when the
// record names no table.
func (r *Record) AppendKey(dst []byte) ([]byte, error) {
	if !r.Op.IsRow() {
		if r.Table == "" {
			return appendIdent(dst, r.DB), nil
		}
		return appendQualified(dst, r.DB, r.Table), nil
	}
	img := r.image()
	if img == nil || img.Table == nil {
		return dst, fmt.Errorf("record key for %s on %s: %w: no row image", r.Op, appendQualified(nil, r.DB, r.Table), ErrPartialImage)
	}
	dst = appendQualified(dst, r.DB, r.Table)
	dst = append(dst, '/')
	dst, err := img.appendKeyValues(dst)
	if err != nil {
		return dst, fmt.Errorf("record key for %s on %s: %w", r.Op, appendQualified(nil, r.DB, r.Table), err)
	}
	return dst, nil
}

func appendQualified(dst []byte, db, table string) []byte {
	dst = appendIdent(dst, db)
	dst = append(dst, '.')
	return appendIdent(dst, table)
}

func appendIdent(dst []byte, name string) []byte {
	plain := true
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '.' || c == '/' || c == '`' {
			plain = false
			break
		}
	}
	if plain {
		return append(dst, name...)
	}
	dst = append(dst, '`')
	for i := 0; i < len(name); i++ {
		if name[i] == '`' {
			dst = append(dst, '`')
		}
		dst = append(dst, name[i])
	}
	return append(dst, '`')
}
