package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
)

// runtime is what a long-running role gets from the wiring: its context,
// logger and metrics registry.
type runtime struct {
	ctx context.Context
	log *slog.Logger
	reg *prometheus.Registry
}

// runRole sets up logging and the /metrics server, runs fn, and shuts the
// server down when fn returns. Errors exit with code 2.
func runRole(cmd *cobra.Command, cfg config.Config, fn func(*runtime) error) error {
	log, err := newLogger(cfg.Log, cmd.ErrOrStderr())
	if err != nil {
		return &exitCodeError{exitError, err}
	}
	for _, w := range cfg.Warnings() {
		log.Warn("config: " + w)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()

	srvErr := make(chan error, 1)
	var srv *http.Server
	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return &exitCodeError{exitError, fmt.Errorf("metrics.listen: %w", err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { srvErr <- srv.Serve(ln) }()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}

	err = fn(&runtime{ctx: ctx, log: log, reg: reg})
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(sctx)
		scancel()
		if serr := <-srvErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = fmt.Errorf("metrics server: %w", serr)
		}
	}
	if err != nil {
		// The fatal error is a log record like every other line, so a
		// JSON log stays JSON to its last line.
		log.Error("drc stopped", "error", err)
		return &exitCodeError{exitError, &loggedError{err}}
	}
	return nil
}
