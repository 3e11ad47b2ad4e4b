package drcmeta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/internal/mysqlerr"
)

// Errors of Ensure.
var (
	// ErrNewerSchema: drc_meta is at a version this drc does not know,
	// written by a newer drc. Permanent: an older drc must not write a
	// schema it does not know; the message names both versions, and the
	// fix is to upgrade drc.
	ErrNewerSchema = errors.New("drc_meta was upgraded by a newer drc")
)

// Current is the drc_meta schema version this drc creates and migrates to:
// the last migration's.
const Current = 3

// legacyVersion is what a drc_meta without schema_version is: the schema
// drc created before it had versions.
const legacyVersion = 1

// migration brings drc_meta from version to-1 to version to.
type migration struct {
	to int
	// adds names the tables this version introduces. Ensure creates every
	// missing table after the migrations, so a version that only adds
	// tables needs no run.
	adds []string
	// run changes the tables that exist. It must be idempotent: it looks in
	// information_schema before each change, and leaves a missing table
	// alone (it is created at its current definition afterwards).
	run func(ctx context.Context, conn *sql.Conn) error
}

// migrations is every step from legacyVersion to Current, in order. Append
// only: a released step has run on servers that will not run it again.
var migrations = []migration{
	{to: 2, adds: []string{"schema_version", "dr_operations", "quarantine"}, run: toVersion2},
	{to: 3, adds: []string{"stop_errors"}},
}

// toVersion2: bootstrap created apply_checkpoint, and its own two tables,
// without ENGINE=InnoDB, so on a server whose default engine is another
// the checkpoint did not commit with the rows it describes; and conflicts
// gained its detail column.
func toVersion2(ctx context.Context, conn *sql.Conn) error {
	for _, name := range []string{"apply_checkpoint", "bootstrap_state", "bootstrap_chunks"} {
		if err := convertToInnoDB(ctx, conn, name); err != nil {
			return err
		}
	}
	return addColumn(ctx, conn, "conflicts", "detail", conflictsDetail)
}

// convertToInnoDB makes drc_meta.name InnoDB, if it exists and is not.
func convertToInnoDB(ctx context.Context, conn *sql.Conn, name string) error {
	var engine sql.NullString
	err := conn.QueryRowContext(ctx, `SELECT ENGINE FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = 'drc_meta' AND TABLE_NAME = ?`, name).Scan(&engine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read the engine of drc_meta.%s: %w", name, err)
	case strings.EqualFold(engine.String, "InnoDB"):
		return nil
	}
	if _, err := conn.ExecContext(ctx, "ALTER TABLE drc_meta."+name+" ENGINE=InnoDB"); err != nil {
		return fmt.Errorf("convert drc_meta.%s from %s to InnoDB: %w", name, engine.String, err)
	}
	return nil
}

// addColumn adds column (defined by def) to drc_meta.name, if the table
// exists without it. MySQL has no ADD COLUMN IF NOT EXISTS, so the column
// is looked up first; an older drc adding it at the same moment is no
// error.
func addColumn(ctx context.Context, conn *sql.Conn, name, column, def string) error {
	var columns, found int
	err := conn.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(COLUMN_NAME = ?), 0) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'drc_meta' AND TABLE_NAME = ?`, column, name).Scan(&columns, &found)
	if err != nil {
		return fmt.Errorf("read the columns of drc_meta.%s: %w", name, err)
	}
	if columns == 0 || found > 0 {
		return nil
	}
	_, err = conn.ExecContext(ctx, "ALTER TABLE drc_meta."+name+" ADD COLUMN "+def)
	if err != nil && mysqlerr.Number(err) != gomysql.ER_DUP_FIELDNAME {
		return fmt.Errorf("add column %s to drc_meta.%s: %w", column, name, err)
	}
	return nil
}

// pending returns the migrations a drc_meta at version found needs, or
// ErrNewerSchema.
func pending(found int) ([]migration, error) {
	switch {
	case found > Current:
		return nil, fmt.Errorf("%w: it is at schema version %d, and this drc knows versions up to %d; upgrade drc to a release that knows version %d",
			ErrNewerSchema, found, Current, found)
	case found < legacyVersion:
		return nil, fmt.Errorf("drc_meta.schema_version holds version %d, which no drc writes; set it to %d to migrate again", found, legacyVersion)
	}
	for i, m := range migrations {
		if m.to > found {
			return migrations[i:], nil
		}
	}
	return nil, nil
}

// lockName serializes the migrations of one server: every role starts at
// once, and each runs Ensure.
const lockName = "drc_meta.schema"

// lockWait bounds the wait for another drc's migration.
const lockWait = time.Minute

// Ensure brings drc_meta on db's server to Current: it creates the
// database and every table on an empty server, migrates an older drc_meta
// in place, and does nothing more on one at Current. A drc_meta newer than
// Current is refused with ErrNewerSchema. It is safe to call from many
// processes at once. Privileges: CREATE, SELECT, INSERT and UPDATE on
// drc_meta, and ALTER when an older drc_meta needs a change.
//
// It uses one connection of db's pool, which it closes rather than return
// to the pool after an error, since it may still hold the lock.
func Ensure(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("drc_meta: %w", err)
	}
	defer conn.Close()
	err = EnsureConn(ctx, conn)
	if err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return err
}

// EnsureConn is Ensure on one session, for a caller whose session settings
// matter (bootstrap's, with sql_log_bin off). The session holds the lock
// only while it migrates.
func EnsureConn(ctx context.Context, conn *sql.Conn) (err error) {
	found, err := readVersion(ctx, conn)
	if err != nil {
		return err
	}
	if found == Current {
		return nil
	}
	if _, err := pending(found); err != nil {
		return err
	}
	if err := getLock(ctx, conn); err != nil {
		return err
	}
	defer func() {
		var ok sql.NullInt64
		rerr := conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lockName).Scan(&ok)
		if rerr != nil && err == nil {
			err = fmt.Errorf("release the drc_meta schema lock: %w", rerr)
		}
	}()
	// Another drc may have migrated while this one waited.
	if found, err = readVersion(ctx, conn); err != nil {
		return err
	}
	steps, err := pending(found)
	if err != nil || found == Current {
		return err
	}
	return migrate(ctx, conn, steps)
}

// migrate runs steps, creates every missing table and writes Current.
func migrate(ctx context.Context, conn *sql.Conn, steps []migration) error {
	if _, err := conn.ExecContext(ctx, createDatabase); err != nil {
		return fmt.Errorf("create database drc_meta: %w", err)
	}
	for _, m := range steps {
		if m.run == nil {
			continue
		}
		if err := m.run(ctx, conn); err != nil {
			return fmt.Errorf("upgrade drc_meta to schema version %d: %w", m.to, err)
		}
	}
	for _, t := range tables {
		if _, err := conn.ExecContext(ctx, t.ddl); err != nil {
			return fmt.Errorf("create drc_meta.%s: %w", t.name, err)
		}
	}
	_, err := conn.ExecContext(ctx, `INSERT INTO drc_meta.schema_version (id, version) VALUES (1, ?)
		ON DUPLICATE KEY UPDATE version = VALUES(version)`, Current)
	if err != nil {
		return fmt.Errorf("write drc_meta.schema_version %d: %w", Current, err)
	}
	return nil
}

// readVersion returns the version drc_meta is at: legacyVersion without
// the table or its row (a migration that stopped before writing it is run
// again).
func readVersion(ctx context.Context, q Queryer) (int, error) {
	var v int
	err := q.QueryRowContext(ctx, "SELECT version FROM drc_meta.schema_version WHERE id = 1").Scan(&v)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return legacyVersion, nil
	}
	return 0, fmt.Errorf("read drc_meta.schema_version: %w", err)
}

func getLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lockName, int(lockWait.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("take the drc_meta schema lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take the drc_meta schema lock: another drc has held it for over %s while upgrading drc_meta; SELECT IS_USED_LOCK('%s') names its connection",
			lockWait, lockName)
	}
	return nil
}
