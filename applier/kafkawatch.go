package applier

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// How often the session reads each partition's last stable offset, and
// the topic's retention.ms, for drc_applier_records_behind and
// drc_applier_retention_horizon_seconds (see kafkaPositions).
const (
	kafkaWatchInterval = 15 * time.Second
	retentionInterval  = time.Minute
)

// watchKafka reads the partitions' last stable offsets every
// kafkaWatchInterval and the topic's retention.ms every retentionInterval,
// until ctx ends. Failures leave the last values in place: they are for
// monitoring only, the session's own errors report an outage, and a
// principal without DescribeConfigs on the topic only loses the retention
// horizon (logged once).
func (a *Applier) watchKafka(ctx context.Context, client sarama.Client, parts []int32) {
	t := time.NewTicker(kafkaWatchInterval)
	defer t.Stop()
	var retentionRead time.Time
	warned := false
	for {
		for _, part := range parts {
			lso, err := lastStableOffset(client, a.cfg.Topic, part)
			if err != nil {
				a.log.Debug("read the last stable offset for drc_applier_records_behind", "partition", part, "error", err)
				continue
			}
			a.metrics.kafka.setStable(part, lso)
		}
		if time.Since(retentionRead) >= retentionInterval {
			d, err := topicRetention(client, a.cfg.Topic)
			switch {
			case err == nil:
				a.metrics.kafka.setRetention(d)
				retentionRead = time.Now()
			case !warned:
				a.log.Warn("cannot read the topic's retention.ms; drc_applier_retention_horizon_seconds stays unknown (the applier's principal needs DescribeConfigs on the topic)", "topic", a.cfg.Topic, "error", err)
				warned = true
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastStableOffset is part's last stable offset: the offset after the last
// record a read_committed consumer may read. (Client.GetOffset asks for the
// high watermark, which counts an open transaction's records.)
func lastStableOffset(client sarama.Client, topic string, part int32) (int64, error) {
	leader, err := client.Leader(topic, part)
	if err != nil {
		return 0, fmt.Errorf("kafka %s/%d leader: %w", topic, part, err)
	}
	req := sarama.NewOffsetRequest(client.Config().Version)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(topic, part, sarama.OffsetNewest, 1)
	resp, err := leader.GetAvailableOffsets(req)
	if err != nil {
		return 0, fmt.Errorf("kafka %s/%d last stable offset: %w", topic, part, err)
	}
	block := resp.GetBlock(topic, part)
	switch {
	case block == nil:
		return 0, fmt.Errorf("kafka %s/%d last stable offset: %w", topic, part, sarama.ErrIncompleteResponse)
	case !errors.Is(block.Err, sarama.ErrNoError):
		return 0, fmt.Errorf("kafka %s/%d last stable offset: %w", topic, part, block.Err)
	case len(block.Offsets) != 1:
		return 0, fmt.Errorf("kafka %s/%d last stable offset: %d offsets in the answer, want 1", topic, part, len(block.Offsets))
	}
	return block.Offsets[0], nil
}

// topicRetention is topic's retention.ms; negative: records are kept
// forever. The admin shares the session's client and is not closed: its
// Close would close the client.
func topicRetention(client sarama.Client, topic string) (time.Duration, error) {
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return 0, fmt.Errorf("kafka admin: %w", err)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{
		Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"},
	})
	if err != nil {
		return 0, fmt.Errorf("kafka topic %s: describe configs: %w", topic, err)
	}
	for _, e := range entries {
		if e.Name != "retention.ms" {
			continue
		}
		ms, err := strconv.ParseInt(e.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("kafka topic %s: retention.ms %q: %w", topic, e.Value, err)
		}
		if ms < 0 {
			return -1, nil
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	return 0, fmt.Errorf("kafka topic %s: describe configs returned no retention.ms", topic)
}
