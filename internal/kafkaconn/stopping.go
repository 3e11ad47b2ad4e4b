package kafkaconn

import (
	"context"
	"log/slog"
	"time"
)

// StopGrace is how long a stopping role waits for the sarama calls that
// wait on the brokers and take no context: closing a partition consumer
// (which waits for its fetch), an offset manager (which flushes the group
// offsets) or a producer (which flushes its records). With the brokers
// gone or not answering, each sits out sarama's timeouts and retries
// (tens of seconds), which would keep SIGTERM waiting; a stopped service
// is expected to exit within seconds. What such a call may still do
// after the process exits is nothing drc depends on: a Kafka transaction
// is committed whole or aborted, never half, and group offsets are for
// monitoring only.
const StopGrace = 2 * time.Second

// Stopping returns a context that ends grace after ctx ends: the one
// deadline for all of a stopping session's Awaits, however many there are.
// Calling release frees it; it then ends at once.
func Stopping(ctx context.Context, grace time.Duration) (stopping context.Context, release context.CancelFunc) {
	stopping, end := context.WithCancel(context.WithoutCancel(ctx))
	unwatch := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, end)
		context.AfterFunc(stopping, func() { t.Stop() })
	})
	return stopping, func() {
		unwatch()
		end()
	}
}

// Await runs fn, a sarama call that waits on the brokers and takes no
// context, and waits for it to return, or for stopping (see Stopping) to
// end, whichever comes first. It reports whether fn returned. If not, it
// logs what it left behind (what names the call) and fn goes on running:
// the process exit ends it.
func Await(stopping context.Context, log *slog.Logger, what string, fn func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
		return true
	case <-stopping.Done():
	}
	// Both may be ready: a call that returned in time counts as returned.
	select {
	case <-done:
		return true
	default:
	}
	log.Warn("kafka still busy at shutdown; leaving it to the process exit (a Kafka transaction is committed whole or aborted, never half; group offsets are for monitoring only)", "operation", what)
	return false
}
