package kafkaconn

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestAwaitWaitsForACallThatReturns(t *testing.T) {
	stopping, release := Stopping(context.Background(), time.Hour)
	defer release()
	ran := false
	if !Await(stopping, discard, "test", func() { time.Sleep(10 * time.Millisecond); ran = true }) {
		t.Fatal("Await reported a call that returned as abandoned")
	}
	if !ran {
		t.Fatal("Await returned before the call did")
	}
}

func TestAwaitGivesUpGraceAfterTheStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	const grace = 50 * time.Millisecond
	stopping, release := Stopping(ctx, grace)
	defer release()
	block := make(chan struct{})
	defer close(block)

	// Before ctx ends, Await waits however long the call takes.
	returned := make(chan bool, 1)
	go func() { returned <- Await(stopping, discard, "test", func() { <-block }) }()
	select {
	case <-returned:
		t.Fatal("Await gave up on a call before the session stopped")
	case <-time.After(200 * time.Millisecond):
	}

	stopped := time.Now()
	cancel()
	if <-returned {
		t.Fatal("Await reported a call that never returned as returned")
	}
	if waited := time.Since(stopped); waited < grace {
		t.Fatalf("Await gave up %v after the stop, before the grace of %v", waited, grace)
	}
	// The grace is one deadline for the session, not one per call: a call
	// after it gets only the floor.
	if Await(stopping, discard, "test", func() { <-block }) {
		t.Fatal("a second Await after the grace reported its call as returned")
	}
	// A call that returns within the floor counts as returned, though the
	// grace is over: a healthy broker's last offset flush.
	if !Await(stopping, discard, "test", func() { time.Sleep(awaitFloor / 10) }) {
		t.Fatal("a call that returned within the floor after the grace was reported as abandoned")
	}
}

func TestReleaseEndsStopping(t *testing.T) {
	stopping, release := Stopping(context.Background(), time.Hour)
	release()
	select {
	case <-stopping.Done():
	case <-time.After(time.Second):
		t.Fatal("stopping did not end when released")
	}
}

var discard = slog.New(slog.DiscardHandler)
