package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is a throwaway certificate authority for TLS tests, and certificates
// it issued, as PEM files in Dir.
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

// NewPKI creates a PKI in a new directory under the test's temp dir.
func NewPKI(t TB) *PKI {
	t.Helper()
	dir, err := os.MkdirTemp("", "drc-pki-")
	if err != nil {
		t.Fatalf("harness: pki dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &PKI{Dir: dir}
	fail := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("harness: pki: %v", err)
		}
	}
	caKey, caCert, caPEM, err := newCA("drc test CA")
	fail(err)
	p.CA = filepath.Join(dir, "ca.pem")
	fail(os.WriteFile(p.CA, caPEM, 0o644))
	_, _, otherPEM, err := newCA("some other CA")
	fail(err)
	p.OtherCA = filepath.Join(dir, "other-ca.pem")
	fail(os.WriteFile(p.OtherCA, otherPEM, 0o644))

	now := time.Now()
	for _, c := range []struct {
		name     string
		dst      *ServerTLS
		from, to time.Time
	}{
		{"server", &p.Server, now.Add(-time.Hour), now.Add(24 * time.Hour)},
		{"expired", &p.Expired, now.Add(-48 * time.Hour), now.Add(-time.Hour)},
	} {
		certPEM, keyPEM, pkcs8PEM, err := issue(caKey, caCert, c.from, c.to)
		fail(err)
		c.dst.CA = p.CA
		c.dst.Cert = filepath.Join(dir, c.name+".pem")
		c.dst.Key = filepath.Join(dir, c.name+"-key.pem")
		fail(os.WriteFile(c.dst.Cert, certPEM, 0o644))
		fail(os.WriteFile(c.dst.Key, keyPEM, 0o600))
		if c.dst == &p.Server {
			p.ServerKeyPKCS8 = filepath.Join(dir, c.name+"-key.pk8.pem")
			fail(os.WriteFile(p.ServerKeyPKCS8, pkcs8PEM, 0o600))
		}
	}
	return p
}

func newCA(name string) (*ecdsa.PrivateKey, *x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// issue returns a server certificate for 127.0.0.1 and localhost, and its
// key both as SEC 1 ("EC PRIVATE KEY") and as PKCS #8 ("PRIVATE KEY").
func issue(caKey *ecdsa.PrivateKey, ca *x509.Certificate, from, to time.Time) (certPEM, keyPEM, pkcs8PEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: from, NotAfter: to,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), nil
}
