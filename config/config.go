// Package config is drc's one configuration file: a YAML document with shared
// sections (source, target, kafka, metrics, log) and one section per role.
//
// Loading order, later wins: built-in defaults (Default), the YAML file, then
// environment variables named DRC_ plus the upper-cased key path with dots
// replaced by underscores (DRC_KAFKA_BROKERS, DRC_SOURCE_PASSWORD,
// DRC_APPLIER_WORKERS). A *_file key (password_file, token_file) reads the
// secret from a file, so secrets need not live in the YAML.
//
// Library packages never read this package's types: cmd/drc maps them onto
// each package's own plain Config struct. That keeps config at the edge.
package config

import (
	"time"

	"github.com/drc-dev/drc/applier"
)

// Config is the whole file. Field tags are the YAML keys.
type Config struct {
	// Cluster names the source cluster. It is part of the Kafka transactional
	// id (drc-<cluster>) and of the applier checkpoint's key.
	Cluster    string     `mapstructure:"cluster" yaml:"cluster"`
	Source     MySQL      `mapstructure:"source" yaml:"source"`
	Target     MySQL      `mapstructure:"target" yaml:"target"`
	Kafka      Kafka      `mapstructure:"kafka" yaml:"kafka"`
	Metrics    Metrics    `mapstructure:"metrics" yaml:"metrics"`
	Log        Log        `mapstructure:"log" yaml:"log"`
	Replicator Replicator `mapstructure:"replicator" yaml:"replicator"`
	Applier    Applier    `mapstructure:"applier" yaml:"applier"`
	IDGen      IDGen      `mapstructure:"idgen" yaml:"idgen"`
	Reconcile  Reconcile  `mapstructure:"reconcile" yaml:"reconcile"`
	Bootstrap  Bootstrap  `mapstructure:"bootstrap" yaml:"bootstrap"`
	DR         DR         `mapstructure:"dr" yaml:"dr"`

	// secretWarnings: secret files others can read (set by Load, reported
	// by Warnings).
	secretWarnings []string
}

// MySQL is one MySQL or MariaDB server and the region it lives in.
type MySQL struct {
	Region       string `mapstructure:"region" yaml:"region"`
	Flavor       string `mapstructure:"flavor" yaml:"flavor"` // mariadb or mysql
	Host         string `mapstructure:"host" yaml:"host"`
	Port         int    `mapstructure:"port" yaml:"port"`
	User         string `mapstructure:"user" yaml:"user"`
	Password     string `mapstructure:"password" yaml:"password"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
	TLS          TLS    `mapstructure:"tls" yaml:"tls"`
}

// TLS is a server's transport security (mysqlconn.TLS): mode disabled,
// preferred (default), required, verify-ca or verify-identity; ca, cert
// and key are PEM files; server_name is the name the certificate must
// carry under verify-identity (default the host).
type TLS struct {
	Mode       string `mapstructure:"mode" yaml:"mode"`
	CA         string `mapstructure:"ca" yaml:"ca"`
	Cert       string `mapstructure:"cert" yaml:"cert"`
	Key        string `mapstructure:"key" yaml:"key"`
	ServerName string `mapstructure:"server_name" yaml:"server_name"`
}

// Kafka is the broker set and the topic one source cluster publishes to.
type Kafka struct {
	Brokers []string `mapstructure:"brokers" yaml:"brokers"`
	// Topic defaults to drc.<cluster>.
	Topic string `mapstructure:"topic" yaml:"topic"`
	// Version is the broker protocol version sarama speaks, e.g. 3.9.0 or 4.0.0.
	Version           string `mapstructure:"version" yaml:"version"`
	ReplicationFactor int    `mapstructure:"replication_factor" yaml:"replication_factor"`
	// Partitions is 1 unless PartitionBy is database.
	Partitions int `mapstructure:"partitions" yaml:"partitions"`
	// PartitionBy is cluster (one partition, total commit order) or database.
	PartitionBy string `mapstructure:"partition_by" yaml:"partition_by"`
	Compression string `mapstructure:"compression" yaml:"compression"` // none, lz4, zstd
	// CompressionLevel is the codec's level for zstd (1-22) or gzip (1-9);
	// 0 is the codec's default. On sysbench rows zstd stored 114 bytes per
	// event at its default level and 104 at level 1, for about the same
	// CPU (make bench, replicator/codecs).
	CompressionLevel int    `mapstructure:"compression_level" yaml:"compression_level"`
	ClientID         string `mapstructure:"client_id" yaml:"client_id"`
	// RecordKey (or RecordKeyFile) is a secret of at least 32 bytes
	// shared by the replicator and the applier: the replicator signs each
	// transaction with it, and the applier applies only transactions whose
	// signature verifies. Empty: records are not signed.
	RecordKey     string `mapstructure:"record_key" yaml:"record_key"`
	RecordKeyFile string `mapstructure:"record_key_file" yaml:"record_key_file"`
	// TLS secures the connections to the brokers (kafkaconn.TLS): the
	// same keys as a server's tls, but mode disabled (the default),
	// required, verify-ca or verify-identity. There is no preferred: a
	// Kafka listener speaks TLS (SSL, SASL_SSL) or it does not.
	TLS TLS `mapstructure:"tls" yaml:"tls"`
	// SASL authenticates drc to the brokers (kafkaconn.SASL).
	SASL SASL `mapstructure:"sasl" yaml:"sasl"`
}

// SASL is how drc authenticates to Kafka: mechanism PLAIN, SCRAM-SHA-256
// or SCRAM-SHA-512 (empty: no SASL), a user, and its password or the
// file holding it.
type SASL struct {
	Mechanism    string `mapstructure:"mechanism" yaml:"mechanism"`
	User         string `mapstructure:"user" yaml:"user"`
	Password     string `mapstructure:"password" yaml:"password"`
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"`
}

// Metrics is where /metrics is served. An empty listen address disables it.
type Metrics struct {
	Listen string      `mapstructure:"listen" yaml:"listen"`
	TLS    ListenerTLS `mapstructure:"tls" yaml:"tls"`
}

// ListenerTLS makes one of drc's own listeners speak HTTPS
// (httpserve.TLS): cert and key are the server's PEM certificate and key;
// client_ca, when set, is the PEM file of the CAs whose client
// certificates it requires (mutual TLS). Without cert and key the
// listener speaks plain HTTP.
type ListenerTLS struct {
	Cert     string `mapstructure:"cert" yaml:"cert"`
	Key      string `mapstructure:"key" yaml:"key"`
	ClientCA string `mapstructure:"client_ca" yaml:"client_ca"`
}

// Log chooses level and format; format auto is text on a terminal, else JSON.
type Log struct {
	Level  string `mapstructure:"level" yaml:"level"`
	Format string `mapstructure:"format" yaml:"format"`
}

// Replicator is the `drc replicate` section.
type Replicator struct {
	// ServerID is the replica server id the binlog reader registers with;
	// it must be unique among the source's replicas.
	ServerID          uint32        `mapstructure:"server_id" yaml:"server_id"`
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval" yaml:"heartbeat_interval"`
	// Include and Exclude are db.table patterns with * wildcards.
	Include []string `mapstructure:"include" yaml:"include"`
	Exclude []string `mapstructure:"exclude" yaml:"exclude"`
	// AllowDDL lists statements (exact text after whitespace folding) the
	// replicator may publish although it cannot classify them.
	AllowDDL []string `mapstructure:"allow_ddl" yaml:"allow_ddl"`
	// FlushInterval and MaxBatchBytes bound how many binlog transactions
	// share one Kafka transaction.
	FlushInterval time.Duration `mapstructure:"flush_interval" yaml:"flush_interval"`
	MaxBatchBytes int           `mapstructure:"max_batch_bytes" yaml:"max_batch_bytes"`
	// CommitLinger is how old a Kafka transaction must be before it is
	// committed, unless it is full (replicator.Config.CommitLinger); 0,
	// the default, commits as soon as nothing more is ready.
	CommitLinger time.Duration `mapstructure:"commit_linger" yaml:"commit_linger"`
	// StartGTID is where a replicator with an empty topic starts; empty
	// means the source's current position.
	StartGTID string `mapstructure:"start_gtid" yaml:"start_gtid"`
}

// TablePolicy overrides the applier's policies for one db.table pattern.
type TablePolicy struct {
	Table    string `mapstructure:"table" yaml:"table"`
	Conflict string `mapstructure:"conflict" yaml:"conflict"`
	DDL      string `mapstructure:"ddl" yaml:"ddl"`
	// IDColumns must hold drc IDs issued in the region the row was
	// written in (idgen); ForeignID overrides applier.foreign_id.
	IDColumns []string `mapstructure:"id_columns" yaml:"id_columns"`
	ForeignID string   `mapstructure:"foreign_id" yaml:"foreign_id"`
}

// Applier is the `drc apply` section.
type Applier struct {
	Workers       int    `mapstructure:"workers" yaml:"workers"`
	MaxQueueBytes int    `mapstructure:"max_queue_bytes" yaml:"max_queue_bytes"`
	ConsumerGroup string `mapstructure:"consumer_group" yaml:"consumer_group"`
	Conflict      string `mapstructure:"conflict" yaml:"conflict"`
	DDL           string `mapstructure:"ddl" yaml:"ddl"`
	// DDLKinds are the kinds of replicated DDL this target runs
	// (default applier.DefaultDDLKinds: table, index, database).
	DDLKinds []string `mapstructure:"ddl_kinds" yaml:"ddl_kinds"`
	Triggers string   `mapstructure:"triggers" yaml:"triggers"`
	// ForeignID is what a row whose ID column holds another region's ID
	// (or no drc ID) does: stop or record (apply it, record the conflict).
	ForeignID       string        `mapstructure:"foreign_id" yaml:"foreign_id"`
	Tables          []TablePolicy `mapstructure:"tables" yaml:"tables"`
	RetryMaxBackoff time.Duration `mapstructure:"retry_max_backoff" yaml:"retry_max_backoff"`
}

// IDGen is the `drc idgen serve` section. Leases live in MySQL, which is
// the source block unless mysql.host is set.
type IDGen struct {
	Listen string `mapstructure:"listen" yaml:"listen"`
	// TLS makes the API (and its /metrics) HTTPS.
	TLS      ListenerTLS `mapstructure:"tls" yaml:"tls"`
	RegionID int         `mapstructure:"region_id" yaml:"region_id"`
	// Regions numbers every region by name (the same map in every region's
	// file): the applier's ID guard and reconcile --id-ranges read it, and
	// decomposed IDs show the name beside the number.
	Regions        map[string]int `mapstructure:"regions" yaml:"regions"`
	RegionBits     int            `mapstructure:"region_bits" yaml:"region_bits"`
	NodeBits       int            `mapstructure:"node_bits" yaml:"node_bits"`
	SequenceBits   int            `mapstructure:"sequence_bits" yaml:"sequence_bits"`
	TimeUnit       time.Duration  `mapstructure:"time_unit" yaml:"time_unit"`
	StartTime      string         `mapstructure:"start_time" yaml:"start_time"`
	LeaseTTL       time.Duration  `mapstructure:"lease_ttl" yaml:"lease_ttl"`
	MaxClockWait   time.Duration  `mapstructure:"max_clock_wait" yaml:"max_clock_wait"`
	BackwardBudget time.Duration  `mapstructure:"backward_budget" yaml:"backward_budget"`
	MaxCount       int            `mapstructure:"max_count" yaml:"max_count"`
	Token          string         `mapstructure:"token" yaml:"token"`
	TokenFile      string         `mapstructure:"token_file" yaml:"token_file"`
	MySQL          MySQL          `mapstructure:"mysql" yaml:"mysql"`
}

// Reconcile is the `drc reconcile` section.
type Reconcile struct {
	Tables        []string      `mapstructure:"tables" yaml:"tables"`
	Concurrency   int           `mapstructure:"concurrency" yaml:"concurrency"`
	ChunkTime     time.Duration `mapstructure:"chunk_time" yaml:"chunk_time"`
	SettleTimeout time.Duration `mapstructure:"settle_timeout" yaml:"settle_timeout"`
	MaxLag        time.Duration `mapstructure:"max_lag" yaml:"max_lag"`
}

// Bootstrap is the `drc bootstrap` section.
type Bootstrap struct {
	Tables    []string `mapstructure:"tables" yaml:"tables"`
	Workers   int      `mapstructure:"workers" yaml:"workers"`
	ChunkRows int      `mapstructure:"chunk_rows" yaml:"chunk_rows"`
}

// DR is the section `drc switchover`, `drc failover` and `drc failback`
// read. A DR pair is two pipelines, one per direction; this file is the
// one from the primary (source) to the standby (target), and
// ReverseConfig names the file of the pipeline the other way.
type DR struct {
	// ReverseConfig is the config file of the standby-to-primary pipeline
	// (its source is this file's target and the other way round). A
	// relative path is read from this file's directory.
	ReverseConfig string `mapstructure:"reverse_config" yaml:"reverse_config"`
}

// Default returns the configuration every file starts from. The commented
// example in deploy/drc.example.yaml documents the same values.
func Default() Config {
	return Config{
		Source: MySQL{Flavor: "mariadb", Host: "127.0.0.1", Port: 3306, User: "drc", TLS: TLS{Mode: "preferred"}},
		Target: MySQL{Flavor: "mariadb", Host: "127.0.0.1", Port: 3306, User: "drc", TLS: TLS{Mode: "preferred"}},
		Kafka: Kafka{
			Version: "3.9.0", ReplicationFactor: 1, Partitions: 1,
			PartitionBy: "cluster", Compression: "lz4", ClientID: "drc",
			TLS: TLS{Mode: "disabled"},
		},
		Metrics: Metrics{Listen: ""},
		Log:     Log{Level: "info", Format: "auto"},
		Replicator: Replicator{
			ServerID: 4242, HeartbeatInterval: time.Second,
			FlushInterval: 20 * time.Millisecond, MaxBatchBytes: 4 << 20,
		},
		Applier: Applier{
			Workers: 4, MaxQueueBytes: 64 << 20, Conflict: "auto", DDL: "apply", Triggers: "stop", ForeignID: "stop",
			DDLKinds:        applier.DefaultDDLKinds(),
			RetryMaxBackoff: 5 * time.Second,
		},
		IDGen: IDGen{
			Listen: "127.0.0.1:7070", RegionBits: 3, NodeBits: 7, SequenceBits: 12,
			TimeUnit: time.Millisecond, StartTime: "2025-01-01T00:00:00Z",
			LeaseTTL: 30 * time.Second, MaxClockWait: 5 * time.Second,
			BackwardBudget: 10 * time.Millisecond, MaxCount: 10000,
			// Used only with mysql.host set (else the source block is).
			MySQL: MySQL{Flavor: "mariadb", Port: 3306, User: "drc"},
		},
		Reconcile: Reconcile{Concurrency: 2, ChunkTime: 500 * time.Millisecond, SettleTimeout: 60 * time.Second, MaxLag: 5 * time.Second},
		Bootstrap: Bootstrap{Workers: 4, ChunkRows: 10000},
	}
}
