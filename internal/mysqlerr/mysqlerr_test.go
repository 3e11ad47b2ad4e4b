package mysqlerr

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name                         string
		err                          error
		denied, unknown, unreachable bool
	}{
		{"wrong password", &mysql.MySQLError{Number: 1045, Message: "Access denied"}, true, false, false},
		{"missing grant", fmt.Errorf("create drc_meta: %w", &mysql.MySQLError{Number: 1142}), true, false, false},
		{"go-mysql denied", &gomysql.MyError{Code: gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR}, true, false, false},
		{"unknown host", &net.OpError{Op: "dial", Err: &net.DNSError{Name: "nohost.invalid", IsNotFound: true}}, false, true, false},
		{"refused", fmt.Errorf("source: %w", refused), false, false, true},
		{"bad conn", driver.ErrBadConn, false, false, true},
		{"invalid conn", mysql.ErrInvalidConn, false, false, true},
		{"shutdown", &mysql.MySQLError{Number: 1053}, false, false, true},
		{"timeout", context.DeadlineExceeded, false, false, true},
		{"syntax", &mysql.MySQLError{Number: 1064}, false, false, false},
		{"foreign key", &mysql.MySQLError{Number: 1452}, false, false, false},
		{"other", errors.New("something"), false, false, false},
	} {
		if got := Denied(tc.err); got != tc.denied {
			t.Errorf("%s: Denied = %v", tc.name, got)
		}
		if got := UnknownHost(tc.err); got != tc.unknown {
			t.Errorf("%s: UnknownHost = %v", tc.name, got)
		}
		if got := Unreachable(tc.err); got != tc.unreachable {
			t.Errorf("%s: Unreachable = %v", tc.name, got)
		}
		if got := ForeignKey(tc.err); got != (tc.name == "foreign key") {
			t.Errorf("%s: ForeignKey = %v", tc.name, got)
		}
	}
}

func TestKinds(t *testing.T) {
	wrap := func(n uint16) error { return fmt.Errorf("exec: %w", &mysql.MySQLError{Number: n}) }
	for _, tc := range []struct {
		name                                    string
		err                                     error
		lockConflict, duplicate, noSuchFunction bool
	}{
		{"lock wait timeout", wrap(1205), true, false, false},
		{"deadlock", &gomysql.MyError{Code: 1213}, true, false, false},
		{"duplicate entry", wrap(1062), false, true, false},
		{"duplicate entry, key named", wrap(1586), false, true, false},
		{"duplicate in unknown index", wrap(1859), false, true, false},
		{"no such stored function", wrap(1305), false, false, true},
		{"no database selected", wrap(1046), false, false, true},
		{"syntax", wrap(1064), false, false, false},
		{"nil", nil, false, false, false},
	} {
		if got := LockConflict(tc.err); got != tc.lockConflict {
			t.Errorf("%s: LockConflict = %v", tc.name, got)
		}
		if got := DuplicateKey(tc.err); got != tc.duplicate {
			t.Errorf("%s: DuplicateKey = %v", tc.name, got)
		}
		if got := NoSuchFunction(tc.err); got != tc.noSuchFunction {
			t.Errorf("%s: NoSuchFunction = %v", tc.name, got)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		n    uint16
		msg  string
		want bool
	}{
		{1205, "Lock wait timeout exceeded", true},
		{1213, "Deadlock found", true},
		{1290, "--read-only", true},
		{1927, "Connection was killed", true},
		{1969, "Query execution was interrupted (max_statement_time exceeded)", true},
		{4031, "The client was disconnected by the server because of inactivity", true},
		{4031, "Referenced trigger 't' for the given action time and event type does not exist", false},
		{2013, "Lost connection", true},
		{1062, "Duplicate entry", false},
		{1146, "Table doesn't exist", false},
		{1366, "Incorrect string value", false},
	} {
		err := fmt.Errorf("apply: %w", &mysql.MySQLError{Number: tc.n, Message: tc.msg})
		if got := Retryable(err); got != tc.want {
			t.Errorf("Retryable(%d %q) = %v, want %v", tc.n, tc.msg, got, tc.want)
		}
	}
	if Retryable(errors.New("no server error")) {
		t.Error("Retryable of a non-server error")
	}
}
