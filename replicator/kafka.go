package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/retry"
	"github.com/drc-dev/drc/replicator/event"
)

// maxRecordBytes bounds one Kafka record (one row image pair). The topic is
// created with a matching max.message.bytes; a bigger record is published
// as fragments of fragmentBytes.
const maxRecordBytes = 16 << 20

// fragmentBytes is the size of the fragments a record over maxRecordBytes
// is cut into (event.Fragments); a row of any size the server accepts is
// published.
const fragmentBytes = 8 << 20

// recordOverhead bounds what a Kafka record adds to its key and value:
// headers (fragment, signature) and framing.
const recordOverhead = 1 << 10

// saramaConfig is the producer and tail-reader configuration, on top of
// the connection's (kafkaconn: brokers' protocol version, client id, TLS,
// SASL). The settings that make publishing exactly once are not optional:
// idempotence, one in-flight request, acks from all replicas, an explicit
// protocol version, and a transactional id that fences any older
// replicator of the cluster.
func saramaConfig(c Config) (*sarama.Config, error) {
	sc, err := c.kafka().Config()
	if err != nil {
		return nil, fmt.Errorf("kafka %v: %w", c.kafka(), err)
	}
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Transaction.ID = "drc-" + c.Cluster
	// A 1,000,000-row transaction must finish inside one Kafka transaction.
	sc.Producer.Transaction.Timeout = 5 * time.Minute
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.Return.Successes = false
	sc.Producer.Return.Errors = true
	sc.Producer.MaxMessageBytes = maxRecordBytes
	// Bound what sarama buffers while a request is in flight (it would
	// otherwise accumulate up to 100 MB): this is the publisher's
	// backpressure, and what keeps memory flat during a huge transaction.
	sc.Producer.Flush.Bytes = 4 << 20
	sc.Producer.Flush.Messages = 8000
	sc.Producer.Flush.MaxMessages = 10000
	sc.Producer.Flush.Frequency = 2 * time.Millisecond
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 100 * time.Millisecond
	switch c.Compression {
	case "lz4":
		sc.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		sc.Producer.Compression = sarama.CompressionZSTD
	case "gzip":
		sc.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		sc.Producer.Compression = sarama.CompressionSnappy
	}
	if c.CompressionLevel != 0 {
		sc.Producer.CompressionLevel = c.CompressionLevel
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Fetch.Default = 4 << 20
	sc.Consumer.Fetch.Max = maxRecordBytes + (1 << 20)
	sc.Metadata.Retry.Max = 3
	return sc, nil
}

// newKafkaClient connects to the brokers with the exactly-once settings.
func newKafkaClient(c Config) (sarama.Client, error) {
	sc, err := saramaConfig(c)
	if err != nil {
		return nil, permanent(err)
	}
	client, err := sarama.NewClient(c.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka %v: %w", c.Brokers, err)
	}
	return client, nil
}

// kafkaRefused is err as a *kafkaconn.RefusedError naming the brokers and
// the cause, when Kafka refused the replicator in a way no retry fixes:
// its credentials, a missing ACL, or a broker certificate that does not
// verify. Else nil. A TLS failure counts only on the Kafka connection
// (kafkaError): the source's are mysqlerr's.
func kafkaRefused(c Config, err error) error {
	var ke *kafkaError
	if !errors.As(err, &ke) && !kafkaconn.Denied(err) {
		return nil
	}
	// Name the resource the ACL is missing on.
	switch {
	case errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed):
		err = fmt.Errorf("%w (transactional id drc-%s)", err, c.Cluster)
	case errors.Is(err, sarama.ErrTopicAuthorizationFailed):
		err = fmt.Errorf("%w (topic %s)", err, c.Topic)
	}
	if kerr := c.kafka().Refused(err); kerr != nil {
		return &kafkaError{kerr}
	}
	return nil
}

// ensureTopic creates the topic if it is missing and checks the partition
// count of an existing one, because records routed by a different count
// would break per-database order. A topic it creates is ready when it
// returns (waitForLeaders).
func ensureTopic(ctx context.Context, client sarama.Client, c Config) error {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	// Closing the admin would close the shared client.
	if exists, err := checkTopic(admin, c); exists || err != nil {
		return err
	}
	maxBytes := fmt.Sprint(maxRecordBytes + (1 << 20))
	err = admin.CreateTopic(c.Topic, &sarama.TopicDetail{
		NumPartitions:     c.Partitions,
		ReplicationFactor: int16(c.ReplicationFactor),
		ConfigEntries:     map[string]*string{"max.message.bytes": &maxBytes},
	}, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) {
		// Created meanwhile, by another: check it as an existing topic.
		if exists, err := checkTopic(admin, c); exists || err != nil {
			return err
		}
		return fmt.Errorf("create topic %s: %w, but it cannot be described", c.Topic, err)
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", c.Topic, err)
	}
	if err := client.RefreshMetadata(c.Topic); err != nil {
		return fmt.Errorf("metadata of topic %s: %w", c.Topic, err)
	}
	return waitForLeaders(ctx, client, c.Topic, c.Partitions, leaderWait)
}

// checkTopic reports whether the topic exists, and if it does, checks its
// partition count. A topic it cannot describe is taken as missing: its
// creation then fails with the reason, or finds it.
func checkTopic(admin sarama.ClusterAdmin, c Config) (exists bool, err error) {
	md, err := admin.DescribeTopics([]string{c.Topic})
	if err != nil || len(md) != 1 || errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
		return false, nil
	}
	if md[0].Err != sarama.ErrNoError {
		return true, fmt.Errorf("describe topic %s: %w", c.Topic, md[0].Err)
	}
	if got := int32(len(md[0].Partitions)); got != c.Partitions {
		return true, permanent(fmt.Errorf("topic %s has %d partitions, config says %d: the partition count of a drc topic cannot change", c.Topic, got, c.Partitions))
	}
	return true, nil
}

// leaderWait bounds how long ensureTopic waits for the partitions of a
// topic it created to be served.
const leaderWait = 30 * time.Second

// waitForLeaders waits until the leader of every partition of a topic
// just created serves it. Kafka answers a creation before the leaders
// have taken their partitions up, and the metadata may name a leader that
// has not yet: a first Kafka transaction in that window failed with "not
// the leader for some partition", and a new deployment's first session
// was retried with a warning. ListOffsets is answered by the leader
// itself, so once it succeeds the partition is served.
// It gives up after within.
func waitForLeaders(ctx context.Context, client sarama.Client, topic string, partitions int32, within time.Duration) error {
	deadline := time.Now().Add(within)
	wait := retry.NewBackoff(50*time.Millisecond, time.Second)
	for p := int32(0); p < partitions; p++ {
		wait.Reset()
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			// GetOffset takes no ctx: against a broker that does not
			// answer, one call may take Net.ReadTimeout.
			_, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("topic %s partition %d is not served by a leader %s after its creation: %w", topic, p, within, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait.Next()):
			}
		}
	}
	return nil
}

// errNoneVerified: the topic holds records of the cluster, but no
// transaction whose signature verifies.
var errNoneVerified = errors.New("no transaction whose signature verifies with kafka.record_key")

// tailRecord is what resume needs from a committed transaction's last
// record, and what tells drc's own records from others.
type tailRecord struct {
	V       int    `json:"v"`
	Cluster string `json:"cluster"`
	Seq     int    `json:"seq"`
	GTIDSet string `json:"gtid_set"`
	Last    bool   `json:"last"`
	TS      int64  `json:"ts"`
}

// resumePosition finds the newest committed position in the topic: the
// gtid_set of the last transaction-final record, across partitions. It
// must run after the transactional producer is initialised, which fences
// and aborts any transaction an older replicator left open. ok is false
// for an empty topic.
//
// Records that are not this cluster's (not JSON, another cluster or format
// version, a final record without gtid_set) are logged and passed over: a
// record someone else wrote to the topic must not keep the replicator from
// starting. Passing one over can only make the resume position earlier,
// never later, and the applier applies a republished transaction once.
//
// With a record key, only a transaction whose signature verifies counts;
// if the topic holds records of the cluster but none verifies, resuming
// is refused rather than guessed.
func resumePosition(ctx context.Context, client sarama.Client, topic, cluster, flavor string, key []byte, log *slog.Logger) (pos Position, ok bool, err error) {
	tails, err := partitionTails(ctx, client, topic, cluster, flavor, key, log)
	if err != nil {
		return Position{}, false, err
	}
	pos, _, ok = NewestTail(tails)
	if ok {
		log.Info("resuming from the committed tail of the topic", "topic", topic, "gtid_set", pos.String())
	}
	return pos, ok, nil
}

// Tail is the committed tail of one partition of the topic: its newest
// transaction-final record of the cluster.
type Tail struct {
	// Position is that record's gtid_set: the source position after its
	// transaction.
	Position Position
	// Time is that record's ts: the source commit time of its transaction
	// (to the second on MariaDB), or when the replicator published it for
	// a position marker.
	Time time.Time
}

// partitionTails is the committed tail of each partition that has one:
// its last transaction-final record (see resumePosition).
func partitionTails(ctx context.Context, client sarama.Client, topic, cluster, flavor string, key []byte, log *slog.Logger) (map[int32]Tail, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("tail consumer: %w", err)
	}
	defer consumer.Close()
	tails := make(map[int32]Tail, len(parts))
	for _, p := range parts {
		last, found, err := tailOfPartition(ctx, client, consumer, topic, cluster, p, key, log)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		tail, err := gtid.Parse(flavor, last.GTIDSet)
		if err != nil {
			return nil, fmt.Errorf("topic %s partition %d: last record's gtid_set: %w", topic, p, err)
		}
		tails[p] = Tail{Position: tail, Time: time.UnixMilli(last.TS)}
	}
	return tails, nil
}

// PublishedPosition is the source position after the newest transaction
// committed to the topic: where a replicator started now would resume.
// ok is false for an empty or missing topic. It only reads.
func PublishedPosition(ctx context.Context, cfg Config) (pos Position, ok bool, err error) {
	tails, err := PublishedTails(ctx, cfg)
	if err != nil {
		return Position{}, false, err
	}
	pos, ok = gtid.Newest(maps.Values(tails))
	return pos, ok, nil
}

// NewestTail is the topic's published position, the partition tail that
// contains the others (every record's gtid_set is a prefix of one binlog
// history: gtid.Newest), and the newest tail's time. ok is false for no
// tails.
func NewestTail(tails map[int32]Tail) (pos Position, at time.Time, ok bool) {
	pos, ok = gtid.Newest(func(yield func(Position) bool) {
		for _, t := range tails {
			if !yield(t.Position) {
				return
			}
		}
	})
	for _, t := range tails {
		if t.Time.After(at) {
			at = t.Time
		}
	}
	return pos, at, ok
}

// PublishedTails is the committed tail of each partition of the topic that
// has one (empty for an empty or missing topic): what an applier of that
// partition can apply through. It only reads.
func PublishedTails(ctx context.Context, cfg Config) (map[int32]Position, error) {
	tails, err := PublishedTailTimes(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]Position, len(tails))
	for p, t := range tails {
		out[p] = t.Position
	}
	return out, nil
}

// PublishedTailTimes is PublishedTails with the time of each tail: how
// fresh what the topic holds is, whatever the source's heartbeat row says.
// It only reads.
func PublishedTailTimes(ctx context.Context, cfg Config) (map[int32]Tail, error) {
	cfg.setDefaults()
	client, err := newKafkaClient(cfg)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	topics, err := client.Topics()
	if err != nil {
		return nil, fmt.Errorf("kafka topics: %w", err)
	}
	if !slices.Contains(topics, cfg.Topic) {
		return nil, nil
	}
	return partitionTails(ctx, client, cfg.Topic, cfg.Cluster, cfg.Flavor, cfg.RecordKey, slog.New(slog.DiscardHandler))
}

func tailOfPartition(ctx context.Context, client sarama.Client, consumer sarama.Consumer, topic, cluster string, p int32, key []byte, log *slog.Logger) (tailRecord, bool, error) {
	oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
	if err != nil {
		return tailRecord{}, false, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
	}
	newest, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return tailRecord{}, false, fmt.Errorf("newest offset of %s/%d: %w", topic, p, err)
	}
	unverified := false
	for window := int64(64); ; window *= 8 {
		start := max(oldest, newest-window)
		last, found, bad, err := scanForLast(ctx, consumer, topic, cluster, p, start, newest, key, log)
		unverified = unverified || bad
		if err != nil || found {
			return last, found, err
		}
		if start == oldest {
			if unverified {
				return tailRecord{}, false, permanent(fmt.Errorf("topic %s partition %d holds transactions of cluster %s, but %w: "+
					"refusing to guess where to resume (if signing was just turned on for an existing topic, set replicator.start_gtid to the position the topic reached; see README, Security)", topic, p, cluster, errNoneVerified))
			}
			return tailRecord{}, false, nil
		}
	}
}

// scanForLast reads [start, end) with read_committed and returns the last
// transaction-final record of cluster in it (with a key, the last whose
// signature verifies); bad reports final records of cluster that did not
// verify.
func scanForLast(ctx context.Context, consumer sarama.Consumer, topic, cluster string, p int32, start, end int64, key []byte, log *slog.Logger) (last tailRecord, found, bad bool, err error) {
	if start >= end {
		return tailRecord{}, false, false, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, start)
	if err != nil {
		return tailRecord{}, false, false, fmt.Errorf("read tail of %s/%d from %d: %w", topic, p, start, err)
	}
	defer pc.Close()
	var asm event.Assembler
	var sig *tailSigner
	if len(key) > 0 {
		sig = &tailSigner{sig: event.NewSigner(key, topic, p)}
	}
	foreign := func(offset int64, why string) {
		log.Warn("passing over a record in the topic that is not this cluster's; resuming from the records before it",
			"topic", topic, "partition", p, "offset", offset, "cluster", cluster, "reason", why)
	}
	// Aborted records and transaction markers are invisible to a
	// read_committed reader, so the end is not always reached by offset; a
	// quiet period ends the scan then. The common case, a data record just
	// before the final commit marker, ends it at once.
	idle := time.NewTimer(3 * time.Second)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return tailRecord{}, false, false, ctx.Err()
		case err := <-pc.Errors():
			return tailRecord{}, false, false, fmt.Errorf("read tail of %s/%d: %w", topic, p, err)
		case <-idle.C:
			return last, found, bad, nil
		case m := <-pc.Messages():
			value, _, whole, err := asm.Add(FragmentHeader(m.Headers), m.Value, m.Offset)
			switch {
			case errors.Is(err, event.ErrMidFragment) && m.Offset-start < fragmentsPerRecordMax:
				// The window can begin inside a fragmented record.
			case err != nil:
				foreign(m.Offset, err.Error())
			case whole:
				var r tailRecord
				err := json.Unmarshal(value, &r)
				if err != nil {
					foreign(m.Offset, "not JSON: "+err.Error())
					break
				}
				if r.V != event.Version || r.Cluster != cluster {
					foreign(m.Offset, fmt.Sprintf("format version %d of cluster %q", r.V, r.Cluster))
					break
				}
				if sig != nil {
					if ok, cut := sig.add(r, m.Key, value, m.Headers); !ok {
						if !cut {
							bad = true
							foreign(m.Offset, "a final record whose transaction's signature does not verify")
						}
						break
					}
				}
				switch {
				case r.Last && r.GTIDSet == "":
					foreign(m.Offset, "a final record without gtid_set")
				case r.Last:
					last, found = r, true
				}
			}
			if m.Offset >= end-2 {
				return last, found, bad, nil
			}
			idle.Reset(time.Second)
		}
	}
}

// tailSigner verifies, during a tail scan, the transactions of the
// cluster in one partition.
type tailSigner struct {
	sig   *event.Signer
	begun bool // the open transaction was seen from seq 0
}

// add feeds one record of the cluster. For a transaction's final record it
// reports whether the transaction verifies; cut is true for a transaction
// the scan window cut (no seq 0 seen), which cannot be verified and is
// neither trusted nor held against the topic.
func (t *tailSigner) add(r tailRecord, key, value []byte, hs []*sarama.RecordHeader) (verified, cut bool) {
	if r.Seq == 0 {
		t.sig.Reset()
		t.begun = true
	}
	t.sig.Add(key, value)
	if !r.Last {
		return true, false
	}
	begun := t.begun
	t.begun = false
	return begun && t.sig.Verify(Header(hs, event.SignatureHeader)), !begun
}

// fragmentsPerRecordMax bounds how far into a tail window an incomplete
// fragmented record can be the window's cut: a record of the largest row
// MySQL accepts (1 GiB, twice in an update, base64-encoded) in fragments.
const fragmentsPerRecordMax = 3 << 30 / fragmentBytes

// FragmentHeader is the value of a consumed record's event.FragmentHeader,
// or nil: what event.Assembler.Add takes.
func FragmentHeader(hs []*sarama.RecordHeader) []byte { return Header(hs, event.FragmentHeader) }

// Header is the value of a consumed record's header name, or nil.
func Header(hs []*sarama.RecordHeader, name string) []byte {
	for _, h := range hs {
		if h != nil && string(h.Key) == name {
			return h.Value
		}
	}
	return nil
}

// stallAfter is how long a send or commit may block before the publisher
// logs that Kafka is unavailable. sarama keeps retrying underneath; the
// log line is the operator's signal, and a matching one marks recovery.
const stallAfter = 5 * time.Second

// errStopping is what a sarama call the publisher stopped waiting for
// returns: the session is stopping (its ctx ended).
var errStopping = errors.New("kafka call abandoned: the session is stopping")

// publisher owns the transactional producer of one session.
type publisher struct {
	producer sarama.AsyncProducer
	errs     chan error // first delivery error, buffered(1)
	done     chan struct{}
	inTxn    bool
	log      *slog.Logger
	// stopping is closed when the session's ctx ends; abandoned is set
	// when a sarama call was still running then, so close neither aborts
	// (the call holds sarama's transaction lock) nor waits for it
	// unbounded.
	stopping  chan struct{}
	abandoned bool
	unwatch   func() bool
	// grace ends kafkaconn.StopGrace after the session's ctx: how long a
	// stopping session waits for the producer's close. sarama retries a
	// transaction call up to Producer.Transaction.Retry.Max times and
	// takes no context: with the broker down, a commit, the abort after
	// it and the producer's close each sat out that schedule, which kept
	// SIGTERM waiting 21 s.
	grace        context.Context
	releaseGrace context.CancelFunc
}

// call runs fn, a sarama call that retries on its own schedule and takes
// no context, and waits for it, or until the session stops. A call left
// running then ends on sarama's schedule; the process exit ends it
// sooner. What it may still do is all-or-nothing on the broker: a Kafka
// transaction it was committing is committed whole or aborted (by the
// next producer of the cluster, or by the transaction timeout), never
// committed half.
func (p *publisher) call(fn func() error) error {
	select {
	case <-p.stopping:
		return errStopping
	default:
	}
	res := make(chan error, 1)
	go func() { res <- fn() }()
	select {
	case err := <-res:
		return err
	case <-p.stopping:
		p.abandoned = true
		return errStopping
	}
}

// stalled runs fn and logs once if it blocks longer than stallAfter, and
// once more when it completes. fn returns when the session stops: a send
// selects on ctx, and sarama calls that take no ctx go through call.
func (p *publisher) stalled(what string, fn func() error) error {
	start := time.Now()
	var fired atomic.Bool
	t := time.AfterFunc(stallAfter, func() {
		fired.Store(true)
		p.log.Warn("kafka unavailable; waiting for it", "operation", what, "waited", stallAfter)
	})
	err := fn()
	// After an error the failed session is logged, and its recovery, by Run.
	if (!t.Stop() || fired.Load()) && err == nil {
		p.log.Info("kafka available again", "operation", what, "waited", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// newPublisher starts the session's transactional producer. When ctx
// ends, every call the publisher is waiting in returns errStopping.
func newPublisher(ctx context.Context, client sarama.Client, log *slog.Logger) (*publisher, error) {
	pub := &publisher{errs: make(chan error, 1), done: make(chan struct{}), log: log, stopping: make(chan struct{})}
	pub.unwatch = context.AfterFunc(ctx, func() { close(pub.stopping) })
	pub.grace, pub.releaseGrace = kafkaconn.Stopping(ctx, kafkaconn.StopGrace)
	// NewAsyncProducerFromClient initialises the transactional id, which
	// fences any other producer of this cluster and aborts its open
	// transaction.
	var (
		mu        sync.Mutex
		p         sarama.AsyncProducer
		abandoned bool
	)
	err := pub.call(func() error {
		made, err := sarama.NewAsyncProducerFromClient(client)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			// Nobody owns it: left running, it would fence this
			// process's next session when its init reached the broker.
			made.AsyncClose()
			return errStopping
		}
		p = made
		return nil
	})
	if errors.Is(err, errStopping) {
		mu.Lock()
		abandoned = true
		if p != nil {
			p.AsyncClose()
		}
		mu.Unlock()
	}
	if err != nil {
		pub.unwatch()
		pub.releaseGrace()
		if errors.Is(err, sarama.ErrProducerFenced) {
			return nil, permanent(&kafkaError{&fencedError{err}})
		}
		return nil, fmt.Errorf("kafka transactional producer: %w", err)
	}
	pub.producer = p
	go func() {
		defer close(pub.done)
		for perr := range p.Errors() {
			select {
			case pub.errs <- perr:
			default:
			}
		}
	}()
	return pub, nil
}

func (p *publisher) begin() error {
	if p.inTxn {
		return nil
	}
	if err := p.stalled("begin", p.producer.BeginTxn); err != nil {
		return classifyKafka(fmt.Errorf("begin kafka transaction: %w", err))
	}
	p.inTxn = true
	return nil
}

func (p *publisher) send(ctx context.Context, m *sarama.ProducerMessage) error {
	select {
	case p.producer.Input() <- m:
		return nil
	default:
	}
	return p.stalled("send", func() error {
		select {
		case p.producer.Input() <- m:
			return nil
		case err := <-p.errs:
			return classifyKafka(fmt.Errorf("publish: %w", err))
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func (p *publisher) open() bool { return p.inTxn }

func (p *publisher) commit() error {
	if !p.inTxn {
		return nil
	}
	err := p.stalled("commit", func() error { return p.call(p.producer.CommitTxn) })
	p.inTxn = false
	if err == nil {
		select {
		case err = <-p.errs:
		default:
		}
	}
	if err != nil {
		return classifyKafka(fmt.Errorf("commit kafka transaction: %w", err))
	}
	return nil
}

// close aborts an open transaction and stops the producer. Nothing here
// commits: sarama's shutdown never ends a transaction. If the abort fails
// (broker down), or the session is stopping and it is not tried, the open
// transaction stays open on the broker until the next session's producer
// initialises the same transactional id, which aborts it, or until the
// transaction timeout aborts it; either way its records are never
// committed, and read_committed readers wait at it rather than see them.
// A stopping session waits for the producer until p.grace ends.
func (p *publisher) close() {
	if p.inTxn && !p.abandoned {
		if err := p.call(p.producer.AbortTxn); err != nil && !errors.Is(err, errStopping) {
			p.log.Warn("could not abort the open kafka transaction; the next session's producer aborts it", "error", err)
		}
		p.inTxn = false
	}
	p.producer.AsyncClose()
	defer p.unwatch()
	defer p.releaseGrace()
	kafkaconn.Await(p.grace, p.log, "kafka producer close (an open Kafka transaction is committed whole or aborted, never half)", func() { <-p.done })
}

// fencedError is a producer that Kafka fenced: another replicator of the
// cluster initialised the same transactional id. sarama has no text for
// PRODUCER_FENCED, so this says what happened.
type fencedError struct{ err error }

func (e *fencedError) Error() string {
	if errors.Is(e.err, sarama.ErrInvalidProducerEpoch) {
		return "fenced: this replicator's Kafka producer epoch is no longer valid: another replicator for this cluster took over, or a Kafka transaction outlived its timeout; this one stops (kafka: " + kafkaText(e.err) + ")"
	}
	return "fenced: another replicator for this cluster took over its Kafka transactional id; this one stops (kafka: " + kafkaText(e.err) + ")"
}
func (e *fencedError) Unwrap() error { return e.err }

// kafkaText is err's text, with sarama's placeholder for codes it has no
// text for replaced by the code's name.
func kafkaText(err error) string {
	switch {
	case errors.Is(err, sarama.ErrProducerFenced):
		return "PRODUCER_FENCED"
	case errors.Is(err, sarama.ErrInvalidProducerEpoch):
		return "INVALID_PRODUCER_EPOCH"
	}
	return err.Error()
}

func classifyKafka(err error) error {
	if errors.Is(err, sarama.ErrProducerFenced) || errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		return permanent(&kafkaError{&fencedError{err}})
	}
	err = &kafkaError{err}
	var pe *sarama.ProducerError
	if errors.As(err, &pe) && errors.Is(pe.Err, sarama.ErrMessageSizeTooLarge) {
		return permanent(err)
	}
	return err
}

// recordKey is the Kafka key: db.table plus the primary-key values.
var _ = event.Version
