package reconcile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// progress shows rows done, rate and ETA while a run goes. Given a writer
// (a terminal) it redraws one bar in place there; otherwise it logs a
// record every interval, so that a log read by a machine stays one record
// per line.
type progress struct {
	w        io.Writer // the terminal, or nil: log records
	log      *slog.Logger
	interval time.Duration
	total    atomic.Int64 // estimated rows of all tables
	done     atomic.Int64
	began    time.Time
	now      func() time.Time
}

// newProgress returns the run's progress display: a bar on w when w is
// set, else records on log every interval; nil (nothing shown) when
// neither can be.
func newProgress(w io.Writer, interval time.Duration, log *slog.Logger) *progress {
	p := &progress{w: w, log: log, interval: interval, now: time.Now}
	switch {
	case w != nil:
		p.interval = 200 * time.Millisecond
	case log == nil || interval <= 0:
		return nil
	}
	p.began = p.now()
	return p
}

func (p *progress) add(rows int64) {
	if p != nil {
		p.done.Add(rows)
	}
}

func (p *progress) addTotal(rows int64) {
	if p != nil {
		p.total.Add(rows)
	}
}

// run draws until ctx is done, then draws a final state. It is started and
// waited for by Run.
func (p *progress) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

// progressState is what one drawing shows.
type progressState struct {
	done, total int64
	rate        float64 // rows per second
	eta         time.Duration
	etaKnown    bool
	frac        float64
}

func (p *progress) state() progressState {
	s := progressState{done: p.done.Load(), total: p.total.Load(), frac: 1}
	if s.total < s.done {
		s.total = s.done // the estimate was low
	}
	if secs := p.now().Sub(p.began).Seconds(); secs > 0 {
		s.rate = float64(s.done) / secs
	}
	switch {
	case s.total == s.done:
		s.etaKnown = true
	case s.rate > 0:
		s.eta = time.Duration(float64(s.total-s.done) / s.rate * float64(time.Second)).Round(time.Second)
		s.etaKnown = true
	}
	if s.total > 0 {
		s.frac = float64(s.done) / float64(s.total)
	}
	return s
}

func (p *progress) draw(final bool) {
	s := p.state()
	if p.w == nil {
		args := []any{"rows_done", s.done, "rows_estimated", s.total,
			"percent", math.Round(s.frac*1000) / 10, "rows_per_second", math.Round(s.rate)}
		if s.etaKnown {
			args = append(args, "eta_seconds", s.eta.Seconds())
		}
		p.log.Info("reconcile progress", args...)
		return
	}
	eta := "?"
	if s.etaKnown {
		eta = s.eta.String()
	}
	line := fmt.Sprintf("%s/%s rows  %s rows/s  ETA %s", count(s.done), count(s.total), count(int64(s.rate)), eta)
	const width = 30
	n := min(max(int(s.frac*width), 0), width)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%%  %s\x1b[K%s", bar, s.frac*100, line, end)
}

// count formats n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
