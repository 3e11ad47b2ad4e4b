package replicator

import (
	"errors"
	"testing"
)

// A sarama call takes no context; a stopping session must not wait for it.
func TestPublisherCallReturnsWhenTheSessionStops(t *testing.T) {
	p := &publisher{stopping: make(chan struct{})}
	release := make(chan struct{})
	defer close(release)
	err := p.call(func() error {
		close(p.stopping) // the session stops while the call retries
		<-release
		return nil
	})
	if !errors.Is(err, errStopping) || !p.abandoned {
		t.Errorf("call = %v, abandoned %v; want errStopping, abandoned", err, p.abandoned)
	}
	ran := false
	if err := p.call(func() error { ran = true; return nil }); !errors.Is(err, errStopping) || ran {
		t.Errorf("a call after the stop = %v (ran %v), want errStopping without running it", err, ran)
	}

	q := &publisher{stopping: make(chan struct{})}
	want := errors.New("kafka: broker down")
	if err := q.call(func() error { return want }); err != want || q.abandoned {
		t.Errorf("call = %v, abandoned %v; want the call's own error", err, q.abandoned)
	}
}
