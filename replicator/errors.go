package replicator

import (
	"errors"

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

// kafkaError marks a failure of the Kafka side, for the errors metric.
type kafkaError struct{ err error }

func (e *kafkaError) Error() string { return e.err.Error() }
func (e *kafkaError) Unwrap() error { return e.err }

// errorKinds are the labels errorKind gives.
var errorKinds = []string{"preflight", "ddl", "purged", "kafka", "mysql", "other"}

// errorKind labels the errors metric.
func errorKind(err error) string {
	var me *mysql.MyError
	var pf *PreflightError
	var uc *ErrUnclassified
	var ke *kafkaError
	switch {
	case errors.As(err, &pf):
		return "preflight"
	case errors.As(err, &uc):
		return "ddl"
	case errors.Is(err, ErrPurged):
		return "purged"
	case errors.As(err, &ke):
		return "kafka"
	case errors.As(err, &me):
		return "mysql"
	}
	return "other"
}
