package kafkaconn

import (
	"context"
	"log/slog"
	"time"
)

// StopGrace is how long a stopping role waits for the sarama calls that
// wait on the brokers and take no context: closing a partition consumer
// (which waits for its fetch), an offset manager (which flushes the group
// offsets), a client (which waits for its metadata refresh) or a producer
// (which flushes its records). With the brokers gone or not answering,
// each sits out sarama's timeouts and retries (tens of seconds), which
// would keep SIGTERM waiting; a stopped service is expected to exit
// within seconds. Each caller says why what it leaves undone at the
// process exit is safe to leave.
const StopGrace = 2 * time.Second

// awaitFloor is the least time Await gives a call, however late in the
// grace it starts: enough for a healthy broker to answer a close (a
// session's last offset flush may start only after its workers have
// rolled back, late in the grace), too little to matter to SIGTERM.
const awaitFloor = 250 * time.Millisecond

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

// Await runs fn, a call that waits on the brokers and takes no context,
// and waits for it to return, or for stopping (see Stopping) to end, but
// at least awaitFloor; it reports whether fn returned. If not, it logs
// what it left running (what names it, and why leaving it is safe), and
// fn goes on running until the process exits.
func Await(stopping context.Context, log *slog.Logger, what string, fn func()) bool {
	start := time.Now()
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
	floor := time.NewTimer(time.Until(start.Add(awaitFloor)))
	defer floor.Stop()
	select {
	case <-done:
		return true
	case <-floor.C:
	}
	log.Warn("still waiting at shutdown; leaving it to the process exit", "operation", what, "waited", time.Since(start).Round(time.Millisecond))
	return false
}
