package event

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// wireRecord holds a record's fields as Decode reads them; row images and
// types stay raw so that their column order survives and no map is built
// per row.
type wireRecord struct {
	v              int
	vSeen          bool
	pk             []string
	pkSeen         bool
	types          []byte
	before, after  []byte
	beforeJSONNull []string
	afterJSONNull  []string
	beforeEnumZero []string
	afterEnumZero  []string
	beforeSetBits  []byte // raw objects, read only when present
	afterSetBits   []byte
	// The images' members, split in the same pass that checks the record.
	beforeMembers, afterMembers []member
}

// member is one member of an image object: the column name (unquoted) and
// the raw value.
type member struct{ key, val []byte }

// Decode parses one record of format v1. It checks the record's shape (the
// version, the op, which images an op must and must not have, that every
// image column has a type) and returns errors wrapping ErrInvalidRecord that
// say what is wrong. Values are checked when converted, by Row.Arg. Unknown
// fields are ignored: v1 grows only by additive fields. Field names match
// exactly, as the contract spells them.
//
// The Record does not retain data. Use a Decoder to decode a stream: it
// parses each table's types once.
func Decode(data []byte) (*Record, error) {
	// A slab of exactly the record's size: a lone record keeps no more.
	d := Decoder{slab: make([]byte, 0, len(data))}
	return d.Decode(data)
}

// Decoder decodes records and caches the Tables it builds from their
// "types", keyed by table, primary key and types text. It is not safe for
// concurrent use; the Tables it returns are.
//
// A stream's records repeat most of their fields (cluster, region, origin,
// db, table, pk, types, and gtid within a transaction), so a Decoder
// remembers the previous record's and reuses their strings, and its Table,
// when the bytes are the same: a record then costs a few allocations, not
// one per field.
type Decoder struct {
	// MaxTables bounds the cache; it is emptied when full. Zero means 1024.
	MaxTables int

	tables map[string]*Table
	key    []byte

	last      lastFields
	lastTable *Table
	lastTypes []byte // the types text lastTable was built from

	// slab holds copies of small records (see own).
	slab []byte

	// members holds the images' members of the record being decoded,
	// from imageStart on for the image being walked. nested and collect
	// write them; they are made for the Decoder at self.
	members    []member
	imageStart int
	nested     func(key []byte) func(key, val []byte) error
	collect    func(key, val []byte) error
	self       *Decoder
}

// slabBytes is the size of the slabs small records are copied into.
const slabBytes = 64 << 10

// own returns a copy of data that a Record may keep. Small records are
// copied into a shared slab, one allocation per slab rather than per
// record; a slab stays alive while any record in it does, which for a
// stream's consecutive records costs at most about one slab beyond them.
func (d *Decoder) own(data []byte) []byte {
	if cap(d.slab)-len(d.slab) < len(data) {
		if len(data) > slabBytes/8 {
			return bytes.Clone(data)
		}
		d.slab = make([]byte, 0, slabBytes)
	}
	n := len(d.slab)
	d.slab = append(d.slab, data...)
	return d.slab[n:len(d.slab):len(d.slab)]
}

// imageHooks makes the functions that split a record's images into
// d.members while the record is checked.
func (d *Decoder) imageHooks() {
	d.collect = func(key, val []byte) error {
		k, err := unquoteKey(key)
		if err != nil {
			return err
		}
		d.members = append(d.members, member{k, val})
		return nil
	}
	d.nested = func(key []byte) func(key, val []byte) error {
		if string(key) != "before" && string(key) != "after" {
			return nil
		}
		d.imageStart = len(d.members)
		return d.collect
	}
}

// image returns the members walked for an image whose raw value is val:
// none unless it is an object.
func (d *Decoder) image(val []byte) []member {
	if len(val) == 0 || val[0] != '{' {
		return nil
	}
	return d.members[d.imageStart:len(d.members):len(d.members)]
}

// lastFields are the previous record's strings, for reuse.
type lastFields struct {
	cluster, region, origin, gtid, db, table string
	pk                                       []string
	pkRaw                                    []byte
}

// decoded is a record and its images, allocated together.
type decoded struct {
	rec           Record
	before, after Row
}

// Decode parses one record; see the package function Decode.
func (d *Decoder) Decode(data []byte) (*Record, error) {
	// Row values are slices of data; a private copy keeps the Record from
	// aliasing the caller's buffer, which a Kafka client or the fragment
	// assembler may reuse.
	data = d.own(data)
	all := &decoded{}
	r := &all.rec
	var w wireRecord
	if d.self != d { // first use, or a copied Decoder
		d.imageHooks()
		d.self = d
	}
	// The last record's members go, so that they keep no bytes alive.
	clear(d.members)
	d.members = d.members[:0]
	// scanMembersNested checks the whole of data as strict JSON while it
	// splits it, images included, so no separate json.Valid pass is
	// needed: nothing below runs unless all of data, nested values
	// included, is valid.
	if err := scanMembersNested(data, func(key, val []byte) error { return d.setField(r, &w, key, val) }, d.nested); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if !w.vSeen {
		return nil, fmt.Errorf("%w: missing field \"v\"", ErrInvalidRecord)
	}
	if w.v != Version {
		return nil, fmt.Errorf("%w: field \"v\": unsupported format version %d, want %d", ErrInvalidRecord, w.v, Version)
	}
	r.V = w.v
	if !r.Op.valid() {
		return nil, fmt.Errorf("%w: field \"op\": unknown op %q", ErrInvalidRecord, r.Op)
	}
	r.PK = w.pk
	if r.PK == nil {
		r.PK = []string{}
	}
	hasBefore, hasAfter := present(w.before), present(w.after)
	if !r.Op.hasImage() {
		if hasBefore || hasAfter {
			return nil, fmt.Errorf("%w: %s record has a row image", ErrInvalidRecord, r.Op)
		}
		if r.Op == OpDDL && r.SQL == "" {
			return nil, fmt.Errorf("%w: ddl record without \"sql\"", ErrInvalidRecord)
		}
		return r, nil
	}
	where := func() string { return string(appendQualified(nil, r.DB, r.Table)) }
	switch {
	case r.DB == "" || r.Table == "":
		return nil, fmt.Errorf("%w: %s record without \"db\" and \"table\"", ErrInvalidRecord, r.Op)
	case !w.pkSeen:
		return nil, fmt.Errorf("%w: %s record on %s without \"pk\"", ErrInvalidRecord, r.Op, where())
	case r.Op == OpInsert && (hasBefore || !hasAfter), r.Op == OpHeartbeat && hasBefore,
		r.Op == OpUpdate && (!hasBefore || !hasAfter),
		r.Op == OpDelete && (!hasBefore || hasAfter):
		return nil, fmt.Errorf("%w: %s record on %s must have %s", ErrInvalidRecord, r.Op, where(), wantImages(r.Op))
	}
	if !hasBefore && !hasAfter { // a heartbeat position marker
		return r, nil
	}
	for _, img := range [...]struct {
		side string
		raw  []byte
	}{{"before", w.before}, {"after", w.after}} {
		if present(img.raw) && img.raw[0] != '{' {
			return nil, fmt.Errorf("%w: %s %s image: want a JSON object", ErrInvalidRecord, where(), img.side)
		}
	}
	t, err := d.table(r, &w)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidRecord, where(), err)
	}
	// One backing array for the values of both images.
	n := len(t.Columns)
	if hasBefore && hasAfter {
		n *= 2
	}
	values := make([]json.RawMessage, n)
	if hasBefore {
		r.Before = &all.before
		if err = decodeImage(r.Before, t, values[:len(t.Columns):len(t.Columns)], w.beforeMembers, w.beforeJSONNull, w.beforeEnumZero, w.beforeSetBits); err != nil {
			return nil, fmt.Errorf("%w: %s before image: %w", ErrInvalidRecord, where(), err)
		}
		values = values[len(t.Columns):]
	} else if f := markField("before", w.beforeJSONNull, w.beforeEnumZero, w.beforeSetBits); f != "" {
		return nil, fmt.Errorf("%w: %s: %s without a before image", ErrInvalidRecord, where(), f)
	}
	if hasAfter {
		r.After = &all.after
		if err = decodeImage(r.After, t, values, w.afterMembers, w.afterJSONNull, w.afterEnumZero, w.afterSetBits); err != nil {
			return nil, fmt.Errorf("%w: %s after image: %w", ErrInvalidRecord, where(), err)
		}
	} else if f := markField("after", w.afterJSONNull, w.afterEnumZero, w.afterSetBits); f != "" {
		return nil, fmt.Errorf("%w: %s: %s without an after image", ErrInvalidRecord, where(), f)
	}
	return r, nil
}

// markField names the first marks field present for an image (side is
// before or after), or "".
func markField(side string, jsonNull, enumZero []string, setBits []byte) string {
	switch {
	case jsonNull != nil:
		return side + "_json_null"
	case enumZero != nil:
		return side + "_enum_zero"
	case present(setBits):
		return side + "_set_bits"
	}
	return ""
}

// setField stores one top-level member of a record, named key (unquoted).
// A JSON null leaves a field at its zero value, as encoding/json does.
func (d *Decoder) setField(r *Record, w *wireRecord, key, val []byte) error {
	isNull := bytes.Equal(val, []byte("null"))
	var err error
	switch string(key) {
	case "v":
		var n int64
		if n, err = intField(val); err == nil && !isNull {
			w.v, w.vSeen = int(n), true
		}
	case "cluster":
		r.Cluster, err = sameString(val, &d.last.cluster)
	case "region":
		r.Region, err = sameString(val, &d.last.region)
	case "origin":
		r.Origin, err = sameString(val, &d.last.origin)
	case "gtid":
		r.GTID, err = sameString(val, &d.last.gtid)
	case "ts":
		r.TS, err = intField(val)
	case "seq":
		var n int64
		n, err = intField(val)
		r.Seq = int(n)
	case "last":
		switch string(val) {
		case "true":
			r.Last = true
		case "false", "null":
			r.Last = false
		default:
			err = fmt.Errorf("want true or false")
		}
	case "op":
		r.Op, err = opField(val)
	case "db":
		r.DB, err = sameString(val, &d.last.db)
	case "table":
		r.Table, err = sameString(val, &d.last.table)
	case "pk":
		w.pk, err = d.pkField(val)
		w.pkSeen = !isNull
	case "types":
		w.types = val
	case "before":
		w.before, w.beforeMembers = val, d.image(val)
	case "after":
		w.after, w.afterMembers = val, d.image(val)
	case "before_json_null":
		w.beforeJSONNull, err = stringsField(val)
	case "after_json_null":
		w.afterJSONNull, err = stringsField(val)
	case "before_enum_zero":
		w.beforeEnumZero, err = stringsField(val)
	case "after_enum_zero":
		w.afterEnumZero, err = stringsField(val)
	case "before_set_bits":
		w.beforeSetBits = val
	case "after_set_bits":
		w.afterSetBits = val
	case "sql":
		r.SQL, err = stringField(val)
	case "gtid_set":
		r.GTIDSet, err = stringField(val)
	}
	if err != nil {
		return fmt.Errorf("field %q: %w", key, err)
	}
	return nil
}

// sameString is stringField reusing *last when the JSON string is the same
// text, and remembering the result in *last otherwise. A string without
// escapes whose bytes equal *last unquotes to *last: *last came from
// stringField, so it is valid UTF-8 (unquote replaces invalid bytes), and
// the scanner has already refused raw control characters; stringField must
// keep both properties for this shortcut to hold.
func sameString(val []byte, last *string) (string, error) {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		inner := val[1 : len(val)-1]
		if string(inner) == *last && bytes.IndexByte(inner, '\\') < 0 {
			return *last, nil
		}
	}
	s, err := stringField(val)
	if err == nil {
		*last = s
	}
	return s, err
}

// opField reads the op, as one of the Op constants when it is one.
func opField(val []byte) (Op, error) {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		for _, op := range ops {
			if string(val[1:len(val)-1]) == string(op) {
				return op, nil
			}
		}
	}
	s, err := stringField(val)
	return Op(s), err
}

// pkField reads the pk array, reusing the previous record's when the bytes
// are the same (Record.PK is shared, and read-only).
func (d *Decoder) pkField(val []byte) ([]string, error) {
	if d.last.pk != nil && bytes.Equal(val, d.last.pkRaw) {
		return d.last.pk, nil
	}
	pk, err := stringsField(val)
	if err == nil && pk != nil {
		d.last.pk, d.last.pkRaw = pk, append(d.last.pkRaw[:0], val...)
	}
	return pk, err
}

func stringField(val []byte) (string, error) {
	if bytes.Equal(val, []byte("null")) {
		return "", nil
	}
	s, err := unquote(val)
	if err != nil {
		return "", fmt.Errorf("want a string")
	}
	return s, nil
}

func intField(val []byte) (int64, error) {
	if bytes.Equal(val, []byte("null")) {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %.32s", val)
	}
	return n, nil
}

func stringsField(val []byte) ([]string, error) {
	if bytes.Equal(val, []byte("null")) {
		return nil, nil
	}
	out := []string{}
	err := scanArray(val, func(elem []byte) error {
		s, err := unquote(elem)
		if err != nil {
			return fmt.Errorf("want an array of strings")
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func present(raw []byte) bool { return len(raw) > 0 && !bytes.Equal(raw, []byte("null")) }

func wantImages(op Op) string {
	switch op {
	case OpInsert, OpHeartbeat:
		return "\"after\" and no \"before\""
	case OpUpdate:
		return "\"before\" and \"after\""
	}
	return "\"before\" and no \"after\""
}

// table returns the Table described by the record's db, table, pk and
// types, from the cache when it has been seen.
func (d *Decoder) table(r *Record, w *wireRecord) (*Table, error) {
	if !present(w.types) {
		// A producer that sends no types: columns come from the images and
		// have KindUnknown, so values decode but Arg refuses them.
		return tableFromImages(r, w)
	}
	if t := d.lastTable; t != nil && t.DB == r.DB && t.Name == r.Table && slices.Equal(t.PK, r.PK) && bytes.Equal(w.types, d.lastTypes) {
		return t, nil
	}
	t, err := d.cachedTable(r, w)
	if err != nil {
		return nil, err
	}
	d.lastTable, d.lastTypes = t, append(d.lastTypes[:0], w.types...)
	return t, nil
}

// cachedTable is table's cache lookup, building the Table on a miss.
func (d *Decoder) cachedTable(r *Record, w *wireRecord) (*Table, error) {
	d.key = append(d.key[:0], r.DB...)
	d.key = append(d.key, 0)
	d.key = append(d.key, r.Table...)
	for _, p := range r.PK {
		d.key = append(d.key, 0)
		d.key = append(d.key, p...)
	}
	d.key = append(d.key, 0, 0)
	d.key = append(d.key, w.types...)
	if t, ok := d.tables[string(d.key)]; ok {
		return t, nil
	}
	t := &Table{DB: r.DB, Name: r.Table}
	err := scanObject(w.types, func(name string, val []byte) error {
		typ, err := unquote(val)
		if err != nil {
			return fmt.Errorf("types: column %q: want a type string", name)
		}
		if t.ColumnIndex(name) >= 0 {
			return fmt.Errorf("types: column %q listed twice", name)
		}
		c := Column{Name: name}
		if err := c.parseType(typ); err != nil {
			return fmt.Errorf("types: column %q: %w", name, err)
		}
		t.Columns = append(t.Columns, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := t.setPK(r.PK); err != nil {
		return nil, err
	}
	t.finish()
	limit := d.MaxTables
	if limit <= 0 {
		limit = 1024
	}
	if d.tables == nil || len(d.tables) >= limit {
		d.tables = make(map[string]*Table)
	}
	d.tables[string(d.key)] = t
	return t, nil
}

func tableFromImages(r *Record, w *wireRecord) (*Table, error) {
	t := &Table{DB: r.DB, Name: r.Table}
	for _, img := range [...][]member{w.beforeMembers, w.afterMembers} {
		for _, m := range img {
			if t.ColumnIndex(string(m.key)) < 0 {
				t.Columns = append(t.Columns, Column{Name: string(m.key), typeText: "unknown"})
			}
		}
	}
	if err := t.setPK(r.PK); err != nil {
		return nil, err
	}
	t.finish()
	return t, nil
}

func (t *Table) setPK(pk []string) error {
	t.PK = pk
	t.PKIndex = make([]int, len(pk))
	for k, name := range pk {
		i := t.ColumnIndex(name)
		if i < 0 {
			return fmt.Errorf("primary-key column %q has no type", name)
		}
		t.PKIndex[k] = i
	}
	return nil
}

// decodeImage splits an image object into row, with values (len(t.Columns)
// of them, all nil) aligned with t's columns.
func decodeImage(row *Row, t *Table, values []json.RawMessage, members []member, jsonNull, enumZero []string, setBits []byte) error {
	row.Table, row.Values = t, values
	next := 0
	for _, m := range members {
		// Images normally list columns in table order: try the next one first.
		i := next
		if i >= len(t.Columns) || t.Columns[i].Name != string(m.key) {
			if i = t.ColumnIndex(string(m.key)); i < 0 {
				return fmt.Errorf("column %q has no type", m.key)
			}
		}
		if row.Values[i] != nil {
			return fmt.Errorf("column %q appears twice", m.key)
		}
		row.Values[i] = m.val
		next = i + 1
	}
	var err error
	if row.jsonNull, err = markedColumns(t, row, "json_null", jsonNull, KindJSON, "null"); err != nil {
		return err
	}
	if row.enumZero, err = markedColumns(t, row, "enum_zero", enumZero, KindEnum, `""`); err != nil {
		return err
	}
	if present(setBits) {
		if row.setBits, err = decodeSetBits(t, row, setBits); err != nil {
			return err
		}
	}
	return nil
}

// decodeSetBits reads a set_bits object: SET columns of the image, each
// named once with a non-NULL value, mapped to their bitmaps as strings of
// decimal digits. Whether the bitmap agrees with the member names in the
// image cannot be checked here: records do not carry the members.
func decodeSetBits(t *Table, row *Row, raw []byte) ([]setBits, error) {
	var out []setBits
	err := scanObject(raw, func(name string, val []byte) error {
		i := t.ColumnIndex(name)
		switch {
		case i < 0:
			return fmt.Errorf("set_bits names unknown column %q", name)
		case t.Columns[i].Kind != KindSet:
			return fmt.Errorf("set_bits names column %q of type %s, want set", name, t.Columns[i].typeText)
		case row.Values[i] == nil || string(row.Values[i]) == "null":
			return fmt.Errorf("set_bits names column %q, which has no value in the image", name)
		case slices.ContainsFunc(out, func(s setBits) bool { return s.col == i }):
			return fmt.Errorf("set_bits names column %q twice", name)
		}
		s, err := unquote(val)
		if err != nil {
			return fmt.Errorf("set_bits: column %q: want a string of digits", name)
		}
		bits, err := strconv.ParseUint(s, 10, 64)
		if err != nil || bits == 0 || s[0] == '0' {
			return fmt.Errorf("set_bits: column %q: want a non-zero 64-bit bitmap in decimal, got %.32q", name, s)
		}
		out = append(out, setBits{col: i, bits: bits})
		return nil
	})
	return out, err
}

// markedColumns checks the names a marks field (json_null, enum_zero)
// lists against the image: each a column of kind, whose value in the image
// is value, named once. It returns their indexes.
func markedColumns(t *Table, row *Row, field string, names []string, kind Kind, value string) ([]int, error) {
	var idx []int
	for _, name := range names {
		i := t.ColumnIndex(name)
		switch {
		case i < 0:
			return nil, fmt.Errorf("%s names unknown column %q", field, name)
		case t.Columns[i].Kind != kind:
			return nil, fmt.Errorf("%s names column %q of type %s, want %s", field, name, t.Columns[i].typeText, kind)
		case string(row.Values[i]) != value:
			return nil, fmt.Errorf("%s names column %q whose value is not %s", field, name, value)
		case slices.Contains(idx, i):
			return nil, fmt.Errorf("%s names column %q twice", field, name)
		}
		idx = append(idx, i)
	}
	return idx, nil
}

// The scanner below splits records without copying and checks, in the same
// pass, the grammar of RFC 8259 exactly as json.Valid does: it accepts what
// json.Valid accepts and nothing else. Like json.Valid it does not check
// UTF-8 inside strings; unquote and Row.Arg deal with that per value.

// maxDepth bounds the nesting of objects and arrays, as encoding/json's
// scanner does, so that hostile input cannot exhaust the stack of the
// recursive scanner.
const maxDepth = 10000

// scanObject calls fn for each member of the JSON object src, in order, with
// the unquoted key and the raw value. src must hold the object and nothing
// but whitespace around it; it is checked as strict JSON, nested values
// included, and errors give the byte offset in src. A member that fn has
// seen may be followed by a syntax error: callers act on the members only
// once scanObject returns nil.
func scanObject(src []byte, fn func(key string, val []byte) error) error {
	return scanMembers(src, func(key, val []byte) error { return fn(string(key), val) })
}

// scanMembers is scanObject with the unquoted key as bytes, which fn must
// not keep: the hot paths compare keys without allocating a string each.
func scanMembers(src []byte, fn func(key, val []byte) error) error {
	return scanMembersNested(src, fn, nil)
}

// scanMembersNested is scanMembers with walkObjectNested's nested hook,
// which gets the unquoted key too.
func scanMembersNested(src []byte, fn func(key, val []byte) error, nested func(key []byte) func(key, val []byte) error) error {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return fmt.Errorf("want a JSON object")
	}
	var hook func(key []byte) func(key, val []byte) error
	if nested != nil {
		hook = func(key []byte) func(key, val []byte) error {
			k, err := unquoteKey(key)
			if err != nil {
				return nil // member reports it
			}
			return nested(k)
		}
	}
	end, err := walkObjectNested(src, i, 1, func(key, val []byte) error {
		k, err := unquoteKey(key)
		if err != nil {
			return err
		}
		return fn(k, val)
	}, hook)
	if err != nil {
		return err
	}
	return checkEnd(src, end)
}

// unquoteKey returns a raw (quoted) object key's text: a slice of it when
// it has no escapes.
func unquoteKey(key []byte) ([]byte, error) {
	if bytes.IndexByte(key, '\\') < 0 {
		return key[1 : len(key)-1], nil
	}
	var k string
	if err := json.Unmarshal(key, &k); err != nil {
		return nil, fmt.Errorf("malformed key: %w", err)
	}
	return []byte(k), nil
}

// scanArray calls fn for each element of the JSON array src, checked as
// scanObject checks an object.
func scanArray(src []byte, fn func(elem []byte) error) error {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '[' {
		return fmt.Errorf("want a JSON array")
	}
	end, err := walkArray(src, i, 1, fn)
	if err != nil {
		return err
	}
	return checkEnd(src, end)
}

// checkEnd fails if anything but whitespace follows the value ending at
// src[end].
func checkEnd(src []byte, end int) error {
	if i := skipSpace(src, end); i < len(src) {
		return syntaxError(src, i, "after top-level value")
	}
	return nil
}

// walkObject checks the object starting at src[i] == '{', which is nested
// depth deep counting itself, and returns the offset after it. If member
// is not nil it is called with each raw (quoted) key and raw value.
func walkObject(src []byte, i, depth int, member func(key, val []byte) error) (int, error) {
	return walkObjectNested(src, i, depth, member, nil)
}

// walkObjectNested is walkObject where nested, if not nil, may return a
// member function for a member's value that is an object (given the raw
// key): that object is then walked with it, in the same pass, before
// member sees the whole value.
func walkObjectNested(src []byte, i, depth int, member func(key, val []byte) error, nested func(key []byte) func(key, val []byte) error) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nesting deeper than %d at offset %d", maxDepth, i)
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return 0, syntaxError(src, i, "looking for beginning of object key string")
		}
		kend, _, err := scanString(src, i)
		if err != nil {
			return 0, err
		}
		key := src[i:kend]
		i = skipSpace(src, kend)
		if i >= len(src) || src[i] != ':' {
			return 0, syntaxError(src, i, "after object key")
		}
		i = skipSpace(src, i+1)
		var vend int
		var sub func(key, val []byte) error
		if nested != nil && i < len(src) && src[i] == '{' {
			sub = nested(key)
		}
		if sub != nil {
			vend, err = walkObject(src, i, depth+1, sub)
		} else {
			vend, err = skipValue(src, i, depth)
		}
		if err != nil {
			return 0, err
		}
		if member != nil {
			if err := member(key, src[i:vend:vend]); err != nil {
				return 0, err
			}
		}
		next, done, err := afterMember(src, vend, '}', "after object key:value pair")
		if done || err != nil {
			return next, err
		}
		i = next
	}
}

// walkArray checks the array starting at src[i] == '[' as walkObject checks
// an object, calling elem, if not nil, with each raw element.
func walkArray(src []byte, i, depth int, elem func(val []byte) error) (int, error) {
	if depth > maxDepth {
		return 0, fmt.Errorf("nesting deeper than %d at offset %d", maxDepth, i)
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == ']' {
		return i + 1, nil
	}
	for {
		end, err := skipValue(src, i, depth)
		if err != nil {
			return 0, err
		}
		if elem != nil {
			if err := elem(src[i:end:end]); err != nil {
				return 0, err
			}
		}
		next, done, err := afterMember(src, end, ']', "after array element")
		if done || err != nil {
			return next, err
		}
		i = next
	}
}

// afterMember reads what follows a member or element ending at src[end]:
// a comma, and it returns the offset of the next one; or the closing
// byte, and it returns the offset after it with done set; what names the
// place in a syntax error.
func afterMember(src []byte, end int, closing byte, what string) (next int, done bool, err error) {
	i := skipSpace(src, end)
	switch {
	case i < len(src) && src[i] == ',':
		return skipSpace(src, i+1), false, nil
	case i < len(src) && src[i] == closing:
		return i + 1, true, nil
	}
	return 0, false, syntaxError(src, i, what)
}

// skipSpace returns the offset of the first byte at or after src[i] that
// is not JSON whitespace.
func skipSpace(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

// skipValue checks the JSON value starting at src[i], inside depth
// enclosing objects and arrays, and returns the offset after it.
func skipValue(src []byte, i, depth int) (int, error) {
	if i >= len(src) {
		return 0, syntaxError(src, i, "looking for beginning of value")
	}
	switch c := src[i]; c {
	case '"':
		end, _, err := scanString(src, i)
		return end, err
	case '{':
		return walkObject(src, i, depth+1, nil)
	case '[':
		return walkArray(src, i, depth+1, nil)
	case 't':
		return scanLiteral(src, i, "true")
	case 'f':
		return scanLiteral(src, i, "false")
	case 'n':
		return scanLiteral(src, i, "null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return scanNumber(src, i)
		}
		return 0, syntaxError(src, i, "looking for beginning of value")
	}
}

// scanString checks the string starting at src[i] == '"' and returns the
// offset after it and whether it contains escapes.
func scanString(src []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(src); j++ {
		j += plainPrefix8(src[j:])
		if j >= len(src) {
			break
		}
		c := src[j]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		switch c {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			if j++; j >= len(src) {
				return 0, false, syntaxError(src, j, "in string escape code")
			}
			switch src[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for range 4 {
					if j++; j >= len(src) || !isHex(src[j]) {
						return 0, false, syntaxError(src, j, "in \\u hexadecimal character escape")
					}
				}
			default:
				return 0, false, syntaxError(src, j, "in string escape code")
			}
		default: // a control character
			return 0, false, syntaxError(src, j, "in string literal")
		}
	}
	return 0, false, syntaxError(src, len(src), "in string literal")
}

// plainPrefix8 returns the length of the longest prefix of s made of whole
// eight-byte words with no quote, backslash or control character: the part
// of a string's body that needs no closer look. The bit tricks are exact
// for "some byte of the word is".
func plainPrefix8(s []byte) int {
	n := 0
	for n+8 <= len(s) {
		x := binary.LittleEndian.Uint64(s[n:])
		q, b := x^(lsb*'"'), x^(lsb*'\\')
		if ((x-lsb*0x20)&^x|(q-lsb)&^q|(b-lsb)&^b)&msb != 0 {
			break
		}
		n += 8
	}
	return n
}

// plainString reports whether s has no quote, backslash or control
// character: as the body of a JSON string it means itself.
func plainString(s []byte) bool {
	for _, c := range s[plainPrefix8(s):] {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// lsb and msb have the lowest and the highest bit of every byte set.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanNumber checks the number starting at src[i] against
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns the offset
// after it. What may follow it is the caller's to check.
func scanNumber(src []byte, i int) (int, error) {
	j := i
	if src[j] == '-' {
		j++
	}
	switch {
	case j < len(src) && src[j] == '0':
		j++
	case j < len(src) && '1' <= src[j] && src[j] <= '9':
		j = skipDigits(src, j+1)
	default:
		return 0, syntaxError(src, j, "in numeric literal")
	}
	if j < len(src) && src[j] == '.' {
		k := skipDigits(src, j+1)
		if k == j+1 {
			return 0, syntaxError(src, k, "after decimal point in numeric literal")
		}
		j = k
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		j++
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		k := skipDigits(src, j)
		if k == j {
			return 0, syntaxError(src, k, "in exponent of numeric literal")
		}
		j = k
	}
	return j, nil
}

func skipDigits(src []byte, i int) int {
	for i < len(src) && '0' <= src[i] && src[i] <= '9' {
		i++
	}
	return i
}

// scanLiteral checks that src[i:] starts with lit and returns the offset
// after it.
func scanLiteral(src []byte, i int, lit string) (int, error) {
	for k := range len(lit) {
		if i+k >= len(src) || src[i+k] != lit[k] {
			return 0, syntaxError(src, i+k, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// syntaxError describes the byte at src[i], or the end of src, that breaks
// the JSON grammar; where says what the scanner was reading.
func syntaxError(src []byte, i int, where string) error {
	if i >= len(src) {
		return fmt.Errorf("unexpected end of JSON input at offset %d (%s)", i, where)
	}
	return fmt.Errorf("invalid character %q at offset %d %s", src[i], i, where)
}
