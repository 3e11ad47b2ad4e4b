package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/sony/sonyflake/v2"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/integration/harness"
)

// Keys of the idgen figures.
const (
	KeyIDGenInProcessRatio = "idgen.inprocess_ratio_to_sonyflake"
	KeyIDGenHTTPBatch      = "idgen.http_batch100_ids_per_s"
	KeyIDGenHTTPP99        = "idgen.http_single_p99_us"
)

// Timings of the idgen suite.
const (
	idgenInProcRounds = 3               // alternating bare/ours rounds per layout
	idgenInProcRound  = time.Second     // length of one round
	idgenHTTPDuration = 5 * time.Second // each HTTP load
	idgenHTTPRate     = 20000           // req/s of the latency load
	idgenBatchConns   = 8               // connections of the batch load
	idgenRateConns    = 16              // connections of the latency load
)

// MeasureIDGen is the "idgen" suite:
//
//   - in-process NextID rate of an idgen.Node (leases in a real MariaDB)
//     against bare sonyflake/v2 with the same layout, one goroutine, in
//     alternating rounds; for the default layout, where both are capped by
//     the layout at 4,096 IDs per ms, and for a wide one (20 sequence bits)
//     where neither runs out of sequence, so that the CPU cost shows;
//   - over HTTP on loopback: IDs/s with GET /v1/ids?count=100 (closed loop,
//     8 connections), and single-ID latency at a fixed 20,000 req/s (open
//     loop, see loadgenSource for what the latencies include), beside a
//     bare net/http server answering a constant body under the same load.
//
// The HTTP load generator runs as a separate process (a small stdlib-only
// program this suite compiles with the go command) so that its CPU time is
// measured apart from the server's, by getrusage: the child's rusage for the
// generator, this process's rusage delta for the server. Both share the
// machine's cores, which is the point of reporting the generator's share.
func MeasureIDGen(ctx context.Context, env *Env) ([]Row, error) {
	m, err := env.StartMariaDB(harness.ServerOptions{})
	if err != nil {
		return nil, err
	}
	db, err := sqlOpen(m, "")
	if err != nil {
		return nil, err
	}
	defer db.Close()

	var rows []Row
	wide := idgen.Layout{TimeUnit: time.Millisecond, SequenceBits: 20, RegionBits: 3, NodeBits: 7,
		// 33 time bits of 1ms last 99 days: start yesterday.
		StartTime: time.Now().Add(-24 * time.Hour).Truncate(time.Hour)}
	for _, lay := range []struct {
		name string
		l    idgen.Layout
	}{
		{"default layout (1ms, 12 sequence bits: capped at 4,096,000/s)", idgen.DefaultLayout()},
		{"wide layout (1ms, 20 sequence bits: CPU-bound)", wide},
	} {
		ours, bare, err := inProcessRates(ctx, env, db, lay.l)
		if err != nil {
			return rows, fmt.Errorf("in-process %s: %w", lay.name, err)
		}
		key := ""
		if lay.l.SequenceBits == wide.SequenceBits {
			key = KeyIDGenInProcessRatio
		}
		rows = append(rows,
			Row{Metric: "bare sonyflake/v2 NextID, " + lay.name + ", 1 goroutine", Value: bare, Unit: "IDs/s", Goal: "baseline"},
			Row{Metric: "idgen Node.NextID (leases in MariaDB), " + lay.name + ", 1 goroutine", Value: ours, Unit: "IDs/s",
				Goal: Ratio(ours, bare, "bare sonyflake", "≥ 0.9")},
		)
		if key != "" {
			rows = append(rows, Row{Key: key, Metric: "idgen in-process ratio to bare sonyflake, wide layout", Value: ours / bare, Unit: "x", Goal: "≥ 0.9"})
		}
	}

	httpRows, err := measureIDGenHTTP(ctx, env, db)
	return append(rows, httpRows...), err
}

// inProcessRates alternates rounds of bare sonyflake and of an idgen.Node
// with the same layout and returns both rates in IDs/s.
func inProcessRates(ctx context.Context, env *Env, db *sql.DB, l idgen.Layout) (ours, bare float64, _ error) {
	cfg := idgen.DefaultConfig()
	cfg.RegionBits, cfg.NodeBits, cfg.SequenceBits = l.RegionBits, l.NodeBits, l.SequenceBits
	cfg.TimeUnit, cfg.StartTime = l.TimeUnit, l.StartTime
	cfg.Region = 1
	cfg.DB = db
	cfg.Schema = harness.UniqueName("drc_meta")
	node, err := idgen.NewNode(cfg, nil)
	if err != nil {
		return 0, 0, err
	}
	stop, err := runNode(ctx, node)
	if err != nil {
		return 0, 0, err
	}
	defer stop()

	settings := sonyflake.Settings{BitsSequence: l.SequenceBits, BitsMachineID: l.MachineBits(),
		TimeUnit: l.TimeUnit, StartTime: l.StartTime}
	var oursN, bareN float64
	var oursT, bareT time.Duration
	for round := 0; round < idgenInProcRounds; round++ {
		r, err := SonyflakeRate(ctx, settings, idgenInProcRound)
		if err != nil {
			return 0, 0, err
		}
		bareN, bareT = bareN+r*idgenInProcRound.Seconds(), bareT+idgenInProcRound
		n, d, err := nodeCount(ctx, node, idgenInProcRound)
		if err != nil {
			return 0, 0, err
		}
		oursN, oursT = oursN+float64(n), oursT+d
	}
	env.Logf("idgen in-process %s: ours %.0f/s, bare %.0f/s", l, oursN/oursT.Seconds(), bareN/bareT.Seconds())
	return oursN / oursT.Seconds(), bareN / bareT.Seconds(), nil
}

// nodeCount calls NextID for d, waiting for the next time unit (as
// Node.Next does) when the sequence runs out, like bare sonyflake's sleep.
func nodeCount(ctx context.Context, n *idgen.Node, d time.Duration) (int, time.Duration, error) {
	one := make([]int64, 1)
	began := time.Now()
	count := 0
	for {
		for range 256 {
			if _, err := n.NextID(); err != nil {
				if !errors.Is(err, idgen.ErrSequenceExhausted) {
					return 0, 0, fmt.Errorf("NextID: %w", err)
				}
				if err := n.Next(ctx, one); err != nil {
					return 0, 0, fmt.Errorf("Next: %w", err)
				}
			}
		}
		count += 256
		if el := time.Since(began); el >= d || ctx.Err() != nil {
			return count, el, ctx.Err()
		}
	}
}

// runNode runs n until stop is called and waits until it issues.
func runNode(ctx context.Context, n *idgen.Node) (stop func(), _ error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	stop = func() { cancel(); <-done }
	select {
	case <-n.Ready():
		return stop, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("idgen node stopped before issuing: %v", err)
	case <-time.After(30 * time.Second):
		stop()
		return nil, fmt.Errorf("idgen node not issuing after 30s: %+v", n.State())
	}
}

// loadResult is what the load generator prints. Latencies are in µs, from
// the moment a worker sends the request (P*) and from the moment the
// dispatcher released it (R*, which adds waiting for a free connection and
// the generator's own scheduling delays).
type loadResult struct {
	Requests   int64   `json:"requests"`
	IDs        int64   `json:"ids"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error"`
	Seconds    float64 `json:"seconds"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p999"`
	Max        float64 `json:"max"`
	RP50       float64 `json:"rp50"`
	RP99       float64 `json:"rp99"`
	RP999      float64 `json:"rp999"`
	RMax       float64 `json:"rmax"`
	// set by the parent from rusage
	loadCPU, serverCPU time.Duration
}

func measureIDGenHTTP(ctx context.Context, env *Env, db *sql.DB) ([]Row, error) {
	loadgen, err := buildLoadgen(ctx)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(loadgen))
	cores := float64(runtime.NumCPU())
	cpu := func(r loadResult) string {
		return fmt.Sprintf("CPU: load generator %.0f%%, server process %.0f%% of %d cores",
			100*r.loadCPU.Seconds()/(r.Seconds*cores), 100*r.serverCPU.Seconds()/(r.Seconds*cores), int(cores))
	}
	rateArgs := func(url string) []string {
		return []string{"-mode", "rate", "-url", url, "-c", fmt.Sprint(idgenRateConns),
			"-d", idgenHTTPDuration.String(), "-rate", fmt.Sprint(idgenHTTPRate)}
	}

	// Baseline: bare net/http answering a constant one-ID body, same load,
	// so that the latency figures can be read against what the HTTP stack
	// and this machine manage without idgen.
	bare, err := serveBareHTTP(ctx, func(url string) (loadResult, error) { return runLoad(ctx, loadgen, rateArgs(url)...) })
	if err != nil {
		return nil, fmt.Errorf("bare net/http baseline: %w", err)
	}

	cfg := idgen.DefaultConfig()
	cfg.Region = 2
	cfg.DB = db
	cfg.Schema = harness.UniqueName("drc_meta")
	srv, err := idgen.NewServer(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() {
		cancel()
		<-served
	}()
	select {
	case <-srv.Node().Ready():
	case err := <-served:
		return nil, fmt.Errorf("idgen server stopped: %v", err)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("idgen server not issuing after 30s")
	}
	base := "http://" + ln.Addr().String() + "/v1/ids"

	batch, err := runLoad(ctx, loadgen, "-mode", "batch", "-url", base+"?count=100",
		"-c", fmt.Sprint(idgenBatchConns), "-d", idgenHTTPDuration.String())
	if err != nil {
		return nil, err
	}
	lat, err := runLoad(ctx, loadgen, rateArgs(base+"?count=1")...)
	if err != nil {
		return nil, err
	}
	env.Logf("idgen HTTP latency at %d req/s: idgen %+v; bare net/http %+v", idgenHTTPRate, lat, bare)
	return []Row{
		{Key: KeyIDGenHTTPBatch, Metric: fmt.Sprintf("idgen HTTP GET /v1/ids?count=100, loopback, %d conns, closed loop (%d errors; %s)",
			idgenBatchConns, batch.Errors, cpu(batch)), Value: float64(batch.IDs) / batch.Seconds, Unit: "IDs/s", Goal: "goal ≥ 1,000,000"},
		{Metric: fmt.Sprintf("idgen HTTP single ID, %d req/s open loop, %d conns: achieved (%d errors; %s)",
			idgenHTTPRate, idgenRateConns, lat.Errors, cpu(lat)), Value: float64(lat.Requests) / lat.Seconds, Unit: "req/s", Goal: fmt.Sprintf("goal %d", idgenHTTPRate)},
		{Metric: "idgen HTTP single ID latency p50, from send", Value: lat.P50, Unit: "µs",
			Goal: Ratio(lat.P50, bare.P50, "bare net/http", "")},
		{Key: KeyIDGenHTTPP99, Metric: "idgen HTTP single ID latency p99, from send", Value: lat.P99, Unit: "µs",
			Goal: Ratio(lat.P99, bare.P99, "bare net/http", "≤ 1000 µs")},
		{Metric: fmt.Sprintf("idgen HTTP single ID latency p99.9 / max, from send (max %.0f µs)", lat.Max), Value: lat.P999, Unit: "µs"},
		{Metric: "idgen HTTP single ID latency p50 / p99, from release (adds generator-side queueing)", Value: lat.RP99, Unit: "µs (p99)",
			Goal: fmt.Sprintf("p50 %.0f µs", lat.RP50)},
		{Metric: fmt.Sprintf("baseline: bare net/http constant body, same load: p50 %.0f, p99.9 %.0f µs from send (%s)", bare.P50, bare.P999, cpu(bare)),
			Value: bare.P99, Unit: "µs (p99)", Goal: "baseline"},
	}, nil
}

// serveBareHTTP runs load against a plain net/http server that answers
// every request with a constant one-ID body, like /v1/ids?count=1.
func serveBareHTTP(ctx context.Context, load func(url string) (loadResult, error)) (loadResult, error) {
	body := []byte(`{"ids":["250029979637645441"]}` + "\n")
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return loadResult{}, fmt.Errorf("listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	r, err := load("http://" + ln.Addr().String() + "/v1/ids?count=1")
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx) // only the result of the load matters
	<-served
	return r, err
}

// runLoad runs the load generator and measures its CPU and ours.
func runLoad(ctx context.Context, bin string, args ...string) (loadResult, error) {
	var before syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		return loadResult{}, fmt.Errorf("getrusage: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("load generator %v: %w: %s", args, err, stderr.String())
	}
	var after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		return loadResult{}, fmt.Errorf("getrusage: %w", err)
	}
	var r loadResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return loadResult{}, fmt.Errorf("load generator output %q: %w", out.String(), err)
	}
	if r.Requests == 0 {
		return r, fmt.Errorf("load generator made no successful request (%d errors, first: %s)", r.Errors, r.FirstError)
	}
	r.loadCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.serverCPU = time.Duration(syscall.TimevalToNsec(after.Utime) + syscall.TimevalToNsec(after.Stime) -
		syscall.TimevalToNsec(before.Utime) - syscall.TimevalToNsec(before.Stime))
	return r, nil
}

// buildLoadgen compiles loadgenSource into a temporary directory.
func buildLoadgen(ctx context.Context) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("idgen load generator needs the go command: %w", err)
	}
	dir, err := os.MkdirTemp("", "drc-idgen-loadgen-")
	if err != nil {
		return "", fmt.Errorf("load generator dir: %w", err)
	}
	for name, body := range map[string]string{
		"go.mod":  "module loadgen\n\ngo 1.22\n",
		"main.go": loadgenSource,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return "", fmt.Errorf("load generator source: %w", err)
		}
	}
	bin := filepath.Join(dir, "loadgen")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build load generator: %w: %s", err, out)
	}
	return bin, nil
}

// loadgenSource is the HTTP load generator, standard library only, printing
// a loadResult as JSON. Batch mode: c connections in a closed loop for d.
// Rate mode: a dispatcher releases requests at a fixed average rate to c
// connections. Go's timers wake about 1ms late on an idle runtime, so the
// releases come in bursts of about rate/1000; each latency is recorded from
// the send (the server's and the network's share) and from the release
// (adding the wait for a free connection and the generator's own delays).
const loadgenSource = `package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

var (
	hc       *http.Client
	errs     atomic.Int64
	firstErr atomic.Value
)

// get returns the number of IDs in the response, or -1.
func get(url string) int64 {
	resp, err := hc.Get(url)
	if err != nil {
		fail(err)
		return -1
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		fail(fmt.Errorf("status %d %v: %s", resp.StatusCode, err, body))
		return -1
	}
	return int64(bytes.Count(body, []byte(",")) + 1)
}

func fail(err error) {
	errs.Add(1)
	firstErr.CompareAndSwap(nil, err.Error())
}

func quantiles(us []float64) (p50, p99, p999, max float64) {
	if len(us) == 0 {
		return
	}
	sort.Float64s(us)
	q := func(p float64) float64 { return us[int(p*float64(len(us)-1))] }
	return q(0.5), q(0.99), q(0.999), us[len(us)-1]
}

func main() {
	mode := flag.String("mode", "batch", "batch or rate")
	url := flag.String("url", "", "URL to GET")
	conns := flag.Int("c", 8, "connections")
	dur := flag.Duration("d", 5*time.Second, "duration")
	rate := flag.Int("rate", 20000, "requests per second (rate mode)")
	flag.Parse()
	hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns, DisableCompression: true}}

	// Warm up: open the connections and let both sides' code get hot.
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				get(*url)
			}
		}()
	}
	wg.Wait()
	errs.Store(0)

	res := map[string]any{}
	var reqs, ids atomic.Int64
	began := time.Now()
	switch *mode {
	case "batch":
		end := began.Add(*dur)
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					if n := get(*url); n > 0 {
						reqs.Add(1)
						ids.Add(n)
					}
				}
			}()
		}
		wg.Wait()
	case "rate":
		total := int(float64(*rate) * dur.Seconds())
		interval := time.Second / time.Duration(*rate)
		jobs := make(chan time.Time, total)
		fromSend := make([][]float64, *conns)
		fromRelease := make([][]float64, *conns)
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for released := range jobs {
					sent := time.Now()
					if n := get(*url); n > 0 {
						done := time.Now()
						reqs.Add(1)
						ids.Add(n)
						fromSend[i] = append(fromSend[i], float64(done.Sub(sent).Microseconds()))
						fromRelease[i] = append(fromRelease[i], float64(done.Sub(released).Microseconds()))
					}
				}
			}()
		}
		for i := 0; i < total; {
			now := time.Now()
			due := int(now.Sub(began)/interval) + 1
			for ; i < due && i < total; i++ {
				jobs <- now
			}
			time.Sleep(100 * time.Microsecond)
		}
		close(jobs)
		wg.Wait()
		var s, r []float64
		for i := range fromSend {
			s = append(s, fromSend[i]...)
			r = append(r, fromRelease[i]...)
		}
		res["p50"], res["p99"], res["p999"], res["max"] = quantiles(s)
		res["rp50"], res["rp99"], res["rp999"], res["rmax"] = quantiles(r)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", *mode)
		os.Exit(2)
	}
	res["seconds"] = time.Since(began).Seconds()
	res["requests"], res["ids"], res["errors"] = reqs.Load(), ids.Load(), errs.Load()
	if v := firstErr.Load(); v != nil {
		res["first_error"] = v.(string)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
`
