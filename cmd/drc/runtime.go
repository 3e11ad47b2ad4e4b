package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/internal/httpserve"
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
	logConfigWarnings(log, cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	expiry, err := httpserve.NewCertExpiry(roleCertFiles(cmd, cfg), nil)
	if err != nil {
		// The role reports the file's problem itself when it uses it.
		log.Warn("drc_tls_certificate_expiry_seconds leaves out a certificate file it cannot read", "error", err)
	}
	reg.MustRegister(expiry)
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()

	srvErr := make(chan error, 1)
	var srv *http.Server
	if cfg.Metrics.Listen != "" {
		tc, err := httpserve.TLS(cfg.Metrics.TLS).Server()
		if err != nil {
			return &exitCodeError{exitError, fmt.Errorf("metrics.tls: %w", err)}
		}
		ln, err := httpserve.Listen(cfg.Metrics.Listen, tc)
		if err != nil {
			return &exitCodeError{exitError, fmt.Errorf("metrics.listen: %w", err)}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv = &http.Server{
			Handler: mux, ReadHeaderTimeout: 5 * time.Second,
			// Refused TLS handshakes (no or a wrong client certificate).
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { srvErr <- srv.Serve(ln) }()
		log.Info("serving metrics", "addr", ln.Addr().String(), "https", tc != nil, "client_certificates", cfg.Metrics.TLS.ClientCA != "")
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

// roleCertFiles names the certificate files the role cmd runs reads, for
// drc_tls_certificate_expiry_seconds: its listeners' certificates and
// client CAs, and the ca and cert of each endpoint it connects to. Each is
// labelled with the config key that names it.
func roleCertFiles(cmd *cobra.Command, cfg config.Config) []httpserve.CertFile {
	var out []httpserve.CertFile
	add := func(use, path string) {
		if path != "" {
			out = append(out, httpserve.CertFile{Use: use, Path: path})
		}
	}
	listener := func(key string, t config.ListenerTLS) {
		add(key+".tls.cert", t.Cert)
		add(key+".tls.client_ca", t.ClientCA)
	}
	endpoint := func(key string, t config.TLS) {
		add(key+".tls.ca", t.CA)
		add(key+".tls.cert", t.Cert)
	}
	if cfg.Metrics.Listen != "" {
		listener("metrics", cfg.Metrics.TLS)
	}
	switch strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ") {
	case "replicate":
		endpoint("source", cfg.Source.TLS)
		endpoint("kafka", cfg.Kafka.TLS)
	case "apply":
		endpoint("target", cfg.Target.TLS)
		endpoint("kafka", cfg.Kafka.TLS)
	case "bootstrap", "reconcile":
		endpoint("source", cfg.Source.TLS)
		endpoint("target", cfg.Target.TLS)
	case "idgen serve":
		listener("idgen", cfg.IDGen.TLS)
		if cfg.IDGen.MySQL.Host != "" {
			endpoint("idgen.mysql", cfg.IDGen.MySQL.TLS)
		} else {
			endpoint("source", cfg.Source.TLS)
		}
	}
	return out
}
