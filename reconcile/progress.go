package reconcile

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// progress shows rows done, rate and ETA while a run goes. On a terminal it
// redraws one bar in place; otherwise (a log file, a pipe) it writes a line
// every interval, since carriage returns would only clutter the file.
type progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	total    atomic.Int64 // estimated rows of all tables
	done     atomic.Int64
	began    time.Time
}

func newProgress(w io.Writer, interval time.Duration) *progress {
	if w == nil {
		return nil
	}
	p := &progress{w: w, interval: interval, began: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
			p.interval = 200 * time.Millisecond
		}
	}
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

func (p *progress) draw(final bool) {
	done, total := p.done.Load(), p.total.Load()
	if total < done {
		total = done // the estimate was low
	}
	elapsed := time.Since(p.began)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	eta := "?"
	if rate > 0 && total > done {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	} else if total == done {
		eta = "0s"
	}
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	line := fmt.Sprintf("%s/%s rows  %s rows/s  ETA %s", count(done), count(total), count(int64(rate)), eta)
	if p.tty {
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("=", n) + strings.Repeat(" ", width-n)
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r[%s] %3.0f%%  %s\x1b[K%s", bar, frac*100, line, end)
		return
	}
	fmt.Fprintf(p.w, "reconcile: %3.0f%% %s\n", frac*100, line)
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
