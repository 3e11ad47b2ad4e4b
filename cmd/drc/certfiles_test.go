package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/drc-dev/drc/config"
)

// TestRoleCertFiles: each role's expiry gauge covers its listeners and the
// endpoints it connects to, and no other.
func TestRoleCertFiles(t *testing.T) {
	cfg := config.Default()
	cfg.Metrics = config.Metrics{Listen: ":9100", TLS: config.ListenerTLS{Cert: "/m.pem", Key: "/m-key.pem", ClientCA: "/m-ca.pem"}}
	cfg.IDGen.TLS = config.ListenerTLS{Cert: "/i.pem", Key: "/i-key.pem"}
	cfg.Source.TLS = config.TLS{Mode: "verify-identity", CA: "/s-ca.pem", Cert: "/s.pem", Key: "/s-key.pem"}
	cfg.Target.TLS = config.TLS{Mode: "verify-identity", CA: "/t-ca.pem"}
	cfg.Kafka.TLS = config.TLS{Mode: "verify-identity", CA: "/k-ca.pem"}
	metrics := []string{"metrics.tls.cert /m.pem", "metrics.tls.client_ca /m-ca.pem"}
	root := newRootCmd(io.Discard, io.Discard)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"replicate"}, append(slices.Clone(metrics), "source.tls.ca /s-ca.pem", "source.tls.cert /s.pem", "kafka.tls.ca /k-ca.pem")},
		{[]string{"apply"}, append(slices.Clone(metrics), "target.tls.ca /t-ca.pem", "kafka.tls.ca /k-ca.pem")},
		{[]string{"bootstrap"}, append(slices.Clone(metrics), "source.tls.ca /s-ca.pem", "source.tls.cert /s.pem", "target.tls.ca /t-ca.pem")},
		{[]string{"idgen", "serve"}, append(slices.Clone(metrics), "idgen.tls.cert /i.pem", "source.tls.ca /s-ca.pem", "source.tls.cert /s.pem")},
	} {
		cmd, _, err := root.Find(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range roleCertFiles(cmd, cfg) {
			got = append(got, f.Use+" "+f.Path)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	// idgen with its own server, and no metrics listener.
	cfg.Metrics.Listen = ""
	cfg.IDGen.MySQL = config.MySQL{Host: "db", TLS: config.TLS{Mode: "verify-ca", CA: "/db-ca.pem"}}
	cmd, _, err := root.Find([]string{"idgen", "serve"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range roleCertFiles(cmd, cfg) {
		got = append(got, f.Use+" "+f.Path)
	}
	if want := []string{"idgen.tls.cert /i.pem", "idgen.mysql.tls.ca /db-ca.pem"}; !slices.Equal(got, want) {
		t.Errorf("idgen serve with idgen.mysql: %q, want %q", got, want)
	}
}
