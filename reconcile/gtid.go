package reconcile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Flavor is the source's server family. It decides the GTID form and the
// variable that holds the source's position.
type Flavor string

// The flavors reconcile understands.
const (
	FlavorMariaDB Flavor = "mariadb" // GTIDs domain-server-seq; position @@gtid_binlog_pos
	FlavorMySQL   Flavor = "mysql"   // GTIDs uuid:interval; position @@gtid_executed
)

// GTIDSet is a set of source transactions in one flavor's text form: what the
// source had written when a chunk was read, or what the applier has applied.
//
// MariaDB positions hold the last seq_no per replication domain; a domain's
// transactions are ordered, so "applied through seq_no n" covers every
// earlier one. MySQL sets are interval lists per source UUID (and tag).
type GTIDSet struct {
	flavor  Flavor
	domains map[uint32]uint64     // MariaDB: domain → highest seq_no
	sources map[string][]interval // MySQL: uuid[:tag] → sorted, merged intervals
}

// interval is a closed range of MySQL transaction numbers.
type interval struct{ lo, hi uint64 }

// ParseGTIDSet parses a position in flavor's text form. The empty string is
// the empty set. MariaDB: "0-1-100,1-2-5". MySQL: "uuid:1-5:7,uuid2:1-3",
// including tagged GTIDs ("uuid:tag:1-5") and the newlines @@gtid_executed
// puts after commas.
func ParseGTIDSet(flavor Flavor, s string) (GTIDSet, error) {
	switch flavor {
	case FlavorMariaDB:
		return parseMariaDBSet(s)
	case FlavorMySQL:
		return parseMySQLSet(s)
	default:
		return GTIDSet{}, fmt.Errorf("parse gtid set: unknown flavor %q", flavor)
	}
}

func parseMariaDBSet(s string) (GTIDSet, error) {
	set := GTIDSet{flavor: FlavorMariaDB, domains: map[uint32]uint64{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, "-")
		if len(parts) != 3 {
			return GTIDSet{}, fmt.Errorf("parse mariadb gtid %q: want domain-server-seq", item)
		}
		domain, err1 := strconv.ParseUint(parts[0], 10, 32)
		_, err2 := strconv.ParseUint(parts[1], 10, 32)
		seq, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return GTIDSet{}, fmt.Errorf("parse mariadb gtid %q: want three unsigned numbers", item)
		}
		// A GTID state may list a domain once per server; the highest
		// seq_no is the domain's position (seq_nos grow within a domain).
		if seq >= set.domains[uint32(domain)] {
			set.domains[uint32(domain)] = seq
		}
	}
	return set, nil
}

func parseMySQLSet(s string) (GTIDSet, error) {
	set := GTIDSet{flavor: FlavorMySQL, sources: map[string][]interval{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		fields := strings.Split(item, ":")
		uuid := strings.ToLower(strings.TrimSpace(fields[0]))
		if !validUUID(uuid) {
			return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: bad uuid %q", item, fields[0])
		}
		if len(fields) < 2 {
			return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: no interval", item)
		}
		key := uuid
		for _, f := range fields[1:] {
			f = strings.TrimSpace(f)
			if f == "" {
				return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: empty interval", item)
			}
			if c := f[0]; c < '0' || c > '9' {
				// MySQL 8.3+ tagged GTIDs: a tag applies to the intervals after it.
				if !validTag(f) {
					return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: bad tag %q", item, f)
				}
				key = uuid + ":" + strings.ToLower(f)
				continue
			}
			lo, hi, ok := strings.Cut(f, "-")
			a, err := strconv.ParseUint(lo, 10, 64)
			if err != nil || a == 0 {
				return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: bad interval %q", item, f)
			}
			b := a
			if ok {
				if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
					return GTIDSet{}, fmt.Errorf("parse mysql gtid set %q: bad interval %q", item, f)
				}
			}
			set.sources[key] = append(set.sources[key], interval{a, b})
		}
	}
	for k, ivs := range set.sources {
		set.sources[k] = mergeIntervals(ivs)
	}
	return set, nil
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		default:
			return false
		}
	}
	return true
}

func validTag(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// mergeIntervals sorts and merges overlapping or adjacent intervals, so
// containment of one interval is containment in a single merged one.
func mergeIntervals(ivs []interval) []interval {
	slices.SortFunc(ivs, func(a, b interval) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := ivs[:0]
	for _, iv := range ivs {
		if n := len(out); n > 0 && (out[n-1].hi == ^uint64(0) || iv.lo <= out[n-1].hi+1) {
			if iv.hi > out[n-1].hi {
				out[n-1].hi = iv.hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// Flavor returns the set's flavor ("" for the zero GTIDSet).
func (s GTIDSet) Flavor() Flavor { return s.flavor }

// IsEmpty reports whether the set holds no transaction.
func (s GTIDSet) IsEmpty() bool { return len(s.domains) == 0 && len(s.sources) == 0 }

// Contains reports whether s has passed o: every transaction of o is in s.
// MariaDB: for each domain of o, s's seq_no is at least o's (server ids do
// not matter; a domain's seq_nos are ordered). MySQL: set containment.
// Sets of different flavors never contain each other.
func (s GTIDSet) Contains(o GTIDSet) bool {
	if o.IsEmpty() {
		return true
	}
	if s.flavor != o.flavor {
		return false
	}
	switch s.flavor {
	case FlavorMariaDB:
		for d, seq := range o.domains {
			have, ok := s.domains[d]
			if !ok || have < seq {
				return false
			}
		}
		return true
	case FlavorMySQL:
		for k, want := range o.sources {
			have := s.sources[k]
			for _, iv := range want {
				if !containsInterval(have, iv) {
					return false
				}
			}
		}
		return true
	}
	return false
}

func containsInterval(have []interval, iv interval) bool {
	i, _ := slices.BinarySearchFunc(have, iv.lo, func(h interval, lo uint64) int {
		switch {
		case h.hi < lo:
			return -1
		case h.lo > lo:
			return 1
		}
		return 0
	})
	return i < len(have) && have[i].lo <= iv.lo && iv.hi <= have[i].hi
}

// String returns the set in its flavor's canonical text form (sorted).
func (s GTIDSet) String() string {
	var parts []string
	switch s.flavor {
	case FlavorMariaDB:
		ds := make([]uint32, 0, len(s.domains))
		for d := range s.domains {
			ds = append(ds, d)
		}
		slices.Sort(ds)
		for _, d := range ds {
			// The server id is not kept: containment ignores it.
			parts = append(parts, fmt.Sprintf("%d-*-%d", d, s.domains[d]))
		}
	case FlavorMySQL:
		keys := make([]string, 0, len(s.sources))
		for k := range s.sources {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var b strings.Builder
			b.WriteString(k)
			for _, iv := range s.sources[k] {
				if iv.lo == iv.hi {
					fmt.Fprintf(&b, ":%d", iv.lo)
				} else {
					fmt.Fprintf(&b, ":%d-%d", iv.lo, iv.hi)
				}
			}
			parts = append(parts, b.String())
		}
	}
	return strings.Join(parts, ",")
}
