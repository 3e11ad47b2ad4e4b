// Package retry is how drc's long-running roles wait between failed
// sessions and tell the operator about them: a capped exponential backoff,
// and a log that reports each distinct failure once, a repeated one at
// most once a minute, and the recovery once.
//
// The cap is low by default (a few seconds): a DR pipeline's idle time
// after a server returns is added to its RPO, and a session that fails
// fast costs little.
package retry

import (
	"log/slog"
	"time"
)

// Backoff is a capped exponential backoff; the zero value is not usable,
// make one with NewBackoff.
type Backoff struct {
	min, max, cur time.Duration
}

// NewBackoff starts at min and doubles up to max.
func NewBackoff(min, max time.Duration) *Backoff {
	if max < min {
		max = min
	}
	return &Backoff{min: min, max: max, cur: min}
}

// Next returns the wait before the next attempt and doubles the one after.
func (b *Backoff) Next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.max)
	return d
}

// Reset starts over at min, after a healthy session.
func (b *Backoff) Reset() { b.cur = b.min }

// Failures logs a role's failed sessions.
type Failures struct {
	log      *slog.Logger
	what     string // e.g. "replication session failed; retrying"
	n        int    // consecutive failures
	lastText string
	lastAt   time.Time
	now      func() time.Time
}

// NewFailures logs through log with the message what.
func NewFailures(log *slog.Logger, what string) *Failures {
	return &Failures{log: log, what: what, now: time.Now}
}

// Failed records a failure. It is logged when it differs from the last
// one logged, or a minute after that one; the count says how many there
// were in a row.
func (f *Failures) Failed(err error, backoff time.Duration) {
	f.n++
	text := err.Error()
	if text != f.lastText || f.now().Sub(f.lastAt) >= time.Minute {
		f.log.Warn(f.what, "error", text, "failures", f.n, "backoff", backoff)
		f.lastText, f.lastAt = text, f.now()
	}
}

// Count is how many failures in a row there have been.
func (f *Failures) Count() int { return f.n }

// Reset starts over without logging, when the recovery was reported
// elsewhere.
func (f *Failures) Reset() { f.n, f.lastText, f.lastAt = 0, "", time.Time{} }

// Recovered logs the recovery once, if there were failures, and starts
// over.
func (f *Failures) Recovered(msg string) {
	if f.n > 0 {
		f.log.Info(msg, "failures", f.n)
	}
	f.Reset()
}
