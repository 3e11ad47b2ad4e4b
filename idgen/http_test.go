package idgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newTestServer(t *testing.T, token string) (*Server, *httptest.Server, *fakeClock) {
	t.Helper()
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	cfg := nodeConfig(2, mem.store(), clk)
	cfg.MaxCount = 500
	cfg.Token = token
	s, err := NewServer(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, s.Node())
	waitReady(t, s.Node())
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs, clk
}

func get(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPIDs(t *testing.T) {
	s, hs, _ := newTestServer(t, "")
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 1}, {"?count=1", 1}, {"?count=100", 100}, {"?count=500", 500}} {
		code, h, body := get(t, hs.URL+"/v1/ids"+tt.query, "")
		if code != 200 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", tt.query, code, body)
		}
		var got struct{ IDs []string }
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v in %s", tt.query, err, body)
		}
		if len(got.IDs) != tt.want {
			t.Fatalf("%s: %d ids, want %d", tt.query, len(got.IDs), tt.want)
		}
		for _, sid := range got.IDs {
			id, err := strconv.ParseInt(sid, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if p, _ := Decompose(id, s.Node().Layout()); p.Region != 2 {
				t.Fatalf("id %s decodes to %+v", sid, p)
			}
		}
	}
}

func TestHTTPBadRequests(t *testing.T) {
	_, hs, _ := newTestServer(t, "")
	tests := []struct {
		method, path string
		want         int
		wantMsg      string
	}{
		{"GET", "/v1/ids?count=0", 400, "count must be"},
		{"GET", "/v1/ids?count=-5", 400, "count must be"},
		{"GET", "/v1/ids?count=501", 400, "1..500"},
		{"GET", "/v1/ids?count=abc", 400, "count must be"},
		{"GET", "/v1/ids?count=", 400, "count must be"},
		{"GET", "/v1/ids?count=1&count=2", 400, "count must be"},
		{"GET", "/v1/ids?count=99999999999999999999", 400, "count must be"},
		{"GET", "/v1/ids/abc", 400, "invalid id"},
		{"GET", "/v1/ids/-1", 400, "invalid id"},
		{"GET", "/v1/ids/9223372036854775808", 400, "invalid id"},
		{"GET", "/v1/ids?count=%zz", 400, "invalid URL escape"},
		{"GET", "/v1/ids/../../x", 404, "no such path"},
		{"GET", "/v1//ids", 404, "no such path"},
		{"GET", "/v1/nope", 404, "no such path"},
		{"GET", "/v1/ids/1/2", 404, "no such path"},
		{"GET", "/", 404, "no such path"},
		{"POST", "/v1/ids", 405, "not allowed"},
		{"DELETE", "/v1/ids/123", 405, "not allowed"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, hs.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || err != nil || !strings.Contains(body.Error, tt.wantMsg) {
			t.Errorf("%s %s: got %d %q (%v), want %d with %q", tt.method, tt.path, resp.StatusCode, body.Error, err, tt.want, tt.wantMsg)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
	}
}

func TestHTTPToken(t *testing.T) {
	_, hs, _ := newTestServer(t, "s3cret")
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/v1/ids", "", 401},
		{"/v1/ids", "wrong", 401},
		{"/v1/ids", "s3cret", 200},
		{"/v1/ids/123", "", 401},
		{"/v1/ids/123", "s3cret", 200},
		{"/healthz", "", 200}, // probes and scrapers need no token
		{"/metrics", "", 200},
	} {
		if code, _, body := get(t, hs.URL+tt.path, tt.token); code != tt.want {
			t.Errorf("%s token %q: %d %s, want %d", tt.path, tt.token, code, body, tt.want)
		}
	}
}

func TestHTTPDecompose(t *testing.T) {
	s, hs, _ := newTestServer(t, "")
	id, err := s.Node().NextID()
	if err != nil {
		t.Fatal(err)
	}
	code, _, body := get(t, hs.URL+"/v1/ids/"+strconv.FormatInt(id, 10), "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got Parts
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want, _ := Decompose(id, s.Node().Layout())
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestHTTPHealthAndMetrics(t *testing.T) {
	_, hs, clk := newTestServer(t, "")
	code, _, body := get(t, hs.URL+"/healthz", "")
	var st NodeState
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || !st.Issuing || st.Phase != PhaseIssuing {
		t.Fatalf("healthz %d %s (%v)", code, body, err)
	}
	if code, _, _ := get(t, hs.URL+"/v1/ids?count=10", ""); code != 200 {
		t.Fatal(code)
	}
	_, _, metrics := get(t, hs.URL+"/metrics", "")
	for _, want := range []string{
		"drc_idgen_ids_issued_total 10", "drc_idgen_issuing 1", "drc_idgen_lease_node 0",
		`drc_idgen_http_requests_total{code="200",handler="ids"} 1`, "drc_idgen_lease_remaining_seconds",
		`drc_idgen_refusals_total{reason="clock_backward"} 0`, "drc_idgen_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, line := range strings.Split(metrics, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "drc_idgen_") {
			t.Errorf("metric outside drc_idgen_: %s", line)
		}
	}

	// A backward step beyond the budget: 503 at once, healthz 503.
	clk.Add(-time.Hour)
	code, h, body := get(t, hs.URL+"/v1/ids", "")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "backwards") {
		t.Fatalf("ids during a step: %d %s", code, body)
	}
	if code, _, body := get(t, hs.URL+"/healthz", ""); code != 503 || !strings.Contains(body, `"clock_ok":false`) {
		t.Fatalf("healthz during a step: %d %s", code, body)
	}
}

func TestServerServeStopsEverything(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	s, err := NewServer(nodeConfig(0, mem.store(), clk), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	waitReady(t, s.Node())
	if code, _, body := get(t, "http://"+ln.Addr().String()+"/v1/ids?count=3", ""); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if len(mem.release) != 1 {
		t.Fatalf("lease released %d times, want 1", len(mem.release))
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatalf("listener still open after Serve returned")
	}

	// A node that must refuse makes Serve return its error.
	mem2 := newMemLeases(clk)
	_ = mem2.store().EnsureLayoutFn(ctx, Layout{TimeUnit: time.Second, StartTime: t0, SequenceBits: 1, RegionBits: 1, NodeBits: 1})
	s2, err := NewServer(nodeConfig(0, mem2.store(), clk), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s2.Serve(context.Background(), ln2); !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("Serve with a stored other layout: %v", err)
	}
}

// TestHTTPHeaderTooLarge: through Serve's own http.Server and a real
// listener, an oversized request header is answered with a JSON 431 up to
// the server's MaxHeaderBytes (the tester's 2 MB header included); beyond
// it net/http answers by itself, in plain text, as documented.
func TestHTTPHeaderTooLarge(t *testing.T) {
	clk := newFakeClock(t0)
	s, err := NewServer(nodeConfig(0, newMemLeases(clk).store(), clk), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitReady(t, s.Node())
	base := "http://" + ln.Addr().String()

	for _, tt := range []struct {
		name string
		size int
		want int
	}{
		{"small", 1 << 10, 200},
		{"just under the limit", maxHeaderBytes - 200, 200},
		{"just over the limit", maxHeaderBytes + 1, 431},
		{"2 MB", 2 << 20, 431},
	} {
		req, err := http.NewRequest(http.MethodGet, base+"/v1/ids", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Big", strings.Repeat("x", tt.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Fatalf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.want)
		}
		if tt.want == 200 {
			continue
		}
		var e struct{ Error string }
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "request header is") {
			t.Errorf("%s: %s %q, want a JSON error", tt.name, ct, body)
		}
	}

	// Beyond MaxHeaderBytes: net/http's own answer, read off a raw
	// connection (the client is still writing when the server answers).
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		big := strings.Repeat("x", serverMaxHeaderBytes+8<<10)
		_, _ = io.WriteString(conn, "GET /v1/ids HTTP/1.1\r\nHost: idgen\r\nX-Big: "+big+"\r\n\r\n") // fails once the server closes
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read net/http's answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 431 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("beyond MaxHeaderBytes: %d %s %q, want net/http's plain-text 431", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestHTTPHealthShowsErrorsOnlyWithToken(t *testing.T) {
	const secret = "Access denied for user 'drc'@'10.1.2.3'"
	for _, tc := range []struct {
		token, sent string
		shown       bool
	}{
		{"", "", false},
		{"tok", "", false},
		{"tok", "wrong", false},
		{"tok", "tok", true},
	} {
		s, hs, _ := newTestServer(t, tc.token)
		s.Node().setErr(errors.New(secret))
		_, _, body := get(t, hs.URL+"/healthz", tc.sent)
		if strings.Contains(body, secret) != tc.shown {
			t.Errorf("token %q, sent %q: /healthz = %s; want the last error shown: %v", tc.token, tc.sent, body, tc.shown)
		}
	}
}
