package applier

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestRedactServerMessage(t *testing.T) {
	dup := &mysql.MySQLError{Number: 1062, Message: "Duplicate entry 'alice@example.com' for key 'u'"}
	err := redactServerMessage(permanent(fmt.Errorf("ddl of transaction 1-1-5 (ALTER TABLE `t` ADD UNIQUE (`e`)): %w", dup)))
	if strings.Contains(err.Error(), "alice") || !strings.Contains(err.Error(), "1062") || !strings.Contains(err.Error(), "ALTER TABLE `t`") {
		t.Errorf("redacted = %q, want the value gone, the number and the statement shape kept", err)
	}
	if !IsPermanent(err) || !errors.Is(err, dup) {
		t.Errorf("redacted error lost its chain: permanent %v, is dup %v", IsPermanent(err), errors.Is(err, dup))
	}
	denied := &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'drc'@'10.0.0.1' (using password: YES)"}
	if got := redactServerMessage(denied); got.Error() != denied.Error() {
		t.Errorf("a refused login was redacted: %q", got)
	}
}
