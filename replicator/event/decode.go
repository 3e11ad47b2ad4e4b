package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// wireRecord holds a record's fields as Decode reads them; row images and
// types stay raw so that their column order survives and no map is built
// per row.
type wireRecord struct {
	v              *int
	pk             []string
	pkSeen         bool
	types          []byte
	before, after  []byte
	beforeJSONNull []string
	afterJSONNull  []string
}

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
	var d Decoder
	return d.Decode(data)
}

// Decoder decodes records and caches the Tables it builds from their
// "types", keyed by table, primary key and types text. It is not safe for
// concurrent use; the Tables it returns are.
type Decoder struct {
	// MaxTables bounds the cache; it is emptied when full. Zero means 1024.
	MaxTables int

	tables map[string]*Table
	key    []byte
}

// Decode parses one record; see the package function Decode.
func (d *Decoder) Decode(data []byte) (*Record, error) {
	if !json.Valid(data) {
		// Only the failure path pays for encoding/json's error message.
		var raw json.RawMessage
		err := json.Unmarshal(data, &raw)
		if err == nil {
			err = fmt.Errorf("not valid JSON")
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	// Row values are slices of data; a private copy keeps the Record from
	// aliasing the caller's buffer (a Kafka client reuses it).
	data = bytes.Clone(data)
	r := &Record{}
	var w wireRecord
	if err := scanObject(data, func(key string, val []byte) error { return r.setField(&w, key, val) }); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if w.v == nil {
		return nil, fmt.Errorf("%w: missing field \"v\"", ErrInvalidRecord)
	}
	if *w.v != Version {
		return nil, fmt.Errorf("%w: field \"v\": unsupported format version %d, want %d", ErrInvalidRecord, *w.v, Version)
	}
	r.V = *w.v
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
	where := string(appendQualified(nil, r.DB, r.Table))
	switch {
	case r.DB == "" || r.Table == "":
		return nil, fmt.Errorf("%w: %s record without \"db\" and \"table\"", ErrInvalidRecord, r.Op)
	case !w.pkSeen:
		return nil, fmt.Errorf("%w: %s record on %s without \"pk\"", ErrInvalidRecord, r.Op, where)
	case r.Op == OpInsert && (hasBefore || !hasAfter), r.Op == OpHeartbeat && hasBefore,
		r.Op == OpUpdate && (!hasBefore || !hasAfter),
		r.Op == OpDelete && (!hasBefore || hasAfter):
		return nil, fmt.Errorf("%w: %s record on %s must have %s", ErrInvalidRecord, r.Op, where, wantImages(r.Op))
	}
	if !hasBefore && !hasAfter { // a heartbeat position marker
		return r, nil
	}
	t, err := d.table(r, &w)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidRecord, where, err)
	}
	if hasBefore {
		if r.Before, err = decodeImage(t, w.before, w.beforeJSONNull); err != nil {
			return nil, fmt.Errorf("%w: %s before image: %w", ErrInvalidRecord, where, err)
		}
	} else if w.beforeJSONNull != nil {
		return nil, fmt.Errorf("%w: %s: before_json_null without a before image", ErrInvalidRecord, where)
	}
	if hasAfter {
		if r.After, err = decodeImage(t, w.after, w.afterJSONNull); err != nil {
			return nil, fmt.Errorf("%w: %s after image: %w", ErrInvalidRecord, where, err)
		}
	} else if w.afterJSONNull != nil {
		return nil, fmt.Errorf("%w: %s: after_json_null without an after image", ErrInvalidRecord, where)
	}
	return r, nil
}

// setField stores one top-level member of a record. A JSON null leaves a
// field at its zero value, as encoding/json does.
func (r *Record) setField(w *wireRecord, key string, val []byte) error {
	isNull := bytes.Equal(val, []byte("null"))
	var err error
	switch key {
	case "v":
		var n int64
		if n, err = intField(val); err == nil && !isNull {
			v := int(n)
			w.v = &v
		}
	case "cluster":
		r.Cluster, err = stringField(val)
	case "region":
		r.Region, err = stringField(val)
	case "origin":
		r.Origin, err = stringField(val)
	case "gtid":
		r.GTID, err = stringField(val)
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
		var op string
		op, err = stringField(val)
		r.Op = Op(op)
	case "db":
		r.DB, err = stringField(val)
	case "table":
		r.Table, err = stringField(val)
	case "pk":
		w.pk, err = stringsField(val)
		w.pkSeen = !isNull
	case "types":
		w.types = val
	case "before":
		w.before = val
	case "after":
		w.after = val
	case "before_json_null":
		w.beforeJSONNull, err = stringsField(val)
	case "after_json_null":
		w.afterJSONNull, err = stringsField(val)
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
	for _, img := range [...][]byte{w.before, w.after} {
		if !present(img) {
			continue
		}
		err := scanObject(img, func(name string, _ []byte) error {
			if t.ColumnIndex(name) < 0 {
				t.Columns = append(t.Columns, Column{Name: name, typeText: "unknown"})
			}
			return nil
		})
		if err != nil {
			return nil, err
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

// decodeImage splits an image object into values aligned with t's columns.
func decodeImage(t *Table, raw []byte, jsonNull []string) (*Row, error) {
	row := &Row{Table: t, Values: make([]json.RawMessage, len(t.Columns))}
	next := 0
	err := scanObject(raw, func(name string, val []byte) error {
		// Images normally list columns in table order: try the next one first.
		i := next
		if i >= len(t.Columns) || t.Columns[i].Name != name {
			if i = t.ColumnIndex(name); i < 0 {
				return fmt.Errorf("column %q has no type", name)
			}
		}
		if row.Values[i] != nil {
			return fmt.Errorf("column %q appears twice", name)
		}
		row.Values[i] = val
		next = i + 1
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, name := range jsonNull {
		i := t.ColumnIndex(name)
		switch {
		case i < 0:
			return nil, fmt.Errorf("json_null names unknown column %q", name)
		case t.Columns[i].Kind != KindJSON:
			return nil, fmt.Errorf("json_null names column %q of type %s, want json", name, t.Columns[i].typeText)
		case !bytes.Equal(row.Values[i], []byte("null")):
			return nil, fmt.Errorf("json_null names column %q whose value is not null", name)
		case row.IsJSONNull(i):
			return nil, fmt.Errorf("json_null names column %q twice", name)
		}
		row.jsonNull = append(row.jsonNull, i)
	}
	return row, nil
}

// scanObject calls fn for each member of the JSON object src, in order, with
// the unquoted key and the raw value. src comes out of json.Unmarshal, so it
// is valid JSON; the scanner still checks its bounds and fails rather than
// panics on anything else.
func scanObject(src []byte, fn func(key string, val []byte) error) error {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '{' {
		return fmt.Errorf("want a JSON object")
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return nil
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return fmt.Errorf("malformed object")
		}
		end, escaped, err := scanString(src, i)
		if err != nil {
			return err
		}
		var key string
		if escaped {
			if err := json.Unmarshal(src[i:end], &key); err != nil {
				return fmt.Errorf("malformed key: %w", err)
			}
		} else {
			key = string(src[i+1 : end-1])
		}
		i = skipSpace(src, end)
		if i >= len(src) || src[i] != ':' {
			return fmt.Errorf("malformed object")
		}
		i = skipSpace(src, i+1)
		vend, err := skipValue(src, i)
		if err != nil {
			return err
		}
		if err := fn(key, src[i:vend:vend]); err != nil {
			return err
		}
		i = skipSpace(src, vend)
		if i >= len(src) {
			return fmt.Errorf("malformed object")
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("malformed object")
		}
	}
}

// scanArray calls fn for each element of the JSON array src.
func scanArray(src []byte, fn func(elem []byte) error) error {
	i := skipSpace(src, 0)
	if i >= len(src) || src[i] != '[' {
		return fmt.Errorf("want a JSON array")
	}
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == ']' {
		return nil
	}
	for {
		end, err := skipValue(src, i)
		if err != nil {
			return err
		}
		if err := fn(src[i:end:end]); err != nil {
			return err
		}
		i = skipSpace(src, end)
		if i >= len(src) {
			return fmt.Errorf("malformed array")
		}
		switch src[i] {
		case ',':
			i = skipSpace(src, i+1)
		case ']':
			return nil
		default:
			return fmt.Errorf("malformed array")
		}
	}
}

func skipSpace(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the offset after the string starting at src[i] == '"'
// and whether it contains escapes.
func scanString(src []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, nil
		}
	}
	return 0, false, fmt.Errorf("unterminated string")
}

// skipValue returns the offset after the JSON value starting at src[i].
func skipValue(src []byte, i int) (int, error) {
	if i >= len(src) {
		return 0, fmt.Errorf("missing value")
	}
	switch src[i] {
	case '"':
		end, _, err := scanString(src, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(src); j++ {
			switch src[j] {
			case '"':
				end, _, err := scanString(src, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated value")
	}
	j := i
	for j < len(src) {
		c := src[j]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	if j == i {
		return 0, fmt.Errorf("missing value")
	}
	return j, nil
}
