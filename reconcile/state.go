package reconcile

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/drc-dev/drc/internal/drcmeta"
)

// Run state lives on the target, in drc_meta.reconcile_runs and
// drc_meta.reconcile_chunks (defined in package drcmeta), so that a killed
// run resumes where it stopped, from any host. The replicator skips
// drc_meta tables other than its own, so this bookkeeping is never
// replicated.

// Run statuses in drc_meta.reconcile_runs.
const (
	runRunning = "running" // started, not finished cleanly: the next run resumes it
	runDone    = "done"    // finished: the next run with the same id starts over
)

// RunID derives a run's id from what defines it: the cluster, the table
// patterns (order does not matter) and whether it repairs. Running the same
// command again resumes an interrupted run.
func RunID(cluster string, tables []string, repair bool) string {
	ts := slices.Clone(tables)
	slices.Sort(ts)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%t", cluster, strings.Join(ts, "\x00"), repair)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// chunkRecord is one finished chunk as stored.
type chunkRecord struct {
	No     int
	Hi     rowKey // nil: open above
	Last   bool
	Rows   int64
	Result chunkResult
}

// chunkResult is what a chunk found, stored as JSON.
type chunkResult struct {
	Differences []Difference `json:"differences,omitempty"`
	Unsettled   []Unsettled  `json:"unsettled,omitempty"`
}

// stateStore reads and writes the run's state. A nil *stateStore (Resume
// off) keeps nothing.
type stateStore struct {
	db    *sql.DB
	runID string
}

// openState creates the state tables if needed and starts or resumes the
// run. resumed reports an interrupted run being continued.
func openState(ctx context.Context, db *sql.DB, runID, cluster string, tables []string, repair, restart bool) (st *stateStore, resumed bool, err error) {
	if err := drcmeta.Ensure(ctx, db); err != nil {
		return nil, false, fmt.Errorf("keep reconcile state in the target's drc_meta: %w", err)
	}
	st = &stateStore{db: db, runID: runID}
	var status string
	err = db.QueryRowContext(ctx, "SELECT status FROM drc_meta.reconcile_runs WHERE run_id = ?", runID).Scan(&status)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return nil, false, fmt.Errorf("read reconcile run %s: %w", runID, err)
	case status == runRunning && !restart:
		return st, true, nil
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM drc_meta.reconcile_chunks WHERE run_id = ?", runID); err != nil {
		return nil, false, fmt.Errorf("reset reconcile run %s: %w", runID, err)
	}
	list, _ := json.Marshal(tables)
	if _, err := db.ExecContext(ctx, `INSERT INTO drc_meta.reconcile_runs (run_id, cluster, tables_list, repair, status)
		VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE cluster = VALUES(cluster), tables_list = VALUES(tables_list),
		repair = VALUES(repair), status = VALUES(status), started_at = CURRENT_TIMESTAMP(6)`,
		runID, cluster, string(list), repair, runRunning); err != nil {
		return nil, false, fmt.Errorf("start reconcile run %s: %w", runID, err)
	}
	return st, false, nil
}

// finish marks the run done, so the next run starts over.
func (st *stateStore) finish(ctx context.Context) error {
	if st == nil {
		return nil
	}
	if _, err := st.db.ExecContext(ctx, "UPDATE drc_meta.reconcile_runs SET status = ? WHERE run_id = ?", runDone, st.runID); err != nil {
		return fmt.Errorf("finish reconcile run %s: %w", st.runID, err)
	}
	return nil
}

// chunks returns a table's finished chunks in order.
func (st *stateStore) chunks(ctx context.Context, t TableName) ([]chunkRecord, error) {
	if st == nil {
		return nil, nil
	}
	rows, err := st.db.QueryContext(ctx, `SELECT chunk_no, upper_key, is_last, rows_checked, result FROM drc_meta.reconcile_chunks
		WHERE run_id = ? AND db = ? AND tbl = ? ORDER BY chunk_no`, st.runID, t.DB, t.Name)
	if err != nil {
		return nil, fmt.Errorf("read reconcile state of %s: %w", t, err)
	}
	defer rows.Close()
	var out []chunkRecord
	for rows.Next() {
		var c chunkRecord
		var hi sql.NullString
		var result string
		if err := rows.Scan(&c.No, &hi, &c.Last, &c.Rows, &result); err != nil {
			return nil, fmt.Errorf("read reconcile state of %s: %w", t, err)
		}
		if hi.Valid {
			if c.Hi, err = decodeKey(hi.String); err != nil {
				return nil, fmt.Errorf("reconcile state of %s chunk %d: %w", t, c.No, err)
			}
		}
		if err := json.Unmarshal([]byte(result), &c.Result); err != nil {
			return nil, fmt.Errorf("reconcile state of %s chunk %d: %w", t, c.No, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// saveChunk records a finished chunk.
func (st *stateStore) saveChunk(ctx context.Context, t TableName, c chunkRecord) error {
	if st == nil {
		return nil
	}
	var hi any
	if c.Hi != nil {
		hi = encodeKey(c.Hi)
	}
	result, err := json.Marshal(c.Result)
	if err != nil {
		return fmt.Errorf("save reconcile state of %s: %w", t, err)
	}
	if _, err := st.db.ExecContext(ctx, `REPLACE INTO drc_meta.reconcile_chunks
		(run_id, db, tbl, chunk_no, upper_key, is_last, rows_checked, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		st.runID, t.DB, t.Name, c.No, hi, c.Last, c.Rows, string(result)); err != nil {
		return fmt.Errorf("save reconcile state of %s chunk %d: %w", t, c.No, err)
	}
	return nil
}

// encodeKey stores a key as a JSON array of hex strings: keys may be binary.
func encodeKey(k rowKey) string {
	parts := make([]string, len(k))
	for i, v := range k {
		parts[i] = hex.EncodeToString(v)
	}
	b, _ := json.Marshal(parts)
	return string(b)
}

func decodeKey(s string) (rowKey, error) {
	var parts []string
	if err := json.Unmarshal([]byte(s), &parts); err != nil {
		return nil, fmt.Errorf("decode key %q: %w", s, err)
	}
	k := make(rowKey, len(parts))
	for i, p := range parts {
		v, err := hex.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("decode key %q: %w", s, err)
		}
		if v == nil {
			v = []byte{}
		}
		k[i] = v
	}
	return k, nil
}
