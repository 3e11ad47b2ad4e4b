package applier

import (
	"strconv"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator/event"
)

// This file builds every statement the applier runs, apart from running
// them, so that quoting and shapes are unit-tested without a database.
// Identifiers are quoted with backticks (a backtick doubled); row values
// are bound to each column's event.Column.Placeholder, or, on the
// one-round-trip path, written as literals into the same text by
// interpolate (fast.go). The applier's own bookkeeping values (cluster,
// origin, GTIDs, offsets) are written as literals, through quoteString, so
// the checkpoint can share a round trip with BEGIN/COMMIT.

// qualify returns `db`.`table`.
func qualify(db, table string) string {
	return mysqlconn.QuoteIdent(db) + "." + mysqlconn.QuoteIdent(table)
}

// buildInsert returns INSERT INTO q (cols) VALUES (...),(...) for n rows.
func buildInsert(q string, cols []*event.Column, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(q)
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(mysqlconn.QuoteIdent(c.Name))
	}
	b.WriteString(") VALUES ")
	row := rowPlaceholders(cols)
	b.Grow(n * (len(row) + 2))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

func rowPlaceholders(cols []*event.Column) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Placeholder())
	}
	b.WriteByte(')')
	return b.String()
}

// writeWhere writes " WHERE k1 = ? AND c1 <=> ? ...". The first nKey
// columns are key columns, compared with = (a key column is never NULL,
// and = keeps the optimizer on the index); the rest are compared with the
// NULL-safe <=>, so that the whole before image must match. A few types
// are compared through an expression (event.Column.Compared).
func writeWhere(b *strings.Builder, where []*event.Column, nKey int) {
	b.WriteString(" WHERE ")
	for i, c := range where {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(c.Compared(mysqlconn.QuoteIdent(c.Name)))
		if i < nKey {
			b.WriteString(" = ")
		} else {
			b.WriteString(" <=> ")
		}
		b.WriteString(c.Placeholder())
	}
}

// buildUpdate returns UPDATE q SET ... WHERE ... . Arguments: the set
// columns' after values, then the where columns' before values. A table
// without a key (nKey == 0) updates one row that matches the whole image.
func buildUpdate(q string, set, where []*event.Column, nKey int) string {
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(q)
	b.WriteString(" SET ")
	for i, c := range set {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(mysqlconn.QuoteIdent(c.Name))
		b.WriteString(" = ")
		b.WriteString(c.Placeholder())
	}
	writeWhere(&b, where, nKey)
	if nKey == 0 {
		b.WriteString(" LIMIT 1")
	}
	return b.String()
}

// buildDelete returns DELETE FROM q WHERE ... ; see buildUpdate.
func buildDelete(q string, where []*event.Column, nKey int) string {
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(q)
	writeWhere(&b, where, nKey)
	if nKey == 0 {
		b.WriteString(" LIMIT 1")
	}
	return b.String()
}

// buildSelectByKey returns SELECT * FROM q WHERE k1 = ? AND ... : the
// target's current row(s) under a key, read when a conflict is resolved.
func buildSelectByKey(q string, key []*event.Column) string {
	var b strings.Builder
	b.WriteString("SELECT * FROM ")
	b.WriteString(q)
	writeWhere(&b, key, len(key))
	return b.String()
}

// buildDeleteByKey returns DELETE FROM q WHERE k1 = ? AND ... .
func buildDeleteByKey(q string, key []*event.Column) string {
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(q)
	writeWhere(&b, key, len(key))
	return b.String()
}

// buildNewer returns the query newer-wins asks the target: 1 when the
// source value is newer than the target row's column, 0 when older, 2 on a
// tie. A NULL target value loses to any source value; a NULL source value
// loses to any target value. Arguments: the source value twice, then the
// key values.
func buildNewer(q string, col *event.Column, key []*event.Column) string {
	var b strings.Builder
	c, ph := mysqlconn.QuoteIdent(col.Name), col.Placeholder()
	b.WriteString("SELECT CASE WHEN ")
	b.WriteString(c)
	b.WriteString(" IS NULL THEN 1 WHEN ")
	b.WriteString(ph)
	b.WriteString(" IS NULL THEN 0 WHEN ")
	b.WriteString(c)
	b.WriteString(" = ")
	b.WriteString(ph)
	b.WriteString(" THEN 2 WHEN ")
	b.WriteString(c)
	b.WriteString(" < ")
	b.WriteString(ph)
	b.WriteString(" THEN 1 ELSE 0 END FROM ")
	b.WriteString(q)
	writeWhere(&b, key, len(key))
	return b.String()
}

// The checkpoint statements. They are text, not prepared, because each
// rides in one round trip with BEGIN or COMMIT (multiStatements).

// beginSQL starts a target transaction whose first statement writes the
// worker's slot row of drc_meta.apply_checkpoint. Being first, that row
// names the transaction's origin to the target region's own replicator,
// which then does not publish the transaction back (loop prevention).
// The slot row, not the partition's checkpoint row, is written first so
// that concurrent workers do not queue on one row lock; see doc.go.
func beginSQL(slot slotKey, offset int64, origin, gtid string) string {
	var b strings.Builder
	b.WriteString("START TRANSACTION; INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid) VALUES (")
	b.WriteString(mysqlconn.QuoteString(slot.cluster))
	b.WriteString(", ")
	b.WriteString(strconv.Itoa(slot.part))
	b.WriteString(", ")
	b.WriteString(strconv.FormatInt(offset, 10))
	b.WriteString(", '', ")
	b.WriteString(mysqlconn.QuoteString(origin))
	b.WriteString(", ")
	b.WriteString(mysqlconn.QuoteString(gtid))
	b.WriteString(") ON DUPLICATE KEY UPDATE kafka_offset = VALUES(kafka_offset), origin = VALUES(origin), last_gtid = VALUES(last_gtid)")
	return b.String()
}

// checkpointSQL writes the partition's checkpoint row: the offset of the
// next record to consume and the source GTID set applied through.
func checkpointSQL(c Checkpoint) string {
	var b strings.Builder
	b.WriteString("INSERT INTO drc_meta.apply_checkpoint (cluster, part, kafka_offset, gtid_set, origin, last_gtid) VALUES (")
	b.WriteString(mysqlconn.QuoteString(c.Cluster))
	b.WriteString(", ")
	b.WriteString(strconv.Itoa(int(c.Part)))
	b.WriteString(", ")
	b.WriteString(strconv.FormatInt(c.Offset, 10))
	b.WriteString(", ")
	b.WriteString(mysqlconn.QuoteString(c.GTIDSet))
	b.WriteString(", ")
	b.WriteString(mysqlconn.QuoteString(c.Origin))
	b.WriteString(", ")
	b.WriteString(mysqlconn.QuoteString(c.LastGTID))
	b.WriteString(") ON DUPLICATE KEY UPDATE kafka_offset = VALUES(kafka_offset), gtid_set = VALUES(gtid_set), origin = VALUES(origin), last_gtid = VALUES(last_gtid)")
	return b.String()
}

// commitSQL writes the checkpoint and commits, in one round trip.
func commitSQL(c Checkpoint) string { return checkpointSQL(c) + "; COMMIT" }
