package testpki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"
)

func TestIssueBetween(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca := NewCA(t, dir, "ca", now.Add(48*time.Hour))
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	for _, c := range []struct {
		name       string
		from, to   time.Time
		wantExpiry bool
	}{
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), false},
		{"expired", now.Add(-47 * time.Hour), now.Add(-time.Hour), true},
	} {
		l := ca.IssueBetween(t, c.name, Server, c.from, c.to)
		for _, host := range []string{"127.0.0.1", "localhost"} {
			_, err := l.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			var invalid x509.CertificateInvalidError
			expired := errors.As(err, &invalid) && invalid.Reason == x509.Expired
			if c.wantExpiry != expired || (!c.wantExpiry && err != nil) {
				t.Errorf("%s: verify for %s: %v, want expired %v", c.name, host, err, c.wantExpiry)
			}
		}
		// Both key files hold the certificate's key.
		if _, err := tls.LoadX509KeyPair(l.CertFile, l.KeyFile); err != nil {
			t.Errorf("%s: SEC 1 key: %v", c.name, err)
		}
		if _, err := tls.LoadX509KeyPair(l.CertFile, l.PKCS8KeyFile); err != nil {
			t.Errorf("%s: PKCS #8 key: %v", c.name, err)
		}
		raw, err := os.ReadFile(l.PKCS8KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		if b == nil || b.Type != "PRIVATE KEY" {
			t.Fatalf("%s: PKCS #8 file holds no PRIVATE KEY block", c.name)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatalf("%s: PKCS #8 key: %v", c.name, err)
		}
		if !k.(*ecdsa.PrivateKey).PublicKey.Equal(l.Cert.PublicKey) {
			t.Errorf("%s: PKCS #8 key is not the certificate's", c.name)
		}
	}
}
