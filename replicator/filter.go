package replicator

import "strings"

// Filter decides which tables are published. Include patterns (empty means
// all) are applied first, then Exclude. Patterns are db.table with '*'
// matching any run of characters; the first '.' separates db from table.
type Filter struct {
	Include, Exclude []string
}

// Match reports whether db.table is published.
func (f Filter) Match(db, table string) bool {
	if len(f.Include) > 0 && !matchAny(f.Include, db, table) {
		return false
	}
	return !matchAny(f.Exclude, db, table)
}

func matchAny(patterns []string, db, table string) bool {
	for _, p := range patterns {
		pdb, ptbl, _ := strings.Cut(p, ".")
		if Glob(pdb, db) && Glob(ptbl, table) {
			return true
		}
	}
	return false
}

// Glob matches s against a pattern whose only metacharacter is '*', as
// table patterns are written everywhere in drc's config.
func Glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
