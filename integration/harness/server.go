package harness

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	// DefaultUser and DefaultPassword are the account every instance has,
	// with ALL PRIVILEGES WITH GRANT OPTION from 127.0.0.1 and localhost.
	DefaultUser     = "drc"
	DefaultPassword = "drc"

	mariadbd         = "/usr/sbin/mariadbd"
	mariadbInstallDB = "mariadb-install-db"
	serverReadyLimit = 60 * time.Second // generous: 2 busy cores
	serverStopLimit  = 60 * time.Second // SIGTERM, then SIGKILL
	serverStartTries = 3                // new port each time the port was taken

	// templateRevision changes the template cache key when the way the
	// template is built changes.
	templateRevision = "1"
)

// Flavor is a server's kind: MariaDB (Debian's package) or MySQL (the
// private tree deploy/local/install unpacks). Its value is drc's config word.
type Flavor string

// The two flavors.
const (
	FlavorMariaDB Flavor = "mariadb"
	FlavorMySQL   Flavor = "mysql"
)

// Flavors lists both, MariaDB first, for tests that run on each.
var Flavors = []Flavor{FlavorMariaDB, FlavorMySQL}

// Title is the flavor's name as tests print it: "MariaDB" or "MySQL".
func (f Flavor) Title() string {
	if f == FlavorMySQL {
		return "MySQL"
	}
	return "MariaDB"
}

// ServerOptions configures one instance. The zero value is usable.
type ServerOptions struct {
	ServerID     uint32   // 0: a random id, unique in practice
	GTIDDomainID uint32   // gtid_domain_id (MariaDB only); 0 is MariaDB's default
	ExtraArgs    []string // extra server options, appended last so they override the defaults
	// TLS, if set, makes the server present Cert/Key and refuse plaintext
	// TCP clients (require_secure_transport=ON). The harness's own
	// connections then use the unix socket, which the server trusts.
	TLS *ServerTLS
}

// ServerTLS is a server certificate (PEM files) and its CA.
type ServerTLS struct {
	CA, Cert, Key string
}

// Server is one running (or stopped) mariadbd or mysqld. The exported fields
// are fixed for its lifetime, restarts included.
type Server struct {
	Flavor               Flavor
	Host, User, Password string
	Port                 int
	DataDir              string
	SocketPath           string
	ServerID             uint32
	GTIDDomainID         uint32

	dir     string // instance directory: data, tmp, logs
	errLog  string
	env     *Env
	args    []string
	mu      sync.Mutex
	proc    *process
	adminDB *sql.DB // lazily opened pool for Exec; closed on Stop/Kill
	socket  bool    // the harness connects over the unix socket (TLS required on TCP)
}

// StartMariaDB starts an isolated mariadbd on a free 127.0.0.1 port with its
// own datadir, binlog on (ROW, FULL row image, FULL row metadata), GTID strict
// mode and log_slave_updates, and returns once it accepts logins as the drc
// user. t.Cleanup stops it (SIGTERM, then SIGKILL after a minute) and removes
// its files.
func (e *Env) StartMariaDB(t TB, opts ServerOptions) *Server {
	t.Helper()
	return e.StartServer(t, FlavorMariaDB, opts)
}

// StartMySQL starts an isolated mysqld from the private MySQL tree, set up as
// a drc source must be on MySQL: gtid_mode=ON, enforce_gtid_consistency=ON,
// binlog ROW with FULL row image and FULL row metadata, log_replica_updates,
// and its own server_uuid. The drc user authenticates with MySQL's default
// caching_sha2_password. Otherwise as StartMariaDB.
func (e *Env) StartMySQL(t TB, opts ServerOptions) *Server {
	t.Helper()
	return e.StartServer(t, FlavorMySQL, opts)
}

// StartServer starts an isolated server of the given flavor; see
// StartMariaDB and StartMySQL.
func (e *Env) StartServer(t TB, flavor Flavor, opts ServerOptions) *Server {
	t.Helper()
	e.Ensure(t)
	var tmpl string
	var err error
	switch flavor {
	case FlavorMariaDB:
		tmpl, err = e.mariadbTemplate()
	case FlavorMySQL:
		tmpl, err = e.mysqlTemplate()
	default:
		err = fmt.Errorf("unknown server flavor %q", flavor)
	}
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	dir, err := os.MkdirTemp(e.root, string(flavor)+"-")
	if err != nil {
		t.Fatalf("harness: create %s dir: %v", flavor, err)
	}
	m := &Server{
		Flavor:       flavor,
		Host:         "127.0.0.1",
		User:         DefaultUser,
		Password:     DefaultPassword,
		DataDir:      filepath.Join(dir, "data"),
		SocketPath:   filepath.Join(dir, "mysqld.sock"),
		ServerID:     opts.ServerID,
		GTIDDomainID: opts.GTIDDomainID,
		dir:          dir,
		errLog:       filepath.Join(dir, "error.log"),
		env:          e,
	}
	if m.ServerID == 0 {
		m.ServerID = 1000 + rand.Uint32N(1<<31)
	}
	t.Cleanup(func() { m.cleanup(t) })

	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatalf("harness: create %s tmpdir: %v", flavor, err)
	}
	// Sparse copy: the template's redo log is mostly zeros.
	if out, err := exec.Command("cp", "-a", "--sparse=always", tmpl, m.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("harness: copy %s template: %v: %s", flavor, err, out)
	}
	// MySQL keeps server_uuid in auto.cnf; each copy must make its own, or
	// two regions would issue the same GTIDs.
	if err := os.Remove(filepath.Join(m.DataDir, "auto.cnf")); err != nil && !os.IsNotExist(err) {
		t.Fatalf("harness: %v", err)
	}

	began := time.Now()
	for attempt := 1; ; attempt++ {
		m.Port, err = freePort()
		if err != nil {
			t.Fatalf("harness: %v", err)
		}
		extra := opts.ExtraArgs
		if opts.TLS != nil { // the same options on both flavors
			m.socket = true
			extra = append([]string{"--ssl-ca=" + opts.TLS.CA, "--ssl-cert=" + opts.TLS.Cert, "--ssl-key=" + opts.TLS.Key,
				"--require-secure-transport=ON"}, extra...)
		}
		m.args = m.buildArgs(extra)
		err = m.startAndWait()
		if err == nil {
			break
		}
		portTaken := logMentions(m.errLog, "Address already in use", "Do you already have another server running on port")
		if !portTaken || attempt == serverStartTries {
			t.Fatalf("harness: start %s on %s: %v\nlast lines of %s:\n%s", flavor, m.Addr(), err, m.errLog, logTail(m.errLog, 40))
		}
		t.Logf("harness: %s port %d was taken, retrying on another", flavor, m.Port)
	}
	t.Logf("harness: %s %s (server_id %d, domain %d) up in %v, dir %s",
		flavor, m.Addr(), m.ServerID, m.GTIDDomainID, time.Since(began).Round(time.Millisecond), dir)
	return m
}

func (m *Server) buildArgs(extra []string) []string {
	if m.Flavor == FlavorMySQL {
		return m.mysqlArgs(extra)
	}
	args := []string{
		mariadbd,
		"--no-defaults", // must be first: never read /etc/mysql
		"--datadir=" + m.DataDir,
		"--tmpdir=" + filepath.Join(m.dir, "tmp"),
		"--socket=" + m.SocketPath,
		"--pid-file=" + filepath.Join(m.dir, "mysqld.pid"),
		"--log-error=" + m.errLog,
		"--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(m.Port),
		"--server-id=" + strconv.FormatUint(uint64(m.ServerID), 10),
		"--gtid-domain-id=" + strconv.FormatUint(uint64(m.GTIDDomainID), 10),
		"--log-bin=mariadb-bin",
		"--relay-log=mariadb-relay-bin",
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--gtid-strict-mode=ON",
		"--log-slave-updates=ON",
		"--skip-name-resolve",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-connections=500",
		"--max-allowed-packet=64M",
		// Survives a killed mariadbd (the OS keeps the writes), not an OS
		// crash; no test crashes the OS.
		"--innodb-flush-log-at-trx-commit=2",
		"--innodb-doublewrite=0",
		"--sync-binlog=0",
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	return append(args, extra...)
}

// startAndWait starts mariadbd with m.args and waits until the drc user can
// log in over TCP.
func (m *Server) startAndWait() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.env.start(string(m.Flavor)+" "+m.Addr(), filepath.Join(m.dir, "stdout.log"), m.args)
	if err != nil {
		return err
	}
	m.proc = p
	db, err := sql.Open("mysql", m.dsn("", 2*time.Second))
	if err != nil {
		return fmt.Errorf("open dsn: %w", err)
	}
	deadline := time.Now().Add(serverReadyLimit)
	var lastErr error
	for {
		if !p.running() {
			db.Close()
			return fmt.Errorf("%s exited during startup: %s", m.Flavor, p.exitDescription())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		lastErr = db.PingContext(ctx)
		cancel()
		if lastErr == nil {
			m.adminDB = db
			return nil
		}
		if time.Now().After(deadline) {
			db.Close()
			p.kill()
			return fmt.Errorf("not ready after %v: %w", serverReadyLimit, lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cleanup runs at the end of the test that started the server.
func (m *Server) cleanup(t TB) {
	m.mu.Lock()
	if m.adminDB != nil {
		m.adminDB.Close()
		m.adminDB = nil
	}
	p := m.proc
	m.mu.Unlock()
	if p != nil && p.stop(serverStopLimit) {
		t.Logf("harness: %s %s did not stop within %v; killed", m.Flavor, m.Addr(), serverStopLimit)
	}
	if t.Failed() {
		t.Logf("harness: last lines of %s:\n%s", m.errLog, logTail(m.errLog, 20))
		if keepDirs() {
			t.Logf("harness: kept %s (DRC_HARNESS_KEEP=1)", m.dir)
			return
		}
	}
	os.RemoveAll(m.dir)
}

// Addr returns "127.0.0.1:port".
func (m *Server) Addr() string { return m.Host + ":" + strconv.Itoa(m.Port) }

// DSN returns a go-sql-driver DSN for db (may be empty) over TCP, with
// multiStatements=true and interpolateParams=false.
func (m *Server) DSN(db string) string { return m.dsn(db, 10*time.Second) }

func (m *Server) dsn(db string, dialTimeout time.Duration) string {
	cfg := mysql.NewConfig()
	cfg.User = m.User
	cfg.Passwd = m.Password
	cfg.Net = "tcp"
	cfg.Addr = m.Addr()
	if m.socket {
		cfg.Net, cfg.Addr = "unix", m.SocketPath
	}
	cfg.DBName = db
	cfg.MultiStatements = true
	cfg.InterpolateParams = false
	cfg.Timeout = dialTimeout
	return cfg.FormatDSN()
}

// Open returns a pool connected to db (may be empty), verified with a ping.
// It is closed when the test ends.
func (m *Server) Open(t TB, db string) *sql.DB {
	t.Helper()
	pool, err := sql.Open("mysql", m.DSN(db))
	if err != nil {
		t.Fatalf("harness: open %s/%s: %v", m.Addr(), db, err)
	}
	t.Cleanup(func() { pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pool.PingContext(ctx); err != nil {
		t.Fatalf("harness: connect %s/%s: %v", m.Addr(), db, err)
	}
	return pool
}

// Exec runs each statement (several may share one string) and fails the test
// naming the first statement that fails.
func (m *Server) Exec(t TB, stmts ...string) {
	t.Helper()
	db, err := m.admin()
	if err != nil {
		t.Fatalf("harness: exec on %s: %v", m.Addr(), err)
	}
	for _, stmt := range stmts {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		_, err := db.ExecContext(ctx, stmt)
		cancel()
		if err != nil {
			t.Fatalf("harness: exec on %s: %q: %v", m.Addr(), abbreviate(stmt, 300), err)
		}
	}
}

// BinlogGTIDPos returns the GTID position after the last transaction written
// to the binlog: @@global.gtid_binlog_pos on MariaDB ("1-1-42"),
// @@global.gtid_executed on MySQL ("uuid:1-42", one line).
func (m *Server) BinlogGTIDPos(t TB) string {
	t.Helper()
	db, err := m.admin()
	if err != nil {
		t.Fatalf("harness: GTID position of %s: %v", m.Addr(), err)
	}
	q := "SELECT @@global.gtid_binlog_pos"
	if m.Flavor == FlavorMySQL {
		q = "SELECT REPLACE(@@global.gtid_executed, '\\n', '')"
	}
	var pos string
	if err := db.QueryRow(q).Scan(&pos); err != nil {
		t.Fatalf("harness: GTID position of %s: %v", m.Addr(), err)
	}
	return pos
}

func (m *Server) admin() (*sql.DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || !m.proc.running() {
		return nil, fmt.Errorf("%s %w", m.Flavor, errNotRunning)
	}
	if m.adminDB == nil {
		db, err := sql.Open("mysql", m.DSN(""))
		if err != nil {
			return nil, err
		}
		m.adminDB = db
	}
	return m.adminDB, nil
}

// Stop shuts the server down (SIGTERM; SIGKILL after a minute) and keeps its
// datadir, for outage tests. Start brings it back on the same port.
func (m *Server) Stop(t TB) {
	t.Helper()
	p := m.detach()
	if p == nil || !p.running() {
		t.Fatalf("harness: stop %s %s: %v", m.Flavor, m.Addr(), errNotRunning)
	}
	if p.stop(serverStopLimit) {
		t.Logf("harness: %s %s did not stop within %v; killed", m.Flavor, m.Addr(), serverStopLimit)
	}
}

// Kill stops the server with SIGKILL, as a crash would. Start recovers it.
func (m *Server) Kill(t TB) {
	t.Helper()
	p := m.detach()
	if p == nil || !p.running() {
		t.Fatalf("harness: kill %s %s: %v", m.Flavor, m.Addr(), errNotRunning)
	}
	p.kill()
}

// detach closes the admin pool and returns the current process.
func (m *Server) detach() *process {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.adminDB != nil {
		m.adminDB.Close()
		m.adminDB = nil
	}
	return m.proc
}

// Start restarts a stopped or killed server with the same datadir, port and
// options, and waits until it accepts logins.
func (m *Server) Start(t TB) {
	t.Helper()
	m.mu.Lock()
	running := m.proc != nil && m.proc.running()
	m.mu.Unlock()
	if running {
		t.Fatalf("harness: start %s %s: already running", m.Flavor, m.Addr())
	}
	began := time.Now()
	if err := m.startAndWait(); err != nil {
		t.Fatalf("harness: restart %s %s: %v\nlast lines of %s:\n%s", m.Flavor, m.Addr(), err, m.errLog, logTail(m.errLog, 40))
	}
	t.Logf("harness: %s %s restarted in %v", m.Flavor, m.Addr(), time.Since(began).Round(time.Millisecond))
}

// Running reports whether the server process is alive.
func (m *Server) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc != nil && m.proc.running()
}

// Pid returns the server's process id, or 0 when it is not running.
func (m *Server) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || !m.proc.running() {
		return 0
	}
	return m.proc.pid()
}

// ErrorLogPath returns the path of the server's error log.
func (m *Server) ErrorLogPath() string { return m.errLog }

// mariadbTemplate returns a datadir with the system tables and the drc
// user, built once per machine and server version under the cache directory.
// Building it takes about a second; copying it is faster still.
func (e *Env) mariadbTemplate() (string, error) {
	e.templateMu.Lock()
	defer e.templateMu.Unlock()
	if e.template != "" || e.templateErr != nil {
		return e.template, e.templateErr
	}
	e.template, e.templateErr = buildTemplate(e.cache)
	return e.template, e.templateErr
}

func buildTemplate(cache string) (string, error) {
	version, err := exec.Command(mariadbd, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mariadbd --version: %w", err)
	}
	return cachedTemplate(cache, "mariadb", version, func(tmp string) error {
		tmpData := filepath.Join(tmp, "data")
		install := []string{
			"--no-defaults",
			"--datadir=" + tmpData,
			"--auth-root-authentication-method=normal",
			"--skip-test-db",
			"--skip-name-resolve",
		}
		if os.Geteuid() == 0 {
			install = append(install, "--user=root")
		}
		if out, err := exec.Command(mariadbInstallDB, install...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", mariadbInstallDB, err, lastLines(string(out), 30))
		}
		// Bootstrap mode runs without grant tables loaded; FLUSH PRIVILEGES
		// loads them so CREATE USER and GRANT work.
		boot := []string{"--no-defaults", "--bootstrap", "--datadir=" + tmpData, "--skip-log-bin",
			"--log-error=" + filepath.Join(tmp, "bootstrap.log")}
		if os.Geteuid() == 0 {
			boot = append(boot, "--user=root")
		}
		cmd := exec.Command(mariadbd, boot...)
		cmd.Stdin = strings.NewReader("FLUSH PRIVILEGES;\n" + drcUserSQL())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("create drc user: %w\n%s\n%s", err, out, logTail(filepath.Join(tmp, "bootstrap.log"), 20))
		}
		return nil
	})
}

// drcUserSQL creates DefaultUser with every privilege, from every loopback
// host, with the server's default authentication plugin.
func drcUserSQL() string {
	var b strings.Builder
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		fmt.Fprintf(&b, "CREATE USER '%s'@'%s' IDENTIFIED BY '%s';\n", DefaultUser, host, DefaultPassword)
		fmt.Fprintf(&b, "GRANT ALL PRIVILEGES ON *.* TO '%s'@'%s' WITH GRANT OPTION;\n", DefaultUser, host)
	}
	return b.String()
}

// cachedTemplate returns the data directory of flavor's template for
// version under cache, building it once per machine: build fills tmp/data.
// Concurrent builders wait for one another (a file lock); the result moves
// into place with its completion marker, so an interrupted build is redone.
func cachedTemplate(cache, flavor string, version []byte, build func(tmp string) error) (string, error) {
	key := templateRevision + "\x00" + string(version) + "\x00" + strconv.Itoa(os.Geteuid())
	if flavor != "mariadb" {
		key = templateRevision + "\x00" + flavor + "\x00" + string(version) + "\x00" + strconv.Itoa(os.Geteuid())
	}
	sum := sha256.Sum256([]byte(key))
	final := filepath.Join(cache, flavor+"-template-"+hex.EncodeToString(sum[:6]))
	data := filepath.Join(final, "data")
	marker := filepath.Join(final, "complete")
	if _, err := os.Stat(marker); err == nil {
		return data, nil
	}
	lock, err := os.OpenFile(filepath.Join(cache, "."+flavor+"-template.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("%s template lock: %w", flavor, err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("%s template lock: %w", flavor, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(marker); err == nil {
		return data, nil // another builder finished while we waited
	}
	tmp, err := os.MkdirTemp(cache, "."+flavor+"-template-tmp-")
	if err != nil {
		return "", fmt.Errorf("%s template: %w", flavor, err)
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		return "", fmt.Errorf("%s template: %w", flavor, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), version, 0o644); err != nil {
		return "", fmt.Errorf("%s template: %w", flavor, err)
	}
	os.RemoveAll(final) // a partial one from an interrupted build
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("%s template: %w", flavor, err)
	}
	return data, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
