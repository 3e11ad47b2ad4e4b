package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
)

// TestApplierConflicts makes b diverge from a in each way (a duplicate key
// on insert, a missing row for an update and for a delete, a different
// before image), under each policy, and checks the resolution and the
// record in drc_meta.conflicts.
func TestApplierConflicts(t *testing.T) {
	p := newApplyPair(t, func(c *applier.Config) {
		c.Tables = []applier.TablePolicy{
			{Table: "cf.tw", Conflict: "target-wins"},
			{Table: "cf.nw", Conflict: "newer-wins:v"},
			{Table: "cf.st", Conflict: "stop"},
		}
	})
	tables := []string{"sw", "tw", "nw"}
	p.a.Exec(t, "CREATE DATABASE cf")
	for _, tbl := range append(tables, "st") {
		p.a.Exec(t, fmt.Sprintf("CREATE TABLE cf.%s (id INT PRIMARY KEY, v INT, note VARCHAR(20))", tbl))
	}
	for _, tbl := range tables {
		p.a.Exec(t, fmt.Sprintf("INSERT INTO cf.%s VALUES (2,1,'src'),(3,1,'src'),(4,1,'src')", tbl))
	}
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)
	for _, tbl := range tables {
		p.b.Exec(t,
			fmt.Sprintf("INSERT INTO cf.%s VALUES (1,100,'target')", tbl),
			fmt.Sprintf("DELETE FROM cf.%s WHERE id IN (2,3)", tbl),
			fmt.Sprintf("UPDATE cf.%s SET note='target' WHERE id = 4", tbl))
		p.a.Exec(t,
			fmt.Sprintf("INSERT INTO cf.%s VALUES (1,5,'src')", tbl), // duplicate_key
			fmt.Sprintf("UPDATE cf.%s SET v = 2 WHERE id = 2", tbl),  // missing_row
			fmt.Sprintf("DELETE FROM cf.%s WHERE id = 3", tbl),       // missing_row
			fmt.Sprintf("UPDATE cf.%s SET v = 2 WHERE id = 4", tbl))  // before_mismatch
	}
	waitApplied(t, p.a, p.b, p.cluster, 60*time.Second)

	want := map[string]string{
		"sw": "1:5:src 2:2:src 4:2:src",
		"tw": "1:100:target 4:1:target",
		"nw": "1:100:target 2:2:src 4:2:src", // v: 5 < 100 keeps the target; 2 > 1 applies the source
	}
	for _, tbl := range tables {
		if got := tableText(t, p.b, "cf."+tbl); got != want[tbl] {
			t.Errorf("b cf.%s = %q, want %q", tbl, got, want[tbl])
		}
	}
	wantKinds := map[string]string{
		"sw": "insert duplicate_key source_applied, update missing_row source_applied, delete missing_row source_applied, update before_mismatch source_applied",
		"tw": "insert duplicate_key target_kept, update missing_row target_kept, delete missing_row target_kept, update before_mismatch target_kept",
		"nw": "insert duplicate_key target_kept, update missing_row source_applied, delete missing_row source_applied, update before_mismatch source_applied",
	}
	db := p.b.Open(t, "")
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT op, kind, resolution, COALESCE(pk,''), COALESCE(source_before,''), COALESCE(source_after,''), COALESCE(target_row,'')
			FROM drc_meta.conflicts WHERE cluster = ? AND db = 'cf' AND tbl = ? ORDER BY id`, p.cluster, tbl)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var op, kind, res, pk, before, after, target string
			if err := rows.Scan(&op, &kind, &res, &pk, &before, &after, &target); err != nil {
				t.Fatal(err)
			}
			got = append(got, op+" "+kind+" "+res)
			if op == "update" && kind == "before_mismatch" {
				if pk != "[4]" || before != `{"id":4,"v":1,"note":"src"}` || after != `{"id":4,"v":2,"note":"src"}` ||
					target != `{"id":4,"v":1,"note":"target"}` { // numbers as numbers, like the source images
					t.Errorf("cf.%s before_mismatch row: pk=%s before=%s after=%s target=%s", tbl, pk, before, after, target)
				}
			}
		}
		rows.Close()
		// Independent transactions run in parallel: ids follow execution
		// order, not commit order.
		sortStrings(got)
		w := strings.Split(wantKinds[tbl], ", ")
		sortStrings(w)
		if g := strings.Join(got, ", "); g != strings.Join(w, ", ") {
			t.Errorf("conflicts on cf.%s:\n got %s\nwant %s", tbl, g, strings.Join(w, ", "))
		}
	}
	if n := p.app.counter(t, "drc_applier_conflicts_total"); n != 12 {
		t.Errorf("drc_applier_conflicts_total = %v, want 12", n)
	}

	// stop: the applier stops, and the transaction is not half-applied.
	p.b.Exec(t, "INSERT INTO cf.st VALUES (1,100,'target')")
	p.a.Exec(t, "BEGIN; INSERT INTO cf.sw VALUES (10,1,'src'); INSERT INTO cf.st VALUES (1,5,'src'); COMMIT")
	err := p.app.wait(t, 60*time.Second)
	if !errors.Is(err, applier.ErrConflict) || !applier.IsPermanent(err) {
		t.Fatalf("applier stopped with %v, want a permanent ErrConflict", err)
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM cf.sw WHERE id = 10"); n != 0 {
		t.Errorf("the stopped transaction's other row was applied")
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM drc_meta.conflicts WHERE tbl = 'st' AND resolution = 'stopped'"); n != 1 {
		t.Errorf("stopped conflicts recorded = %d, want 1", n)
	}
}

// tableText renders id:v:note rows in id order.
func tableText(t *testing.T, m *harness.Server, tbl string) string {
	t.Helper()
	rows, err := m.Open(t, "").Query("SELECT id, v, note FROM " + tbl + " ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, v int
		var note string
		if err := rows.Scan(&id, &v, &note); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%d:%s", id, v, note))
	}
	return strings.Join(out, " ")
}

// TestApplierStopsOnUndecodableRecord produces a garbage record inside a
// transaction: the applier stops naming topic, partition and offset, and
// applies nothing of that transaction.
func TestApplierStopsOnUndecodableRecord(t *testing.T) {
	t.Run("small transaction", func(t *testing.T) { testUndecodableRecord(t, 1, 2) })
	// A transaction over LargeTxnBytes streams to its worker as it arrives;
	// the bad record must stop it, roll it back, and not hang the session.
	t.Run("streaming transaction", func(t *testing.T) { testUndecodableRecord(t, 3000, 1<<20) })
}

// testUndecodableRecord sends a one-row transaction, then a transaction of
// rows row records with an undecodable one before its last, and checks
// the applier stops at it with only the first transaction applied.
func testUndecodableRecord(t *testing.T, rows, largeTxnBytes int) {
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("c")
	topic := "drc." + cluster
	k.CreateTopic(t, topic, 1)
	b.Exec(t, "CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY)")

	row := func(gtid string, seq int, last bool, id int) string {
		end := ""
		if last {
			end = fmt.Sprintf(`,"gtid_set":"1-1-%s"`, gtid[4:])
		}
		return fmt.Sprintf(`{"v":1,"cluster":%q,"region":"a","origin":"a","gtid":%q,"ts":1,"seq":%d,"last":%v,"op":"insert","db":"d","table":"t","pk":["id"],"types":{"id":"int"},"after":{"id":%d}%s}`,
			cluster, gtid, seq, last, id, end)
	}
	prod := newTxnProducer(t, k)
	send := func(values ...string) {
		t.Helper()
		if err := prod.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := prod.CommitTxn(); err != nil {
			t.Fatal(err)
		}
	}
	send(row("1-1-1", 0, true, 1)) // offset 0; 1 is the commit marker
	var big []string
	for i := 0; i < rows; i++ {
		big = append(big, row("1-1-2", i, false, 10+i)) // offsets 2 ..
	}
	big = append(big, `{"v":1,"op":"insert","garbage`, row("1-1-2", rows+1, true, 9)) // 2+rows, 3+rows
	send(big...)

	ac := applyConfig(b, k, cluster, topic)
	ac.LargeTxnBytes = largeTxnBytes
	ra := startApplier(t, ac)
	err := ra.wait(t, 60*time.Second)
	if !errors.Is(err, applier.ErrDecode) {
		t.Fatalf("applier stopped with %v, want ErrDecode", err)
	}
	for _, s := range []string{"topic " + topic, "partition 0", fmt.Sprintf("offset %d", 2+rows)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if got := tableText2(t, b); got != "1" {
		t.Errorf("b d.t = %q, want only the first transaction's row", got)
	}
}

func tableText2(t *testing.T, m *harness.Server) string {
	t.Helper()
	rows, err := m.Open(t, "").Query("SELECT id FROM d.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		out = append(out, id)
	}
	return strings.Join(out, " ")
}
