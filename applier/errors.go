package applier

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/IBM/sarama"
	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
)

// Sentinel errors of the applier. Run returns them wrapped, with the
// table, transaction or Kafka position they concern.
var (
	// ErrUnsigned: with a record key, a transaction whose signature does
	// not verify. It is reported as ErrDecode too.
	ErrUnsigned = errors.New("transaction not signed by this cluster's replicator")

	// ErrDecode: a record that cannot be decoded, or that breaks the
	// transaction framing (gtid/seq/last). The applier stops; the record is
	// never skipped and its transaction never half-applied.
	ErrDecode = errors.New("bad record")
	// ErrConflict: a conflict under the stop policy.
	ErrConflict = errors.New("conflict")
	// ErrDDLStopped: a DDL under the stop policy.
	ErrDDLStopped = errors.New("ddl stopped by policy")
	// ErrDDLKind: a DDL of a kind applier.ddl_kinds does not allow.
	ErrDDLKind = errors.New("ddl kind not allowed")
	// ErrUnsupportedTable: a replicated row for a kind of target table drc
	// cannot apply exactly (system-versioned tables).
	ErrUnsupportedTable = errors.New("unsupported table")
	// ErrTriggers: a replicated row for a target table with triggers, under
	// applier.triggers: stop.
	ErrTriggers = errors.New("target table has triggers")
	// ErrCheckpointGone: the checkpoint's offset is no longer in the topic
	// (retention removed it) or is beyond its end (the topic was
	// recreated). The target needs a new drc bootstrap.
	ErrCheckpointGone = errors.New("checkpoint offset not in the topic")
)

// permanentError marks a failure that a restart from the checkpoint
// cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err}
}

// IsPermanent reports whether Run stopped for a reason a restart cannot
// fix: an undecodable record, a conflict or DDL under the stop policy, a
// checkpoint outside the topic, or a statement the target rejects for its
// data or schema.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// classifyApply decides whether a statement's error is transient: the
// connection, the server going away, lock waits and read-only targets
// retry; an error the server returns about the data or the schema will
// recur on every retry, so it stops the applier.
func classifyApply(err error) error {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return err // network, driver.ErrBadConn, context: transient
	}
	if mysqlerr.Retryable(err) {
		return err
	}
	return permanent(err)
}

// errorKind labels the errors metric.
func errorKind(err error) string {
	var me *mysql.MySQLError
	var ke sarama.KError
	var ne net.Error
	switch {
	case errors.Is(err, ErrDecode):
		return "decode"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrTriggers):
		return "triggers"
	case errors.Is(err, ErrUnsupportedTable):
		return "unsupported_table"
	case errors.Is(err, ErrDDLStopped), errors.Is(err, ErrDDLKind):
		return "ddl"
	case errors.Is(err, ErrCheckpointGone):
		return "checkpoint"
	case errors.As(err, &me) && mysqlerr.LockConflict(err):
		return "mysql_lock"
	case errors.As(err, &me):
		return "mysql"
	case errors.As(err, &ke), errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrClosedClient):
		return "kafka"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, io.EOF), errors.As(err, &ne):
		return "network"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// decodeError stops the applier at a record it cannot decode or frame. The
// message says what it found and where; nothing of the record's
// transaction is applied, and a restart stops at the same record.
func decodeError(topic string, part int32, offset int64, err error) error {
	return permanent(fmt.Errorf("%w at topic %s partition %d offset %d: %w (nothing of its transaction was applied; inspect it with a read_committed consumer at that offset; "+
		"to pass over it and its transaction deliberately, run drc apply --skip-offset %d:%d, then repair with drc reconcile)", ErrDecode, topic, part, offset, err, part, offset))
}

// redactServerMessage shows err with every quoted part replaced
// (replicator.RedactSQL) when it carries a server error about a statement:
// the server's message can quote a row's value (Duplicate entry '...',
// Incorrect string value: '...'), and the error goes to the log at ERROR
// and to drc_meta.stop_errors, which drc status prints. A refused login
// keeps its text: it names the account, not data.
func redactServerMessage(err error) error {
	if mysqlerr.Number(err) == 0 || mysqlerr.Denied(err) {
		return err
	}
	return redactedError{err}
}

type redactedError struct{ err error }

func (e redactedError) Error() string { return replicator.RedactSQL(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
