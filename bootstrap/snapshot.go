package bootstrap

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Flavors of the source.
const (
	FlavorMariaDB = "mariadb"
	FlavorMySQL   = "mysql"
)

// Snapshot is an open consistent read view of the source and the GTID
// position it corresponds to: every transaction in GTID is visible in it,
// none after.
type Snapshot struct {
	// GTID is the position in the source flavor's text form: "1-1-42,2-2-7"
	// on MariaDB, "uuid:1-42,uuid2:1-7" on MySQL.
	GTID string
	// File and Pos are the binlog coordinates (MariaDB only).
	File string
	Pos  uint64
	// LockHeld is how long a lock was held on the source to take it: zero
	// on MariaDB, the backup lock's duration on MySQL.
	LockHeld time.Duration
}

// executor is the part of a connection the snapshot needs. The real one is a
// *sql.Conn; tests use fakeExecutor, built from function fields, to check
// the exact statements issued.
type executor interface {
	// Exec runs a statement that returns no rows.
	Exec(ctx context.Context, query string, args ...any) error
	// Query runs a statement and returns its rows as strings; NULL is
	// returned as a nil pointer.
	Query(ctx context.Context, query string, args ...any) ([][]*string, error)
}

// connExecutor is executor on one *sql.Conn: every statement must run on
// the same session, the snapshot's.
type connExecutor struct{ c *sql.Conn }

func (e connExecutor) Exec(ctx context.Context, query string, args ...any) error {
	_, err := e.c.ExecContext(ctx, query, args...)
	return err
}

func (e connExecutor) Query(ctx context.Context, query string, args ...any) ([][]*string, error) {
	rows, err := e.c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]*string
	for rows.Next() {
		raw := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]*string, len(cols))
		for i, r := range raw {
			if r != nil {
				s := string(r)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// SQL of the snapshot, by flavor. Tests compare the statements issued
// against these.
const (
	sqlRepeatableRead  = "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
	sqlStartSnapshot   = "START TRANSACTION WITH CONSISTENT SNAPSHOT"
	sqlMariaDBSnapshot = "SHOW SESSION STATUS LIKE 'binlog_snapshot_%'"
	sqlMariaDBGTIDPos  = "SELECT BINLOG_GTID_POS(?, ?)"
	sqlMySQLBackupLock = "LOCK INSTANCE FOR BACKUP"
	sqlMySQLUnlock     = "UNLOCK INSTANCE"
	sqlMySQLLogStatus  = "SELECT JSON_UNQUOTE(JSON_EXTRACT(LOCAL, '$.gtid_executed')) FROM performance_schema.log_status"
	sqlRollback        = "ROLLBACK"
)

// mysqlSnapshotTries bounds how often the MySQL snapshot is retried when a
// commit raced with it.
const mysqlSnapshotTries = 20

// takeSnapshot opens the consistent read view on e's session and returns
// its position. On error the session may hold an open transaction; the
// caller discards the connection.
func takeSnapshot(ctx context.Context, e executor, flavor string, now func() time.Time) (Snapshot, error) {
	if err := e.Exec(ctx, sqlRepeatableRead); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	switch flavor {
	case FlavorMariaDB:
		return mariadbSnapshot(ctx, e)
	case FlavorMySQL:
		return mysqlSnapshot(ctx, e, now)
	}
	return Snapshot{}, fmt.Errorf("snapshot: unknown flavor %q", flavor)
}

// mariadbSnapshot takes no lock: MariaDB publishes the binlog position that
// matches a consistent-snapshot transaction (binlog_snapshot_file and
// _position, taken under the binlog's own commit ordering), and
// BINLOG_GTID_POS maps it to a GTID position.
func mariadbSnapshot(ctx context.Context, e executor) (Snapshot, error) {
	if err := e.Exec(ctx, sqlStartSnapshot); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: %w", err)
	}
	rows, err := e.Query(ctx, sqlMariaDBSnapshot)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: binlog position: %w", err)
	}
	var s Snapshot
	for _, r := range rows {
		if len(r) < 2 || r[0] == nil || r[1] == nil {
			continue
		}
		switch strings.ToLower(*r[0]) {
		case "binlog_snapshot_file":
			s.File = *r[1]
		case "binlog_snapshot_position":
			if _, err := fmt.Sscan(*r[1], &s.Pos); err != nil {
				return Snapshot{}, fmt.Errorf("snapshot: binlog_snapshot_position %q: %w", *r[1], err)
			}
		}
	}
	if s.File == "" {
		return Snapshot{}, fmt.Errorf("snapshot: %w", ErrNoBinlog)
	}
	rows, err = e.Query(ctx, sqlMariaDBGTIDPos, s.File, s.Pos)
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: BINLOG_GTID_POS(%s, %d): %w", s.File, s.Pos, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0] == nil {
		return Snapshot{}, fmt.Errorf("snapshot: BINLOG_GTID_POS(%s, %d) returned NULL: %w", s.File, s.Pos, ErrNoBinlog)
	}
	s.GTID = *rows[0][0]
	return s, nil
}

// mysqlSnapshot: MySQL has no binlog position tied to a snapshot. Under
// LOCK INSTANCE FOR BACKUP (which blocks DDL, not DML), it reads
// gtid_executed from performance_schema.log_status, starts the snapshot and
// reads gtid_executed again. Equal readings mean no transaction committed
// in between, so the snapshot holds exactly the first reading; otherwise it
// rolls back and tries again. The lock is released as soon as the snapshot
// is open; its duration is reported.
func mysqlSnapshot(ctx context.Context, e executor, now func() time.Time) (s Snapshot, err error) {
	if err := e.Exec(ctx, sqlMySQLBackupLock); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot: %s: %w", sqlMySQLBackupLock, err)
	}
	locked := now()
	defer func() {
		uerr := e.Exec(context.WithoutCancel(ctx), sqlMySQLUnlock)
		s.LockHeld = now().Sub(locked)
		if uerr != nil && err == nil {
			err = fmt.Errorf("snapshot: %s: %w", sqlMySQLUnlock, uerr)
		}
	}()
	read := func() (string, error) {
		rows, err := e.Query(ctx, sqlMySQLLogStatus)
		if err != nil {
			return "", fmt.Errorf("snapshot: performance_schema.log_status: %w", err)
		}
		if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0] == nil {
			return "", fmt.Errorf("snapshot: performance_schema.log_status has no gtid_executed: %w", ErrNoBinlog)
		}
		return normalizeMySQLGTID(*rows[0][0]), nil
	}
	for try := 1; try <= mysqlSnapshotTries; try++ {
		before, err := read()
		if err != nil {
			return Snapshot{}, err
		}
		if err := e.Exec(ctx, sqlStartSnapshot); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot: %w", err)
		}
		after, err := read()
		if err != nil {
			return Snapshot{}, err
		}
		if before == after {
			return Snapshot{GTID: after}, nil
		}
		if err := e.Exec(ctx, sqlRollback); err != nil {
			return Snapshot{}, fmt.Errorf("snapshot: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return Snapshot{}, err
		}
	}
	return Snapshot{}, fmt.Errorf("snapshot: %w (gtid_executed moved during each of %d tries)", ErrSnapshotRace, mysqlSnapshotTries)
}

// normalizeMySQLGTID removes the newlines MySQL puts after commas in GTID
// sets.
func normalizeMySQLGTID(s string) string {
	return strings.Join(strings.Fields(s), "")
}
