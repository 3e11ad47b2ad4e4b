package replicator

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestPublishLingersBeforeCommitting: with CommitLinger, an open Kafka
// transaction is not committed for want of more to send before it has
// lingered, so binlog transactions arriving meanwhile share it, while one
// that reaches MaxBatchBytes commits at once. Without a linger, an idle
// publisher commits each batch by itself.
func TestPublishLingersBeforeCommitting(t *testing.T) {
	for _, linger := range []time.Duration{time.Hour, 0} {
		t.Run(fmt.Sprintf("linger %v", linger), func(t *testing.T) {
			r, err := New(Config{Cluster: "c", Region: "a", Brokers: []string{"x:1"},
				FlushInterval: time.Millisecond, MaxBatchBytes: 64 << 10, CommitLinger: linger}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			in, free := make(chan *batch), make(chan *batch, 8)
			k := &fakeKafka{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- r.publish(ctx, k, in, free, &sessionState{}) }()
			defer func() {
				cancel()
				if err := <-done; err != context.Canceled {
					t.Errorf("publish ended with %v", err)
				}
			}()

			in <- oneTxnBatch(1, 100)
			if linger == 0 {
				waitCommitted(t, k, 1)
				if got := len(k.transactions()[0]); got != 1 {
					t.Fatalf("the idle publisher's Kafka transaction holds %d records, want 1", got)
				}
				return
			}
			waitSent(t, k, 1)
			time.Sleep(50 * time.Millisecond) // idle, past FlushInterval, within the linger
			if n := len(k.transactions()); n != 0 {
				t.Fatalf("%d Kafka transactions committed before the linger ended", n)
			}
			in <- oneTxnBatch(2, 100)
			in <- oneTxnBatch(3, 64<<10) // reaches MaxBatchBytes
			waitCommitted(t, k, 1)
			if got := len(k.transactions()[0]); got != 3 {
				t.Fatalf("the lingering Kafka transaction holds %d records, want all 3", got)
			}
		})
	}
}

// oneTxnBatch is a batch holding one whole binlog transaction of one
// record, with an arena of size bytes.
func oneTxnBatch(n, size int) *batch {
	gtid := fmt.Sprintf("0-1-%d", n)
	v := fmt.Sprintf(`{"gtid":%q,"seq":0,"last":true,"op":"insert"}`, gtid)
	return &batch{arena: make([]byte, size), msgs: []sarama.ProducerMessage{{Value: sarama.StringEncoder(v)}},
		boundary: true, txns: 1, events: 1, lastTS: time.Now(), lastGTID: gtid}
}

func (k *fakeKafka) sent() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.pending)
}

func waitSent(t *testing.T, k *fakeKafka, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); k.sent() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records sent after 10s", k.sent(), n)
		}
	}
}

func waitCommitted(t *testing.T, k *fakeKafka, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(k.transactions()) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Kafka transactions committed after 10s", len(k.transactions()), n)
		}
	}
}
