package event

import (
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// SyncerConfig sets the decoding options of a go-mysql BinlogSyncer (or
// BinlogParser) that the encoder relies on, and leaves the connection
// options alone. The encoder rejects, with ErrUnencodable, the Go types the
// other settings would produce, rather than encode them inexactly.
//
//   - ParseTime false: temporal values arrive as strings. time.Time cannot
//     hold zero dates or the year 0 and loses a DATETIME's digit count.
//   - TimestampStringLocation UTC: go-mysql renders TIMESTAMP (seconds
//     since the epoch in the binlog) in this zone; nil would mean the
//     replicator host's local zone. The applier writes them back with
//     time_zone='+00:00' (SessionSQL).
//   - UseDecimal false: DECIMAL arrives as the exact string MySQL stores,
//     with all its scale digits.
//   - UseFloatWithTrailingZero false: FLOAT and DOUBLE arrive as float32
//     and float64.
//   - RenderJSONAsMySQLText true: MySQL's binary JSON is rendered as the
//     server would print it, keeping 1.0 a double (plain json.Marshal
//     would turn it into 1, an integer, on re-insert) and object key order.
func SyncerConfig(cfg *replication.BinlogSyncerConfig) {
	cfg.ParseTime = false
	cfg.TimestampStringLocation = time.UTC
	cfg.UseDecimal = false
	cfg.UseFloatWithTrailingZero = false
	cfg.RenderJSONAsMySQLText = true
}

// ParserConfig applies the options of SyncerConfig to a BinlogParser, as
// used to read binlog files.
func ParserConfig(p *replication.BinlogParser) {
	p.SetParseTime(false)
	p.SetTimestampStringLocation(time.UTC)
	p.SetUseDecimal(false)
	p.SetUseFloatWithTrailingZero(false)
	p.SetRenderJSONAsMySQLText(true)
}
