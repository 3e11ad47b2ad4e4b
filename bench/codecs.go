package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/replicator"
)

// measureCodecs publishes the dataset once per Kafka compression codec the
// replicator offers for cross-region links (none, lz4, zstd at its default
// level and at level 1) and reports,
// for each, the bytes per event the broker stores, which is what crosses
// the network to every applier: compressed record batches with their
// headers, and the transactions' commit markers. The goal is half the
// record's own size (key + JSON value). Rate and CPU per 1M rows show what
// each codec costs the replicator and the broker.
func measureCodecs(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	ds, k, err := env.DatasetAndKafka(ctx, f)
	if err != nil {
		return nil, err
	}
	// One unmeasured publish first, so that no codec meets a broker whose
	// JIT has not compiled the produce path yet.
	if _, err := publishDataset(ctx, k, ds, func(*replicator.Config) {}); err != nil {
		return nil, fmt.Errorf("warm-up publish: %w", err)
	}
	var rows []Row
	for _, c := range []struct {
		name, codec string
		level       int
	}{{"none", "none", 0}, {"lz4", "lz4", 0}, {"zstd", "zstd", 0}, {"zstd level 1", "zstd", 1}} {
		codec := c.name
		env.Logf("codecs: publishing %d rows with compression %s", ds.Rows, codec)
		pub, err := publishDataset(ctx, k, ds, func(rc *replicator.Config) { rc.Compression, rc.CompressionLevel = c.codec, c.level })
		if err != nil {
			return rows, fmt.Errorf("compression %s: %w", codec, err)
		}
		stored, err := topicLogBytes(k, pub.Topic)
		if err != nil {
			return rows, fmt.Errorf("compression %s: %w", codec, err)
		}
		record, onWire := pub.Bytes/pub.Events, float64(stored)/pub.Events
		perM := pub.CPU.PerMillion(ds.Rows, "drc", "broker")
		readRate, readCPU, err := consumeAll(ctx, k, pub.Topic, int(pub.Events))
		if err != nil {
			return rows, fmt.Errorf("compression %s: %w", codec, err)
		}
		readPerM := readCPU.PerMillion(ds.Rows)
		rows = append(rows,
			Row{Metric: flavorMetric(f, fmt.Sprintf("compression %s: bytes per event in the broker's log, batches and commit markers included (record %.0f bytes)", codec, record)),
				Value: onWire, Unit: "bytes/event", Goal: Ratio(onWire, record, "record size", "≤ 0.5")},
			Row{Metric: flavorMetric(f, fmt.Sprintf("compression %s: replicator publish rate", codec)),
				Value: pub.Rate, Unit: "events/s", Goal: "-"},
			Row{Metric: flavorMetric(f, fmt.Sprintf("compression %s: CPU cost, drc + broker (%s)", codec, pub.CPU.Describe(ds.Rows))),
				Value: perM, Unit: "CPU s/1M rows", Goal: "-"},
			Row{Metric: flavorMetric(f, fmt.Sprintf("compression %s: reading the topic back with the applier's consumer settings, %.0f records/s (%s)", codec, readRate, readCPU.Describe(ds.Rows))),
				Value: readPerM, Unit: "CPU s/1M rows", Goal: "-"},
		)
	}
	return rows, nil
}

// consumeAll reads n records of topic's partition 0 from the oldest, with
// the applier's consumer settings (read_committed, its fetch sizes), and
// returns records/s and the CPU time of the reader (this process) and the
// broker.
func consumeAll(ctx context.Context, k *harness.Kafka, topic string, n int) (float64, CPUUse, error) {
	sc, err := kafkaconn.Conn{Brokers: []string{k.Bootstrap}, Version: kafkaconn.DefaultVersion, ClientID: "drc-bench"}.Config()
	if err != nil {
		return 0, CPUUse{}, err
	}
	applier.ConsumerSettings(sc)
	consumer, err := sarama.NewConsumer([]string{k.Bootstrap}, sc)
	if err != nil {
		return 0, CPUUse{}, fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()
	span, err := StartCPU(CPUProc{"reader", 0}, CPUProc{"broker", k.Pid()})
	if err != nil {
		return 0, CPUUse{}, err
	}
	start := time.Now()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return 0, CPUUse{}, fmt.Errorf("consume %s/0: %w", topic, err)
	}
	defer pc.Close()
	timeout := time.After(5 * time.Minute)
	for got := 0; got < n; {
		select {
		case m := <-pc.Messages():
			if len(m.Value) == 0 {
				return 0, CPUUse{}, fmt.Errorf("%s offset %d: an empty record", topic, m.Offset)
			}
			got++
		case err := <-pc.Errors():
			return 0, CPUUse{}, fmt.Errorf("consume %s/0: %w", topic, err)
		case <-timeout:
			return 0, CPUUse{}, fmt.Errorf("read %d of %d records of %s in 5 minutes", got, n, topic)
		case <-ctx.Done():
			return 0, CPUUse{}, ctx.Err()
		}
	}
	secs := time.Since(start).Seconds()
	use, err := span.Stop()
	return float64(n) / secs, use, err
}

// topicLogBytes is the size of topic's partitions in the broker's log
// directories.
func topicLogBytes(k *harness.Kafka, topic string) (int64, error) {
	sc, err := kafkaconn.Conn{Brokers: []string{k.Bootstrap}, Version: kafkaconn.DefaultVersion, ClientID: "drc-bench"}.Config()
	if err != nil {
		return 0, err
	}
	admin, err := sarama.NewClusterAdmin([]string{k.Bootstrap}, sc)
	if err != nil {
		return 0, fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return 0, fmt.Errorf("describe cluster: %w", err)
	}
	ids := make([]int32, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID()
	}
	dirs, err := admin.DescribeLogDirs(ids)
	if err != nil {
		return 0, fmt.Errorf("describe log dirs: %w", err)
	}
	var size int64
	found := false
	for _, ds := range dirs {
		for _, d := range ds {
			for _, t := range d.Topics {
				if t.Topic != topic {
					continue
				}
				found = true
				for _, p := range t.Partitions {
					size += p.Size
				}
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("topic %s is in no log directory", topic)
	}
	return size, nil
}
