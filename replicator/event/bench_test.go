package event

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// benchTable and benchImage are a typical OLTP row: keys, counters, money,
// timestamps and some text.
func benchTable(tb testing.TB) (*Table, []any) {
	tb.Helper()
	tbl, err := NewTable(tableMap("shop", "orders", []int{0},
		colSpec{name: "id", typ: mysql.MYSQL_TYPE_LONGLONG, unsigned: true, notNull: true},
		colSpec{name: "customer_id", typ: mysql.MYSQL_TYPE_LONGLONG},
		colSpec{name: "status", typ: mysql.MYSQL_TYPE_TINY},
		colSpec{name: "qty", typ: mysql.MYSQL_TYPE_LONG},
		colSpec{name: "amount", typ: mysql.MYSQL_TYPE_NEWDECIMAL, meta: 12<<8 | 2},
		colSpec{name: "rate", typ: mysql.MYSQL_TYPE_DOUBLE, meta: 8},
		colSpec{name: "created_at", typ: mysql.MYSQL_TYPE_DATETIME2, meta: 6},
		colSpec{name: "updated_at", typ: mysql.MYSQL_TYPE_TIMESTAMP2, meta: 0},
		colSpec{name: "email", typ: mysql.MYSQL_TYPE_VARCHAR, meta: 1020, collation: collUTF8MB4},
		colSpec{name: "note", typ: mysql.MYSQL_TYPE_BLOB, meta: 2, collation: collUTF8MB4},
		colSpec{name: "token", typ: mysql.MYSQL_TYPE_STRING, meta: stringMeta(mysql.MYSQL_TYPE_STRING, 16), collation: collBinary},
	))
	if err != nil {
		tb.Fatal(err)
	}
	image := []any{
		uint64(1234567890123), int64(42), int8(3), int32(7), "1234.50", 0.0725,
		"2024-05-01 12:34:56.123456", "2024-05-01 12:34:56", "someone@example.com",
		[]byte("left at the \"door\", ring twice"), "\x8a\x1f\x00\x00\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x02\x03\x04",
	}
	return tbl, image
}

// BenchmarkEncodeRecord is the replicator's hot path per row change:
// encode the image and append the record and its key to reused buffers.
func BenchmarkEncodeRecord(b *testing.B) {
	tbl, image := benchTable(b)
	var (
		row      Row
		buf, key []byte
	)
	b.ReportAllocs()
	for b.Loop() {
		if err := tbl.EncodeRow(&row, image, nil); err != nil {
			b.Fatal(err)
		}
		rec := Record{V: 1, Cluster: "main", Region: "eu", Origin: "eu", GTID: "0-1-123456", TS: 1714566896000,
			Seq: 0, Last: true, Op: OpInsert, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK, After: &row}
		var err error
		if buf, err = rec.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
		if key, err = rec.AppendKey(key[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkDecodeRecord is the applier's side: decode a record with a
// Decoder and convert every column to its SQL argument.
func BenchmarkDecodeRecord(b *testing.B) {
	tbl, image := benchTable(b)
	var row Row
	if err := tbl.EncodeRow(&row, image, nil); err != nil {
		b.Fatal(err)
	}
	rec := Record{V: 1, Cluster: "main", Region: "eu", Origin: "eu", GTID: "0-1-123456", Op: OpInsert,
		DB: tbl.DB, Table: tbl.Name, PK: tbl.PK, After: &row}
	data, err := rec.AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	var d Decoder
	args := make([]any, len(tbl.Columns))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		got, err := d.Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		for i := range got.After.Values {
			if args[i], err = got.After.Arg(i); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestEncodeRecordDoesNotAllocate(t *testing.T) {
	tbl, image := benchTable(t)
	var (
		row      Row
		buf, key []byte
	)
	run := func() {
		if err := tbl.EncodeRow(&row, image, nil); err != nil {
			t.Fatal(err)
		}
		rec := Record{V: 1, Op: OpInsert, DB: tbl.DB, Table: tbl.Name, PK: tbl.PK, After: &row}
		var err error
		if buf, err = rec.AppendJSON(buf[:0]); err != nil {
			t.Fatal(err)
		}
		if key, err = rec.AppendKey(key[:0]); err != nil {
			t.Fatal(err)
		}
	}
	run() // grow the buffers
	if allocs := testing.AllocsPerRun(100, run); allocs > 0 {
		t.Errorf("encoding a record into reused buffers allocates %v times per record", allocs)
	}
}
