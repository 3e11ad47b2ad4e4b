package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer hands out consecutive IDs; its behaviour is switchable.
type fakeServer struct {
	*httptest.Server
	next     atomic.Int64
	requests atomic.Int64
	status   atomic.Int64 // non-zero: answer with this status
	delay    atomic.Int64 // nanoseconds before answering
	token    string
	mu       sync.Mutex
	counts   []int
}

func newFakeServer(t *testing.T, token string) *fakeServer {
	f := &fakeServer{token: token}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if d := f.delay.Load(); d > 0 {
		select {
		case <-time.After(time.Duration(d)):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":"missing or wrong bearer token"}`)
		return
	}
	if s := f.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		fmt.Fprintf(w, `{"error":"status %d"}`, s)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/ids/") {
		fmt.Fprintf(w, `{"id":"%s","time":"2026-01-01T00:00:00Z","elapsed":1,"sequence":2,"machine":3,"region":0,"region_name":"a","node":3}`,
			strings.TrimPrefix(r.URL.Path, "/v1/ids/"))
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("count"))
	f.mu.Lock()
	f.counts = append(f.counts, n)
	f.mu.Unlock()
	var b strings.Builder
	b.WriteString(`{"ids":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d"`, f.next.Add(1))
	}
	b.WriteString("]}")
	fmt.Fprint(w, b.String())
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNextPrefetches(t *testing.T) {
	srv := newFakeServer(t, "tok")
	c := newClient(t, Config{Addrs: []string{srv.URL}, Token: "tok", Batch: 10, LowWater: 5})
	// New fetches the first batch by itself.
	eventually(t, "the first batch", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.buf) == 10
	})
	var got []int64
	for i := 0; i < 6; i++ {
		id, err := c.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	// Below the low water mark (4 left < 5): refilled in the background
	// before the buffer ran empty.
	eventually(t, "a background refill", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.buf) == 14
	})
	if srv.requests.Load() != 2 {
		t.Fatalf("%d requests, want 2", srv.requests.Load())
	}
	if want := []int64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestNextConcurrentUnique(t *testing.T) {
	srv := newFakeServer(t, "")
	c := newClient(t, Config{Addrs: []string{srv.URL}, Batch: 50})
	var mu sync.Mutex
	var all []int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for i := 0; i < 500; i++ {
				id, err := c.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, id)
			}
			more, err := c.NextN(context.Background(), 1234)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			all = append(all, mine...)
			all = append(all, more...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(all)
	if len(all) != 8*(500+1234) || len(slices.Compact(all)) != len(all) {
		t.Fatalf("%d IDs, repeats present or missing", len(all))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if m := slices.Max(srv.counts); m > 1000 {
		t.Fatalf("a request asked for %d IDs, over MaxPerRequest", m)
	}
}

func TestFailover(t *testing.T) {
	dead := newFakeServer(t, "")
	dead.Close() // connection refused
	busy := newFakeServer(t, "")
	busy.status.Store(503)
	good := newFakeServer(t, "")
	c := newClient(t, Config{Addrs: []string{dead.URL, busy.URL, good.URL}, Batch: 10})
	for i := 0; i < 30; i++ {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if c.prefer.Load() != 2 {
		t.Fatalf("prefers server %d, want the good one (2)", c.prefer.Load())
	}
	// Once on the good server the client stays there.
	before := busy.requests.Load()
	for i := 0; i < 30; i++ {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if busy.requests.Load() != before {
		t.Fatalf("kept asking the busy server")
	}

	// Every server failing: the error names them all.
	good.status.Store(500)
	_, err := c.NextN(context.Background(), 5000)
	if err == nil || !strings.Contains(err.Error(), "all 3 servers failed") {
		t.Fatalf("all failing: %v", err)
	}
}

func TestNoFailoverOnClientErrors(t *testing.T) {
	a := newFakeServer(t, "right")
	b := newFakeServer(t, "right")
	c := newClient(t, Config{Addrs: []string{a.URL, b.URL}, Token: "wrong"})
	_, err := c.Next(context.Background())
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.Message, "bearer token") {
		t.Fatalf("got %v, want APIError 401", err)
	}
	if total := a.requests.Load() + b.requests.Load(); total > 2 {
		// One from New's prefetch, one from Next: never the second server
		// for the same attempt.
		t.Fatalf("%d requests; a 401 must not fail over", total)
	}
}

func TestContextAndClose(t *testing.T) {
	slow := newFakeServer(t, "")
	slow.delay.Store(int64(time.Minute))
	c, err := New(Config{Addrs: []string{slow.URL}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Next with a 50ms deadline: %v after %s", err, time.Since(start))
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Next(context.Background())
		waiting <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a refill was in flight")
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting Next after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

func TestDecompose(t *testing.T) {
	srv := newFakeServer(t, "")
	c := newClient(t, Config{Addrs: []string{strings.TrimPrefix(srv.URL, "http://")}})
	p, err := c.Decompose(context.Background(), 1234567)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != 1234567 || p.Node != 3 || p.Sequence != 2 || p.RegionName != "a" {
		t.Fatalf("got %+v", p)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Addrs: []string{"http://"}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
