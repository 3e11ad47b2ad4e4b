package grants

import (
	"strings"
	"testing"
)

func TestGlobal(t *testing.T) {
	mysql := Grants{
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `REPL`@`%`",
		"GRANT BACKUP_ADMIN,REPLICATION_SLAVE_ADMIN ON *.* TO `REPL`@`%`",
		"GRANT INSERT, UPDATE ON `DRC_META`.* TO `REPL`@`%`",
	}
	maria := Grants{"GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `R`@`%`"}
	all := Grants{"GRANT ALL PRIVILEGES ON *.* TO `DRC`@`127.0.0.1` WITH GRANT OPTION"}
	for _, tc := range []struct {
		g     Grants
		names []string
		want  bool
	}{
		{mysql, []string{"REPLICATION SLAVE"}, true},
		{mysql, []string{"BACKUP_ADMIN"}, true},
		{mysql, []string{"backup_admin"}, true},
		{mysql, []string{"BINLOG_ADMIN"}, false},
		{mysql, []string{"INSERT"}, false}, // only on drc_meta.*
		{mysql, []string{"REPLICATION_APPLIER"}, false},
		{Grants{"GRANT REPLICATION_SLAVE_ADMIN ON *.* TO `X`@`%`"}, []string{"REPLICATION SLAVE"}, false},
		{maria, []string{"REPLICATION CLIENT", "BINLOG MONITOR"}, true},
		{all, []string{"BACKUP_ADMIN"}, true},
		{Grants{"GRANT USAGE ON *.* TO `X`@`%`"}, []string{"SELECT"}, false},
		// " ON " inside a quoted column name of a table grant.
		{Grants{"GRANT INSERT, SELECT (`Y ON *.*`) ON `DB`.`T` TO `X`@`%`"}, []string{"INSERT"}, false},
		{Grants{"GRANT SELECT ON *.* TO `A ON B`@`%` WITH GRANT OPTION"}, []string{"SELECT"}, true},
		// A role grant has no privileges of its own.
		{Grants{"GRANT `R`@`%` TO `X`@`%`"}, []string{"SELECT"}, false},
	} {
		if got := tc.g.Global(tc.names...); got != tc.want {
			t.Errorf("%q.Global(%q) = %v, want %v", tc.g, tc.names, got, tc.want)
		}
	}
}

func TestGrantedRoles(t *testing.T) {
	got := grantedRoles([]string{
		"GRANT USAGE ON *.* TO `u`@`%`",
		"GRANT `reader`@`%`,`odd, role`@`%` TO `u`@`%`", // MySQL
		"GRANT `dba` TO `u`@`%`",                        // MariaDB
		"GRANT SELECT ON `db`.* TO `u`@`%`",
	})
	want := []string{"`reader`@`%`", "`odd, role`@`%`", "`dba`"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grantedRoles = %q, want %q", got, want)
	}
}
