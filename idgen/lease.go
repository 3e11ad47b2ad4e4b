package idgen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"time"

	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Lease is one node's hold on a node ID of its region.
type Lease struct {
	Region int
	Node   int
	Owner  string
	// Epoch increases at every acquisition of the row. Renew and Release are
	// fenced on it, so a holder that lost the row cannot touch it again.
	Epoch uint64
	// Floor is the high-water mark found when the lease was taken: every ID
	// issued earlier under this machine ID has a time part below it.
	Floor int64
	// HighWater is the mark persisted now; the holder issues only below it.
	HighWater int64
}

// AcquireRequest asks for any free node ID of a region.
type AcquireRequest struct {
	Region int
	Nodes  int // node IDs are 0..Nodes-1
	Owner  string
	TTL    time.Duration
	// Now is the caller's clock in layout time units. Candidates whose mark
	// is not above it are preferred: the caller can issue from them at once.
	Now int64
	// HighWater is the mark to persist with the lease (the stored mark is
	// kept if it is higher).
	HighWater int64
}

// LeaseStore keeps layout and leases. The SQL implementation is
// SQLLeaseStore; tests use fakes. All methods must be safe for concurrent
// use, and a call whose outcome is unknown (timeout) must leave the store
// in a state the holder's next call can cope with; the SQL store's
// statements are idempotent or fenced for that reason.
type LeaseStore interface {
	// EnsureLayout creates the tables if missing and stores l if no layout
	// is stored. It returns an error wrapping ErrLayoutMismatch if a
	// different layout is stored. Idempotent.
	EnsureLayout(ctx context.Context, l Layout) error

	// EnsureRegion records name as the name of region, unless name is
	// empty, and returns every stored region name by number. If region is
	// stored under another name, or name under another number, it stores
	// nothing and returns a *RegionConflictError (errors.Is
	// ErrRegionConflict). Called after EnsureLayout, which creates the
	// table. Idempotent.
	EnsureRegion(ctx context.Context, region int, name string) (map[int]string, error)

	// Acquire takes one node ID whose lease is absent, released or expired
	// (by the store's clock), raises its high-water mark to at least
	// req.HighWater and returns the lease. Two concurrent calls never get
	// the same node ID. It returns ErrNoFreeNode when every node ID is held.
	Acquire(ctx context.Context, req AcquireRequest) (Lease, error)

	// Renew extends the lease by ttl from the store's now and raises the
	// mark to at least highWater. It returns ErrLeaseLost (wrapped) if the
	// row has another owner or epoch. Any other error leaves the lease as it
	// was or renewed; the caller must not assume either.
	Renew(ctx context.Context, l Lease, ttl time.Duration, highWater int64) (Lease, error)

	// Release ends the lease at once and sets the mark to highWater, which
	// may be lower than the reserved mark: the holder has stopped and knows
	// what it issued. A lost lease is not an error.
	Release(ctx context.Context, l Lease, highWater int64) error
}

// DefaultSchema is where the tables live unless configured otherwise.
const DefaultSchema = "drc_meta"

var schemaRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// SQLLeaseStore keeps layout and leases in MySQL or MariaDB (tables in
// doc.go). All times it compares are the database's UTC_TIMESTAMP(6), so
// nodes with skewed clocks or session time zones agree on expiry.
type SQLLeaseStore struct {
	db     *sql.DB
	schema string // validated, used quoted
	// layout converts marks to times for the informational high_water_at.
	layout Layout
}

// NewSQLLeaseStore returns a store using db and the given schema
// (DefaultSchema if empty) for a deployment with layout. It does not touch
// the database.
func NewSQLLeaseStore(db *sql.DB, schema string, layout Layout) (*SQLLeaseStore, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaRE.MatchString(schema) {
		return nil, fmt.Errorf("idgen lease store: schema %q: must be 1-64 letters, digits or '_'", schema)
	}
	if err := layout.Validate(); err != nil {
		return nil, fmt.Errorf("idgen lease store: %w", err)
	}
	return &SQLLeaseStore{db: db, schema: schema, layout: layout}, nil
}

func (s *SQLLeaseStore) table(name string) string { return mysqlconn.QuoteIdent(s.schema) + "." + name }

// DDL returns the statements EnsureLayout runs to create the schema and
// tables, for docs and for operators who create them by hand.
func (s *SQLLeaseStore) DDL() []string {
	return []string{
		"CREATE DATABASE IF NOT EXISTS `" + s.schema + "`",
		`CREATE TABLE IF NOT EXISTS ` + s.table("idgen_layout") + ` (
  id            TINYINT UNSIGNED NOT NULL COMMENT 'always 1: one layout per deployment',
  time_unit_ns  BIGINT           NOT NULL COMMENT 'length of one time unit, nanoseconds',
  start_unix_ns BIGINT           NOT NULL COMMENT 'epoch of the time part, unix nanoseconds',
  start_time    DATETIME(6)      NOT NULL COMMENT 'the same epoch in UTC, for people',
  time_bits     TINYINT UNSIGNED NOT NULL COMMENT '63 - sequence_bits - region_bits - node_bits',
  sequence_bits TINYINT UNSIGNED NOT NULL,
  region_bits   TINYINT UNSIGNED NOT NULL,
  node_bits     TINYINT UNSIGNED NOT NULL,
  created_at    DATETIME(6)      NOT NULL COMMENT 'UTC, when the first node stored it',
  PRIMARY KEY (id),
  CONSTRAINT idgen_layout_one_row CHECK (id = 1)
) ENGINE=InnoDB COMMENT='drc idgen: the ID bit layout; nodes with another layout refuse to start'`,
		`CREATE TABLE IF NOT EXISTS ` + s.table("idgen_leases") + ` (
  region_id     INT UNSIGNED    NOT NULL COMMENT 'configured region id: the high machine-id bits',
  node_id       INT UNSIGNED    NOT NULL COMMENT 'leased node id: the low machine-id bits',
  owner         VARCHAR(255)    NOT NULL COMMENT 'holder: host/pid/random, unique per process',
  epoch         BIGINT UNSIGNED NOT NULL COMMENT '+1 at every acquisition; renew and release are fenced on it',
  expires_at    DATETIME(6)     NOT NULL COMMENT 'UTC by the database clock; the row is free once passed',
  high_water    BIGINT          NOT NULL COMMENT 'layout time units: every ID of this machine id has a smaller time part',
  high_water_at DATETIME(6)     NOT NULL COMMENT 'high_water as a UTC time, for people',
  acquired_at   DATETIME(6)     NOT NULL COMMENT 'UTC, when epoch last changed',
  updated_at    DATETIME(6)     NOT NULL COMMENT 'UTC, last acquire, renew or release',
  PRIMARY KEY (region_id, node_id)
) ENGINE=InnoDB COMMENT='drc idgen: node-id leases and high-water marks'`,
		`CREATE TABLE IF NOT EXISTS ` + s.table("idgen_regions") + ` (
  region_id  INT UNSIGNED NOT NULL COMMENT 'configured region id: the high machine-id bits',
  name       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'region name (idgen.mysql.region or source.region)',
  updated_at DATETIME(6)  NOT NULL COMMENT 'UTC, when a node of the region last started',
  PRIMARY KEY (region_id),
  UNIQUE KEY name (name)
) ENGINE=InnoDB COMMENT='drc idgen: region names; a node whose number or name is another region''s refuses to start'`,
	}
}

// EnsureLayout implements LeaseStore.
func (s *SQLLeaseStore) EnsureLayout(ctx context.Context, l Layout) error {
	// Named at start, not as an "Access denied" from a lease renewal.
	if err := grants.CheckRole(ctx, s.db, "idgen: lease store", grants.IDGen, grants.Options{MetaDB: s.schema}); err != nil {
		return err
	}
	for _, stmt := range s.DDL() {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("idgen ensure layout: create tables in %s: %w", s.schema, err)
		}
	}
	// ON DUPLICATE KEY UPDATE id=id rather than INSERT IGNORE, which would
	// also hide truncation and other errors.
	_, err := s.db.ExecContext(ctx, `INSERT INTO `+s.table("idgen_layout")+
		` (id, time_unit_ns, start_unix_ns, start_time, time_bits, sequence_bits, region_bits, node_bits, created_at)
		 VALUES (1, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE id = id`,
		int64(l.TimeUnit), l.StartTime.UnixNano(), sqlTime(l.StartTime), l.TimeBits(),
		l.SequenceBits, l.RegionBits, l.NodeBits)
	if err != nil {
		return fmt.Errorf("idgen ensure layout: store layout: %w", err)
	}
	got, _, err := ReadLayout(ctx, s.db, s.schema)
	if err != nil {
		return fmt.Errorf("idgen ensure layout: %w", err)
	}
	if !got.Equal(l) {
		return fmt.Errorf("%w: stored in %s.idgen_layout: %s; configured: %s", ErrLayoutMismatch, s.schema, got, l)
	}
	return nil
}

// ReadLayout reads the layout stored in schema.idgen_layout (schema ""
// is DefaultSchema). ok is false when there is none: no idgen node has run
// against this database.
func ReadLayout(ctx context.Context, db *sql.DB, schema string) (l Layout, ok bool, err error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaRE.MatchString(schema) {
		return Layout{}, false, fmt.Errorf("read idgen layout: schema %q: must be 1-64 letters, digits or '_'", schema)
	}
	var unitNs, startNs int64
	err = db.QueryRowContext(ctx, "SELECT time_unit_ns, start_unix_ns, sequence_bits, region_bits, node_bits FROM `"+
		schema+"`.idgen_layout WHERE id = 1").Scan(&unitNs, &startNs, &l.SequenceBits, &l.RegionBits, &l.NodeBits)
	if errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err) {
		return Layout{}, false, nil
	}
	if err != nil {
		return Layout{}, false, fmt.Errorf("read %s.idgen_layout: %w", schema, err)
	}
	l.TimeUnit, l.StartTime = time.Duration(unitNs), time.Unix(0, startNs).UTC()
	return l, true, nil
}

// EnsureRegion implements LeaseStore. Both columns are unique keys, so
// one statement either inserts the row or finds the rows it collides with;
// then every row is read and compared. Two nodes configured with one number
// under two names, starting at once, cannot both succeed: one insert wins
// and the other node reads the winner's row.
func (s *SQLLeaseStore) EnsureRegion(ctx context.Context, region int, name string) (map[int]string, error) {
	if name != "" {
		// The update touches only updated_at, and only of our own row: a
		// row of another region is left as it is, and reported below.
		_, err := s.db.ExecContext(ctx, `INSERT INTO `+s.table("idgen_regions")+
			` (region_id, name, updated_at) VALUES (?, ?, UTC_TIMESTAMP(6))
			 ON DUPLICATE KEY UPDATE updated_at = IF(region_id = ? AND name = ?, UTC_TIMESTAMP(6), updated_at)`,
			region, name, region, name)
		if err != nil {
			return nil, fmt.Errorf("idgen ensure region %d %q: %w", region, name, err)
		}
	}
	names, err := ReadRegionNames(ctx, s.db, s.schema)
	if err != nil {
		return nil, fmt.Errorf("idgen ensure region %d %q: %w", region, name, err)
	}
	if name != "" {
		if err := regionConflict(names, region, name, s.schema+".idgen_regions"); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// regionConflict reports a *RegionConflictError if stored gives region
// another name or name another number.
func regionConflict(stored map[int]string, region int, name, table string) error {
	e := &RegionConflictError{Table: table, Region: region, Name: name, RegionOfName: -1}
	if got, ok := stored[region]; ok && got != name {
		e.NameOfRegion = got
	}
	for r, n := range stored {
		if n == name && r != region {
			e.RegionOfName = r
		}
	}
	if e.NameOfRegion == "" && e.RegionOfName < 0 {
		return nil
	}
	return e
}

// ReadRegionNames reads schema.idgen_regions (schema "" is DefaultSchema):
// region names by number, as the idgen nodes of each region stored them.
// Empty when the table does not exist.
func ReadRegionNames(ctx context.Context, db *sql.DB, schema string) (map[int]string, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if !schemaRE.MatchString(schema) {
		return nil, fmt.Errorf("read idgen region names: schema %q: must be 1-64 letters, digits or '_'", schema)
	}
	names := map[int]string{}
	rows, err := db.QueryContext(ctx, "SELECT region_id, name FROM `"+schema+"`.idgen_regions")
	if mysqlerr.NoSuchTable(err) {
		return names, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s.idgen_regions: %w", schema, err)
	}
	defer rows.Close()
	for rows.Next() {
		var region int
		var name string
		if err := rows.Scan(&region, &name); err != nil {
			return nil, fmt.Errorf("read %s.idgen_regions: %w", schema, err)
		}
		names[region] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s.idgen_regions: %w", schema, err)
	}
	return names, nil
}

// acquireAttempts bounds retries of a lost race (deadlock, duplicate key,
// fenced update that matched nothing) inside one Acquire.
const acquireAttempts = 10

// Acquire implements LeaseStore. It runs one transaction that locks the
// layout row and the region's rows (SELECT ... FOR UPDATE), so concurrent
// acquirers serialise;
// the UPDATE is also fenced on epoch and expiry and its affected-rows count
// checked, and an INSERT of a new node ID fails on the primary key if
// another acquirer inserted it first. Either way exactly one wins; the loser
// retries and sees the winner's row.
func (s *SQLLeaseStore) Acquire(ctx context.Context, req AcquireRequest) (Lease, error) {
	var lastErr error
	for attempt := 0; attempt < acquireAttempts; attempt++ {
		l, err := s.acquireOnce(ctx, req)
		if err == nil || !raceLost(err) {
			return l, err
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return Lease{}, fmt.Errorf("idgen acquire region %d: %w", req.Region, ctx.Err())
		case <-time.After(time.Duration(attempt+1)*10*time.Millisecond + rand.N(10*time.Millisecond)):
		}
	}
	return Lease{}, fmt.Errorf("idgen acquire region %d: lost the race %d times: %w", req.Region, acquireAttempts, lastErr)
}

// errRaceLost marks a fenced statement that matched nothing inside Acquire.
var errRaceLost = errors.New("lease row changed concurrently")

func raceLost(err error) bool {
	if errors.Is(err, errRaceLost) {
		return true
	}
	return mysqlerr.LockConflict(err) || mysqlerr.DuplicateKey(err)
}

type leaseRow struct {
	node      int
	epoch     uint64
	highWater int64
	expired   bool
}

func (s *SQLLeaseStore) acquireOnce(ctx context.Context, req AcquireRequest) (_ Lease, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Lease{}, fmt.Errorf("idgen acquire region %d: begin: %w", req.Region, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
		}
	}()
	// Lock the layout row first: acquisitions (rare: node starts) then
	// queue on one row lock instead of taking gap locks on an empty range
	// concurrently, which InnoDB resolves by killing all but one of them as
	// deadlocks. Without the row (EnsureLayout not run) the locks below
	// still keep it correct.
	var one int
	err = tx.QueryRowContext(ctx, `SELECT id FROM `+s.table("idgen_layout")+` WHERE id = 1 FOR UPDATE`).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Lease{}, fmt.Errorf("idgen acquire region %d: lock layout row: %w", req.Region, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT node_id, epoch, high_water, expires_at <= UTC_TIMESTAMP(6) FROM `+
		s.table("idgen_leases")+` WHERE region_id = ? ORDER BY node_id FOR UPDATE`, req.Region)
	if err != nil {
		return Lease{}, fmt.Errorf("idgen acquire region %d: lock rows: %w", req.Region, err)
	}
	var existing []leaseRow
	for rows.Next() {
		var r leaseRow
		if err = rows.Scan(&r.node, &r.epoch, &r.highWater, &r.expired); err != nil {
			rows.Close()
			return Lease{}, fmt.Errorf("idgen acquire region %d: scan: %w", req.Region, err)
		}
		if r.node < req.Nodes {
			existing = append(existing, r)
		}
	}
	if err = rows.Err(); err != nil {
		return Lease{}, fmt.Errorf("idgen acquire region %d: read rows: %w", req.Region, err)
	}
	c, ok := chooseNode(existing, req.Nodes, req.Now)
	if !ok {
		err = fmt.Errorf("idgen acquire region %d (%d node ids): %w", req.Region, req.Nodes, ErrNoFreeNode)
		return Lease{}, err
	}
	hw := max(c.highWater, req.HighWater)
	l := Lease{Region: req.Region, Node: c.node, Owner: req.Owner, Epoch: c.epoch + 1, Floor: c.highWater, HighWater: hw}
	ttl := req.TTL.Microseconds()
	if c.epoch == 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO `+s.table("idgen_leases")+
			` (region_id, node_id, owner, epoch, expires_at, high_water, high_water_at, acquired_at, updated_at)
			 VALUES (?, ?, ?, 1, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
			req.Region, c.node, req.Owner, ttl, hw, sqlTime(s.markTime(hw)))
		if err != nil {
			return Lease{}, fmt.Errorf("idgen acquire region %d node %d: insert: %w", req.Region, c.node, err)
		}
	} else {
		var res sql.Result
		res, err = tx.ExecContext(ctx, `UPDATE `+s.table("idgen_leases")+
			` SET owner = ?, epoch = epoch + 1, expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND,
			   high_water = ?, high_water_at = ?, acquired_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)
			 WHERE region_id = ? AND node_id = ? AND epoch = ? AND expires_at <= UTC_TIMESTAMP(6)`,
			req.Owner, ttl, hw, sqlTime(s.markTime(hw)), req.Region, c.node, c.epoch)
		if err != nil {
			return Lease{}, fmt.Errorf("idgen acquire region %d node %d: update: %w", req.Region, c.node, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			err = fmt.Errorf("idgen acquire region %d node %d: %w", req.Region, c.node, errRaceLost)
			return Lease{}, err
		}
	}
	if err = tx.Commit(); err != nil {
		return Lease{}, fmt.Errorf("idgen acquire region %d node %d: commit: %w", req.Region, c.node, err)
	}
	return l, nil
}

// chooseNode picks the node ID to take among absent and expired rows: the
// lowest one the caller can issue from at once (mark not above now), else
// the one with the lowest mark, which means the shortest clock wait. An
// absent row has epoch 0 and mark 0. Preferring low IDs keeps the table
// small and node numbers readable.
func chooseNode(rows []leaseRow, nodes int, now int64) (leaseRow, bool) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].node < rows[j].node })
	var best leaseRow
	found := false
	consider := func(c leaseRow) (done bool) {
		if c.highWater <= now {
			best, found = c, true
			return true
		}
		if !found || c.highWater < best.highWater {
			best, found = c, true
		}
		return false
	}
	next := 0 // lowest node ID not seen yet
	for _, r := range rows {
		if next < r.node && consider(leaseRow{node: next}) {
			return best, true
		}
		if r.expired && consider(r) {
			return best, true
		}
		next = r.node + 1
	}
	if next < nodes {
		consider(leaseRow{node: next})
	}
	return best, found
}

// Renew implements LeaseStore.
func (s *SQLLeaseStore) Renew(ctx context.Context, l Lease, ttl time.Duration, highWater int64) (Lease, error) {
	// high_water_at is assigned before high_water so that it compares with
	// the old mark both in MySQL (left-to-right assignment) and in MariaDB
	// with SIMULTANEOUS_ASSIGNMENT.
	res, err := s.db.ExecContext(ctx, `UPDATE `+s.table("idgen_leases")+
		` SET expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND,
		   high_water_at = IF(? > high_water, ?, high_water_at),
		   high_water = GREATEST(high_water, ?), updated_at = UTC_TIMESTAMP(6)
		 WHERE region_id = ? AND node_id = ? AND owner = ? AND epoch = ?`,
		ttl.Microseconds(), highWater, sqlTime(s.markTime(highWater)), highWater, l.Region, l.Node, l.Owner, l.Epoch)
	if err != nil {
		return l, fmt.Errorf("idgen renew region %d node %d: %w", l.Region, l.Node, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		// Zero affected rows may also mean "matched but unchanged" unless
		// the DSN sets clientFoundRows; look before declaring the lease lost.
		var epoch uint64
		var owner string
		err = s.db.QueryRowContext(ctx, `SELECT owner, epoch FROM `+s.table("idgen_leases")+
			` WHERE region_id = ? AND node_id = ?`, l.Region, l.Node).Scan(&owner, &epoch)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return l, fmt.Errorf("idgen renew region %d node %d: check owner: %w", l.Region, l.Node, err)
		}
		if owner != l.Owner || epoch != l.Epoch {
			return l, fmt.Errorf("idgen renew region %d node %d: now held by %q epoch %d: %w",
				l.Region, l.Node, owner, epoch, ErrLeaseLost)
		}
	}
	l.HighWater = max(l.HighWater, highWater)
	return l, nil
}

// Release implements LeaseStore.
func (s *SQLLeaseStore) Release(ctx context.Context, l Lease, highWater int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE `+s.table("idgen_leases")+
		` SET expires_at = UTC_TIMESTAMP(6), high_water = ?, high_water_at = ?, updated_at = UTC_TIMESTAMP(6)
		 WHERE region_id = ? AND node_id = ? AND owner = ? AND epoch = ?`,
		highWater, sqlTime(s.markTime(highWater)), l.Region, l.Node, l.Owner, l.Epoch)
	if err != nil {
		return fmt.Errorf("idgen release region %d node %d: %w", l.Region, l.Node, err)
	}
	return nil
}

// markTime converts a mark to a time for the informational high_water_at
// column.
func (s *SQLLeaseStore) markTime(units int64) time.Time { return s.layout.timeOf(units) }

// sqlTime formats t for a DATETIME(6) column holding UTC, independent of
// the driver's parseTime and loc settings.
func sqlTime(t time.Time) string {
	t = t.UTC()
	if t.Year() < 1000 {
		t = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t.Format("2006-01-02 15:04:05.000000")
}
