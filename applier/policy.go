package applier

import (
	"fmt"
	"strings"

	"github.com/drc-dev/drc/internal/tablepattern"
)

// ConflictAction is what a conflict policy does.
type ConflictAction uint8

// The conflict policies (DESIGN.md, "Applier").
const (
	// SourceWins makes the target row equal to the source's image: the
	// default, because the source region is where the write was accepted.
	SourceWins ConflictAction = iota
	// TargetWins keeps the target's row and drops the source's change.
	TargetWins
	// NewerWins compares one column (e.g. updated_at) of the source image
	// with the target row; the greater wins. A tie goes to the region whose
	// name sorts first, so both sides of a two-way pair choose the same row.
	NewerWins
	// Stop stops the applier with ErrConflict; an operator decides.
	Stop
	// RegionPriority: the row of the region listed first wins, whichever
	// side applies it. Both regions of a two-way pair configured with the
	// same list resolve every race to the same row, so they converge.
	RegionPriority
	// Auto, the default: source-wins in one-way replication; in a two-way
	// pair (the target region has run a replicator of its own), region
	// priority by region name, so both sides resolve a race the same way
	// without configuring anything.
	Auto
)

// ConflictPolicy is a parsed conflict policy.
type ConflictPolicy struct {
	Action  ConflictAction
	Column  string   // NewerWins only
	Regions []string // RegionPriority only: highest priority first
}

// sourceWinsByRegion reports whether the source's row wins a conflict
// between regions origin and target under region priority: the region
// listed first wins; regions not listed rank after those listed, by name.
func (p ConflictPolicy) sourceWinsByRegion(origin, target string) bool {
	rank := func(r string) int {
		for i, x := range p.Regions {
			if x == r {
				return i
			}
		}
		return len(p.Regions)
	}
	ro, rt := rank(origin), rank(target)
	if ro != rt {
		return ro < rt
	}
	return origin < target
}

func (p ConflictPolicy) String() string {
	switch p.Action {
	case RegionPriority:
		return "region-priority:" + strings.Join(p.Regions, ",")
	case Auto:
		return "auto"
	case TargetWins:
		return "target-wins"
	case NewerWins:
		return "newer-wins:" + p.Column
	case Stop:
		return "stop"
	}
	return "source-wins"
}

// ParseConflictPolicy parses auto, source-wins, target-wins,
// newer-wins:<column>, region-priority:<region>,<region>... or stop.
func ParseConflictPolicy(s string) (ConflictPolicy, error) {
	switch {
	case s == "auto":
		return ConflictPolicy{Action: Auto}, nil
	case strings.HasPrefix(s, "region-priority:"):
		regions := strings.Split(s[len("region-priority:"):], ",")
		seen := map[string]bool{}
		for _, r := range regions {
			if r == "" || seen[r] {
				return ConflictPolicy{}, fmt.Errorf("conflict policy %q: want region-priority:<region>,<region>..., each region once", s)
			}
			seen[r] = true
		}
		return ConflictPolicy{Action: RegionPriority, Regions: regions}, nil
	case s == "source-wins":
		return ConflictPolicy{Action: SourceWins}, nil
	case s == "target-wins":
		return ConflictPolicy{Action: TargetWins}, nil
	case s == "stop":
		return ConflictPolicy{Action: Stop}, nil
	case strings.HasPrefix(s, "newer-wins:") && len(s) > len("newer-wins:"):
		return ConflictPolicy{Action: NewerWins, Column: s[len("newer-wins:"):]}, nil
	}
	return ConflictPolicy{}, fmt.Errorf("conflict policy %q: want auto, source-wins, target-wins, newer-wins:<column>, region-priority:<regions> or stop", s)
}

// DDLAction is what the DDL policy does with a DDL record.
type DDLAction uint8

// The DDL policies.
const (
	DDLApply DDLAction = iota
	DDLSkip
	DDLStop
)

func (a DDLAction) String() string {
	switch a {
	case DDLSkip:
		return "skip"
	case DDLStop:
		return "stop"
	}
	return "apply"
}

// ParseDDLPolicy parses apply, skip or stop.
func ParseDDLPolicy(s string) (DDLAction, error) {
	switch s {
	case "apply":
		return DDLApply, nil
	case "skip":
		return DDLSkip, nil
	case "stop":
		return DDLStop, nil
	}
	return 0, fmt.Errorf("ddl policy %q: want apply, skip or stop", s)
}

// policies resolves the per-table policies. Lookups are cached per table;
// it is used by one goroutine at a time per cache (see forTable).
type policies struct {
	conflict  ConflictPolicy
	ddl       DDLAction
	foreignID ForeignIDAction
	tables    []tablePolicy
}

type tablePolicy struct {
	pattern   tablepattern.Pattern
	conflict  *ConflictPolicy
	ddl       *DDLAction
	foreignID *ForeignIDAction
	idColumns []string
}

func newPolicies(conflict, ddl, foreignID string, tables []TablePolicy) (*policies, error) {
	p := &policies{}
	var err error
	if p.conflict, err = ParseConflictPolicy(conflict); err != nil {
		return nil, fmt.Errorf("applier.conflict: %w", err)
	}
	if p.ddl, err = ParseDDLPolicy(ddl); err != nil {
		return nil, fmt.Errorf("applier.ddl: %w", err)
	}
	if p.foreignID, err = ParseForeignIDPolicy(foreignID); err != nil {
		return nil, fmt.Errorf("applier.foreign_id: %w", err)
	}
	for i, t := range tables {
		pat, err := tablepattern.Parse(t.Table)
		if err != nil {
			return nil, fmt.Errorf("applier.tables[%d].table: %w", i, err)
		}
		tp := tablePolicy{pattern: pat}
		if t.Conflict != "" {
			c, err := ParseConflictPolicy(t.Conflict)
			if err != nil {
				return nil, fmt.Errorf("applier.tables[%d].conflict: %w", i, err)
			}
			tp.conflict = &c
		}
		if t.DDL != "" {
			d, err := ParseDDLPolicy(t.DDL)
			if err != nil {
				return nil, fmt.Errorf("applier.tables[%d].ddl: %w", i, err)
			}
			tp.ddl = &d
		}
		if t.ForeignID != "" {
			f, err := ParseForeignIDPolicy(t.ForeignID)
			if err != nil {
				return nil, fmt.Errorf("applier.tables[%d].foreign_id: %w", i, err)
			}
			tp.foreignID = &f
		}
		for j, c := range t.IDColumns {
			if c == "" {
				return nil, fmt.Errorf("applier.tables[%d].id_columns[%d]: empty column name", i, j)
			}
		}
		tp.idColumns = t.IDColumns
		p.tables = append(p.tables, tp)
	}
	return p, nil
}

// asymmetric names the configured conflict policies that resolve a race
// differently on the two sides of a two-way pair (source-wins,
// target-wins).
func (p *policies) asymmetric() []string {
	var out []string
	if a := p.conflict.Action; a == SourceWins || a == TargetWins {
		out = append(out, "applier.conflict: "+p.conflict.String())
	}
	for i, t := range p.tables {
		if t.conflict != nil && (t.conflict.Action == SourceWins || t.conflict.Action == TargetWins) {
			out = append(out, fmt.Sprintf("applier.tables[%d] (%s): %s", i, t.pattern, t.conflict))
		}
	}
	return out
}

// Conflict returns the conflict policy of db.table.
func (p *policies) Conflict(db, table string) ConflictPolicy {
	for _, t := range p.tables {
		if t.conflict != nil && t.pattern.Match(db, table) {
			return *t.conflict
		}
	}
	return p.conflict
}

// DDL returns the DDL policy of db.table; table is empty for a statement
// on a database.
func (p *policies) DDL(db, table string) DDLAction {
	for _, t := range p.tables {
		if t.ddl != nil && t.pattern.Match(db, table) {
			return *t.ddl
		}
	}
	return p.ddl
}

// ForeignID returns the foreign_id policy of db.table.
func (p *policies) ForeignID(db, table string) ForeignIDAction {
	for _, t := range p.tables {
		if t.foreignID != nil && t.pattern.Match(db, table) {
			return *t.foreignID
		}
	}
	return p.foreignID
}

// IDColumns returns the columns of db.table that must hold drc IDs: those
// of the first matching entry that names any.
func (p *policies) IDColumns(db, table string) []string {
	for _, t := range p.tables {
		if len(t.idColumns) > 0 && t.pattern.Match(db, table) {
			return t.idColumns
		}
	}
	return nil
}

// guarded reports whether any table has id_columns.
func (p *policies) guarded() bool {
	for _, t := range p.tables {
		if len(t.idColumns) > 0 {
			return true
		}
	}
	return false
}
