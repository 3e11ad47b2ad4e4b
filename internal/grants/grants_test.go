package grants

import "testing"

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
	} {
		if got := tc.g.Global(tc.names...); got != tc.want {
			t.Errorf("%q.Global(%q) = %v, want %v", tc.g, tc.names, got, tc.want)
		}
	}
}
