package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/replicator"
)

// KafkaTopic is the Topic of a pipeline on its brokers. Close it when
// done.
type KafkaTopic struct {
	// Replicator is the source's replicator config: the tail is read as
	// the replicator reads it when it resumes (replicator.PublishedTailTimes).
	Replicator replicator.Config
	Conn       kafkaconn.Conn
	Topic      string
	// PendingWait bounds the wait for a committed record after a
	// checkpoint offset: the offsets between it and the high watermark
	// may all be transaction markers, which a read_committed reader never
	// sees. Default 1.5 s.
	PendingWait time.Duration

	client sarama.Client
}

var _ Topic = (*KafkaTopic)(nil)

// Close closes the connection to the brokers, if one was opened.
func (k *KafkaTopic) Close() error {
	if k.client == nil {
		return nil
	}
	return k.client.Close()
}

func (k *KafkaTopic) connect() (sarama.Client, error) {
	if k.client != nil {
		return k.client, nil
	}
	sc, err := k.Conn.Config()
	if err != nil {
		return nil, err
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Fetch.Default = 64 << 10 // only the first record is read
	// status waits for no broker: one attempt, then it reports.
	sc.Metadata.Retry.Max = 1
	sc.Metadata.Retry.Backoff = 100 * time.Millisecond
	c, err := sarama.NewClient(k.Conn.Brokers, sc)
	if err != nil {
		return nil, err
	}
	k.client = c
	return c, nil
}

// Tails is replicator.PublishedTailTimes.
func (k *KafkaTopic) Tails(ctx context.Context) (map[int32]replicator.Tail, error) {
	return replicator.PublishedTailTimes(ctx, k.Replicator)
}

// Ends reads each partition's high watermark.
func (k *KafkaTopic) Ends(ctx context.Context) (map[int32]int64, error) {
	c, err := k.connect()
	if err != nil {
		return nil, err
	}
	topics, err := c.Topics()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	ends := map[int32]int64{}
	if !slices.Contains(topics, k.Topic) {
		return ends, nil
	}
	parts, err := c.Partitions(k.Topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", k.Topic, err)
	}
	for _, p := range parts {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		end, err := c.GetOffset(k.Topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("high watermark of %s/%d: %w", k.Topic, p, err)
		}
		ends[p] = end
	}
	return ends, nil
}

// Pending reads the first committed record at or after each offset, all
// partitions at once.
func (k *KafkaTopic) Pending(ctx context.Context, from map[int32]int64) (map[int32]Pending, error) {
	c, err := k.connect()
	if err != nil {
		return nil, err
	}
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	defer consumer.Close()
	wait := k.PendingWait
	if wait <= 0 {
		wait = 1500 * time.Millisecond
	}
	// Any error fails the whole read (readTopic keeps none of it), so the
	// first one stops the other partitions' reads.
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	out := map[int32]Pending{}
	for part, off := range from {
		g.Go(func() error {
			p, found, err := k.firstRecord(gctx, consumer, part, off, wait)
			if err != nil || !found {
				return err
			}
			mu.Lock()
			out[part] = p
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// firstRecord waits up to wait for the first committed record of part at
// or after off (the oldest retained when off is negative or no longer
// retained) and returns its offset and source commit time.
func (k *KafkaTopic) firstRecord(ctx context.Context, consumer sarama.Consumer, part int32, off int64, wait time.Duration) (Pending, bool, error) {
	start := off
	if start < 0 {
		start = sarama.OffsetOldest
	}
	pc, err := consumer.ConsumePartition(k.Topic, part, start)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) {
		// Retention removed what the checkpoint points at: the applier
		// stops on it; what remains is all unapplied.
		pc, err = consumer.ConsumePartition(k.Topic, part, sarama.OffsetOldest)
	}
	if err != nil {
		return Pending{}, false, fmt.Errorf("read %s/%d from offset %d: %w", k.Topic, part, off, err)
	}
	defer pc.Close()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return Pending{}, false, ctx.Err()
		case <-timer.C:
			// Nothing but transaction markers follow the checkpoint, or
			// the fetch is slow. One marker ends the last applied
			// transaction; more offsets than that unread cannot be
			// called caught up.
			if hw := pc.HighWaterMarkOffset(); off >= 0 && hw > off+1 {
				return Pending{}, false, fmt.Errorf("read %s/%d from offset %d: no record within %s although the partition ends at %d; cannot tell whether the applier is behind", k.Topic, part, off, wait, hw)
			}
			return Pending{}, false, nil
		case err := <-pc.Errors():
			return Pending{}, false, fmt.Errorf("read %s/%d from offset %d: %w", k.Topic, part, off, err)
		case m := <-pc.Messages():
			if ts, ok := recordTS(m.Value); ok {
				return Pending{Offset: m.Offset, At: time.UnixMilli(ts)}, true, nil
			}
			// Not a drc record (someone else wrote to the topic): the
			// applier passes it too.
		}
	}
}

// recordTS reads the ts field of an event format v1 record. It needs only
// the record's beginning, where the format puts ts, so the first fragment
// of a fragmented record is enough.
func recordTS(value []byte) (int64, bool) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0, false
		}
		if key != "ts" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return 0, false
			}
			continue
		}
		var n json.Number
		if err := dec.Decode(&n); err != nil {
			return 0, false
		}
		ts, err := n.Int64()
		return ts, err == nil
	}
	return 0, false
}
