// Package mysqlerr classifies the errors of MySQL and MariaDB connections
// the same way for every role: an unreachable or restarting server is
// worth retrying, a wrong password, an unknown host or a missing privilege
// is not, and retrying it forever only hides it from the operator.
//
// It lives under internal/ because no role owns it: the replicator, the
// applier and the other roles all decide on it. The error numbers are
// go-mysql's mysql.ER_* constants, so each is written once.
package mysqlerr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// Number is the server error number of err (go-sql-driver's or
// go-mysql's), or 0.
func Number(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	var ge *gomysql.MyError
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// Denied reports an authentication or privilege refusal: wrong user or
// password, no access to a database, a missing privilege, or transport
// security that fails (see Insecure).
func Denied(err error) bool {
	if Insecure(err) {
		return true
	}
	switch Number(err) {
	case gomysql.ER_ACCESS_DENIED_ERROR, gomysql.ER_DBACCESS_DENIED_ERROR,
		gomysql.ER_TABLEACCESS_DENIED_ERROR, gomysql.ER_COLUMNACCESS_DENIED_ERROR,
		gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, gomysql.ER_PROCACCESS_DENIED_ERROR,
		gomysql.ER_ACCESS_DENIED_NO_PASSWORD_ERROR, erAccessDeniedChangeUser, erAccountLocked,
		erMustChangePassword:
		return true
	}
	return false
}

// Insecure reports a failure of transport security, which no retry fixes:
// a server certificate that does not verify (unknown authority, wrong name,
// expired), a server without TLS when TLS is required, or a server that
// refuses a plaintext client (require_secure_transport).
func Insecure(err error) bool {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci), errors.As(err, &ve),
		errors.Is(err, mysql.ErrNoTLS):
		return true
	}
	switch Number(err) {
	case erSecureTransportRequired, erMariaSecureTransportRequired:
		return true
	}
	return false
}

// ForeignKey reports a foreign-key check failure: the parent row is
// missing, or a child row still references the row.
func ForeignKey(err error) bool {
	switch Number(err) {
	case gomysql.ER_NO_REFERENCED_ROW_2, gomysql.ER_ROW_IS_REFERENCED_2,
		gomysql.ER_NO_REFERENCED_ROW, gomysql.ER_ROW_IS_REFERENCED:
		return true
	}
	return false
}

// NoSuchTable reports a missing table or a missing database: what reading
// a drc_meta table that was never created returns.
func NoSuchTable(err error) bool {
	switch Number(err) {
	case gomysql.ER_NO_SUCH_TABLE, gomysql.ER_BAD_DB_ERROR:
		return true
	}
	return false
}

// LockConflict reports a statement that lost to another transaction's
// locks: a lock wait timeout or a deadlock. The transaction (or, after a
// timeout, the statement) is rolled back; running it again can succeed.
func LockConflict(err error) bool {
	switch Number(err) {
	case gomysql.ER_LOCK_WAIT_TIMEOUT, gomysql.ER_LOCK_DEADLOCK:
		return true
	}
	return false
}

// DuplicateKey reports a write refused by a primary or unique key: the
// row is already there. MySQL and MariaDB name the key in different
// numbers depending on what they know of it.
func DuplicateKey(err error) bool {
	switch Number(err) {
	case gomysql.ER_DUP_ENTRY, gomysql.ER_DUP_ENTRY_WITH_KEY_NAME, gomysql.ER_DUP_UNKNOWN_IN_INDEX:
		return true
	}
	return false
}

// NoSuchFunction reports a call of a function the server lacks. The server
// looks an unknown name up as a stored function: ER_SP_DOES_NOT_EXIST, or
// ER_NO_DB_ERROR when no database is selected (MD5() on MySQL 9).
func NoSuchFunction(err error) bool {
	switch Number(err) {
	case gomysql.ER_SP_DOES_NOT_EXIST, gomysql.ER_NO_DB_ERROR:
		return true
	}
	return false
}

// Error numbers that go-mysql's table lacks.
const (
	erAccessDeniedChangeUser = 1873 // ER_ACCESS_DENIED_CHANGE_USER_ERROR
	erAccountLocked          = 3118 // ER_ACCOUNT_HAS_BEEN_LOCKED (MySQL)
	erMustChangePassword     = 1820 // ER_MUST_CHANGE_PASSWORD
	erConnKilled             = 1927 // MariaDB ER_CONNECTION_KILLED
	// ER_SECURE_TRANSPORT_REQUIRED: a plaintext client and
	// require_secure_transport=ON (MySQL's number, and MariaDB's).
	erSecureTransportRequired      = 3159
	erMariaSecureTransportRequired = 4036

	erInactivity           = 4031 // MySQL ER_CLIENT_INTERACTION_TIMEOUT (MariaDB: another error)
	erServerOfflineMode    = 3032 // MySQL ER_SERVER_OFFLINE_MODE
	erSessionWasKilled     = 3169 // MySQL ER_SESSION_WAS_KILLED
	erRunHookError         = 3100 // MySQL group replication: ER_RUN_HOOK_ERROR
	erRollbackDuringCommit = 3101 // MySQL group replication: ER_TRANSACTION_ROLLBACK_DURING_COMMIT
	erQueryTimeout         = 3024 // MySQL ER_QUERY_TIMEOUT (max_execution_time)
	erStatementTimeout     = 1969 // MariaDB ER_STATEMENT_TIMEOUT (max_statement_time)
)

// Retryable reports a server error about a statement that a later attempt
// can get past: a lock conflict, a read-only server (a standby being
// promoted), a killed connection or a shutting-down server, a statement
// timeout, a group-replication rollback, or a client-side error. Any other
// server error is about the data or the schema, and recurs.
func Retryable(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case gomysql.ER_LOCK_WAIT_TIMEOUT, gomysql.ER_LOCK_DEADLOCK,
		gomysql.ER_OPTION_PREVENTS_STATEMENT, gomysql.ER_READ_ONLY_MODE,
		erConnKilled, gomysql.ER_SERVER_SHUTDOWN,
		erServerOfflineMode, erSessionWasKilled,
		erRunHookError, erRollbackDuringCommit,
		erQueryTimeout, erStatementTimeout:
		return true
	case erInactivity:
		// MySQL: disconnected for inactivity. MariaDB's 4031 is a missing
		// trigger in CREATE TRIGGER ... FOLLOWS, which no retry fixes; the
		// message tells them apart.
		return strings.Contains(me.Message, "inactivity")
	}
	return me.Number >= 2000 && me.Number < 3000 // client-side; 3000 and up are the server's again
}

// UnknownHost reports a host name that does not resolve.
func UnknownHost(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// Unreachable reports an error that says nothing about the settings: the
// server is down, restarting, or the network dropped the connection. A
// retry can succeed once the server is back.
func Unreachable(err error) bool {
	if err == nil || Denied(err) || UnknownHost(err) {
		return false
	}
	switch Number(err) {
	case gomysql.ER_SERVER_SHUTDOWN, erConnKilled, gomysql.ER_CON_COUNT_ERROR,
		gomysql.ER_TOO_MANY_USER_CONNECTIONS, gomysql.ER_QUERY_INTERRUPTED:
		return true
	}
	var ne net.Error
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}
