package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/internal/httpserve"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/tablepattern"
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	regionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// Validate checks every field and returns all problems at once, each naming
// its key and the allowed values, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if !nameRE.MatchString(c.Cluster) {
		bad("cluster", "must be 1-64 letters, digits, '.', '_' or '-', got %q", c.Cluster)
	}
	c.Source.validate("source", bad)
	c.Target.validate("target", bad)
	if c.Source.Region != "" && c.Source.Region == c.Target.Region {
		bad("target.region", "must differ from source.region, both are %q", c.Source.Region)
	}

	k := c.Kafka
	if len(k.Brokers) == 0 {
		bad("kafka.brokers", "must list at least one host:port")
	}
	for i, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), "must be host:port, got %q", b)
		}
	}
	if k.Topic != "" && !nameRE.MatchString(k.Topic) {
		bad("kafka.topic", "must be 1-64 letters, digits, '.', '_' or '-', got %q", k.Topic)
	}
	if _, err := sarama.ParseKafkaVersion(k.Version); err != nil {
		bad("kafka.version", "must be a Kafka version such as 3.9.0 or 4.0.0, got %q", k.Version)
	}
	if k.ReplicationFactor < 1 || k.ReplicationFactor > 32 {
		bad("kafka.replication_factor", "must be 1..32, got %d", k.ReplicationFactor)
	}
	switch k.PartitionBy {
	case "cluster":
		if k.Partitions != 1 {
			bad("kafka.partitions", "must be 1 when partition_by is cluster, got %d", k.Partitions)
		}
	case "database":
		if k.Partitions < 1 || k.Partitions > 1024 {
			bad("kafka.partitions", "must be 1..1024, got %d", k.Partitions)
		}
	default:
		bad("kafka.partition_by", "must be cluster or database, got %q", k.PartitionBy)
	}
	if k.RecordKey != "" && len(k.RecordKey) < 32 {
		bad("kafka.record_key", "must be at least 32 bytes (e.g. openssl rand -base64 48 > keyfile), got %d", len(k.RecordKey))
	}
	if !oneOf(k.Compression, "none", "gzip", "snappy", "lz4", "zstd") {
		bad("kafka.compression", "must be none, gzip, snappy, lz4 or zstd, got %q", k.Compression)
	}
	switch {
	case k.CompressionLevel == 0:
	case k.Compression == "zstd" && (k.CompressionLevel < 1 || k.CompressionLevel > 22):
		bad("kafka.compression_level", "must be 1..22 for zstd (0: its default), got %d", k.CompressionLevel)
	case k.Compression == "gzip" && (k.CompressionLevel < 1 || k.CompressionLevel > 9):
		bad("kafka.compression_level", "must be 1..9 for gzip (0: its default), got %d", k.CompressionLevel)
	case k.Compression != "zstd" && k.Compression != "gzip":
		bad("kafka.compression_level", "is only for zstd and gzip, not %s; got %d", k.Compression, k.CompressionLevel)
	}
	if err := kafkaconn.TLS(k.TLS).Validate(); err != nil {
		bad("kafka.tls", "%v", err)
	}
	if err := k.Conn().SASL.Validate(); err != nil {
		bad("kafka.sasl", "%v", err)
	}

	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "must be host:port or empty, got %q", c.Metrics.Listen)
		}
	}
	checkListenerTLS("metrics.tls", c.Metrics.TLS, bad)
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "auto", "text", "json") {
		bad("log.format", "must be auto, text or json, got %q", c.Log.Format)
	}

	r := c.Replicator
	if r.ServerID == 0 {
		bad("replicator.server_id", "must be 1..4294967295, got 0")
	}
	if r.HeartbeatInterval < 100*time.Millisecond || r.HeartbeatInterval > time.Minute {
		bad("replicator.heartbeat_interval", "must be 100ms..1m, got %s", r.HeartbeatInterval)
	}
	if r.FlushInterval <= 0 || r.FlushInterval > 10*time.Second {
		bad("replicator.flush_interval", "must be >0 and ≤10s, got %s", r.FlushInterval)
	}
	if r.CommitLinger < 0 || r.CommitLinger > 10*time.Second {
		bad("replicator.commit_linger", "must be 0..10s, got %s", r.CommitLinger)
	}
	if r.MaxBatchBytes < 64<<10 || r.MaxBatchBytes > 512<<20 {
		bad("replicator.max_batch_bytes", "must be 64KiB..512MiB, got %d", r.MaxBatchBytes)
	}
	for i, p := range r.Include {
		checkPattern(fmt.Sprintf("replicator.include[%d]", i), p, bad)
	}
	for i, p := range r.Exclude {
		checkPattern(fmt.Sprintf("replicator.exclude[%d]", i), p, bad)
	}

	a := c.Applier
	idColumns := false
	if a.Workers < 1 || a.Workers > 256 {
		bad("applier.workers", "must be 1..256, got %d", a.Workers)
	}
	if a.MaxQueueBytes < 1<<20 {
		bad("applier.max_queue_bytes", "must be at least 1MiB, got %d", a.MaxQueueBytes)
	}
	if a.RetryMaxBackoff < time.Second {
		bad("applier.retry_max_backoff", "must be at least 1s, got %s", a.RetryMaxBackoff)
	}
	checkConflict("applier.conflict", a.Conflict, bad)
	checkDDL("applier.ddl", a.DDL, bad)
	if err := applier.CheckDDLKinds(a.DDLKinds); err != nil {
		bad("applier.ddl_kinds", "%v", err)
	}
	if a.Triggers != applier.TriggersStop && a.Triggers != applier.TriggersFire {
		bad("applier.triggers", "must be stop or fire, got %q", a.Triggers)
	}
	for i, t := range a.Tables {
		key := fmt.Sprintf("applier.tables[%d]", i)
		checkPattern(key+".table", t.Table, bad)
		if t.Conflict != "" {
			checkConflict(key+".conflict", t.Conflict, bad)
		}
		if t.DDL != "" {
			checkDDL(key+".ddl", t.DDL, bad)
		}
		for j, col := range t.IDColumns {
			if col == "" || len(col) > 64 {
				bad(fmt.Sprintf("%s.id_columns[%d]", key, j), "must be a column name of 1-64 characters, got %q", col)
			}
		}
		if t.ForeignID != "" {
			checkForeignID(key+".foreign_id", t.ForeignID, bad)
		}
		if len(t.IDColumns) > 0 {
			idColumns = true
		}
	}
	checkForeignID("applier.foreign_id", a.ForeignID, bad)

	g := c.IDGen
	if _, _, err := net.SplitHostPort(g.Listen); err != nil {
		bad("idgen.listen", "must be host:port, got %q", g.Listen)
	}
	checkListenerTLS("idgen.tls", g.TLS, bad)
	if g.RegionBits < 1 || g.NodeBits < 1 || g.SequenceBits < 1 {
		bad("idgen", "region_bits, node_bits and sequence_bits must each be at least 1, got %d, %d, %d", g.RegionBits, g.NodeBits, g.SequenceBits)
	} else if sum := g.RegionBits + g.NodeBits + g.SequenceBits; sum > 31 {
		bad("idgen", "region_bits+node_bits+sequence_bits must be ≤31 so that at least 32 bits remain for time (sonyflake), got %d", sum)
	} else if g.RegionBits+g.NodeBits > 30 {
		bad("idgen", "region_bits+node_bits must be ≤30 (sonyflake machine id), got %d", g.RegionBits+g.NodeBits)
	} else if g.RegionID < 0 || g.RegionID >= 1<<g.RegionBits {
		bad("idgen.region_id", "must be 0..%d for region_bits %d, got %d", 1<<g.RegionBits-1, g.RegionBits, g.RegionID)
	}
	if g.TimeUnit < time.Millisecond {
		bad("idgen.time_unit", "must be at least 1ms, got %s", g.TimeUnit)
	}
	if st, err := time.Parse(time.RFC3339, g.StartTime); err != nil {
		bad("idgen.start_time", "must be an RFC 3339 time such as 2025-01-01T00:00:00Z, got %q", g.StartTime)
	} else if st.After(time.Now()) {
		bad("idgen.start_time", "must not be in the future, got %s", g.StartTime)
	}
	if g.LeaseTTL < 3*time.Second {
		bad("idgen.lease_ttl", "must be at least 3s, got %s", g.LeaseTTL)
	}
	if g.MaxClockWait < 0 {
		bad("idgen.max_clock_wait", "must not be negative, got %s", g.MaxClockWait)
	}
	if g.BackwardBudget < 0 || g.BackwardBudget > time.Second {
		bad("idgen.backward_budget", "must be 0..1s, got %s", g.BackwardBudget)
	}
	if g.MaxCount < 1 || g.MaxCount > 1000000 {
		bad("idgen.max_count", "must be 1..1000000, got %d", g.MaxCount)
	}
	if g.MySQL.Host != "" {
		g.MySQL.validate("idgen.mysql", bad)
	}
	c.validateRegions(idColumns, bad)

	rc := c.Reconcile
	for i, t := range rc.Tables {
		checkPattern(fmt.Sprintf("reconcile.tables[%d]", i), t, bad)
	}
	if rc.Concurrency < 1 || rc.Concurrency > 64 {
		bad("reconcile.concurrency", "must be 1..64, got %d", rc.Concurrency)
	}
	if rc.ChunkTime < 10*time.Millisecond {
		bad("reconcile.chunk_time", "must be at least 10ms, got %s", rc.ChunkTime)
	}
	if rc.SettleTimeout < time.Second {
		bad("reconcile.settle_timeout", "must be at least 1s, got %s", rc.SettleTimeout)
	}
	if rc.MaxLag <= 0 {
		bad("reconcile.max_lag", "must be positive, got %s", rc.MaxLag)
	}

	b := c.Bootstrap
	for i, t := range b.Tables {
		checkPattern(fmt.Sprintf("bootstrap.tables[%d]", i), t, bad)
	}
	if b.Workers < 1 || b.Workers > 64 {
		bad("bootstrap.workers", "must be 1..64, got %d", b.Workers)
	}
	if b.ChunkRows < 1 || b.ChunkRows > 1000000 {
		bad("bootstrap.chunk_rows", "must be 1..1000000, got %d", b.ChunkRows)
	}
	return errors.Join(errs...)
}

// validateRegions checks idgen.regions: names and numbers unique and in
// range, the idgen's own region numbered as region_id says, and every
// region of the pair numbered when an ID guard needs them.
func (c Config) validateRegions(idColumns bool, bad func(string, string, ...any)) {
	g := c.IDGen
	names := make(map[int]string, len(g.Regions))
	for _, name := range slices.Sorted(maps.Keys(g.Regions)) {
		n := g.Regions[name]
		key := "idgen.regions." + name
		if !regionRE.MatchString(name) {
			bad(key, "region name must be 1-32 lower-case letters, digits or '-'")
		}
		if n < 0 || g.RegionBits >= 1 && g.RegionBits < 31 && n >= 1<<g.RegionBits {
			bad(key, "must be 0..%d for region_bits %d, got %d", 1<<g.RegionBits-1, g.RegionBits, n)
		}
		if other, dup := names[n]; dup {
			bad(key, "number %d is also region %s's; each region needs its own", n, other)
		}
		names[n] = name
	}
	if n, ok := g.Regions[c.IDGenRegion()]; ok && g.RegionID != 0 && g.RegionID != n {
		bad("idgen.region_id", "is %d but idgen.regions numbers region %s %d", g.RegionID, c.IDGenRegion(), n)
	}
	if idColumns {
		for _, r := range []string{c.Source.Region, c.Target.Region} {
			if _, ok := g.Regions[r]; !ok && r != "" {
				bad("idgen.regions", "must number region %s: applier.tables[].id_columns are checked against the region each row was written in", r)
			}
		}
	}
}

// IDGenRegion is the region the idgen section serves: idgen.mysql's region
// when it names its own server, else the source's.
func (c Config) IDGenRegion() string {
	if c.IDGen.MySQL.Host != "" && c.IDGen.MySQL.Region != "" {
		return c.IDGen.MySQL.Region
	}
	return c.Source.Region
}

// IDGenRegionID is idgen.region_id, or the number idgen.regions gives the
// idgen's region when region_id is left at 0.
func (c Config) IDGenRegionID() int {
	if n, ok := c.IDGen.Regions[c.IDGenRegion()]; ok && c.IDGen.RegionID == 0 {
		return n
	}
	return c.IDGen.RegionID
}

func (m MySQL) validate(key string, bad func(string, string, ...any)) {
	if !regionRE.MatchString(m.Region) {
		bad(key+".region", "must be 1-32 lower-case letters, digits or '-', got %q", m.Region)
	}
	if !oneOf(m.Flavor, "mariadb", "mysql") {
		bad(key+".flavor", "must be mariadb or mysql, got %q", m.Flavor)
	}
	if m.Host == "" {
		bad(key+".host", "must be set")
	}
	if m.Port < 1 || m.Port > 65535 {
		bad(key+".port", "must be 1..65535, got %d", m.Port)
	}
	if m.User == "" {
		bad(key+".user", "must be set")
	}
	if err := mysqlconn.TLS(m.TLS).Validate(); err != nil {
		bad(key+".tls", "%v", err)
	}
}

// Warnings names the settings that are valid but weaker than they should
// be, for drc config check and each role's start: secret files others can
// read, every MySQL endpoint and the Kafka brokers when their TLS mode is
// weaker than verify-identity, with what it leaves open, SASL to Kafka
// without TLS, and drc's own listeners (metrics, idgen) serving plain HTTP
// on an address other than loopback.
func (c Config) Warnings() []string {
	out := slices.Clone(c.secretWarnings)
	for _, e := range []struct {
		key string
		m   MySQL
	}{{"source", c.Source}, {"target", c.Target}, {"idgen.mysql", c.IDGen.MySQL}} {
		if e.key == "idgen.mysql" && e.m.Host == "" {
			continue
		}
		if weak := mysqlconn.TLS(e.m.TLS).Weak(); weak != "" {
			mode := e.m.TLS.Mode
			if mode == "" {
				mode = mysqlconn.Preferred
			}
			out = append(out, fmt.Sprintf("%s.tls.mode is %s: %s; use verify-identity with tls.ca", e.key, mode, weak))
		}
	}
	k := c.Kafka.Conn()
	if k.SASL.Enabled() && !k.TLS.Enabled() {
		if strings.EqualFold(k.SASL.Mechanism, kafkaconn.Plain) {
			out = append(out, "kafka.sasl.mechanism PLAIN without TLS (kafka.tls.mode disabled): the password crosses the network in clear; use SASL_SSL (kafka.tls.mode verify-identity)")
		} else {
			out = append(out, fmt.Sprintf("kafka.sasl.mechanism %s without TLS (kafka.tls.mode disabled): SCRAM keeps the password off the wire, but rows cross it readable and the session can be taken over; use SASL_SSL (kafka.tls.mode verify-identity)", strings.ToUpper(k.SASL.Mechanism)))
		}
	}
	if weak := k.TLS.Weak(); weak != "" {
		mode := k.TLS.Mode
		if mode == "" {
			mode = kafkaconn.Disabled
		}
		out = append(out, fmt.Sprintf("kafka.tls.mode is %s: %s; use verify-identity with kafka.tls.ca", mode, weak))
	}
	for _, l := range []struct {
		key, addr string
		tls       ListenerTLS
	}{{"metrics", c.Metrics.Listen, c.Metrics.TLS}, {"idgen", c.IDGen.Listen, c.IDGen.TLS}} {
		if l.addr == "" {
			continue
		}
		if weak := httpserve.TLS(l.tls).Weak(l.addr); weak != "" {
			out = append(out, fmt.Sprintf("%[1]s.listen %[2]s serves plain HTTP (no %[1]s.tls.cert): %[3]s; set %[1]s.tls.cert and %[1]s.tls.key, and %[1]s.tls.client_ca to require client certificates", l.key, l.addr, weak))
		}
	}
	return out
}

// checkListenerTLS checks the tls section of one of drc's own listeners,
// reading its files, and names each problem by its key (metrics.tls.cert).
func checkListenerTLS(key string, t ListenerTLS, bad func(string, string, ...any)) {
	err := httpserve.TLS(t).Validate()
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if fe, ok := errors.AsType[*httpserve.FieldError](e); ok {
			bad(key+"."+fe.Field, "%v", fe.Err)
		} else {
			bad(key, "%v", e)
		}
	}
}

// TopicName is kafka.topic, or drc.<cluster> when it is empty.
func (c Config) TopicName() string {
	if c.Kafka.Topic != "" {
		return c.Kafka.Topic
	}
	return "drc." + c.Cluster
}

func checkPattern(key, p string, bad func(string, string, ...any)) {
	if _, err := tablepattern.Parse(p); err != nil {
		bad(key, "must be a db.table pattern such as shop.*, shop.orders or `my.db`.*: %v", err)
	}
}

func checkConflict(key, v string, bad func(string, string, ...any)) {
	if _, err := applier.ParseConflictPolicy(v); err != nil {
		bad(key, "%v", err)
	}
}

func checkForeignID(key, v string, bad func(string, string, ...any)) {
	if _, err := applier.ParseForeignIDPolicy(v); err != nil {
		bad(key, "%v", err)
	}
}

func checkDDL(key, v string, bad func(string, string, ...any)) {
	if !oneOf(v, "apply", "skip", "stop") {
		bad(key, "must be apply, skip or stop, got %q", v)
	}
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
