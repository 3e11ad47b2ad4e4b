package harness

import (
	"os"
	"time"

	"github.com/drc-dev/drc/internal/testpki"
)

// PKI is a throwaway certificate authority for TLS tests, and certificates
// it issued, as PEM files in Dir (made by internal/testpki).
type PKI struct {
	Dir string
	CA  string // the CA certificate
	// Server is a certificate for 127.0.0.1 and localhost, valid now.
	Server ServerTLS
	// Expired is the same, but expired an hour ago.
	Expired ServerTLS
	// OtherCA is an unrelated CA certificate: a client trusting only it
	// must refuse Server.
	OtherCA string
	// ServerKeyPKCS8 is Server.Key in PKCS #8 ("PRIVATE KEY"), the form a
	// Kafka PEM keystore reads (MySQL and MariaDB read either).
	ServerKeyPKCS8 string
}

// NewPKI creates a PKI in a new directory, removed at the end of the test.
func NewPKI(t TB) *PKI {
	t.Helper()
	dir, err := os.MkdirTemp("", "drc-pki-")
	if err != nil {
		t.Fatalf("harness: pki dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	now := time.Now()
	ca := testpki.NewCA(t, dir, "ca", now.Add(48*time.Hour))
	other := testpki.NewCA(t, dir, "other-ca", now.Add(48*time.Hour))
	server := ca.IssueBetween(t, "server", testpki.Server, now.Add(-time.Hour), now.Add(24*time.Hour))
	expired := ca.IssueBetween(t, "expired", testpki.Server, now.Add(-47*time.Hour), now.Add(-time.Hour))
	return &PKI{
		Dir:            dir,
		CA:             ca.CertFile,
		Server:         ServerTLS{CA: ca.CertFile, Cert: server.CertFile, Key: server.KeyFile},
		Expired:        ServerTLS{CA: ca.CertFile, Cert: expired.CertFile, Key: expired.KeyFile},
		OtherCA:        other.CertFile,
		ServerKeyPKCS8: server.PKCS8KeyFile,
	}
}
