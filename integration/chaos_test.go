package integration

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drc-dev/drc/integration/harness"
)

// chaosDuration is how long the soak's fault loop runs: DRC_CHAOS_DURATION
// (make chaos sets 5m), or 75s inside make test.
func chaosDuration(t *testing.T) time.Duration {
	if v := os.Getenv("DRC_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("DRC_CHAOS_DURATION=%q: want a positive duration such as 5m", v)
		}
		return d
	}
	return 75 * time.Second
}

// chaosSeed is DRC_CHAOS_SEED, or a new seed; the test logs it so a failing
// run can be replayed.
func chaosSeed(t *testing.T) uint64 {
	if v := os.Getenv("DRC_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("DRC_CHAOS_SEED=%q: want an unsigned integer", v)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// role is a drc subcommand run as its own process, so it can be
// SIGKILLed, and watched, so that an exit the test did not cause is
// noticed.
type role struct {
	name   string // e.g. "apply", "idgen serve"
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the exit status, once exited is closed
	log    *os.File
	killed bool
	start  time.Time
}

// startRole runs drc with args (a subcommand and its flags), its output
// appended to logPath. The test's cleanup SIGKILLs it.
func startRole(t *testing.T, bin, logPath string, args ...string) *role {
	t.Helper()
	name := args[0]
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		name += " " + args[1]
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &role{name: name, cmd: cmd, exited: make(chan struct{}), log: lf, start: time.Now()}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() { r.sigkill() })
	return r
}

// running fails the test if the role exited by itself.
func (r *role) running(t *testing.T, logPath string) {
	t.Helper()
	select {
	case <-r.exited:
		if !r.killed {
			t.Fatalf("%s exited by itself (%v); its log:\n%s", r.name, r.err, tail(logPath, 3000))
		}
	default:
	}
}

// waitLog waits up to a minute for a line containing one of wants, in what
// the role logged after the first from bytes of its log, and returns the
// one it logged first. It fails the test if the role exits first or no
// such line comes.
func (r *role) waitLog(t *testing.T, logPath string, from int, wants ...string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		first, at := "", -1
		if from < len(b) {
			for _, want := range wants {
				if i := strings.Index(string(b[from:]), want); i >= 0 && (at < 0 || i < at) {
					first, at = want, i
				}
			}
		}
		if at >= 0 {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never logged any of %q; its log:\n%s", r.name, wants, tail(logPath, 3000))
		}
		r.running(t, logPath)
		time.Sleep(200 * time.Millisecond)
	}
}

// logSize is how many bytes the log at path holds now: a from for waitLog.
func logSize(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(fi.Size())
}

func (r *role) sigkill() {
	r.killed = true
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.log.Close()
}

// sigterm stops the role as systemd would and returns its exit code.
func (r *role) sigterm(t *testing.T, within time.Duration) int {
	t.Helper()
	// A process signalled in its first milliseconds, before Go's runtime
	// has run main and installed the handler, dies of the signal like any
	// Unix process; the check is about a role that has started.
	time.Sleep(time.Until(r.start.Add(time.Second)))
	r.killed = true
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(within):
		// SIGQUIT makes Go print every goroutine's stack on the role's
		// stderr, its log, before it exits: where it hangs.
		r.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
		}
		t.Errorf("%s did not exit within %s of SIGTERM; the end of its log, with its goroutines' stacks:\n%s", r.name, within, tail(r.log.Name(), 30000))
		r.sigkill()
	}
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		return ee.ExitCode()
	}
	if r.err != nil {
		return -1
	}
	return 0
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-n):])
}

// TestChaosSoak runs sysbench on region a while a seeded fault loop
// SIGKILLs and restarts the replicator and the applier, stops and freezes
// the broker, restarts and SIGKILLs the source and the target, and cuts the
// roles' database connections through proxies. Afterwards, with checks that
// do not use drc: CHECKSUM TABLE a = b; no conflict; the committed topic
// holds exactly the source binlog's transactions (SHOW BINLOG EVENTS), each
// once, in order, with seq 0..n, last on the final record and no Kafka
// commit inside one; both roles exit 0 on SIGTERM; no panic.
//
// make test runs 75 s of faults; make chaos runs DRC_CHAOS_DURATION (5m).
// DRC_CHAOS_SEED replays a run's fault sequence.
func TestChaosSoak(t *testing.T) {
	seed := chaosSeed(t)
	soak := chaosDuration(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("chaos seed %d, %s of faults (replay: DRC_CHAOS_SEED=%d)", seed, soak, seed)

	dir := t.TempDir()
	bin := drcBinary(t)
	a, b, k, cluster, topic := sbtestPair(t, 81, 82, "chaos")
	pa := harness.StartProxy(t, a.Addr())
	pb := harness.StartProxy(t, b.Addr())

	cfgFile := drcConfig(t, dir, a, b, k, cluster, topic, a.BinlogGTIDPos(t), pa, pb)
	repLog, appLog := filepath.Join(dir, "replicate.log"), filepath.Join(dir, "apply.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replicator log (tail):\n%s", tail(repLog, 4000))
			t.Logf("applier log (tail):\n%s", tail(appLog, 4000))
		}
	})
	rep := startRole(t, bin, repLog, "replicate", "--config", cfgFile)
	app := startRole(t, bin, appLog, "apply", "--config", cfgFile)

	ctx, cancel := context.WithTimeout(context.Background(), soak+10*time.Minute)
	defer cancel()
	if out, err := applySysbench(ctx, a, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}

	// The load: sysbench at ~100 tx/s, run again whenever a fault stops it.
	loadCtx, stopLoad := context.WithTimeout(ctx, soak)
	defer stopLoad()
	loadDone := make(chan int)
	go func() {
		runs := 0
		for loadCtx.Err() == nil {
			runs++
			left := int(time.Until(deadlineOf(loadCtx)).Seconds()) + 1
			c := applySysbench(loadCtx, a, "run", "--time="+strconv.Itoa(left), "--rate=100", "--threads=4",
				"--report-interval=0", "--mysql-ignore-errors=1205,1213")
			_ = c.Run() // a source restart ends it; run it again
			select {
			case <-loadCtx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
		loadDone <- runs
	}()

	faults := map[string]int{}
	checkRoles := func() {
		rep.running(t, repLog)
		app.running(t, appLog)
	}
	// Faults come in rounds: each round is every kind once, in a seeded
	// order, so even the short soak delivers each kind.
	var round []int
	for end := time.Now().Add(soak); time.Now().Before(end); {
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond)
		checkRoles()
		if len(round) == 0 {
			round = rng.Perm(8)
		}
		f := round[0]
		round = round[1:]
		switch f {
		case 0:
			faults["kill replicator"]++
			rep.sigkill()
			rep = startRole(t, bin, repLog, "replicate", "--config", cfgFile)
		case 1:
			faults["kill applier"]++
			app.sigkill()
			app = startRole(t, bin, appLog, "apply", "--config", cfgFile)
		case 2:
			faults["stop broker"]++
			k.Stop(t)
			time.Sleep(time.Duration(2000+rng.IntN(6000)) * time.Millisecond)
			k.Start(t)
		case 3:
			faults["freeze broker"]++
			pid := k.Pid()
			if pid <= 0 {
				t.Fatal("the broker is not running") // kill(0) would stop this test's own process group
			}
			syscall.Kill(pid, syscall.SIGSTOP)
			time.Sleep(time.Duration(1000+rng.IntN(5000)) * time.Millisecond)
			syscall.Kill(pid, syscall.SIGCONT)
		case 4:
			faults["restart source"]++
			a.Stop(t)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
			a.Start(t)
		case 5:
			faults["kill source"]++
			a.Kill(t)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
			a.Start(t)
		case 6:
			faults["kill target"]++
			b.Kill(t)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
			b.Start(t)
		case 7:
			faults["cut connections"]++
			pa.Cut()
			pb.Cut()
		}
	}
	stopLoad()
	runs := <-loadDone
	checkRoles()
	t.Logf("faults: %v; sysbench ran %d times", faults, runs)

	// Drain: b catches up with everything a committed, with every fault over.
	waitApplied(t, a, b, cluster, 3*time.Minute)
	for _, r := range []*role{rep, app} {
		if code := r.sigterm(t, 10*time.Second); code != 0 {
			t.Errorf("%s exited %d (%v) on SIGTERM, want 0", r.name, code, r.err)
		}
	}
	for _, p := range []string{repLog, appLog} {
		if s := tail(p, 1<<30); strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:") {
			t.Errorf("%s has a panic:\n%s", p, s)
		}
	}

	assertSameTables(t, a, b, "sbtest.sbtest1", "sbtest.sbtest2")
	if n := conflictCount(t, b, cluster); n != 0 {
		t.Errorf("conflicts = %d, want 0", n)
	}
	// The topic must hold every data transaction. (Not necessarily a's
	// whole position: a heartbeat the replicator wrote just before its
	// SIGTERM is published by its next run, and none follows here.)
	want := sourceDataGTIDs(t, a.Open(t, ""), "sbtest")
	if len(want) == 0 {
		t.Fatal("no sbtest transaction in a's binlog: the soak tested nothing")
	}
	recs := waitPublished(t, k, topic, want[len(want)-1], time.Minute)
	assertExactlyOnce(t, recs, want)
	t.Logf("%d source transactions, each once in the topic; a = b", len(want))
}

// deadlineOf is ctx's deadline (ctx must have one).
func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
