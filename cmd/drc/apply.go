package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/config"
)

func newApplyCmd() *cobra.Command {
	var (
		path  string
		skips []string
	)
	cmd := &cobra.Command{
		Use:   "apply --config FILE [--skip-offset PARTITION:OFFSET ...]",
		Short: "Apply a source cluster's topic to the target region, exactly once",
		Long: `apply consumes the topic of the source cluster (kafka section) with
read_committed and applies each source transaction to the target (target
section) as one database transaction, whose first statement writes the
checkpoint drc_meta.apply_checkpoint. It resumes from that checkpoint, so
every transaction is applied exactly once across restarts and crashes.

Independent transactions run on applier.workers connections and commit in
source order. Conflicts (duplicate key, missing row, different before image)
are resolved by applier.conflict (per table: applier.tables) and recorded in
drc_meta.conflicts. DDL runs in stream order under applier.ddl.

Columns listed in applier.tables[].id_columns must hold drc IDs (drc idgen)
of the region each row was written in: an insert, or an update changing
one, with another region's ID or a value idgen never issued is a foreign_id
conflict, handled by applier.foreign_id (stop, the default, or record).
idgen.regions numbers the regions.

Transient failures (target or broker restart) are retried with capped
backoff. An undecodable record, a conflict or DDL under the stop policy, or a
checkpoint outside the topic's retention stop it with exit code 2.

A record it cannot apply stops it at that record on every start; the error
names the partition and offset. --skip-offset PARTITION:OFFSET (repeatable)
passes over that record deliberately, with every record of its transaction,
so nothing is half-applied: the skip is logged, counted
(drc_applier_operator_skips_total), recorded in the target's
drc_meta.skipped with the tables it touched, and a checkpoint moves past
it; the log names the drc reconcile command that repairs those tables.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			acfg, err := applierConfig(cfg)
			if err != nil {
				return &exitCodeError{exitError, err}
			}
			for _, s := range skips {
				so, err := applier.ParseSkipOffset(s)
				if err != nil {
					return &exitCodeError{exitError, fmt.Errorf("--skip-offset: %w", err)}
				}
				acfg.SkipOffsets = append(acfg.SkipOffsets, so)
			}
			return runRole(cmd, cfg, func(rt *runtime) error {
				a, err := applier.New(acfg, rt.log, rt.reg)
				if err != nil {
					return err
				}
				return a.Run(rt.ctx)
			})
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "path of the drc YAML config (required)")
	cmd.Flags().StringArrayVar(&skips, "skip-offset", nil, "pass over the record at PARTITION:OFFSET and its whole transaction (recorded in drc_meta.skipped)")
	return cmd
}

func applierConfig(c config.Config) (applier.Config, error) {
	tables := make([]applier.TablePolicy, len(c.Applier.Tables))
	for i, t := range c.Applier.Tables {
		tables[i] = applier.TablePolicy{Table: t.Table, Conflict: t.Conflict, DDL: t.DDL,
			IDColumns: t.IDColumns, ForeignID: t.ForeignID}
	}
	layout, err := idgenLayout(c)
	if err != nil {
		return applier.Config{}, err
	}
	return applier.Config{
		Cluster:         c.Cluster,
		Region:          c.Target.Region,
		Flavor:          c.Source.Flavor,
		Host:            c.Target.Host,
		Port:            c.Target.Port,
		User:            c.Target.User,
		Password:        c.Target.Password,
		TLS:             c.Target.Endpoint().TLS,
		Brokers:         c.Kafka.Brokers,
		Topic:           c.TopicName(),
		KafkaVersion:    c.Kafka.Version,
		ClientID:        c.Kafka.ClientID,
		KafkaTLS:        c.Kafka.Conn().TLS,
		KafkaSASL:       c.Kafka.Conn().SASL,
		ConsumerGroup:   c.Applier.ConsumerGroup,
		Workers:         c.Applier.Workers,
		MaxQueueBytes:   c.Applier.MaxQueueBytes,
		Conflict:        c.Applier.Conflict,
		DDL:             c.Applier.DDL,
		DDLKinds:        c.Applier.DDLKinds,
		Triggers:        c.Applier.Triggers,
		Tables:          tables,
		ForeignID:       c.Applier.ForeignID,
		RecordKey:       recordKey(c),
		IDLayout:        layout,
		Regions:         c.IDGen.Regions,
		RetryMaxBackoff: c.Applier.RetryMaxBackoff,
	}, nil
}
