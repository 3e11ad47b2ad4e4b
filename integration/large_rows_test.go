package integration

import (
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// TestLargeRows: rows whose records are larger than a Kafka record (16
// MiB) are published as fragments and applied whole: a 13 MB binary
// LONGBLOB insert (17 MB as base64) and its update to 64 MB (before and
// after images: about 100 MB of JSON), between small rows. Both servers
// accept 256 MB packets, as a DBA running such rows sets them.
func TestLargeRows(t *testing.T) {
	big := harness.MariaDBOptions{ExtraArgs: []string{"--max-allowed-packet=256M"}}
	a := harness.StartMariaDB(t, harness.MariaDBOptions{ServerID: 1, GTIDDomainID: 1, ExtraArgs: big.ExtraArgs})
	b := harness.StartMariaDB(t, harness.MariaDBOptions{ServerID: 2, GTIDDomainID: 2, ExtraArgs: big.ExtraArgs})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("big")
	topic := "drc." + cluster
	a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	rc := replicatorConfig(a, k, cluster, topic)
	rc.StartGTID = a.BinlogGTIDPos(t)
	startReplicator(t, rc)
	app := startApplier(t, applyConfig(b, k, cluster, topic))

	a.Exec(t, "CREATE DATABASE big", "CREATE TABLE big.t (id INT PRIMARY KEY, b LONGBLOB, note VARCHAR(10))",
		"INSERT INTO big.t VALUES (0, 'small', 'before')",
		// 0xFF00 is not UTF-8: the value travels as base64.
		"INSERT INTO big.t VALUES (1, UNHEX(REPEAT('FF00', 6500000)), 'insert')",
		"INSERT INTO big.t VALUES (2, 'small', 'between')",
		"UPDATE big.t SET b = UNHEX(REPEAT('FE01', 32 * 1024 * 1024)), note = 'update' WHERE id = 1",
		"INSERT INTO big.t VALUES (3, 'small', 'after')")
	waitApplied(t, a, b, cluster, 3*time.Minute)
	assertSameTables(t, a, b, "big.t")
	if n := queryInt(t, b, "SELECT LENGTH(b) FROM big.t WHERE id = 1"); n != 64<<20 {
		t.Errorf("b's row 1 holds %d bytes, want %d", n, 64<<20)
	}
	if n := conflictCount(t, b, cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}

	// The topic: the two big records came as fragments, each whole once
	// joined, and the transactions are consecutive.
	recs := dataRecords(decodeAll(t, k.ConsumeReadCommitted(t, topic, 1<<20, 10*time.Second)))
	checkTransactions(t, recs)
	var fragmented []int
	for _, r := range recs {
		if r.Offset > r.From {
			fragmented = append(fragmented, r.Size)
			if r.Size <= 16<<20 {
				t.Errorf("a %d-byte record at offset %d came in fragments", r.Size, r.From)
			}
		} else if r.Size > 16<<20 {
			t.Errorf("a %d-byte record at offset %d is one Kafka record", r.Size, r.Offset)
		}
	}
	if len(fragmented) != 2 {
		t.Errorf("fragmented records: %v (sizes), want the insert and the update", fragmented)
	}
	t.Logf("fragmented records, bytes: %v; applier rows: %v", fragmented, app.counter(t, "drc_applier_rows_total"))
}
