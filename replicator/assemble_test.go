package replicator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator/event"
)

// canary is the password of the account statement in the testdata
// workload (testdata/gen).
const canary = "canary-h10-7f3a"

// workloadFiles are the binlog files testdata/gen wrote, by flavor.
var workloadFiles = []struct{ flavor, file string }{
	{gtid.MariaDB, "mariadb-workload.binlog"},
	{gtid.MySQL, "mysql-workload.binlog"},
}

// binlogFile is a binlog file of testdata/ decoded as the replicator's
// syncer decodes the stream: its events, the GTID set it starts from, and
// its transactions' GTIDs in order.
type binlogFile struct {
	events []*replication.BinlogEvent
	start  Position
	gtids  []string
}

func readBinlogFile(t *testing.T, flavor, name string) binlogFile {
	t.Helper()
	p := replication.NewBinlogParser()
	event.ParserConfig(p)
	f := binlogFile{}
	var err error
	if f.start, err = gtid.Parse(flavor, ""); err != nil {
		t.Fatal(err)
	}
	err = p.ParseFile(filepath.Join("testdata", name), 0, func(e *replication.BinlogEvent) error {
		f.events = append(f.events, e)
		switch ev := e.Event.(type) {
		case *replication.MariadbGTIDListEvent:
			// The GTID state before the file's first transaction.
			var set []string
			for _, g := range ev.GTIDs {
				set = append(set, g.String())
			}
			f.start, err = gtid.Parse(flavor, strings.Join(set, ","))
			return err
		case *replication.PreviousGTIDsEvent:
			f.start, err = gtid.Parse(flavor, ev.GTIDSets)
			return err
		case *replication.MariadbGTIDEvent:
			f.gtids = append(f.gtids, ev.GTID.String())
		case *replication.GTIDEvent:
			next, err := ev.GTIDNext()
			if err != nil {
				return err
			}
			f.gtids = append(f.gtids, next.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("parse testdata/%s: %v", name, err)
	}
	return f
}

// recordingSink is a recordSink that keeps what it is given, each record
// decoded from its JSON (the assembler reuses its records).
type recordingSink struct {
	open  []recorded
	out   []recordedRun
	drops []string
	// drop answers Drop (nil: it succeeds).
	drop func(gtid string) error
}

type recorded struct {
	p    int32
	rec  *event.Record
	json string
}

// recordedRun is the records of one transaction (marker false) or one run
// of position markers.
type recordedRun struct {
	gtid   string
	ts     int64
	marker bool
	recs   []recorded
}

func (s *recordingSink) Record(_ context.Context, p int32, rec *event.Record) error {
	data, err := rec.AppendJSON(nil)
	if err != nil {
		return err
	}
	dec, err := event.Decode(data)
	if err != nil {
		return fmt.Errorf("decode %s: %w", data, err)
	}
	s.open = append(s.open, recorded{p: p, rec: dec, json: string(data)})
	return nil
}

func (s *recordingSink) Commit(_ context.Context, gtid string, ts int64) error {
	s.out = append(s.out, recordedRun{gtid: gtid, ts: ts, recs: s.open})
	s.open = nil
	return nil
}

func (s *recordingSink) Marker(context.Context) error {
	s.out = append(s.out, recordedRun{marker: true, recs: s.open})
	s.open = nil
	return nil
}

func (s *recordingSink) Drop(gtid string) error {
	if s.drop != nil {
		if err := s.drop(gtid); err != nil {
			return err
		}
	}
	s.drops = append(s.drops, gtid)
	s.open = nil
	return nil
}

// testAssembler returns an assembler of cluster c in region, with shop.audit
// filtered out, reading on from start, and the reasons it counted
// transactions as not published.
func testAssembler(region string, partitions int, start Position, sink recordSink) (*assembler, map[string]int) {
	filter, err := Filter{Exclude: []string{"shop.audit"}}.compile()
	if err != nil {
		panic(err)
	}
	skipped := map[string]int{}
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := newAssembler(assemblerConfig{
		Cluster: "c", Region: region, Partitions: partitions, Filter: filter,
		Now:     func() time.Time { return clock },
		Skipped: func(reason string) { skipped[reason]++ },
	}, start, sink)
	return a, skipped
}

func replay(t *testing.T, a *assembler, evs []*replication.BinlogEvent) {
	t.Helper()
	ctx := context.Background()
	for i, ev := range evs {
		if err := a.handle(ctx, ev); err != nil {
			t.Fatalf("event %d (%s): %v", i, ev.Header.EventType, err)
		}
	}
}

// summary is a transaction's records as "op db.table" in order, with the
// partition when there are several.
func summary(run recordedRun, partitions int) string {
	var s []string
	for _, r := range run.recs {
		x := string(r.rec.Op) + " " + r.rec.DB + "." + r.rec.Table
		if partitions > 1 {
			x = fmt.Sprintf("p%d:%s", r.p, x)
		}
		s = append(s, x)
	}
	return strings.Join(s, ", ")
}

// The workload after drcmeta.Ensure's transactions, one entry per binlog
// transaction (testdata/gen's workload), as the assembler of region b
// publishes it with one partition: "" publishes nothing. fromA are the
// transactions drc applied from region a, published in region a only.
var (
	workloadPublished = []string{
		"ddl shop.",          // CREATE DATABASE shop
		"ddl shop.orders",    // CREATE TABLE shop.orders
		"",                   // CREATE TABLE shop.audit: filtered
		"insert shop.orders", // id 1
		"insert shop.orders, insert shop.orders, update shop.orders, delete shop.orders", // the multi-statement transaction
		"",                             // shop.audit rows only
		"ddl shop.orders",              // ALTER TABLE
		"heartbeat drc_meta.heartbeat", // heartbeat insert
		"heartbeat drc_meta.heartbeat", // heartbeat update
		"",                             // CREATE USER
		"",                             // GRANT
		"insert shop.orders",           // the large row
		"",                             // from a, checkpoint first
		"",                             // from a, checkpoint last: dropped
		"",                             // DDL from a
		"delete shop.orders",           // id 2
	}
	fromA = map[int]string{
		12: "insert shop.orders",
		13: "insert shop.orders, insert shop.orders",
		14: "ddl shop.orders",
	}
)

// TestAssemblerReplaysBinlog feeds real binlog files of both flavors to the
// assembler and checks every transaction it publishes or passes over, the
// framing of their records (gtid, seq, last, gtid_set), the images, and
// what it counts as not published.
func TestAssemblerReplaysBinlog(t *testing.T) {
	for _, wf := range workloadFiles {
		f := readBinlogFile(t, wf.flavor, wf.file)
		for _, tc := range []struct {
			region     string
			partitions int
		}{{"b", 1}, {"b", 2}, {"a", 1}} {
			t.Run(fmt.Sprintf("%s/region=%s/partitions=%d", wf.flavor, tc.region, tc.partitions), func(t *testing.T) {
				testAssemblerReplay(t, f, tc.region, tc.partitions)
			})
		}
	}
}

func testAssemblerReplay(t *testing.T, f binlogFile, region string, partitions int) {
	sink := &recordingSink{}
	a, skipped := testAssembler(region, partitions, f.start, sink)
	replay(t, a, f.events)
	if len(sink.open) > 0 {
		t.Fatalf("%d records after the last boundary", len(sink.open))
	}

	// What each binlog transaction published.
	byGTID := map[string]recordedRun{}
	for _, run := range sink.out {
		if run.marker {
			t.Fatalf("a position marker while replaying: %+v", run)
		}
		if _, dup := byGTID[run.gtid]; dup {
			t.Fatalf("transaction %s committed twice", run.gtid)
		}
		byGTID[run.gtid] = run
	}
	n := len(f.gtids) - len(workloadPublished)
	if n < 1 {
		t.Fatalf("the file has %d transactions, fewer than the workload's", len(f.gtids))
	}
	pos := f.start.Clone()
	for i, g := range f.gtids[:n] {
		if err := pos.Add(g); err != nil {
			t.Fatal(err)
		}
		if run, ok := byGTID[g]; ok {
			t.Errorf("drc_meta setup transaction %d (%s) published: %s", i, g, summary(run, 1))
		}
	}
	for i, g := range f.gtids[n:] {
		if err := pos.Add(g); err != nil {
			t.Fatal(err)
		}
		want := workloadPublished[i]
		if s, ok := fromA[i]; ok && region == "a" {
			want = s
		}
		run := byGTID[g]
		got := summary(run, 1)
		if strings.HasPrefix(want, "heartbeat") && partitions > 1 {
			// Every partition gets the heartbeat.
			want = strings.TrimSuffix(strings.Repeat(want+", ", partitions), ", ")
		}
		if got != want {
			t.Errorf("workload transaction %d (%s): published %q, want %q", i, g, got, want)
			continue
		}
		if want != "" {
			checkFraming(t, run, g, pos.String(), region, partitions, a)
		}
	}
	if !a.pos.Equal(pos) {
		t.Errorf("position after the file = %s, want %s", a.pos, pos)
	}

	// Images.
	w := f.gtids[n:]
	checkImages(t, byGTID[w[3]].recs[0], nil, map[string]string{"id": "1", "customer": `"ann"`, "total": `"10.50"`, "note": "null"})
	multi := byGTID[w[4]].recs
	checkImages(t, multi[2], map[string]string{"id": "1", "total": `"10.50"`}, map[string]string{"id": "1", "total": `"11.00"`})
	checkImages(t, multi[3], map[string]string{"id": "3", "customer": `"cy"`}, nil)
	if alter := byGTID[w[6]].recs[0].rec; alter.SQL != "ALTER TABLE shop.orders ADD COLUMN status VARCHAR(8) NOT NULL DEFAULT 'new'" {
		t.Errorf("ALTER record's statement %q", alter.SQL)
	}
	checkImages(t, byGTID[w[8]].recs[0], nil, map[string]string{"region": `"b"`, "ts": `"1700000000000001"`})
	if big, ok := byGTID[w[11]].recs[0].rec.After.Value("note"); !ok || len(big) != 40002 {
		t.Errorf("the large row's note: %d bytes, want 40000 and quotes", len(big))
	}
	// Rows decoded after the ALTER have its column.
	checkImages(t, byGTID[w[15]].recs[0], map[string]string{"id": "2", "status": `"new"`}, nil)

	// Account statements are read, counted, and appear nowhere.
	for _, run := range sink.out {
		for _, r := range run.recs {
			if strings.Contains(r.json, canary) || strings.Contains(r.json, "'app'") {
				t.Errorf("record of %s holds the account statement: %s", run.gtid, r.json)
			}
		}
	}
	want := map[string]int{"filtered": n + 2, "account": 2, "loop": 3}
	if region == "a" {
		want["loop"] = 0
		delete(want, "loop")
	}
	if fmt.Sprint(skipped) != fmt.Sprint(want) {
		t.Errorf("not published, by reason: %v, want %v", skipped, want)
	}
	// The transaction whose checkpoint write came after its rows was taken
	// back; nothing else was.
	if wantDrops := []string{w[13]}; region == "b" && !slices.Equal(sink.drops, wantDrops) {
		t.Errorf("dropped %v, want %v", sink.drops, wantDrops)
	} else if region == "a" && len(sink.drops) > 0 {
		t.Errorf("region a dropped %v, its own transactions", sink.drops)
	}

	// Idle now: with several partitions, the ones the last transaction
	// did not reach get a position marker naming the position.
	hb := &replication.BinlogEvent{Header: &replication.EventHeader{}, Event: &replication.HeartbeatEvent{}}
	if err := a.handle(context.Background(), hb); err != nil {
		t.Fatal(err)
	}
	markers := sink.out[len(byGTID):]
	if partitions == 1 {
		if len(markers) > 0 {
			t.Errorf("idle after a published transaction: %d marker runs, want none", len(markers))
		}
		return
	}
	if len(markers) != 1 || len(markers[0].recs) != partitions-1 {
		t.Fatalf("idle: marker runs %+v, want one with a marker in %d partitions", markers, partitions-1)
	}
	for _, r := range markers[0].recs {
		if r.p == a.partition("shop") || r.rec.Op != event.OpHeartbeat || r.rec.After != nil || !r.rec.Last || r.rec.GTIDSet != pos.String() {
			t.Errorf("marker %s in partition %d, want a last heartbeat without image, gtid_set %s, outside partition %d", r.json, r.p, pos, a.partition("shop"))
		}
	}
}

// checkFraming checks a published transaction's records: each partition's
// run has seq from 0, last on its final record only, and gtid_set (the
// position after the transaction) there only.
func checkFraming(t *testing.T, run recordedRun, gtid, set, region string, partitions int, a *assembler) {
	t.Helper()
	seq := map[int32]int{}
	lastAt := map[int32]int{}
	for i, r := range run.recs {
		lastAt[r.p] = i
	}
	for i, r := range run.recs {
		rec := r.rec
		if rec.GTID != gtid || rec.Cluster != "c" || rec.Region != region || rec.Origin != region || rec.TS != run.ts || rec.TS <= 0 {
			t.Errorf("%s record %d: %s; want gtid %s, cluster c, region and origin %s, ts %d", gtid, i, r.json, gtid, region, run.ts)
		}
		if rec.Seq != seq[r.p] {
			t.Errorf("%s record %d: seq %d in partition %d, want %d", gtid, i, rec.Seq, r.p, seq[r.p])
		}
		seq[r.p]++
		last := lastAt[r.p] == i
		if rec.Last != last || (rec.GTIDSet == set) != last || !last && rec.GTIDSet != "" {
			t.Errorf("%s record %d: last %v gtid_set %q; want last %v, gtid_set %q on the last record only", gtid, i, rec.Last, rec.GTIDSet, last, set)
		}
		if rec.Op != event.OpHeartbeat && r.p != a.partition(rec.DB) {
			t.Errorf("%s record %d in partition %d, want %d (its database's)", gtid, i, r.p, a.partition(rec.DB))
		}
	}
	if rec := run.recs[0].rec; rec.Op == event.OpHeartbeat && len(seq) != partitions {
		t.Errorf("heartbeat %s in %d partitions, want all %d", gtid, len(seq), partitions)
	}
}

// checkImages checks columns of a record's before and after images (nil:
// the image must be absent), each value as its JSON.
func checkImages(t *testing.T, r recorded, before, after map[string]string) {
	t.Helper()
	for _, img := range []struct {
		name string
		row  *event.Row
		want map[string]string
	}{{"before", r.rec.Before, before}, {"after", r.rec.After, after}} {
		if (img.row == nil) != (img.want == nil) {
			t.Errorf("%s: %s image present = %v, want %v", r.json, img.name, img.row != nil, img.want != nil)
			continue
		}
		for col, want := range img.want {
			got, ok := img.row.Value(col)
			if !ok || string(got) != want {
				t.Errorf("%s %s.%s %s image: %s = %s, want %s", r.rec.Op, r.rec.DB, r.rec.Table, img.name, col, got, want)
			}
		}
	}
}

// TestAssemblerOperatorSkipOnBinlog passes over the multi-statement
// transaction (--skip-gtid): nothing of it is published, its tables are
// recorded, and the transactions around it are read as usual.
func TestAssemblerOperatorSkipOnBinlog(t *testing.T) {
	for _, wf := range workloadFiles {
		t.Run(wf.flavor, func(t *testing.T) {
			f := readBinlogFile(t, wf.flavor, wf.file)
			w := f.gtids[len(f.gtids)-len(workloadPublished):]
			sink := &recordingSink{}
			a, skipped := testAssembler("b", 1, f.start, sink)
			a.cfg.SkipGTID = w[4]
			var recorded []drcmeta.Skip
			a.cfg.RecordSkip = func(_ context.Context, s drcmeta.Skip) error { recorded = append(recorded, s); return nil }
			replay(t, a, f.events)
			var got []string
			for _, run := range sink.out {
				got = append(got, run.gtid)
			}
			var want []string
			for i, s := range workloadPublished {
				if s != "" && i != 4 {
					want = append(want, w[i])
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("published %v, want %v", got, want)
			}
			if len(recorded) != 1 || recorded[0].GTID != w[4] || strings.Join(recorded[0].Tables, ",") != "shop.orders,shop.audit" || recorded[0].Cluster != "c" {
				t.Errorf("recorded skips %+v, want one of %s on shop.orders,shop.audit", recorded, w[4])
			}
			if skipped["operator"] != 1 {
				t.Errorf("skipped{operator} = %d", skipped["operator"])
			}
			if last := f.gtids[len(f.gtids)-1]; !a.pos.Contains(mustParse(t, wf.flavor, last)) {
				t.Errorf("position %s lacks %s", a.pos, last)
			}
		})
	}
}

// A transaction applied by drc whose checkpoint write comes after rows the
// sink can no longer take back stops the assembler.
func TestAssemblerLateOriginAfterRecordsLeft(t *testing.T) {
	f := readBinlogFile(t, gtid.MariaDB, "mariadb-workload.binlog")
	late := f.gtids[len(f.gtids)-len(workloadPublished)+13]
	sink := &recordingSink{drop: func(g string) error {
		return permanent(fmt.Errorf("transaction %s: records already sent", g))
	}}
	a, _ := testAssembler("b", 1, f.start, sink)
	var err error
	for _, ev := range f.events {
		if err = a.handle(context.Background(), ev); err != nil {
			break
		}
	}
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), late) {
		t.Fatalf("replay = %v, want a permanent error naming %s", err, late)
	}
	if a.pos.Contains(mustParse(t, gtid.MariaDB, f.gtids[len(f.gtids)-1])) {
		t.Errorf("position %s moved past the failed transaction", a.pos)
	}
}

func mustParse(t *testing.T, flavor, s string) Position {
	t.Helper()
	p, err := gtid.Parse(flavor, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReaderBatchesWhatTheAssemblerPublishes replays the files through the
// reader, signing records: its batches hold exactly the assembler's
// records, in order, with a signature on each partition's last record of a
// transaction that verifies over that transaction's records there.
func TestReaderBatchesWhatTheAssemblerPublishes(t *testing.T) {
	key := []byte(strings.Repeat("k", event.MinKeyBytes))
	for _, wf := range workloadFiles {
		t.Run(wf.flavor, func(t *testing.T) {
			f := readBinlogFile(t, wf.flavor, wf.file)
			sink := &recordingSink{}
			a, _ := testAssembler("b", 2, f.start, sink)
			replay(t, a, f.events)
			var want []string
			for _, run := range sink.out {
				for _, r := range run.recs {
					want = append(want, r.json)
				}
			}

			r, err := New(Config{Cluster: "c", Region: "b", Brokers: []string{"x:1"}, Partitions: 2, Topic: "t",
				RecordKey: key, Filter: Filter{Exclude: []string{"shop.audit"}}}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			out := make(chan *batch, 64)
			rd := newReader(r, f.start, out, make(chan *batch, 4))
			for _, ev := range f.events {
				if err := rd.asm.handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := rd.send(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			close(out)
			var got []string
			signers := []*event.Signer{event.NewSigner(key, "t", 0), event.NewSigner(key, "t", 1)}
			for b := range out {
				for _, m := range b.msgs {
					k, _ := m.Key.Encode()
					v, _ := m.Value.Encode()
					got = append(got, string(v))
					var rec struct {
						Seq  int  `json:"seq"`
						Last bool `json:"last"`
					}
					if err := json.Unmarshal(v, &rec); err != nil {
						t.Fatal(err)
					}
					s := signers[m.Partition]
					if rec.Seq == 0 {
						s.Reset()
					}
					s.Add(k, v)
					var sig []byte
					for _, h := range m.Headers {
						if string(h.Key) == event.SignatureHeader {
							sig = h.Value
						}
					}
					if rec.Last != (sig != nil) || rec.Last && !s.Verify(sig) {
						t.Errorf("record %s: signature %x, want a valid one exactly on last records", v, sig)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("batches hold %d records, the assembler published %d:\n got %q\nwant %q", len(got), len(want), got, want)
			}
		})
	}
}
