package applier

import (
	"fmt"
	"path"
	"strings"
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
)

// ConflictPolicy is a parsed conflict policy.
type ConflictPolicy struct {
	Action ConflictAction
	Column string // NewerWins only
}

func (p ConflictPolicy) String() string {
	switch p.Action {
	case TargetWins:
		return "target-wins"
	case NewerWins:
		return "newer-wins:" + p.Column
	case Stop:
		return "stop"
	}
	return "source-wins"
}

// ParseConflictPolicy parses source-wins, target-wins, newer-wins:<column>
// or stop.
func ParseConflictPolicy(s string) (ConflictPolicy, error) {
	switch {
	case s == "source-wins":
		return ConflictPolicy{Action: SourceWins}, nil
	case s == "target-wins":
		return ConflictPolicy{Action: TargetWins}, nil
	case s == "stop":
		return ConflictPolicy{Action: Stop}, nil
	case strings.HasPrefix(s, "newer-wins:") && len(s) > len("newer-wins:"):
		return ConflictPolicy{Action: NewerWins, Column: s[len("newer-wins:"):]}, nil
	}
	return ConflictPolicy{}, fmt.Errorf("conflict policy %q: want source-wins, target-wins, newer-wins:<column> or stop", s)
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
	conflict ConflictPolicy
	ddl      DDLAction
	tables   []tablePolicy
}

type tablePolicy struct {
	pattern  string
	conflict *ConflictPolicy
	ddl      *DDLAction
}

func newPolicies(conflict, ddl string, tables []TablePolicy) (*policies, error) {
	p := &policies{}
	var err error
	if p.conflict, err = ParseConflictPolicy(conflict); err != nil {
		return nil, fmt.Errorf("applier.conflict: %w", err)
	}
	if p.ddl, err = ParseDDLPolicy(ddl); err != nil {
		return nil, fmt.Errorf("applier.ddl: %w", err)
	}
	for i, t := range tables {
		if _, err := path.Match(t.Table, "x.y"); err != nil || t.Table == "" {
			return nil, fmt.Errorf("applier.tables[%d].table: bad pattern %q", i, t.Table)
		}
		tp := tablePolicy{pattern: t.Table}
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
		p.tables = append(p.tables, tp)
	}
	return p, nil
}

// match reports whether a db.table pattern matches. A DDL that names only a
// database (CREATE DATABASE) has an empty table name, which a pattern such
// as "shop.*" matches.
func match(pattern, db, table string) bool {
	ok, _ := path.Match(pattern, db+"."+table)
	return ok
}

// Conflict returns the conflict policy of db.table.
func (p *policies) Conflict(db, table string) ConflictPolicy {
	for _, t := range p.tables {
		if t.conflict != nil && match(t.pattern, db, table) {
			return *t.conflict
		}
	}
	return p.conflict
}

// DDL returns the DDL policy of db.table; table is empty for a statement
// on a database.
func (p *policies) DDL(db, table string) DDLAction {
	for _, t := range p.tables {
		if t.ddl != nil && match(t.pattern, db, table) {
			return *t.ddl
		}
	}
	return p.ddl
}
