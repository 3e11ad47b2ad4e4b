package bootstrap

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows rows, rate and ETA per table and overall: a block redrawn
// in place on a terminal, plain lines every interval otherwise.
type progress struct {
	w        io.Writer
	term     bool
	interval time.Duration
	now      func() time.Time
	tables   []*tableProgress
	began    time.Time

	mu    sync.Mutex
	drawn int // lines of the last terminal frame
}

// tableProgress counts one table's rows. est is the expected total (the
// source's estimate, or the recorded rows on a resumed run, whichever is
// larger).
type tableProgress struct {
	name    string
	est     int64
	kept    int64 // rows already current when the run started
	done    atomic.Int64
	started atomic.Int64 // unix nanos, 0 = not yet
	read    atomic.Bool  // reader finished the table
}

func (t *tableProgress) start(now time.Time) { t.started.Store(now.UnixNano()) }
func (t *tableProgress) readDone()           { t.read.Store(true) }
func (t *tableProgress) add(n int64)         { t.done.Add(n) }

func newProgress(w io.Writer, term bool, interval time.Duration, now func() time.Time) *progress {
	return &progress{w: w, term: term, interval: interval, now: now, began: now()}
}

func (p *progress) table(name string, est, kept int64) *tableProgress {
	tp := &tableProgress{name: name, est: max(est, kept), kept: kept}
	p.tables = append(p.tables, tp)
	return tp
}

// run draws until ctx ends, then draws a last time.
func (p *progress) run(ctx context.Context) {
	if p.w == nil {
		<-ctx.Done()
		return
	}
	every := p.interval
	if p.term {
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

func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	var lines []string
	var done, est int64
	active := 0
	for _, t := range p.tables {
		d := t.done.Load() + t.kept
		done += d
		est += max(t.est, d)
		st := t.started.Load()
		if st == 0 || (t.read.Load() && !p.term && !final) {
			continue
		}
		if p.term && t.read.Load() && d >= t.est && !final {
			continue
		}
		active++
		elapsed := now.Sub(time.Unix(0, st))
		lines = append(lines, progressLine(t.name, d, max(t.est, d), t.done.Load(), elapsed, p.term))
	}
	if p.term && len(lines) > 8 {
		lines = append(lines[:8], fmt.Sprintf("  … %d more tables", len(lines)-8))
	}
	var copied int64
	for _, t := range p.tables {
		copied += t.done.Load()
	}
	lines = append(lines, progressLine(fmt.Sprintf("overall (%d tables)", len(p.tables)), done, est, copied, now.Sub(p.began), p.term))

	var b strings.Builder
	if p.term {
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

// progressLine formats "name [bar] done/est rows, rate rows/s, ETA d";
// rate counts only rows written in this run.
func progressLine(name string, done, est, copied int64, elapsed time.Duration, bar bool) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(copied) / elapsed.Seconds()
	}
	eta := "?"
	switch {
	case done >= est:
		eta = "0s"
	case rate > 0:
		eta = (time.Duration(float64(est-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	pct := 100.0
	if est > 0 {
		pct = 100 * float64(done) / float64(est)
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
