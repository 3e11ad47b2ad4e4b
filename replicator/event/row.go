package event

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Row is one row image: a value per column of its Table, in column order.
//
// On the replicator side Table.EncodeRow fills it; on the consumer side
// Decode does. Values[i] holds the JSON encoding of column i as the type
// mapping in doc.go defines it, "null" for SQL NULL, or nil when the image
// does not contain the column (binlog_row_image other than FULL).
//
// A Row is reused across events to avoid allocation: Values point into
// storage the next EncodeRow overwrites.
type Row struct {
	Table  *Table
	Values []json.RawMessage

	// jsonNull lists the columns (indexes) of kind JSON whose value is the
	// JSON null literal rather than SQL NULL. JSON text cannot tell the two
	// apart inside an image, so they travel beside it, in the record's
	// "before_json_null"/"after_json_null" fields. Only MySQL has a JSON
	// type, and a JSON null document is rare.
	jsonNull []int
	// enumZero lists the ENUM columns holding index 0, the error value a
	// server in non-strict mode stores for an invalid value. It reads as ''
	// in the image, like a member '' would, so these travel beside it in
	// "before_enum_zero"/"after_enum_zero".
	enumZero []int
	// setBits holds the SET columns whose bitmap has bits that name no
	// member, with the whole bitmap. The image holds the names of the
	// members it has, as the server reads the value; the bitmap travels
	// beside it in "before_set_bits"/"after_set_bits".
	setBits []setBits

	buf     []byte // backing store of Values (encoder)
	ends    []int  // end offset in buf of each value, -1 when absent
	scratch []byte
}

// IsJSONNull reports whether column i holds the JSON null literal (not SQL
// NULL) in a MySQL JSON column.
func (r *Row) IsJSONNull(i int) bool { return slices.Contains(r.jsonNull, i) }

// IsEnumZero reports whether ENUM column i holds index 0, the error value,
// rather than a member.
func (r *Row) IsEnumZero(i int) bool { return slices.Contains(r.enumZero, i) }

// HasEnumZero reports whether any ENUM column holds index 0.
func (r *Row) HasEnumZero() bool { return len(r.enumZero) > 0 }

// setBits is one SET column's bitmap, for a bitmap with bits beyond the
// column's members.
type setBits struct {
	col  int
	bits uint64
}

// SetBits returns the stored bitmap of SET column i, the value of s+0,
// when it has bits that name no member; ok is false for every other value,
// whose bitmap the member names in the image give. See Row.Arg for what a
// target can store.
func (r *Row) SetBits(i int) (bits uint64, ok bool) {
	for _, s := range r.setBits {
		if s.col == i {
			return s.bits, true
		}
	}
	return 0, false
}

// HasSetBits reports whether any SET column has bits that name no member.
func (r *Row) HasSetBits() bool { return len(r.setBits) > 0 }

// Value returns the encoded value of the named column, and whether the image
// has it.
func (r *Row) Value(name string) (json.RawMessage, bool) {
	i := r.Table.ColumnIndex(name)
	if i < 0 || r.Values[i] == nil {
		return nil, false
	}
	return r.Values[i], true
}

// appendJSON appends the image as a JSON object, in column order.
func (r *Row) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	first := true
	for i, v := range r.Values {
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, r.Table.Columns[i].quotedName()...)
		dst = append(dst, v...)
	}
	return append(dst, '}')
}

// appendNames appends the names of columns idx as a JSON array.
func (r *Row) appendNames(dst []byte, idx []int) []byte {
	dst = append(dst, '[')
	for k, i := range idx {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, r.Table.Columns[i].Name)
	}
	return append(dst, ']')
}

// appendSetBits appends the setBits as a JSON object of column names and
// bitmaps, each a string of decimal digits (a bitmap has up to 64 bits).
func (r *Row) appendSetBits(dst []byte) []byte {
	dst = append(dst, '{')
	for k, s := range r.setBits {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, r.Table.Columns[s.col].quotedName()...)
		dst = appendQuotedUint(dst, s.bits)
	}
	return append(dst, '}')
}

// quotedName returns `"name":`. Tables built by this package precompute it;
// the fallback serves a Column a caller assembled by hand.
func (c *Column) quotedName() []byte {
	if c.quoted != nil {
		return c.quoted
	}
	return append(appendString(nil, c.Name), ':')
}

// appendKeyValues appends the primary-key values of the image as a JSON
// array, the variable part of a record key.
func (r *Row) appendKeyValues(dst []byte) ([]byte, error) {
	dst = append(dst, '[')
	for k, i := range r.Table.PKIndex {
		if i >= len(r.Values) || r.Values[i] == nil {
			return dst, fmt.Errorf("%w: primary-key column %q is not in the image", ErrPartialImage, r.Table.Columns[i].Name)
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, r.Values[i]...)
	}
	return append(dst, ']'), nil
}
