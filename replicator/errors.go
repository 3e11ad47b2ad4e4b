package replicator

import (
	"errors"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Sentinel errors of the replicator.
var (
	// ErrPurged means the position to resume from is no longer in the
	// source's binlogs: the region must be seeded again with drc bootstrap.
	ErrPurged = errors.New("resume position purged from the source's binlogs")
)

// permanentError marks a failure that a retry cannot fix: bad settings,
// an unclassifiable statement, a purged position, being fenced.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err}
}

// IsPermanent reports whether Run stopped for a reason a restart cannot fix.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// errorKind labels the errors metric.
func errorKind(err error) string {
	var me *mysql.MyError
	var pf *PreflightError
	var uc *ErrUnclassified
	switch {
	case errors.As(err, &pf):
		return "preflight"
	case errors.As(err, &uc):
		return "ddl"
	case errors.Is(err, ErrPurged):
		return "purged"
	case errors.As(err, &me):
		return "mysql"
	case strings.Contains(strings.ToLower(errorsChain(err)), "kafka"):
		return "kafka"
	}
	return "other"
}

// errorsChain renders err for classification of wrapped context only; the
// kinds above come from types, this is the fallback label.
func errorsChain(err error) string { return err.Error() }
