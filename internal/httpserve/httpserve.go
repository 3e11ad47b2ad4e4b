// Package httpserve is the transport security of drc's own HTTP listeners,
// built once for all of them: the /metrics listener every long-running
// role serves (metrics.listen) and the idgen API (idgen.listen). A
// listener with a certificate and key speaks HTTPS (TLS 1.2 at least);
// with a client CA as well it requires every client to present a
// certificate that chains to that CA (mutual TLS). Without a certificate
// it speaks plain HTTP, as before, and TLS.Weak says what that leaves
// open.
//
// It also exports drc_tls_certificate_expiry_seconds (CertExpiry) for
// every certificate file a role reads, its listeners' and those it
// connects to MySQL and Kafka with, so that a certificate is renewed
// before its expiry stops a role.
//
// Certificates are read once, when a role starts; a renewed certificate
// takes effect, and shows in the gauge, when the role is restarted.
package httpserve

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// TLS is one listener's transport security. Without Cert and Key the
// listener speaks plain HTTP.
type TLS struct {
	// Cert and Key are the server's certificate (with any intermediate
	// certificates after it) and its private key, PEM files; both or
	// neither.
	Cert, Key string
	// ClientCA, when set, is a PEM file of the certificate authorities that
	// sign client certificates: every client must present a certificate
	// that chains to one of them, or the handshake fails. It needs Cert.
	ClientCA string
}

// FieldError is a problem with one of TLS's settings. Field is cert, key
// or client_ca, as a config file names them, so that the caller can name
// the whole key (metrics.tls.cert).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Enabled reports whether the listener speaks HTTPS.
func (t TLS) Enabled() bool { return t.Cert != "" || t.Key != "" }

// Weak says what a plain-HTTP listener on addr leaves open, or "" when t
// is Enabled or addr is a loopback address (whose traffic never leaves
// the host).
func (t TLS) Weak(addr string) string {
	if t.Enabled() || isLoopback(addr) {
		return ""
	}
	return "requests, responses and any bearer token cross the network readable, and clients cannot tell drc from an impostor"
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate is Server without its result: it checks the settings and reads
// the files. Every error is a *FieldError, joined when there are several.
func (t TLS) Validate() error {
	_, err := t.Server()
	return err
}

// Server returns the listener's *tls.Config: TLS 1.2 at least, the key
// pair, and with ClientCA a client certificate required and verified
// against it. It is nil, nil when t is not Enabled. It reads the files;
// every error is a *FieldError, joined when there are several.
func (t TLS) Server() (*tls.Config, error) {
	var errs []error
	if t.Cert == "" && t.Key != "" {
		errs = append(errs, &FieldError{"cert", errors.New("must be set with key: the server's certificate (PEM)")})
	}
	if t.Key == "" && t.Cert != "" {
		errs = append(errs, &FieldError{"key", errors.New("must be set with cert: the certificate's private key (PEM)")})
	}
	if t.ClientCA != "" && !t.Enabled() {
		errs = append(errs, &FieldError{"client_ca", errors.New("needs cert and key: client certificates are checked only over TLS")})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !t.Enabled() {
		return nil, nil
	}
	certPEM, err := readPEM(t.Cert)
	if err != nil {
		errs = append(errs, &FieldError{"cert", err})
	} else if _, err := parseCertificates(t.Cert, certPEM); err != nil {
		errs = append(errs, &FieldError{"cert", err})
	}
	keyPEM, err := readPEM(t.Key)
	if err != nil {
		errs = append(errs, &FieldError{"key", err})
	}
	var pool *x509.CertPool
	if t.ClientCA != "" {
		if pool, err = certPool(t.ClientCA); err != nil {
			errs = append(errs, &FieldError{"client_ca", err})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate parsed above, so the key is what is wrong: not
		// a PEM private key, or not the certificate's.
		return nil, &FieldError{"key", fmt.Errorf("%s with cert %s: %w", t.Key, t.Cert, err)}
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if pool != nil {
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// Listen listens for TCP on addr (host:port), speaking TLS with tc when tc
// is not nil. An http.Server serving the listener then speaks HTTPS.
func Listen(addr string, tc *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc == nil {
		return ln, nil
	}
	return tls.NewListener(ln, tc), nil
}

// maxPEMBytes bounds a certificate or key file: a path such as /dev/zero
// must fail, not exhaust memory. Real bundles are a few hundred KiB at most.
const maxPEMBytes = 4 << 20

func readPEM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxPEMBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a PEM certificate or key file", path, maxPEMBytes)
	}
	return b, nil
}

// parseCertificates returns every CERTIFICATE block of data, the PEM file
// path; it is an error if there is none or one does not parse.
func parseCertificates(path string, data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return out, nil
}

func certPool(path string) (*x509.CertPool, error) {
	data, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	certs, err := parseCertificates(path, data)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
