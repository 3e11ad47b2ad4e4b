package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/internal/testpki"
)

// TestListenerTLS: metrics.tls and idgen.tls are validated with their
// files read, each problem named by its key; a listener without them
// warns when it is reachable from other hosts.
func TestListenerTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca", time.Now().Add(time.Hour))
	srv := ca.Issue(t, "server", testpki.Server, time.Now().Add(time.Hour))
	missing := filepath.Join(dir, "missing.pem")

	good := minimal + `metrics: {listen: "0.0.0.0:9100", tls: {cert: ` + srv.CertFile + `, key: ` + srv.KeyFile + `, client_ca: ` + ca.CertFile + `}}
idgen: {listen: "0.0.0.0:7070", tls: {cert: ` + srv.CertFile + `, key: ` + srv.KeyFile + `}}
`
	cfg, err := Parse([]byte(good), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.Metrics.TLS.ClientCA != ca.CertFile || cfg.IDGen.TLS.Cert != srv.CertFile {
		t.Errorf("parsed metrics.tls %+v, idgen.tls %+v", cfg.Metrics.TLS, cfg.IDGen.TLS)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); strings.Contains(w, "plain HTTP") {
		t.Errorf("HTTPS listeners warned:\n%s", w)
	}
	env, err := Parse([]byte(minimal), envMap(map[string]string{
		"DRC_METRICS_LISTEN": "127.0.0.1:9100", "DRC_METRICS_TLS_CERT": srv.CertFile, "DRC_METRICS_TLS_KEY": srv.KeyFile,
	}))
	if err != nil || env.Validate() != nil || env.Metrics.TLS.Key != srv.KeyFile {
		t.Errorf("metrics.tls from the environment: %v, %v, %+v", err, env.Validate(), env.Metrics.TLS)
	}

	for _, tc := range []struct{ yaml, want string }{
		{`metrics: {listen: ":9100", tls: {cert: ` + srv.CertFile + `}}`, "metrics.tls.key: must be set with cert"},
		{`metrics: {listen: ":9100", tls: {key: ` + srv.KeyFile + `}}`, "metrics.tls.cert: must be set with key"},
		{`metrics: {listen: ":9100", tls: {client_ca: ` + ca.CertFile + `}}`, "metrics.tls.client_ca: needs cert and key"},
		{`metrics: {listen: ":9100", tls: {cert: ` + missing + `, key: ` + srv.KeyFile + `}}`, "metrics.tls.cert: open " + missing},
		{`idgen: {tls: {cert: ` + srv.CertFile + `, key: ` + missing + `}}`, "idgen.tls.key: open " + missing},
		{`idgen: {tls: {cert: ` + srv.CertFile + `, key: ` + srv.KeyFile + `, client_ca: ` + srv.KeyFile + `}}`, "idgen.tls.client_ca: " + srv.KeyFile + ": no PEM certificate"},
		{`idgen: {tls: {cert: ` + srv.KeyFile + `, key: ` + srv.KeyFile + `}}`, "idgen.tls.cert: " + srv.KeyFile + ": no PEM certificate"},
	} {
		cfg, err := Parse([]byte(minimal+tc.yaml+"\n"), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.yaml, err, tc.want)
		}
	}

	// Plain HTTP warns unless only this host can reach it.
	for _, tc := range []struct {
		yaml string
		want []string // warnings about listeners, by key
	}{
		{``, nil}, // idgen.listen defaults to 127.0.0.1:7070, metrics off
		{`metrics: {listen: "0.0.0.0:9100"}`, []string{"metrics.listen 0.0.0.0:9100 serves plain HTTP (no metrics.tls.cert)"}},
		{`metrics: {listen: "localhost:9100"}`, nil},
		{`idgen: {listen: ":7070"}`, []string{"idgen.listen :7070 serves plain HTTP (no idgen.tls.cert): requests, responses and any bearer token cross the network readable"}},
		{`metrics: {listen: "10.0.0.1:9100"}
idgen: {listen: "10.0.0.1:7070"}`, []string{"metrics.listen 10.0.0.1:9100", "idgen.listen 10.0.0.1:7070"}},
	} {
		cfg, err := Parse([]byte(minimal+tc.yaml+"\n"), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		var got []string
		for _, w := range cfg.Warnings() {
			if strings.Contains(w, "plain HTTP") {
				got = append(got, w)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: listener warnings %q, want %d", tc.yaml, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%q: warning %q, want it to start with %q", tc.yaml, got[i], w)
			}
		}
	}
}
