package idgen

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"time"
)

// Config configures a Node and a Server. It is a plain struct: the config
// package maps the YAML section onto it. Zero fields get the defaults of
// DefaultConfig, except MaxClockWait and BackwardBudget, where zero is a
// meaningful (strict) value.
type Config struct {
	// Region is this region's ID: 0..2^RegionBits-1. Each region must have
	// its own; that is what keeps regions from ever colliding.
	Region int
	// RegionName is this region's name, shown beside its number and stored
	// in drc_meta.idgen_regions at start: a node whose number is stored
	// under another name, or its name under another number, refuses to
	// start (RegionConflictError). Empty: no name is stored or checked.
	RegionName string
	// RegionNames names regions by number, for decomposed IDs; names stored
	// in drc_meta.idgen_regions are added at start. It must agree with
	// Region and RegionName.
	RegionNames map[int]string

	// The layout (see Layout). Zero means the DefaultLayout value. It must
	// be the same in every region and on every node.
	RegionBits   int
	NodeBits     int
	SequenceBits int
	TimeUnit     time.Duration
	StartTime    time.Time

	// LeaseTTL is how long a node ID stays leased without renewal. A node
	// stops issuing LeaseTTL/10 before its lease would expire.
	LeaseTTL time.Duration
	// RenewInterval is how often the lease is renewed; at most LeaseTTL/2.
	// Default LeaseTTL/3, so two renewals can fail before issuing stops.
	RenewInterval time.Duration
	// MaxClockWait is how long a starting node waits for its clock to pass
	// the high-water mark of the node ID it leased. Behind by more, it
	// refuses to start (ClockBehindError). Zero: refuse if behind at all.
	MaxClockWait time.Duration
	// BackwardBudget is how far issued time may run ahead of the clock: a
	// backward clock step up to this is absorbed (the sequence continues),
	// beyond it calls fail with ErrClockBackward until the clock catches up.
	// Zero: no tolerance.
	BackwardBudget time.Duration

	// MaxCount is the largest count one HTTP request may ask for.
	MaxCount int
	// Listen is the HTTP address of Server.Run.
	Listen string
	// Token, if set, is the bearer token that /v1/ requests must carry.
	Token string

	// DB is the region's MySQL; if nil, Server opens DSN (and closes it when
	// Run returns). Leases, if set, replaces both (tests, embedding).
	DB     *sql.DB
	DSN    string
	Leases LeaseStore
	// Schema holds the tables; default DefaultSchema (drc_meta).
	Schema string

	// Owner names this process in the lease table. It must be unique per
	// process; default host/pid/random.
	Owner string
	// Clock defaults to SystemClock.
	Clock Clock
}

// DefaultConfig returns the recommended settings with DefaultLayout.
func DefaultConfig() Config {
	l := DefaultLayout()
	return Config{
		RegionBits: l.RegionBits, NodeBits: l.NodeBits, SequenceBits: l.SequenceBits,
		TimeUnit: l.TimeUnit, StartTime: l.StartTime,
		LeaseTTL:       30 * time.Second,
		RenewInterval:  10 * time.Second,
		MaxClockWait:   5 * time.Second,
		BackwardBudget: 10 * time.Millisecond,
		MaxCount:       10000,
		Listen:         "127.0.0.1:7070",
		Schema:         DefaultSchema,
	}
}

// withDefaults fills zero fields; see Config.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.RegionBits == 0 {
		c.RegionBits = d.RegionBits
	}
	if c.NodeBits == 0 {
		c.NodeBits = d.NodeBits
	}
	if c.SequenceBits == 0 {
		c.SequenceBits = d.SequenceBits
	}
	if c.TimeUnit == 0 {
		c.TimeUnit = d.TimeUnit
	}
	if c.StartTime.IsZero() {
		c.StartTime = d.StartTime
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = d.LeaseTTL
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = c.LeaseTTL / 3
	}
	if c.MaxCount == 0 {
		c.MaxCount = d.MaxCount
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.Schema == "" {
		c.Schema = d.Schema
	}
	if c.Owner == "" {
		c.Owner = defaultOwner()
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

// Layout returns the layout the config describes (after defaults).
func (c Config) Layout() Layout {
	c = c.withDefaults()
	return Layout{TimeUnit: c.TimeUnit, StartTime: c.StartTime, SequenceBits: c.SequenceBits,
		RegionBits: c.RegionBits, NodeBits: c.NodeBits}
}

// validate checks a config that has its defaults.
func (c Config) validate() error {
	l := c.Layout()
	if err := l.Validate(); err != nil {
		return err
	}
	switch {
	case c.Region < 0 || c.Region >= 1<<l.RegionBits:
		return fmt.Errorf("idgen config: region must be 0..%d for %d region bits, got %d", 1<<l.RegionBits-1, l.RegionBits, c.Region)
	case c.LeaseTTL < 10*time.Millisecond:
		return fmt.Errorf("idgen config: lease TTL must be at least 10ms, got %s", c.LeaseTTL)
	case c.RenewInterval <= 0 || c.RenewInterval > c.LeaseTTL/2:
		return fmt.Errorf("idgen config: renew interval must be in (0, lease TTL/2 = %s], got %s", c.LeaseTTL/2, c.RenewInterval)
	case c.MaxClockWait < 0:
		return fmt.Errorf("idgen config: max clock wait must not be negative, got %s", c.MaxClockWait)
	case c.BackwardBudget < 0:
		return fmt.Errorf("idgen config: backward budget must not be negative, got %s", c.BackwardBudget)
	case c.MaxCount < 1:
		return fmt.Errorf("idgen config: max count must be at least 1, got %d", c.MaxCount)
	case len(c.Owner) > 255:
		return fmt.Errorf("idgen config: owner must be at most 255 bytes, got %d", len(c.Owner))
	case c.RegionName != "" && !regionNameRE.MatchString(c.RegionName):
		return fmt.Errorf("idgen config: region name must be 1-64 letters, digits, '.', '_' or '-', got %q", c.RegionName)
	}
	byName := make(map[string]int, len(c.RegionNames))
	for _, r := range slices.Sorted(maps.Keys(c.RegionNames)) {
		name := c.RegionNames[r]
		switch other, dup := byName[name]; {
		case !regionNameRE.MatchString(name):
			return fmt.Errorf("idgen config: region names: name of region %d must be 1-64 letters, digits, '.', '_' or '-', got %q", r, name)
		case dup:
			return fmt.Errorf("idgen config: region names: %q names both region %d and region %d", name, other, r)
		case r == c.Region && c.RegionName != "" && name != c.RegionName:
			return fmt.Errorf("idgen config: region names: region %d is %q, but region name is %q", r, name, c.RegionName)
		case r != c.Region && name == c.RegionName:
			return fmt.Errorf("idgen config: region names: %q is region %d, but region is %d", name, r, c.Region)
		}
		byName[name] = r
	}
	return nil
}

// regionNameRE fits idgen_regions.name (VARCHAR(64) ascii_bin) and
// config's region names.
var regionNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// defaultOwner is unique per process, so that a restarted node never
// mistakes a lease of its previous incarnation for its own.
func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	if len(owner) > 255 {
		owner = owner[len(owner)-255:]
	}
	return owner
}
