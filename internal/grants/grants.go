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

// Querier is what Current reads through: *sql.DB or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Current returns the grants of the connection's own account.
func Current(ctx context.Context, q Querier) (Grants, error) {
	rows, err := q.QueryContext(ctx, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return nil, fmt.Errorf("SHOW GRANTS: %w", err)
	}
	defer rows.Close()
	var out Grants
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("SHOW GRANTS: %w", err)
		}
		out = append(out, strings.ToUpper(g))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("SHOW GRANTS: %w", err)
	}
	return out, nil
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
// line; ok is false for grants on a database, table or role.
func globalPrivileges(line string) (privs []string, ok bool) {
	rest, found := strings.CutPrefix(line, "GRANT ")
	if !found {
		return nil, false
	}
	list, scope, found := strings.Cut(rest, " ON ")
	if !found || !strings.HasPrefix(strings.TrimSpace(scope), "*.*") {
		return nil, false
	}
	for _, p := range strings.Split(list, ",") {
		privs = append(privs, strings.Join(strings.Fields(p), " "))
	}
	return privs, true
}
