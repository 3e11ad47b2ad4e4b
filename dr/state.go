package dr

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// operation is one row of drc_meta.dr_operations, kept on the region an
// operation makes primary (it is there before, during and after). Its
// writes stay out of the binlog: they describe this region's history, not
// data to replicate.
type operation struct {
	id       int64
	step     string // the last step completed
	finished bool
	report   Report
}

// lastOperation is the newest operation of cluster recorded on s, or nil.
func lastOperation(ctx context.Context, s Server, cluster string) (*operation, error) {
	var op operation
	var rep []byte
	var finished sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT id, step, report, CAST(finished_at AS CHAR)
		FROM drc_meta.dr_operations WHERE cluster = ? ORDER BY id DESC LIMIT 1`, cluster).Scan(&op.id, &op.step, &rep, &finished)
	switch {
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%s: read drc_meta.dr_operations: %w", s, err)
	}
	op.finished = finished.Valid
	if len(rep) > 0 {
		if err := json.Unmarshal(rep, &op.report); err != nil {
			return nil, fmt.Errorf("%s: drc_meta.dr_operations row %d: report: %w", s, op.id, err)
		}
	}
	return &op, nil
}

// record writes op (inserting it when it has no id yet).
func record(ctx context.Context, s Server, op *operation) error {
	rep, err := json.Marshal(op.report)
	if err != nil {
		return err
	}
	if op.id == 0 {
		if err := drcmeta.Ensure(ctx, s.DB); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	finished := "NULL"
	if op.finished {
		finished = "CURRENT_TIMESTAMP(6)"
	}
	return s.session(ctx, binlogOff, func(conn *sql.Conn) error {
		if op.id == 0 {
			res, err := conn.ExecContext(ctx, `INSERT INTO drc_meta.dr_operations (cluster, kind, from_region, to_region, step, report, finished_at)
				VALUES (?, ?, ?, ?, ?, ?, `+finished+`)`, op.report.Cluster, op.report.Operation, op.report.From, op.report.To, op.step, rep)
			if err != nil {
				return fmt.Errorf("%s: record the %s in drc_meta.dr_operations: %w", s, op.report.Operation, err)
			}
			op.id, err = res.LastInsertId()
			return err
		}
		_, err := conn.ExecContext(ctx, `UPDATE drc_meta.dr_operations SET step = ?, report = ?, finished_at = `+finished+` WHERE id = ?`,
			op.step, rep, op.id)
		if err != nil {
			return fmt.Errorf("%s: record step %s in drc_meta.dr_operations: %w", s, op.step, err)
		}
		return nil
	})
}
