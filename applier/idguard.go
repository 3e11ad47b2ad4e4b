package applier

import "fmt"

// ForeignIDAction is what the applier does with a row whose ID column
// holds an ID of another region, or a value idgen never issued.
type ForeignIDAction uint8

// The foreign_id policies.
const (
	// ForeignIDStop records the conflict and stops the applier: a writer is
	// misconfigured, and its keys will collide with another region's.
	ForeignIDStop ForeignIDAction = iota
	// ForeignIDRecord applies the row and records the conflict, for a
	// migration from AUTO_INCREMENT keys still under way.
	ForeignIDRecord
)

func (a ForeignIDAction) String() string {
	if a == ForeignIDRecord {
		return "record"
	}
	return "stop"
}

// ParseForeignIDPolicy parses stop or record.
func ParseForeignIDPolicy(s string) (ForeignIDAction, error) {
	switch s {
	case "stop":
		return ForeignIDStop, nil
	case "record":
		return ForeignIDRecord, nil
	}
	return 0, fmt.Errorf("foreign_id policy %q: want stop or record", s)
}
