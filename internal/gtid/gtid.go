// Package gtid is drc's one type for a source GTID set, in both flavors:
// the replicator's resume position, the applier's checkpoint and duplicate
// check, dr's "has b applied everything a wrote" and reconcile's "has the
// target passed the source" all parse and compare sets here, so that every
// role answers those questions the same way.
//
// It lives under internal/ because no role owns it: positions are written
// by the replicator, stored by the applier and read by dr, reconcile and
// bench. A Set wraps go-mysql's mysql.GTIDSet, which the binlog syncer
// needs anyway; this package adds what drc relies on and go-mysql does not
// promise: a parse that tolerates what servers print and rejects what they
// never do, and a MariaDB set whose meaning does not depend on the order in
// which a domain is listed.
//
// MySQL sets are interval lists per source UUID (and tag, 8.3+):
// "uuid:1-5:7-9,uuid2:1-3". Containment, union and subtraction are the
// usual set operations; transaction numbers start at 1.
//
// MariaDB sets are positions: per replication domain, the last GTID,
// domain-server-seq ("0-1-100,1-2-5"). drc requires gtid_strict_mode on a
// MariaDB source, so within a domain seq_nos grow with binlog order and
// "through seq n" covers every earlier transaction of that domain whatever
// server wrote it. Hence:
//
//   - Contains(o) holds when, for every domain of o, s has that domain at a
//     seq_no at least o's. Server ids are not compared.
//   - A domain listed several times, with different server ids (as
//     @@gtid_binlog_state lists it, one entry per server), counts at its
//     highest seq_no: "0-1-100,0-2-90" is domain 0 through 100, and contains
//     "0-1-95". That entry's server id is kept, because a binlog syncer
//     starting from the set asks the server for that exact GTID. go-mysql
//     alone keeps the entry listed last, so the same text could mean 90 or
//     100 depending on order; reconcile's earlier parser took the highest,
//     which is what strict mode makes true.
//   - Add and Union move a domain only forward: a lower seq_no never
//     replaces a higher one, so a set never stops containing what it did.
//   - On equal seq_nos the lower server id is kept (in strict mode two
//     servers never write the same domain and seq_no; the rule only makes
//     the result independent of order).
package gtid

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The flavors a Set can have; they are go-mysql's flavor names, which are
// also drc's config values.
const (
	MariaDB = mysql.MariaDBFlavor // "mariadb"
	MySQL   = mysql.MySQLFlavor   // "mysql"
)

// Set is a set of source transactions in one flavor. The zero Set has no
// flavor and is empty; it contains only empty sets. Copies of a Set share
// its contents, so Add changes every copy: Clone first when one must stay
// as it was. Every other method leaves its operands as they were, and
// returns sets that share nothing with them. A Set is not safe for
// concurrent use while it is being added to.
type Set struct {
	flavor string
	set    mysql.GTIDSet // nil for the zero Set
}

// Parse parses a GTID set in flavor's text form. The empty string is the
// empty set. Whitespace around items is ignored, so @@gtid_executed's
// newlines after commas need no cleaning. MariaDB: "0-1-100,1-2-5". MySQL:
// "uuid:1-5:7,uuid2:tag:1-3". Errors name the text.
func Parse(flavor, text string) (Set, error) {
	s, err := parse(flavor, text)
	if err != nil {
		return Set{}, fmt.Errorf("parse %s gtid set %q: %w", flavor, text, err)
	}
	return s, nil
}

func parse(flavor, text string) (Set, error) {
	switch flavor {
	case MariaDB:
		set := &mysql.MariadbGTIDSet{Sets: map[uint32]*mysql.MariadbGTID{}}
		for item := range strings.SplitSeq(text, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				// go-mysql would read "" as the GTID 0-0-0.
				continue
			}
			g, err := mysql.ParseMariadbGTID(item)
			if err != nil {
				return Set{}, err
			}
			mergeMariaDB(set, g)
		}
		return Set{flavor: flavor, set: set}, nil
	case MySQL:
		set, err := mysql.ParseMysqlGTIDSet(strings.TrimSpace(text))
		if err != nil {
			return Set{}, err
		}
		// go-mysql reads "uuid:0" as transaction 0; MySQL numbers
		// transactions from 1 and never prints 0.
		for u, tags := range *set.(*mysql.MysqlGTIDSet) {
			for tag, ivs := range tags {
				if len(ivs) > 0 && ivs[0].Start < 1 {
					return Set{}, fmt.Errorf("%s%s: transaction number 0: numbers start at 1", u, tagSuffix(tag))
				}
			}
		}
		return Set{flavor: flavor, set: set}, nil
	default:
		return Set{}, fmt.Errorf("unknown flavor: want %s or %s", MariaDB, MySQL)
	}
}

// mergeMariaDB makes g's domain in set at least g (see the package doc).
// set takes g itself, not a copy.
func mergeMariaDB(set *mysql.MariadbGTIDSet, g *mysql.MariadbGTID) {
	have, ok := set.Sets[g.DomainID]
	if !ok || g.SequenceNumber > have.SequenceNumber ||
		g.SequenceNumber == have.SequenceNumber && g.ServerID < have.ServerID {
		set.Sets[g.DomainID] = g
	}
}

func tagSuffix(t mysql.Tag) string {
	if t.String() == "" {
		return ""
	}
	return ":" + t.String()
}

// Flavor is MariaDB or MySQL ("" for the zero Set).
func (s Set) Flavor() string { return s.flavor }

// String is the set in its flavor's text form, sorted, which Parse reads
// back to an equal set: what drc stores and prints.
func (s Set) String() string {
	m, ok := s.set.(*mysql.MariadbGTIDSet)
	if !ok {
		if s.set == nil {
			return ""
		}
		return s.set.String()
	}
	// go-mysql prints the GTID 0-0-0 as "", which would not read back.
	items := make([]string, 0, len(m.Sets))
	for _, g := range m.Sets {
		items = append(items, fmt.Sprintf("%d-%d-%d", g.DomainID, g.ServerID, g.SequenceNumber))
	}
	slices.Sort(items) // go-mysql's order, so stored text does not change
	return strings.Join(items, ",")
}

// IsEmpty reports whether the set holds no transaction.
func (s Set) IsEmpty() bool { return s.set == nil || s.set.IsEmpty() }

// Clone returns an independent copy.
func (s Set) Clone() Set {
	if s.set == nil {
		return s
	}
	return Set{flavor: s.flavor, set: s.set.Clone()}
}

// GoMySQL returns a copy in go-mysql's form, for the binlog syncer
// (replication.BinlogSyncer.StartSyncGTID), which updates the set it is
// given. It is nil for the zero Set.
func (s Set) GoMySQL() mysql.GTIDSet {
	if s.set == nil {
		return nil
	}
	return s.set.Clone()
}

// Add records one more transaction, given as one GTID in s's flavor
// ("0-1-42"; "uuid:42" or "uuid:tag:42"). On MariaDB its domain moves to
// it unless already further on. s must have a flavor.
func (s *Set) Add(gtid string) error {
	switch m := s.set.(type) {
	case nil:
		return fmt.Errorf("add GTID %s: the set has no flavor", gtid)
	case *mysql.MariadbGTIDSet:
		g, err := mysql.ParseMariadbGTID(strings.TrimSpace(gtid))
		if err != nil {
			return fmt.Errorf("add GTID %s to %s: %w", gtid, s, err)
		}
		mergeMariaDB(m, g)
		return nil
	default:
		o, err := Parse(s.flavor, gtid)
		if err != nil {
			return fmt.Errorf("add GTID %s to %s: %w", gtid, s, err)
		}
		s.unionInto(o)
		return nil
	}
}

// Union returns the transactions of s and of o. On MariaDB each domain is
// at the further of the two positions. The zero Set joins with anything;
// sets of different flavors cannot be joined.
func (s Set) Union(o Set) (Set, error) {
	switch {
	case s.set == nil:
		return o.Clone(), nil
	case o.set == nil:
		return s.Clone(), nil
	case s.flavor != o.flavor:
		return Set{}, fmt.Errorf("union of %s set %s and %s set %s: flavors differ", s.flavor, s, o.flavor, o)
	}
	u := s.Clone()
	u.unionInto(o)
	return u, nil
}

// unionInto adds o's transactions to s; both have the same flavor and a
// set. s shares nothing with o afterwards.
func (s *Set) unionInto(o Set) {
	switch m := s.set.(type) {
	case *mysql.MariadbGTIDSet:
		for _, g := range o.set.(*mysql.MariadbGTIDSet).Sets {
			mergeMariaDB(m, g.Clone())
		}
	case *mysql.MysqlGTIDSet:
		for u, tags := range *o.set.(*mysql.MysqlGTIDSet) {
			if (*m)[u] == nil {
				(*m)[u] = make(map[mysql.Tag]mysql.IntervalSlice, len(tags))
			}
			for tag, ivs := range tags {
				(*m)[u][tag] = append(slices.Clone((*m)[u][tag]), ivs...).Normalize()
			}
		}
	}
}

// Contains reports whether every transaction of o is in s: "has s applied
// everything o names". MariaDB: for each domain of o, s is at that domain
// at a seq_no at least o's; server ids do not matter (see the package
// doc). MySQL: set containment per UUID and tag. The empty set is in
// every set; otherwise sets of different flavors never contain each
// other.
func (s Set) Contains(o Set) bool {
	switch {
	case o.IsEmpty():
		return true
	case s.set == nil || s.flavor != o.flavor:
		return false
	}
	// go-mysql's MariaDB containment is per domain by seq_no, which is
	// what the package doc says once each domain is listed once.
	return s.set.Contain(o.set)
}

// Equal reports whether s and o hold the same transactions: each contains
// the other. On MariaDB a domain at the same seq_no under another server
// id is equal (see Contains).
func (s Set) Equal(o Set) bool { return s.Contains(o) && o.Contains(s) }

// Newest returns the set among sets that contains the others, when they
// are all prefixes of one binlog history, as the committed tails of a drc
// topic's partitions are: the newest position. Of sets that are not,
// which it returns is unspecified. ok is false for no sets.
func Newest(sets iter.Seq[Set]) (newest Set, ok bool) {
	for s := range sets {
		if !ok || s.Contains(newest) {
			newest, ok = s, true
		}
	}
	return newest, ok
}

// Subtract returns what s has beyond o.
//
// MySQL: the transactions of s not in o, exactly.
//
// MariaDB: a position cannot say where a range starts, so the result is
// the domains where s is further on than o, each at s's position: it names
// where s is ahead, and for a domain it holds, o holds that domain's
// transactions up to o's seq_no (none if o lacks the domain).
//
// Sets of different flavors share nothing: s minus o is then s.
func (s Set) Subtract(o Set) Set {
	if s.set == nil || o.IsEmpty() || s.flavor != o.flavor {
		return s.Clone()
	}
	switch m := s.set.(type) {
	case *mysql.MariadbGTIDSet:
		other := o.set.(*mysql.MariadbGTIDSet)
		out := &mysql.MariadbGTIDSet{Sets: map[uint32]*mysql.MariadbGTID{}}
		for d, g := range m.Sets {
			if h, ok := other.Sets[d]; !ok || h.SequenceNumber < g.SequenceNumber {
				out.Sets[d] = g.Clone()
			}
		}
		return Set{flavor: s.flavor, set: out}
	case *mysql.MysqlGTIDSet:
		other := *o.set.(*mysql.MysqlGTIDSet)
		out := mysql.NewMysqlGTIDSet()
		for u, tags := range *m {
			for tag, ivs := range tags {
				left := subtractIntervals(ivs, other[u][tag])
				if len(left) == 0 {
					continue
				}
				if out[u] == nil {
					out[u] = map[mysql.Tag]mysql.IntervalSlice{}
				}
				out[u][tag] = left
			}
		}
		return Set{flavor: s.flavor, set: &out}
	}
	return s.Clone()
}

// subtractIntervals returns a minus b; both are sorted, merged, half-open
// intervals (go-mysql's normal form), and so is the result.
func subtractIntervals(a, b mysql.IntervalSlice) mysql.IntervalSlice {
	var out mysql.IntervalSlice
	j := 0
	for _, iv := range a {
		start := iv.Start
		for ; j < len(b) && b[j].Stop <= start; j++ {
		}
		for k := j; k < len(b) && b[k].Start < iv.Stop; k++ {
			if b[k].Start > start {
				out = append(out, mysql.Interval{Start: start, Stop: b[k].Start})
			}
			start = max(start, b[k].Stop)
		}
		if start < iv.Stop {
			out = append(out, mysql.Interval{Start: start, Stop: iv.Stop})
		}
	}
	return out
}

// CountMissing counts the transactions of o that s lacks: how far s is
// behind o. MySQL: exactly. MariaDB: per domain, o's seq_no minus s's when
// o is further on; strict mode makes a domain's seq_nos count its
// transactions, so this is exact as long as each domain's seq_nos have no
// gaps (they have none unless gtid_seq_no was set by hand). For sets of
// different flavors it is 0 when o is empty and -1 otherwise.
func (s Set) CountMissing(o Set) int64 {
	if s.set != nil && s.flavor != o.flavor && !o.IsEmpty() {
		return -1
	}
	var n int64
	switch m := o.Subtract(s).set.(type) {
	case *mysql.MariadbGTIDSet:
		var have map[uint32]*mysql.MariadbGTID
		if h, ok := s.set.(*mysql.MariadbGTIDSet); ok {
			have = h.Sets
		}
		for d, g := range m.Sets {
			var seq uint64
			if h, ok := have[d]; ok {
				seq = h.SequenceNumber
			}
			n += int64(g.SequenceNumber - seq)
		}
	case *mysql.MysqlGTIDSet:
		for _, tags := range *m {
			for _, ivs := range tags {
				for _, iv := range ivs {
					n += iv.Stop - iv.Start
				}
			}
		}
	}
	return n
}

// FirstMissing names the first transaction of o that s lacks, as one GTID
// in o's flavor, and reports false when s contains o. MariaDB: in the
// lowest domain where s is behind o, seq_no one past s's, under o's server
// id for that domain (which server wrote it is not known from a position).
// MySQL: the lowest missing number of the first UUID (and tag) in sorted
// order. For sets of different flavors it is o's whole text.
func (s Set) FirstMissing(o Set) (string, bool) {
	if s.Contains(o) {
		return "", false
	}
	if s.set != nil && s.flavor != o.flavor {
		return o.String(), true
	}
	switch m := o.set.(type) {
	case *mysql.MariadbGTIDSet:
		var have map[uint32]*mysql.MariadbGTID
		if h, ok := s.set.(*mysql.MariadbGTIDSet); ok {
			have = h.Sets
		}
		domains := make([]uint32, 0, len(m.Sets))
		for d := range m.Sets {
			domains = append(domains, d)
		}
		slices.Sort(domains)
		for _, d := range domains {
			var seq uint64
			if h, ok := have[d]; ok {
				seq = h.SequenceNumber
			}
			if g := m.Sets[d]; seq < g.SequenceNumber {
				return fmt.Sprintf("%d-%d-%d", d, g.ServerID, seq+1), true
			}
		}
	case *mysql.MysqlGTIDSet:
		// The first UUID and tag in String's order: a UUID's text sorts
		// as its bytes do, and the untagged GTIDs come first.
		var first string
		for u, tags := range *o.Subtract(s).set.(*mysql.MysqlGTIDSet) {
			for tag, ivs := range tags {
				if g := fmt.Sprintf("%s%s:%d", u, tagSuffix(tag), ivs[0].Start); first == "" || g < first {
					first = g
				}
			}
		}
		if first != "" {
			return first, true
		}
	}
	return o.String(), true
}
