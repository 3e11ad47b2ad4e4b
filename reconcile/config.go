package reconcile

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// Flavor is the source's server family. It decides the GTID form and the
// variable that holds the source's position.
type Flavor string

// The flavors reconcile understands.
const (
	FlavorMariaDB Flavor = gtid.MariaDB // GTIDs domain-server-seq; position @@gtid_binlog_pos
	FlavorMySQL   Flavor = gtid.MySQL   // GTIDs uuid:interval; position @@gtid_executed
)

// Defaults, used by NewConfig.
const (
	DefaultConcurrency   = 2
	DefaultChunkTime     = 500 * time.Millisecond
	DefaultPartRows      = 1000
	DefaultSettleTimeout = 60 * time.Second
	DefaultSettleRounds  = 3
	DefaultLockWait      = 5 * time.Second
	DefaultMaxLag        = 5 * time.Second
	DefaultRepairBatch   = 100
)

// Config is everything Run needs. Build it with NewConfig and override
// fields; cmd/drc maps the YAML's reconcile section onto it.
type Config struct {
	// Source and Target are the databases compared; the target is the one
	// repaired. Either give open pools (Run does not close them), or DSNs in
	// go-sql-driver form, which Run opens and closes. A given pool must not
	// be shared with code that depends on session settings: reconcile sets
	// time_zone, sql_mode, character set and group_concat_max_len on the
	// connections it takes from it. It holds up to 5×Concurrency+1
	// connections of each pool at once; a pool capped lower would stall.
	Source, Target       *sql.DB
	SourceDSN, TargetDSN string

	// Flavor of the source (GTID form); "" detects it from VERSION().
	Flavor Flavor

	// Cluster names the source cluster: the key of the applier's rows in
	// the target's drc_meta.apply_checkpoint.
	Cluster string

	// Tables selects tables as db.table patterns ('*' globs; backticks quote
	// a literal part). Empty means every base table outside the system
	// schemas and drc_meta.
	Tables []string

	// Concurrency is how many tables are compared at once (1..64).
	Concurrency int
	// ChunkTime is the time one chunk should take to hash; chunk sizes adapt
	// to it.
	ChunkTime time.Duration
	// PartRows is the size, in rows, of the parts a chunk is hashed in; a
	// mismatched part of at most this many rows is fetched row by row,
	// larger ones are bisected first.
	PartRows int
	// Digest is the hash the databases compute over each part.
	Digest Digest

	// Settle makes every candidate difference wait for the target's applier
	// checkpoint to pass the source position it was read at, so replication
	// lag never shows as drift. It needs the applier's checkpoint row for
	// Cluster. Turn it off only when nothing replicates into the target.
	Settle bool
	// SettleTimeout bounds the wait for the checkpoint, per candidate batch;
	// on timeout the candidates are reported as unsettled, never as drift.
	SettleTimeout time.Duration
	// SettleRounds is how many cheap re-reads (no locks) a candidate gets
	// before the exact, locking confirmation.
	SettleRounds int
	// LockWait bounds how long the confirmation keeps candidate rows locked
	// (shared) on the source while the target catches up. Past it the locks
	// are released and the confirmation retried, within SettleTimeout.
	LockWait time.Duration

	// Repair writes the source's current row (or a delete) to the target for
	// every confirmed difference. Without it the repairs are only reported,
	// as SQL.
	Repair bool
	// MaxLag throttles repair: a batch waits while the target needs longer
	// than this to catch up with the source.
	MaxLag time.Duration
	// RepairBatch is the number of rows per repair transaction.
	RepairBatch int

	// Resume keeps progress in the target's drc_meta so that a killed run,
	// started again with the same tables, skips the chunks already done.
	Resume bool
	// Restart ignores saved progress and starts the run over.
	Restart bool

	// Progress, when set, receives a progress bar redrawn in place: give it
	// a terminal. Without it, progress (rows, rate, ETA) is logged as a
	// record every ProgressInterval.
	Progress         io.Writer
	ProgressInterval time.Duration

	// Registerer, when set, receives reconcile's metrics.
	Registerer prometheus.Registerer
}

// NewConfig returns a Config with every default set.
func NewConfig() Config {
	return Config{
		Concurrency:      DefaultConcurrency,
		ChunkTime:        DefaultChunkTime,
		PartRows:         DefaultPartRows,
		Digest:           DigestSHA256,
		Settle:           true,
		SettleTimeout:    DefaultSettleTimeout,
		SettleRounds:     DefaultSettleRounds,
		LockWait:         DefaultLockWait,
		MaxLag:           DefaultMaxLag,
		RepairBatch:      DefaultRepairBatch,
		Resume:           true,
		ProgressInterval: 10 * time.Second,
	}
}

// Validate returns every problem found, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("reconcile.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Source == nil && c.SourceDSN == "" {
		bad("source", "need a pool or a DSN")
	}
	if c.Target == nil && c.TargetDSN == "" {
		bad("target", "need a pool or a DSN")
	}
	switch c.Flavor {
	case "", FlavorMariaDB, FlavorMySQL:
	default:
		bad("flavor", "must be mariadb or mysql, got %q", c.Flavor)
	}
	if c.Settle && c.Cluster == "" {
		bad("cluster", "must name the source cluster to find the applier checkpoint (or turn settling off)")
	}
	for _, p := range c.Tables {
		if _, err := tablepattern.Parse(p); err != nil {
			bad("tables", "%v", err)
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		bad("concurrency", "must be 1..64, got %d", c.Concurrency)
	}
	if c.ChunkTime < 10*time.Millisecond {
		bad("chunk_time", "must be at least 10ms, got %s", c.ChunkTime)
	}
	if c.PartRows < 1 || c.PartRows > 1000000 {
		bad("part_rows", "must be 1..1000000, got %d", c.PartRows)
	}
	switch c.Digest {
	case DigestSHA256, DigestMD5:
	default:
		bad("digest", "must be sha256 or md5, got %q", c.Digest)
	}
	if c.Settle {
		if c.SettleTimeout < time.Second {
			bad("settle_timeout", "must be at least 1s, got %s", c.SettleTimeout)
		}
		if c.LockWait <= 0 {
			bad("lock_wait", "must be positive, got %s", c.LockWait)
		}
	}
	if c.SettleRounds < 0 || c.SettleRounds > 100 {
		bad("settle_rounds", "must be 0..100, got %d", c.SettleRounds)
	}
	if c.Repair && c.MaxLag <= 0 {
		bad("max_lag", "must be positive, got %s", c.MaxLag)
	}
	if c.RepairBatch < 1 || c.RepairBatch > 10000 {
		bad("repair_batch", "must be 1..10000, got %d", c.RepairBatch)
	}
	if c.Progress != nil && c.ProgressInterval <= 0 {
		bad("progress_interval", "must be positive, got %s", c.ProgressInterval)
	}
	return errors.Join(errs...)
}
