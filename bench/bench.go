package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// Row is one line of the results table.
type Row struct {
	// Key identifies the figure for later suites (Env.Result); optional.
	Key string
	// Metric says what was measured, including the conditions that matter.
	Metric string
	Value  float64
	Unit   string
	// Goal is the ratio to its baseline and the goal, or "baseline".
	Goal string
}

// Measure runs one suite of measurements. It returns its rows, or an error
// that the runner prints in the table before going on with the next suite.
// It should return soon after ctx is cancelled.
type Measure func(ctx context.Context, env *Env) ([]Row, error)

// Suite is a named Measure. Names select suites with drcbench -run.
type Suite struct {
	Name string
	Run  Measure
}

// Env is what suites share during one run: the harness environment that
// starts servers, the dataset, and the figures measured so far. Suites run one
// at a time; Env's methods are nevertheless safe for concurrent use.
type Env struct {
	// Rows is the dataset size.
	Rows int
	// Harness starts servers; prefer the Env methods, which scope them to the
	// suite and turn failures into errors.
	Harness *harness.Env

	logf  func(format string, args ...any)
	runTB *harness.ProgramTB // servers that live for the whole run

	mu      sync.Mutex
	suiteTB *harness.ProgramTB // servers of the running suite
	results map[string]float64

	datasetMu sync.Mutex // held while a dataset is generated
	datasets  map[harness.Flavor]*datasetSlot
}

// datasetSlot is one flavor's dataset, or the failure to generate it.
type datasetSlot struct {
	ds  *Dataset
	err error
}

// NewEnv returns an Env that starts servers in h. logf receives progress
// lines (nil: discard). Close stops the servers it started.
func NewEnv(h *harness.Env, rows int, logf func(format string, args ...any)) *Env {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Env{
		Rows:     rows,
		Harness:  h,
		logf:     logf,
		runTB:    harness.NewProgramTB(logf),
		results:  map[string]float64{},
		datasets: map[harness.Flavor]*datasetSlot{},
	}
}

// Close stops every server the run started.
func (e *Env) Close() {
	e.mu.Lock()
	suite := e.suiteTB
	e.suiteTB = nil
	e.mu.Unlock()
	if suite != nil {
		suite.Close()
	}
	e.runTB.Close()
}

// Logf writes a progress line.
func (e *Env) Logf(format string, args ...any) { e.logf(format, args...) }

// TB returns the running suite's TB, for harness helpers called inside Do.
func (e *Env) TB() harness.TB {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.suiteTB == nil {
		return e.runTB
	}
	return e.suiteTB
}

// Do runs f with the running suite's TB and returns a harness failure
// (TB.Fatalf inside f) as an error.
func (e *Env) Do(f func(t harness.TB)) error {
	tb := e.TB()
	return harness.Catch(func() { f(tb) })
}

// ServerArgs are the mariadbd options bench servers get before the caller's
// own: room for a million-row table in memory, and a redo log that does not
// throttle bulk loads.
func ServerArgs() []string { return ServerArgsFor(harness.FlavorMariaDB) }

// ServerArgsFor is ServerArgs for a flavor. MySQL sizes its redo log with
// innodb_redo_log_capacity (innodb_log_file_size is deprecated there).
func ServerArgsFor(f harness.Flavor) []string {
	redo := "--innodb-log-file-size=512M"
	if f == harness.FlavorMySQL {
		redo = "--innodb-redo-log-capacity=512M"
	}
	return []string{
		"--innodb-buffer-pool-size=1G",
		redo,
		"--max-allowed-packet=256M",
	}
}

// StartMariaDB starts a MariaDB with ServerArgs for the running suite; it is
// stopped when the suite ends.
func (e *Env) StartMariaDB(opts harness.ServerOptions) (*harness.Server, error) {
	return e.startServerTB(e.TB(), harness.FlavorMariaDB, opts)
}

// StartServer starts a server of flavor f with ServerArgsFor(f) for the
// running suite; it is stopped when the suite ends.
func (e *Env) StartServer(f harness.Flavor, opts harness.ServerOptions) (*harness.Server, error) {
	return e.startServerTB(e.TB(), f, opts)
}

func (e *Env) startServerTB(tb harness.TB, f harness.Flavor, opts harness.ServerOptions) (m *harness.Server, err error) {
	opts.ExtraArgs = append(ServerArgsFor(f), opts.ExtraArgs...)
	err = harness.Catch(func() { m = e.Harness.StartServer(tb, f, opts) })
	return m, err
}

// Kafka returns the run's broker, starting it on first use.
func (e *Env) Kafka() (k *harness.Kafka, err error) {
	err = harness.Catch(func() { k = e.Harness.SharedKafka(e.runTB) })
	return k, err
}

// DatasetAndKafka is DatasetOn(f) and the shared broker, what every
// publishing suite starts with.
func (e *Env) DatasetAndKafka(ctx context.Context, f harness.Flavor) (*Dataset, *harness.Kafka, error) {
	ds, err := e.DatasetOn(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	k, err := e.Kafka()
	if err != nil {
		return nil, nil, err
	}
	return ds, k, nil
}

// Result returns a figure an earlier suite reported under key.
func (e *Env) Result(key string) (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.results[key]
	return v, ok
}

// Ratio formats value/base for the Goal column, e.g. "0.91x bare decode
// (goal ≥ 0.8)". A missing base says so instead of dividing by zero.
func Ratio(value, base float64, baseName, goal string) string {
	g := ""
	if goal != "" {
		g = " (goal " + goal + ")"
	}
	if base <= 0 || math.IsNaN(base) {
		return "no " + baseName + " baseline" + g
	}
	return fmt.Sprintf("%.2fx %s%s", value/base, baseName, g)
}

// Run runs the suites in order and writes the table to w as rows arrive. A
// failing suite gets an error line and the run goes on; Run returns the
// suites' errors joined.
func Run(ctx context.Context, env *Env, suites []Suite, w io.Writer) error {
	fmt.Fprintf(w, "drc bench: %s, %s/%s, %d CPUs, dataset %d rows\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), env.Rows)
	fmt.Fprintln(w, "| metric | value | unit | ratio/goal |")
	fmt.Fprintln(w, "|---|---:|---|---|")
	var errs []error
	for _, s := range suites {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		began := time.Now()
		env.Logf("suite %s: start", s.Name)
		rows, err := runSuite(ctx, env, s)
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", cell(r.Metric), formatValue(r.Value), cell(r.Unit), cell(r.Goal))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("suite %s: %w", s.Name, err))
			fmt.Fprintf(w, "| %s | error | | %s |\n", cell(s.Name), cell(err.Error()))
		}
		env.Logf("suite %s: done in %v", s.Name, time.Since(began).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// runSuite runs one suite with its own TB, so the servers it starts stop
// when it ends, and records its keyed rows.
func runSuite(ctx context.Context, env *Env, s Suite) (rows []Row, _ error) {
	tb := harness.NewProgramTB(env.logf)
	env.mu.Lock()
	env.suiteTB = tb
	env.mu.Unlock()
	defer func() {
		env.mu.Lock()
		env.suiteTB = nil
		env.mu.Unlock()
		tb.Close()
	}()
	var runErr error
	if err := harness.Catch(func() { rows, runErr = s.Run(ctx, env) }); err != nil {
		return rows, err
	}
	env.mu.Lock()
	for _, r := range rows {
		if r.Key != "" {
			env.results[r.Key] = r.Value
		}
	}
	env.mu.Unlock()
	return rows, runErr
}

func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// formatValue prints values of 1000 and more as integers with thousands
// separators, and smaller ones with three significant digits.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Abs(v) >= 1000:
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
