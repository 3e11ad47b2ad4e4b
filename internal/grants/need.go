package grants

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Privilege is one privilege a role needs, on every database (DB empty:
// ON *.*) or on one database (drc_meta). Names are the spellings a server
// may list it under (MariaDB's and MySQL's, SUPER where it still
// covers it); Names[0] is the one a GRANT statement uses.
type Privilege struct {
	Names []string
	DB    string
	// Data marks a privilege on the replicated tables, which a role cannot
	// list before it runs: granted ON *.*, or on a database or a table,
	// it passes (the server then checks each table), so that accounts
	// granted per schema are not refused.
	Data bool
	// NotIn is the database a Data privilege granted there does not count
	// for: drc's own (drc_meta), whose grants say nothing of the data.
	NotIn string
	// Why says what the role does with it, for the error that names it.
	Why string
}

// On is the privilege's scope as a GRANT statement writes it.
func (p Privilege) On() string {
	if p.DB == "" {
		return "*.*"
	}
	return mysqlconn.QuoteIdent(p.DB) + ".*"
}

func (p Privilege) String() string { return p.Names[0] + " ON " + p.On() }

// Has reports whether the grants include p: one of its names (or ALL
// PRIVILEGES) granted ON *.*, or, for a privilege on a database, granted on
// that database (a database grant may name it with the LIKE wildcards _
// and %, as the server matches it). Names match whole privilege items
// only: REPLICATION SLAVE does not match REPLICATION SLAVE ADMIN.
func (g Grants) Has(p Privilege) bool {
	if g.Global(p.Names...) {
		return true
	}
	if p.DB == "" && !p.Data {
		return false
	}
	for _, line := range g {
		privs, db, ok := scopedPrivileges(line)
		if !ok || !p.Data && (strings.Contains(db, "`") || !likeMatch(db, strings.ToUpper(p.DB))) {
			continue
		}
		if p.Data && p.NotIn != "" && (db == strings.ToUpper(p.NotIn) || strings.HasPrefix(db, strings.ToUpper(p.NotIn)+"`")) {
			continue
		}
		for _, have := range privs {
			if have == "ALL PRIVILEGES" || have == "ALL" || slices.ContainsFunc(p.Names, func(n string) bool { return strings.ToUpper(n) == have }) {
				return true
			}
		}
	}
	return false
}

// Missing returns the privileges of need the grants lack, in need's order.
func (g Grants) Missing(need []Privilege) []Privilege {
	var out []Privilege
	for _, p := range need {
		if !g.Has(p) {
			out = append(out, p)
		}
	}
	return out
}

// Statements renders privileges as GRANT statements to account, one per
// scope in the order privs first names it, leaving out a privilege on a
// database that the grant ON *.* already gives: what README lists and
// `drc grants` prints. A privilege on the replicated data is granted ON
// *.*; granting it on each replicated database instead passes too.
func Statements(privs []Privilege, account string) []string {
	var scopes []string
	by := map[string][]string{}
	for _, p := range privs {
		on := p.On()
		if p.DB != "" && slices.ContainsFunc(privs, func(o Privilege) bool { return o.DB == "" && o.Names[0] == p.Names[0] }) {
			continue // the grant ON *.* covers it
		}
		if _, ok := by[on]; !ok {
			scopes = append(scopes, on)
		}
		if !slices.Contains(by[on], p.Names[0]) {
			by[on] = append(by[on], p.Names[0])
		}
	}
	out := make([]string, len(scopes))
	for i, on := range scopes {
		out[i] = "GRANT " + strings.Join(by[on], ", ") + " ON " + on + " TO " + account
	}
	return out
}

// MissingError names the privileges an account lacks, each with what the
// role needs it for, and the GRANT statements that fix it.
type MissingError struct {
	// Who is the role and the server, e.g. "applier: target 10.0.0.2:3306".
	Who     string
	Missing []Privilege
}

func (e *MissingError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, p := range e.Missing {
		parts[i] = p.String() + " (" + p.Why + ")"
	}
	return fmt.Sprintf("%s: the account lacks %s; %s", e.Who, strings.Join(parts, ", "),
		strings.Join(Statements(e.Missing, "the account"), "; "))
}

// Check reads the grants of the connection's account (with its roles') and
// returns a *MissingError naming every privilege of need it lacks, or nil.
// who names the role and the server in the error.
func Check(ctx context.Context, q Querier, who string, need []Privilege) error {
	g, err := Current(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: read the account's grants: %w", who, err)
	}
	if missing := g.Missing(need); len(missing) > 0 {
		return &MissingError{Who: who, Missing: missing}
	}
	return nil
}

// CheckRole is Check with the privileges role needs on the server q
// reaches, whose flavor it asks.
func CheckRole(ctx context.Context, q Querier, who string, role Role, opt Options) error {
	flavor, _, err := mysqlconn.ServerFlavor(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	need, err := Need(role, string(flavor), opt)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return Check(ctx, q, who, need)
}

// scopedPrivileges returns the privilege list and the scope of a "GRANT
// ... ON `db`.* TO" line (db: upper case, unquoted, the LIKE pattern as
// granted) or of a table grant "ON `db`.`t`" (db then keeps the quoted
// table part, which matches no database); ok is false for global grants,
// role grants and routine grants.
func scopedPrivileges(line string) (privs []string, db string, ok bool) {
	rest, found := strings.CutPrefix(line, "GRANT ")
	if !found {
		return nil, "", false
	}
	on := indexOutside(rest, " ON ")
	if on < 0 {
		return nil, "", false
	}
	target := strings.TrimSpace(rest[on+len(" ON "):])
	if to := indexOutside(target, " TO "); to >= 0 {
		target = target[:to]
	}
	if strings.HasPrefix(target, "PROCEDURE ") || strings.HasPrefix(target, "FUNCTION ") || strings.HasPrefix(target, "PACKAGE ") {
		return nil, "", false
	}
	name, ok := strings.CutSuffix(target, ".*")
	if !ok {
		name, ok = target, strings.Contains(target, ".")
	}
	if !ok || name == "*" {
		return nil, "", false
	}
	if strings.HasPrefix(name, "`") && strings.HasSuffix(name, "`") && len(name) >= 2 {
		name = strings.ReplaceAll(name[1:len(name)-1], "``", "`")
	}
	for _, p := range strings.Split(rest[:on], ",") {
		privs = append(privs, strings.Join(strings.Fields(p), " "))
	}
	return privs, name, true
}

// likeMatch matches s against a database grant's name, in which _ and %
// are LIKE wildcards and \ escapes them.
func likeMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch c := pattern[0]; {
	case c == '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case c == '\\' && len(pattern) > 1:
		return s != "" && s[0] == pattern[1] && likeMatch(pattern[2:], s[1:])
	case c == '_':
		return s != "" && likeMatch(pattern[1:], s[1:])
	default:
		return s != "" && s[0] == c && likeMatch(pattern[1:], s[1:])
	}
}
