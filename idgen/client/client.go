// Package client is the Go client of drc's ID generator (`drc idgen
// serve`). It keeps a local buffer of IDs that a background goroutine
// refills before it runs empty, so most Next calls cost a mutex and no
// network round trip, and it fails over between several servers.
//
//	c, err := client.New(client.Config{
//		Addrs: []string{"http://idgen-a1:7070", "http://idgen-a2:7070"},
//		Token: os.Getenv("DRC_IDGEN_TOKEN"),
//	})
//	if err != nil { ... }
//	defer c.Close()
//	id, err := c.Next(ctx)
//
// Against servers that speak HTTPS (idgen.tls), give it the CA their
// certificates chain to and, if they require client certificates, one of
// yours:
//
//	tc, err := client.TLSFiles("/etc/drc/idgen-ca.pem", "/etc/svc/client.pem", "/etc/svc/client-key.pem")
//	if err != nil { ... }
//	c, err := client.New(client.Config{Addrs: []string{"https://idgen-a1:7070"}, TLS: tc})
//
// It imports nothing of drc's server side, so services do not pull in the
// MySQL driver or Prometheus by using it.
//
// Prefetched IDs are unique forever, but their time part is the time they
// were issued, not the time they are used: with a large buffer and little
// traffic, IDs can be older than the rows they key. Keep Batch near what the
// service uses in a second or so if time order matters to you.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("idgen client: closed")

// Config configures a Client. Zero fields get defaults.
type Config struct {
	// Addrs are the servers' base URLs, e.g. "https://idgen-a1:7070"; a bare
	// host:port gets "https://" when TLS is set, else "http://". A client
	// starts at a random one and stays on a server that works, failing over
	// to the next on network errors (a certificate that does not verify
	// among them), 5xx and 429.
	Addrs []string
	// TLS is used for https:// servers: RootCAs are the CAs their
	// certificates must chain to (nil: the system's), and Certificates
	// the client certificate for servers that require one (idgen.tls.
	// client_ca). TLSFiles builds one from PEM files. With TLS set, every
	// address must be https://, so that the token and the IDs never cross
	// the network in clear by a slip of one address. Set it on HTTPClient's
	// transport instead when HTTPClient is set.
	TLS *tls.Config
	// Token is sent as "Authorization: Bearer <Token>" when set.
	Token string
	// Batch is how many IDs one background refill asks for; default 100.
	Batch int
	// LowWater: a refill starts when fewer IDs than this are buffered;
	// default Batch/2. The buffer holds at most LowWater+Batch IDs.
	LowWater int
	// MaxPerRequest caps the count of one request made by NextN; it must
	// not exceed the server's max_count. Default 1000.
	MaxPerRequest int
	// Timeout bounds each HTTP attempt (one server); default 2s.
	Timeout time.Duration
	// HTTPClient defaults to a client with keep-alive connections.
	HTTPClient *http.Client
}

// APIError is a response other than 200 from a server.
type APIError struct {
	Addr       string
	StatusCode int
	Message    string // the server's {"error": ...}, or the body
}

func (e *APIError) Error() string {
	return fmt.Sprintf("idgen client: %s: HTTP %d: %s", e.Addr, e.StatusCode, e.Message)
}

// Temporary reports whether another server, or a later attempt, may
// succeed: 429 and 5xx. Other 4xx mean the request or token is wrong
// everywhere, so the client does not fail over on them.
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Parts is a decomposed ID, as GET /v1/ids/{id} returns it.
type Parts struct {
	ID       int64     `json:"id,string"`
	Time     time.Time `json:"time"`
	Elapsed  int64     `json:"elapsed"`
	Sequence int       `json:"sequence"`
	Machine  int       `json:"machine"`
	Region   int       `json:"region"`
	// RegionName is the region's name if the server knows it.
	RegionName string `json:"region_name,omitempty"`
	Node       int    `json:"node"`
}

// Client hands out IDs from a local buffer. It is safe for concurrent use.
type Client struct {
	cfg     Config
	addrs   []string
	hc      *http.Client
	ownHTTP bool
	prefer  atomic.Int32  // index into addrs of the server that last worked
	want    chan struct{} // cap 1: asks the refill goroutine for a refill
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	buf     []int64
	attempt chan struct{} // closed when the current or next refill attempt ends
	lastErr error         // of the last refill attempt
	closed  bool
}

// New returns a Client and starts its refill goroutine, which fetches a
// first batch at once. Close stops it.
func New(cfg Config) (*Client, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("idgen client: no server addresses")
	}
	if cfg.TLS != nil && cfg.HTTPClient != nil {
		return nil, errors.New("idgen client: TLS and HTTPClient are both set: set the TLS config on HTTPClient's transport")
	}
	c := &Client{cfg: cfg, want: make(chan struct{}, 1), attempt: make(chan struct{})}
	scheme := "http"
	if cfg.TLS != nil {
		scheme = "https"
	}
	for _, a := range cfg.Addrs {
		if !strings.Contains(a, "://") {
			a = scheme + "://" + a
		}
		u, err := url.Parse(a)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("idgen client: address %q: want %s://host:port", a, scheme)
		}
		if cfg.TLS != nil && u.Scheme != "https" {
			return nil, fmt.Errorf("idgen client: address %q is not https:// but Config.TLS is set", a)
		}
		c.addrs = append(c.addrs, strings.TrimRight(a, "/"))
	}
	if c.cfg.Batch <= 0 {
		c.cfg.Batch = 100
	}
	if c.cfg.LowWater <= 0 {
		c.cfg.LowWater = max(c.cfg.Batch/2, 1)
	}
	if c.cfg.MaxPerRequest <= 0 {
		c.cfg.MaxPerRequest = 1000
	}
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = 2 * time.Second
	}
	c.hc = cfg.HTTPClient
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64 // NextN callers may run many requests at once
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.Clone()
		}
		c.hc = &http.Client{Transport: tr}
		c.ownHTTP = true
	}
	// Spread clients over the servers; each then sticks to one that works.
	c.prefer.Store(int32(rand.IntN(len(c.addrs))))

	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	c.wg.Add(1)
	go c.refillLoop(ctx)
	c.kick()
	return c, nil
}

// TLSFiles returns a Config.TLS read from PEM files: caFile holds the CAs
// the servers' certificates must chain to ("" trusts the system's), and
// certFile and keyFile a client certificate and its key, for servers that
// require one (both or neither). It needs TLS 1.2 at least.
func TLSFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("idgen client: CA file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("idgen client: CA file %s: no PEM certificate in it", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("idgen client: a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("idgen client: client certificate %s, key %s: %w", certFile, keyFile, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// Close stops the refill goroutine and waits for it; calls waiting for IDs
// return ErrClosed. Buffered IDs are dropped (they are never reused).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
	c.mu.Lock()
	close(c.attempt) // wake waiters; they see closed
	c.attempt = make(chan struct{})
	c.buf = nil
	c.mu.Unlock()
	if c.ownHTTP {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// Next returns one ID from the buffer, waiting for a refill if it is empty.
// It returns the refill's error if the refill failed on every server.
func (c *Client) Next(ctx context.Context) (int64, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, ErrClosed
		}
		if n := len(c.buf); n > 0 {
			id := c.buf[0]
			c.buf = c.buf[1:]
			c.mu.Unlock()
			if n-1 < c.cfg.LowWater {
				c.kick()
			}
			return id, nil
		}
		wait := c.attempt
		c.mu.Unlock()
		c.kick()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, fmt.Errorf("idgen client: waiting for IDs: %w", ctx.Err())
		}
		c.mu.Lock()
		err, empty, closed := c.lastErr, len(c.buf) == 0, c.closed
		c.mu.Unlock()
		if empty && err != nil && !closed {
			return 0, err
		}
	}
}

// NextN returns n IDs: buffered ones first, the rest fetched directly in
// requests of at most MaxPerRequest, so a large n does not drain the
// buffer that Next callers rely on.
func (c *Client) NextN(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	out := make([]int64, 0, n)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	k := min(n, len(c.buf))
	out = append(out, c.buf[:k]...)
	c.buf = c.buf[k:]
	low := len(c.buf) < c.cfg.LowWater
	c.mu.Unlock()
	if low {
		c.kick()
	}
	for len(out) < n {
		ids, err := c.fetch(ctx, min(n-len(out), c.cfg.MaxPerRequest))
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

// Decompose asks a server to split id into its parts.
func (c *Client) Decompose(ctx context.Context, id int64) (Parts, error) {
	var p Parts
	err := c.failover(ctx, func(ctx context.Context, addr string) error {
		return c.get(ctx, addr+"/v1/ids/"+strconv.FormatInt(id, 10), &p)
	})
	return p, err
}

func (c *Client) kick() {
	select {
	case c.want <- struct{}{}:
	default:
	}
}

// refillLoop owns all background fetching; it returns when ctx is done.
func (c *Client) refillLoop(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.want:
		}
		for {
			ids, err := c.fetch(ctx, c.cfg.Batch)
			if ctx.Err() != nil {
				return
			}
			c.mu.Lock()
			c.buf = append(c.buf, ids...)
			c.lastErr = err
			close(c.attempt)
			c.attempt = make(chan struct{})
			again := err == nil && len(c.buf) < c.cfg.LowWater
			c.mu.Unlock()
			if !again {
				break
			}
		}
	}
}

// fetch asks one server after the other, starting at the preferred one,
// for n IDs.
func (c *Client) fetch(ctx context.Context, n int) ([]int64, error) {
	var resp struct {
		IDs []string `json:"ids"`
	}
	err := c.failover(ctx, func(ctx context.Context, addr string) error {
		return c.get(ctx, addr+"/v1/ids?count="+strconv.Itoa(n), &resp)
	})
	if err != nil {
		return nil, err
	}
	if len(resp.IDs) != n {
		return nil, fmt.Errorf("idgen client: asked for %d IDs, got %d", n, len(resp.IDs))
	}
	ids := make([]int64, n)
	for i, s := range resp.IDs {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("idgen client: bad ID %q in response: %w", s, err)
		}
		ids[i] = id
	}
	return ids, nil
}

func (c *Client) failover(ctx context.Context, call func(ctx context.Context, addr string) error) error {
	start := int(c.prefer.Load())
	var errs []error
	for i := range c.addrs {
		k := (start + i) % len(c.addrs)
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		err := call(actx, c.addrs[k])
		cancel()
		if err == nil {
			if i > 0 {
				c.prefer.Store(int32(k))
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("idgen client: %w", ctx.Err())
		}
		var ae *APIError
		if errors.As(err, &ae) && !ae.Temporary() {
			return err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("idgen client: all %d servers failed: %w", len(c.addrs), errors.Join(errs...))
}

func (c *Client) get(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("idgen client: %w", err)
	}
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("idgen client: %w", err) // *url.Error names the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("idgen client: read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Addr: req.URL.Host, StatusCode: resp.StatusCode, Message: msg}
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("idgen client: decode %s: %w", u, err)
	}
	return nil
}
