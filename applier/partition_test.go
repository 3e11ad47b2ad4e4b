package applier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/drc-dev/drc/replicator/event"
)

// The coordinator's behaviour, whole sessions at a time: a partition runs
// with a topic in memory as its recordSource and a target server in memory
// (memTarget) behind the target and executor seams.

// memTopic is one partition of a topic in memory.
type memTopic struct {
	t     *testing.T
	dec   event.Decoder
	recs  []*event.Record
	sizes []int // each record's value bytes
	// gate, when set, is called before the record at offset is sent; it
	// may block. Without gate everything from the start offset is sent
	// as one batch.
	gate func(ctx context.Context, offset int64) error
}

func newTopic(t *testing.T) *memTopic { return &memTopic{t: t} }

func (m *memTopic) add(size int, js string) {
	m.t.Helper()
	r, err := m.dec.Decode([]byte(js))
	if err != nil {
		m.t.Fatalf("decode %s: %v", js, err)
	}
	m.recs = append(m.recs, r)
	m.sizes = append(m.sizes, size)
}

// txn appends a transaction inserting rows ids into s.<table>, one record
// each, every record of size bytes. GTIDs are MariaDB's 1-1-N, so the
// source position after a transaction is its own GTID.
func (m *memTopic) txn(gtid, origin, table string, size int, ids ...int) {
	m.t.Helper()
	for i, id := range ids {
		last := i == len(ids)-1
		set := ""
		if last {
			set = `,"gtid_set":"` + gtid + `"`
		}
		m.add(size, fmt.Sprintf(`{"v":1,"gtid":%q,"seq":%d,"last":%v,"origin":%q,"op":"insert","db":"s","table":%q,"pk":["id"],"types":{"id":"int","v":"int"},"after":{"id":%d,"v":1}%s}`,
			gtid, i, last, origin, table, id, set))
	}
}

// ddl appends a transaction creating table s.<table>.
func (m *memTopic) ddl(gtid, table string) {
	m.t.Helper()
	m.add(100, fmt.Sprintf(`{"v":1,"gtid":%q,"seq":0,"last":true,"origin":"a","op":"ddl","db":"s","table":%q,"sql":"CREATE TABLE %s (id INT PRIMARY KEY)","gtid_set":%q}`,
		gtid, table, table, gtid))
}

func (m *memTopic) end() int64 { return int64(len(m.recs)) }

// first returns the offset of gtid's first record.
func (m *memTopic) first(gtid string) int64 {
	return int64(slices.IndexFunc(m.recs, func(r *event.Record) bool { return r.GTID == gtid }))
}

// next returns the offset after gtid's last record: its checkpoint.
func (m *memTopic) next(gtid string) int64 {
	for i := len(m.recs) - 1; i >= 0; i-- {
		if m.recs[i].GTID == gtid {
			return int64(i + 1)
		}
	}
	return -1
}

func (m *memTopic) source() *fakeSource {
	return &fakeSource{
		retained: func(context.Context) (int64, int64, error) { return 0, m.end(), nil },
		read: func(ctx context.Context, from int64, out chan<- []decoded) error {
			if from == offsetOldest {
				from = 0
			}
			var batch []decoded
			for off := from; off < m.end(); off++ {
				d := decoded{rec: m.recs[off], offset: off, from: off, size: m.sizes[off]}
				if m.gate == nil {
					batch = append(batch, d)
					continue
				}
				if err := m.gate(ctx, off); err != nil {
					return err
				}
				select {
				case out <- []decoded{d}:
				case <-ctx.Done():
					return nil
				}
			}
			if len(batch) > 0 {
				select {
				case out <- batch:
				case <-ctx.Done():
					return nil
				}
			}
			<-ctx.Done() // nothing more is published
			return nil
		},
	}
}

// memTarget is a target server in memory: each partition's checkpoint,
// the work committed, the tables DDL created. Safe for concurrent use;
// the hooks are set before a session starts.
type memTarget struct {
	mu     sync.Mutex
	cks    map[int32]Checkpoint
	log    []string        // committed, in commit order: "<part>:<gtid>/<seq>" per row, "<part>:ddl <gtid>" per DDL
	tables map[string]bool // created by DDL
	broken []string        // the ordering invariants commits broke

	onPlan    func(tbl *event.Table)       // on the coordinator, for each row dispatched
	onDDL     func(r *event.Record)        // on the coordinator, before a DDL runs
	applyErr  func(t *txn) error           // fails an Apply after its rows were written
	commitErr func(t *txn) error           // fails a Commit
	onCommit  func(part int32, next int64) // after each commit (session's)
	watch     func(part int32, next int64) // after each commit (the test's)
}

func newMemTarget() *memTarget {
	return &memTarget{cks: map[int32]Checkpoint{}, tables: map[string]bool{}}
}

// target returns partition part's view of the server.
func (m *memTarget) target(part int32) *fakeTarget {
	return &fakeTarget{
		checkpoint: func(context.Context) (Checkpoint, bool, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			ck, ok := m.cks[part]
			return ck, ok, nil
		},
		plan: func(_ context.Context, tbl *event.Table) (*plan, error) {
			if m.onPlan != nil {
				m.onPlan(tbl)
			}
			return newPlan(tbl, &targetTable{}), nil
		},
		execDDL: func(_ context.Context, r *event.Record) error {
			if m.onDDL != nil {
				m.onDDL(r)
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.tables[r.Table] {
				return &mysql.MySQLError{Number: 1050, Message: fmt.Sprintf("Table '%s' already exists", r.Table)}
			}
			m.tables[r.Table] = true
			m.log = append(m.log, fmt.Sprintf("%d:ddl %s", part, r.GTID))
			return nil
		},
		executor: func(context.Context, int) (executor, error) { return m.executor(part), nil },
	}
}

// executor applies into an open transaction that Commit makes visible.
func (m *memTarget) executor(part int32) executor {
	var open []string
	write := func(recs []*event.Record) {
		for _, r := range recs {
			if r.Op.IsRow() {
				open = append(open, fmt.Sprintf("%d:%s/%d", part, r.GTID, r.Seq))
			}
		}
	}
	return &fakeExecutor{
		apply: func(ctx context.Context, t *txn, _ bool) error {
			open = open[:0]
			write(t.recs)
			for more := t.more; more != nil; {
				select {
				case chunk, ok := <-more:
					if !ok {
						more = nil
						break
					}
					write(chunk)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if m.applyErr != nil {
				return m.applyErr(t)
			}
			return nil
		},
		commit: func(_ context.Context, t *txn) error {
			if m.commitErr != nil {
				if err := m.commitErr(t); err != nil {
					return err
				}
			}
			m.mu.Lock()
			if t.prev != nil && !isClosed(t.prev.done) {
				m.broken = append(m.broken, fmt.Sprintf("%s committed before %s, dispatched before it", t.label(), t.prev.label()))
			}
			if ck, ok := m.cks[part]; ok && t.first < ck.Offset {
				m.broken = append(m.broken, fmt.Sprintf("%s from offset %d committed behind the checkpoint %d", t.label(), t.first, ck.Offset))
			}
			m.log = append(m.log, open...)
			m.cks[part] = Checkpoint{Part: part, Offset: t.next, GTIDSet: t.set, Origin: t.origin, LastGTID: t.lastGTID}
			m.mu.Unlock()
			open = open[:0]
			if m.watch != nil {
				m.watch(part, t.next)
			}
			if m.onCommit != nil {
				m.onCommit(part, t.next)
			}
			return nil
		},
		rollback: func() { open = open[:0] },
	}
}

func (m *memTarget) checkpoint(part int32) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ck, ok := m.cks[part]; ok {
		return ck.Offset
	}
	return -1
}

// committed returns the log and the broken invariants, and clears the
// log.
func (m *memTarget) committed() (log, broken []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	log, broken = m.log, m.broken
	m.log = nil
	return log, broken
}

// rows names the rows of the given transactions of topic as memTarget
// logs them, in topic order.
func rows(part int32, topic *memTopic, gtids ...string) []string {
	var out []string
	for _, r := range topic.recs {
		if slices.Contains(gtids, r.GTID) && r.Op.IsRow() {
			out = append(out, fmt.Sprintf("%d:%s/%d", part, r.GTID, r.Seq))
		}
	}
	return out
}

func newTestPartition(t *testing.T, part int32, workers int, topic *memTopic, tgt *memTarget) *partition {
	t.Helper()
	cfg := Config{Cluster: "c", Region: "b", Flavor: "mariadb"}
	cfg.setDefaults()
	cfg.LargeTxnBytes = 1 << 20
	pol, err := newPolicies(cfg.Conflict, cfg.DDL, cfg.ForeignID, cfg.Tables)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(prometheus.NewRegistry())
	return &partition{cfg: &cfg, policies: pol, m: m, log: slog.New(slog.DiscardHandler),
		src: topic.source(), tgt: tgt.target(part), topic: cfg.Topic, part: part, workers: workers}
}

// session runs ps as one applier session until one fails, or until every
// partition's checkpoint has reached its topic's end (then it returns
// nil).
func session(t *testing.T, tgt *memTarget, ps []*partition, topics []*memTopic) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caughtUp := func() bool {
		for i, p := range ps {
			if tgt.checkpoint(p.part) != topics[i].end() {
				return false
			}
		}
		return true
	}
	tgt.onCommit = func(int32, int64) {
		if caughtUp() {
			cancel()
		}
	}
	done := make(chan error, 1)
	go func() { done <- runPartitions(ctx, ps) }()
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) && caughtUp() {
			return nil
		}
		return err
	case <-time.After(time.Minute): // a guard against a hang, not a measurement
		t.Fatal("the session neither failed nor caught up")
		return nil
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// TestReplayedTransactionSkippedByGTID: a transaction whose GTID the
// checkpoint's set already holds is skipped, whether the checkpoint comes
// from drc bootstrap (offset unknown: the topic is read from its start) or
// a crashed replicator published the transaction twice.
func TestReplayedTransactionSkippedByGTID(t *testing.T) {
	topic := newTopic(t)
	topic.txn("1-1-5", "a", "t", 100, 1, 2)
	topic.txn("1-1-6", "a", "t", 100, 3)
	topic.txn("1-1-6", "a", "t", 100, 3) // published again
	topic.txn("1-1-7", "a", "t", 100, 4, 5)
	tgt := newMemTarget()
	tgt.cks[0] = Checkpoint{Part: 0, Offset: OffsetUnknown, GTIDSet: "1-1-5"}
	p := newTestPartition(t, 0, 2, topic, tgt)

	if err := session(t, tgt, []*partition{p}, []*memTopic{topic}); err != nil {
		t.Fatal(err)
	}
	log, broken := tgt.committed()
	equal(t, "committed", log, []string{"0:1-1-6/0", "0:1-1-7/0", "0:1-1-7/1"})
	equal(t, "broken invariants", broken, nil)
	if n := testutil.ToFloat64(p.m.skipped); n != 2 {
		t.Errorf("skipped transactions = %v, want 2 (1-1-5 and the second 1-1-6)", n)
	}
}

// TestGroupFailsAsAWhole: while every worker is busy, small transactions
// of one origin join one group, applied as one target transaction. One of
// its members fails: nothing of the group commits, nor anything after it,
// and the checkpoint stays before it. The next session applies everything
// once, in source order.
func TestGroupFailsAsAWhole(t *testing.T) {
	topic := newTopic(t)
	topic.txn("1-1-1", "x", "t", 100, 1) // held by worker 1
	topic.txn("1-1-2", "y", "t", 100, 2) // held by worker 2
	topic.txn("1-1-3", "z", "t", 100, 3) // 3..6: one group
	topic.txn("1-1-4", "z", "t", 100, 4, 5)
	topic.txn("1-1-5", "z", "t", 100, 6)
	topic.txn("1-1-6", "z", "t", 100, 7)
	topic.txn("1-1-7", "w", "probe", 100, 8) // another origin: after the group
	tgt := newMemTarget()
	p := newTestPartition(t, 0, 2, topic, tgt)

	// Workers hold 1-1-1 and 1-1-2 until the coordinator dispatches
	// 1-1-7, so 1-1-3..6 arrive while no worker is free.
	release := make(chan struct{})
	var once sync.Once
	tgt.onPlan = func(tbl *event.Table) {
		if tbl.Name == "probe" {
			once.Do(func() { close(release) })
		}
	}
	// The group fails once 1-1-2 has committed and 1-1-7, on the other
	// worker, has written its rows (and waits to commit after the group).
	committed2, applied7 := make(chan struct{}), make(chan struct{})
	tgt.watch = func(_ int32, next int64) {
		if next == topic.next("1-1-2") {
			close(committed2)
		}
	}
	failed := make(chan *txn, 1)
	tgt.applyErr = func(t *txn) error {
		switch {
		case t.gtid == "1-1-1" || t.gtid == "1-1-2":
			<-release
		case t.gtid == "1-1-7":
			close(applied7)
		case t.count > 1:
			<-committed2
			<-applied7
			failed <- t
			return fmt.Errorf("apply %s: lost connection", t.label())
		}
		return nil
	}
	err := session(t, tgt, []*partition{p}, []*memTopic{topic})
	if err == nil || !strings.Contains(err.Error(), "lost connection") {
		t.Fatalf("first session ended with %v, want the group's failure", err)
	}
	g := <-failed
	if g.gtid != "1-1-3" || g.lastGTID != "1-1-6" || g.count != 4 {
		t.Errorf("group %s, want 1-1-3..1-1-6", g.label())
	}
	log, broken := tgt.committed()
	equal(t, "committed by the first session", log, rows(0, topic, "1-1-1", "1-1-2"))
	equal(t, "broken invariants", broken, nil)
	if ck := tgt.checkpoint(0); ck != topic.next("1-1-2") {
		t.Errorf("checkpoint at %d, want %d: before the group", ck, topic.next("1-1-2"))
	}

	tgt.applyErr, tgt.watch = nil, nil
	p = newTestPartition(t, 0, 2, topic, tgt)
	if err := session(t, tgt, []*partition{p}, []*memTopic{topic}); err != nil {
		t.Fatal(err)
	}
	log, broken = tgt.committed()
	equal(t, "committed by the second session", log, rows(0, topic, "1-1-3", "1-1-4", "1-1-5", "1-1-6", "1-1-7"))
	equal(t, "broken invariants", broken, nil)
}

// TestDDLWaitsForTransactionsInFlight: a DDL transaction runs once every
// transaction before it has committed, and the transactions after it
// start once its checkpoint has committed.
func TestDDLWaitsForTransactionsInFlight(t *testing.T) {
	topic := newTopic(t)
	topic.txn("1-1-1", "x", "t", 100, 1, 2)
	topic.txn("1-1-2", "y", "t", 100, 3)
	topic.ddl("1-1-3", "n")
	topic.txn("1-1-4", "x", "after", 100, 4)
	tgt := newMemTarget()
	p := newTestPartition(t, 0, 2, topic, tgt)

	// Both run on the coordinator, which alone knows what has committed.
	var atDDL, atAfter string
	tgt.onDDL = func(*event.Record) {
		atDDL = fmt.Sprintf("%d in flight, checkpoint %d", p.inflight, p.maxDone)
	}
	tgt.onPlan = func(tbl *event.Table) {
		if tbl.Name == "after" {
			atAfter = fmt.Sprintf("%d in flight, checkpoint %d", p.inflight, p.maxDone)
		}
	}
	if err := session(t, tgt, []*partition{p}, []*memTopic{topic}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("0 in flight, checkpoint %d", topic.next("1-1-2")); atDDL != want {
		t.Errorf("when the DDL ran: %s, want %s", atDDL, want)
	}
	if want := fmt.Sprintf("0 in flight, checkpoint %d", topic.next("1-1-3")); atAfter != want {
		t.Errorf("when the transaction after the DDL was dispatched: %s, want %s (the DDL's checkpoint)", atAfter, want)
	}
	log, broken := tgt.committed()
	equal(t, "committed", log, append(append(rows(0, topic, "1-1-1", "1-1-2"), "0:ddl 1-1-3"), rows(0, topic, "1-1-4")...))
	equal(t, "broken invariants", broken, nil)
}

// TestCrashBetweenDDLAndCheckpoint: the DDL ran, then its checkpoint did
// not commit. The next session reads the DDL again as its first
// transaction and takes "table exists" as applied; the same error for a
// later DDL of that session stops the applier.
func TestCrashBetweenDDLAndCheckpoint(t *testing.T) {
	topic := newTopic(t)
	topic.txn("1-1-1", "a", "t", 100, 1)
	topic.ddl("1-1-2", "n")
	topic.txn("1-1-3", "a", "t", 100, 2)
	topic.ddl("1-1-4", "m") // m exists on the target already
	tgt := newMemTarget()
	tgt.tables["m"] = true
	p := newTestPartition(t, 0, 1, topic, tgt)
	tgt.commitErr = func(t *txn) error {
		if t.gtid == "1-1-2" {
			return errors.New("lost connection") // the crash
		}
		return nil
	}
	err := session(t, tgt, []*partition{p}, []*memTopic{topic})
	if err == nil || !strings.Contains(err.Error(), "lost connection") || IsPermanent(err) {
		t.Fatalf("first session ended with %v, want the lost connection", err)
	}
	log, _ := tgt.committed()
	equal(t, "committed by the first session", log, append(rows(0, topic, "1-1-1"), "0:ddl 1-1-2"))
	if ck := tgt.checkpoint(0); ck != topic.next("1-1-1") {
		t.Fatalf("checkpoint at %d, want %d: before the DDL", ck, topic.next("1-1-1"))
	}

	tgt.commitErr = nil
	p = newTestPartition(t, 0, 1, topic, tgt)
	err = session(t, tgt, []*partition{p}, []*memTopic{topic})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "1-1-4") || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second session ended with %v, want a permanent error for the DDL of 1-1-4", err)
	}
	log, broken := tgt.committed()
	equal(t, "committed by the second session", log, rows(0, topic, "1-1-3"))
	equal(t, "broken invariants", broken, nil)
	if ck := tgt.checkpoint(0); ck != topic.next("1-1-3") {
		t.Errorf("checkpoint at %d, want %d: past the re-read DDL, before the failing one", ck, topic.next("1-1-3"))
	}
	if n := testutil.ToFloat64(p.m.ddl.WithLabelValues("already_applied")); n != 1 {
		t.Errorf("DDL taken as already applied: %v, want 1", n)
	}
}

// TestTwoPartitionsInterleave: with partition_by database, each partition
// holds its databases' slices of the source transactions, with the
// source's position after each. The partitions apply and checkpoint
// independently: a partition far behind the other still applies its
// transactions with lower GTIDs, a transaction spanning both is applied
// once in each, and a failure in one stops the session; the next resumes
// each from its own checkpoint.
func TestTwoPartitionsInterleave(t *testing.T) {
	t0, t1 := newTopic(t), newTopic(t)
	t0.txn("1-1-5", "a", "a", 100, 1)
	t1.txn("1-1-6", "a", "b", 100, 1)
	t0.txn("1-1-7", "a", "a", 100, 2) // 1-1-7 writes both databases
	t1.txn("1-1-7", "a", "b", 100, 2, 3)
	t0.txn("1-1-8", "a", "a", 100, 3)
	t1.txn("1-1-9", "c", "b", 100, 4) // another origin: never grouped with 1-1-7
	tgt := newMemTarget()

	// Partition 1 starts once partition 0 has applied all of its
	// transactions, whose positions include partition 1's.
	ahead := make(chan struct{})
	var once sync.Once
	t1.gate = func(ctx context.Context, _ int64) error {
		select {
		case <-ahead:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// 1-1-9 fails once 1-1-7 has committed in partition 1.
	committed7 := make(chan struct{})
	tgt.applyErr = func(t *txn) error {
		if t.gtid == "1-1-9" {
			<-committed7
			return errors.New("lost connection")
		}
		return nil
	}
	tgt.watch = func(part int32, next int64) {
		if part == 0 && next == t0.end() {
			once.Do(func() { close(ahead) })
		}
		if part == 1 && next == t1.next("1-1-7") {
			close(committed7)
		}
	}
	ps := []*partition{newTestPartition(t, 0, 2, t0, tgt), newTestPartition(t, 1, 2, t1, tgt)}
	err := session(t, tgt, ps, []*memTopic{t0, t1})
	if err == nil || !strings.Contains(err.Error(), "lost connection") {
		t.Fatalf("first session ended with %v, want partition 1's failure", err)
	}
	log, broken := tgt.committed()
	want := append(rows(0, t0, "1-1-5", "1-1-7", "1-1-8"), rows(1, t1, "1-1-6", "1-1-7")...)
	equal(t, "committed by the first session", log, want)
	equal(t, "broken invariants", broken, nil)

	tgt.applyErr, tgt.watch, t1.gate = nil, nil, nil
	ps = []*partition{newTestPartition(t, 0, 2, t0, tgt), newTestPartition(t, 1, 2, t1, tgt)}
	if err := session(t, tgt, ps, []*memTopic{t0, t1}); err != nil {
		t.Fatal(err)
	}
	log, broken = tgt.committed()
	equal(t, "committed by the second session", log, rows(1, t1, "1-1-9"))
	equal(t, "broken invariants", broken, nil)
}

// probeHandler calls probe, on the logging goroutine, for each record
// logged with message msg.
type probeHandler struct {
	msg   string
	probe func()
}

func (h probeHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h probeHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.probe()
	}
	return nil
}
func (h probeHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h probeHandler) WithGroup(string) slog.Handler      { return h }

// TestLargeTransactionBetweenSmallOnes: a transaction larger than
// LargeTxnBytes starts streaming once the transactions before it have
// committed, is applied alone as its records arrive (never all held at
// once), and the transaction after it starts once it has committed.
func TestLargeTransactionBetweenSmallOnes(t *testing.T) {
	topic := newTopic(t)
	topic.txn("1-1-1", "x", "t", 100, 1)
	topic.txn("1-1-2", "x", "t", 300<<10, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13) // 3.6 MiB
	topic.txn("1-1-3", "x", "after", 100, 14)
	tgt := newMemTarget()
	p := newTestPartition(t, 0, 2, topic, tgt)

	// Both run on the coordinator, which alone knows what has committed.
	var atStream, atAfter string
	p.log = slog.New(probeHandler{"streaming a large transaction", func() {
		atStream = fmt.Sprintf("%d in flight, checkpoint %d", p.inflight, p.maxDone)
	}})
	tgt.onPlan = func(tbl *event.Table) {
		if tbl.Name == "after" {
			atAfter = fmt.Sprintf("%d in flight, checkpoint %d", p.inflight, p.maxDone)
		}
	}
	large := make(chan string, 1)
	tgt.applyErr = func(t *txn) error {
		if t.gtid == "1-1-2" {
			large <- fmt.Sprintf("%d transaction, streamed %v, %d records held", t.count, t.more != nil, len(t.recs))
		}
		return nil
	}
	if err := session(t, tgt, []*partition{p}, []*memTopic{topic}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("0 in flight, checkpoint %d", topic.next("1-1-1")); atStream != want {
		t.Errorf("when streaming started: %s, want %s", atStream, want)
	}
	if want := fmt.Sprintf("0 in flight, checkpoint %d", topic.next("1-1-2")); atAfter != want {
		t.Errorf("when the transaction after it was dispatched: %s, want %s", atAfter, want)
	}
	if got, want := <-large, "1 transaction, streamed true, 4 records held"; got != want {
		t.Errorf("large transaction applied as %s, want %s (the rest streamed)", got, want)
	}
	log, broken := tgt.committed()
	equal(t, "committed", log, rows(0, topic, "1-1-1", "1-1-2", "1-1-3"))
	equal(t, "broken invariants", broken, nil)
}
