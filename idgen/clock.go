package idgen

import "time"

// Clock is the time source of a Node: the time part of every ID, the lease
// deadline and the high-water mark all come from it, so tests can step it.
//
// Now must be safe for concurrent use. Real clocks should return times that
// carry a monotonic reading (time.Now does): the lease deadline is compared
// with it, and the monotonic reading keeps that comparison right when the
// wall clock steps.
type Clock interface {
	Now() time.Time
}

// SystemClock is time.Now.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
