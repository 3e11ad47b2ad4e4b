package reconcile

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// This file builds every statement reconcile runs against the compared
// tables. Nothing here touches a database, so the statements, quoting
// included, are unit-tested as text.

// rowKey is one row's key, in key order: each value as the server returns it
// (text, or raw bytes for binary columns). Key columns are never NULL.
type rowKey [][]byte

// id returns a map key that identifies the row: length-framed values, so
// distinct keys never collide.
func (k rowKey) id() string {
	var b strings.Builder
	for _, v := range k {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.Write(v)
	}
	return b.String()
}

// keyRange is the key range (Lo, Hi]: rows with Lo < key ≤ Hi. A nil bound is
// unbounded, so (nil, nil] is the whole table.
type keyRange struct {
	Lo, Hi rowKey
}

// Digest names the hash function the databases apply to a part's rows.
type Digest string

// The digests. Both are computed by the servers over the same canonical
// encoding; see the package doc for why SHA-256 is the default.
const (
	DigestSHA256 Digest = "sha256" // SHA2(…, 256): 256 bits
	DigestMD5    Digest = "md5"    // MD5(…): 128 bits
)

func (d Digest) wrap(expr string) string {
	if d == DigestMD5 {
		return "MD5(" + expr + ")"
	}
	return "SHA2(" + expr + ", 256)"
}

// dbSide is one of the two databases compared.
type dbSide int

// The two sides.
const (
	sourceSide dbSide = iota
	targetSide
)

func (s dbSide) String() string {
	if s == sourceSide {
		return "source"
	}
	return "target"
}

// builder builds the statements for one table.
type builder struct {
	t      *tablePlan
	digest Digest
}

func (b *builder) from(s dbSide) string {
	ix := b.t.SourceIndex
	if s == targetSide {
		ix = b.t.TargetIndex
	}
	// FORCE INDEX keeps the scan on the key, so rows arrive in key order and
	// ranges are index ranges, whatever the optimizer's statistics say.
	return b.t.Name.Quoted() + " FORCE INDEX (" + mysqlconn.QuoteIdent(ix) + ")"
}

// encodedField is one field of the canonical row encoding: a SQL
// expression, and whether it can be NULL (a nullable column, or a
// conversion of one that a server could turn into NULL).
type encodedField struct {
	expr     string
	nullable bool
}

// encodingFields lists the fields of the canonical encoding of one row, in
// column order:
//   - text and binary values as LENGTH(v) and v, the exact bytes framed by
//     their length (so a '|' or newline inside a value cannot shift fields,
//     the empty string is "0|", and trailing spaces are kept);
//   - integers, DECIMAL (with its scale), DATE/DATETIME/TIME/YEAR (with their
//     fraction) as their exact text;
//   - FLOAT and DOUBLE as CAST(v AS DOUBLE): the shortest text that
//     round-trips the exact double, so floats compare by value (FLOAT's own
//     text keeps only 6 digits and would hide changes);
//   - TIMESTAMP as UNIX_TIMESTAMP(v), which does not depend on time_zone;
//   - BIT as its number.
//
// nulls is ISNULL() of every nullable column, in column order: it keeps NULL
// apart from the empty string, since both encodings below drop or blank
// NULL fields.
func (b *builder) encodingFields() (fields []encodedField, nulls []string) {
	for _, c := range b.t.Columns {
		q := mysqlconn.QuoteIdent(c.Name)
		plain := func(x string) encodedField { return encodedField{x, c.Nullable} }
		// A conversion may yield NULL where the column holds a value.
		conv := func(x string) encodedField { return encodedField{x, true} }
		switch c.class {
		case classString:
			x := q
			if c.convert {
				x = "CONVERT(" + q + " USING utf8mb4)"
			} else if c.asBinary {
				x = "CAST(" + q + " AS BINARY)"
			}
			f := plain
			if x != q {
				f = conv
			}
			fields = append(fields, f("LENGTH("+x+")"), f(x))
		case classJSON:
			x := "CAST(" + q + " AS CHAR)"
			fields = append(fields, conv("LENGTH("+x+")"), conv(x))
		case classBinary:
			fields = append(fields, plain("LENGTH("+q+")"), plain(q))
		case classVector:
			x := "CAST(" + q + " AS BINARY)"
			fields = append(fields, conv("LENGTH("+x+")"), conv(x))
		case classFloat:
			fields = append(fields, conv("CAST("+q+" AS DOUBLE)"))
		case classTimestamp:
			fields = append(fields, conv("UNIX_TIMESTAMP("+q+")"))
		case classBit:
			fields = append(fields, conv("("+q+" + 0)"))
		default:
			fields = append(fields, plain(q))
		}
		if c.Nullable {
			nulls = append(nulls, "ISNULL("+q+")")
		}
	}
	return fields, nulls
}

// rowEncoding is the canonical encoding of one row as a SQL expression, for
// per-row digests: the fields of encodingFields joined with '|' by
// CONCAT_WS. CONCAT_WS skips NULLs, so a last field lists ISNULL() of every
// nullable column: NULL and the empty string never encode alike.
func (b *builder) rowEncoding() string {
	fields, nulls := b.encodingFields()
	exprs := make([]string, len(fields), len(fields)+1)
	for i, f := range fields {
		exprs[i] = f.expr
	}
	if len(nulls) > 0 {
		exprs = append(exprs, "CONCAT("+strings.Join(nulls, ", ")+")")
	}
	return "CONCAT_WS('|', " + strings.Join(exprs, ", ") + ")"
}

// partEncoding is the same fields as rowEncoding, as the argument list of a
// multi-argument GROUP_CONCAT: GROUP_CONCAT appends its arguments to the
// part's text one by one, without the per-row string CONCAT_WS builds
// (measured: a fifth of the cost of hashing a part). GROUP_CONCAT skips a
// row in which any argument is NULL, so every field that can be NULL is
// wrapped in IFNULL with the empty string, and the ISNULL() flags, one digit
// each, end the row. Each row parses back unambiguously: numbers, dates and
// flags contain neither '|' nor a newline, and every text or binary value is
// preceded by its length; so distinct parts never concatenate to the same
// text.
func (b *builder) partEncoding() string {
	fields, nulls := b.encodingFields()
	args := make([]string, 0, 2*len(fields)+len(nulls)+1)
	for i, f := range fields {
		if i > 0 {
			args = append(args, "'|'")
		}
		if f.nullable {
			args = append(args, "IFNULL("+f.expr+", '')")
		} else {
			args = append(args, f.expr)
		}
	}
	if len(nulls) > 0 {
		args = append(args, "'|'")
		args = append(args, nulls...)
	}
	return strings.Join(args, ", ")
}

// keyList is the key columns, quoted, comma-separated (for ORDER BY and
// SELECT).
func (b *builder) keyList() string {
	names := make([]string, len(b.t.Key))
	for i, k := range b.t.Key {
		names[i] = mysqlconn.QuoteIdent(b.t.Columns[k].Name)
	}
	return strings.Join(names, ", ")
}

// keySelect is the key columns as read into a rowKey (see selectExpr).
func (b *builder) keySelect() string {
	names := make([]string, len(b.t.Key))
	for i, k := range b.t.Key {
		names[i] = selectExpr(b.t.Columns[k])
	}
	return strings.Join(names, ", ")
}

// rangeCond is the WHERE condition selecting r (mysqlconn.KeyRange).
//
// Key values are written as literals (see literal), not bound as
// parameters: every statement is then one round trip in the text protocol,
// and the literal forms are exact (integers and DECIMAL as numbers, never via
// double; text as hex with an introducer, compared in the column's own
// collation).
func (b *builder) rangeCond(r keyRange) (string, error) {
	cols := b.t.KeyColumns()
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = mysqlconn.QuoteIdent(c.Name)
	}
	bound := func(k rowKey) (func(int) string, error) {
		if k == nil {
			return nil, nil
		}
		lits := make([]string, len(cols))
		for i, c := range cols {
			l, err := literal(c, k[i])
			if err != nil {
				return nil, err
			}
			lits[i] = l
		}
		return func(i int) string { return lits[i] }, nil
	}
	lo, err := bound(r.Lo)
	if err != nil {
		return "", err
	}
	hi, err := bound(r.Hi)
	if err != nil {
		return "", err
	}
	if cond := mysqlconn.KeyRange(names, lo, hi); cond != "" {
		return cond, nil
	}
	return "TRUE", nil
}

// partsHashSQL hashes each part in one statement (UNION ALL), returning
// (part number, row count, digest) per part. Each part is its own range
// scan, so a mismatch is located to a part without a second pass.
//
// The digest covers the parts' row encodings (partEncoding) concatenated in
// key order, one row per line: on a
// clustered primary key the range scan yields that order by itself; a
// secondary unique key gets an explicit ORDER BY inside GROUP_CONCAT.
// GROUP_CONCAT is capped by group_concat_max_len, which the caller sets and
// checks for the truncation warning.
func (b *builder) partsHashSQL(s dbSide, parts []keyRange) (string, error) {
	var sb strings.Builder
	order := ""
	if !b.t.KeyIsPrimary {
		order = " ORDER BY " + b.keyList()
	}
	agg := b.digest.wrap("GROUP_CONCAT(" + b.partEncoding() + order + " SEPARATOR X'0A')")
	for i, p := range parts {
		if i > 0 {
			sb.WriteString(" UNION ALL ")
		}
		cond, err := b.rangeCond(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&sb, "SELECT %d, COUNT(*), %s FROM %s WHERE %s", i, agg, b.from(s), cond)
	}
	return sb.String(), nil
}

// rowDigestsSQL lists the keys in r with a digest of each row's encoding,
// to narrow a mismatched part to rows.
func (b *builder) rowDigestsSQL(s dbSide, r keyRange) (string, error) {
	cond, err := b.rangeCond(r)
	return fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s", b.keySelect(), b.digest.wrap(b.rowEncoding()), b.from(s), cond), err
}

// sampleKeysSQL returns up to limit keys after lo in key order: the source of
// part boundaries for keys that are not a single integer.
func (b *builder) sampleKeysSQL(s dbSide, lo rowKey, limit int) (string, error) {
	cond, err := b.rangeCond(keyRange{Lo: lo})
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d", b.keySelect(), b.from(s), cond, b.keyList(), limit), err
}

// keyAtSQL returns the key at offset within r, to split r in two.
func (b *builder) keyAtSQL(s dbSide, r keyRange, offset int64) (string, error) {
	cond, err := b.rangeCond(r)
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d", b.keySelect(), b.from(s), cond, b.keyList(), offset), err
}

// boundsSQL returns MIN and MAX of a single-column key.
func (b *builder) boundsSQL(s dbSide) string {
	k := b.keyList()
	return fmt.Sprintf("SELECT MIN(%s), MAX(%s) FROM %s", k, k, b.from(s))
}

// nextKeySQL returns the smallest single-column key above a bound, to skip a
// gap in the key space.
func (b *builder) nextKeySQL(s dbSide, after rowKey) (string, error) {
	cond, err := b.rangeCond(keyRange{Lo: after})
	return fmt.Sprintf("SELECT MIN(%s) FROM %s WHERE %s", b.keyList(), b.from(s), cond), err
}

// selectExpr is how a column is read for row comparison and repair. FLOAT is
// widened to DOUBLE so its exact value survives the text form; temporal
// values are read as text, so a pool opened with parseTime=true still yields
// the server's own form (which repairs send back as literals).
func selectExpr(c tableColumn) string {
	q := mysqlconn.QuoteIdent(c.Name)
	switch c.class {
	case classFloat:
		return "CAST(" + q + " AS DOUBLE)"
	case classJSON, classTemporal, classTimestamp:
		return "CAST(" + q + " AS CHAR)"
	}
	return q
}

// keysCond selects exactly the given keys.
func (b *builder) keysCond(keys []rowKey) (string, error) {
	cols := b.t.KeyColumns()
	if len(cols) == 1 {
		lits := make([]string, len(keys))
		for i, k := range keys {
			l, err := literal(cols[0], k[0])
			if err != nil {
				return "", err
			}
			lits[i] = l
		}
		return mysqlconn.QuoteIdent(cols[0].Name) + " IN (" + strings.Join(lits, ", ") + ")", nil
	}
	ors := make([]string, len(keys))
	for i, k := range keys {
		w, err := b.keyWhere(k)
		if err != nil {
			return "", err
		}
		ors[i] = "(" + w + ")"
	}
	return strings.Join(ors, " OR "), nil
}

// rowsSQL reads whole rows by key. lock takes shared locks (LOCK IN SHARE
// MODE, accepted by MariaDB and MySQL 8) so that, while the reading
// transaction stays open, no writer can change the rows on the source; a
// missing key's gap is locked too, so it cannot appear either.
func (b *builder) rowsSQL(s dbSide, keys []rowKey, lock bool) (string, error) {
	sel := make([]string, len(b.t.Columns))
	for i, c := range b.t.Columns {
		sel[i] = selectExpr(c)
	}
	cond, err := b.keysCond(keys)
	if err != nil {
		return "", err
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(sel, ", "), b.from(s), cond)
	if lock {
		q += " LOCK IN SHARE MODE"
	}
	return q, nil
}

// rowImage is one row as read for comparison: a value per tablePlan.Columns entry,
// nil for NULL.
type rowImage [][]byte

// key extracts the row's key.
func (b *builder) key(r rowImage) rowKey {
	k := make(rowKey, len(b.t.Key))
	for i, c := range b.t.Key {
		k[i] = r[c]
	}
	return k
}

// literal renders a value as an exact SQL literal for column c. Repairs are
// built as literal SQL so that what --repair runs is exactly what the dry run
// prints; key bounds use the same forms.
//
// Text is mysqlconn.QuoteString, which reads the same with or without
// NO_BACKSLASH_ESCAPES and in any connection character set (reconcile reads
// with character_set_results=utf8mb4; the server converts to the column's
// charset), and binary values a plain hex literal. So no value is ever
// spliced into SQL unescaped.
func literal(c tableColumn, v []byte) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	switch c.class {
	case classInt, classUint, classDecimal, classFloat:
		if !mysqlconn.IsNumber(v) {
			return "", fmt.Errorf("column %s: value %q is not a number", mysqlconn.QuoteIdent(c.Name), v)
		}
		return string(v), nil
	case classTemporal, classTimestamp:
		if !temporal(v) {
			return "", fmt.Errorf("column %s: value %q is not a date or time", mysqlconn.QuoteIdent(c.Name), v)
		}
		return mysqlconn.QuoteString(string(v)), nil
	case classBinary, classBit, classVector:
		return "X'" + strings.ToUpper(hex.EncodeToString(v)) + "'", nil
	default:
		return mysqlconn.QuoteString(string(v)), nil
	}
}

func temporal(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '-' || c == ':' || c == '.' || c == ' ') {
			return false
		}
	}
	return true
}

// keyWhere renders "k1 = lit AND k2 = lit" for a repair statement.
func (b *builder) keyWhere(k rowKey) (string, error) {
	cols := b.t.KeyColumns()
	conds := make([]string, len(cols))
	for i, c := range cols {
		lit, err := literal(c, k[i])
		if err != nil {
			return "", err
		}
		conds[i] = mysqlconn.QuoteIdent(c.Name) + " = " + lit
	}
	return strings.Join(conds, " AND "), nil
}

// insertSQL writes a row missing on the target.
func (b *builder) insertSQL(r rowImage) (string, error) {
	names := make([]string, len(b.t.Columns))
	vals := make([]string, len(b.t.Columns))
	for i, c := range b.t.Columns {
		lit, err := literal(c, r[i])
		if err != nil {
			return "", err
		}
		names[i] = mysqlconn.QuoteIdent(c.Name)
		vals[i] = lit
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", b.t.Name.Quoted(), strings.Join(names, ", "), strings.Join(vals, ", ")), nil
}

// updateSQL overwrites a changed row with the source's image. Every non-key
// column is set, not only those that differ: the repair writes the source's
// row, whatever else changed since the comparison.
func (b *builder) updateSQL(r rowImage) (string, error) {
	var sets []string
	for i, c := range b.t.Columns {
		if b.t.isKey(i) {
			continue
		}
		lit, err := literal(c, r[i])
		if err != nil {
			return "", err
		}
		sets = append(sets, mysqlconn.QuoteIdent(c.Name)+" = "+lit)
	}
	if len(sets) == 0 {
		return "", fmt.Errorf("table %s: only key columns, nothing to update", b.t.Name)
	}
	where, err := b.keyWhere(b.key(r))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("UPDATE %s SET %s WHERE %s LIMIT 1", b.t.Name.Quoted(), strings.Join(sets, ", "), where), nil
}

// deleteSQL removes a row the source does not have.
func (b *builder) deleteSQL(k rowKey) (string, error) {
	where, err := b.keyWhere(k)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("DELETE FROM %s WHERE %s LIMIT 1", b.t.Name.Quoted(), where), nil
}
