package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/internal/testpki"
)

// TestHTTPS: against a server that requires client certificates, a client
// with TLSFiles(CA, cert, key) gets IDs; one without a client certificate,
// or trusting another CA, gets an error and no ID.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := testpki.NewCA(t, dir, "ca", year)
	other := testpki.NewCA(t, dir, "other", year)
	srvCert := ca.Issue(t, "server", testpki.Server, year)
	cliCert := ca.Issue(t, "client", testpki.Client, year)

	f := &fakeServer{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	pair, err := tls.LoadX509KeyPair(srvCert.CertFile, srvCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	f.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	f.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	f.StartTLS()
	t.Cleanup(f.Close)
	addr := strings.TrimPrefix(f.URL, "https://")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	good, err := TLSFiles(ca.CertFile, cliCert.CertFile, cliCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// A bare host:port is https:// when TLS is set.
	c := newClient(t, Config{Addrs: []string{addr}, TLS: good, Batch: 10})
	if id, err := c.Next(ctx); err != nil || id == 0 {
		t.Fatalf("client with the CA and a client certificate: %d, %v", id, err)
	}

	noCert, err := TLSFiles(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if ids, err := newClient(t, Config{Addrs: []string{f.URL}, TLS: noCert}).NextN(ctx, 1); err == nil {
		t.Errorf("client without a client certificate got %v", ids)
	}
	untrusting, err := TLSFiles(other.CertFile, cliCert.CertFile, cliCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClient(t, Config{Addrs: []string{f.URL}, TLS: untrusting}).NextN(ctx, 1)
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Errorf("client trusting another CA: %v, want a certificate verification error", err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "ca", time.Now().Add(time.Hour))
	cli := ca.Issue(t, "client", testpki.Client, time.Now().Add(time.Hour))
	tc, err := TLSFiles(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"http address with TLS", Config{Addrs: []string{"http://127.0.0.1:7070"}, TLS: tc}, "not https://"},
		{"TLS and HTTPClient", Config{Addrs: []string{"https://127.0.0.1:7070"}, TLS: tc, HTTPClient: &http.Client{}}, "both set"},
	} {
		if c, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s: New error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name              string
		ca, cert, key     string
		want              string
		wantRoots, wantCl bool
	}{
		{name: "CA only", ca: ca.CertFile, wantRoots: true},
		{name: "system roots and a client certificate", cert: cli.CertFile, key: cli.KeyFile, wantCl: true},
		{name: "missing CA", ca: dir + "/missing.pem", want: "missing.pem"},
		{name: "CA not PEM", ca: cli.KeyFile, want: "no PEM certificate"},
		{name: "cert without key", cert: cli.CertFile, want: "both"},
		{name: "key of another certificate", cert: cli.CertFile, key: dir + "/ca.pem", want: cli.CertFile},
	} {
		c, err := TLSFiles(tc.ca, tc.cert, tc.key)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if (c.RootCAs != nil) != tc.wantRoots || (len(c.Certificates) == 1) != tc.wantCl || c.MinVersion != tls.VersionTLS12 {
			t.Errorf("%s: roots %v, certificates %d, min version %#x", tc.name, c.RootCAs != nil, len(c.Certificates), c.MinVersion)
		}
	}
}
