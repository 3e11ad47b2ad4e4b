package applier

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestClassifyApply(t *testing.T) {
	for _, tc := range []struct {
		number    uint16
		permanent bool
		message   string
	}{
		{1213, false, ""}, // deadlock
		{1205, false, ""}, // lock wait timeout
		{1290, false, ""}, // read-only
		{2013, false, ""}, // client: lost connection
		{4031, false, "The client was disconnected by the server because of inactivity."},               // MySQL
		{4031, true, "Referenced trigger 't1' for the given action time and event type does not exist"}, // MariaDB
		{3169, false, ""}, // MySQL: session killed
		{3101, false, ""}, // MySQL group replication: rollback during commit
		{1062, true, ""},  // duplicate key
		{1146, true, ""},  // no such table
		{4161, true, ""},  // MariaDB: unknown data type (a MySQL type on MariaDB)
		{3105, true, ""},  // MySQL: generated column value given
		{1273, true, ""},  // unknown collation
	} {
		err := classifyApply(fmt.Errorf("apply: %w", &mysql.MySQLError{Number: tc.number, Message: tc.message}))
		if IsPermanent(err) != tc.permanent {
			t.Errorf("error %d %q: permanent = %v, want %v", tc.number, tc.message, IsPermanent(err), tc.permanent)
		}
	}
	if IsPermanent(classifyApply(errors.New("connection reset"))) {
		t.Error("a network error is permanent, want transient")
	}
}
