package mysqlconn

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// Flavor is a server's family. It owns every statement that differs
// between MariaDB and MySQL, so that a role never chooses one by itself.
// Its values are drc's config values (and go-mysql's flavor names).
type Flavor string

// The flavors.
const (
	MariaDB Flavor = "mariadb" // MariaDB 10.5+: GTIDs domain-server-seq
	MySQL   Flavor = "mysql"   // MySQL 8.0+: GTIDs uuid:interval
)

// Queryer is what ServerFlavor reads through: *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ServerFlavor asks the server what it is. version is VERSION()'s text,
// for messages and for BinlogStatusQuery.
func ServerFlavor(ctx context.Context, q Queryer) (f Flavor, version string, err error) {
	if err := q.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", "", fmt.Errorf("read VERSION(): %w", err)
	}
	return flavorOf(version), version, nil
}

// flavorOf reads the flavor from VERSION(): MariaDB says so in it
// ("10.11.6-MariaDB-log"); MySQL does not ("8.4.3").
func flavorOf(version string) Flavor {
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return MariaDB
	}
	return MySQL
}

// PositionVariable is the global variable that holds the GTID set the
// server has written to its binlog: gtid_binlog_pos on MariaDB (not
// gtid_current_pos, which also counts what it applied as a replica
// without logging it), gtid_executed on MySQL.
func (f Flavor) PositionVariable() string {
	if f == MySQL {
		return "@@GLOBAL.gtid_executed"
	}
	return "@@GLOBAL.gtid_binlog_pos"
}

// PositionQuery reads PositionVariable: one row, one string column.
func (f Flavor) PositionQuery() string { return "SELECT " + f.PositionVariable() }

// Setting is a server variable and the value drc needs it to have, as
// SELECT @@GLOBAL.<Name> shows it (ON reads as 1).
type Setting struct{ Name, Value string }

// GTIDSettings are what replicating from the server by GTID needs:
// gtid_mode and enforce_gtid_consistency on MySQL; gtid_strict_mode on
// MariaDB, without which "through seq_no n" does not cover a domain's
// earlier transactions (internal/gtid).
func (f Flavor) GTIDSettings() []Setting {
	if f == MySQL {
		return []Setting{{"gtid_mode", "ON"}, {"enforce_gtid_consistency", "ON"}}
	}
	return []Setting{{"gtid_strict_mode", "1"}}
}

// FenceVariable is the switch that refuses every write: super_read_only on
// MySQL, which binds accounts with SUPER (or CONNECTION_ADMIN) too;
// read_only on MariaDB, which has no stronger one (accounts with READ_ONLY
// ADMIN still write).
func (f Flavor) FenceVariable() string {
	if f == MySQL {
		return "super_read_only"
	}
	return "read_only"
}

// WritableStatements lift every write fence, in an order each server
// accepts (MySQL refuses read_only = OFF while super_read_only is ON).
func (f Flavor) WritableStatements() []string {
	if f == MySQL {
		return []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}
	}
	return []string{"SET GLOBAL read_only = OFF"}
}

// StandbyStatements leave a server read-only for applications while an
// account that bypasses read_only (drc's applier) writes to it: read_only
// on, and on MySQL super_read_only off, since it binds the applier too.
func (f Flavor) StandbyStatements() []string {
	if f == MySQL {
		return []string{"SET GLOBAL read_only = ON", "SET GLOBAL super_read_only = OFF"}
	}
	return []string{"SET GLOBAL read_only = ON"}
}

// BinlogStatusQuery shows the binlog file and position the server writes
// to, given VERSION()'s text: SHOW BINARY LOG STATUS on MySQL 8.2 and
// later (8.4 removed SHOW MASTER STATUS; its rows add Executed_Gtid_Set
// after File, Position, Binlog_Do_DB and Binlog_Ignore_DB), SHOW MASTER
// STATUS on MariaDB and older MySQL.
func (f Flavor) BinlogStatusQuery(version string) string {
	if f == MySQL && !versionBefore(version, 8, 2) {
		return "SHOW BINARY LOG STATUS"
	}
	return "SHOW MASTER STATUS"
}

// versionBefore reports whether a VERSION() text ("8.0.36-log") is older
// than major.minor. A text it cannot read counts as new.
func versionBefore(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(leadingDigits(parts[1]))
	if err1 != nil || err2 != nil {
		return false
	}
	return maj < major || maj == major && mnr < minor
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
