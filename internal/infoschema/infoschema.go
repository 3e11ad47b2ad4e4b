// Package infoschema holds what drc knows about reading
// information_schema on both flavors, where they spell the same thing
// differently.
package infoschema

import "strings"

// IsGenerated reports whether information_schema.COLUMNS.EXTRA marks a
// generated column, whose value the server computes: MariaDB says VIRTUAL
// GENERATED, STORED GENERATED or PERSISTENT GENERATED (VIRTUAL, PERSISTENT
// or STORED in older releases), MySQL VIRTUAL GENERATED or STORED
// GENERATED. MySQL's DEFAULT_GENERATED is not one: it marks an expression
// default (DEFAULT CURRENT_TIMESTAMP, DEFAULT (UUID())), an ordinary stored
// value that replication must write.
func IsGenerated(extra string) bool {
	e := strings.ToUpper(extra)
	return strings.Contains(e, "VIRTUAL GENERATED") || strings.Contains(e, "STORED GENERATED") ||
		strings.Contains(e, "PERSISTENT GENERATED") || e == "VIRTUAL" || e == "PERSISTENT" || e == "STORED"
}
