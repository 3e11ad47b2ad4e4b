package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
)

// TestLargeRows: rows whose records are larger than a Kafka record (16
// MiB) are published as fragments and applied whole: a 13 MB binary
// LONGBLOB insert (17 MB as base64) and its update to 64 MB (before and
// after images: about 100 MB of JSON), between small rows. Both servers
// accept 256 MB packets, as a DBA running such rows sets them.
func TestLargeRows(t *testing.T) {
	big := harness.ServerOptions{ExtraArgs: []string{"--max-allowed-packet=256M"}}
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1, ExtraArgs: big.ExtraArgs})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2, ExtraArgs: big.ExtraArgs})
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

// TestReplicatorPassesOverForeignRecords: records that are not the
// cluster's own at the tail of its topic (a final record without gtid_set,
// another cluster's, not JSON) do not keep a restarted
// replicator from starting, and it resumes where its own records end:
// nothing is skipped, and b ends equal to a.
func TestReplicatorPassesOverForeignRecords(t *testing.T) {
	p := newApplyPair(t, nil)
	p.a.Exec(t, "CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY, v INT)", "INSERT INTO f.t VALUES (1, 1)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	p.rep.stop(t)
	// Written while the replicator is stopped: they must be published.
	p.a.Exec(t, "INSERT INTO f.t VALUES (2, 2)", "UPDATE f.t SET v = 10 WHERE id = 1")
	p.k.Produce(t, p.topic,
		`{"v":1,"cluster":"`+p.cluster+`","last":true}`,
		`{"v":1,"cluster":"someone-else","last":true,"gtid_set":"1-1-999999"}`,
		"not json at all")
	rc := replicatorConfig(p.a, p.k, p.cluster, p.topic)
	p.rep = startReplicator(t, rc)
	// (The applier stops at the first foreign record, which it cannot
	// decode; that is the applier's rule, not this test's subject.)
	p.a.Exec(t, "INSERT INTO f.t VALUES (3, 3)")
	recs := waitOwnPublished(t, p.k, p.topic, p.cluster, p.a.BinlogGTIDPos(t))
	var ids []string
	for _, r := range recs {
		if r.DB == "f" && r.Op != "ddl" {
			ids = append(ids, string(r.After["id"]))
		}
	}
	if got := strings.Join(ids, ","); got != "1,2,1,3" {
		t.Errorf("published rows of f.t by id: %s, want 1,2,1,3 (insert 1, then the rows written while stopped, then 3)", got)
	}
}

// waitOwnPublished waits until the records of cluster in topic reach pos,
// passing over the others, and returns the data records of cluster.
func waitOwnPublished(t *testing.T, k *harness.Kafka, topic, cluster, pos string) []wireRecord {
	t.Helper()
	want, err := gtid.Parse(gtidFlavor(pos), pos)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var own []*sarama.ConsumerMessage
		for _, m := range k.ConsumeReadCommitted(t, topic, 1<<30, 2*time.Second) {
			var r struct {
				Cluster string `json:"cluster"`
				GTIDSet string `json:"gtid_set"`
				Last    bool   `json:"last"`
			}
			if json.Unmarshal(m.Value, &r) == nil && r.Cluster == cluster && (!r.Last || r.GTIDSet != "") {
				own = append(own, m)
			}
		}
		recs := decodeAll(t, own)
		if n := len(recs); n > 0 && recs[n-1].Last {
			got, err := gtid.Parse(gtidFlavor(pos), recs[n-1].GTIDSet)
			if err != nil {
				t.Fatal(err)
			}
			if got.Contains(want) {
				return dataRecords(recs)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the records of %s in %s do not reach %s within a minute", cluster, topic, pos)
		}
	}
}
