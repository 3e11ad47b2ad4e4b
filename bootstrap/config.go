package bootstrap

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// Defaults, set by NewConfig.
const (
	DefaultWorkers           = 4
	DefaultChunkRows         = 10000
	DefaultMaxThreadsRunning = 32
	DefaultThrottleSleep     = time.Second
	DefaultMaxQueueBytes     = 64 << 20
	DefaultProgressInterval  = 10 * time.Second
	// maxStatementBytes caps one INSERT below the target's
	// max_allowed_packet: larger statements gain nothing measurable.
	maxStatementBytes = 4 << 20
)

// Endpoint is one MySQL or MariaDB server (the shared endpoint type).
type Endpoint = mysqlconn.Endpoint

// DSN is e in go-sql-driver form, as bootstrap opens it (and its verifying
// reconcile reads): the shared session defaults, the binary protocol for
// reads (exact FLOAT) and the server's max_allowed_packet.
func DSN(e Endpoint) (string, error) {
	c, err := e.Driver()
	if err != nil {
		return "", err
	}
	c.Timeout = 10 * time.Second
	c.InterpolateParams = false
	c.MaxAllowedPacket = 0
	return c.FormatDSN(), nil
}

// Config is everything Run needs. Build it with NewConfig and set fields;
// cmd/drc maps the YAML's source, target and bootstrap sections onto it.
type Config struct {
	// Cluster names the source cluster: the key of the state rows and of
	// the applier checkpoint rows written at the end.
	Cluster string
	// SourceRegion is written as the checkpoint's origin.
	SourceRegion string
	// Flavor is the source's: mariadb or mysql.
	Flavor string
	Source Endpoint
	Target Endpoint

	// Tables selects tables as db.table patterns with '*' globs. Empty
	// means every base table outside the system schemas and drc_meta.
	Tables []string
	// Partitions is the topic's partition count: one checkpoint row is
	// written per partition (0..Partitions-1).
	Partitions int
	// Workers is the number of writer connections on the target (1..64).
	Workers int
	// ChunkRows is the number of rows per chunk: one source read, one
	// target transaction, one resume step.
	ChunkRows int
	// MaxQueueBytes bounds the rows read but not yet written.
	MaxQueueBytes int

	// MaxThreadsRunning throttles the copy: while the source's
	// Threads_running is above it, reading pauses for ThrottleSleep. 0
	// disables throttling.
	MaxThreadsRunning int
	ThrottleSleep     time.Duration
	// MaxRowsPerSecond caps the copy rate; 0 is unlimited.
	MaxRowsPerSecond int

	// Progress, when set, receives the progress display: redrawn in place
	// when ProgressTerminal, else one line per table and overall every
	// ProgressInterval. Without it, the same is logged as records every
	// ProgressInterval.
	Progress         io.Writer
	ProgressTerminal bool
	ProgressInterval time.Duration

	// Registerer, when set, receives bootstrap's metrics.
	Registerer prometheus.Registerer

	// now is the clock (tests).
	now func() time.Time
}

// NewConfig returns a Config with every default set.
func NewConfig() Config {
	return Config{
		Flavor:            FlavorMariaDB,
		Partitions:        1,
		Workers:           DefaultWorkers,
		ChunkRows:         DefaultChunkRows,
		MaxQueueBytes:     DefaultMaxQueueBytes,
		MaxThreadsRunning: DefaultMaxThreadsRunning,
		ThrottleSleep:     DefaultThrottleSleep,
		ProgressInterval:  DefaultProgressInterval,
	}
}

// Validate returns every problem found, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("bootstrap.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Cluster == "" || len(c.Cluster) > 64 {
		bad("cluster", "must be 1-64 characters, got %q", c.Cluster)
	}
	if c.SourceRegion == "" || len(c.SourceRegion) > 64 {
		bad("source_region", "must be 1-64 characters, got %q", c.SourceRegion)
	}
	if c.Flavor != FlavorMariaDB && c.Flavor != FlavorMySQL {
		bad("flavor", "must be mariadb or mysql, got %q", c.Flavor)
	}
	for name, e := range map[string]Endpoint{"source": c.Source, "target": c.Target} {
		if e.Host == "" || e.Port < 1 || e.Port > 65535 {
			bad(name, "needs a host and a port 1..65535, got %q:%d", e.Host, e.Port)
		}
	}
	for _, p := range c.Tables {
		if _, err := tablepattern.Parse(p); err != nil {
			bad("tables", "%v", err)
		}
	}
	if c.Partitions < 1 || c.Partitions > 1024 {
		bad("partitions", "must be 1..1024, got %d", c.Partitions)
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("workers", "must be 1..64, got %d", c.Workers)
	}
	if c.ChunkRows < 1 || c.ChunkRows > 1000000 {
		bad("chunk_rows", "must be 1..1000000, got %d", c.ChunkRows)
	}
	if c.MaxQueueBytes < 1<<20 {
		bad("max_queue_bytes", "must be at least 1MiB, got %d", c.MaxQueueBytes)
	}
	if c.MaxThreadsRunning < 0 {
		bad("max_threads_running", "must be 0 (off) or positive, got %d", c.MaxThreadsRunning)
	}
	if c.MaxThreadsRunning > 0 && c.ThrottleSleep <= 0 {
		bad("throttle_sleep", "must be positive, got %s", c.ThrottleSleep)
	}
	if c.MaxRowsPerSecond < 0 {
		bad("max_rows_per_second", "must be 0 (unlimited) or positive, got %d", c.MaxRowsPerSecond)
	}
	if c.Progress != nil && c.ProgressInterval <= 0 {
		bad("progress_interval", "must be positive, got %s", c.ProgressInterval)
	}
	return errors.Join(errs...)
}
