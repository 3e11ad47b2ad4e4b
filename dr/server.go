package dr

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/grants"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
)

// Server is one region's MySQL or MariaDB server, reached with the account
// of the applier that writes to it (the account that already bypasses
// read_only on a standby).
type Server struct {
	Region string
	Flavor string // mariadb or mysql
	Addr   string // host:port, for messages
	DB     *sql.DB
}

func (s Server) String() string { return s.Region + " (" + s.Addr + ")" }

func (s Server) flavor() mysqlconn.Flavor { return mysqlconn.Flavor(s.Flavor) }

// readOnly reports whether the server refuses ordinary writes.
func (s Server) readOnly(ctx context.Context) (bool, error) {
	var ro int
	if err := s.DB.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil {
		return false, fmt.Errorf("%s: read @@read_only: %w", s, err)
	}
	return ro != 0, nil
}

// position is the server's GTID position.
func (s Server) position(ctx context.Context) (replicator.Position, error) {
	p, err := replicator.ServerPosition(ctx, s.DB, s.Flavor)
	if err != nil {
		return replicator.Position{}, fmt.Errorf("%s: %w", s, err)
	}
	return p, nil
}

// fenceVariable is what refuses every write (mysqlconn.Flavor.FenceVariable;
// on MariaDB accounts with READ_ONLY ADMIN still write: README).
func (s Server) fenceVariable() string { return s.flavor().FenceVariable() }

// Txn is an open write transaction found on the old primary at the fence.
// Its statements are not read: only who held it and for how long.
type Txn struct {
	Thread       int64     `json:"thread"`
	User         string    `json:"user"`
	Host         string    `json:"host"`
	Started      time.Time `json:"started"`
	RowsModified int64     `json:"rows_modified"`
	Killed       bool      `json:"killed"`
}

// fence makes s refuse writes and ends the write transactions open on it:
// they get wait to finish, then their connections are killed (a killed
// transaction rolls back). SET GLOBAL read_only itself waits for running
// statements, bounded by the same wait.
func (s Server) fence(ctx context.Context, wait time.Duration) ([]Txn, error) {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", s, err)
	}
	defer conn.Close()
	secs := max(1, int(math.Ceil(wait.Seconds())))
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)); err != nil {
		return nil, fmt.Errorf("%s: set lock_wait_timeout: %w", s, err)
	}
	var seen []Txn
	for attempt := 0; ; attempt++ {
		_, err := conn.ExecContext(ctx, "SET GLOBAL "+s.fenceVariable()+" = ON")
		if err == nil {
			break
		}
		if mysqlerr.Number(err) != gomysql.ER_LOCK_WAIT_TIMEOUT || attempt == 2 {
			return seen, fmt.Errorf("%s: SET GLOBAL %s = ON: %w", s, s.fenceVariable(), err)
		}
		// A statement held the commit lock for the whole wait: kill the
		// writers and try again.
		killed, err := s.killWriters(ctx, conn)
		seen = append(seen, killed...)
		if err != nil {
			return seen, err
		}
	}
	deadline := time.Now().Add(wait)
	for {
		open, err := s.writers(ctx, conn)
		if err != nil {
			return seen, err
		}
		seen = mergeTxns(seen, open, false)
		if len(open) == 0 {
			return seen, nil
		}
		if time.Now().After(deadline) {
			killed, err := s.killWriters(ctx, conn)
			return mergeTxns(seen, killed, true), err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return seen, err
		}
	}
}

// writers lists the transactions other than conn's own that have changed
// rows and not ended.
func (s Server) writers(ctx context.Context, conn *sql.Conn) ([]Txn, error) {
	rows, err := conn.QueryContext(ctx, `SELECT t.trx_mysql_thread_id, COALESCE(p.USER, ''), COALESCE(p.HOST, ''),
		CAST(t.trx_started AS CHAR), t.trx_rows_modified
		FROM information_schema.INNODB_TRX t LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
		WHERE t.trx_rows_modified > 0 AND t.trx_mysql_thread_id <> CONNECTION_ID()`)
	if err != nil {
		return nil, fmt.Errorf("%s: list open write transactions: %w", s, err)
	}
	defer rows.Close()
	var out []Txn
	for rows.Next() {
		var t Txn
		var started string
		if err := rows.Scan(&t.Thread, &t.User, &t.Host, &started, &t.RowsModified); err != nil {
			return nil, fmt.Errorf("%s: list open write transactions: %w", s, err)
		}
		t.Started, _ = time.ParseInLocation(time.DateTime, started, time.UTC)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: list open write transactions: %w", s, err)
	}
	return out, nil
}

// killWriters kills the connections of the open write transactions.
func (s Server) killWriters(ctx context.Context, conn *sql.Conn) ([]Txn, error) {
	open, err := s.writers(ctx, conn)
	if err != nil {
		return nil, err
	}
	for i := range open {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", open[i].Thread))
		if err != nil && mysqlerr.Number(err) != gomysql.ER_NO_SUCH_THREAD {
			return open[:i], fmt.Errorf("%s: kill connection %d: %w", s, open[i].Thread, err)
		}
		open[i].Killed = true
	}
	return open, nil
}

// mergeTxns adds the transactions of more not yet in seen; killed marks
// those of more as killed.
func mergeTxns(seen, more []Txn, killed bool) []Txn {
	for _, t := range more {
		i := -1
		for j := range seen {
			if seen[j].Thread == t.Thread {
				i = j
			}
		}
		if i < 0 {
			seen = append(seen, t)
			i = len(seen) - 1
		}
		seen[i].Killed = seen[i].Killed || (killed && t.Killed)
	}
	return seen
}

// makeWritable lifts every write fence.
func (s Server) makeWritable(ctx context.Context) error {
	for _, q := range s.flavor().WritableStatements() {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", s, q, err)
		}
	}
	return nil
}

// makeStandby leaves s read-only for applications while drc's applier,
// whose account bypasses read_only, writes to it: on MySQL this lifts
// super_read_only (which binds the applier too) and keeps read_only.
func (s Server) makeStandby(ctx context.Context) error {
	for _, q := range s.flavor().StandbyStatements() {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", s, q, err)
		}
	}
	return nil
}

// heartbeat is the newest heartbeat of region applied to (or written on)
// s; ok is false when there is none.
func (s Server) heartbeat(ctx context.Context, region string) (ts time.Time, ok bool, err error) {
	var us int64
	err = s.DB.QueryRowContext(ctx, "SELECT ts FROM drc_meta.heartbeat WHERE region = ?", region).Scan(&us)
	switch {
	case err == nil:
		return time.UnixMicro(us), true, nil
	case errors.Is(err, sql.ErrNoRows) || mysqlerr.NoSuchTable(err):
		return time.Time{}, false, nil
	}
	return time.Time{}, false, fmt.Errorf("%s: read drc_meta.heartbeat of region %s: %w", s, region, err)
}

// checkpoint is the applier checkpoint of cluster on s, one row per
// partition; none when the cluster has never been applied there.
func (s Server) checkpoint(ctx context.Context, cluster string) ([]drcmeta.Checkpoint, error) {
	cps, err := drcmeta.ReadCheckpoints(ctx, s.DB, cluster)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return cps, nil
}

// covers reports whether every partition's checkpoint contains pos.
func covers(flavor string, cps []drcmeta.Checkpoint, pos replicator.Position) (bool, error) {
	if len(cps) == 0 {
		return false, nil
	}
	for _, cp := range cps {
		got, err := gtid.Parse(flavor, cp.GTIDSet)
		if err != nil {
			return false, fmt.Errorf("checkpoint of %s partition %d: %w", cp.Cluster, cp.Part, err)
		}
		if !got.Contains(pos) {
			return false, nil
		}
	}
	return true, nil
}

// checkPrivileges names what the account on s lacks to fence, promote and
// kill: changing read_only (and super_read_only), killing other accounts'
// connections, seeing every open transaction, and keeping its own
// drc_meta.dr_operations writes out of the binlog (sql_log_bin).
func (s Server) checkPrivileges(ctx context.Context) error {
	need, err := grants.Need(grants.DR, s.Flavor, grants.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	err = grants.Check(ctx, s.DB, s.String(), need)
	if _, ok := errors.AsType[*grants.MissingError](err); ok {
		return fmt.Errorf("%w: %w", ErrPrivilege, err)
	}
	return err
}

// session runs fn on one connection of s prepared by setup (statements
// such as SET sql_log_bin = 0), and closes that connection rather than
// return it to the pool, so no later statement inherits the session's
// settings.
func (s Server) session(ctx context.Context, setup []string, fn func(*sql.Conn) error) error {
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: connect: %w", s, err)
	}
	defer func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
	}()
	for _, q := range setup {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %s: %w", s, q, err)
		}
	}
	return fn(conn)
}

// binlogOff is the session setup for drc's own bookkeeping on a server:
// it describes that region and is not replicated.
var binlogOff = []string{"SET SESSION sql_log_bin = 0"}

// checkFlavor refuses a server that is not the flavor the config says:
// the fence and the GTID position differ between them.
func (s Server) checkFlavor(ctx context.Context) error {
	f, version, err := mysqlconn.ServerFlavor(ctx, s.DB)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	if f != s.flavor() {
		return fmt.Errorf("%s is %s, but its config says flavor %s", s, version, s.Flavor)
	}
	return nil
}

// rowError is an error from applying a row change, without the server's
// message, which may quote a value of the row (Incorrect string value,
// Duplicate entry): the error number and SQLSTATE say what happened.
func rowError(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Errorf("server error %d (SQLSTATE %s)", me.Number, string(me.SQLState[:]))
	}
	return err
}

// waitUntil polls cond until it holds (true) or timeout passes (false).
func waitUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil || ok {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
