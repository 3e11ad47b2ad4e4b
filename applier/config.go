package applier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// Config is everything one applier needs: the source cluster it follows,
// the Kafka topic that cluster publishes to and the target server it
// writes. cmd/drc fills it from the YAML file; New applies the defaults
// documented on each field.
type Config struct {
	Cluster string // source cluster name: the checkpoint's key
	Region  string // the target's region, for the consumer group name
	// Flavor is the source's GTID flavor, mariadb (default) or mysql: the
	// records' gtid and gtid_set are in its text form.
	Flavor string

	// The target server.
	Host     string
	Port     int
	User     string
	Password string

	Brokers      []string
	Topic        string // default drc.<Cluster>
	KafkaVersion string // default 3.9.0
	ClientID     string // default drc
	// KafkaTLS and KafkaSASL secure the connections to the brokers
	// (kafkaconn; default plaintext, no SASL).
	KafkaTLS  kafkaconn.TLS
	KafkaSASL kafkaconn.SASL
	// ConsumerGroup receives the applied offsets, for monitoring only; the
	// checkpoint in the target is the truth. Default drc-apply-<Cluster>-<Region>.
	ConsumerGroup string

	// Workers is the number of target connections that apply independent
	// transactions concurrently, per partition. Default 4.
	Workers int
	// MaxQueueBytes bounds the bytes of records read but not yet committed.
	// Default 64 MiB.
	MaxQueueBytes int
	// LargeTxnBytes: a transaction bigger than this is not buffered whole
	// but applied alone as it arrives, after the transactions before it have
	// committed. Default MaxQueueBytes/8, at least 1 MiB.
	LargeTxnBytes int
	// BatchRows caps the rows of one multi-row INSERT. Default 500.
	BatchRows int

	// Conflict is the default conflict policy: auto (default: source-wins
	// one-way, region priority by name in a two-way pair), source-wins,
	// target-wins, newer-wins:<column>, region-priority:<regions> or stop. DDL is the default DDL
	// policy: apply (default), skip or stop. Tables override both per
	// db.table pattern; the first matching entry wins.
	Conflict string
	DDL      string
	Tables   []TablePolicy
	// DDLKinds are the kinds of replicated DDL the target runs
	// (replicator.DDLKinds: table, index, database, view, trigger, routine,
	// event, sequence, admin, other). A DDL of another kind stops the
	// applier before it runs, naming its kind and offset. Default:
	// DefaultDDLKinds.
	DDLKinds []string

	// ForeignID is what a row does whose ID column (TablePolicy.IDColumns)
	// holds an ID of another region than the one the row was written in,
	// or a value idgen never issued: stop (default) records the conflict
	// and stops; record applies the row and records the conflict. Tables
	// override it.
	ForeignID string
	// IDLayout is the idgen layout ID columns follow, used when the
	// target's drc_meta.idgen_layout holds none (the stored one wins).
	// Zero: idgen.DefaultLayout.
	IDLayout idgen.Layout
	// Regions numbers each region by name (idgen.regions): a row's origin
	// region must be listed to check its ID columns.
	Regions map[string]int

	// Triggers says what the applier does about target tables with
	// triggers. Replicated rows already carry their source triggers'
	// effects (the trigger's own writes are in the binlog too), so a target
	// trigger firing again for them duplicates those effects; native
	// row-based replication does not fire triggers either. stop (default):
	// a replicated row for a table with triggers stops the applier, naming
	// them, and a replicated CREATE TRIGGER is not applied (it is logged
	// and counted). fire: apply as usual and let target triggers fire, for
	// triggers whose effects are not replicated or are idempotent.
	Triggers string

	// TLS secures the connections to the target (mysqlconn.TLS; default
	// preferred).
	TLS mysqlconn.TLS

	// RecordKey, when set, is the key the replicator signs transactions
	// with (event.SignatureHeader): a transaction whose signature does not
	// verify stops the applier with nothing of it applied.
	RecordKey []byte

	// SkipOffsets are Kafka records the operator has decided to pass over
	// (drc apply --skip-offset), each with its whole transaction; see
	// SkipOffset.
	SkipOffsets []SkipOffset

	// RetryMaxBackoff caps the backoff between sessions after a transient
	// failure. Default 5s: the time a pipeline idles after a server returns
	// is added to its RPO.
	RetryMaxBackoff time.Duration
	// LockWaitTimeout is the target session's innodb_lock_wait_timeout.
	// Default 10s.
	LockWaitTimeout time.Duration
}

// TablePolicy overrides the policies for the tables matching Table, a
// db.table pattern (internal/tablepattern: * wildcards, backtick quoting).
type TablePolicy struct {
	Table    string
	Conflict string // empty: the default
	DDL      string // empty: the default
	// IDColumns must hold drc IDs of the region each row was written in:
	// every insert, and every update that changes one, is checked.
	IDColumns []string
	ForeignID string // empty: the default
}

// kafka is how the applier reaches the brokers.
func (c Config) kafka() kafkaconn.Conn {
	return kafkaconn.Conn{Brokers: c.Brokers, Version: c.KafkaVersion, ClientID: c.ClientID, TLS: c.KafkaTLS, SASL: c.KafkaSASL}
}

func (c *Config) setDefaults() {
	if c.Flavor == "" {
		c.Flavor = "mariadb"
	}
	if c.Topic == "" {
		c.Topic = "drc." + c.Cluster
	}
	if c.KafkaVersion == "" {
		c.KafkaVersion = "3.9.0"
	}
	if c.ClientID == "" {
		c.ClientID = "drc"
	}
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = "drc-apply-" + c.Cluster + "-" + c.Region
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.MaxQueueBytes == 0 {
		c.MaxQueueBytes = 64 << 20
	}
	if c.LargeTxnBytes == 0 {
		c.LargeTxnBytes = max(c.MaxQueueBytes/8, 1<<20)
	}
	if c.BatchRows == 0 {
		c.BatchRows = 500
	}
	if c.Conflict == "" {
		c.Conflict = "auto"
	}
	if c.DDL == "" {
		c.DDL = "apply"
	}
	if c.DDLKinds == nil {
		c.DDLKinds = DefaultDDLKinds()
	}
	if c.ForeignID == "" {
		c.ForeignID = "stop"
	}
	if c.IDLayout == (idgen.Layout{}) {
		c.IDLayout = idgen.DefaultLayout()
	}
	if c.Triggers == "" {
		c.Triggers = TriggersStop
	}
	if c.RetryMaxBackoff == 0 {
		c.RetryMaxBackoff = 5 * time.Second
	}
	if c.LockWaitTimeout == 0 {
		c.LockWaitTimeout = 10 * time.Second
	}
}

// DefaultDDLKinds are the DDL kinds a target runs unless applier.ddl_kinds
// says otherwise: table, index and database DDL, which change schemas and
// run no code. Views, triggers, routines and events carry code that runs
// with their definer's rights on the target, and sequences and admin
// statements are rarely wanted in a DR region: each is opted into.
func DefaultDDLKinds() []string {
	return []string{replicator.DDLKindTable, replicator.DDLKindIndex, replicator.DDLKindDatabase}
}

// CheckDDLKinds refuses a kind replicator.DDLKinds does not list.
func CheckDDLKinds(kinds []string) error {
	for _, k := range kinds {
		if !slices.Contains(replicator.DDLKinds(), k) {
			return fmt.Errorf("unknown DDL kind %q; the kinds are %s", k, strings.Join(replicator.DDLKinds(), ", "))
		}
	}
	return nil
}

// The applier.triggers settings.
const (
	TriggersStop = "stop"
	TriggersFire = "fire"
)

func (c *Config) validate() error {
	switch {
	case c.Triggers != TriggersStop && c.Triggers != TriggersFire:
		return fmt.Errorf("applier: triggers must be stop or fire, got %q", c.Triggers)
	case c.Cluster == "":
		return fmt.Errorf("applier: cluster is required")
	case len(c.Cluster) > maxClusterLen:
		return fmt.Errorf("applier: cluster %q is longer than %d characters", c.Cluster, maxClusterLen)
	case c.Flavor != "mariadb" && c.Flavor != "mysql":
		return fmt.Errorf("applier: flavor must be mariadb or mysql, got %q", c.Flavor)
	case len(c.Brokers) == 0:
		return fmt.Errorf("applier: at least one kafka broker is required")
	case c.Workers < 1 || c.Workers > 256:
		return fmt.Errorf("applier: workers must be 1..256, got %d", c.Workers)
	case c.MaxQueueBytes < 1<<20:
		return fmt.Errorf("applier: max_queue_bytes must be at least 1MiB, got %d", c.MaxQueueBytes)
	}
	if err := CheckDDLKinds(c.DDLKinds); err != nil {
		return fmt.Errorf("applier: ddl_kinds: %w", err)
	}
	pol, err := newPolicies(c.Conflict, c.DDL, c.ForeignID, c.Tables)
	if err != nil {
		return err
	}
	if pol.guarded() {
		if err := c.IDLayout.Validate(); err != nil {
			return fmt.Errorf("applier: id_columns: %w", err)
		}
		for name, n := range c.Regions {
			if n < 0 || n >= 1<<c.IDLayout.RegionBits {
				return fmt.Errorf("applier: region %s is numbered %d, outside 0..%d of %d region bits", name, n, 1<<c.IDLayout.RegionBits-1, c.IDLayout.RegionBits)
			}
		}
	}
	return nil
}

// DSN is the go-sql-driver DSN of the target. clientFoundRows makes an
// UPDATE report the rows it matched, not the rows it changed, which is how
// a missing row is told from an unchanged one; multiStatements lets the
// checkpoint travel with BEGIN and COMMIT in one round trip, and a small
// transaction's statements travel together (fast.go). The driver's own
// interpolateParams stays off (see event.Row.Arg): the one-round-trip path
// writes its literals itself.
func (c Config) DSN() (string, error) { return c.dsn(true) }

// controlDSN is the DSN of the control connections, which run DDL: without
// multiStatements, so that a DDL record holding two statements fails on
// the server instead of running both.
func (c Config) controlDSN() (string, error) { return c.dsn(false) }

func (c Config) dsn(multiStatements bool) (string, error) {
	mc, err := mysqlconn.Endpoint{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password, TLS: c.TLS}.Driver()
	if err != nil {
		return "", err
	}
	mc.Params = nil // the session sets its own (event.SessionSQL)
	mc.ClientFoundRows = true
	mc.MultiStatements = multiStatements
	mc.InterpolateParams = false
	mc.Timeout = 5 * time.Second
	mc.ReadTimeout = 5 * time.Minute
	mc.WriteTimeout = 5 * time.Minute
	return mc.FormatDSN(), nil
}
