package applier

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// sqlTarget is the target of one partition: the target server's
// connections and what the applier knows of its schema. Its control
// connection (checkpoint, DDL, skips) is opened on first use; each
// executor (worker) has a connection of its own.
type sqlTarget struct {
	a      *Applier // policies, the pair's state and the ID guard
	cfg    *Config
	m      *metrics
	log    *slog.Logger
	db     *sql.DB
	ctlDB  *sql.DB // without multiStatements: the control connection, DDL
	schema *schemaCache
	topic  string
	part   int32

	ctl *sql.Conn
}

func (s *sqlTarget) control(ctx context.Context) (*sql.Conn, error) {
	if s.ctl == nil {
		conn, err := openSession(ctx, s.ctlDB, s.cfg.LockWaitTimeout)
		if err != nil {
			return nil, err
		}
		s.ctl = conn
	}
	return s.ctl, nil
}

// Close closes the control connection.
func (s *sqlTarget) Close() {
	if s.ctl != nil {
		s.ctl.Close()
		s.ctl = nil
	}
}

// Checkpoint reads the partition's row of drc_meta.apply_checkpoint.
func (s *sqlTarget) Checkpoint(ctx context.Context) (Checkpoint, bool, error) {
	ctl, err := s.control(ctx)
	if err != nil {
		return Checkpoint{}, false, err
	}
	return readPartCheckpoint(ctx, ctl, s.cfg.Cluster, s.part)
}

// Plan returns tbl's plan from the schema cache.
func (s *sqlTarget) Plan(ctx context.Context, tbl *event.Table) (*plan, error) {
	return s.schema.plan(ctx, tbl)
}

// RecordSkip writes the skip on the control connection.
func (s *sqlTarget) RecordSkip(ctx context.Context, skip drcmeta.Skip) error {
	ctl, err := s.control(ctx)
	if err != nil {
		return err
	}
	return drcmeta.RecordSkip(ctx, ctl, skip)
}

// ExecDDL runs USE db, then the statement behind the origin comment, on the
// control connection. DDL commits implicitly, so no checkpoint write can
// precede it in its transaction; the origin comment tells this region's
// replicator not to send the statement back (two-way replication).
func (s *sqlTarget) ExecDDL(ctx context.Context, r *event.Record) error {
	defer s.schema.invalidate()
	ctl, err := s.control(ctx)
	if err != nil {
		return err
	}
	if r.DB != "" {
		if _, err := ctl.ExecContext(ctx, "USE "+mysqlconn.QuoteIdent(r.DB)); err != nil && mysqlerr.Number(err) != gomysql.ER_BAD_DB_ERROR {
			return classifyApply(fmt.Errorf("USE %s: %w", r.DB, err))
		}
	}
	_, err = ctl.ExecContext(ctx, replicator.DDLOriginComment(r.Origin)+r.SQL)
	return err
}

// alreadyApplied reports whether a DDL statement's error says that its
// effect is already there: a DDL applied before a crash, whose checkpoint
// was not written, meets these when it runs again.
func alreadyApplied(err error) bool {
	switch mysqlerr.Number(err) {
	case gomysql.ER_TABLE_EXISTS_ERROR, gomysql.ER_BAD_TABLE_ERROR, gomysql.ER_DUP_FIELDNAME, gomysql.ER_DUP_KEYNAME,
		gomysql.ER_CANT_DROP_FIELD_OR_KEY, gomysql.ER_DB_CREATE_EXISTS, gomysql.ER_DB_DROP_EXISTS,
		gomysql.ER_NO_SUCH_TABLE, gomysql.ER_BAD_FIELD_ERROR:
		return true
	}
	return false
}

// Executor opens worker i's target session.
func (s *sqlTarget) Executor(ctx context.Context, i int) (executor, error) {
	conn, err := openSession(ctx, s.db, s.cfg.LockWaitTimeout)
	if err != nil {
		return nil, err
	}
	return newWorker(s, i, conn), nil
}
