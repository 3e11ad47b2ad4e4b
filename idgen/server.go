package idgen

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

// shutdownGrace bounds how long Run waits for in-flight HTTP requests. It
// runs alongside the lease release (releaseGracePeriod): both fit in the
// 5 s a role has to stop after SIGTERM.
const shutdownGrace = 3 * time.Second

// Server is `drc idgen serve`: a Node plus its HTTP API and metrics.
type Server struct {
	cfg  Config
	node *Node
	log  *slog.Logger
	// With a DSN, the pool is opened by Serve and closed when it returns, so
	// a Server that never runs holds no pool (nor its goroutine).
	connector driver.Connector
	dsnStore  *SQLLeaseStore
	storeAddr string // host:port of the lease store, for errors
	handler   http.Handler
}

// NewServer builds a Server. If neither cfg.Leases nor cfg.DB is set, it
// parses cfg.DSN; Run opens it. Metrics are registered on reg (a new
// private registry if nil) and served on /metrics. logger may be nil.
func NewServer(cfg Config, logger *slog.Logger, reg *prometheus.Registry) (*Server, error) {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: logger}
	if cfg.Leases == nil && cfg.DB == nil {
		if cfg.DSN == "" {
			return nil, errors.New("idgen server: config has no DSN, DB or Leases")
		}
		mc, err := mysql.ParseDSN(cfg.DSN)
		if err != nil {
			// ParseDSN's errors do not echo the password.
			return nil, fmt.Errorf("idgen server: parse DSN: %w", err)
		}
		s.storeAddr = mc.Addr
		if s.connector, err = mysql.NewConnector(mc); err != nil {
			return nil, fmt.Errorf("idgen server: DSN: %w", err)
		}
		if s.dsnStore, err = NewSQLLeaseStore(nil, cfg.Schema, cfg.Layout()); err != nil {
			return nil, err
		}
		cfg.Leases = s.dsnStore
	}
	node, err := NewNode(cfg, logger)
	if err != nil {
		return nil, err
	}
	s.node = node
	s.handler = s.routes(newMetrics(reg, node), reg)
	return s, nil
}

// Node is the server's ID node, for in-process use.
func (s *Server) Node() *Node { return s.node }

// Handler is the HTTP API, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on cfg.Listen and serves until ctx is done; see Serve.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("idgen server: listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve runs the node and the HTTP server on ln until ctx is done or
// either of them fails; it then stops both, releases the lease and returns
// when every goroutine has returned. It returns nil after ctx is done, or
// the first error (a layout mismatch, a ClockBehindError, a failed listener).
// A TLS listener (tls.NewListener; drc idgen serve uses
// internal/httpserve) makes the API and its /metrics HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.dsnStore != nil {
		db := sql.OpenDB(s.connector)
		// Lease traffic is a few statements per renew interval.
		db.SetMaxOpenConns(4)
		db.SetConnMaxIdleTime(time.Minute)
		defer db.Close() // after the node has released its lease
		// Set before the node's goroutine starts, which is all that reads it.
		s.dsnStore.db = db
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    serverMaxHeaderBytes, // see maxHeaderBytes
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() {
		err := s.node.Run(ctx)
		if err != nil && s.storeAddr != "" {
			err = fmt.Errorf("lease store %s: %w", s.storeAddr, err)
		}
		errc <- err
	}()
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else if err != nil {
			err = fmt.Errorf("idgen server: serve %s: %w", ln.Addr(), err)
		}
		errc <- err
	}()
	s.log.Info("idgen serving", "addr", ln.Addr().String(), "region", s.cfg.Region, "region_name", s.cfg.RegionName, "layout", s.node.layout.String())

	var err error
	pending := 2
	select {
	case err = <-errc:
		pending--
	case <-ctx.Done():
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close() // grace period over: drop the remaining connections
	}
	scancel()
	for ; pending > 0; pending-- {
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}
