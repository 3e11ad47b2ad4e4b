package event

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Kind is a column's type as far as the wire format cares: it decides the
// JSON form of a value and the Go form of the SQL argument (see doc.go).
type Kind uint8

// The kinds. Their names (Kind.String) are the base words of the type
// strings in a record's "types" field, except that BLOB and TEXT name their
// size (tinyblob .. longtext) and GEOMETRY its subtype (point ..
// geometrycollection): see Column.TypeString.
const (
	KindUnknown Kind = iota
	KindTinyInt
	KindSmallInt
	KindMediumInt
	KindInt
	KindBigInt
	KindDecimal
	KindFloat
	KindDouble
	KindBit
	KindYear
	KindDate
	KindTime
	KindDateTime
	KindTimestamp
	KindChar    // CHAR in a character set
	KindVarChar // VARCHAR in a character set
	KindText    // TINYTEXT..LONGTEXT, and MariaDB's JSON (an alias of LONGTEXT)
	KindBinary  // BINARY(n)
	KindVarBinary
	KindBlob // TINYBLOB..LONGBLOB
	KindEnum
	KindSet
	KindJSON // MySQL's binary JSON type
	KindGeometry
	KindVector // MySQL 9 VECTOR
	kindCount
)

var kindNames = [kindCount]string{
	KindUnknown:   "unknown",
	KindTinyInt:   "tinyint",
	KindSmallInt:  "smallint",
	KindMediumInt: "mediumint",
	KindInt:       "int",
	KindBigInt:    "bigint",
	KindDecimal:   "decimal",
	KindFloat:     "float",
	KindDouble:    "double",
	KindBit:       "bit",
	KindYear:      "year",
	KindDate:      "date",
	KindTime:      "time",
	KindDateTime:  "datetime",
	KindTimestamp: "timestamp",
	KindChar:      "char",
	KindVarChar:   "varchar",
	KindText:      "text",
	KindBinary:    "binary",
	KindVarBinary: "varbinary",
	KindBlob:      "blob",
	KindEnum:      "enum",
	KindSet:       "set",
	KindJSON:      "json",
	KindGeometry:  "geometry",
	KindVector:    "vector",
}

func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsInteger reports whether k is one of the integer kinds TINYINT..BIGINT.
func (k Kind) IsInteger() bool { return k >= KindTinyInt && k <= KindBigInt }

// canBeUnsigned reports whether k has an UNSIGNED form: the integers,
// DECIMAL, FLOAT and DOUBLE.
func (k Kind) canBeUnsigned() bool {
	return k.IsInteger() || k == KindDecimal || k == KindFloat || k == KindDouble
}

// IsTextual reports whether values of k are characters in Column.Charset
// (CHAR, VARCHAR, TEXT, ENUM, SET).
func (k Kind) IsTextual() bool {
	return k == KindChar || k == KindVarChar || k == KindText || k == KindEnum || k == KindSet
}

// Column is one column of a table as the table-map event describes it.
//
// The fields a consumer needs to turn a value back into SQL (Name, Kind,
// Unsigned, Precision, Scale, FSP, Bits, Length, Charset) travel in every
// row record's "types" field, and so do LengthBytes and Geometry, which say
// which of a kind's SQL types the column has without changing its values'
// form. Nullable and the ENUM/SET members exist only on the replicator
// side: NULL needs no type to be written, and ENUM/SET values already
// travel as their member names.
type Column struct {
	Name      string
	Kind      Kind
	Unsigned  bool   // integer kinds, decimal, float, double
	Precision int    // decimal: total digits
	Scale     int    // decimal: digits after the point
	FSP       int    // time, datetime, timestamp: fractional-second digits, 0..6
	Bits      int    // bit: width, 1..64
	Length    int    // binary: fixed width in bytes, BINARY(Length)
	Charset   string // textual kinds: character set name, e.g. "utf8mb4"
	// LengthBytes is, for blob and text, the size of the value's length
	// prefix, which is what tells the four sizes apart: 1 for TINYBLOB and
	// TINYTEXT, 2 for BLOB and TEXT, 3 for MEDIUM..., 4 for LONGBLOB and
	// LONGTEXT; 0 when not known (a Column built by hand).
	LengthBytes int
	// Geometry is, for geometry, the declared subtype: "point",
	// "linestring", "polygon", "multipoint", "multilinestring",
	// "multipolygon" or "geometrycollection"; "" for GEOMETRY itself.
	Geometry string
	Nullable bool // replicator side only

	mysqlType byte     // binlog type code, after resolving ENUM/SET inside STRING
	members   [][]byte // enum/set member names in the column's charset
	class     charsetClass
	quoted    []byte // `"name":`, precomputed for the encoder
	typeText  string // the type string; kept verbatim for unknown kinds
	// targetJSON: the column is bound to a target column whose type is
	// (targetIsJSON) or is not (targetNotJSON) MySQL's JSON; zero follows
	// Kind. See BoundTo.
	targetJSON int8
}

const (
	targetIsJSON  int8 = 1
	targetNotJSON int8 = -1
)

// BoundTo returns a copy of c whose Placeholder fits a target column that
// is (json) or is not MySQL's JSON type. Across flavors the two differ:
// MySQL's binary JSON arrives at MariaDB's JSON, which is LONGTEXT, and
// MariaDB's JSON (text in the binlog) arrives at MySQL's JSON.
func (c Column) BoundTo(json bool) Column {
	c.targetJSON = targetNotJSON
	if json {
		c.targetJSON = targetIsJSON
	}
	return c
}

// Table is the schema of one table as one table-map event carries it. Every
// row event is encoded with the Table of the table-map event that precedes
// it, never with a live schema, so events before and after a DDL each
// decode with their own columns.
//
// A Table is immutable once built and safe for concurrent use.
type Table struct {
	DB      string
	Name    string
	Columns []Column
	// PK holds the primary-key column names in key order; empty when the
	// table has none. PKIndex holds their positions in Columns.
	PK      []string
	PKIndex []int

	types []byte // the "types" object, precomputed for the encoder
}

// ColumnIndex returns the position of the named column, or -1.
func (t *Table) ColumnIndex(name string) int {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return i
		}
	}
	return -1
}

// NewTable builds a Table from a table-map event. The source must run with
// binlog_row_metadata=FULL: without the column names, signedness and
// charsets in the event a value's meaning is ambiguous, and NewTable
// returns ErrNoRowMetadata rather than guess.
func NewTable(ev *replication.TableMapEvent) (*Table, error) {
	t := &Table{DB: string(ev.Schema), Name: string(ev.Table)}
	n := int(ev.ColumnCount)
	if len(ev.ColumnType) != n || len(ev.ColumnMeta) != n {
		return nil, fmt.Errorf("table %s: table map has %d columns but %d types and %d metadata entries",
			t.qualified(), n, len(ev.ColumnType), len(ev.ColumnMeta))
	}
	names := ev.ColumnNameString()
	if len(names) != n {
		return nil, fmt.Errorf("table %s: %w (the table map has no column names)", t.qualified(), ErrNoRowMetadata)
	}
	unsigned := ev.UnsignedMap()
	collations := ev.CollationMap()
	enumSetCollations := ev.EnumSetCollationMap()
	var enumIdx, setIdx, geomIdx int

	t.Columns = make([]Column, n)
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Name = names[i]
		_, c.Nullable = ev.Nullable(i)
		if err := c.fromTableMap(ev.ColumnType[i], ev.ColumnMeta[i]); err != nil {
			return nil, fmt.Errorf("table %s column %q: %w", t.qualified(), c.Name, err)
		}
		if c.Kind == KindGeometry {
			// GEOMETRY_TYPE lists one code per geometry column. A source
			// that omits it (not FULL metadata) leaves "geometry", which is
			// true of every subtype; the values' form is the same.
			if geomIdx < len(ev.GeometryType) {
				c.Geometry = geometryName(ev.GeometryType[geomIdx])
			}
			geomIdx++
		}
		switch {
		case ev.IsNumericColumn(i):
			if unsigned == nil {
				return nil, fmt.Errorf("table %s column %q: %w (no signedness)", t.qualified(), c.Name, ErrNoRowMetadata)
			}
			// YEAR has a signedness bit too (MariaDB sets it), but no
			// signed form; ZEROFILL columns are unsigned, and the table
			// map does not carry ZEROFILL itself.
			c.Unsigned = unsigned[i] && c.Kind.canBeUnsigned()
		case c.Kind == KindEnum || c.Kind == KindSet:
			id, ok := enumSetCollations[i]
			if !ok {
				return nil, fmt.Errorf("table %s column %q: %w (no enum/set charset)", t.qualified(), c.Name, ErrNoRowMetadata)
			}
			if err := c.setCharset(id); err != nil {
				return nil, fmt.Errorf("table %s column %q: %w", t.qualified(), c.Name, err)
			}
			var vals [][][]byte
			var k *int
			if c.Kind == KindEnum {
				vals, k = ev.EnumStrValue, &enumIdx
			} else {
				vals, k = ev.SetStrValue, &setIdx
			}
			if *k >= len(vals) {
				return nil, fmt.Errorf("table %s column %q: %w (no %s values)", t.qualified(), c.Name, ErrNoRowMetadata, c.Kind)
			}
			c.members = make([][]byte, len(vals[*k]))
			for j, m := range vals[*k] {
				c.members[j] = bytes.Clone(m)
			}
			*k++
			if c.Kind == KindSet && len(c.members) > 64 {
				return nil, fmt.Errorf("table %s column %q: set has %d members, at most 64 are possible", t.qualified(), c.Name, len(c.members))
			}
		case ev.IsCharacterColumn(i) && c.mysqlType != mysql.MYSQL_TYPE_GEOMETRY:
			// MariaDB lists GEOMETRY among the character columns (with the
			// binary collation); its value is WKB whatever the collation.
			id, ok := collations[i]
			if !ok {
				return nil, fmt.Errorf("table %s column %q: %w (no charset)", t.qualified(), c.Name, ErrNoRowMetadata)
			}
			if err := c.setCharset(id); err != nil {
				return nil, fmt.Errorf("table %s column %q: %w", t.qualified(), c.Name, err)
			}
		}
	}
	for _, p := range ev.PrimaryKey {
		if p >= uint64(n) {
			return nil, fmt.Errorf("table %s: primary key names column %d of %d", t.qualified(), p, n)
		}
		t.PKIndex = append(t.PKIndex, int(p))
		t.PK = append(t.PK, t.Columns[p].Name)
	}
	if t.PK == nil {
		// An empty, non-nil slice: records carry "pk":[] for such tables.
		t.PK = []string{}
	}
	t.finish()
	return t, nil
}

// fromTableMap sets the kind and the type parameters from the binlog type
// code and its table-map metadata.
func (c *Column) fromTableMap(typ byte, meta uint16) error {
	c.mysqlType = typ
	switch typ {
	case mysql.MYSQL_TYPE_TINY:
		c.Kind = KindTinyInt
	case mysql.MYSQL_TYPE_SHORT:
		c.Kind = KindSmallInt
	case mysql.MYSQL_TYPE_INT24:
		c.Kind = KindMediumInt
	case mysql.MYSQL_TYPE_LONG:
		c.Kind = KindInt
	case mysql.MYSQL_TYPE_LONGLONG:
		c.Kind = KindBigInt
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		c.Kind, c.Precision, c.Scale = KindDecimal, int(meta>>8), int(meta&0xFF)
	case mysql.MYSQL_TYPE_FLOAT:
		c.Kind = KindFloat
	case mysql.MYSQL_TYPE_DOUBLE:
		c.Kind = KindDouble
	case mysql.MYSQL_TYPE_BIT:
		// Metadata: low byte = bits in the partial byte, high byte = whole bytes.
		c.Kind, c.Bits = KindBit, int(meta>>8)*8+int(meta&0xFF)
		if c.Bits < 1 || c.Bits > 64 {
			return fmt.Errorf("bit width %d out of range", c.Bits)
		}
	case mysql.MYSQL_TYPE_YEAR:
		c.Kind = KindYear
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		c.Kind = KindDate
	case mysql.MYSQL_TYPE_TIME:
		c.Kind = KindTime
	case mysql.MYSQL_TYPE_TIME2:
		c.Kind, c.FSP = KindTime, int(meta)
	case mysql.MYSQL_TYPE_DATETIME:
		c.Kind = KindDateTime
	case mysql.MYSQL_TYPE_DATETIME2:
		c.Kind, c.FSP = KindDateTime, int(meta)
	case mysql.MYSQL_TYPE_TIMESTAMP:
		c.Kind = KindTimestamp
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		c.Kind, c.FSP = KindTimestamp, int(meta)
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		c.Kind = KindVarChar // KindVarBinary once the charset is known
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		realType := typ
		if typ == mysql.MYSQL_TYPE_STRING && meta >= 256 {
			// As in go-mysql's decodeValue: the high byte is the real type,
			// with two bits of the length folded into it for long CHARs.
			b0, b1 := byte(meta>>8), byte(meta)
			if b0&0x30 != 0x30 {
				c.Length = int(b1) | int((b0&0x30)^0x30)<<4
				realType = b0 | 0x30
			} else {
				c.Length = int(b1)
				realType = b0
			}
		} else if typ == mysql.MYSQL_TYPE_STRING {
			c.Length = int(meta)
		}
		switch realType {
		case mysql.MYSQL_TYPE_ENUM:
			c.Kind, c.Length, c.mysqlType = KindEnum, 0, mysql.MYSQL_TYPE_ENUM
		case mysql.MYSQL_TYPE_SET:
			c.Kind, c.Length, c.mysqlType = KindSet, 0, mysql.MYSQL_TYPE_SET
		case mysql.MYSQL_TYPE_STRING:
			c.Kind = KindChar // KindBinary once the charset is known
		default:
			return fmt.Errorf("%w: string column with real type %d", ErrUnsupportedType, realType)
		}
	case mysql.MYSQL_TYPE_BLOB:
		// Metadata: the bytes of the length prefix, 1..4 for TINY..LONG.
		c.Kind, c.LengthBytes = KindText, int(meta) // KindBlob once the charset is known
		if c.LengthBytes < 1 || c.LengthBytes > 4 {
			return fmt.Errorf("blob length prefix of %d bytes out of range", c.LengthBytes)
		}
	case mysql.MYSQL_TYPE_JSON:
		c.Kind = KindJSON
	case mysql.MYSQL_TYPE_GEOMETRY:
		c.Kind = KindGeometry
	case mysql.MYSQL_TYPE_VECTOR:
		c.Kind = KindVector
	default:
		// MYSQL_TYPE_DECIMAL (pre-5.0) and MYSQL_TYPE_NULL never occur in
		// row events of supported servers; go-mysql cannot decode them either.
		return fmt.Errorf("%w: binlog type %d", ErrUnsupportedType, typ)
	}
	if c.FSP < 0 || c.FSP > 6 {
		return fmt.Errorf("fractional-second precision %d out of range", c.FSP)
	}
	return nil
}

// setCharset records the column's character set and, for the binary
// charset, turns the textual kinds into their binary twins.
func (c *Column) setCharset(collation uint64) error {
	cs, err := charsetOfCollation(collation)
	if err != nil {
		return err
	}
	c.Charset = cs
	c.class = classOf(cs)
	if c.class == classBinary {
		switch c.Kind {
		case KindChar:
			c.Kind = KindBinary
		case KindVarChar:
			c.Kind = KindVarBinary
		case KindText:
			c.Kind = KindBlob
		}
	}
	if c.Kind != KindBinary {
		c.Length = 0 // only BINARY is padded; the others' length is irrelevant
	}
	if !c.Kind.IsTextual() {
		c.Charset = ""
	}
	return nil
}

// finish precomputes what the encoder appends for every row: each column's
// quoted name and the "types" object.
func (t *Table) finish() {
	t.types = append(t.types, '{')
	for i := range t.Columns {
		c := &t.Columns[i]
		c.quoted = append(appendString(nil, c.Name), ':')
		if c.typeText == "" {
			c.typeText = c.TypeString()
		}
		if i > 0 {
			t.types = append(t.types, ',')
		}
		t.types = append(t.types, c.quoted...)
		t.types = appendString(t.types, c.typeText)
	}
	t.types = append(t.types, '}')
}

func (t *Table) qualified() string { return string(appendQualified(nil, t.DB, t.Name)) }

// TableCache turns table-map events into Tables, building each distinct
// schema once. MariaDB and MySQL send a table map before every rows event,
// so building a Table per event would dominate the encoder's cost.
//
// Entries are keyed by table id and checked against the event's full
// metadata, so an id reused for a different schema (after a DDL, a FLUSH
// TABLES or a server restart) is never served a stale Table. A TableCache is
// not safe for concurrent use.
type TableCache struct {
	entries map[uint64]*cacheEntry
	scratch []byte
	// MaxEntries bounds the cache; it is emptied when full. Zero means 4096.
	MaxEntries int
}

type cacheEntry struct {
	fingerprint []byte
	table       *Table
}

// Table returns the Table for ev, building it on first sight.
func (c *TableCache) Table(ev *replication.TableMapEvent) (*Table, error) {
	c.scratch = fingerprint(c.scratch[:0], ev)
	if e, ok := c.entries[ev.TableID]; ok && bytes.Equal(e.fingerprint, c.scratch) {
		return e.table, nil
	}
	t, err := NewTable(ev)
	if err != nil {
		return nil, err
	}
	limit := c.MaxEntries
	if limit <= 0 {
		limit = 4096
	}
	if c.entries == nil || len(c.entries) >= limit {
		c.entries = make(map[uint64]*cacheEntry)
	}
	c.entries[ev.TableID] = &cacheEntry{fingerprint: bytes.Clone(c.scratch), table: t}
	return t, nil
}

// fingerprint serialises every field of ev that NewTable reads.
func fingerprint(dst []byte, ev *replication.TableMapEvent) []byte {
	bs := func(b []byte) {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	ints := func(v []uint64) {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		for _, x := range v {
			dst = binary.AppendUvarint(dst, x)
		}
	}
	strs := func(v [][]byte) {
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		for _, b := range v {
			bs(b)
		}
	}
	bs(ev.Schema)
	bs(ev.Table)
	dst = binary.AppendUvarint(dst, ev.ColumnCount)
	bs(ev.ColumnType)
	dst = binary.AppendUvarint(dst, uint64(len(ev.ColumnMeta)))
	for _, m := range ev.ColumnMeta {
		dst = binary.LittleEndian.AppendUint16(dst, m)
	}
	bs(ev.NullBitmap)
	bs(ev.SignednessBitmap)
	ints(ev.DefaultCharset)
	ints(ev.ColumnCharset)
	strs(ev.ColumnName)
	dst = binary.AppendUvarint(dst, uint64(len(ev.EnumStrValue)))
	for _, v := range ev.EnumStrValue {
		strs(v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ev.SetStrValue)))
	for _, v := range ev.SetStrValue {
		strs(v)
	}
	ints(ev.PrimaryKey)
	ints(ev.PrimaryKeyPrefix)
	ints(ev.EnumSetDefaultCharset)
	ints(ev.EnumSetColumnCharset)
	ints(ev.GeometryType)
	return dst
}
