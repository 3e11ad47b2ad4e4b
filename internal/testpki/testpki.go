// Package testpki makes throwaway certificate authorities and the server
// and client certificates they sign, as PEM files, for tests of drc's TLS
// code (unit tests of internal/httpserve, integration tests of HTTPS
// listeners, and the integration harness's PKI for MySQL, MariaDB and
// Kafka over TLS). It is test support: no drc role imports it.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TB is the part of testing.TB the package uses, so that the integration
// harness's own TB (which benchmarks implement outside go test) serves too.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// CA is a certificate authority whose certificate is the PEM file CertFile.
type CA struct {
	Cert     *x509.Certificate
	CertFile string
	key      *ecdsa.PrivateKey
	dir      string
}

// Leaf is an issued certificate: its PEM files and the parsed certificate,
// whose NotAfter a test compares with what the code under test reports.
type Leaf struct {
	Cert     *x509.Certificate
	CertFile string
	// KeyFile holds the key in SEC 1 ("EC PRIVATE KEY"), PKCS8KeyFile the
	// same key in PKCS #8 ("PRIVATE KEY"), the form a Kafka PEM keystore
	// reads (MySQL and MariaDB read either).
	KeyFile, PKCS8KeyFile string
}

// Usage says what a leaf certificate is for.
type Usage int

const (
	// Server certificates name 127.0.0.1 and localhost.
	Server Usage = iota
	// Client certificates are for TLS client authentication.
	Client
)

// NewCA creates a CA valid from two days ago until notAfter, writing its
// certificate to a file named name+".pem" in dir.
func NewCA(t TB, dir, name string, notAfter time.Time) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: CA %s key: %v", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testpki: CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: CA %s: %v", name, err)
	}
	ca := &CA{Cert: cert, key: key, dir: dir, CertFile: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.CertFile, "CERTIFICATE", der, 0o644)
	return ca
}

// Issue signs a certificate for usage, valid from an hour ago until
// notAfter (see IssueBetween).
func (ca *CA) Issue(t TB, name string, usage Usage, notAfter time.Time) Leaf {
	t.Helper()
	return ca.IssueBetween(t, name, usage, time.Now().Add(-time.Hour), notAfter)
}

// IssueBetween signs a certificate for usage, valid from notBefore until
// notAfter (both in the past for an expired one), and writes it and its
// key to name+".pem", name+"-key.pem" and name+"-key.pk8.pem" in the CA's
// directory.
func (ca *CA) IssueBetween(t TB, name string, usage Usage, notBefore, notAfter time.Time) Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: %s key: %v", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	switch usage {
	case Server:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	case Client:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	default:
		t.Fatalf("testpki: %s: unknown usage %d", name, usage)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("testpki: %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: %s: %v", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: %s key: %v", name, err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: %s key: %v", name, err)
	}
	l := Leaf{Cert: cert, CertFile: filepath.Join(ca.dir, name+".pem"),
		KeyFile: filepath.Join(ca.dir, name+"-key.pem"), PKCS8KeyFile: filepath.Join(ca.dir, name+"-key.pk8.pem")}
	writePEM(t, l.CertFile, "CERTIFICATE", der, 0o644)
	writePEM(t, l.KeyFile, "EC PRIVATE KEY", kder, 0o600)
	writePEM(t, l.PKCS8KeyFile, "PRIVATE KEY", p8, 0o600)
	return l
}

// newSerial is a random 64-bit serial number, so that no two certificates
// of a test share one.
func newSerial(t TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		t.Fatalf("testpki: serial: %v", err)
	}
	return n
}

func writePEM(t TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatalf("testpki: %v", fmt.Errorf("write %s: %w", path, err))
	}
}
