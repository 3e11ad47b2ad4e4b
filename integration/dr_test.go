package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/dr"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// drPair is a two-way pair in which b is read-only: a DR pair, with the
// config files of both pipelines (each naming the other as its reverse)
// and an application account on both servers that read_only binds.
type drPair struct {
	*twoWayPair
	fwd, rev string // a->b and b->a config files
}

func startDRPair(t *testing.T, flavor harness.Flavor, replicaIDs [2]uint32) *drPair {
	t.Helper()
	p := &drPair{twoWayPair: startTwoWayOn(t, flavor, replicaIDs)}
	p.b.Exec(t, "SET GLOBAL read_only = ON")
	dir := t.TempDir()
	p.fwd, p.rev = filepath.Join(dir, "a-to-b.yaml"), filepath.Join(dir, "b-to-a.yaml")
	write := func(path, cluster, topic string, src, dst *harness.Server, srcRegion, dstRegion, reverse string) {
		y := fmt.Sprintf(`cluster: %s
source: {region: %s, flavor: %s, host: %s, port: %d, user: %s, password: %s}
target: {region: %s, flavor: %s, host: %s, port: %d, user: %s, password: %s}
kafka: {brokers: ["%s"], topic: %s}
log: {format: json}
dr: {reverse_config: %s}
`, cluster, srcRegion, src.Flavor, src.Host, src.Port, src.User, src.Password,
			dstRegion, dst.Flavor, dst.Host, dst.Port, dst.User, dst.Password, p.k.Bootstrap, topic, reverse)
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.fwd, p.ca, p.t1, p.a, p.b, "a", "b", "b-to-a.yaml")
	write(p.rev, p.cb, p.t2, p.b, p.a, "b", "a", "a-to-b.yaml")

	p.a.Exec(t, "CREATE DATABASE sw", "CREATE TABLE sw.t (id BIGINT PRIMARY KEY, region CHAR(1) NOT NULL, n INT NOT NULL DEFAULT 0)")
	waitApplied(t, p.a, p.b, p.ca, 60*time.Second)
	// A switchover checks both pipelines' heartbeats; the reverse one may
	// still be retrying its first session (a topic just created).
	waitHeartbeat(t, p.a, "b", 60*time.Second)
	waitHeartbeat(t, p.b, "a", 60*time.Second)
	// Accounts are not replicated: each region creates its own.
	for _, s := range []*harness.Server{p.a, p.b} {
		s.Exec(t, "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pw'", "GRANT SELECT, INSERT, UPDATE, DELETE ON sw.* TO 'app'@'127.0.0.1'")
	}
	return p
}

// pair is the dr.Pair of the forward (or, reversed, the b->a) pipeline,
// for driving operations from the test as a library.
func (p *drPair) pair(t *testing.T, reversed bool) dr.Pair {
	t.Helper()
	a := dr.Server{Region: "a", Flavor: string(p.a.Flavor), Addr: p.a.Addr(), DB: p.a.Open(t, "")}
	b := dr.Server{Region: "b", Flavor: string(p.b.Flavor), Addr: p.b.Addr(), DB: p.b.Open(t, "")}
	pipeline := func(rc replicator.Config, src, dst dr.Server) dr.Pipeline {
		return dr.Pipeline{Cluster: rc.Cluster, Source: src, Target: dst,
			Tails: func(ctx context.Context) (map[int32]replicator.Position, error) {
				return replicator.PublishedTails(ctx, rc)
			},
			Unpublished: func(ctx context.Context, from, to replicator.Position, fn func(*event.Record) error) error {
				return replicator.Unpublished(ctx, rc, from, to, fn)
			},
			PublishPosition: func(ctx context.Context, expect, pos replicator.Position) error {
				return replicator.PublishPosition(ctx, rc, expect, pos)
			},
			ReplicatorUser: rc.User,
		}
	}
	fwd, rev := pipeline(p.ra, a, b), pipeline(p.rb, b, a)
	if reversed {
		return dr.Pair{Forward: rev, Reverse: fwd}
	}
	return dr.Pair{Forward: fwd, Reverse: rev}
}

// drWriter writes rows with fresh ids as the application would: to
// whichever region accepts writes, through an account read_only binds.
// Every acknowledged commit is remembered; a write whose outcome is
// unknown (its connection killed at the fence) is remembered apart.
type drWriter struct {
	dbs     map[string]*sql.DB
	next    atomic.Int64
	refused atomic.Int64
	mu      sync.Mutex
	acked   map[int64]string
	unknown map[int64]bool
}

func newDRWriter(t *testing.T, p *drPair) *drWriter {
	return &drWriter{
		dbs:   map[string]*sql.DB{"a": openAs(t, p.a, "app", "app-pw"), "b": openAs(t, p.b, "app", "app-pw")},
		acked: map[int64]string{}, unknown: map[int64]bool{},
	}
}

// run writes until stop closes: autocommit inserts, and when txn is set,
// two-row transactions that stay open for a moment (some are open at the
// fence).
func (w *drWriter) run(stop <-chan struct{}, txn bool) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		ids := []int64{w.next.Add(1)}
		if txn {
			ids = append(ids, w.next.Add(1))
		}
		done := false
		for _, region := range []string{"a", "b"} {
			err := w.write(w.dbs[region], region, ids)
			if err == nil {
				w.mu.Lock()
				for _, id := range ids {
					w.acked[id] = region
				}
				w.mu.Unlock()
				done = true
				break
			}
			if mysqlerr.Number(err) == gomysql.ER_OPTION_PREVENTS_STATEMENT {
				continue // read-only: try the other region
			}
			w.mu.Lock()
			for _, id := range ids {
				w.unknown[id] = true
			}
			w.mu.Unlock()
			done = true
			break
		}
		if !done {
			w.refused.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func (w *drWriter) write(db *sql.DB, region string, ids []int64) error {
	if len(ids) == 1 {
		_, err := db.Exec("INSERT INTO sw.t (id, region) VALUES (?, ?)", ids[0], region)
		return err
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	for i, id := range ids {
		if _, err := tx.Exec("INSERT INTO sw.t (id, region) VALUES (?, ?)", id, region); err != nil {
			tx.Rollback()
			return err
		}
		if i == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return tx.Commit()
}

// check asserts that s holds every acknowledged row, and nothing else but
// rows whose outcome was unknown.
func (w *drWriter) check(t *testing.T, s *harness.Server, name string) int {
	t.Helper()
	got := map[int64]string{}
	for _, line := range queryRows(t, s, "SELECT id, region FROM sw.t") {
		var id int64
		var region string
		if _, err := fmt.Sscanf(strings.Replace(line, "|", " ", 1), "%d %s", &id, &region); err != nil {
			t.Fatalf("row %q: %v", line, err)
		}
		got[id] = region
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost, extra []int64
	for id, region := range w.acked {
		if got[id] != region {
			lost = append(lost, id)
		}
	}
	for id := range got {
		if _, ok := w.acked[id]; !ok && !w.unknown[id] {
			extra = append(extra, id)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	if len(lost) > 0 || len(extra) > 0 {
		t.Errorf("%s: %d acknowledged rows missing or wrong (first %v), %d rows never written (first %v)", name, len(lost), first(lost), len(extra), first(extra))
	}
	return len(got)
}

func first(ids []int64) []int64 { return ids[:min(len(ids), 5)] }

// readOnly is @@read_only of s.
func readOnly(t *testing.T, s *harness.Server) bool {
	t.Helper()
	rows := queryRows(t, s, "SELECT @@GLOBAL.read_only")
	return len(rows) == 1 && rows[0] == "1"
}

// noConflicts asserts that no applier recorded a conflict on s: a
// transaction applied twice, or a write to the standby, would.
func noConflicts(t *testing.T, s *harness.Server, name string) {
	t.Helper()
	if rows := queryRows(t, s, "SELECT COUNT(*) FROM drc_meta.conflicts"); len(rows) != 1 || rows[0] != "0" {
		t.Errorf("%s: drc_meta.conflicts has %v rows, want 0", name, rows)
	}
}

func TestSwitchover(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testSwitchover(t, f) })
	}
}

// testSwitchover moves the primary role a->b under a steady write load
// through the CLI, then back b->a: nothing acknowledged is lost, nothing
// is applied twice, and both regions end equal.
func testSwitchover(t *testing.T, flavor harness.Flavor) {
	p := startDRPair(t, flavor, [2]uint32{9201, 9202})
	drcBinary(t)

	// Checks first: a dry run changes nothing; the reverse config is the
	// wrong direction while a is the primary.
	code, out, errOut := runDRC(t, "switchover", "--config", p.fwd, "--dry-run", "--output", "json")
	rep := parseReport(t, code, out, errOut)
	if code != 0 || rep.Outcome != "planned" || readOnly(t, p.a) || !readOnly(t, p.b) {
		t.Fatalf("dry run: exit %d outcome %q, a read_only %v, b read_only %v; want 0, planned, a writable, b read-only\n%s%s",
			code, rep.Outcome, readOnly(t, p.a), readOnly(t, p.b), out, errOut)
	}
	if code, out, errOut := runDRC(t, "switchover", "--config", p.rev); code != 1 {
		t.Fatalf("switchover b->a while a is the primary: exit %d, want 1 (refused)\n%s%s", code, out, errOut)
	}

	w := newDRWriter(t, p)
	stop := make(chan struct{})
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- w.run(stop, i == 0) }()
	}
	time.Sleep(2 * time.Second)

	code, out, errOut = runDRC(t, "switchover", "--config", p.fwd, "--output", "json")
	rep = parseReport(t, code, out, errOut)
	if code != 0 || rep.Outcome != "done" {
		t.Fatalf("switchover a->b: exit %d, outcome %q (%s)\n%s", code, rep.Outcome, rep.Reason, errOut)
	}
	if !readOnly(t, p.a) || readOnly(t, p.b) {
		t.Fatalf("after the switchover: a read_only %v, b read_only %v; want a read-only, b writable", readOnly(t, p.a), readOnly(t, p.b))
	}
	if rep.WritesRefusedSeconds == nil || rep.FinalGTIDSet == "" || rep.StartGTIDSet == "" || rep.ReverseCaughtUp == nil || !*rep.ReverseCaughtUp {
		t.Errorf("report lacks a figure: %s", out)
	} else {
		t.Logf("%s: writes refused %.3fs, drain %.3fs, %d transactions open at the fence", flavor.Title(), *rep.WritesRefusedSeconds, *rep.DrainSeconds, len(rep.InFlight))
	}
	// a's final position is in b's checkpoint.
	final, err := gtid.Parse(string(flavor), rep.FinalGTIDSet)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := drcmeta.ReadCheckpoints(context.Background(), p.b.Open(t, ""), p.ca)
	if err != nil || len(cps) == 0 {
		t.Fatalf("b's checkpoint: %v", err)
	}
	if got, err := gtid.Parse(string(flavor), cps[0].GTIDSet); err != nil || !got.Contains(final) {
		t.Errorf("b's checkpoint %s does not contain a's final position %s (%v)", cps[0].GTIDSet, final, err)
	}

	// Run again: it reports the finished operation, changing nothing.
	code, out, errOut = runDRC(t, "switchover", "--config", p.fwd, "--output", "json")
	if rep := parseReport(t, code, out, errOut); code != 0 || rep.Outcome != "already_done" {
		t.Errorf("second run: exit %d outcome %q, want 0 already_done", code, rep.Outcome)
	}

	time.Sleep(2 * time.Second) // writes now land on b
	code, out, errOut = runDRC(t, "switchover", "--config", p.rev, "--output", "json")
	if rep := parseReport(t, code, out, errOut); code != 0 || rep.Outcome != "done" {
		t.Fatalf("switchover b->a: exit %d, outcome %q (%s)\n%s", code, rep.Outcome, rep.Reason, errOut)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if readOnly(t, p.a) || !readOnly(t, p.b) {
		t.Fatalf("after switching back: a read_only %v, b read_only %v", readOnly(t, p.a), readOnly(t, p.b))
	}
	waitApplied(t, p.a, p.b, p.ca, 60*time.Second)
	waitApplied(t, p.b, p.a, p.cb, 60*time.Second)
	byRegion := map[string]int{}
	for _, r := range w.acked {
		byRegion[r]++
	}
	na, nb := w.check(t, p.a, "a"), w.check(t, p.b, "b")
	t.Logf("%d rows (%d written on a, %d on b), %d writes refused while no region took them, %d of unknown outcome", na, byRegion["a"], byRegion["b"], w.refused.Load(), len(w.unknown))
	if na != nb || byRegion["a"] == 0 || byRegion["b"] == 0 {
		t.Errorf("a has %d rows, b %d; written on a %d, on b %d: want equal counts and writes on both", na, nb, byRegion["a"], byRegion["b"])
	}
	compareQuery(t, p.a, p.b, "SELECT id, region, n FROM sw.t ORDER BY id")
	noConflicts(t, p.a, "a")
	noConflicts(t, p.b, "b")
}

// waitHeartbeat waits until s holds a heartbeat of region, applied by the
// pipeline from region to s.
func waitHeartbeat(t *testing.T, s *harness.Server, region string, timeout time.Duration) {
	t.Helper()
	db := s.Open(t, "")
	for deadline := time.Now().Add(timeout); ; time.Sleep(100 * time.Millisecond) {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&n)
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no heartbeat of region %s after %s (last error: %v)", s.Addr(), region, timeout, err)
		}
	}
}

// parseReport decodes a DR command's JSON report.
func parseReport(t *testing.T, code int, out, errOut string) dr.Report {
	t.Helper()
	var rep dr.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d: report is not JSON: %v\n%s\nstderr: %s", code, err, out, errOut)
	}
	return rep
}

var errCrash = errors.New("crashed here by the test")

func TestSwitchoverResumesAfterACrashAtEachStep(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testSwitchoverResumes(t, f) })
	}
}

// testSwitchoverResumes stops a switchover right after each of its steps,
// as a crash there would, then runs it again; the rerun completes it.
// Each round moves the primary role to the other region, under load.
func testSwitchoverResumes(t *testing.T, flavor harness.Flavor) {
	p := startDRPair(t, flavor, [2]uint32{9203, 9204})
	w := newDRWriter(t, p)
	stop := make(chan struct{})
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- w.run(stop, i == 0) }()
	}
	steps := []string{"checked", "fenced", "final_position", "drained", "promoted", "standby", "reverse_path"}
	opts := dr.Options{Timeout: time.Minute, FenceWait: time.Second}
	for i, step := range steps {
		reversed := i%2 == 1
		pair := p.pair(t, reversed)
		from, to := p.a, p.b
		if reversed {
			from, to = p.b, p.a
		}
		crashing := opts
		crashing.AfterStep = func(s string) error {
			if s == step {
				return errCrash
			}
			return nil
		}
		if _, err := dr.Switchover(context.Background(), pair, crashing); !errors.Is(err, errCrash) {
			t.Fatalf("round %d: switchover crashing after %s: %v", i, step, err)
		}
		rep, err := dr.Switchover(context.Background(), pair, opts)
		if err != nil || rep.Outcome != "done" {
			t.Fatalf("round %d: rerun after a crash after %s: %v (outcome %q)", i, step, err, rep.Outcome)
		}
		resumed := 0
		for _, s := range rep.Steps {
			if s.Status == "resumed" {
				resumed++
			}
		}
		if want := i + 1; resumed != want { // the steps up to the crash
			t.Errorf("round %d: %d steps resumed, want %d: %+v", i, resumed, want, rep.Steps)
		}
		if !readOnly(t, from) || readOnly(t, to) {
			t.Fatalf("round %d (crash after %s): the old primary read_only %v, the new %v", i, step, readOnly(t, from), readOnly(t, to))
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitApplied(t, p.a, p.b, p.ca, 60*time.Second)
	waitApplied(t, p.b, p.a, p.cb, 60*time.Second)
	na, nb := w.check(t, p.a, "a"), w.check(t, p.b, "b")
	t.Logf("%d rows after %d switchovers, each crashed once; %d of unknown outcome", na, len(steps), len(w.unknown))
	if na != nb {
		t.Errorf("a has %d rows, b %d", na, nb)
	}
	compareQuery(t, p.a, p.b, "SELECT id, region, n FROM sw.t ORDER BY id")
	noConflicts(t, p.a, "a")
	noConflicts(t, p.b, "b")
}

func TestFailover(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testFailover(t, f) })
	}
}

// testFailover: a primary that answers is not failed over; once it is
// killed, failover drains the topic, reports, and promotes b, whose
// replicator then publishes b's writes.
func testFailover(t *testing.T, flavor harness.Flavor) {
	p := startDRPair(t, flavor, [2]uint32{9205, 9206})
	drcBinary(t)
	w := newDRWriter(t, p)
	stop := make(chan struct{})
	errs := make(chan error, 1)
	go func() { errs <- w.run(stop, false) }()
	time.Sleep(2 * time.Second)

	if code, out, errOut := runDRC(t, "failover", "--config", p.fwd); code != 1 || readOnly(t, p.b) == false {
		t.Fatalf("failover while a answers: exit %d, b read_only %v; want 1 and b untouched\n%s%s", code, readOnly(t, p.b), out, errOut)
	}
	p.a.Kill(t)
	close(stop)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runDRC(t, "failover", "--config", p.fwd, "--dry-run", "--output", "json")
	rep := parseReport(t, code, out, errOut)
	if code != 0 || rep.Outcome != "planned" || rep.Loss == nil || !readOnly(t, p.b) {
		t.Fatalf("dry run: exit %d outcome %q, b read_only %v\n%s%s", code, rep.Outcome, readOnly(t, p.b), out, errOut)
	}
	code, out, errOut = runDRC(t, "failover", "--config", p.fwd, "--output", "json")
	rep = parseReport(t, code, out, errOut)
	if code != 0 || rep.Outcome != "done" || readOnly(t, p.b) {
		t.Fatalf("failover: exit %d outcome %q (%s), b read_only %v\n%s", code, rep.Outcome, rep.Reason, readOnly(t, p.b), errOut)
	}
	l := rep.Loss
	if l == nil || !l.AppliedAll || l.LastHeard == nil || l.Unknown == "" {
		t.Fatalf("data-loss report incomplete: %s", out)
	}
	// The report's tail is the topic's, read independently, and b has it.
	tail, ok, err := replicator.PublishedPosition(context.Background(), replicatorConfig(p.a, p.k, p.ca, p.t1))
	if err != nil || !ok || tail.String() != l.TopicTail {
		t.Fatalf("topic tail %s (%v, %v); the report says %s", tail, ok, err, l.TopicTail)
	}
	applied, err := gtid.Parse(string(flavor), l.Applied)
	if err != nil || !applied.Contains(tail) {
		t.Errorf("applied %s does not contain the tail %s (%v)", l.Applied, tail, err)
	}
	t.Logf("%s: tail %s; last heard from a %s, %.1fs before it was found down", flavor.Title(), l.TopicTail, l.LastHeard, *l.WindowSeconds)
	if rep.ReverseCaughtUp == nil || !*rep.ReverseCaughtUp {
		t.Errorf("b's replicator not seen publishing after the promotion: %s", out)
	}

	// Every row b has was acknowledged by a (a killed server leaves no
	// write of unknown outcome but the last), and b takes writes now.
	var n int
	if err := w.dbs["b"].QueryRow("SELECT COUNT(*) FROM sw.t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := w.dbs["b"].Exec("INSERT INTO sw.t (id, region) VALUES (?, 'b')", w.next.Add(1)); err != nil {
		t.Fatalf("write on b after the failover: %v", err)
	}
	extra := 0
	for _, line := range queryRows(t, p.b, "SELECT id FROM sw.t WHERE region = 'a'") {
		id, _ := strconv.ParseInt(line, 10, 64)
		if _, ok := w.acked[id]; !ok && !w.unknown[id] {
			extra++
		}
	}
	if extra > 0 {
		t.Errorf("b holds %d rows of a that a never acknowledged", extra)
	}
	t.Logf("b has %d of the %d rows a acknowledged", n, len(w.acked))
	noConflicts(t, p.b, "b")
}

func TestDRDrill(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testDRDrill(t, f) })
	}
}

// testDRDrill runs a disaster and the way back, under sysbench load: a's
// replicator is held back so that some of a's transactions are never
// published, a's server is SIGKILLed, b is failed over to and takes
// writes, a returns and is failed back (its unpublished transactions
// quarantined and undone), and the primary role is switched back to a.
// The quarantine must hold exactly the transactions a's binlog has beyond
// the topic (computed here from a's binlog), and the regions must end
// equal with no conflict recorded.
func testDRDrill(t *testing.T, flavor harness.Flavor) {
	p := startDRPair(t, flavor, [2]uint32{9207, 9208})
	drcBinary(t) // built before the clock matters
	p.a.Exec(t, "CREATE DATABASE sbtest")
	if out, err := sysbench(t, p.a, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	// Each region's ID service issues the keys of sbtest.ids written there:
	// a's before the disaster, b's after the failover.
	p.a.Exec(t, "CREATE TABLE sbtest.ids (id BIGINT PRIMARY KEY, region CHAR(1) NOT NULL)")
	waitApplied(t, p.a, p.b, p.ca, 120*time.Second)
	idSchema := harness.UniqueName("drc_ids")
	issue := func(s *harness.Server, region int, name string) []int64 {
		db := s.Open(t, "")
		n := newIDGenNode(t, idgenConfig(region, db, idSchema))
		stop := runIDGenNode(t, n)
		ids := make([]int64, 300)
		if err := n.Next(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, err := db.Exec("INSERT INTO sbtest.ids (id, region) VALUES (?, ?)", id, name); err != nil {
				t.Fatalf("insert an ID on %s: %v", name, err)
			}
			if parts, err := n.Decompose(id); err != nil || parts.Region != region {
				t.Fatalf("ID %d issued in region %d decomposes to %+v (%v)", id, region, parts, err)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	idsA := issue(p.a, 1, "a")

	// Load on a; part of it never published: a's applier, then its
	// replicator, stop while sysbench goes on, and a dies.
	// Uniform row choice, so that b's later writes leave some of the
	// quarantined rows alone and the replay below has some to apply.
	load := sysbench(t, p.a, "run", "--time=60", "--threads=2", "--rate=150", "--rand-type=uniform")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	p.appA.stop(t)
	p.repA.stop(t)
	time.Sleep(2 * time.Second)
	p.a.Kill(t)
	_ = load.Wait() // sysbench fails once a is gone
	tail, ok, err := replicator.PublishedPosition(context.Background(), p.ra)
	if err != nil || !ok {
		t.Fatalf("the topic's tail: %v (ok %v)", err, ok)
	}

	code, out, errOut := runDRC(t, "failover", "--config", p.fwd, "--output", "json")
	if rep := parseReport(t, code, out, errOut); code != 0 || rep.Outcome != "done" {
		t.Fatalf("failover: exit %d outcome %q (%s)\n%s", code, rep.Outcome, rep.Reason, errOut)
	}
	// b takes writes, with keys from its own ID service; its replicator
	// publishes them.
	idsB := issue(p.b, 2, "b")
	seen := map[int64]bool{}
	for _, id := range idsA {
		seen[id] = true
	}
	for _, id := range idsB {
		if seen[id] {
			t.Errorf("ID %d issued in region b was issued in region a too", id)
		}
	}
	if out, err := sysbench(t, p.b, "run", "--time=3", "--threads=2", "--rate=150", "--rand-type=uniform").CombinedOutput(); err != nil {
		t.Fatalf("sysbench on b: %v\n%s", err, out)
	}

	// a returns, its replicator and applier still stopped.
	p.a.Start(t)
	conn := p.a.Open(t, "")
	var independent []string
	for _, g := range sourceDataGTIDs(t, conn, "sbtest") {
		one, err := gtid.Parse(string(flavor), g)
		if err != nil {
			t.Fatal(err)
		}
		if !tail.Contains(one) {
			independent = append(independent, g)
		}
	}
	if len(independent) == 0 {
		t.Fatal("a has no transaction beyond the topic's tail: the drill tests nothing")
	}
	// The failback stops right after each of its steps but the last, as a
	// crash there would, and each run resumes the one before; the command
	// then finishes it.
	dir := t.TempDir()
	pair := p.pair(t, false)
	steps := []string{"checked", "replicator_stopped", "fenced", "final_position", "quarantined", "position_published", "undone"}
	for i, step := range steps {
		opts := dr.Options{QuarantineDir: dir, FenceWait: time.Second}
		opts.AfterStep = func(s string) error {
			if s == step {
				return errCrash
			}
			return nil
		}
		rep, err := dr.Failback(context.Background(), pair, opts)
		if !errors.Is(err, errCrash) {
			t.Fatalf("failback run %d, crashing after %s: %v (%s)", i, step, err, rep.Reason)
		}
	}
	code, out, errOut = runDRC(t, "failback", "--config", p.fwd, "--quarantine-dir", dir, "--output", "json")
	rep := parseReport(t, code, out, errOut)
	resumed := 0
	for _, s := range rep.Steps {
		if s.Status == "resumed" {
			resumed++
		}
	}
	if resumed != len(steps) {
		t.Errorf("the finishing run resumed %d steps, want %d: %+v", resumed, len(steps), rep.Steps)
	}
	if code != 0 || rep.Outcome != "done" || rep.Quarantine == nil {
		t.Fatalf("failback: exit %d outcome %q (%s)\n%s\n%s", code, rep.Outcome, rep.Reason, out, errOut)
	}
	q := rep.Quarantine
	// The quarantine's sbtest transactions, from its JSON file, are
	// exactly those found in a's binlog beyond the tail.
	data, err := os.ReadFile(q.JSONFile)
	if err != nil {
		t.Fatal(err)
	}
	var quarantined []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct {
			GTID string `json:"gtid"`
			DB   string `json:"db"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("quarantine file line %q: %v", line, err)
		}
		if r.DB == "sbtest" && (len(quarantined) == 0 || quarantined[len(quarantined)-1] != r.GTID) {
			quarantined = append(quarantined, r.GTID)
		}
	}
	if strings.Join(quarantined, " ") != strings.Join(independent, " ") {
		t.Errorf("quarantine holds %d transactions, a's binlog has %d beyond the tail:\nquarantine %v\nbinlog     %v", len(quarantined), len(independent), quarantined, independent)
	}
	if sql, err := os.ReadFile(q.SQLFile); err != nil || !strings.Contains(string(sql), "START TRANSACTION;") {
		t.Errorf("quarantine SQL file: %v", err)
	}
	t.Logf("%s: quarantined %d transactions (%d rows; %d in a's binlog by the test's count), %d row changes undone",
		flavor.Title(), q.Transactions, q.Rows, len(independent), q.UndoneRows)

	// A rerun finds the failback done.
	code, out, errOut = runDRC(t, "failback", "--config", p.fwd, "--quarantine-dir", dir, "--output", "json")
	if rep := parseReport(t, code, out, errOut); code != 0 || rep.Outcome != "already_done" {
		t.Errorf("failback again: exit %d outcome %q", code, rep.Outcome)
	}

	// The operator replays the quarantine on b: each transaction applies
	// exactly or is left out (sysbench on b has since changed some rows).
	code, out, errOut = runDRC(t, "failback", "--config", p.fwd, "--replay-quarantine", "--output", "json")
	rr := parseReport(t, code, out, errOut)
	if code == 2 || rr.Quarantine == nil || rr.Quarantine.Replayed == 0 || rr.Quarantine.Replayed+len(rr.Quarantine.ReplayConflicts) != q.Transactions {
		t.Fatalf("replay: exit %d, %s\n%s", code, out, errOut)
	}
	t.Logf("%s: replayed %d quarantined transactions on b, %d left out", flavor.Title(), rr.Quarantine.Replayed, len(rr.Quarantine.ReplayConflicts))
	// Again: only those left out are pending, and they still do not apply.
	code, out, errOut = runDRC(t, "failback", "--config", p.fwd, "--replay-quarantine", "--output", "json")
	if again := parseReport(t, code, out, errOut); again.Quarantine == nil || again.Quarantine.Replayed != 0 || again.Quarantine.Transactions != len(rr.Quarantine.ReplayConflicts) {
		t.Errorf("second replay: %s", out)
	}

	// a follows b again, then becomes the primary again.
	p.repA = startReplicator(t, p.ra)
	p.appA = startApplier(t, p.acA)
	waitApplied(t, p.b, p.a, p.cb, 120*time.Second)
	code, out, errOut = runDRC(t, "switchover", "--config", p.rev, "--output", "json")
	if rep := parseReport(t, code, out, errOut); code != 0 || rep.Outcome != "done" {
		t.Fatalf("switchover back to a: exit %d outcome %q (%s)\n%s", code, rep.Outcome, rep.Reason, errOut)
	}
	if out, err := sysbench(t, p.a, "run", "--time=2", "--threads=2", "--rate=150").CombinedOutput(); err != nil {
		t.Fatalf("sysbench on a after the drill: %v\n%s", err, out)
	}
	waitApplied(t, p.a, p.b, p.ca, 120*time.Second)
	code, out, errOut = runDRC(t, "reconcile", "--config", p.fwd, "--tables", "sbtest.*")
	if code != 0 {
		t.Errorf("reconcile after the drill: exit %d, want 0 (no drift)\n%s\n%s", code, out, errOut)
	}
	for _, tbl := range []string{"sbtest.sbtest1", "sbtest.sbtest2", "sbtest.ids"} {
		if d, n := firstDiffs(t, p.a, p.b, tbl); n > 0 {
			t.Errorf("%s: %d rows differ, first %s", tbl, n, d)
		}
	}
	if rows := queryRows(t, p.b, "SELECT COUNT(*) FROM sbtest.ids"); len(rows) != 1 || rows[0] != strconv.Itoa(len(idsA)+len(idsB)) {
		t.Errorf("sbtest.ids has %v rows, want %d (every ID issued in a and in b, none colliding)", rows, len(idsA)+len(idsB))
	}
	noConflicts(t, p.a, "a")
	noConflicts(t, p.b, "b")
}
