package reconcile

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/tablepattern"
)

// IDColumns names the columns of the tables matching a db.table pattern
// that must hold drc IDs: one applier.tables[] entry with id_columns.
type IDColumns struct {
	Table   string
	Columns []string
}

// IDRangesConfig is everything IDRanges needs. cmd/drc maps the YAML's
// source, target, idgen and applier.tables sections onto it.
type IDRangesConfig struct {
	// Source and Target are the servers scanned: open pools (IDRanges does
	// not close them) or DSNs, which IDRanges opens and closes.
	Source, Target       *sql.DB
	SourceDSN, TargetDSN string

	// SourceRegion and TargetRegion name the regions of the two servers;
	// Regions numbers every region by name (idgen.regions).
	SourceRegion, TargetRegion string
	Regions                    map[string]int

	// Layout is the configured ID layout, used on a side whose
	// drc_meta.idgen_layout holds none.
	Layout idgen.Layout

	// Columns are the ID columns to check. A table's columns are those of
	// the first entry whose pattern matches it, as with the applier's other
	// per-table settings.
	Columns []IDColumns
	// Tables, when set, restricts the scan to tables that also match one
	// of these db.table patterns.
	Tables []string

	// Now is the checking clock (default time.Now): an ID whose time is
	// more than idgen.MaxSkew after it is not a drc ID.
	Now func() time.Time
}

// Validate returns every problem found, each naming its field.
func (c *IDRangesConfig) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("reconcile --id-ranges: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Source == nil && c.SourceDSN == "" {
		bad("source", "need a pool or a DSN")
	}
	if c.Target == nil && c.TargetDSN == "" {
		bad("target", "need a pool or a DSN")
	}
	for _, r := range []struct{ field, name string }{{"source.region", c.SourceRegion}, {"target.region", c.TargetRegion}} {
		if _, ok := c.Regions[r.name]; !ok {
			bad("idgen.regions", "must number %s %q", r.field, r.name)
		}
	}
	if c.SourceRegion == c.TargetRegion {
		bad("target.region", "must differ from source.region, both are %q", c.SourceRegion)
	}
	if err := c.Layout.Validate(); err != nil {
		bad("idgen", "%v", err)
	}
	if len(c.Columns) == 0 {
		bad("applier.tables", "no entry has id_columns: there is nothing to check")
	}
	for i, ic := range c.Columns {
		if _, err := tablepattern.Parse(ic.Table); err != nil {
			bad(fmt.Sprintf("applier.tables[%d].table", i), "%v", err)
		}
		if len(ic.Columns) == 0 {
			bad(fmt.Sprintf("applier.tables[%d].id_columns", i), "is empty")
		}
	}
	for _, p := range c.Tables {
		if _, err := tablepattern.Parse(p); err != nil {
			bad("tables", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// IDStatus is what a group of values in an ID column is.
type IDStatus string

// The statuses of a group.
const (
	IDOK      IDStatus = "ok"         // IDs of a region allowed on this side
	IDForeign IDStatus = "foreign"    // IDs of another region, or of a region number no region has
	IDNotDRC  IDStatus = "not_drc_id" // values idgen never issued (see idgen.Layout.Check)
)

// IDGroup is the values of one column issued by one node of one region, or
// (Status IDNotDRC, no region or node) the values that are not drc IDs.
// IDs are decimal strings, because 63-bit IDs (and BIGINT UNSIGNED values)
// do not fit a JavaScript number.
type IDGroup struct {
	Status     IDStatus `json:"status"`
	Region     *int     `json:"region,omitempty"`
	RegionName string   `json:"region_name,omitempty"`
	Node       *int     `json:"node,omitempty"`
	Count      int64    `json:"count"`
	MinID      string   `json:"min_id"`
	MaxID      string   `json:"max_id"`
	// FirstTime and LastTime are decoded from MinID and MaxID: when the
	// node issued its first and last ID found here. Not set for IDNotDRC.
	FirstTime *time.Time `json:"first_time,omitempty"`
	LastTime  *time.Time `json:"last_time,omitempty"`
}

// IDColumnResult is one ID column of one table on one side.
type IDColumnResult struct {
	Table   string `json:"table"`
	Column  string `json:"column"`
	Rows    int64  `json:"rows"` // non-NULL values
	Foreign int64  `json:"foreign"`
	NotDRC  int64  `json:"not_drc_id"`
	// Error is why the column could not be checked (it does not exist, it
	// is not BIGINT, the query failed).
	Error string `json:"error,omitempty"`
	// Groups lists foreign groups first, then values that are not drc IDs,
	// then the allowed groups; by region and node within each.
	Groups []IDGroup `json:"groups"`
}

// IDRangesSide is what one server holds.
type IDRangesSide struct {
	Side     string `json:"side"` // source or target
	Region   string `json:"region"`
	RegionID int    `json:"region_id"`
	// Layout decodes the IDs; LayoutFrom says where it came from:
	// drc_meta.idgen_layout, or config when the server stores none.
	Layout     idgen.Layout     `json:"layout"`
	LayoutFrom string           `json:"layout_from"`
	Columns    []IDColumnResult `json:"columns"`
}

// RegionRef is a region by name and number.
type RegionRef struct {
	Name string `json:"name"`
	ID   int    `json:"id"`
}

// IDRangesSummary totals the columns of both sides.
type IDRangesSummary struct {
	Columns int   `json:"columns"`
	Rows    int64 `json:"rows"`
	Foreign int64 `json:"foreign"`
	NotDRC  int64 `json:"not_drc_id"`
	Errors  int   `json:"errors"`
}

// IDRangesReport is the outcome of IDRanges.
type IDRangesReport struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// TwoWay: the target region runs a replicator of its own, so both
	// regions' IDs are allowed on both sides.
	TwoWay  bool            `json:"two_way"`
	Allowed []RegionRef     `json:"allowed_regions"`
	Sides   []IDRangesSide  `json:"sides"`
	Summary IDRangesSummary `json:"summary"`
}

// IDRanges checks, on the source and on the target, that every configured
// ID column holds only IDs of the regions allowed there, and reports each
// column's values grouped by region and node, with the times decoded from
// the first and last ID of each group: which writer, and since when.
//
// Allowed is the source region; in a two-way pair also the target region,
// whose IDs then appear on both sides. The pair is two-way, as for the
// applier, when the target's drc_meta.heartbeat has a row of the target
// region. Each side decodes with the layout stored in its own
// drc_meta.idgen_layout, else with cfg.Layout.
//
// The grouping runs in each database: one query per column per side, a
// single pass over the table. A column that cannot be checked is reported
// with its error and the others go on. IDRanges returns an error, and no
// report, when it cannot do its job at all (bad config, a server
// unreachable, a table list unreadable, no table to check).
func IDRanges(ctx context.Context, cfg IDRangesConfig, logger *slog.Logger) (*IDRangesReport, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	src, tgt, closePools, err := openSides(ctx, cfg.Source, cfg.SourceDSN, cfg.Target, cfg.TargetDSN, 1)
	if err != nil {
		return nil, err
	}
	defer closePools()
	twoWay, err := drcmeta.RunsReplicator(ctx, tgt, cfg.TargetRegion)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	rep := &IDRangesReport{StartedAt: now().UTC(), TwoWay: twoWay}
	sides := []idSide{
		{name: "source", region: cfg.SourceRegion, db: dbIDSource{src}},
		{name: "target", region: cfg.TargetRegion, db: dbIDSource{tgt}},
	}
	rep.Sides = make([]IDRangesSide, len(sides))
	scan := func(i int) func(context.Context) error {
		return func(ctx context.Context) (err error) {
			rep.Sides[i], err = cfg.scanSide(ctx, sides[i], twoWay, rep.StartedAt, logger)
			return err
		}
	}
	if err := both(ctx, scan(0), scan(1)); err != nil {
		return nil, err
	}
	if len(rep.Sides[0].Columns)+len(rep.Sides[1].Columns) == 0 {
		restrict := ""
		if len(cfg.Tables) > 0 {
			restrict = " and --tables " + strings.Join(cfg.Tables, ",")
		}
		return nil, fmt.Errorf("%w the patterns of applier.tables[] entries with id_columns%s", ErrNoTables, restrict)
	}
	rep.Allowed = cfg.allowed(twoWay)
	rep.FinishedAt = now().UTC()
	rep.summarize()
	return rep, nil
}

// allowed lists the regions whose IDs may appear on either side.
func (c *IDRangesConfig) allowed(twoWay bool) []RegionRef {
	out := []RegionRef{{Name: c.SourceRegion, ID: c.Regions[c.SourceRegion]}}
	if twoWay {
		out = append(out, RegionRef{Name: c.TargetRegion, ID: c.Regions[c.TargetRegion]})
	}
	return out
}

// idSource is what scanning one side needs from its server. dbIDSource
// reads a real one; tests use a fake.
type idSource interface {
	// storedLayout returns the layout in drc_meta.idgen_layout; ok is
	// false when there is none.
	storedLayout(ctx context.Context) (l idgen.Layout, ok bool, err error)
	// tables lists the base tables.
	tables(ctx context.Context) ([]TableName, error)
	// columns describes t's columns; nil when t does not exist.
	columns(ctx context.Context, t TableName) ([]rawColumn, error)
	// groups runs idGroupsSQL for column col of t and returns its rows.
	groups(ctx context.Context, t TableName, col string, l idgen.Layout, b idBounds) ([]idGroupRow, error)
}

type idSide struct {
	name, region string
	db           idSource
}

// scanSide checks every ID column of every matching table on one side.
func (c *IDRangesConfig) scanSide(ctx context.Context, s idSide, twoWay bool, now time.Time, log *slog.Logger) (IDRangesSide, error) {
	out := IDRangesSide{Side: s.name, Region: s.region, RegionID: c.Regions[s.region], Layout: c.Layout, LayoutFrom: "config"}
	l, ok, err := s.db.storedLayout(ctx)
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.name, err)
	}
	if ok {
		if err := l.Validate(); err != nil {
			return out, fmt.Errorf("%s: drc_meta.idgen_layout: %w", s.name, err)
		}
		if !l.Equal(c.Layout) {
			log.Warn("id ranges: IDs are decoded with the idgen layout stored in drc_meta.idgen_layout, which differs from the configured one",
				"side", s.name, "stored", l.String(), "configured", c.Layout.String())
		}
		out.Layout, out.LayoutFrom = l, "drc_meta.idgen_layout"
	}
	names, err := s.db.tables(ctx)
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.name, err)
	}
	slices.SortFunc(names, func(a, b TableName) int {
		return cmp.Or(strings.Compare(a.DB, b.DB), strings.Compare(a.Name, b.Name))
	})
	cl := classifier{layout: out.Layout, allowed: map[int]bool{}, names: map[int]string{}}
	for _, r := range c.allowed(twoWay) {
		cl.allowed[r.ID] = true
	}
	for name, n := range c.Regions {
		cl.names[n] = name
	}
	bounds := drcBounds(out.Layout, now)
	for _, t := range names {
		cols := c.idColumnsOf(t)
		if len(cols) == 0 {
			continue
		}
		desc, err := s.db.columns(ctx, t)
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.name, err)
		}
		for _, col := range cols {
			res := IDColumnResult{Table: t.String(), Column: col, Groups: []IDGroup{}}
			log.Debug("id ranges: scanning", "side", s.name, "table", t.String(), "column", col)
			if err := c.scanColumn(ctx, s.db, t, col, desc, cl, bounds, &res); err != nil {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				res.Error = err.Error()
			}
			out.Columns = append(out.Columns, res)
		}
	}
	return out, nil
}

func (c *IDRangesConfig) scanColumn(ctx context.Context, db idSource, t TableName, col string, desc []rawColumn, cl classifier, b idBounds, res *IDColumnResult) error {
	i := slices.IndexFunc(desc, func(rc rawColumn) bool { return strings.EqualFold(rc.name, col) })
	if i < 0 {
		return fmt.Errorf("id column %s of table %s: no such column", col, t)
	}
	// A drc ID needs 63 bits: any narrower column cannot hold one, and a
	// text or DECIMAL column would be shifted as a converted number.
	if desc[i].dataType != "bigint" {
		return fmt.Errorf("id column %s of table %s: is %s, and drc IDs need BIGINT", col, t, desc[i].columnType)
	}
	res.Column = desc[i].name
	rows, err := db.groups(ctx, t, desc[i].name, cl.layout, b)
	if err != nil {
		return fmt.Errorf("id column %s of table %s: %w", col, t, err)
	}
	groups, err := cl.classify(rows)
	if err != nil {
		return fmt.Errorf("id column %s of table %s: %w", col, t, err)
	}
	res.Groups = groups
	for _, g := range groups {
		res.Rows += g.Count
		switch g.Status {
		case IDForeign:
			res.Foreign += g.Count
		case IDNotDRC:
			res.NotDRC += g.Count
		}
	}
	return nil
}

// idColumnsOf returns the ID columns of t: those of the first entry whose
// pattern matches, if t also matches Tables (when set). A glob never
// selects a table of a system schema or drc_meta.
func (c *IDRangesConfig) idColumnsOf(t TableName) []string {
	sel := func(pattern string) bool {
		p, err := tablepattern.Parse(pattern) // checked by Validate
		return err == nil && p.Match(t.DB, t.Name) && (p.Literal() || !infoschema.IsSystem(t.DB))
	}
	if len(c.Tables) > 0 && !slices.ContainsFunc(c.Tables, sel) {
		return nil
	}
	for _, ic := range c.Columns {
		if sel(ic.Table) {
			return ic.Columns
		}
	}
	return nil
}

// idBounds is the range [lo, hi] of the values that can be drc IDs under a
// layout at a checking time. A value outside it is not a drc ID: zero or
// negative, a time part of zero (below 2^shift: an AUTO_INCREMENT value,
// say), a time more than idgen.MaxSkew after now, or a BIGINT UNSIGNED
// value above 2^63-1. It is Layout.Check's rule, as a range the database
// can test; lo > hi when no value can be a drc ID yet.
type idBounds struct{ lo, hi int64 }

func drcBounds(l idgen.Layout, now time.Time) idBounds {
	shift := 63 - l.TimeBits()
	lo := int64(1) << shift
	// The last time unit that may appear, computed as Layout.Check does
	// (its unitOf): whole units since the epoch, minus the start's.
	unit := int64(l.TimeUnit)
	last := now.Add(idgen.MaxSkew).UnixNano()/unit - l.StartTime.UTC().UnixNano()/unit
	switch {
	case last < 1:
		return idBounds{lo: lo, hi: lo - 1}
	case last >= 1<<l.TimeBits()-1:
		return idBounds{lo: lo, hi: math.MaxInt64}
	}
	return idBounds{lo: lo, hi: (last+1)<<shift - 1}
}

// idGroupsSQL groups the non-NULL values of col by region and node, and
// puts the values that are not drc IDs (outside b) in one group whose
// region and node are NULL. Within a (region, node) group the time is the
// most significant part, so MIN and MAX of the value are the first and
// last IDs in time. BETWEEN with BIGINT literals compares signed and
// unsigned columns by value.
func idGroupsSQL(t TableName, col string, l idgen.Layout, b idBounds) string {
	c := mysqlconn.QuoteIdent(col)
	isDRC := fmt.Sprintf("%s BETWEEN %d AND %d", c, b.lo, b.hi)
	return fmt.Sprintf("SELECT IF(%[2]s, (%[1]s >> %[3]d) & %[4]d, NULL), IF(%[2]s, %[1]s & %[5]d, NULL), "+
		"COUNT(*), MIN(%[1]s), MAX(%[1]s) FROM %[6]s WHERE %[1]s IS NOT NULL GROUP BY 1, 2",
		c, isDRC, l.NodeBits, 1<<l.RegionBits-1, 1<<l.NodeBits-1, t.Quoted())
}

// idGroupRow is one row of idGroupsSQL. min and max are decimal text: a
// BIGINT UNSIGNED value that is not a drc ID may exceed int64.
type idGroupRow struct {
	drc          bool // region and node are set
	region, node int
	count        int64
	min, max     string
}

// classifier turns idGroupsSQL's rows into a column's groups.
type classifier struct {
	layout  idgen.Layout
	allowed map[int]bool   // region numbers allowed on the side
	names   map[int]string // region number → name (idgen.regions)
}

func (c classifier) classify(rows []idGroupRow) ([]IDGroup, error) {
	out := make([]IDGroup, 0, len(rows))
	for _, r := range rows {
		g := IDGroup{Status: IDNotDRC, Count: r.count, MinID: r.min, MaxID: r.max}
		if r.drc {
			g.Status = IDForeign
			if c.allowed[r.region] {
				g.Status = IDOK
			}
			region, node := r.region, r.node
			g.Region, g.Node, g.RegionName = &region, &node, c.names[r.region]
			first, err := c.timeOf(r.min)
			if err != nil {
				return nil, err
			}
			last, err := c.timeOf(r.max)
			if err != nil {
				return nil, err
			}
			g.FirstTime, g.LastTime = &first, &last
		}
		out = append(out, g)
	}
	rank := map[IDStatus]int{IDForeign: 0, IDNotDRC: 1, IDOK: 2}
	slices.SortFunc(out, func(a, b IDGroup) int {
		if d := rank[a.Status] - rank[b.Status]; d != 0 {
			return d
		}
		if a.Region == nil || b.Region == nil {
			return 0
		}
		if d := *a.Region - *b.Region; d != 0 {
			return d
		}
		return *a.Node - *b.Node
	})
	return out, nil
}

// timeOf decodes the time of a drc ID given as decimal text.
func (c classifier) timeOf(id string) (time.Time, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("id %q from the server: %w", id, err)
	}
	p, err := idgen.Decompose(n, c.layout)
	if err != nil {
		return time.Time{}, err
	}
	return p.Time, nil
}

func (r *IDRangesReport) summarize() {
	var s IDRangesSummary
	for _, side := range r.Sides {
		for _, c := range side.Columns {
			s.Columns++
			s.Rows += c.Rows
			s.Foreign += c.Foreign
			s.NotDRC += c.NotDRC
			if c.Error != "" {
				s.Errors++
			}
		}
	}
	r.Summary = s
}

// ExitCode maps the report to drc's exit codes: 2 when a column could not
// be checked, 1 when a foreign ID or a value that is not a drc ID was
// found, 0 otherwise.
func (r *IDRangesReport) ExitCode() int {
	switch {
	case r.Summary.Errors > 0:
		return 2
	case r.Summary.Foreign > 0 || r.Summary.NotDRC > 0:
		return 1
	}
	return 0
}

// dbIDSource is an idSource on a database pool.
type dbIDSource struct{ db *sql.DB }

func (d dbIDSource) storedLayout(ctx context.Context) (idgen.Layout, bool, error) {
	return idgen.ReadLayout(ctx, d.db, "")
}

func (d dbIDSource) tables(ctx context.Context) ([]TableName, error) { return listTables(ctx, d.db) }

func (d dbIDSource) columns(ctx context.Context, t TableName) ([]rawColumn, error) {
	rt, err := loadRawTable(ctx, d.db, t)
	return rt.columns, err
}

func (d dbIDSource) groups(ctx context.Context, t TableName, col string, l idgen.Layout, b idBounds) ([]idGroupRow, error) {
	rows, err := d.db.QueryContext(ctx, idGroupsSQL(t, col, l, b))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idGroupRow
	for rows.Next() {
		var r idGroupRow
		var region, node sql.NullInt64
		if err := rows.Scan(&region, &node, &r.count, &r.min, &r.max); err != nil {
			return nil, err
		}
		r.drc, r.region, r.node = region.Valid, int(region.Int64), int(node.Int64)
		out = append(out, r)
	}
	return out, rows.Err()
}
