package replicator

import (
	"fmt"

	"github.com/drc-dev/drc/internal/tablepattern"
)

// Filter decides which tables are published. Include patterns (empty means
// all) are applied first, then Exclude. Patterns are db.table
// (internal/tablepattern: '*' matches any run of characters, backticks
// quote a name).
type Filter struct {
	Include, Exclude []string
}

// compiledFilter is a Filter parsed once, for the reader's hot path.
type compiledFilter struct {
	include, exclude tablepattern.List
}

func (f Filter) compile() (compiledFilter, error) {
	inc, err := tablepattern.ParseList(f.Include)
	if err != nil {
		return compiledFilter{}, fmt.Errorf("replicator.include: %w", err)
	}
	exc, err := tablepattern.ParseList(f.Exclude)
	if err != nil {
		return compiledFilter{}, fmt.Errorf("replicator.exclude: %w", err)
	}
	return compiledFilter{include: inc, exclude: exc}, nil
}

// Match reports whether db.table is published. A statement about a whole
// database is matched with table "".
func (f compiledFilter) Match(db, table string) bool {
	if len(f.include) > 0 && !f.include.Match(db, table) {
		return false
	}
	return !f.exclude.Match(db, table)
}
