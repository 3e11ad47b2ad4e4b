package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestReplicatorNeverSplitsATransaction reproduces the conditions under
// which a binlog transaction was once committed to Kafka across two Kafka
// transactions: a replicator catching up a backlog (so its publisher is
// busy and the reader keeps filling a batch that already ends at a
// transaction boundary) while the binlog stream pauses inside transactions
// for longer than flush_interval. The proxy between the replicator and the
// source delays every chunk the source sends, and flush_interval is 1 ms.
// Read with read_committed, every transaction's records must have
// consecutive offsets (no commit marker inside), and the topic must hold
// each source transaction once, in order.
func TestReplicatorNeverSplitsATransaction(t *testing.T) {
	src := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 61, GTIDDomainID: 61})
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("drc_split")
	src.Exec(t, "CREATE DATABASE sp", "CREATE TABLE sp.t (id INT PRIMARY KEY, pad VARCHAR(1000))")
	start := src.BinlogGTIDPos(t)

	// The backlog: multi-row transactions of about 20 KB, each spanning
	// several rows events and several network reads.
	const txns, rowsPerTxn = 400, 20
	pad := strings.Repeat("x", 1000)
	db := src.Open(t, "")
	for i := range txns {
		var vals []string
		for j := range rowsPerTxn {
			vals = append(vals, fmt.Sprintf("(%d, '%s')", i*rowsPerTxn+j, pad))
		}
		if _, err := db.Exec("INSERT INTO sp.t VALUES " + strings.Join(vals, ",")); err != nil {
			t.Fatal(err)
		}
	}
	end := src.BinlogGTIDPos(t)

	proxy := harness.StartProxy(t, src.Addr())
	proxy.SetDelay(2 * time.Millisecond)
	cfg := replicatorConfig(src, k, "split", topic)
	cfg.Host, cfg.Port = proxy.Host, proxy.Port
	cfg.FlushInterval = time.Millisecond
	cfg.HeartbeatInterval = time.Minute // only the backlog
	cfg.StartGTID = start
	rr := startReplicator(t, cfg)
	recs := waitPublished(t, k, topic, end, 3*time.Minute)
	rr.stop(t)

	data := dataRecords(recs)
	if n := len(data); n != txns*rowsPerTxn {
		t.Errorf("published %d row records, want %d", n, txns*rowsPerTxn)
	}
	assertExactlyOnce(t, recs, sourceDataGTIDs(t, db, "sp"))
}
