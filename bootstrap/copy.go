package bootstrap

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// task is one chunk on its way from the snapshot reader to a writer.
type task struct {
	tbl    *tableRun
	kind   stepKind
	seq    int64
	loEnc  string // stored bounds, "" open
	hiEnc  string
	lo, hi Key
	rows   [][]any
	bytes  int
}

// tableRun is a table being copied in this run.
type tableRun struct {
	*Table
	plan     tablePlan
	progress *tableProgress
}

// copier runs the copy pipeline: one reader on the snapshot connection
// feeds Workers writers through a queue bounded in chunks and in bytes.
type copier struct {
	cfg     *Config
	log     *slog.Logger
	gen     int
	snap    *sql.Conn // the snapshot session: every read of the copy
	srcPool *sql.DB   // Threads_running
	writers []*sql.Conn
	maxStmt int
	prog    *progress
	metrics *metrics
	budget  *byteBudget

	mu     sync.Mutex
	counts copyCounts
}

// copyCounts is what the writers did.
type copyCounts struct {
	rows                int64
	copied              int
	unchanged           int
	rewritten           int
	throttled           time.Duration
	readBusy, writeBusy time.Duration
}

// run copies every table and returns when the reader and all writers have
// stopped. The first error cancels the rest.
func (c *copier) run(ctx context.Context, tables []*tableRun) error {
	eg, gctx := errgroup.WithContext(ctx)
	tasks := make(chan *task, 2*len(c.writers))
	for _, w := range c.writers {
		eg.Go(func() error { return c.write(gctx, w, tasks) })
	}
	eg.Go(func() error {
		defer close(tasks)
		return c.read(gctx, tables, tasks)
	})
	if err := eg.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// read walks every table's plan in key order on the snapshot session.
func (c *copier) read(ctx context.Context, tables []*tableRun, out chan<- *task) error {
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	th := newThrottle(c.cfg, c.srcPool, c.log)
	send := func(t *task) error {
		if err := c.budget.acquire(ctx, t.bytes); err != nil {
			return err
		}
		t.tbl.progress.queued()
		select {
		case out <- t:
			return nil
		case <-ctx.Done():
			c.budget.release(t.bytes)
			return ctx.Err()
		}
	}
	for _, tr := range tables {
		tr.progress.start(c.now())
		for _, st := range tr.plan.Steps {
			lo, err := DecodeKey(st.Lo)
			if err != nil {
				return fmt.Errorf("%s chunk %d: %w", tr, st.Seq, err)
			}
			hi, err := DecodeKey(st.Hi)
			if err != nil {
				return fmt.Errorf("%s chunk %d: %w", tr, st.Seq, err)
			}
			if err := th.wait(ctx); err != nil {
				return err
			}
			rows, n, err := c.readRange(ctx, stmts, tr.Table, lo, hi, 0)
			if err != nil {
				return err
			}
			th.count(len(rows))
			if err := send(&task{tbl: tr, kind: st.Kind, seq: st.Seq, loEnc: st.Lo, hiEnc: st.Hi, lo: lo, hi: hi, rows: rows, bytes: n}); err != nil {
				return err
			}
		}
		if !tr.plan.Tail {
			tr.progress.readDone()
			continue
		}
		loEnc, seq := tr.plan.TailLo, tr.plan.TailSeq
		lo, err := DecodeKey(loEnc)
		if err != nil {
			return fmt.Errorf("%s chunk %d: %w", tr, seq, err)
		}
		for {
			if err := th.wait(ctx); err != nil {
				return err
			}
			rows, n, err := c.readRange(ctx, stmts, tr.Table, lo, nil, c.cfg.ChunkRows)
			if err != nil {
				return err
			}
			th.count(len(rows))
			t := &task{tbl: tr, kind: stepCopy, seq: seq, loEnc: loEnc, lo: lo, rows: rows, bytes: n}
			if len(rows) < c.cfg.ChunkRows {
				// The last chunk is open above, so that it covers every
				// key a later snapshot may hold past the end.
				if err := send(t); err != nil {
					return err
				}
				break
			}
			hi, err := tr.keyOf(rows[len(rows)-1])
			if err != nil {
				return fmt.Errorf("%s: %w", tr, err)
			}
			if t.hiEnc, err = EncodeKey(hi); err != nil {
				return fmt.Errorf("%s: %w", tr, err)
			}
			t.hi = hi
			if err := send(t); err != nil {
				return err
			}
			lo, loEnc, seq = hi, t.hiEnc, seq+1
		}
		tr.progress.readDone()
	}
	c.mu.Lock()
	c.counts.throttled = th.throttled
	c.mu.Unlock()
	return nil
}

func (c *copier) now() time.Time { return c.cfg.now() }

// readRange reads (lo, hi] on the snapshot session, at most limit rows
// (0: all), through a prepared statement: the binary protocol returns FLOAT
// and DOUBLE exactly. It returns the rows and their approximate size.
func (c *copier) readRange(ctx context.Context, stmts map[string]*sql.Stmt, t *Table, lo, hi Key, limit int) ([][]any, int, error) {
	began := time.Now()
	q, args := t.SelectChunk(lo, hi, limit)
	rows, n, err := queryRows(ctx, c.snap, stmts, q, args, len(t.Columns))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", t, err)
	}
	c.mu.Lock()
	c.counts.readBusy += time.Since(began)
	c.mu.Unlock()
	return rows, n, nil
}

// queryRows runs q through a statement prepared on conn (cached in stmts)
// and returns all rows.
func queryRows(ctx context.Context, conn *sql.Conn, stmts map[string]*sql.Stmt, q string, args []any, ncol int) ([][]any, int, error) {
	st, ok := stmts[q]
	if !ok {
		var err error
		if st, err = conn.PrepareContext(ctx, q); err != nil {
			return nil, 0, err
		}
		stmts[q] = st
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rs.Close()
	var out [][]any
	size := 0
	ptrs := make([]any, ncol)
	for rs.Next() {
		row := make([]any, ncol)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, 0, err
		}
		for _, v := range row {
			size += 16
			if b, ok := v.([]byte); ok {
				size += len(b)
			}
		}
		out = append(out, row)
	}
	return out, size, rs.Err()
}

// digest hashes rows as read in the binary protocol: type and exact value
// of every field, in key order. Equal digests of the source's and the
// target's rows of a range mean equal contents.
func digest(rows [][]any) [32]byte {
	h := sha256.New()
	var buf [9]byte
	for _, r := range rows {
		for _, v := range r {
			switch x := v.(type) {
			case nil:
				h.Write([]byte{0})
			case int64:
				buf[0] = 1
				binary.LittleEndian.PutUint64(buf[1:], uint64(x))
				h.Write(buf[:])
			case uint64:
				buf[0] = 2
				binary.LittleEndian.PutUint64(buf[1:], x)
				h.Write(buf[:])
			case float32:
				buf[0] = 3
				binary.LittleEndian.PutUint64(buf[1:], math.Float64bits(float64(x)))
				h.Write(buf[:])
			case float64:
				buf[0] = 4
				binary.LittleEndian.PutUint64(buf[1:], math.Float64bits(x))
				h.Write(buf[:])
			case []byte:
				buf[0] = 5
				binary.LittleEndian.PutUint64(buf[1:], uint64(len(x)))
				h.Write(buf[:])
				h.Write(x)
			default:
				fmt.Fprintf(h, "\x06%T:%v", v, v)
			}
		}
		h.Write([]byte{0xff})
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// write applies tasks on one target session until the queue closes.
func (c *copier) write(ctx context.Context, conn *sql.Conn, in <-chan *task) error {
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	for {
		var t *task
		select {
		case <-ctx.Done():
			return ctx.Err()
		case tk, ok := <-in:
			if !ok {
				return nil
			}
			t = tk
		}
		began := time.Now()
		outcome, err := c.writeChunk(ctx, conn, stmts, t)
		c.budget.release(t.bytes)
		if err != nil {
			return fmt.Errorf("write %s chunk %d: %w", t.tbl, t.seq, err)
		}
		c.mu.Lock()
		c.counts.writeBusy += time.Since(began)
		switch outcome {
		case outcomeCopied:
			c.counts.copied++
			c.counts.rows += int64(len(t.rows))
		case outcomeUnchanged:
			c.counts.unchanged++
		case outcomeRewritten:
			c.counts.rewritten++
			c.counts.rows += int64(len(t.rows))
		}
		c.mu.Unlock()
		c.metrics.chunk(outcome, len(t.rows))
		t.tbl.progress.written(int64(len(t.rows)))
	}
}

type outcome string

const (
	outcomeCopied    outcome = "copied"
	outcomeUnchanged outcome = "unchanged"
	outcomeRewritten outcome = "rewritten"
)

// writeChunk writes one chunk and its bootstrap_chunks row in one target
// transaction, so a killed run leaves every chunk either wholly written and
// recorded, or neither.
func (c *copier) writeChunk(ctx context.Context, conn *sql.Conn, stmts map[string]*sql.Stmt, t *task) (res outcome, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	res = outcomeCopied
	if t.kind == stepRefresh {
		q, args := t.tbl.SelectChunk(t.lo, t.hi, 0)
		have, _, err := queryRows(ctx, conn, stmts, q, args, len(t.tbl.Columns))
		if err != nil {
			return "", fmt.Errorf("read target range: %w", err)
		}
		if digest(have) == digest(t.rows) {
			res = outcomeUnchanged
		} else {
			res = outcomeRewritten
			q, args := t.tbl.DeleteChunk(t.lo, t.hi)
			if _, err := conn.ExecContext(ctx, q, args...); err != nil {
				return "", fmt.Errorf("delete changed range: %w", err)
			}
		}
	}
	if res != outcomeUnchanged {
		inserts, err := t.tbl.InsertStatements(t.rows, c.maxStmt)
		if err != nil {
			return "", err
		}
		for _, q := range inserts {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return "", fmt.Errorf("insert: %w", err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, sqlSaveChunk, c.cfg.Cluster, t.tbl.DB, t.tbl.Name, t.seq, t.loEnc, t.hiEnc, len(t.rows), c.gen); err != nil {
		return "", fmt.Errorf("record chunk: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return "", err
	}
	return res, nil
}

// byteBudget bounds the bytes of rows queued between reader and writers.
// A single chunk larger than the whole budget is let through alone.
type byteBudget struct {
	mu    sync.Mutex
	max   int
	used  int
	freed chan struct{}
}

func newByteBudget(max int) *byteBudget {
	return &byteBudget{max: max, freed: make(chan struct{}, 1)}
}

func (b *byteBudget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}
