package replicator

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Position is a source GTID set in one flavor: "0-1-42,1-1-7" on MariaDB,
// "uuid:1-42" on MySQL. It is the only position drc ever stores: the last
// record of each published transaction carries the Position after it.
type Position struct {
	flavor string
	set    mysql.GTIDSet
}

// ParsePosition parses a GTID set written in flavor's text form.
func ParsePosition(flavor, s string) (Position, error) {
	set, err := mysql.ParseGTIDSet(flavor, s)
	if err != nil {
		return Position{}, fmt.Errorf("parse %s GTID set %q: %w", flavor, s, err)
	}
	return Position{flavor: flavor, set: set}, nil
}

func (p Position) String() string {
	if p.set == nil {
		return ""
	}
	return p.set.String()
}

// Flavor is mariadb or mysql.
func (p Position) Flavor() string { return p.flavor }

// IsZero reports whether p was never set.
func (p Position) IsZero() bool { return p.set == nil }

// Clone returns an independent copy.
func (p Position) Clone() Position {
	if p.set == nil {
		return p
	}
	return Position{flavor: p.flavor, set: p.set.Clone()}
}

// Add records one more transaction's GTID in p.
func (p *Position) Add(gtid string) error {
	if err := p.set.Update(gtid); err != nil {
		return fmt.Errorf("add GTID %s to %s: %w", gtid, p.set, err)
	}
	return nil
}

// Contains reports whether every transaction in o is also in p.
func (p Position) Contains(o Position) bool {
	if o.set == nil || o.set.IsEmpty() {
		return true
	}
	if p.set == nil {
		return false
	}
	return p.set.Contain(o.set)
}

// GTIDSet exposes the underlying set for the binlog syncer.
func (p Position) GTIDSet() mysql.GTIDSet { return p.set }
