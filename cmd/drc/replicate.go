package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/replicator"
)

func newReplicateCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "replicate --config FILE",
		Short: "Tail the source binlog and publish row events to Kafka, exactly once",
		Long: `replicate reads the source's binlog (source section) with GTID auto-position
and publishes one JSON record per row change, DDL and heartbeat to the topic
(kafka section) inside Kafka transactions. It keeps no local state: on start
it resumes from the committed tail of its own topic.

The source must run binlog_format=ROW, binlog_row_image=FULL,
binlog_row_metadata=FULL and GTIDs; replicate checks these and the
privileges it needs before it starts, and exits 2 naming what is wrong.
Transient failures (source restart, broker outage) are retried with capped
backoff. A statement it cannot classify, a purged position or another
replicator taking over stop it with exit code 2.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			// The replicator's live heap is a few batches; a soft memory
			// limit keeps GC garbage from inflating RSS during a huge
			// transaction. GOMEMLIMIT in the environment wins.
			if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
				debug.SetMemoryLimit(replicatorMemoryLimit)
			}
			return runRole(cmd, cfg, func(rt *runtime) error {
				r, err := replicator.New(replicatorConfig(cfg), rt.log, rt.reg)
				if err != nil {
					return err
				}
				return r.Run(rt.ctx)
			})
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	return cmd
}

// replicatorMemoryLimit is the replicator's default soft memory limit.
const replicatorMemoryLimit = 160 << 20

func replicatorConfig(c config.Config) replicator.Config {
	return replicator.Config{
		Cluster:           c.Cluster,
		Region:            c.Source.Region,
		Flavor:            c.Source.Flavor,
		Host:              c.Source.Host,
		Port:              c.Source.Port,
		User:              c.Source.User,
		Password:          c.Source.Password,
		ServerID:          c.Replicator.ServerID,
		Brokers:           c.Kafka.Brokers,
		Topic:             c.TopicName(),
		KafkaVersion:      c.Kafka.Version,
		ClientID:          c.Kafka.ClientID,
		ReplicationFactor: c.Kafka.ReplicationFactor,
		Partitions:        int32(c.Kafka.Partitions),
		PartitionBy:       c.Kafka.PartitionBy,
		Compression:       c.Kafka.Compression,
		HeartbeatInterval: c.Replicator.HeartbeatInterval,
		FlushInterval:     c.Replicator.FlushInterval,
		MaxBatchBytes:     c.Replicator.MaxBatchBytes,
		Filter:            replicator.Filter{Include: c.Replicator.Include, Exclude: c.Replicator.Exclude},
		AllowDDL:          c.Replicator.AllowDDL,
		StartGTID:         c.Replicator.StartGTID,
	}
}
