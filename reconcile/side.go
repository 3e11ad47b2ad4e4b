package reconcile

import (
	"context"
	"database/sql"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// sessionInit gives every connection reconcile uses the same session state on
// both sides, because the encodings depend on it:
//   - utf8mb4 results, so text arrives in one character set (repairs send it
//     back with a utf8mb4 introducer);
//   - time_zone UTC, so TIMESTAMP text is the same on both sides;
//   - a sql_mode without PAD_CHAR_TO_FULL_LENGTH, ANSI_QUOTES or
//     NO_BACKSLASH_ESCAPES, strict so a repair that does not fit fails, and
//     NO_AUTO_VALUE_ON_ZERO so a repaired 0 stays 0;
//   - group_concat_max_len as large as the server allows, so parts rarely
//     hit it (hitting it is detected, not silent);
//   - REPEATABLE READ, so WITH CONSISTENT SNAPSHOT takes a snapshot.
var sessionInit = []string{
	"SET NAMES utf8mb4",
	"SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', group_concat_max_len = @@global.max_allowed_packet",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
}

// openConn takes a connection from pool and initialises its session.
func openConn(ctx context.Context, pool *sql.DB) (*sql.Conn, error) {
	c, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, stmt := range sessionInit {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			c.Close()
			return nil, fmt.Errorf("init session (%s): %w", stmt, err)
		}
	}
	return c, nil
}

// partHash is one part's row count and digest on one side.
type partHash struct {
	count  int64
	digest string // "" for an empty part
}

// sideConn is one side of one table: a dedicated connection and the
// statements for the table. It is used by one goroutine at a time.
type sideConn struct {
	side     dbSide
	conn     *sql.Conn
	b        *builder
	flavor   Flavor
	lockWait int // innodb_lock_wait_timeout set on the session; 0: not set
}

// position reads the current source position. Only meaningful on the source.
func (s *sideConn) position(ctx context.Context) (gtid.Set, error) {
	var text string
	if err := s.conn.QueryRowContext(ctx, mysqlconn.Flavor(s.flavor).PositionQuery()).Scan(&text); err != nil {
		return gtid.Set{}, fmt.Errorf("read %s position: %w", s.side, err)
	}
	return gtid.Parse(string(s.flavor), text)
}

// hashParts hashes parts in one statement. With snapshot (the source), the
// statement runs in a consistent-snapshot transaction and pos is the GTID
// position read in it, after the snapshot was taken: an upper bound of what
// the snapshot contains (everything visible in it was binlogged earlier),
// which is what settling needs. truncated reports a GROUP_CONCAT cut short.
func (s *sideConn) hashParts(ctx context.Context, parts []keyRange, snapshot bool) (hashes []partHash, pos gtid.Set, truncated bool, err error) {
	q, err := s.b.partsHashSQL(s.side, parts)
	if err != nil {
		return nil, pos, false, fmt.Errorf("hash %s: %w", s.b.t.Name, err)
	}
	if snapshot {
		if _, err := s.conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, pos, false, fmt.Errorf("hash %s on %s: start snapshot: %w", s.b.t.Name, s.side, err)
		}
		defer func() {
			// A read-only transaction: COMMIT only ends the snapshot.
			if _, cerr := s.conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); cerr != nil && err == nil {
				err = fmt.Errorf("hash %s on %s: end snapshot: %w", s.b.t.Name, s.side, cerr)
			}
		}()
	}
	hashes = make([]partHash, len(parts))
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, pos, false, fmt.Errorf("hash %s on %s: %w", s.b.t.Name, s.side, err)
	}
	for rows.Next() {
		var i int
		var n int64
		var d sql.NullString
		if err := rows.Scan(&i, &n, &d); err != nil {
			rows.Close()
			return nil, pos, false, fmt.Errorf("hash %s on %s: %w", s.b.t.Name, s.side, err)
		}
		if i < 0 || i >= len(parts) {
			rows.Close()
			return nil, pos, false, fmt.Errorf("hash %s on %s: part %d out of range", s.b.t.Name, s.side, i)
		}
		hashes[i] = partHash{count: n, digest: d.String}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, pos, false, fmt.Errorf("hash %s on %s: %w", s.b.t.Name, s.side, err)
	}
	// @@warning_count still describes the hash statement: a SELECT of
	// variables only does not reset it.
	var warnings int
	var posText sql.NullString
	probe := "SELECT @@warning_count, NULL"
	if snapshot {
		probe = "SELECT @@warning_count, " + mysqlconn.Flavor(s.flavor).PositionVariable()
	}
	if err := s.conn.QueryRowContext(ctx, probe).Scan(&warnings, &posText); err != nil {
		return nil, pos, false, fmt.Errorf("hash %s on %s: read warnings: %w", s.b.t.Name, s.side, err)
	}
	if warnings > 0 {
		if truncated, err = s.groupConcatCut(ctx); err != nil {
			return nil, pos, false, err
		}
	}
	if snapshot {
		if pos, err = gtid.Parse(string(s.flavor), posText.String); err != nil {
			return nil, pos, false, fmt.Errorf("hash %s on %s: %w", s.b.t.Name, s.side, err)
		}
	}
	return hashes, pos, truncated, nil
}

// groupConcatCut reports whether the last statement's warnings include
// "Row N was cut by GROUP_CONCAT()" (1260).
func (s *sideConn) groupConcatCut(ctx context.Context) (bool, error) {
	rows, err := s.conn.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		return false, fmt.Errorf("hash %s on %s: show warnings: %w", s.b.t.Name, s.side, err)
	}
	defer rows.Close()
	cut := false
	for rows.Next() {
		var level, msg string
		var code uint16
		if err := rows.Scan(&level, &code, &msg); err != nil {
			return false, fmt.Errorf("hash %s on %s: show warnings: %w", s.b.t.Name, s.side, err)
		}
		if code == gomysql.ER_CUT_VALUE_GROUP_CONCAT {
			cut = true
		}
	}
	return cut, rows.Err()
}

// rowDigest is one row's key and the MD5 of its encoding.
type rowDigest struct {
	key    rowKey
	digest string
}

// rowDigests lists the rows of r with their digests, keyed by rowKey.id().
func (s *sideConn) rowDigests(ctx context.Context, r keyRange) (map[string]rowDigest, error) {
	q, err := s.b.rowDigestsSQL(s.side, r)
	if err != nil {
		return nil, fmt.Errorf("row digests of %s: %w", s.b.t.Name, err)
	}
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("row digests of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	defer rows.Close()
	nk := len(s.b.t.Key)
	out := map[string]rowDigest{}
	for rows.Next() {
		vals := make([][]byte, nk+1)
		dest := make([]any, nk+1)
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("row digests of %s on %s: %w", s.b.t.Name, s.side, err)
		}
		k := rowKey(vals[:nk])
		out[k.id()] = rowDigest{key: k, digest: string(vals[nk])}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("row digests of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	return out, nil
}

// queryKeys runs q and scans each row as a rowKey.
func (s *sideConn) queryKeys(ctx context.Context, q string, err error) ([]rowKey, error) {
	if err != nil {
		return nil, err
	}
	rows, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	nk := len(s.b.t.Key)
	var out []rowKey
	for rows.Next() {
		k := make(rowKey, nk)
		dest := make([]any, nk)
		for i := range k {
			dest[i] = &k[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		for i := range k {
			if k[i] == nil {
				// Only MIN/MAX over no rows yields NULL: no key.
				return out, rows.Err()
			}
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// splitKey returns the key at offset within r, or false if r has fewer rows.
func (s *sideConn) splitKey(ctx context.Context, r keyRange, offset int64) (rowKey, bool, error) {
	q, err := s.b.keyAtSQL(s.side, r, offset)
	keys, err := s.queryKeys(ctx, q, err)
	if err != nil {
		return nil, false, fmt.Errorf("split %s on %s: %w", s.b.t.Name, s.side, err)
	}
	if len(keys) == 0 {
		return nil, false, nil
	}
	return keys[0], true, nil
}

// sampleKeys returns up to limit keys after lo, in key order.
func (s *sideConn) sampleKeys(ctx context.Context, lo rowKey, limit int) ([]rowKey, error) {
	q, err := s.b.sampleKeysSQL(s.side, lo, limit)
	keys, err := s.queryKeys(ctx, q, err)
	if err != nil {
		return nil, fmt.Errorf("sample keys of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	return keys, nil
}

// bounds returns the smallest and largest single-column key (nil if empty).
func (s *sideConn) bounds(ctx context.Context) (lo, hi []byte, err error) {
	if err := s.conn.QueryRowContext(ctx, s.b.boundsSQL(s.side)).Scan(&lo, &hi); err != nil {
		return nil, nil, fmt.Errorf("key bounds of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	return lo, hi, nil
}

// nextKey returns the smallest single-column key above after (nil if none).
func (s *sideConn) nextKey(ctx context.Context, after rowKey) ([]byte, error) {
	q, err := s.b.nextKeySQL(s.side, after)
	if err != nil {
		return nil, fmt.Errorf("next key of %s: %w", s.b.t.Name, err)
	}
	var k []byte
	if err := s.conn.QueryRowContext(ctx, q).Scan(&k); err != nil {
		return nil, fmt.Errorf("next key of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	return k, nil
}

// readRows reads whole rows by key, keyed by rowKey.id(). With snapshot it runs
// in a consistent-snapshot transaction and returns the position read in it
// (see hashParts).
func (s *sideConn) readRows(ctx context.Context, keys []rowKey, snapshot bool) (rows map[string]rowImage, pos gtid.Set, err error) {
	if snapshot {
		if _, err := s.conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return nil, pos, fmt.Errorf("read rows of %s on %s: start snapshot: %w", s.b.t.Name, s.side, err)
		}
		defer func() {
			if _, cerr := s.conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); cerr != nil && err == nil {
				err = fmt.Errorf("read rows of %s on %s: end snapshot: %w", s.b.t.Name, s.side, cerr)
			}
		}()
		if pos, err = s.position(ctx); err != nil {
			return nil, pos, err
		}
	}
	rows, err = s.selectRows(ctx, keys, false)
	return rows, pos, err
}

// lockRows begins a transaction, reads the rows by key with shared locks and
// then the source position. Every transaction that wrote those rows released
// its locks at commit, after its binlog write, so pos includes all of them;
// and while the transaction stays open no writer can change the rows, so no
// later transaction touches them either. The caller ends the transaction
// with release.
func (s *sideConn) lockRows(ctx context.Context, keys []rowKey, lockWait int) (map[string]rowImage, gtid.Set, error) {
	var pos gtid.Set
	if s.lockWait != lockWait {
		if _, err := s.conn.ExecContext(ctx, fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", lockWait)); err != nil {
			return nil, pos, fmt.Errorf("lock rows of %s: %w", s.b.t.Name, err)
		}
		s.lockWait = lockWait
	}
	if _, err := s.conn.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return nil, pos, fmt.Errorf("lock rows of %s: begin: %w", s.b.t.Name, err)
	}
	rows, err := s.selectRows(ctx, keys, true)
	if err != nil {
		s.release(ctx)
		return nil, pos, err
	}
	if pos, err = s.position(ctx); err != nil {
		s.release(ctx)
		return nil, pos, err
	}
	return rows, pos, nil
}

// release ends lockRows' transaction. It runs even when ctx is cancelled:
// locks must never outlive the comparison.
func (s *sideConn) release(ctx context.Context) {
	_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
}

// readBatch bounds the keys per SELECT: long IN lists (and, for composite
// keys, long OR lists) are cheap for the server only up to a point.
const readBatch = 1000

// selectRows reads rows by key, readBatch keys per statement. Inside a
// transaction the statements share its snapshot (or its locks).
func (s *sideConn) selectRows(ctx context.Context, keys []rowKey, lock bool) (map[string]rowImage, error) {
	out := map[string]rowImage{}
	for len(keys) > 0 {
		n := min(readBatch, len(keys))
		if err := s.selectBatch(ctx, keys[:n], lock, out); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return out, nil
}

func (s *sideConn) selectBatch(ctx context.Context, keys []rowKey, lock bool, out map[string]rowImage) error {
	q, err := s.b.rowsSQL(s.side, keys, lock)
	if err != nil {
		return fmt.Errorf("read rows of %s: %w", s.b.t.Name, err)
	}
	rs, err := s.conn.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("read rows of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	defer rs.Close()
	n := len(s.b.t.Columns)
	for rs.Next() {
		r := make(rowImage, n)
		dest := make([]any, n)
		for i := range r {
			dest[i] = &r[i]
		}
		if err := rs.Scan(dest...); err != nil {
			return fmt.Errorf("read rows of %s on %s: %w", s.b.t.Name, s.side, err)
		}
		out[s.b.key(r).id()] = r
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read rows of %s on %s: %w", s.b.t.Name, s.side, err)
	}
	return nil
}

// markRepairs turns off binary logging for the connection's session, so the
// repairs it writes are not replicated: not back to the source by the
// target's own replicator, and not to anyone else. It needs SUPER or BINLOG
// ADMIN.
func markRepairs(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, "SET SESSION sql_log_bin = 0"); err != nil {
		if mysqlerr.Denied(err) {
			return fmt.Errorf("%w: SET SESSION sql_log_bin=0 on the target: %v (grant BINLOG ADMIN or SUPER to the reconcile user, or run without repair and apply the printed SQL yourself)", ErrRepairNotMarked, err)
		}
		return fmt.Errorf("SET SESSION sql_log_bin=0 on the target: %w", err)
	}
	return nil
}

// execRepairs runs statements in one transaction on a marked connection.
func execRepairs(ctx context.Context, c *sql.Conn, stmts []string) error {
	if _, err := c.ExecContext(ctx, "START TRANSACTION"); err != nil {
		return fmt.Errorf("begin repair: %w", err)
	}
	for _, q := range stmts {
		if _, err := c.ExecContext(ctx, q); err != nil {
			_, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return fmt.Errorf("repair %s: %w", abbreviate(q, 200), err)
		}
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = c.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("commit repair: %w", err)
	}
	return nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
