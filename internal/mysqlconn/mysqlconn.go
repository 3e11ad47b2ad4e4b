// Package mysqlconn is how every drc role talks to a MySQL or MariaDB
// server:
//   - connecting (this file): the address, the session defaults every role
//     relies on (TCP, UTC time zone, a connect timeout) and transport
//     security, built once. A role starts from Endpoint.Driver and adds
//     only what is its own (multi-statement batches, read timeouts,
//     interpolation);
//   - the SQL dialect both flavors share (dialect.go): identifier quoting,
//     string literals safe under any sql_mode, and keyset range predicates;
//   - the flavor (flavor.go): which server it is, and every statement that
//     differs between MariaDB and MySQL (GTID position, write fences,
//     binlog status).
//
// Reading information_schema is internal/infoschema's, and classifying
// errors internal/mysqlerr's. All three live under internal/ because no
// role owns them: each role connects, quotes and asks the flavor the same
// way, and a copy kept in one role drifts from the others.
package mysqlconn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The TLS modes, weakest first; they mean what the MySQL client's
// --ssl-mode values mean.
const (
	// Disabled: plaintext.
	Disabled = "disabled"
	// Preferred: TLS when the server offers it, unverified; plaintext
	// otherwise. The default, as in the MySQL client. (The binlog client
	// cannot fall back by itself: the replicator gives the stream TLS when
	// its SQL connection got it.)
	Preferred = "preferred"
	// Required: TLS, unverified: encrypted, but not authenticated.
	Required = "required"
	// VerifyCA: TLS with a server certificate signed by CA.
	VerifyCA = "verify-ca"
	// VerifyIdentity: VerifyCA, and the certificate names the host (or
	// ServerName). The only mode that stops a man in the middle.
	VerifyIdentity = "verify-identity"
)

// Modes lists the TLS modes, weakest first.
var Modes = []string{Disabled, Preferred, Required, VerifyCA, VerifyIdentity}

// TLS is an endpoint's transport security.
type TLS struct {
	Mode string // one of Modes; "" is Preferred
	// CA is the PEM file of the certificate authorities the server's
	// certificate must chain to (verify-ca, verify-identity).
	CA string
	// Cert and Key are a client certificate and its key (PEM files), for
	// servers that require one (REQUIRE X509); both or neither.
	Cert, Key string
	// ServerName is the name the server's certificate must carry under
	// verify-identity; default the host.
	ServerName string
}

func (t TLS) mode() string {
	if t.Mode == "" {
		return Preferred
	}
	return t.Mode
}

// Validate checks the settings without reading the files.
func (t TLS) Validate() error {
	switch m := t.mode(); {
	case !isMode(m):
		return fmt.Errorf("tls.mode %q: want disabled, preferred, required, verify-ca or verify-identity", t.Mode)
	case (m == VerifyCA || m == VerifyIdentity) && t.CA == "":
		return fmt.Errorf("tls.mode %s needs tls.ca, the CA certificate file the server's certificate must chain to", m)
	case (t.Cert == "") != (t.Key == ""):
		return fmt.Errorf("tls.cert and tls.key go together: set both or neither")
	case (t.Cert != "" || t.CA != "") && (m == Disabled || m == Preferred):
		return fmt.Errorf("tls.mode %s uses no certificate; set tls.mode to required, verify-ca or verify-identity, or remove tls.ca/cert/key", m)
	}
	return nil
}

// Weak says what a mode weaker than verify-identity leaves open, or "".
func (t TLS) Weak() string {
	switch t.mode() {
	case Disabled:
		return "plaintext: passwords and rows cross the network readable"
	case Preferred:
		return "encrypted only if the server offers TLS, and never authenticated"
	case Required:
		return "encrypted but not authenticated: anyone on the path can pose as the server"
	case VerifyCA:
		return "the certificate is checked against the CA but not against the host name"
	}
	return ""
}

func isMode(m string) bool {
	for _, x := range Modes {
		if x == m {
			return true
		}
	}
	return false
}

// Client returns the *tls.Config for connecting to host, or nil for
// disabled and preferred (which the driver handles itself). It reads the
// certificate files.
func (t TLS) Client(host string) (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	m := t.mode()
	if m == Disabled || m == Preferred {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert/tls.key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	if m == Required {
		c.InsecureSkipVerify = true
		return c, nil
	}
	pem, err := os.ReadFile(t.CA)
	if err != nil {
		return nil, fmt.Errorf("tls.ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.ca %s: no PEM certificate in it", t.CA)
	}
	c.RootCAs = roots
	if m == VerifyIdentity {
		c.ServerName = t.ServerName
		if c.ServerName == "" {
			c.ServerName = host
		}
		return c, nil
	}
	// verify-ca: the chain, not the name.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
	return c, nil
}

// Endpoint is one server and how to reach it.
type Endpoint struct {
	Host     string
	Port     int
	User     string
	Password string
	TLS      TLS
}

// Addr is host:port.
func (e Endpoint) Addr() string { return e.Host + ":" + strconv.Itoa(e.Port) }

// String is Addr: an endpoint printed in an error or a log line never
// shows its password.
func (e Endpoint) String() string { return e.Addr() }

// GoString is Addr too, for %#v.
func (e Endpoint) GoString() string { return e.Addr() }

// Driver returns the go-sql-driver config every role starts from: TCP to
// Addr, the session in UTC (TIMESTAMP values are read and written without
// conversion), a 5 s connect timeout, and TLS as configured.
func (e Endpoint) Driver() (*mysql.Config, error) {
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = e.User, e.Password, "tcp", e.Addr()
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	mc.Timeout = 5 * time.Second
	switch e.TLS.mode() {
	case Disabled:
		mc.TLSConfig = "false"
	case Preferred:
		mc.TLSConfig = "preferred"
	default:
		c, err := e.TLS.Client(e.Host)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Addr(), err)
		}
		// A DSN names a TLS config; register this one under a name made of
		// its settings, so equal endpoints share one entry.
		name := e.tlsName()
		if err := mysql.RegisterTLSConfig(name, c); err != nil {
			return nil, fmt.Errorf("%s: register TLS config: %w", e.Addr(), err)
		}
		mc.TLSConfig = name
	}
	return mc, nil
}

func (e Endpoint) tlsName() string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s", e.Host, e.TLS.mode(), e.TLS.CA, e.TLS.Cert, e.TLS.Key, e.TLS.ServerName)))
	return "drc-" + hex.EncodeToString(h[:8])
}
