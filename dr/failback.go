package dr

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// The steps of a failback.
const (
	stepReplicatorStopped = "replicator_stopped"
	stepQuarantined       = "quarantined"
	stepUndone            = "undone"
	stepPositionPublished = "position_published"
)

// Quarantine is what a failback took out of the returning region.
type Quarantine struct {
	// Published is the topic's committed tail: what the region had
	// published before it failed.
	Published string `json:"published_gtid_set"`
	// GTIDs are the transactions the region has beyond it, in binlog
	// order: those it committed and never published.
	GTIDs        []string `json:"gtids"`
	Transactions int      `json:"transactions"`
	Rows         int      `json:"rows"`
	// JSONFile holds the records (event format v1, one per line), SQLFile
	// the statements that would apply them again; drc_meta.quarantine on
	// the returning region holds the records too.
	JSONFile string `json:"json_file,omitempty"`
	SQLFile  string `json:"sql_file,omitempty"`
	// UndoneRows is how many row changes were undone on the region.
	UndoneRows int `json:"undone_rows"`
	// Replayed counts the transactions --replay-quarantine applied to the
	// primary; ReplayConflicts those it did not apply because the
	// primary's rows differ from their before images.
	Replayed        int      `json:"replayed,omitempty"`
	ReplayConflicts []string `json:"replay_conflicts,omitempty"`
}

// Failback brings back the old primary of a failover (the forward
// pipeline's source) as the standby of the new one. It fences it, lists
// exactly the transactions it committed that never reached Kafka (its GTID
// position minus the topic's committed tail, read from its binlog with
// their row images), writes them to drc_meta.quarantine and to files,
// undoes them on it in one transaction with the binlog off (each inverse
// row change checked against the row the transaction left), and moves its
// replicator's resume position past them, so they are never published.
// Then the region follows the new primary's stream from where its applier
// stopped: nothing is copied again. Its replicator must be stopped while
// this runs.
func Failback(ctx context.Context, p Pair, opts Options) (Report, error) {
	opts.defaults()
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	a, b := p.primary(), p.standby()
	last, err := lastOperation(ctx, b, p.Forward.Cluster)
	if err != nil {
		return Report{}, err
	}
	r := &run{opts: &opts, at: b}
	switch {
	case last != nil && last.report.Operation == "failback" && last.report.From == a.Region && !last.finished:
		r.resume(last)
		if opts.DryRun {
			r.op.report.DryRun, r.op.report.Outcome = true, "planned"
			return r.op.report, nil
		}
	case last != nil && last.report.Operation == "failback" && last.report.From == a.Region && last.report.Outcome == "done":
		rep := last.report
		rep.Outcome = "already_done"
		return rep, nil
	default:
		rep := Report{Operation: "failback", Cluster: p.Forward.Cluster, From: a.Region, To: b.Region, DryRun: opts.DryRun}
		if last == nil || last.report.Operation != "failover" || last.report.From != a.Region || last.report.Outcome != "done" {
			return refusedReport(rep, refused("%s has no finished failover from %s recorded (drc_meta.dr_operations, cluster %s): failback follows a failover, and runs with the config whose source is the region that returns", b, a.Region, p.Forward.Cluster))
		}
		rep.StartGTIDSet = last.report.StartGTIDSet
		if err := checkFailback(ctx, p, opts); err != nil {
			return refusedReport(rep, err)
		}
		rep.addStep(stepChecked, "done", fmt.Sprintf("%s is the primary since the failover; %s answers", b, a), opts.Now())
		if opts.DryRun {
			return planFailback(ctx, p, rep)
		}
		if err := r.begin(ctx, rep); err != nil {
			return rep, err
		}
	}
	return r.end(ctx, func() error { return failback(ctx, r, p) })
}

func failback(ctx context.Context, r *run, p Pair) error {
	a, rep, opts := p.primary(), &r.op.report, r.opts
	if rep.Quarantine == nil {
		rep.Quarantine = &Quarantine{}
	}
	q := rep.Quarantine
	if err := r.step(ctx, stepReplicatorStopped, func() (string, error) {
		return replicatorStopped(ctx, a, p.Forward)
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepFenced, func() (string, error) {
		txns, err := a.fence(ctx, opts.FenceWait)
		rep.InFlight = mergeTxns(rep.InFlight, txns, true)
		if err != nil {
			return "", err
		}
		if err := a.makeStandby(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s read-only for applications (%d write transactions open, killed after %s)", a, len(txns), opts.FenceWait), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepFinal, func() (string, error) {
		pos, err := a.position(ctx)
		if err != nil {
			return "", err
		}
		tail, ok, err := p.Forward.tail(ctx)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("the topic of cluster %s is empty: %s's published position is unknown; it needs drc bootstrap", p.Forward.Cluster, a.Region)
		}
		rep.FinalGTIDSet, q.Published = pos.String(), tail.String()
		return fmt.Sprintf("%s is at %s; its topic's committed tail is %s", a, rep.FinalGTIDSet, q.Published), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepQuarantined, func() (string, error) {
		if err := quarantine(ctx, r, p); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d transactions (%d rows) %s committed and never published, in %s's drc_meta.quarantine, %s and %s",
			q.Transactions, q.Rows, a.Region, a.Region, q.JSONFile, q.SQLFile), nil
	}); err != nil {
		return err
	}
	// The resume position moves first: from then on no replicator can
	// publish the quarantined transactions, whether the undo below
	// completes or not.
	if err := r.step(ctx, stepPositionPublished, func() (string, error) {
		published, err := gtid.Parse(a.Flavor, q.Published)
		if err != nil {
			return "", err
		}
		pos, err := gtid.Parse(a.Flavor, rep.FinalGTIDSet)
		if err != nil {
			return "", err
		}
		err = p.Forward.PublishPosition(ctx, published, pos)
		if errors.Is(err, replicator.ErrTailMoved) {
			// A replicator published from a meanwhile: the quarantine
			// is stale. The next run reads it again.
			forget(rep, stepFinal, stepQuarantined)
			if rerr := record(ctx, r.at, r.op); rerr != nil {
				return "", rerr
			}
			return "", refused("%v: a replicator published from %s during the failback; stop drc replicate --config <this file> on %s and run failback again", err, a.Region, a.Region)
		}
		if err != nil {
			return "", fmt.Errorf("publish %s's resume position to the topic of %s: %w", a.Region, p.Forward.Cluster, err)
		}
		return fmt.Sprintf("the topic of %s resumes after %s: the quarantined transactions are never published", p.Forward.Cluster, rep.FinalGTIDSet), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepUndone, func() (string, error) {
		n, err := undo(ctx, a, r.op.id)
		if err != nil {
			return "", err
		}
		q.UndoneRows = n
		return fmt.Sprintf("%d row changes undone on %s in one transaction, binlog off", n, a.Region), nil
	}); err != nil {
		return err
	}
	if err := r.step(ctx, stepReverse, func() (string, error) {
		cps, err := a.checkpoint(ctx, p.Reverse.Cluster)
		if err != nil {
			return "", err
		}
		if len(cps) == 0 {
			return "", fmt.Errorf("%s has no applier checkpoint of cluster %s: it cannot follow %s's stream without drc bootstrap", a, p.Reverse.Cluster, rep.To)
		}
		return fmt.Sprintf("%s follows %s from its applier checkpoint %s (cluster %s): start drc apply with the reverse pipeline's config, and drc replicate with this one, on %s",
			a.Region, rep.To, cps[0].GTIDSet, p.Reverse.Cluster, a.Region), nil
	}); err != nil {
		return err
	}
	return finish(ctx, r)
}

// forget drops steps from the report, so that a rerun does them again.
func forget(rep *Report, names ...string) {
	steps := rep.Steps[:0]
	for _, s := range rep.Steps {
		if !slices.Contains(names, s.Name) {
			steps = append(steps, s)
		}
	}
	rep.Steps = steps
}

// checkFailback refuses a failback whose regions are not as a failover
// left them.
func checkFailback(ctx context.Context, p Pair, opts Options) error {
	a, b := p.primary(), p.standby()
	bRO, err := b.readOnly(ctx)
	if err != nil {
		return err
	}
	if bRO {
		return refused("%s is read-only: after a failover it is the primary", b)
	}
	if err := a.DB.PingContext(ctx); err != nil {
		return refused("%s does not answer (%v): failback needs it running", a, err)
	}
	if err := a.checkFlavor(ctx); err != nil {
		return err
	}
	return a.checkPrivileges(ctx)
}

// replicatorStopped refuses while the region's own replicator runs: it
// would publish the transactions failback takes out. It looks for the
// replicator's binlog dump thread on the region (a replicator of a
// read-only region reads without writing its heartbeat), then for a
// heartbeat row that moves. (The step that moves the resume position
// fences any replicator that starts later.)
func replicatorStopped(ctx context.Context, a Server, fwd Pipeline) (string, error) {
	if fwd.ReplicatorUser != "" {
		var n int
		err := a.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?`, fwd.ReplicatorUser).Scan(&n)
		if err != nil {
			return "", fmt.Errorf("%s: list binlog dump threads: %w", a, err)
		}
		if n > 0 {
			return "", refused("%d binlog dump thread(s) of %s run on %s: stop drc replicate (cluster %s) during the failback, or it publishes the transactions the failback takes out", n, fwd.ReplicatorUser, a, fwd.Cluster)
		}
	}
	first, _, err := a.heartbeat(ctx, a.Region)
	if err != nil {
		return "", err
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return "", err
	}
	again, _, err := a.heartbeat(ctx, a.Region)
	if err != nil {
		return "", err
	}
	if !again.Equal(first) {
		return "", refused("drc replicate (cluster %s) runs against %s: stop it during the failback, or it publishes the transactions the failback takes out", fwd.Cluster, a)
	}
	return fmt.Sprintf("no replicator reads %s's binlog or writes its heartbeat", a.Region), nil
}

// quarantine reads what the region has beyond the topic's tail and keeps
// it in drc_meta.quarantine and the two files. A rerun starts it over.
func quarantine(ctx context.Context, r *run, p Pair) error {
	a, rep := p.primary(), &r.op.report
	q := rep.Quarantine
	from, err := gtid.Parse(a.Flavor, q.Published)
	if err != nil {
		return err
	}
	to, err := gtid.Parse(a.Flavor, rep.FinalGTIDSet)
	if err != nil {
		return err
	}
	// a may have been down while the other region's drc upgraded: its
	// drc_meta must have the quarantine table.
	if err := drcmeta.Ensure(ctx, a.DB); err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	return a.session(ctx, binlogOff, func(conn *sql.Conn) error {
		return writeQuarantine(ctx, conn, r, p, from, to)
	})
}

// quarantineBatch is how many records one INSERT into drc_meta.quarantine
// carries.
const quarantineBatch = 200

// writeQuarantine is quarantine on a session with the binlog off.
func writeQuarantine(ctx context.Context, conn *sql.Conn, r *run, p Pair, from, to replicator.Position) error {
	a, rep := p.primary(), &r.op.report
	q := rep.Quarantine
	if _, err := conn.ExecContext(ctx, "DELETE FROM drc_meta.quarantine WHERE operation = ?", r.op.id); err != nil {
		return fmt.Errorf("%s: clear drc_meta.quarantine of operation %d: %w", a, r.op.id, err)
	}
	base := filepath.Join(r.opts.QuarantineDir, fmt.Sprintf("drc-quarantine-%s-%d", rep.Cluster, r.op.id))
	q.JSONFile, q.SQLFile = base+".jsonl", base+".sql"
	jf, err := os.OpenFile(q.JSONFile, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("quarantine file: %w", err)
	}
	defer jf.Close()
	sf, err := os.OpenFile(q.SQLFile, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("quarantine file: %w", err)
	}
	defer sf.Close()
	jw, sw := bufio.NewWriter(jf), bufio.NewWriter(sf)
	fmt.Fprintf(sw, "-- drc failback of cluster %s: the transactions %s committed after %s and never published.\n-- Each applies them again as drc's applier would; review before running.\n", rep.Cluster, a.Region, q.Published)
	for _, st := range event.SessionSQL() { // the session the literals are written for
		fmt.Fprintf(sw, "%s;\n", st)
	}
	stmts := applier.NewRowStatements(a.DB, false) // for the SQL file only
	q.GTIDs, q.Transactions, q.Rows = nil, 0, 0
	open := false
	var buf []byte
	// The table gets the records quarantineBatch at a time: one round trip
	// per batch, not per row.
	var batch []any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		stmt := "INSERT INTO drc_meta.quarantine (operation, cluster, gtid, seq, db, tbl, op, record) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?),", len(batch)/8), ",")
		_, err := conn.ExecContext(ctx, stmt, batch...)
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("%s: write drc_meta.quarantine: %w", a, err)
		}
		return nil
	}
	err = p.Forward.Unpublished(ctx, from, to, func(rec *event.Record) error {
		if rec.Op == event.OpDDL {
			return fmt.Errorf("%s's unpublished transaction %s holds DDL (%s), which a failback cannot undo: %s needs drc bootstrap from %s",
				a.Region, rec.GTID, rec.DB, a.Region, rep.To)
		}
		// A transaction's records come together (in binlog order, its
		// partitions' records one after another).
		if len(q.GTIDs) == 0 || q.GTIDs[len(q.GTIDs)-1] != rec.GTID {
			if open {
				sw.WriteString("COMMIT;\n")
			}
			q.GTIDs = append(q.GTIDs, rec.GTID)
			q.Transactions++
			fmt.Fprintf(sw, "\n-- %s, committed %s\nSTART TRANSACTION;\n", rec.GTID, time.UnixMilli(rec.TS).UTC().Format(time.RFC3339Nano))
			open = true
		}
		var err error
		if buf, err = rec.AppendJSON(buf[:0]); err != nil {
			return err
		}
		jw.Write(buf)
		jw.WriteByte('\n')
		batch = append(batch, r.op.id, rep.Cluster, rec.GTID, rec.Seq, rec.DB, rec.Table, string(rec.Op), string(buf))
		if len(batch) >= 8*quarantineBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		if rec.Op.IsRow() {
			q.Rows++
			if err := writeStatement(ctx, sw, stmts, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if open {
		sw.WriteString("COMMIT;\n")
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		if errors.Is(err, replicator.ErrPurged) || errors.Is(err, replicator.ErrIncompleteBinlog) {
			return fmt.Errorf("%w; %s needs drc bootstrap from %s", err, a.Region, rep.To)
		}
		return err
	}
	if err := jw.Flush(); err != nil {
		return err
	}
	return sw.Flush()
}

// writeStatement writes rec's statement with its values as literals, or a
// comment naming the JSON file when a value has no exact literal.
func writeStatement(ctx context.Context, w *bufio.Writer, stmts *applier.RowStatements, rec *event.Record) error {
	query, args, err := stmts.Statement(ctx, rec)
	if err != nil {
		return err
	}
	text, err := event.Interpolate(nil, query, args)
	if errors.Is(err, event.ErrNoLiteral) {
		fmt.Fprintf(w, "-- %s seq %d (%s on %s.%s): a value has no exact SQL literal; see the JSON file\n", rec.GTID, rec.Seq, rec.Op, rec.DB, rec.Table)
		return nil
	}
	if err != nil {
		return err
	}
	w.Write(text)
	w.WriteString(";\n")
	return nil
}

// undo applies the inverse of every quarantined row change of operation,
// newest first, in one transaction on a with the binlog off; each inverse
// must find the row as the transaction left it. The same transaction
// marks the rows undone, so a rerun after it committed does nothing.
func undo(ctx context.Context, a Server, operation int64) (int, error) {
	var done int
	err := a.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM drc_meta.quarantine
		WHERE operation = ? AND undone_at IS NOT NULL AND op IN ('insert', 'update', 'delete')`, operation).Scan(&done)
	if err != nil {
		return 0, fmt.Errorf("%s: read drc_meta.quarantine: %w", a, err)
	}
	if done > 0 {
		return done, nil // a run that crashed after the undo committed
	}
	recs, err := quarantined(ctx, a, operation, true)
	if err != nil {
		return 0, err
	}
	stmts := applier.NewRowStatements(a.DB, true)
	n := 0
	err = a.session(ctx, append(event.SessionSQL(), binlogOff...), func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: begin the undo: %w", a, err)
		}
		defer tx.Rollback()
		for _, rec := range recs {
			if !rec.Op.IsRow() {
				continue // drc's own heartbeat
			}
			inv := inverse(rec)
			if inv == nil {
				continue // an update that changed nothing
			}
			query, args, err := stmts.Statement(ctx, inv)
			if err != nil {
				return fmt.Errorf("undo %s seq %d on %s.%s: %w", rec.GTID, rec.Seq, rec.DB, rec.Table, err)
			}
			res, err := tx.ExecContext(ctx, query, args...)
			if mysqlerr.DuplicateKey(err) {
				return undoConflict(a, rec, "a row with its key exists again")
			}
			if err != nil {
				return fmt.Errorf("undo %s seq %d on %s.%s: %w", rec.GTID, rec.Seq, rec.DB, rec.Table, rowError(err))
			}
			if inv.Op != event.OpInsert {
				if k, err := res.RowsAffected(); err != nil || k != 1 {
					return undoConflict(a, rec, "the row is no longer as the transaction left it")
				}
			}
			n++
		}
		if _, err := tx.ExecContext(ctx, "UPDATE drc_meta.quarantine SET undone_at = CURRENT_TIMESTAMP(6) WHERE operation = ?", operation); err != nil {
			return fmt.Errorf("%s: mark the quarantine undone: %w", a, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: commit the undo: %w", a, err)
		}
		return nil
	})
	return n, err
}

func undoConflict(a Server, rec *event.Record, why string) error {
	return fmt.Errorf("undo of %s seq %d (%s on %s.%s) on %s: %s; nothing was undone. "+
		"Something changed the region's rows after it failed (was drc apply for the new primary's stream already running on it?); "+
		"the quarantine is kept: repair by hand, or re-seed %s with drc bootstrap",
		rec.GTID, rec.Seq, rec.Op, rec.DB, rec.Table, a, why, a.Region)
}

// quarantined reads the records of operation from s's drc_meta.quarantine,
// newest first when reverse.
func quarantined(ctx context.Context, s Server, operation int64, reverse bool) ([]*event.Record, error) {
	rows, err := quarantineRows(ctx, s, operation, reverse, false)
	if err != nil {
		return nil, err
	}
	out := make([]*event.Record, len(rows))
	for i, r := range rows {
		out[i] = r.rec
	}
	return out, nil
}

type quarantineRow struct {
	id  int64
	rec *event.Record
}

// quarantineRows reads the rows of operation, newest first when reverse,
// only those not yet replayed when pending.
func quarantineRows(ctx context.Context, s Server, operation int64, reverse, pending bool) ([]quarantineRow, error) {
	q := "SELECT id, record FROM drc_meta.quarantine WHERE operation = ?"
	if pending {
		q += " AND replayed_at IS NULL"
	}
	q += " ORDER BY id"
	if reverse {
		q += " DESC"
	}
	rows, err := s.DB.QueryContext(ctx, q, operation)
	if err != nil {
		return nil, fmt.Errorf("%s: read drc_meta.quarantine: %w", s, err)
	}
	defer rows.Close()
	var out []quarantineRow
	for rows.Next() {
		var r quarantineRow
		var raw []byte
		if err := rows.Scan(&r.id, &raw); err != nil {
			return nil, fmt.Errorf("%s: read drc_meta.quarantine: %w", s, err)
		}
		if r.rec, err = event.Decode(raw); err != nil {
			return nil, fmt.Errorf("%s: drc_meta.quarantine row %d: %w", s, r.id, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read drc_meta.quarantine: %w", s, err)
	}
	return out, nil
}

// ReplayQuarantine applies the transactions the last failback quarantined
// (and that are not replayed yet) to the pair's current primary, in their
// original order, each as one transaction applied exactly: every row
// change must find the primary's row as its before image says (an insert,
// no row with its key). A transaction that does not apply exactly is left
// out whole and listed, for the operator to settle by hand: the new
// primary's rows are newer than the quarantine's, and no policy can know
// which of the two the business wants. The replayed transactions are
// written with the binlog on, so the pipeline carries them to the other
// region, and are marked replayed in drc_meta.quarantine.
func ReplayQuarantine(ctx context.Context, p Pair, opts Options) (Report, error) {
	opts.defaults()
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	a, b := p.primary(), p.standby()
	rep := Report{Operation: "replay_quarantine", Cluster: p.Forward.Cluster, From: a.Region, DryRun: opts.DryRun, Quarantine: &Quarantine{}}
	fail := func(err error) (Report, error) { return refusedReport(rep, err) }
	last, err := lastOperation(ctx, b, p.Forward.Cluster)
	if err != nil {
		return fail(err)
	}
	if last == nil || last.report.Operation != "failback" || last.report.Outcome != "done" || last.report.Quarantine == nil {
		return fail(refused("%s has no finished failback recorded for cluster %s: nothing is quarantined", b, p.Forward.Cluster))
	}
	target, err := writable(ctx, a, b)
	if err != nil {
		return fail(err)
	}
	rep.To = target.Region
	rows, err := quarantineRows(ctx, a, last.id, false, true)
	if err != nil {
		return fail(err)
	}
	q := rep.Quarantine
	q.JSONFile, q.SQLFile = last.report.Quarantine.JSONFile, last.report.Quarantine.SQLFile
	stmts := applier.NewRowStatements(target.DB, true)
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].rec.GTID == rows[start].rec.GTID {
			end++
		}
		txn := rows[start:end]
		start = end
		q.Transactions++
		if opts.DryRun {
			continue
		}
		applied, why, err := replayTxn(ctx, target, stmts, txn)
		if err != nil {
			return fail(err)
		}
		if !applied {
			q.ReplayConflicts = append(q.ReplayConflicts, txn[0].rec.GTID+": "+why)
			continue
		}
		if err := markReplayed(ctx, a, txn); err != nil {
			return fail(err)
		}
		q.Replayed++
	}
	rep.Outcome = "done"
	if opts.DryRun {
		rep.Outcome = "planned"
	}
	if len(q.ReplayConflicts) > 0 {
		rep.Reason = fmt.Sprintf("%d quarantined transactions do not apply exactly on %s and were left out; they stay in drc_meta.quarantine", len(q.ReplayConflicts), target.Region)
		return rep, fmt.Errorf("%w: %s", ErrRefused, rep.Reason)
	}
	return rep, nil
}

// writable is the one server of the pair that takes writes.
func writable(ctx context.Context, a, b Server) (Server, error) {
	aRO, err := a.readOnly(ctx)
	if err != nil {
		return Server{}, err
	}
	bRO, err := b.readOnly(ctx)
	if err != nil {
		return Server{}, err
	}
	switch {
	case aRO && !bRO:
		return b, nil
	case !aRO && bRO:
		return a, nil
	case aRO:
		return Server{}, refused("%s and %s are both read-only: no primary to replay on", a, b)
	}
	return Server{}, refused("%s and %s are both writable: no single primary to replay on", a, b)
}

// replayTxn applies one quarantined transaction exactly on s, or not at
// all (applied false, with why).
func replayTxn(ctx context.Context, s Server, stmts *applier.RowStatements, txn []quarantineRow) (applied bool, why string, err error) {
	err = s.session(ctx, event.SessionSQL(), func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("%s: begin: %w", s, err)
		}
		defer tx.Rollback()
		for _, r := range txn {
			rec := r.rec
			if !rec.Op.IsRow() {
				continue
			}
			query, args, err := stmts.Statement(ctx, rec)
			if err != nil {
				return fmt.Errorf("replay %s seq %d on %s.%s: %w", rec.GTID, rec.Seq, rec.DB, rec.Table, err)
			}
			res, err := tx.ExecContext(ctx, query, args...)
			if mysqlerr.DuplicateKey(err) {
				why = fmt.Sprintf("%s on %s.%s: a row with its key exists", rec.Op, rec.DB, rec.Table)
				return nil
			}
			if err != nil {
				return fmt.Errorf("replay %s seq %d on %s.%s: %w", rec.GTID, rec.Seq, rec.DB, rec.Table, rowError(err))
			}
			if rec.Op != event.OpInsert {
				if k, err := res.RowsAffected(); err != nil || k != 1 {
					why = fmt.Sprintf("%s on %s.%s: the row differs from its before image", rec.Op, rec.DB, rec.Table)
					return nil
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("%s: commit the replay of %s: %w", s, txn[0].rec.GTID, err)
		}
		applied = true
		return nil
	})
	return applied, why, err
}

// markReplayed sets replayed_at on the rows of a replayed transaction.
func markReplayed(ctx context.Context, a Server, txn []quarantineRow) error {
	return a.session(ctx, binlogOff, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, "UPDATE drc_meta.quarantine SET replayed_at = CURRENT_TIMESTAMP(6) WHERE id BETWEEN ? AND ?", txn[0].id, txn[len(txn)-1].id)
		if err != nil {
			return fmt.Errorf("%s: mark %s replayed in drc_meta.quarantine: %w", a, txn[0].rec.GTID, err)
		}
		return nil
	})
}

// inverse is the row change that undoes rec: an insert's row deleted, an
// update's row set back, a deleted row inserted again. An update that
// changed nothing has none.
func inverse(rec *event.Record) *event.Record {
	inv := *rec
	switch rec.Op {
	case event.OpInsert:
		inv.Op, inv.Before, inv.After = event.OpDelete, rec.After, nil
	case event.OpDelete:
		inv.Op, inv.Before, inv.After = event.OpInsert, nil, rec.Before
	case event.OpUpdate:
		same := len(rec.Before.Values) == len(rec.After.Values)
		for i := 0; same && i < len(rec.Before.Values); i++ {
			same = string(rec.Before.Values[i]) == string(rec.After.Values[i])
		}
		if same {
			return nil
		}
		inv.Before, inv.After = rec.After, rec.Before
	}
	return &inv
}

// planFailback lists the steps of a failback for --dry-run, with what the
// quarantine would hold: the region's position minus the topic's tail.
func planFailback(ctx context.Context, p Pair, rep Report) (Report, error) {
	a := p.primary()
	rep.Outcome = "planned"
	pos, err := a.position(ctx)
	if err != nil {
		return rep, err
	}
	tail, ok, err := p.Forward.tail(ctx)
	if err != nil {
		return rep, err
	}
	detail := fmt.Sprintf("%s is at %s", a.Region, pos)
	if ok {
		detail += "; the topic's committed tail is " + tail.String()
	}
	for _, s := range []struct{ name, detail string }{
		{stepReplicatorStopped, "check that no replicator writes " + a.Region + "'s heartbeat"},
		{stepFenced, a.String() + " read-only for applications; open write transactions killed after --fence-wait"},
		{stepFinal, detail},
		{stepQuarantined, "read " + a.Region + "'s binlog from the tail to its position; keep every transaction found in drc_meta.quarantine and in files"},
		{stepPositionPublished, "publish " + a.Region + "'s position to the topic (fencing any replicator of it): its replicator resumes after it"},
		{stepUndone, "undo them on " + a.Region + " in one transaction, newest first, binlog off, each row checked"},
		{stepReverse, a.Region + " follows " + rep.To + "'s stream from its applier checkpoint"},
	} {
		rep.addStep(s.name, "planned", s.detail, time.Time{})
	}
	return rep, nil
}
