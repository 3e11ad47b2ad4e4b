// Package event is drc's wire format, event format v1: one JSON record per
// row change or control event, and the exact mapping between MySQL/MariaDB
// column values and JSON in both directions.
//
// # The story
//
// The replicator reads the binlog with go-mysql's BinlogSyncer, configured
// by SyncerConfig. Every rows event is preceded by a table-map event; with
// binlog_row_metadata=FULL that event names the columns and carries their
// signedness, character sets, ENUM/SET members and primary key. NewTable
// (or a TableCache) turns it into a Table, and Table.EncodeRow turns each
// row image into a Row of pre-encoded JSON values. The schema therefore
// always comes from the event itself, never from a live SHOW COLUMNS: rows
// written before an ALTER TABLE decode with the columns they were written
// with. Record.AppendJSON and Record.AppendKey then write the Kafka value
// and key into reused buffers, without allocating.
//
// The applier reads a record with Decode (or a Decoder, which parses each
// table's types once, reuses the previous record's strings when their
// bytes repeat, and copies small records into shared slabs rather than one
// allocation each). One pass checks the record as strict JSON and splits
// it, images included; strings are scanned eight bytes at a time. Row.Arg
// turns each value back into the Go value to pass to
// go-sql-driver/mysql, bound to Column.Placeholder, on a
// connection that ran SessionSQL and has interpolateParams off. INSERT,
// UPDATE ... SET and WHERE col <=> ... then reproduce or match the source
// value exactly; integration/types_test.go proves it against MariaDB.
//
// # Record fields
//
// The contract fields (DESIGN.md, "Event format v1"): v, cluster, region,
// origin, gtid, ts, seq, last, op, db, table, pk, before, after, sql. Fields
// this package adds, as v1 allows:
//
//	types             on row records: {"column": "type string", ...} for
//	                  every column of the table, in table order. It is what
//	                  makes a value's JSON form unambiguous for the applier,
//	                  e.g. "bigint unsigned", "decimal(10,2) unsigned",
//	                  "datetime(6)", "binary(16)", "varchar latin1",
//	                  "longblob", "point" (see Column.TypeString).
//	before_json_null  names of MySQL JSON columns whose value is the JSON
//	after_json_null   null literal: in the image they are null like SQL
//	                  NULL, which JSON cannot tell apart inside the image.
//	before_enum_zero  names of ENUM columns holding index 0, the error value
//	after_enum_zero   a server in non-strict mode stores for an invalid
//	                  value: it reads as "" in the image, like a member ''
//	                  would, so only this field tells them apart. Row.Arg
//	                  gives the index 0 for them.
//	before_set_bits   {"column": "bitmap", ...}: SET columns whose stored
//	after_set_bits    bitmap has bits that name no member, with the whole
//	                  bitmap (s+0) in decimal. The image holds the names of
//	                  the members the bitmap has, as the server reads it;
//	                  Row.SetBits gives the bitmap.
//	gtid_set          on a transaction's last record: the GTID set after it.
//
// Row images list columns in table order. A column missing from an image
// was not logged (binlog_row_image other than FULL); it is not NULL.
// Generated columns appear like any other, with their computed value; the
// table map does not say which columns are generated, so an applier learns
// that from the target and leaves them out of INSERT and SET.
//
// # Record key
//
//	db.table/[pk values]
//
// The primary-key values are a JSON array of the values exactly as the row
// image holds them, in key order, taken from the after image (the before
// image for a delete): shop.orders/[42], shop.lines/["9007199254740993",
// "2024-01-02 03:04:05.000"]. A table without a primary key has the key
// db.table/[] for every row. db and table are quoted with backticks, `a.b`,
// only when they contain '.', '/' or '`', so keys of different tables never
// collide. ddl and heartbeat records have the key db.table, or db when they
// name no table.
//
// # Type mapping
//
// One JSON form per column type, decided by the type and never by the
// value. Integers are JSON numbers only for types whose every value a
// JavaScript double holds exactly (|n| < 2^53); BIGINT and wide BIT are
// decimal strings, like the IDs of drc's ID generator.
//
//	MySQL type            JSON form                        example                        Row.Arg
//	--------------------  -------------------------------  -----------------------------  --------
//	TINYINT..INT          number                           -128, 4294967295               int64, uint64 if unsigned
//	  (signed/UNSIGNED)
//	BIGINT                string of digits                 "-9223372036854775808"         int64
//	BIGINT UNSIGNED       string of digits                 "18446744073709551615"         uint64
//	DECIMAL(p,s)          string, exactly s decimals       "-1234.500"                    string
//	FLOAT                 number, shortest text that       3.4028235e+38, 0.1, -0         float64 (the float32 value)
//	                      reads back as the same float32
//	DOUBLE                number, shortest round-trip      1.7976931348623157e+308, -0    float64
//	BIT(n), n <= 53       number                           2748                           uint64
//	BIT(n), n > 53        string of digits                 "18446744073709551615"         uint64
//	YEAR                  number, 0 for the zero year      2155, 0                        int64
//	DATE                  string                           "2024-02-29", "0000-00-00"     string
//	TIME(fsp)             string, exactly fsp digits       "-838:59:59", "12:00:00.000"   string
//	DATETIME(fsp)         string, exactly fsp digits       "9999-12-31 23:59:59.999999"   string
//	TIMESTAMP(fsp)        string in UTC, fsp digits        "2038-01-19 03:14:07.5"        string
//	CHAR, VARCHAR, TEXT   string (transcoded to UTF-8)     "héllo 😀", "x  "              string
//	  utf8mb4/utf8mb3/
//	  ascii/latin1
//	CHAR, VARCHAR, TEXT   base64 of the stored bytes       "xOO6ww==" (gbk 你好)          []byte
//	  in other charsets
//	BINARY(n)             base64, zero-padded to n bytes   "AQAAAA==" (BINARY(4) x'01')   []byte
//	VARBINARY, BLOB       base64                           "AP8A"                         []byte
//	  (TINY..LONG)
//	ENUM                  string: the member (*)           "ü", "" (invalid-value 0)      string
//	SET                   string: comma-joined members (*) "x,z", ""                      string (***)
//	JSON (MySQL)          the JSON value itself            {"a":1.0,"b":[true,null]}      string (JSON text)
//	JSON (MariaDB)        string: the JSON text (**)       "{\"a\": 1}"                   string
//	GEOMETRY, POINT, ...  base64 of SRID + WKB             "AAAAAAEBAAAA..."              []byte
//	VECTOR (MySQL 9)      base64                           "AACAPw=="                     []byte
//	NULL, any type        null                             null                           nil
//
//	(*)  in other charsets than utf8mb4/utf8mb3/ascii/latin1, base64 like text
//	(**) its type string is "longtext utf8mb4": see the last point below
//	(***) the members the bitmap has, also when it has bits beyond them
//	      (set_bits): see the ENUM and SET point below
//
// Details that make the mapping exact:
//
//   - Unsigned integers are reinterpreted at the column's width from the
//     table map's signedness, whatever Go type the decoder produced.
//   - FLOAT and DOUBLE use encoding/json's layout (exponent form below 1e-6
//     and from 1e21) with the shortest digits for the type's width. NaN and
//     infinities cannot occur. A -0 in the binlog stays -0 (MariaDB itself
//     stores -0 as 0, so there it never occurs).
//   - DECIMAL travels as the server's own text, so no precision is lost;
//     Column.Placeholder casts it back to DECIMAL(p,s) so that comparisons
//     are decimal, not double.
//   - TIME is signed and may exceed 24 hours; go-mysql drops a zero
//     fraction, which the encoder restores to fsp digits.
//   - TIMESTAMP is stored as seconds since the epoch; SyncerConfig renders
//     it in UTC and SessionSQL sets time_zone '+00:00' on the applier.
//   - CHAR drops trailing spaces on the source already (MySQL strips them on
//     read), so the image holds the stored value. BINARY(n) drops trailing
//     zero bytes in the binlog; the encoder pads them back, or a WHERE on
//     the value would miss the row.
//   - latin1 is MySQL's: cp1252 with its five undefined bytes mapped to the
//     C1 controls, so all 256 bytes have a code point and the server's
//     conversion back from utf8mb4 restores them. Text in other character
//     sets (ucs2, utf16, utf32, gbk, sjis, big5, cp1251, ...) is not
//     transcoded: its bytes travel in base64 and Column.Placeholder makes the
//     server reinterpret them in the column's charset. A string in a utf8
//     column that is not valid UTF-8 cannot be encoded and is an error
//     (ErrUnencodable), never silently replaced.
//   - ENUM and SET values come from the binlog as an index and a bitmap;
//     the table map's member lists turn them into names. ENUM index 0 (the
//     empty string a non-strict server stores for an invalid value) is "",
//     which a strict target rejects unless the empty string is a member.
//     A SET bitmap may have bits beyond the members: a server applying row
//     events (a replica, a BINLOG statement) stores the bytes of a table
//     whose SET had more members as they come. No statement can store
//     such bits (every form of value is masked), so the image has the
//     names of the members the bitmap has, which is what the server reads
//     and what a target can store, and set_bits the whole bitmap.
//   - MySQL's binary JSON is rendered as MySQL text (RenderJSONAsMySQLText),
//     so 1.0 stays a double, then compacted. MariaDB's JSON is a LONGTEXT
//     alias that the table map cannot tell from LONGTEXT, so it travels as
//     text (an exact copy of what MariaDB stores).
//
// The type strings of "types" follow MySQL's COLUMN_TYPE spelling where
// they can: the type's name (BLOB and TEXT sizes and geometry subtypes
// included), parameters that change the value's form, "unsigned", and the
// charset of textual kinds. What the table map does not carry, they cannot
// say: display widths, ZEROFILL (a ZEROFILL column is "int unsigned"),
// CHAR/VARCHAR lengths, ENUM/SET members. See Column.TypeString.
package event
