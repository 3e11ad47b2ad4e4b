package idgen

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the HTTP API:
//
//	GET /v1/ids?count=N   {"ids":["123",...]}        (N defaults to 1)
//	GET /v1/ids/{id}      Parts as JSON (decompose), with region_name if known
//	GET /healthz          NodeState; 200 when issuing, else 503
//	GET /metrics          Prometheus
//
// Errors are {"error":"..."} with 400 (bad input), 401 (token), 404, 405,
// 431 (header over maxHeaderBytes), or 503 with Retry-After when the node
// cannot issue right now.
func (s *Server) routes(m *metrics, reg *prometheus.Registry) http.Handler {
	h := &apiHandler{node: s.node, max: s.cfg.MaxCount, token: s.cfg.Token, m: m}
	mux := http.NewServeMux()
	mux.Handle("/v1/ids", h.wrap("ids", true, h.ids))
	mux.Handle("/v1/ids/{id}", h.wrap("decompose", true, h.decompose))
	mux.Handle("/healthz", h.wrap("healthz", false, h.health))
	metricsH := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux.Handle("/metrics", h.wrap("metrics", false, metricsH.ServeHTTP))
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such path %q; see /v1/ids, /v1/ids/{id}, /healthz, /metrics", r.URL.Path))
	}
	other := h.wrap("other", false, notFound)
	mux.Handle("/", other)
	tooLarge := h.wrap("other", false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request header is %d bytes, more than the %d allowed", headerBytes(r), maxHeaderBytes))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerBytes(r) > maxHeaderBytes {
			tooLarge.ServeHTTP(w, r)
			return
		}
		// ServeMux answers a path that is not clean ("/v1/ids/../x") with
		// an HTML redirect; this API answers JSON, and no client of it
		// sends such paths.
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			other.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Header limits. The API answers a request whose request line and header
// fields exceed maxHeaderBytes with a JSON 431, like any other error.
// net/http refuses a header over serverMaxHeaderBytes (http.Server's
// MaxHeaderBytes, plus 4 KiB of read buffer) itself, while reading it,
// before any handler runs: it writes its own text/plain "431 Request
// Header Fields Too Large" straight to the connection and closes it, and
// offers no hook to change that answer (Go 1.26). The gap between the two
// limits leaves that answer to headers far beyond what any client sends
// by mistake; reading one costs up to serverMaxHeaderBytes of memory per
// connection, for at most the server's ReadHeaderTimeout.
const (
	maxHeaderBytes       = 64 << 10
	serverMaxHeaderBytes = 4 << 20
)

// headerBytes is the size of r's request line and header fields as sent,
// give or take the spelling of the header names.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + len("  \r\n")
	if r.Host != "" {
		n += len("Host: \r\n") + len(r.Host) // net/http moves it out of Header
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return n
}

type apiHandler struct {
	node  *Node
	max   int
	token string
	m     *metrics
	bufs  sync.Pool // *idsBuf
}

type idsBuf struct {
	ids []int64
	out []byte
}

// wrap adds method checking, the optional bearer token and metrics.
func (h *apiHandler) wrap(name string, auth bool, f http.HandlerFunc) http.Handler {
	dur := h.m.duration.WithLabelValues(name)
	ok := h.m.requests.WithLabelValues(name, "200") // resolved once: the common case
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead && name != "other":
			sw.Header().Set("Allow", "GET, HEAD")
			writeError(sw, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use GET")
		case auth && h.token != "" && !h.authorized(r):
			sw.Header().Set("WWW-Authenticate", `Bearer realm="drc-idgen"`)
			writeError(sw, http.StatusUnauthorized, "missing or wrong bearer token")
		default:
			f(sw, r)
		}
		if sw.code == http.StatusOK {
			ok.Inc()
		} else {
			h.m.requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
		}
		dur.Observe(time.Since(start).Seconds())
	})
}

func (h *apiHandler) authorized(r *http.Request) bool {
	const prefix = "Bearer "
	got := r.Header.Get("Authorization")
	if len(got) < len(prefix) || got[:len(prefix)] != prefix {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got[len(prefix):]), []byte(h.token)) == 1
}

func (h *apiHandler) ids(w http.ResponseWriter, r *http.Request) {
	count := 1
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// URL.Query drops what it cannot parse, which would turn
		// count=%zz into the default count.
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query %q: %v", r.URL.RawQuery, err))
		return
	}
	if v, ok := query["count"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > h.max || len(v) > 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("count must be one integer 1..%d, got %q", h.max, strings.Join(v, ",")))
			return
		}
		count = n
	}
	b, _ := h.bufs.Get().(*idsBuf)
	if b == nil {
		b = &idsBuf{}
	}
	defer h.bufs.Put(b)
	if cap(b.ids) < count {
		b.ids = make([]int64, count)
	}
	ids := b.ids[:count]
	if err := h.node.Next(r.Context(), ids); err != nil {
		if IsRetryable(err) || r.Context().Err() != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	// Written by hand: encoding/json would cost more than issuing the IDs.
	out := append(b.out[:0], `{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = strconv.AppendInt(out, id, 10)
		out = append(out, '"')
	}
	out = append(out, "]}\n"...)
	b.out = out
	h.m.served.Add(float64(count))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out) // a failed write means the client went away
}

func (h *apiHandler) decompose(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := h.node.Decompose(id)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// health answers with the node's state. /healthz needs no token, so the
// last database error (it can name the database user and host) is shown
// only to a request that carries the configured token; it is always in the
// log.
func (h *apiHandler) health(w http.ResponseWriter, r *http.Request) {
	st := h.node.State()
	if h.token == "" || !h.authorized(r) {
		st.LastError = ""
	}
	code := http.StatusOK
	if !st.Issuing {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client went away
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg}) // a struct of one string always marshals
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter records the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
