package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/idgen/client"
	"github.com/drc-dev/drc/integration/harness"
)

// idgenConfig is a node of region on db, with short lease timings so that
// outages show within seconds. Each test uses its own schema.
func idgenConfig(region int, db *sql.DB, schema string) idgen.Config {
	cfg := idgen.DefaultConfig()
	cfg.Region = region
	cfg.DB = db
	cfg.Schema = schema
	cfg.LeaseTTL = 3 * time.Second
	cfg.RenewInterval = 500 * time.Millisecond
	return cfg
}

// runIDGenNode runs n until the test ends and waits until it issues.
func runIDGenNode(t *testing.T, n *idgen.Node) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("node Run did not return within 30s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("node: %v", err)
		}
	})
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node Run returned before issuing: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("node not issuing after 30s: %+v", n.State())
	}
	return stop
}

func newIDGenNode(t *testing.T, cfg idgen.Config) *idgen.Node {
	t.Helper()
	n, err := idgen.NewNode(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// stepClock is an idgen.Clock that follows the real clock plus an offset
// the test can step.
type stepClock struct{ offset atomic.Int64 }

func (c *stepClock) Now() time.Time            { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *stepClock) Step(d time.Duration)      { c.offset.Add(int64(d)) }
func (c *stepClock) Offset() time.Duration     { return time.Duration(c.offset.Load()) }
func (c *stepClock) SetOffset(d time.Duration) { c.offset.Store(int64(d)) }

// 2 regions x 3 nodes, each region with its own MariaDB holding its leases,
// issuing concurrently from 12 goroutines (single IDs and batches of 100):
// at least 10,000,000 IDs, none repeated, each decoding to the region and
// node that issued it. DRC_IDGEN_UNIQUE_IDS overrides the total.
func TestIDGenUniqueAcrossRegionsAndNodes(t *testing.T) {
	total := 10_000_000
	if v := os.Getenv("DRC_IDGEN_UNIQUE_IDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("DRC_IDGEN_UNIQUE_IDS=%q: want a positive integer", v)
		}
		total = n
	}
	// 8 sequence bits at 1ms (256 IDs per ms per node, ~1.5M/s for six
	// nodes) so that sequence exhaustion, borrowing and waiting for the next
	// unit happen all the time, not only the easy path.
	const regions, nodesPerRegion, workersPerNode = 2, 3, 2
	schema := harness.UniqueName("drc_meta")
	type worker struct {
		region int
		node   *idgen.Node
		ids    []int64
	}
	var workers []*worker
	for r := 1; r <= regions; r++ {
		db := harness.StartMariaDB(t, harness.ServerOptions{}).Open(t, "")
		for k := 0; k < nodesPerRegion; k++ {
			cfg := idgenConfig(r, db, schema)
			cfg.SequenceBits = 8
			n := newIDGenNode(t, cfg)
			runIDGenNode(t, n)
			for w := 0; w < workersPerNode; w++ {
				workers = append(workers, &worker{region: r, node: n})
			}
		}
	}
	per := (total + len(workers) - 1) / len(workers)
	began := time.Now()
	var wg sync.WaitGroup
	for i, w := range workers {
		w.ids = make([]int64, per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%2 == 0 {
				for j := 0; j < per; {
					id, err := w.node.NextID()
					if errors.Is(err, idgen.ErrSequenceExhausted) {
						err = w.node.Next(ctx, w.ids[j:j+1]) // waits for the next unit
						id = w.ids[j]
					}
					if err != nil {
						t.Errorf("region %d: %v", w.region, err)
						return
					}
					w.ids[j] = id
					j++
				}
				return
			}
			for j := 0; j < per; j += 100 {
				if err := w.node.Next(ctx, w.ids[j:min(j+100, per)]); err != nil {
					t.Errorf("region %d: %v", w.region, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	if t.Failed() {
		return
	}

	layout := workers[0].node.Layout()
	mask := int64(1)<<layout.MachineBits() - 1
	all := make([]int64, 0, per*len(workers))
	for _, w := range workers {
		st := w.node.State()
		wantMachine := int64(layout.MachineID(w.region, st.Node))
		for _, id := range w.ids {
			if id&mask != wantMachine {
				p, _ := idgen.Decompose(id, layout)
				t.Fatalf("id %d from region %d node %d decodes to %s", id, w.region, st.Node, p)
			}
		}
		if st.LeasesLost != 0 || st.Renewals == 0 {
			t.Errorf("region %d node %d: %d leases lost, %d renewals", w.region, st.Node, st.LeasesLost, st.Renewals)
		}
		all = append(all, w.ids...)
		w.ids = nil
	}
	slices.Sort(all)
	if d := len(all) - len(slices.Compact(all)); d != 0 {
		t.Fatalf("%d repeated IDs among %d", d, len(all))
	}
	t.Logf("%d unique IDs from %d nodes in 2 regions in %v (%.0f IDs/s)", len(all),
		regions*nodesPerRegion, elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds())
}

// Two nodes race for the one free node ID of a region: exactly one wins,
// every round. Then eight race for four: four distinct winners.
func TestIDGenLeaseContention(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testIDGenLeaseContention(t, f) })
	}
}

func testIDGenLeaseContention(t *testing.T, flavor harness.Flavor) {
	m := harness.StartServer(t, flavor, harness.ServerOptions{})
	layout := idgen.DefaultLayout()
	layout.NodeBits = 1
	schema := harness.UniqueName("drc_meta")
	stores := make([]*idgen.SQLLeaseStore, 8)
	for i := range stores {
		// Separate pools: the racers share no connection.
		s, err := idgen.NewSQLLeaseStore(m.Open(t, ""), schema, layout)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	admin := m.Open(t, "")
	ctx := context.Background()
	if err := stores[0].EnsureLayout(ctx, layout); err != nil {
		t.Fatal(err)
	}
	race := func(region, nodes, racers int) (won []idgen.Lease, noFree int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < racers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				l, err := stores[i].Acquire(ctx, idgen.AcquireRequest{Region: region, Nodes: nodes,
					Owner: "racer-" + strconv.Itoa(i), TTL: time.Minute})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, l)
				case errors.Is(err, idgen.ErrNoFreeNode):
					noFree++
				default:
					t.Errorf("racer %d: %v", i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		return won, noFree
	}

	for round := 0; round < 20; round++ {
		region := round % 8
		// Node 1 is held by a bystander, so node 0 is the only free one;
		// in odd rounds node 0 exists and has expired, in even rounds it has
		// no row yet (insert race instead of update race).
		if _, err := admin.ExecContext(ctx, "DELETE FROM `"+schema+"`.idgen_leases WHERE region_id = ?", region); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			m.Exec(t, "INSERT INTO `"+schema+"`.idgen_leases VALUES ("+strconv.Itoa(region)+
				", 0, 'gone', 7, UTC_TIMESTAMP(6) - INTERVAL 1 SECOND, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
		}
		m.Exec(t, "INSERT INTO `"+schema+"`.idgen_leases VALUES ("+strconv.Itoa(region)+
			", 1, 'bystander', 1, UTC_TIMESTAMP(6) + INTERVAL 1 HOUR, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))")
		won, noFree := race(region, 2, 2)
		if len(won) != 1 || noFree != 1 || won[0].Node != 0 {
			t.Fatalf("round %d: winners %+v, %d without a node; want exactly one winner of node 0", round, won, noFree)
		}
		var owner string
		var epoch uint64
		if err := admin.QueryRowContext(ctx, "SELECT owner, epoch FROM `"+schema+
			"`.idgen_leases WHERE region_id = ? AND node_id = 0", region).Scan(&owner, &epoch); err != nil {
			t.Fatal(err)
		}
		if owner != won[0].Owner || epoch != won[0].Epoch {
			t.Fatalf("round %d: row says %s/%d, winner %s/%d", round, owner, epoch, won[0].Owner, won[0].Epoch)
		}
	}

	won, noFree := race(100, 4, 8)
	nodes := map[int]bool{}
	for _, l := range won {
		nodes[l.Node] = true
	}
	if len(won) != 4 || noFree != 4 || len(nodes) != 4 {
		t.Fatalf("8 racers for 4 node ids: winners %+v, %d without", won, noFree)
	}
}

// The lease database goes away: the node must stop issuing before its lease
// could expire (last successful renewal + TTL), and resume when the
// database is back.
func TestIDGenStopsIssuingBeforeLeaseExpiry(t *testing.T) {
	m := harness.StartMariaDB(t, harness.ServerOptions{})
	cfg := idgenConfig(1, m.Open(t, ""), harness.UniqueName("drc_meta"))
	n := newIDGenNode(t, cfg)
	runIDGenNode(t, n)
	time.Sleep(2 * cfg.RenewInterval) // a few renewals

	type result struct {
		at  time.Time
		err error
	}
	firstErr := make(chan result, 1)
	stopIssuing := make(chan struct{})
	issued := atomic.Int64{}
	go func() {
		for {
			select {
			case <-stopIssuing:
				return
			default:
			}
			_, err := n.NextID()
			if errors.Is(err, idgen.ErrSequenceExhausted) {
				continue // this loop outruns 4096 IDs per ms; not a refusal
			}
			if err != nil {
				select {
				case firstErr <- result{time.Now(), err}:
				default:
				}
				time.Sleep(time.Millisecond)
				continue
			}
			issued.Add(1)
		}
	}()
	defer close(stopIssuing)

	m.Kill(t)
	killedAt := time.Now()
	var r result
	select {
	case r = <-firstErr:
	case <-time.After(2 * cfg.LeaseTTL):
		t.Fatalf("still issuing %s after the database died", 2*cfg.LeaseTTL)
	}
	st := n.State()
	expiry := st.LastRenew.Add(cfg.LeaseTTL) // the earliest the database could expire it
	if !r.at.Before(expiry) {
		t.Fatalf("first refusal at %s, not before the lease expiry %s", r.at.Format(time.StampMicro), expiry.Format(time.StampMicro))
	}
	if !errors.Is(r.err, idgen.ErrLeaseExpiring) {
		t.Fatalf("first refusal %v, want ErrLeaseExpiring", r.err)
	}
	t.Logf("database killed; issuing went on for %v and stopped %v before the lease could expire (%v)",
		r.at.Sub(killedAt).Round(time.Millisecond), expiry.Sub(r.at).Round(time.Millisecond), r.err)
	if st.Issuing || st.RenewFailures == 0 {
		t.Fatalf("state after the outage %+v", st)
	}

	m.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := n.NextID(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not issuing 30s after the database came back: %+v", n.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := n.State(); st.LeasesLost != 0 {
		t.Fatalf("lease lost although nobody took it: %+v", st)
	}
}

// A node restarts with its clock behind the mark of its node ID, after a
// clean stop and after a crash: with a short max wait it refuses, with a
// long one it waits; either way no ID repeats.
func TestIDGenClockBehindAtRestart(t *testing.T) {
	m := harness.StartMariaDB(t, harness.ServerOptions{})
	db := m.Open(t, "")
	for _, crash := range []bool{false, true} {
		name := map[bool]string{false: "clean stop", true: "crash"}[crash]
		t.Run(name, func(t *testing.T) {
			schema := harness.UniqueName("drc_meta")
			clk := &stepClock{}
			cfg := idgenConfig(1, db, schema)
			cfg.NodeBits = 1
			cfg.Clock = clk
			// Hold one of the two node IDs for the whole test, so every
			// restart must reuse the other one and its mark.
			store, err := idgen.NewSQLLeaseStore(db, schema, cfg.Layout())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := store.EnsureLayout(ctx, cfg.Layout()); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Acquire(ctx, idgen.AcquireRequest{Region: 1, Nodes: 2, Owner: "bystander", TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}

			var first []int64
			if crash {
				// A crash: the node never releases; its lease expires after a
				// TTL and its mark stays a TTL ahead of its last renewal.
				cfg.Leases = noRelease{store}
			}
			n1 := newIDGenNode(t, cfg)
			stop1 := runIDGenNode(t, n1)
			for i := 0; i < 100; i++ {
				buf := make([]int64, 100)
				if err := n1.Next(ctx, buf); err != nil {
					t.Fatal(err)
				}
				first = append(first, buf...)
			}
			if err := stop1(); err != nil {
				t.Fatal(err)
			}
			if crash {
				time.Sleep(cfg.LeaseTTL + 200*time.Millisecond)
			}
			cfg.Leases = nil

			clk.Step(-5 * time.Second)
			cfg.MaxClockWait = time.Second
			n2 := newIDGenNode(t, cfg)
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			err = n2.Run(rctx)
			var cbe *idgen.ClockBehindError
			if !errors.As(err, &cbe) {
				t.Fatalf("restart 5s behind with max wait 1s: %v, want ClockBehindError", err)
			}
			t.Logf("refused: %v", err)

			cfg.MaxClockWait = time.Minute
			n3 := newIDGenNode(t, cfg)
			go func() {
				time.Sleep(time.Second)
				clk.SetOffset(0) // the clock is fixed
			}()
			runIDGenNode(t, n3)
			buf := make([]int64, 10000)
			if err := n3.Next(ctx, buf); err != nil {
				t.Fatal(err)
			}
			if buf[0] <= slices.Max(first) {
				t.Fatalf("first ID after restart %d is not above the earlier maximum %d", buf[0], slices.Max(first))
			}
			all := slices.Concat(first, buf)
			slices.Sort(all)
			if len(slices.Compact(all)) != len(first)+len(buf) {
				t.Fatalf("IDs repeated across the restart")
			}
		})
	}
}

type noRelease struct{ *idgen.SQLLeaseStore }

func (noRelease) Release(context.Context, idgen.Lease, int64) error { return nil }

// serveIDGen runs an in-process idgen server of cfg on a loopback port
// until the test ends, waits until it issues, and returns it and its
// host:port.
func serveIDGen(t *testing.T, cfg idgen.Config) (*idgen.Server, string) {
	t.Helper()
	srv, err := idgen.NewServer(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("idgen Serve: %v", err)
		}
	})
	select {
	case <-srv.Node().Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("idgen not ready: %+v", srv.Node().State())
	}
	return srv, ln.Addr().String()
}

// The HTTP server on a real lease database: bad requests get 4xx JSON
// errors, a backward clock step gets 503 at once, and the Go client fails
// over from a dead address and gets unique IDs.
func TestIDGenHTTP(t *testing.T) {
	m := harness.StartMariaDB(t, harness.ServerOptions{})
	clk := &stepClock{}
	cfg := idgenConfig(3, nil, harness.UniqueName("drc_meta"))
	cfg.DSN = m.DSN("")
	cfg.Token = "tok"
	cfg.MaxCount = 1000
	cfg.Clock = clk
	_, addr := serveIDGen(t, cfg)
	ctx := context.Background()
	base := "http://" + addr

	do := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/v1/ids?count=0", "tok", 400},
		{"/v1/ids?count=1001", "tok", 400},
		{"/v1/ids?count=x", "tok", 400},
		{"/v1/ids/notanumber", "tok", 400},
		{"/v1/unknown", "tok", 404},
		{"/v1/ids?count=5", "", 401},
		{"/v1/ids?count=5", "tok", 200},
		{"/healthz", "", 200},
	} {
		code, body := do(tt.path, tt.token)
		if code != tt.want {
			t.Errorf("GET %s: %d %s, want %d", tt.path, code, body, tt.want)
		}
		if code >= 400 {
			var e struct{ Error string }
			if json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
				t.Errorf("GET %s: body %q is not {\"error\":...}", tt.path, body)
			}
		}
	}

	c, err := client.New(client.Config{Addrs: []string{"127.0.0.1:1", base}, Token: "tok", Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ids []int64
	for i := 0; i < 1000; i++ {
		id, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	more, err := c.NextN(ctx, 2500)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, more...)
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 3500 {
		t.Fatalf("client got repeated IDs")
	}
	p, err := c.Decompose(ctx, ids[0])
	if err != nil || p.Region != 3 {
		t.Fatalf("decompose: %+v, %v", p, err)
	}

	clk.Step(-time.Hour)
	start := time.Now()
	code, body := do("/v1/ids", "tok")
	if code != 503 || !strings.Contains(body, "backwards") || time.Since(start) > time.Second {
		t.Fatalf("during a 1h backward step: %d %s after %v", code, body, time.Since(start))
	}
	if code, _ := do("/healthz", ""); code != 503 {
		t.Fatalf("healthz during the step: %d", code)
	}
	clk.SetOffset(0)
}

// A node configured with another layout refuses to start and says why.
func TestIDGenLayoutMismatch(t *testing.T) {
	m := harness.StartMariaDB(t, harness.ServerOptions{})
	db := m.Open(t, "")
	schema := harness.UniqueName("drc_meta")
	runIDGenNode(t, newIDGenNode(t, idgenConfig(1, db, schema)))
	cfg := idgenConfig(2, db, schema)
	cfg.SequenceBits = 10
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := newIDGenNode(t, cfg).Run(ctx)
	if !errors.Is(err, idgen.ErrLayoutMismatch) || !strings.Contains(err.Error(), "sequence_bits=12") {
		t.Fatalf("Run with another layout: %v", err)
	}
	t.Logf("refused: %v", err)
}
