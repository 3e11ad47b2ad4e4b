package event

import (
	"encoding/json"

	"github.com/go-mysql-org/go-mysql/replication"
)

// colSpec describes one column of a synthetic table-map event.
type colSpec struct {
	name      string
	typ       byte   // binlog type code
	meta      uint16 // table-map metadata, as go-mysql stores it in ColumnMeta
	unsigned  bool
	collation uint64   // character, enum and set columns
	members   []string // enum and set columns
	geometry  uint64   // geometry columns: the GEOMETRY_TYPE code, 0 for GEOMETRY
	notNull   bool
}

const (
	collUTF8MB4 = 45  // utf8mb4_general_ci
	collUTF8MB3 = 33  // utf8mb3_general_ci
	collLatin1  = 8   // latin1_swedish_ci
	collBinary  = 63  // binary
	collGBK     = 28  // gbk_chinese_ci
	collUCA0900 = 255 // MySQL 8 utf8mb4_0900_ai_ci
)

// tableMap builds a TableMapEvent the way go-mysql's decoder leaves one
// for a source with binlog_row_metadata=FULL, in the MySQL layout:
// per-column charsets in COLUMN_CHARSET and a signedness bit for each
// numeric column (YEAR included). go-mysql's flavor field is unexported
// and stays "mysql", which only matters for GEOMETRY collations.
func tableMap(db, table string, pk []int, cols ...colSpec) *replication.TableMapEvent {
	ev := &replication.TableMapEvent{
		TableID:     1,
		Schema:      []byte(db),
		Table:       []byte(table),
		ColumnCount: uint64(len(cols)),
		NullBitmap:  make([]byte, (len(cols)+7)/8),
	}
	for i, c := range cols {
		name := c.name
		if name == "" {
			name = "c" + string(rune('0'+i%10))
		}
		ev.ColumnType = append(ev.ColumnType, c.typ)
		ev.ColumnMeta = append(ev.ColumnMeta, c.meta)
		ev.ColumnName = append(ev.ColumnName, []byte(name))
		if !c.notNull {
			ev.NullBitmap[i/8] |= 1 << (i % 8)
		}
	}
	// Signedness: one bit per numeric column, most significant bit first.
	var bits []bool
	for i, c := range cols {
		if ev.IsNumericColumn(i) {
			bits = append(bits, c.unsigned)
		}
	}
	if len(bits) > 0 {
		ev.SignednessBitmap = make([]byte, (len(bits)+7)/8)
		for k, b := range bits {
			if b {
				ev.SignednessBitmap[k/8] |= 0x80 >> (k % 8)
			}
		}
	}
	for i, c := range cols {
		switch {
		case ev.IsEnumColumn(i):
			ev.EnumSetColumnCharset = append(ev.EnumSetColumnCharset, c.collation)
			ev.EnumStrValue = append(ev.EnumStrValue, byteSlices(c.members))
		case ev.IsSetColumn(i):
			ev.EnumSetColumnCharset = append(ev.EnumSetColumnCharset, c.collation)
			ev.SetStrValue = append(ev.SetStrValue, byteSlices(c.members))
		case ev.IsCharacterColumn(i):
			ev.ColumnCharset = append(ev.ColumnCharset, c.collation)
		}
		if ev.IsGeometryColumn(i) {
			ev.GeometryType = append(ev.GeometryType, c.geometry)
		}
	}
	for _, p := range pk {
		ev.PrimaryKey = append(ev.PrimaryKey, uint64(p))
		ev.PrimaryKeyPrefix = append(ev.PrimaryKeyPrefix, 0)
	}
	return ev
}

func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// stringMeta is the table-map metadata of a CHAR/BINARY/ENUM/SET column
// (MYSQL_TYPE_STRING): the real type in the high byte, the byte length (or
// the ENUM/SET pack length) in the low byte.
func stringMeta(real byte, length int) uint16 { return uint16(real)<<8 | uint16(length) }

// bitMeta is the table-map metadata of BIT(n).
func bitMeta(n int) uint16 { return uint16(n/8)<<8 | uint16(n%8) }

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
