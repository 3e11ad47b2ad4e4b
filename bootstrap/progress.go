package bootstrap

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows rows, rate and ETA per table and overall: a block redrawn
// in place on a terminal, plain lines every interval on another writer,
// and without a writer log records every interval (what drc bootstrap
// does when stderr is not a terminal, so that its log stays JSON).
type progress struct {
	w        io.Writer
	log      *slog.Logger // when w is nil
	term     bool
	interval time.Duration
	now      func() time.Time
	tables   []*tableProgress
	began    time.Time
	m        *metrics

	mu    sync.Mutex
	drawn int // lines of the last terminal frame
}

// tableProgress counts one table's rows. est is the expected total (the
// source's estimate, or the recorded rows on a resumed run, whichever is
// larger).
type tableProgress struct {
	name     string
	est      int64
	kept     int64 // rows already current when the run started
	done     atomic.Int64
	started  atomic.Int64 // unix nanos, 0 = not yet
	read     atomic.Bool  // reader finished the table
	pending  atomic.Int64 // chunks queued and not yet written
	finished atomic.Bool  // read, and every chunk written
	onDone   func()
}

func (t *tableProgress) start(now time.Time) { t.started.Store(now.UnixNano()) }
func (t *tableProgress) add(n int64)         { t.done.Add(n) }

// queued counts a chunk handed to the writers; written counts it written,
// with its rows.
func (t *tableProgress) queued() { t.pending.Add(1) }
func (t *tableProgress) written(rows int64) {
	t.done.Add(rows)
	t.pending.Add(-1)
	t.maybeDone()
}

// readDone: the reader queued the table's last chunk.
func (t *tableProgress) readDone() {
	t.read.Store(true)
	t.maybeDone()
}

func (t *tableProgress) maybeDone() {
	if t.read.Load() && t.pending.Load() == 0 && t.finished.CompareAndSwap(false, true) && t.onDone != nil {
		t.onDone()
	}
}

func newProgress(w io.Writer, term bool, interval time.Duration, now func() time.Time, log *slog.Logger, m *metrics) *progress {
	return &progress{w: w, log: log, term: term, interval: interval, now: now, began: now(), m: m}
}

func (p *progress) table(name string, est, kept int64) *tableProgress {
	tp := &tableProgress{name: name, est: max(est, kept), kept: kept, onDone: p.m.tableDone}
	p.tables = append(p.tables, tp)
	p.m.tablesTotal(len(p.tables))
	return tp
}

// run draws until ctx ends, then draws a last time.
func (p *progress) run(ctx context.Context) {
	if p.w == nil && (p.log == nil || p.interval <= 0) {
		<-ctx.Done()
		return
	}
	every := p.interval
	if p.term && p.w != nil {
		every = 250 * time.Millisecond
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			p.draw(true)
			return
		case <-tk.C:
			p.draw(false)
		}
	}
}

// progressEntry is one table's, or the overall, state in a drawing.
type progressEntry struct {
	name          string
	done, est     int64
	copied        int64 // rows written in this run: the rate counts only these
	elapsed       time.Duration
	overall       bool
	overallTables int
}

func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	term := p.term && p.w != nil
	var entries []progressEntry
	var done, est, copied int64
	for _, t := range p.tables {
		d := t.done.Load() + t.kept
		done += d
		est += max(t.est, d)
		copied += t.done.Load()
		st := t.started.Load()
		if st == 0 || (t.read.Load() && !term && !final) {
			continue
		}
		if term && t.read.Load() && d >= t.est && !final {
			continue
		}
		entries = append(entries, progressEntry{name: t.name, done: d, est: max(t.est, d), copied: t.done.Load(), elapsed: now.Sub(time.Unix(0, st))})
	}
	more := 0
	if term && len(entries) > 8 {
		entries, more = entries[:8], len(entries)-8
	}
	entries = append(entries, progressEntry{name: fmt.Sprintf("overall (%d tables)", len(p.tables)), done: done, est: est,
		copied: copied, elapsed: now.Sub(p.began), overall: true, overallTables: len(p.tables)})

	if p.w == nil {
		for _, e := range entries {
			pct, rate, eta := progressNumbers(e.done, e.est, e.copied, e.elapsed)
			args := []any{"rows_done", e.done, "rows_estimated", e.est, "percent", math.Round(pct*10) / 10, "rows_per_second", math.Round(rate)}
			if eta >= 0 {
				args = append(args, "eta_seconds", eta.Seconds())
			}
			if e.overall {
				p.log.Info("bootstrap progress", append([]any{"tables", e.overallTables}, args...)...)
			} else {
				p.log.Info("bootstrap progress", append([]any{"table", e.name}, args...)...)
			}
		}
		return
	}
	lines := make([]string, 0, len(entries)+1)
	for _, e := range entries {
		if e.overall && more > 0 {
			lines = append(lines, fmt.Sprintf("  … %d more tables", more))
		}
		lines = append(lines, progressLine(e.name, e.done, e.est, e.copied, e.elapsed, term))
	}

	var b strings.Builder
	if term {
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
		}
		for _, l := range lines {
			b.WriteString("\x1b[2K")
			b.WriteString(l)
			b.WriteByte('\n')
		}
		// Clear lines left over from a taller previous frame.
		for i := len(lines); i < p.drawn; i++ {
			b.WriteString("\x1b[2K\n")
		}
		if p.drawn > len(lines) {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn-len(lines))
		}
		p.drawn = len(lines)
	} else {
		ts := now.UTC().Format(time.RFC3339)
		for _, l := range lines {
			b.WriteString(ts + " bootstrap progress: " + l + "\n")
		}
	}
	io.WriteString(p.w, b.String())
}

// progressNumbers is the percent done, the rate in rows per second (of
// rows written in this run) and the ETA (-1: unknown).
func progressNumbers(done, est, copied int64, elapsed time.Duration) (pct, rate float64, eta time.Duration) {
	if elapsed > 0 {
		rate = float64(copied) / elapsed.Seconds()
	}
	eta = -1
	switch {
	case done >= est:
		eta = 0
	case rate > 0:
		eta = (time.Duration(float64(est-done) / rate * float64(time.Second))).Round(time.Second)
	}
	pct = 100.0
	if est > 0 {
		pct = 100 * float64(done) / float64(est)
	}
	return pct, rate, eta
}

// progressLine formats "name [bar] done/est rows, rate rows/s, ETA d";
// rate counts only rows written in this run.
func progressLine(name string, done, est, copied int64, elapsed time.Duration, bar bool) string {
	pct, rate, d := progressNumbers(done, est, copied, elapsed)
	eta := "?"
	if d >= 0 {
		eta = d.String()
	}
	s := fmt.Sprintf("%-32s %5.1f%% %s/%s rows, %s rows/s, ETA %s", name, pct, thousands(done), thousands(est), thousands(int64(rate)), eta)
	if bar {
		const width = 20
		n := int(pct / 100 * width)
		n = min(max(n, 0), width)
		s = fmt.Sprintf("%-32s [%s%s] %5.1f%% %s/%s rows, %s rows/s, ETA %s", name,
			strings.Repeat("=", n), strings.Repeat(" ", width-n), pct, thousands(done), thousands(est), thousands(int64(rate)), eta)
	}
	return s
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
