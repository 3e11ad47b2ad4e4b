package mysqlconn

import (
	"slices"
	"testing"
)

func TestFlavorOf(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    Flavor
	}{
		{"10.11.6-MariaDB-log", MariaDB},
		{"11.4.2-MariaDB", MariaDB},
		{"5.5.5-10.6.12-mariadb-1:10.6.12+maria~ubu2004", MariaDB},
		{"8.0.36", MySQL},
		{"8.4.3-log", MySQL},
	} {
		if got := flavorOf(tc.version); got != tc.want {
			t.Errorf("flavorOf(%q) = %s, want %s", tc.version, got, tc.want)
		}
	}
}

func TestFlavorStatements(t *testing.T) {
	if got := MariaDB.PositionQuery(); got != "SELECT @@GLOBAL.gtid_binlog_pos" {
		t.Errorf("MariaDB.PositionQuery() = %s", got)
	}
	if got := MySQL.PositionQuery(); got != "SELECT @@GLOBAL.gtid_executed" {
		t.Errorf("MySQL.PositionQuery() = %s", got)
	}
	if got := MySQL.GTIDSettings(); !slices.Equal(got, []Setting{{"gtid_mode", "ON"}, {"enforce_gtid_consistency", "ON"}}) {
		t.Errorf("MySQL.GTIDSettings() = %v", got)
	}
	if got := MariaDB.GTIDSettings(); !slices.Equal(got, []Setting{{"gtid_strict_mode", "1"}}) {
		t.Errorf("MariaDB.GTIDSettings() = %v", got)
	}
	if MariaDB.FenceVariable() != "read_only" || MySQL.FenceVariable() != "super_read_only" {
		t.Errorf("FenceVariable: mariadb %s, mysql %s", MariaDB.FenceVariable(), MySQL.FenceVariable())
	}
	// MySQL refuses read_only = OFF while super_read_only is ON.
	if got := MySQL.WritableStatements(); !slices.Equal(got, []string{"SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"}) {
		t.Errorf("MySQL.WritableStatements() = %q", got)
	}
	if got := MariaDB.WritableStatements(); !slices.Equal(got, []string{"SET GLOBAL read_only = OFF"}) {
		t.Errorf("MariaDB.WritableStatements() = %q", got)
	}
	if got := MySQL.StandbyStatements(); !slices.Equal(got, []string{"SET GLOBAL read_only = ON", "SET GLOBAL super_read_only = OFF"}) {
		t.Errorf("MySQL.StandbyStatements() = %q", got)
	}
	if got := MariaDB.StandbyStatements(); !slices.Equal(got, []string{"SET GLOBAL read_only = ON"}) {
		t.Errorf("MariaDB.StandbyStatements() = %q", got)
	}
}

func TestBinlogStatusQuery(t *testing.T) {
	for _, tc := range []struct {
		f       Flavor
		version string
		want    string
	}{
		{MariaDB, "10.11.6-MariaDB", "SHOW MASTER STATUS"},
		{MySQL, "8.0.36", "SHOW MASTER STATUS"},
		{MySQL, "8.1.0", "SHOW MASTER STATUS"},
		{MySQL, "8.2.0", "SHOW BINARY LOG STATUS"},
		{MySQL, "8.4.3-log", "SHOW BINARY LOG STATUS"},
		{MySQL, "9.1.0", "SHOW BINARY LOG STATUS"},
		{MySQL, "10.0.0", "SHOW BINARY LOG STATUS"},
		{MySQL, "", "SHOW BINARY LOG STATUS"},
	} {
		if got := tc.f.BinlogStatusQuery(tc.version); got != tc.want {
			t.Errorf("%s %q: BinlogStatusQuery = %s, want %s", tc.f, tc.version, got, tc.want)
		}
	}
}
