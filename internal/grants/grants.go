// Package grants reads an account's privileges, as SHOW GRANTS FOR
// CURRENT_USER() lists them, so that each role can name at start the
// privilege it lacks instead of failing later on the statement that needs
// it. It knows both flavors' spellings: MySQL lists dynamic privileges
// (BACKUP_ADMIN, BINLOG_ADMIN, ...) in a grant line of their own, and
// MariaDB 10.5+ renamed several (BINLOG MONITOR for REPLICATION CLIENT).
package grants

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Grants are an account's grant statements, upper-cased.
type Grants []string

// Querier is what Current and CheckRole read through: *sql.DB or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Current returns the grants of the connection's own account, with those of
// the roles granted to it: on MySQL through SHOW GRANTS ... USING, on
// MariaDB through each role's own SHOW GRANTS.
func Current(ctx context.Context, q Querier) (Grants, error) {
	lines, err := show(ctx, q, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return nil, err
	}
	if roles := grantedRoles(lines); len(roles) > 0 {
		if more, err := show(ctx, q, "SHOW GRANTS FOR CURRENT_USER() USING "+strings.Join(roles, ", ")); err == nil {
			lines = more
		} else {
			// MariaDB: each role's own grants, and those of the roles
			// granted to it in turn.
			seen := map[string]bool{}
			for len(roles) > 0 {
				r := roles[0]
				roles = roles[1:]
				if seen[r] {
					continue
				}
				seen[r] = true
				more, err := show(ctx, q, "SHOW GRANTS FOR "+r)
				if err != nil {
					return nil, err
				}
				lines = append(lines, more...)
				roles = append(roles, grantedRoles(more)...)
			}
		}
	}
	out := make(Grants, len(lines))
	for i, l := range lines {
		out[i] = strings.ToUpper(l)
	}
	return out, nil
}

func show(ctx context.Context, q Querier, query string) ([]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("%s: %w", query, err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	return out, nil
}

// grantedRoles returns the roles of the role grants among lines
// ("GRANT `r`@`%`,`s`@`%` TO ..." on MySQL, "GRANT `r` TO ..." on
// MariaDB), quoted as the server printed them.
func grantedRoles(lines []string) []string {
	var roles []string
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "GRANT ")
		if !ok || indexOutside(rest, " ON ") >= 0 {
			continue
		}
		to := indexOutside(rest, " TO ")
		if to < 0 {
			continue
		}
		list := rest[:to]
		for {
			comma := indexOutside(list, ",")
			if comma < 0 {
				roles = append(roles, strings.TrimSpace(list))
				break
			}
			roles = append(roles, strings.TrimSpace(list[:comma]))
			list = list[comma+1:]
		}
	}
	return roles
}

// Global reports whether a grant ON *.* includes one of names (synonyms of
// one privilege, e.g. "REPLICATION CLIENT", "BINLOG MONITOR"), or is ALL
// PRIVILEGES. A name matches only as a whole item of the privilege list, so
// REPLICATION SLAVE does not match REPLICATION_SLAVE_ADMIN.
func (g Grants) Global(names ...string) bool {
	for _, line := range g {
		privs, ok := globalPrivileges(line)
		if !ok {
			continue
		}
		for _, p := range privs {
			if p == "ALL PRIVILEGES" || p == "ALL" {
				return true
			}
			for _, n := range names {
				if p == strings.ToUpper(n) {
					return true
				}
			}
		}
	}
	return false
}

// globalPrivileges returns the privilege list of a "GRANT ... ON *.* TO"
// line; ok is false for grants on a database, table or routine, and for a
// role grant ("GRANT `r`@`%` TO ...", which has no ON).
func globalPrivileges(line string) (privs []string, ok bool) {
	rest, found := strings.CutPrefix(line, "GRANT ")
	if !found {
		return nil, false
	}
	on := indexOutside(rest, " ON ")
	if on < 0 || !strings.HasPrefix(strings.TrimSpace(rest[on+len(" ON "):]), "*.*") {
		return nil, false
	}
	for _, p := range strings.Split(rest[:on], ",") {
		privs = append(privs, strings.Join(strings.Fields(p), " "))
	}
	return privs, true
}

// indexOutside is strings.Index(s, sep) that skips what lies between
// backquotes, quotes or parentheses (column lists: SELECT (`a ON b`)).
func indexOutside(s, sep string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], sep):
			return i
		}
	}
	return -1
}
