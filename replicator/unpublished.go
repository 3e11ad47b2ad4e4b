package replicator

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/replicator/event"
)

// Unpublished reads the source's binlog after from (the committed tail of
// the topic) up to to (the source's position, read once it took no more
// writes) and gives fn every record the replicator would have published
// for those transactions, in binlog order, each exactly as it would have
// gone to Kafka: what the source holds that never reached Kafka.
// Transactions the replicator does not publish (filtered, applied there by
// drc from another region, account statements) are passed over. A binlog
// purged past from is ErrPurged; one that ends before to,
// ErrIncompleteBinlog. drc failback uses it; it only reads.
func Unpublished(ctx context.Context, cfg Config, from, to Position, fn func(*event.Record) error) error {
	cfg.setDefaults()
	cfg.RecordKey, cfg.SkipGTID = nil, ""
	r, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	dsn, err := cfg.DSN()
	if err != nil {
		return fmt.Errorf("source %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("source %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer db.Close()
	if from.Contains(to) {
		return nil
	}
	if err := CheckPurged(ctx, db, from); err != nil {
		return err
	}
	syncer, streamer, err := r.startSync(ctx, db, from)
	if err != nil {
		return err
	}
	defer syncer.Close()

	// The reader runs in its own goroutine, which this function owns and
	// waits for: a transaction larger than a batch blocks it until the
	// loop below takes the batch.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, batchQueue)
	rd := newReader(r, from, batches, make(chan *batch, batchQueue))
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- read(ctx, rd, streamer, to)
	}()
	err = records(batches, fn)
	cancel()
	for range batches {
	}
	if rerr := <-readErr; err == nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	return err
}

// read feeds the reader up to to. A source that sends nothing for
// idleHeartbeats heartbeat periods before to is reached lacks part of to
// in its binlog: an error, never a shorter list.
func read(ctx context.Context, rd *reader, streamer *replication.BinlogStreamer, to Position) error {
	idle := 0
	for !rd.asm.pos.Contains(to) || rd.asm.inTxn {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return rd.binlogError(err)
		}
		if _, ok := ev.Event.(*replication.HeartbeatEvent); ok {
			if idle++; idle >= idleHeartbeats && !rd.asm.inTxn {
				return fmt.Errorf("%w: read through %s, but the source's position is %s", ErrIncompleteBinlog, rd.asm.pos, to)
			}
			continue
		}
		idle = 0
		if err := rd.asm.handle(ctx, ev); err != nil {
			return err
		}
	}
	return rd.send(ctx, false)
}

// idleHeartbeats is how many heartbeat periods without an event mean that
// the source has sent all its binlog (a source skipping a long binlog
// sends heartbeats too, so one is not enough).
const idleHeartbeats = 5

// ErrIncompleteBinlog: the source's GTID position names transactions its
// binlog does not hold after the position read from.
var ErrIncompleteBinlog = errors.New("the source's binlog does not hold every transaction of its GTID position")

// records decodes the batches' records and gives fn every one but
// position markers.
func records(batches <-chan *batch, fn func(*event.Record) error) error {
	var asm event.Assembler
	for b := range batches {
		for i := range b.msgs {
			m := &b.msgs[i]
			value, err := m.Value.Encode()
			if err != nil {
				return err
			}
			var header []byte
			for _, h := range m.Headers {
				if string(h.Key) == event.FragmentHeader {
					header = h.Value
				}
			}
			value, _, ok, err := asm.Add(header, value, int64(i))
			if err != nil || !ok {
				if err != nil {
					return fmt.Errorf("reassemble a fragmented record: %w", err)
				}
				continue
			}
			rec, err := event.Decode(value)
			if err != nil {
				return fmt.Errorf("decode a record of the source's binlog: %w", err)
			}
			if rec.Op == event.OpHeartbeat && rec.After == nil {
				continue // a position marker
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// PublishPosition commits a position marker naming pos to the topic, as
// the cluster's replicator (its transactional id fences any replicator of
// the cluster still running), provided that the topic's committed tail,
// read once that fence is up, is still expect: a replicator started
// afterwards resumes after pos. A tail that is already pos (a rerun) is
// success; any other is ErrTailMoved, and nothing is published. drc
// failback uses it to move the resume position past transactions it takes
// out of the source's data, so that they are never published.
func PublishPosition(ctx context.Context, cfg Config, expect, pos Position) error {
	cfg.setDefaults()
	r, err := New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	client, err := newKafkaClient(cfg)
	if err != nil {
		return &kafkaError{err}
	}
	defer client.Close()
	if err := ensureTopic(ctx, client, cfg); err != nil {
		return &kafkaError{err}
	}
	pub, err := newPublisher(ctx, client, r.log)
	if err != nil {
		return &kafkaError{err}
	}
	defer pub.close()
	tail, ok, err := resumePosition(ctx, client, cfg.Topic, cfg.Cluster, cfg.Flavor, cfg.RecordKey, r.log)
	if err != nil {
		return &kafkaError{err}
	}
	switch {
	case ok && tail.Equal(pos):
		return nil
	case !ok || !tail.Equal(expect):
		return fmt.Errorf("%w: the topic's committed tail is %s, not %s", ErrTailMoved, tail, expect)
	}
	return r.publishMarker(ctx, pub, pos)
}

// ErrTailMoved: the topic's committed tail is not where the caller read it.
var ErrTailMoved = errors.New("the topic's tail moved")
