package applier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// txn is one source transaction on its way to the target: assembled from
// its records by the partition's coordinator, applied by a worker.
type txn struct {
	seq  uint64 // dispatch order within the session
	gtid string
	// A group: consecutive source transactions applied as one target
	// transaction. count is how many (1 for a lone transaction), lastGTID
	// the GTID of the last; gtid, first and origin are the first's, next,
	// set and ts the last's.
	count    int
	lastGTID string
	origin   string
	ts       int64     // source commit time, unix ms
	first    int64     // offset of its first record
	next     int64     // offset after its last record: the checkpoint's offset
	lastTS   time.Time // Kafka timestamp of its last record
	set      string
	recs     []*event.Record
	bytes    int
	hasDDL   bool
	// markerAhead: a position marker whose GTID set contains what was
	// applied, so it moves the checkpoint forward.
	markerAhead bool

	// more carries the further records of a large transaction that is
	// applied while it streams in; closed after its last record.
	more chan []*event.Record
	// abandoned: more was closed because the transaction started again
	// in the stream (discardPrefix); the worker rolls it back. Set before
	// more is closed, read by the worker after.
	abandoned bool

	ws      WriteSet
	waitFor *txn // the latest earlier transaction sharing a write-set key
	prev    *txn // the transaction dispatched before it: commits first
	done    chan struct{}

	// Filled by the worker.
	rows      [3]int // insert, update, delete
	heartbeat int64  // unix µs of the heartbeat row applied, or 0
	committed time.Time
}

const (
	recordOverhead = 512     // decoded-record bytes beyond the value's length, roughly
	chunkBytes     = 1 << 20 // a large transaction's records travel in chunks of this size
)

// partition applies one partition of the topic: a coordinator (run) reads
// records from src, assembles transactions and dispatches them in order to
// workers; workers apply them concurrently with tgt's executors and commit
// them in order. Nothing in it talks to Kafka or to the target server
// directly (see stages.go).
type partition struct {
	cfg      *Config
	policies *policies
	m        *metrics
	log      *slog.Logger
	src      recordSource
	tgt      target
	topic    string
	part     int32
	workers  int

	hasher    *writeSetHasher
	work      chan *txn
	committed chan *txn
	errc      chan error

	cur      *txn    // being assembled
	skipping bool    // cur is already applied
	opSkip   *opSkip // an operator's skip in progress (skip.go)
	chunk    []*event.Record
	chunkLen int
	expect   int // next seq in cur

	seq  uint64
	last *txn // last dispatched
	// pending is the newest dispatched transaction while no worker has
	// taken it yet; while every worker is busy, the next small
	// transactions join it (grouping).
	pending  *txn
	inflight int
	queued   int
	keys     map[uint64]*txn
	applied  gtid.Set // GTID set of the last dispatched transaction
	anyDone  bool     // a transaction committed in this session
	maxDone  int64
}

func (p *partition) run(ctx context.Context) error {
	defer p.tgt.Close()
	ck, ok, err := p.tgt.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if p.applied, err = gtid.Parse(p.cfg.Flavor, ck.GTIDSet); err != nil {
		return permanent(fmt.Errorf("checkpoint of %s partition %d: %w", p.cfg.Cluster, p.part, err))
	}
	start := offsetOldest
	if ok && ck.Offset >= 0 {
		oldest, newest, err := p.src.Retained(ctx)
		if err != nil {
			return err
		}
		if ck.Offset < oldest || ck.Offset > newest {
			return permanent(fmt.Errorf("%w: %s partition %d checkpoint offset %d is outside the retained offsets %d..%d; the target needs drc bootstrap",
				ErrCheckpointGone, p.topic, p.part, ck.Offset, oldest, newest))
		}
		start = ck.Offset
		p.m.resumed(p.part, ck.Offset)
	}
	p.log.Info("applying", "topic", p.topic, "from_offset", start, "gtid_set", ck.GTIDSet, "workers", p.workers)

	p.hasher = newWriteSetHasher()
	p.keys = map[uint64]*txn{}
	p.work = make(chan *txn)
	p.committed = make(chan *txn, p.workers+8)
	p.errc = make(chan error, p.workers)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := 0; i < p.workers; i++ {
		x, err := p.tgt.Executor(ctx, i)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer x.Close()
			if err := p.runWorker(ctx, x); err != nil {
				p.errc <- err
				cancel()
			}
		}()
	}
	p.m.workers.Add(float64(p.workers))
	defer p.m.workers.Sub(float64(p.workers))

	decoded := make(chan []decoded, 2)
	srcErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		srcErr <- p.src.Read(ctx, start, decoded)
	}()

	err = p.coordinate(ctx, decoded, srcErr)
	select {
	case werr := <-p.errc:
		return werr // a worker's error is the cause; coordinate saw the cancel
	default:
	}
	return err
}

// decoded is one Kafka record after decoding, as a recordSource delivers
// it; a record that came in fragments spans the offsets from..offset.
type decoded struct {
	rec    *event.Record
	offset int64
	from   int64
	size   int       // the value's bytes
	ts     time.Time // the Kafka record's timestamp (of the last fragment)
	err    error     // a decode error: the last item the decoder sends
}

// coordinate is the coordinator's loop: records from in, commits from the
// workers, until an error. srcErr has the source's end.
func (p *partition) coordinate(ctx context.Context, in <-chan []decoded, srcErr <-chan error) error {
	defer func() {
		p.m.queueBytes.Set(0)
		p.m.queueTxns.Set(0)
	}()
	for {
		batches := in
		if p.queued >= p.cfg.MaxQueueBytes && p.inflight > 0 {
			batches = nil // full: wait for commits
		}
		var work chan *txn
		if p.pending != nil {
			work = p.work
		}
		select {
		case <-ctx.Done():
			return p.cause(ctx)
		case work <- p.pending:
			p.pending = nil
		case t := <-p.committed:
			p.release(t)
		case err := <-srcErr:
			if err != nil {
				return err
			}
			srcErr = nil // the source ended: what it sent is still read
		case batch, ok := <-batches:
			if !ok {
				if err := p.cause(ctx); err != nil {
					return err
				}
				if srcErr != nil { // the source sends its end after closing in
					select {
					case err := <-srcErr:
						if err != nil {
							return err
						}
					case <-ctx.Done():
						return p.cause(ctx)
					}
				}
				return fmt.Errorf("kafka consume %s/%d: records ended", p.topic, p.part)
			}
			for i := range batch {
				if err := p.record(ctx, &batch[i]); err != nil {
					if errors.Is(err, ErrDecode) && (p.cur == nil || p.cur.more == nil) {
						// The transactions before the bad record are whole
						// and valid: let them commit, so the stop is
						// exactly at it. Inside a streaming transaction
						// they have committed already, and the streaming
						// one must not: returning cancels it, and its
						// worker rolls it back.
						if derr := p.drain(ctx); derr != nil {
							p.log.Warn("could not commit the transactions before an undecodable record", "error", derr)
						}
					}
					return err
				}
			}
		}
	}
}

// runWorker is one of the partition's workers: it takes transactions from
// the coordinator and applies them with x, one at a time, until ctx ends
// or a transaction fails.
func (p *partition) runWorker(ctx context.Context, x executor) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-p.work:
			if err := p.apply(ctx, x, t); err != nil {
				x.Rollback()
				if ctx.Err() != nil && !IsPermanent(err) {
					return nil
				}
				return err
			}
			select {
			case p.committed <- t:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// apply runs one transaction on x: once the latest earlier transaction
// sharing a key with it has committed, its rows; once every earlier
// transaction has committed, its checkpoint and COMMIT.
func (p *partition) apply(ctx context.Context, x executor, t *txn) error {
	if t.waitFor != nil {
		select {
		case <-t.waitFor.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	began := time.Now()
	// Whether an earlier transaction was still in flight when this one
	// started: only then can a foreign-key failure be an ordering one.
	prevPending := t.prev != nil && !isClosed(t.prev.done)
	err := x.Apply(ctx, t, false)
	if err != nil && mysqlerr.ForeignKey(err) && t.more == nil && prevPending {
		// A foreign key's other row is written by an earlier transaction
		// that has not committed yet, and the write-set did not see the
		// link (a key the target's schema does not declare the same way,
		// a collation the hash folds differently). Apply it again once
		// every earlier transaction has committed, in source order.
		p.m.fkOrdered.Inc()
		x.Rollback()
		t.rows = [3]int{} // counted again by the second attempt
		select {
		case <-t.prev.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		err = x.Apply(ctx, t, true)
	}
	if err != nil {
		return err
	}
	if t.abandoned {
		// Nothing of it commits, not even the inserts still batched; the
		// complete copy follows.
		x.Rollback()
		close(t.done)
		return nil
	}
	busy := time.Since(began)
	if t.prev != nil {
		waited := time.Now()
		select {
		case <-t.prev.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.m.commitWaitNs.Add(time.Since(waited).Seconds())
	}
	commitStart := time.Now()
	if err := x.Commit(ctx, t); err != nil {
		return err
	}
	now := time.Now()
	busy += now.Sub(commitStart)
	close(t.done)
	t.recs = nil
	p.observe(t, now, busy)
	return nil
}

func (p *partition) observe(t *txn, now time.Time, busy time.Duration) {
	m := p.m
	m.busy.Add(busy.Seconds())
	m.txns.Add(float64(t.count))
	if t.rows[0] > 0 {
		m.rows.WithLabelValues("insert").Add(float64(t.rows[0]))
	}
	if t.rows[1] > 0 {
		m.rows.WithLabelValues("update").Add(float64(t.rows[1]))
	}
	if t.rows[2] > 0 {
		m.rows.WithLabelValues("delete").Add(float64(t.rows[2]))
	}
	if t.ts > 0 {
		m.latency.Observe(max(0, float64(now.UnixMilli()-t.ts)/1e3))
	}
	if t.heartbeat > 0 {
		m.heartbeat(t.heartbeat)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// cause returns a worker's error if one stopped the session.
func (p *partition) cause(ctx context.Context) error {
	select {
	case err := <-p.errc:
		p.errc <- err
		return err
	default:
		return ctx.Err()
	}
}

// record handles one decoded Kafka record: framing, duplicate detection,
// assembly.
func (p *partition) record(ctx context.Context, d *decoded) error {
	p.m.bytes.Add(float64(d.size))
	if p.opSkip != nil || len(p.cfg.SkipOffsets) > 0 && p.skipRequested(d.offset) {
		if taken, err := p.operatorSkip(ctx, d); taken || err != nil {
			return err
		}
	}
	if d.err != nil {
		return decodeError(p.topic, p.part, d.offset, d.err)
	}
	rec := d.rec
	if p.cur != nil && rec.Seq == 0 && rec.GTID == p.cur.gtid && rec.GTID != "" {
		if err := p.discardPrefix(ctx, d.from); err != nil {
			return err
		}
	}
	if p.cur == nil {
		if rec.Seq != 0 {
			return decodeError(p.topic, p.part, d.offset, fmt.Errorf("transaction %s starts at seq %d, want 0", rec.GTID, rec.Seq))
		}
		p.cur = &txn{gtid: rec.GTID, lastGTID: rec.GTID, count: 1, origin: rec.Origin, ts: rec.TS, first: d.from, done: make(chan struct{})}
		p.expect = 0
		p.skipping = false
		if rec.GTID != "" {
			g, err := gtid.Parse(p.cfg.Flavor, rec.GTID)
			if err != nil {
				return decodeError(p.topic, p.part, d.offset, fmt.Errorf("gtid: %w", err))
			}
			p.skipping = p.applied.Contains(g)
		}
	} else if rec.GTID != p.cur.gtid || rec.Seq != p.expect {
		return decodeError(p.topic, p.part, d.offset, fmt.Errorf("out-of-order record: gtid %s seq %d inside transaction %s (started at offset %d) at seq %d", rec.GTID, rec.Seq, p.cur.gtid, p.cur.first, p.expect))
	}
	p.expect++
	t := p.cur
	t.next, t.lastTS = d.offset+1, d.ts
	if rec.Last {
		if rec.GTIDSet == "" {
			return decodeError(p.topic, p.part, d.offset, fmt.Errorf("last record of transaction %q has no gtid_set", rec.GTID))
		}
		t.set = rec.GTIDSet
	}
	if p.skipping {
		if rec.Last {
			p.cur = nil
			p.m.skipped.Inc()
		}
		return nil
	}
	if rec.Op == event.OpDDL {
		t.hasDDL = true
	}
	size := d.size + recordOverhead
	if t.more != nil { // streaming a large transaction
		p.chunk = append(p.chunk, rec)
		p.chunkLen += size
		if p.chunkLen >= chunkBytes || rec.Last {
			select {
			case t.more <- p.chunk:
			case <-ctx.Done():
				return p.cause(ctx)
			}
			p.chunk, p.chunkLen = nil, 0
		}
		if rec.Last {
			close(t.more)
			p.cur = nil
			if err := p.advance(t, d.offset); err != nil {
				return err
			}
			return p.drain(ctx)
		}
		return nil
	}
	t.recs = append(t.recs, rec)
	t.bytes += size
	p.queued += size
	p.m.queueBytes.Set(float64(p.queued))
	if !rec.Last {
		if t.bytes > p.cfg.LargeTxnBytes && !t.hasDDL {
			return p.startStreaming(ctx, t)
		}
		return nil
	}
	p.cur = nil
	if err := p.advance(t, d.offset); err != nil {
		return err
	}
	if rec.Op == event.OpHeartbeat && rec.After == nil && len(t.recs) == 1 {
		// A position marker: it moves the checkpoint's GTID set only
		// forward, and only when it is ahead of what was applied.
		if !t.markerAhead {
			p.queued -= t.bytes
			return nil
		}
	}
	if t.hasDDL {
		return p.ddl(ctx, t)
	}
	return p.dispatch(ctx, t)
}

// discardPrefix drops the transaction being assembled because the same
// transaction starts again at seq 0 before its last record. That is a
// replayed transaction, not corruption: a replicator that committed the
// first records of a binlog transaction to Kafka and then restarted
// publishes the whole transaction again from its committed position. The
// prefix was never applied, because a target transaction commits only at
// its last record; a large transaction that was streaming into a worker is
// rolled back there. The complete copy that follows is applied as usual.
func (p *partition) discardPrefix(ctx context.Context, offset int64) error {
	t := p.cur
	p.cur = nil
	p.m.replayed.Inc()
	p.log.Warn("transaction starts again before its last record; discarding the incomplete copy and applying the complete one",
		"gtid", t.gtid, "topic", p.topic, "partition", p.part, "first_offset", t.first, "offset", offset, "records_discarded", p.expect)
	switch {
	case t.more != nil:
		// Its worker holds an open target transaction: abandon it, and
		// wait until it has rolled back.
		t.abandoned = true
		p.chunk, p.chunkLen = nil, 0
		close(t.more)
		return p.drain(ctx)
	case !p.skipping:
		p.queued -= t.bytes
		p.m.queueBytes.Set(float64(p.queued))
	}
	return nil
}

// advance makes t's GTID set the applied set, which later transactions
// are checked against for duplicates. A marker only moves it forward.
func (p *partition) advance(t *txn, offset int64) error {
	set, err := gtid.Parse(p.cfg.Flavor, t.set)
	if err != nil {
		return decodeError(p.topic, p.part, offset, fmt.Errorf("gtid_set: %w", err))
	}
	if t.gtid == "" {
		t.markerAhead = set.Contains(p.applied) && !set.Equal(p.applied)
		if !t.markerAhead {
			return nil
		}
	}
	p.applied = set
	return nil
}

// label names t in errors and logs: its GTID, or a group's first and last.
func (t *txn) label() string {
	if t.count > 1 {
		return fmt.Sprintf("group %s..%s (%d transactions)", t.gtid, t.lastGTID, t.count)
	}
	return "transaction " + t.gtid
}

// Limits of a group of small transactions applied as one.
const (
	groupMaxTxns    = 32
	groupMaxRecords = 256
)

// dispatch computes t's write-set and queues it for the workers: it
// becomes the pending transaction, or, when the pending one is still
// waiting for a free worker, joins it.
func (p *partition) dispatch(ctx context.Context, t *txn) error {
	for _, r := range t.recs {
		switch {
		case r.Op.IsRow():
			img := r.After
			if img == nil {
				img = r.Before
			}
			pl, err := p.tgt.Plan(ctx, img.Table)
			if err != nil {
				return err
			}
			t.ws = p.hasher.addRow(t.ws, pl, r.Before, r.After)
		case r.Op == event.OpHeartbeat:
			t.ws = append(t.ws, p.hasher.namedKey("drc_meta.heartbeat", r.Region))
		}
	}
	if g := p.pending; g != nil {
		select { // a free worker takes the pending transaction now
		case p.work <- g:
			p.pending = nil
		default:
			if p.groupable(g, t) {
				p.join(g, t)
				return nil
			}
		}
	}
	return p.enqueue(ctx, t)
}

// enqueue makes t the newest dispatched transaction, after the pending one
// has gone to a worker: it takes the next seq, waits for the latest
// earlier writer of its keys, commits after the transaction before it,
// and is pending until a worker takes it.
func (p *partition) enqueue(ctx context.Context, t *txn) error {
	if err := p.flushPending(ctx); err != nil {
		return err
	}
	p.seq++
	t.seq = p.seq
	p.link(t, t)
	if t.waitFor != nil {
		p.m.serialWaits.Inc()
	}
	t.prev = p.last
	p.last = t
	p.inflight++
	p.m.queueTxns.Set(float64(p.inflight))
	p.pending = t
	return nil
}

// link records that owner writes t's keys, and makes owner wait for the
// latest other transaction that wrote one of them (see follows: every key
// is looked up before any is recorded).
func (p *partition) link(owner, t *txn) {
	for _, k := range t.ws {
		if h := follows(p.keys, k, owner); h != nil && (owner.waitFor == nil || h.seq > owner.waitFor.seq) {
			owner.waitFor = h
		}
	}
	for _, k := range t.ws {
		p.keys[k] = owner
	}
}

// groupable reports whether t may join the pending group g: both small
// row transactions of one origin (loop prevention reads one origin per
// target transaction), within the group's limits.
func (p *partition) groupable(g, t *txn) bool {
	return g.more == nil && !g.hasDDL && !t.hasDDL && g.origin == t.origin &&
		g.count < groupMaxTxns && len(g.recs)+len(t.recs) <= groupMaxRecords &&
		g.bytes+t.bytes <= p.cfg.LargeTxnBytes
}

// join appends t to the pending group g. The group's checkpoint becomes
// t's, so the group commits all of its transactions or none.
func (p *partition) join(g, t *txn) {
	before := g.waitFor
	p.link(g, t)
	if g.waitFor != before && before == nil {
		p.m.serialWaits.Inc()
	}
	g.ws = append(g.ws, t.ws...)
	g.recs = append(g.recs, t.recs...)
	g.bytes += t.bytes
	g.count++
	// ts stays the first member's, so apply latency is the group's longest.
	g.lastGTID, g.next, g.set, g.lastTS = t.lastGTID, t.next, t.set, t.lastTS
	p.m.grouped.Inc()
}

// flushPending hands the pending transaction to a worker, waiting for one.
func (p *partition) flushPending(ctx context.Context) error {
	if p.pending == nil {
		return nil
	}
	for {
		select {
		case p.work <- p.pending:
			p.pending = nil
			return nil
		case c := <-p.committed:
			p.release(c)
		case <-ctx.Done():
			return p.cause(ctx)
		}
	}
}

// send hands t, a large transaction that streams, to a worker, in order,
// while still collecting commits. The pending transaction goes first.
func (p *partition) send(ctx context.Context, t *txn) error {
	if err := p.enqueue(ctx, t); err != nil {
		return err
	}
	return p.flushPending(ctx)
}

// release accounts for a committed (or abandoned) transaction.
func (p *partition) release(t *txn) {
	p.inflight--
	p.queued -= t.bytes
	for _, k := range t.ws {
		if p.keys[k] == t {
			delete(p.keys, k)
		}
	}
	p.m.queueTxns.Set(float64(p.inflight))
	p.m.queueBytes.Set(float64(p.queued))
	if t.abandoned {
		return
	}
	p.anyDone = true
	if t.next > p.maxDone {
		p.maxDone = t.next
		p.m.checkpointed(p.part, t.next, t.lastTS)
		p.src.Committed(t.next)
	}
}

// drain waits until every dispatched transaction has committed.
func (p *partition) drain(ctx context.Context) error {
	if err := p.flushPending(ctx); err != nil {
		return err
	}
	for p.inflight > 0 {
		select {
		case t := <-p.committed:
			p.release(t)
		case <-ctx.Done():
			return p.cause(ctx)
		}
	}
	return nil
}

// startStreaming switches t, which outgrew LargeTxnBytes, to streaming: the
// transactions before it commit first, then one worker applies it alone as
// its records arrive, so memory stays bounded whatever its size.
func (p *partition) startStreaming(ctx context.Context, t *txn) error {
	if err := p.drain(ctx); err != nil {
		return err
	}
	p.m.largeTxns.Inc()
	p.log.Info("streaming a large transaction", "gtid", t.gtid, "offset", t.first)
	p.queued -= t.bytes
	t.bytes = 0
	p.m.queueBytes.Set(float64(p.queued))
	t.more = make(chan []*event.Record, 4)
	return p.send(ctx, t)
}

// ddl applies a transaction that carries DDL: in stream order, after every
// earlier transaction has committed, on the coordinator's own connection.
// The checkpoint (and any rows the transaction has) then commits in a
// transaction of its own, dispatched like any other.
func (p *partition) ddl(ctx context.Context, t *txn) error {
	if err := p.drain(ctx); err != nil {
		return err
	}
	rows := t.recs[:0:0]
	for _, r := range t.recs {
		if r.Op != event.OpDDL {
			rows = append(rows, r)
			continue
		}
		if err := p.applyDDL(ctx, t, r); err != nil {
			return err
		}
	}
	t.recs = rows
	if err := p.dispatch(ctx, t); err != nil {
		return err
	}
	return p.drain(ctx)
}

// applyDDL runs one DDL statement as the source ran it: USE db, then the
// same SQL.
//
// DDL commits on its own, so a crash between the DDL and the checkpoint
// that follows it leaves the DDL applied but not checkpointed, and the
// next session reads it again. Such a DDL is necessarily the first thing
// the new session applies; for that one only, the errors that say "already
// done" (table or database exists or is gone, duplicate column or index,
// cannot drop a missing column or key, unknown column or table for a
// rename) are taken as applied. Statements that re-run without error
// (ALTER ... MODIFY) simply run twice, with the same result.
func (p *partition) applyDDL(ctx context.Context, t *txn, r *event.Record) error {
	action := p.policies.DDL(r.DB, r.Table)
	log := p.log.With("gtid", t.gtid, "db", r.DB, "table", r.Table)
	switch action {
	case DDLSkip:
		p.m.ddl.WithLabelValues("skip").Inc()
		log.Warn("DDL skipped by policy", "statement", replicator.ClassifyStatement(r.SQL, r.DB).Label())
		log.Debug("DDL skipped by policy", "sql", replicator.RedactSQL(r.SQL))
		return nil
	case DDLStop:
		p.m.ddl.WithLabelValues("stop").Inc()
		return permanent(fmt.Errorf("%w: transaction %s at %s partition %d offset %d: %s", ErrDDLStopped, t.gtid, p.topic, p.part, t.first, replicator.RedactSQL(r.SQL)))
	}
	st := replicator.ClassifyStatement(r.SQL, r.DB)
	if st.Object == "TRIGGER" && p.cfg.Triggers == TriggersStop {
		// A target trigger would fire again for replicated rows (see
		// Config.Triggers): the DR region does not get it, so it does not
		// drop it either.
		p.m.ddl.WithLabelValues("skip_trigger").Inc()
		log.Warn(st.Verb+" TRIGGER not applied: replicated rows already carry its effects (applier.triggers: stop); recreate triggers when this region is promoted", "trigger", st.Table)
		log.Debug("trigger not applied", "sql", replicator.RedactSQL(r.SQL))
		return nil
	}
	if kind := st.DDLKind(); !slices.Contains(p.cfg.DDLKinds, kind) {
		// Checked before anything runs: what replicated DDL may do on the
		// target is the target's decision, whatever reached the topic.
		p.m.ddl.WithLabelValues("stop_kind").Inc()
		return permanent(fmt.Errorf("%w: %s (kind %s) of transaction %s at %s partition %d offset %d; applier.ddl_kinds allows %s: add %s to it to run such statements, or pass over this one with drc apply --skip-offset %d:%d",
			ErrDDLKind, st.Label(), kind, t.gtid, p.topic, p.part, t.first, strings.Join(p.cfg.DDLKinds, ", "), kind, p.part, t.first))
	}
	err := p.tgt.ExecDDL(ctx, r)
	if err != nil && !p.anyDone && alreadyApplied(err) {
		p.m.ddl.WithLabelValues("already_applied").Inc()
		log.Warn("DDL was already applied before a restart", "statement", st.Label(), "error", err)
		return nil
	}
	if err != nil {
		err = classifyApply(fmt.Errorf("ddl of transaction %s (%.200s): %w", t.gtid, replicator.RedactSQL(r.SQL), err))
		if IsPermanent(err) {
			// Across flavors this is how a type or collation the target
			// lacks shows up; the statement fails the same way every start.
			err = permanent(fmt.Errorf("%w; change the target so that it can run the statement and restart, or pass over it deliberately with drc apply --skip-offset %d:%d (recorded in drc_meta.skipped; rows of the table then stop the applier too)", err, p.part, t.first))
		}
		return err
	}
	p.m.ddl.WithLabelValues("apply").Inc()
	log.Info("DDL applied", "statement", st.Label())
	log.Debug("DDL applied", "sql", replicator.RedactSQL(r.SQL))
	return nil
}
