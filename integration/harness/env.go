package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TB is the subset of testing.TB the helpers need. *testing.T, *testing.B and
// *ProgramTB satisfy it, so benchmarks and programs can start servers too.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// modulePath identifies the repository root when walking up to go.mod.
const modulePath = "github.com/drc-dev/drc"

// installTimeout bounds deploy/local/install; apt and maven on a fresh
// machine are slow, a cached run takes well under a second.
const installTimeout = 30 * time.Minute

// mainEnv is the per-test-binary Env used by the package-level helpers. It is
// owned by Main: set before m.Run and closed after it. Nothing else writes it.
var mainEnv *Env

// Main runs the package's tests with a fresh Env and closes it afterwards,
// which stops the shared broker (if one was started) and any server still
// running. It starts nothing eagerly. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
func Main(m *testing.M) int {
	env, err := NewEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 2
	}
	mainEnv = env
	code := m.Run()
	if err := env.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: close: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func defaultEnv(t TB) *Env {
	t.Helper()
	if mainEnv == nil {
		t.Fatalf("harness: no environment: add `func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }` " +
			"to the test package, or create one with harness.NewEnv")
	}
	return mainEnv
}

// StartMariaDB starts an isolated MariaDB in the Env owned by Main.
// See Env.StartMariaDB.
func StartMariaDB(t TB, opts ServerOptions) *Server {
	t.Helper()
	return defaultEnv(t).StartMariaDB(t, opts)
}

// StartMySQL starts an isolated MySQL in the Env owned by Main. See
// Env.StartMySQL.
func StartMySQL(t TB, opts ServerOptions) *Server {
	t.Helper()
	return defaultEnv(t).StartMySQL(t, opts)
}

// StartServer starts an isolated server of flavor in the Env owned by Main.
func StartServer(t TB, flavor Flavor, opts ServerOptions) *Server {
	t.Helper()
	return defaultEnv(t).StartServer(t, flavor, opts)
}

// SharedKafka returns the broker shared by the test binary, starting it on
// first use. See Env.SharedKafka.
func SharedKafka(t TB) *Kafka {
	t.Helper()
	return defaultEnv(t).SharedKafka(t)
}

// Ensure makes sure the machine has what the servers need (runs
// deploy/local/install once per test binary). StartMariaDB and SharedKafka
// call it themselves.
func Ensure(t TB) {
	t.Helper()
	defaultEnv(t).Ensure(t)
}

// Env holds what one process (a test binary or a program) shares between the
// servers it starts: the install step, the MariaDB template datadir, the
// broker, and one directory for all instance data. Its methods are safe for
// concurrent use.
type Env struct {
	root  string // this Env's files; removed by Close
	cache string // machine-wide cache shared with deploy/local/install

	installMu  sync.Mutex
	installed  bool
	installErr error
	kafkaLibs  string // directory of the Kafka jars, from install's last line

	templateMu   sync.Mutex
	template     string // datadir to copy for each MariaDB instance
	templateErr  error
	mysqlTmpl    string // datadir to copy for each MySQL instance
	mysqlTmplErr error

	kafkaMu  sync.Mutex
	kafka    *Kafka
	kafkaErr error

	procMu sync.Mutex
	procs  map[*process]struct{} // running children; Close kills them
	closed bool
}

// NewEnv creates an Env with its own temporary directory. It also removes the
// directories that dead processes' Envs left behind.
func NewEnv() (*Env, error) {
	cache := os.Getenv("DRC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("locate cache dir (set DRC_CACHE): %w", err)
		}
		cache = filepath.Join(home, ".cache", "drc")
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	sweepStaleRoots()
	// A short root keeps unix socket paths far below their 108-byte limit.
	root, err := os.MkdirTemp("", "drc-harness-")
	if err != nil {
		return nil, fmt.Errorf("create env dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("write owner pid: %w", err)
	}
	return &Env{root: root, cache: cache, procs: map[*process]struct{}{}}, nil
}

// sweepStaleRoots removes Env directories whose owning process is gone, e.g.
// after a test binary was killed by its timeout. Best effort.
func sweepStaleRoots() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "drc-harness-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue // being created, or not ours to judge
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(dir)
		}
	}
}

// Close kills every child process still running (the shared broker, and any
// server whose cleanup did not run) and removes the Env's directory.
func (e *Env) Close() error {
	e.procMu.Lock()
	e.closed = true
	procs := make([]*process, 0, len(e.procs))
	for p := range e.procs {
		procs = append(procs, p)
	}
	e.procMu.Unlock()
	// The broker's data is thrown away, so there is nothing to shut down
	// gracefully; SIGKILL is immediate.
	for _, p := range procs {
		p.kill()
	}
	if keepDirs() {
		return nil
	}
	if err := os.RemoveAll(e.root); err != nil {
		return fmt.Errorf("remove %s: %w", e.root, err)
	}
	return nil
}

// Dir returns the Env's own directory, for callers that need scratch files
// that live as long as the Env.
func (e *Env) Dir() string { return e.root }

func keepDirs() bool { return os.Getenv("DRC_HARNESS_KEEP") == "1" }

// Ensure runs deploy/local/install once for this Env. A failure is remembered
// and reported again to every later caller without rerunning the script.
func (e *Env) Ensure(t TB) {
	t.Helper()
	if err := e.ensure(); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

func (e *Env) ensure() error {
	e.installMu.Lock()
	defer e.installMu.Unlock()
	if e.installed {
		return e.installErr
	}
	e.installed = true
	e.kafkaLibs, e.installErr = runInstall(e.cache)
	return e.installErr
}

func runInstall(cache string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "deploy", "local", "install")
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "DRC_CACHE="+cache, "CI=true", "DEBIAN_FRONTEND=noninteractive")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("run %s: %w\n%s", script, err, lastLines(stderr.String(), 30))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	libs := strings.TrimSpace(lines[len(lines)-1])
	if libs == "" {
		return "", fmt.Errorf("run %s: no kafka libs dir printed", script)
	}
	if _, err := os.Stat(libs); err != nil {
		return "", fmt.Errorf("run %s: kafka libs dir: %w", script, err)
	}
	return libs, nil
}

// RepoRoot returns the root of the drc repository: the nearest directory
// upwards holding drc's go.mod, searched from the working directory and then
// from this source file's directory.
func RepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if isDRCModule(filepath.Join(dir, "go.mod")) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("locate repo root: no go.mod for module %s above %v", modulePath, starts)
}

func isDRCModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}

// track and untrack keep the set of running children for Close.
func (e *Env) track(p *process) error {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	if e.closed {
		return errors.New("env is closed")
	}
	e.procs[p] = struct{}{}
	return nil
}

func (e *Env) untrack(p *process) {
	e.procMu.Lock()
	defer e.procMu.Unlock()
	delete(e.procs, p)
}

// ProgramTB implements TB for programs such as the bench runner. Fatalf
// records the failure and panics with a *FatalError; wrap calls in Catch to
// turn that back into an error. Close runs the registered cleanups, last
// first. A Fatalf outside Catch, or on another goroutine, crashes the program;
// its servers then die with it (see Pdeathsig in the package doc).
type ProgramTB struct {
	logf func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// FatalError is the panic value of ProgramTB.Fatalf.
type FatalError struct{ Msg string }

func (e *FatalError) Error() string { return e.Msg }

// NewProgramTB returns a ProgramTB that logs through logf (nil: discard).
func NewProgramTB(logf func(format string, args ...any)) *ProgramTB {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &ProgramTB{logf: logf}
}

func (p *ProgramTB) Helper() {}

func (p *ProgramTB) Logf(format string, args ...any) { p.logf(format, args...) }

func (p *ProgramTB) Fatalf(format string, args ...any) {
	p.mu.Lock()
	p.failed = true
	p.mu.Unlock()
	panic(&FatalError{Msg: fmt.Sprintf(format, args...)})
}

func (p *ProgramTB) Cleanup(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups = append(p.cleanups, f)
}

func (p *ProgramTB) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Close runs the cleanups registered so far, last first. A cleanup that calls
// Fatalf stops only itself.
func (p *ProgramTB) Close() {
	for {
		p.mu.Lock()
		n := len(p.cleanups)
		if n == 0 {
			p.mu.Unlock()
			return
		}
		f := p.cleanups[n-1]
		p.cleanups = p.cleanups[:n-1]
		p.mu.Unlock()
		if err := Catch(f); err != nil {
			p.logf("cleanup: %v", err)
		}
	}
}

// Catch calls f and returns the *FatalError it panicked with, if any. Other
// panics propagate.
func Catch(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(*FatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	f()
	return nil
}
