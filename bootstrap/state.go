package bootstrap

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// The target's metadata, defined in package drcmeta: bootstrap_state has
// one row per cluster; bootstrap_chunks one row per copied chunk, written
// in the same target transaction as the chunk's rows. apply_checkpoint
// belongs to the applier; bootstrap writes its first rows (handOver).

// Status values of bootstrap_state.
const (
	statusCopying = "copying"
	statusDone    = "done"
)

// runState is the cluster's bootstrap_state row.
type runState struct {
	Exists       bool
	Generation   int
	SnapshotGTID string
	Status       string
	Tables       []string
}

func loadState(ctx context.Context, q queryRower, cluster string) (runState, error) {
	var s runState
	var tables string
	err := q.QueryRowContext(ctx, "SELECT generation, snapshot_gtid, status, tables_json FROM drc_meta.bootstrap_state WHERE cluster = ?",
		cluster).Scan(&s.Generation, &s.SnapshotGTID, &s.Status, &tables)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read drc_meta.bootstrap_state: %w", err)
	}
	s.Exists = true
	if err := json.Unmarshal([]byte(tables), &s.Tables); err != nil {
		return s, fmt.Errorf("read drc_meta.bootstrap_state: tables_json: %w", err)
	}
	return s, nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// saveState records a new generation: its snapshot position and the tables
// it copies.
func saveState(ctx context.Context, e execer, cluster, origin string, s runState) error {
	tables, err := json.Marshal(s.Tables)
	if err != nil {
		return err
	}
	_, err = e.ExecContext(ctx, `INSERT INTO drc_meta.bootstrap_state (cluster, origin, generation, snapshot_gtid, status, tables_json)
		VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE origin = VALUES(origin), generation = VALUES(generation),
		snapshot_gtid = VALUES(snapshot_gtid), status = VALUES(status), tables_json = VALUES(tables_json)`,
		cluster, origin, s.Generation, s.SnapshotGTID, s.Status, string(tables))
	if err != nil {
		return fmt.Errorf("write drc_meta.bootstrap_state: %w", err)
	}
	return nil
}

// chunkRec is one bootstrap_chunks row. Lo and Hi are EncodeKey forms; ""
// is open (minus infinity for Lo, plus infinity for Hi). A chunk covers
// (Lo, Hi].
type chunkRec struct {
	Seq        int64
	Lo, Hi     string
	Rows       int64
	Generation int
}

// loadChunks returns the recorded chunks per db.table, in seq order.
func loadChunks(ctx context.Context, db *sql.DB, cluster string) (map[[2]string][]chunkRec, error) {
	rows, err := db.QueryContext(ctx, `SELECT db, tbl, seq, lo_key, hi_key, row_count, generation
		FROM drc_meta.bootstrap_chunks WHERE cluster = ? ORDER BY db, tbl, seq`, cluster)
	if err != nil {
		return nil, fmt.Errorf("read drc_meta.bootstrap_chunks: %w", err)
	}
	defer rows.Close()
	out := map[[2]string][]chunkRec{}
	for rows.Next() {
		var d, t string
		var c chunkRec
		if err := rows.Scan(&d, &t, &c.Seq, &c.Lo, &c.Hi, &c.Rows, &c.Generation); err != nil {
			return nil, fmt.Errorf("read drc_meta.bootstrap_chunks: %w", err)
		}
		out[[2]string{d, t}] = append(out[[2]string{d, t}], c)
	}
	return out, rows.Err()
}

const sqlSaveChunk = `INSERT INTO drc_meta.bootstrap_chunks (cluster, db, tbl, seq, lo_key, hi_key, row_count, generation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE lo_key = VALUES(lo_key), hi_key = VALUES(hi_key),
row_count = VALUES(row_count), generation = VALUES(generation)`

// stepKind says what a planned step does with a range.
type stepKind int

const (
	// stepCopy: the range has never been written to the target; copy it
	// from the current snapshot with plain INSERTs.
	stepCopy stepKind = iota
	// stepRefresh: the range was copied from an older snapshot; compare it
	// with the current one and rewrite it only if it changed.
	stepRefresh
)

// step is one planned chunk of a resumed table.
type step struct {
	Kind   stepKind
	Seq    int64
	Lo, Hi string
}

// tablePlan is what remains to do for one table in generation gen: the
// steps over the recorded chunks and their gaps, in key order, then, when
// Tail is set, new chunks from TailLo (numbered from TailSeq) to the end of
// the table.
type tablePlan struct {
	Steps   []step
	Tail    bool
	TailSeq int64
	TailLo  string
	// Current counts the chunks already at gen, kept as they are.
	Current     int
	CurrentRows int64
}

// planTable works out the rest of a table's copy from its recorded chunks.
// Chunks are created in key order, each starting at the exact stored key
// its predecessor ended at, so a missing chunk (its transaction was lost
// with the killed run) shows as a chunk whose Lo differs from the previous
// Hi; the gap gets the first free seq number between them and is copied as
// one chunk.
func planTable(chunks []chunkRec, gen int) (tablePlan, error) {
	var p tablePlan
	prevHi, prevSeq := "", int64(0)
	for i, c := range chunks {
		if i > 0 && prevHi == "" {
			return p, fmt.Errorf("chunk %d follows a chunk open to the end", c.Seq)
		}
		if c.Lo != prevHi {
			if c.Seq <= prevSeq+1 {
				return p, fmt.Errorf("chunk %d does not start where chunk %d ended, and no seq is free for the gap", c.Seq, prevSeq)
			}
			p.Steps = append(p.Steps, step{Kind: stepCopy, Seq: prevSeq + 1, Lo: prevHi, Hi: c.Lo})
		}
		if c.Generation < gen {
			p.Steps = append(p.Steps, step{Kind: stepRefresh, Seq: c.Seq, Lo: c.Lo, Hi: c.Hi})
		} else {
			p.Current++
			p.CurrentRows += c.Rows
		}
		prevHi, prevSeq = c.Hi, c.Seq
	}
	if len(chunks) == 0 || prevHi != "" {
		p.Tail, p.TailSeq, p.TailLo = true, prevSeq+1, prevHi
	}
	return p, nil
}
