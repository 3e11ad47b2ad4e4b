package httpserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/internal/testpki"
)

// pki is a CA, a server certificate and a client certificate it signed,
// and an unrelated CA.
type pki struct {
	dir    string
	ca     *testpki.CA
	other  *testpki.CA
	server testpki.Leaf
	client testpki.Leaf
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	year := time.Now().Add(365 * 24 * time.Hour)
	ca := testpki.NewCA(t, dir, "ca", year)
	return pki{
		dir:    dir,
		ca:     ca,
		other:  testpki.NewCA(t, dir, "other-ca", year),
		server: ca.Issue(t, "server", testpki.Server, year),
		client: ca.Issue(t, "client", testpki.Client, year),
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerSettings(t *testing.T) {
	p := newPKI(t)
	junk := writeFile(t, p.dir, "junk.pem", "not PEM at all\n")
	missing := filepath.Join(p.dir, "missing.pem")
	for _, tc := range []struct {
		name string
		tls  TLS
		// want lists the fields that must be named, in order; nil: no error.
		want       []string
		wantText   string
		wantConfig bool
		wantMTLS   bool
	}{
		{name: "plain HTTP", tls: TLS{}},
		{name: "cert and key", tls: TLS{Cert: p.server.CertFile, Key: p.server.KeyFile}, wantConfig: true},
		{name: "mutual TLS", tls: TLS{Cert: p.server.CertFile, Key: p.server.KeyFile, ClientCA: p.ca.CertFile}, wantConfig: true, wantMTLS: true},
		{name: "cert without key", tls: TLS{Cert: p.server.CertFile}, want: []string{"key"}, wantText: "must be set with cert"},
		{name: "key without cert", tls: TLS{Key: p.server.KeyFile}, want: []string{"cert"}, wantText: "must be set with key"},
		{name: "client_ca without cert", tls: TLS{ClientCA: p.ca.CertFile}, want: []string{"client_ca"}, wantText: "only over TLS"},
		{name: "missing cert file", tls: TLS{Cert: missing, Key: p.server.KeyFile}, want: []string{"cert"}, wantText: missing},
		{name: "cert not PEM", tls: TLS{Cert: junk, Key: p.server.KeyFile}, want: []string{"cert"}, wantText: "no PEM certificate"},
		{name: "missing key file", tls: TLS{Cert: p.server.CertFile, Key: missing}, want: []string{"key"}, wantText: missing},
		{name: "key of another certificate", tls: TLS{Cert: p.server.CertFile, Key: p.client.KeyFile}, want: []string{"key"}, wantText: "does not match"},
		{name: "client_ca not PEM", tls: TLS{Cert: p.server.CertFile, Key: p.server.KeyFile, ClientCA: junk}, want: []string{"client_ca"}, wantText: "no PEM certificate"},
		{name: "cert and client_ca both missing", tls: TLS{Cert: missing, Key: p.server.KeyFile, ClientCA: missing}, want: []string{"cert", "client_ca"}},
		{name: "too large", tls: TLS{Cert: "/dev/zero", Key: p.server.KeyFile}, want: []string{"cert"}, wantText: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.tls.Server()
			var got []string
			for _, e := range unjoin(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("error %v is not a *FieldError", e)
				}
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("fields named = %v, want %v (error: %v)", got, tc.want, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if (tc.tls.Validate() == nil) != (err == nil) {
				t.Errorf("Validate() = %v, Server() error = %v", tc.tls.Validate(), err)
			}
			if (c != nil) != tc.wantConfig {
				t.Fatalf("config = %v, want one: %v", c, tc.wantConfig)
			}
			if c == nil {
				return
			}
			if c.MinVersion != tls.VersionTLS12 {
				t.Errorf("MinVersion = %#x, want TLS 1.2", c.MinVersion)
			}
			if mtls := c.ClientAuth == tls.RequireAndVerifyClientCert && c.ClientCAs != nil; mtls != tc.wantMTLS {
				t.Errorf("client certificates required and verified: %v, want %v", mtls, tc.wantMTLS)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestWeak(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		tls  TLS
		addr string
		weak bool
	}{
		{TLS{}, "0.0.0.0:9100", true},
		{TLS{}, ":9100", true},
		{TLS{}, "10.1.2.3:7070", true},
		{TLS{}, "127.0.0.1:9100", false},
		{TLS{}, "[::1]:9100", false},
		{TLS{}, "localhost:9100", false},
		{TLS{Cert: p.server.CertFile, Key: p.server.KeyFile}, "0.0.0.0:9100", false},
	} {
		if got := tc.tls.Weak(tc.addr); (got != "") != tc.weak {
			t.Errorf("%+v.Weak(%q) = %q, want weak: %v", tc.tls, tc.addr, got, tc.weak)
		}
	}
}

// TestListenHTTPS serves over Listen and checks who gets an answer: a
// client that trusts the CA and presents a certificate it signed; not one
// without a client certificate, one whose certificate another CA signed,
// one that does not trust the server's CA, or one speaking plain HTTP.
func TestListenHTTPS(t *testing.T) {
	p := newPKI(t)
	otherClient := p.other.Issue(t, "other-client", testpki.Client, time.Now().Add(time.Hour))
	tc, err := TLS{Cert: p.server.CertFile, Key: p.server.KeyFile, ClientCA: p.ca.CertFile}.Server()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", tc)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ErrorLog: log.New(io.Discard, "", 0), // the refused handshakes
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	url := "https://" + ln.Addr().String() + "/"

	get := func(t *testing.T, roots string, cert *testpki.Leaf, scheme string) (string, error) {
		t.Helper()
		c := &tls.Config{RootCAs: x509.NewCertPool()}
		c.RootCAs.AddCert(p.ca.Cert)
		if roots == "other" {
			c.RootCAs = x509.NewCertPool()
			c.RootCAs.AddCert(p.other.Cert)
		}
		if cert != nil {
			pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		u := url
		if scheme == "http" {
			u = "http://" + ln.Addr().String() + "/"
		}
		resp, err := hc.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", errors.New(resp.Status + ": " + string(b))
		}
		return string(b), err
	}

	if body, err := get(t, "ca", &p.client, "https"); err != nil || body != "ok" {
		t.Fatalf("client with the CA and a client certificate: %q, %v", body, err)
	}
	if _, err := get(t, "ca", nil, "https"); err == nil {
		t.Error("a client without a certificate got an answer")
	}
	if _, err := get(t, "ca", &otherClient, "https"); err == nil {
		t.Error("a client whose certificate another CA signed got an answer")
	}
	var uerr x509.UnknownAuthorityError
	if _, err := get(t, "other", &p.client, "https"); !errors.As(err, &uerr) {
		t.Errorf("a client that does not trust the server's CA: %v, want x509.UnknownAuthorityError", err)
	}
	if _, err := get(t, "ca", &p.client, "http"); err == nil {
		t.Error("plain HTTP to an HTTPS listener got an answer")
	}
}

// TestListenPlain: without a *tls.Config, Listen serves plain HTTP.
func TestListenPlain(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-done
	}()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Errorf("body %q, want ok", b)
	}
}
