package applier

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// kafkaSource is the recordSource of one partition of the topic: a
// read_committed consumer, the decoder, and the group offset that is
// committed for monitoring.
type kafkaSource struct {
	client   sarama.Client
	consumer sarama.Consumer
	pom      sarama.PartitionOffsetManager // nil: group offsets are not committed
	topic    string
	part     int32
	// stopAtBad: the decoder stops after an undecodable record (no
	// Config.SkipOffsets may pass over it).
	stopAtBad bool

	dec    event.Decoder
	asm    event.Assembler // joins fragmented records
	signer *event.Signer   // with Config.RecordKey: verifies transactions

	// stopping bounds the wait for the partition consumer's close once
	// the session stops (kafkaconn.Stopping).
	stopping context.Context
	log      *slog.Logger
}

// newKafkaSource returns the source of partition part; om may be nil. The
// caller closes it.
func newKafkaSource(cfg *Config, client sarama.Client, consumer sarama.Consumer, om sarama.OffsetManager, part int32, stopping context.Context, log *slog.Logger) *kafkaSource {
	s := &kafkaSource{client: client, consumer: consumer, topic: cfg.Topic, part: part, stopAtBad: len(cfg.SkipOffsets) == 0, stopping: stopping, log: log}
	if len(cfg.RecordKey) > 0 {
		s.signer = event.NewSigner(cfg.RecordKey, cfg.Topic, part)
	}
	if om != nil {
		if pom, err := om.ManagePartition(cfg.Topic, part); err == nil {
			s.pom = pom
		}
	}
	return s
}

// close stops committing group offsets.
func (s *kafkaSource) close() {
	if s.pom != nil {
		s.pom.AsyncClose()
	}
}

// Retained reads the partition's oldest and newest offsets.
func (s *kafkaSource) Retained(context.Context) (oldest, newest int64, err error) {
	oldest, err = s.client.GetOffset(s.topic, s.part, sarama.OffsetOldest)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka %s/%d oldest offset: %w", s.topic, s.part, err)
	}
	newest, err = s.client.GetOffset(s.topic, s.part, sarama.OffsetNewest)
	if err != nil {
		return 0, 0, fmt.Errorf("kafka %s/%d newest offset: %w", s.topic, s.part, err)
	}
	return oldest, newest, nil
}

// Committed marks the group offset.
func (s *kafkaSource) Committed(next int64) {
	if s.pom != nil {
		s.pom.MarkOffset(next, "")
	}
}

// Read consumes the partition from offset from and decodes it.
func (s *kafkaSource) Read(ctx context.Context, from int64, out chan<- []decoded) error {
	defer close(out)
	if from == offsetOldest {
		from = sarama.OffsetOldest
	}
	pc, err := s.consumer.ConsumePartition(s.topic, s.part, from)
	if err != nil {
		return fmt.Errorf("kafka consume %s/%d at %d: %w", s.topic, s.part, from, err)
	}
	// Close waits for the fetch in flight, which a broker that does not
	// answer holds for Net.ReadTimeout.
	defer kafkaconn.Await(s.stopping, s.log, "kafka partition consumer close (reads only; the target holds the checkpoint)", func() { pc.Close() })
	return s.decode(ctx, pc, out)
}

// Limits of one batch from the decoder to the coordinator.
const (
	decodeBatchRecords = 128
	decodeBatchBytes   = 1 << 20
)

// decode is the partition's decoder: it decodes records as they arrive, in
// order, and hands them to the coordinator in small batches, so decoding
// runs alongside assembly and dispatch. It stops after an undecodable
// record (returning nil), at the consumer's first error, when the consumer
// closes, or when ctx ends (nil). What it holds is bounded by out's
// capacity times one batch.
func (s *kafkaSource) decode(ctx context.Context, pc sarama.PartitionConsumer, out chan<- []decoded) error {
	msgs, errs := pc.Messages(), pc.Errors()
	for {
		var msg *sarama.ConsumerMessage
		open := true
		select { // wait for the first record
		case msg, open = <-msgs:
		case err := <-errs:
			return fmt.Errorf("kafka consume %s/%d: %w", s.topic, s.part, err)
		case <-ctx.Done():
			return nil
		}
		var batch []decoded
		bytes := 0
	fill:
		for open {
			value, from, whole, err := s.asm.Add(replicator.FragmentHeader(msg.Headers), msg.Value, msg.Offset)
			d := decoded{offset: msg.Offset, from: from, size: len(msg.Value), ts: msg.Timestamp, err: err}
			if err != nil {
				d.from = msg.Offset
			}
			if err == nil && !whole {
				// A fragment of a record larger than a Kafka record:
				// the record is decoded with its last fragment.
				bytes += len(msg.Value)
				select {
				case msg, open = <-msgs:
					continue
				case <-ctx.Done():
					return nil
				}
			}
			if err == nil {
				d.size = len(value)
				d.rec, d.err = s.dec.Decode(value)
				if d.err == nil && s.signer != nil {
					d.err = s.verify(d.rec, msg, value)
				}
			}
			batch = append(batch, d)
			bytes += d.size
			if d.err != nil || len(batch) >= decodeBatchRecords || bytes >= decodeBatchBytes {
				break
			}
			select { // take what has already arrived, without waiting
			case msg, open = <-msgs:
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			select {
			case out <- batch:
			case err := <-errs:
				return fmt.Errorf("kafka consume %s/%d: %w", s.topic, s.part, err)
			case <-ctx.Done():
				return nil
			}
			if batch[len(batch)-1].err != nil && s.stopAtBad {
				// The coordinator stops at it. (With skips requested it
				// may pass over it: the records after it are needed.)
				return nil
			}
		}
		if !open {
			return fmt.Errorf("kafka consume %s/%d: consumer closed", s.topic, s.part)
		}
	}
}

// verify feeds a decoded record to the partition's signer and, at a
// transaction's last record, checks the transaction's signature: a
// transaction that does not verify was not written by this cluster's
// replicator (or was changed), and nothing of it may be applied.
func (s *kafkaSource) verify(rec *event.Record, msg *sarama.ConsumerMessage, value []byte) error {
	if rec.Seq == 0 {
		s.signer.Reset()
	}
	s.signer.Add(msg.Key, value)
	if rec.Last && !s.signer.Verify(replicator.Header(msg.Headers, event.SignatureHeader)) {
		return fmt.Errorf("%w: transaction %s does not carry a valid signature for kafka.record_key (unsigned, signed with another key, or changed since it was signed)", ErrUnsigned, rec.GTID)
	}
	return nil
}
