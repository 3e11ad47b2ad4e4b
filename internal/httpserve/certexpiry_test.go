package httpserve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/internal/testpki"
)

func TestCertExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	ca := testpki.NewCA(t, dir, "ca", now.Add(90*24*time.Hour))
	other := testpki.NewCA(t, dir, "other", now.Add(30*24*time.Hour))
	server := ca.Issue(t, "server", testpki.Server, now.Add(10*24*time.Hour))
	expired := ca.Issue(t, "expired", testpki.Server, now.Add(-2*time.Hour))
	// A bundle of both CAs (a rotation): it verifies until the later one
	// expires.
	a, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(other.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, append(a, b...), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	clock := now
	c, err := NewCertExpiry([]CertFile{
		{Use: "metrics.tls.cert", Path: server.CertFile},
		{Use: "source.tls.ca", Path: bundle},
		{Use: "kafka.tls.cert", Path: expired.CertFile},
		{Use: "target.tls.ca", Path: missing},
		{Use: "metrics.tls.cert", Path: server.CertFile}, // named twice: one series
	}, func() time.Time { return clock })
	if err == nil || !strings.Contains(err.Error(), "target.tls.ca") || !strings.Contains(err.Error(), missing) {
		t.Errorf("error %v does not name target.tls.ca and %s", err, missing)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	gather := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "drc_tls_certificate_expiry_seconds" {
				t.Errorf("unexpected metric %s", mf.GetName())
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				got[labels["use"]+" "+labels["file"]] = m.GetGauge().GetValue()
			}
		}
		return got
	}
	want := map[string]float64{
		"metrics.tls.cert " + server.CertFile: (10 * 24 * time.Hour).Seconds(),
		"source.tls.ca " + bundle:             (90 * 24 * time.Hour).Seconds(),
		"kafka.tls.cert " + expired.CertFile:  (-2 * time.Hour).Seconds(),
	}
	check := func(got, want map[string]float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("got %d series %v, want %d %v", len(got), got, len(want), want)
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g != w {
				t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
			}
		}
	}
	check(gather(), want)

	// Computed at scrape time: a day later, every value is a day less.
	clock = clock.Add(24 * time.Hour)
	for k, v := range want {
		want[k] = v - (24 * time.Hour).Seconds()
	}
	check(gather(), want)
}
