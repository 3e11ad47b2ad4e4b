package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// colClass is how a column's values are encoded, compared, bound and
// rendered. It is derived from information_schema's DATA_TYPE.
type colClass int

const (
	classString    colClass = iota // CHAR, VARCHAR, TEXT, ENUM, SET, MariaDB JSON: length-framed bytes
	classBinary                    // BINARY, VARBINARY, BLOB, GEOMETRY: length-framed bytes
	classInt                       // signed integers
	classUint                      // unsigned integers
	classDecimal                   // DECIMAL: exact text, scale included
	classFloat                     // FLOAT, DOUBLE: compared by value, as the exact double
	classTemporal                  // DATE, DATETIME, TIME, YEAR: exact text, fraction included
	classTimestamp                 // TIMESTAMP: as UNIX_TIMESTAMP, independent of time_zone
	classBit                       // BIT: as an unsigned number
	classJSON                      // MySQL JSON: normalised text
	classVector                    // MySQL VECTOR: its bytes (CONCAT_WS and <=> refuse the type itself)
)

// tableColumn is one column as reconcile compares it.
type tableColumn struct {
	Name       string
	DataType   string // information_schema DATA_TYPE, lower case
	ColumnType string // full COLUMN_TYPE, e.g. "decimal(10,2) unsigned"
	Charset    string // CHARACTER_SET_NAME; "" for non-text types
	Collation  string
	Nullable   bool // nullable on either side
	Generated  bool
	Precision  int64 // DECIMAL precision and scale, for exact key binding
	Scale      int64

	class colClass
	// convert: the column's character set differs between the sides, so
	// both encode CONVERT(col USING utf8mb4) and compare text, not bytes.
	convert bool
	// asBinary: the table mixes character sets, so each text column is
	// cast to BINARY before concatenation (no conversion, no collation mix).
	asBinary bool
}

func classify(dataType, columnType string, flavor Flavor) colClass {
	unsigned := strings.Contains(columnType, "unsigned")
	switch dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if unsigned {
			return classUint
		}
		return classInt
	case "decimal", "numeric":
		return classDecimal
	case "float", "double", "real":
		return classFloat
	case "date", "datetime", "time", "year":
		return classTemporal
	case "timestamp":
		return classTimestamp
	case "bit":
		return classBit
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint",
		"multilinestring", "multipolygon", "geometrycollection":
		return classBinary
	case "json":
		if flavor == FlavorMySQL {
			return classJSON
		}
	case "vector":
		return classVector
	}
	return classString
}

// tablePlan is one table's comparison plan: the columns compared, the key that
// orders and identifies rows, and the index each side scans.
type tablePlan struct {
	Name TableName
	// Columns are compared and repaired, in the source's ordinal order.
	// Generated columns are left out: they follow from the others.
	Columns []tableColumn
	// Key indexes Columns: the primary key, or else a unique key whose
	// columns are all NOT NULL on both sides.
	Key []int
	// KeyIsPrimary: the key is the clustered primary key, so a range scan on
	// it returns rows in key order without sorting.
	KeyIsPrimary bool
	// SourceIndex and TargetIndex name the key's index on each side (the
	// names may differ; the columns may not).
	SourceIndex, TargetIndex string
	// EstimatedRows is the source's estimate, for progress only.
	EstimatedRows int64
}

// KeyColumns returns the key's columns in key order.
func (t *tablePlan) KeyColumns() []tableColumn {
	cols := make([]tableColumn, len(t.Key))
	for i, k := range t.Key {
		cols[i] = t.Columns[k]
	}
	return cols
}

// KeyNames returns the key's column names in key order.
func (t *tablePlan) KeyNames() []string {
	names := make([]string, len(t.Key))
	for i, k := range t.Key {
		names[i] = t.Columns[k].Name
	}
	return names
}

// isKey reports whether Columns[i] is a key column.
func (t *tablePlan) isKey(i int) bool { return slices.Contains(t.Key, i) }

// rawColumn is one column as information_schema describes it on one side.
type rawColumn struct {
	name, dataType, columnType, charset, collation string
	nullable, generated                            bool
	precision, scale                               int64
}

// rawIndex is one unique index on one side.
type rawIndex struct {
	name    string
	cols    []string
	partial bool // some column is a prefix (SUB_PART): not unique on the full value
}

// rawTable is what one side says about a table.
type rawTable struct {
	exists  bool
	rows    int64
	columns []rawColumn
	unique  []rawIndex // PRIMARY first when present
}

// loadRawTable reads a table's columns and unique indexes from
// information_schema.
func loadRawTable(ctx context.Context, q infoschema.Querier, t TableName) (rawTable, error) {
	var rt rawTable
	it, ok, err := infoschema.BaseTable(ctx, q, t.DB, t.Name)
	if err != nil || !ok {
		return rt, err
	}
	rt.exists, rt.rows = true, it.Rows
	cols, err := infoschema.Columns(ctx, q, t.DB, t.Name)
	if err != nil {
		return rt, err
	}
	for _, c := range cols {
		rt.columns = append(rt.columns, rawColumn{name: c.Name, dataType: c.DataType, columnType: c.ColumnType,
			charset: c.Charset, collation: c.Collation, nullable: c.Nullable, generated: c.Generated,
			precision: c.Precision, scale: c.Scale})
	}
	keys, err := infoschema.UniqueKeys(ctx, q, t.DB, t.Name)
	if err != nil {
		return rt, err
	}
	for _, k := range keys {
		rt.unique = append(rt.unique, rawIndex{name: k.Name, cols: k.Columns, partial: k.Partial})
	}
	return rt, nil
}

// planTable decides how a table is compared, or why it cannot be. The
// returned reason is empty when the table is comparable. Only the source's
// and target's descriptions are inputs, so the decision is unit-tested
// without a database.
func planTable(name TableName, src, tgt rawTable, flavor Flavor) (*tablePlan, string) {
	switch {
	case !src.exists && !tgt.exists:
		return nil, "table exists on neither side"
	case !src.exists:
		return nil, "table missing on source"
	case !tgt.exists:
		return nil, "table missing on target"
	}
	tgtCols := map[string]rawColumn{}
	for _, c := range tgt.columns {
		tgtCols[c.name] = c
	}
	srcNames := map[string]bool{}
	t := &tablePlan{Name: name, EstimatedRows: src.rows}
	charsets := map[string]bool{}
	for _, sc := range src.columns {
		srcNames[sc.name] = true
		tc, ok := tgtCols[sc.name]
		if !ok {
			return nil, fmt.Sprintf("schema differs: column %s missing on target", mysqlconn.QuoteIdent(sc.name))
		}
		if sc.generated || tc.generated {
			continue
		}
		sClass := classify(sc.dataType, sc.columnType, flavor)
		if tClass := classify(tc.dataType, tc.columnType, flavor); sClass != tClass {
			return nil, fmt.Sprintf("schema differs: column %s is %s on source, %s on target", mysqlconn.QuoteIdent(sc.name), sc.columnType, tc.columnType)
		}
		col := tableColumn{
			Name: sc.name, DataType: sc.dataType, ColumnType: sc.columnType,
			Charset: sc.charset, Collation: sc.collation,
			Nullable:  sc.nullable || tc.nullable,
			Precision: sc.precision, Scale: sc.scale,
			class: sClass,
		}
		if sClass == classString && sc.charset != tc.charset {
			col.convert = true
		}
		if sClass == classString && sc.charset != "" {
			charsets[sc.charset] = true
		}
		t.Columns = append(t.Columns, col)
	}
	for _, tc := range tgt.columns {
		if !srcNames[tc.name] {
			return nil, fmt.Sprintf("schema differs: column %s missing on source", mysqlconn.QuoteIdent(tc.name))
		}
	}
	if len(charsets) > 1 {
		for i := range t.Columns {
			if t.Columns[i].class == classString && !t.Columns[i].convert {
				t.Columns[i].asBinary = true
			}
		}
	}

	colIndex := map[string]int{}
	for i, c := range t.Columns {
		colIndex[c.Name] = i
	}
	srcCol := map[string]rawColumn{}
	for _, c := range src.columns {
		srcCol[c.name] = c
	}
	var why []string
	for _, ix := range src.unique {
		reason := keyUnusable(ix, srcCol, tgtCols, colIndex, t.Columns)
		if reason != "" {
			why = append(why, fmt.Sprintf("%s: %s", indexLabel(ix.name), reason))
			continue
		}
		tgtIx, ok := findIndex(tgt.unique, ix.cols)
		if !ok {
			why = append(why, fmt.Sprintf("%s: no unique index on the same columns on target", indexLabel(ix.name)))
			continue
		}
		for _, c := range ix.cols {
			t.Key = append(t.Key, colIndex[c])
		}
		t.KeyIsPrimary = ix.name == "PRIMARY" && tgtIx.name == "PRIMARY"
		t.SourceIndex, t.TargetIndex = ix.name, tgtIx.name
		return t, ""
	}
	if len(src.unique) == 0 {
		return nil, "no primary key and no unique key"
	}
	return nil, "no usable primary key or NOT NULL unique key (" + strings.Join(why, "; ") + ")"
}

func indexLabel(name string) string {
	if name == "PRIMARY" {
		return "primary key"
	}
	return "unique key " + mysqlconn.QuoteIdent(name)
}

// keyUnusable says why a unique index cannot order and identify rows, or "".
func keyUnusable(ix rawIndex, src, tgt map[string]rawColumn, colIndex map[string]int, cols []tableColumn) string {
	if ix.partial {
		return "indexes a column prefix"
	}
	for _, name := range ix.cols {
		s, t := src[name], tgt[name]
		if s.nullable || t.nullable {
			return fmt.Sprintf("column %s is nullable", mysqlconn.QuoteIdent(name))
		}
		i, ok := colIndex[name]
		if !ok {
			return fmt.Sprintf("column %s is generated", mysqlconn.QuoteIdent(name))
		}
		// Both sides must order keys identically, or the same range would
		// select different rows on each side.
		if s.collation != t.collation {
			return fmt.Sprintf("column %s has collation %s on source, %s on target", mysqlconn.QuoteIdent(name), s.collation, t.collation)
		}
		switch cols[i].class {
		case classFloat:
			return fmt.Sprintf("column %s is %s: approximate values cannot bound ranges exactly", mysqlconn.QuoteIdent(name), s.dataType)
		case classBit, classJSON:
			return fmt.Sprintf("column %s is %s, which reconcile cannot use as a key", mysqlconn.QuoteIdent(name), s.dataType)
		case classString:
			if s.dataType == "enum" || s.dataType == "set" {
				// ENUM sorts by index but compares to strings by text: ranges
				// bounded by text would not follow the index order.
				return fmt.Sprintf("column %s is %s, which sorts by index, not by value", mysqlconn.QuoteIdent(name), s.dataType)
			}
		}
	}
	return ""
}

func findIndex(ixs []rawIndex, cols []string) (rawIndex, bool) {
	for _, ix := range ixs {
		if !ix.partial && slices.Equal(ix.cols, cols) {
			return ix, true
		}
	}
	return rawIndex{}, false
}
