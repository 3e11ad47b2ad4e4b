package retry

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := NewBackoff(time.Second, 5*time.Second)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("after Reset: %v", d)
	}
}

func TestFailuresLogsEachDistinctFailure(t *testing.T) {
	var buf bytes.Buffer
	f := NewFailures(slog.New(slog.NewTextHandler(&buf, nil)), "session failed")
	now := time.Unix(1000, 0)
	f.now = func() time.Time { return now }
	broker := errors.New("kafka: broker down")
	f.Failed(broker, time.Second)
	f.Failed(broker, time.Second) // the same: not logged again
	f.Failed(errors.New("source: connection refused"), time.Second)
	now = now.Add(61 * time.Second)
	f.Failed(errors.New("source: connection refused"), time.Second) // a minute later: logged
	f.Recovered("recovered")
	out := buf.String()
	if n := strings.Count(out, "session failed"); n != 3 {
		t.Errorf("logged %d failures, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "broker down") || !strings.Contains(out, "connection refused") {
		t.Errorf("a distinct failure is missing:\n%s", out)
	}
	if !strings.Contains(out, "recovered failures=4") {
		t.Errorf("recovery not logged with the count:\n%s", out)
	}
	if f.Count() != 0 {
		t.Errorf("count after recovery = %d", f.Count())
	}
}
