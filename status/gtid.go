package status

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/replicator"
)

// transactionsBehind counts the source transactions in published that the
// checkpoint's GTID set (in published's flavor) lacks.
//
// MySQL: the GTIDs in published's intervals and not in the checkpoint's,
// exactly. MariaDB: per domain, published's sequence number minus the
// checkpoint's; sequence numbers of a domain count its transactions
// (gtid_strict_mode), so this is exact for the usual one-domain source.
//
// TODO(gtid): this counts on go-mysql's types; it belongs to internal/gtid
// as a method of gtid.Set (its Subtract keeps MariaDB positions, not
// counts), where status should then call it.
func transactionsBehind(published replicator.Position, checkpoint string) (int64, error) {
	cp, err := mysql.ParseGTIDSet(published.Flavor(), checkpoint)
	if err != nil {
		return 0, fmt.Errorf("checkpoint gtid_set %q: %w", checkpoint, err)
	}
	switch pub := published.GoMySQL().(type) {
	case *mysql.MariadbGTIDSet:
		have, ok := cp.(*mysql.MariadbGTIDSet)
		if !ok {
			return 0, fmt.Errorf("checkpoint gtid_set %q is not a MariaDB GTID set", checkpoint)
		}
		var n int64
		for domain, g := range pub.Sets {
			var done uint64
			if h, ok := have.Sets[domain]; ok {
				done = h.SequenceNumber
			}
			if g.SequenceNumber > done {
				n += int64(g.SequenceNumber - done)
			}
		}
		return n, nil
	case *mysql.MysqlGTIDSet:
		have, ok := cp.(*mysql.MysqlGTIDSet)
		if !ok {
			return 0, fmt.Errorf("checkpoint gtid_set %q is not a MySQL GTID set", checkpoint)
		}
		var n int64
		for sid, tags := range *pub {
			for tag, ivs := range tags {
				n += uncovered(ivs, (*have)[sid][tag])
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("published position %s: unknown GTID set type %T", published, published.GoMySQL())
}

// uncovered counts the GTIDs in want that have does not contain. Both are
// go-mysql interval slices: [Start, Stop), sorted, not overlapping.
func uncovered(want, have mysql.IntervalSlice) int64 {
	var n int64
	for _, w := range want {
		n += w.Stop - w.Start
		for _, h := range have {
			lo, hi := max(w.Start, h.Start), min(w.Stop, h.Stop)
			if hi > lo {
				n -= hi - lo
			}
		}
	}
	return n
}
