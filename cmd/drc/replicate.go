package main

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/replicator"
)

func newReplicateCmd() *cobra.Command {
	var path, skipGTID string
	cmd := &cobra.Command{
		Use:   "replicate --config FILE [--skip-gtid GTID]",
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
replicator taking over stop it with exit code 2.

A transaction it cannot read (a statement it cannot classify, rows written
while binlog_row_metadata was MINIMAL, statement-based DML) stops it at that
transaction on every start; the error names the GTID. --skip-gtid GTID
passes over that one transaction deliberately: nothing of it is published,
the skip is logged, counted (drc_replicator_skipped_transactions_total
{reason="operator"}) and recorded in the source's drc_meta.skipped with the
tables it touched, and the log names the drc reconcile command that repairs
them in the other region. A GTID already in the topic is refused.`,
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
				rc := replicatorConfig(cfg)
				rc.SkipGTID = skipGTID
				r, err := replicator.New(rc, rt.log, rt.reg)
				if err != nil {
					return err
				}
				return r.Run(rt.ctx)
			})
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	cmd.Flags().StringVar(&skipGTID, "skip-gtid", "", "pass over this one source transaction, which the replicator cannot read (recorded in drc_meta.skipped)")
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
		TLS:               c.Source.Endpoint().TLS,
		ServerID:          c.Replicator.ServerID,
		Brokers:           c.Kafka.Brokers,
		Topic:             c.TopicName(),
		KafkaVersion:      c.Kafka.Version,
		ClientID:          c.Kafka.ClientID,
		KafkaTLS:          c.Kafka.Conn().TLS,
		KafkaSASL:         c.Kafka.Conn().SASL,
		ReplicationFactor: c.Kafka.ReplicationFactor,
		Partitions:        int32(c.Kafka.Partitions),
		PartitionBy:       c.Kafka.PartitionBy,
		Compression:       c.Kafka.Compression,
		CompressionLevel:  c.Kafka.CompressionLevel,
		RecordKey:         recordKey(c),
		HeartbeatInterval: c.Replicator.HeartbeatInterval,
		FlushInterval:     c.Replicator.FlushInterval,
		CommitLinger:      c.Replicator.CommitLinger,
		MaxBatchBytes:     c.Replicator.MaxBatchBytes,
		Filter:            replicator.Filter{Include: c.Replicator.Include, Exclude: c.Replicator.Exclude},
		AllowDDL:          c.Replicator.AllowDDL,
		StartGTID:         c.Replicator.StartGTID,
	}
}

// recordKey is kafka.record_key as bytes, or nil when records are not
// signed.
func recordKey(c config.Config) []byte {
	if c.Kafka.RecordKey == "" {
		return nil
	}
	return []byte(c.Kafka.RecordKey)
}
