// Package kafkaconn is how every drc role connects to Kafka: the brokers,
// the protocol version, the client id, and transport security (TLS, and
// SASL PLAIN or SCRAM), built once into the base *sarama.Config. A role
// starts from Conn.Config and adds only its own producer or consumer
// tuning.
//
// It is a package of its own, beside mysqlconn, because no role owns it:
// the replicator, the applier, drc status (through the replicator) and the
// benchmarks reach the same brokers the same way, and a second copy of
// the TLS or SASL wiring would drift (one role verifying the broker's
// name, another not). For the same reason it decides, for every role
// alike, which Kafka failures no retry fixes (Conn.Refused).
package kafkaconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"github.com/drc-dev/drc/internal/mysqlconn"
)

// The TLS modes, weakest first, as for MySQL (mysqlconn) but without
// "preferred": a Kafka listener either speaks TLS or it does not, and a
// client cannot fall back from one to the other on the same port.
const (
	// Disabled: plaintext (listener PLAINTEXT or SASL_PLAINTEXT). The default.
	Disabled = mysqlconn.Disabled
	// Required: TLS, unverified: encrypted, but not authenticated.
	Required = mysqlconn.Required
	// VerifyCA: TLS with a broker certificate signed by CA.
	VerifyCA = mysqlconn.VerifyCA
	// VerifyIdentity: VerifyCA, and the certificate names the broker's host
	// as it is listed in Brokers (or ServerName). The only mode that stops a
	// man in the middle.
	VerifyIdentity = mysqlconn.VerifyIdentity
)

// Modes lists the TLS modes, weakest first.
var Modes = []string{Disabled, Required, VerifyCA, VerifyIdentity}

// TLS is the brokers' transport security. Its fields mean what
// mysqlconn.TLS's mean, and its certificates are loaded by the same code;
// Mode "" is Disabled. ServerName, when set, is the name every broker's
// certificate must carry; empty, each broker is checked against its own
// host.
type TLS mysqlconn.TLS

func (t TLS) mode() string {
	if t.Mode == "" {
		return Disabled
	}
	return t.Mode
}

// Enabled reports whether the client speaks TLS.
func (t TLS) Enabled() bool { return t.mode() != Disabled }

// Validate checks the settings without reading the files.
func (t TLS) Validate() error {
	m := t.mode()
	if m == mysqlconn.Preferred {
		return fmt.Errorf("tls.mode preferred does not apply to Kafka (a listener speaks TLS or it does not): use disabled for a PLAINTEXT or SASL_PLAINTEXT listener, or required, verify-ca or verify-identity for an SSL or SASL_SSL one")
	}
	if !isMode(m) {
		return fmt.Errorf("tls.mode %q: want disabled, required, verify-ca or verify-identity", t.Mode)
	}
	mt := mysqlconn.TLS(t)
	mt.Mode = m
	return mt.Validate()
}

// Weak says what a mode weaker than verify-identity leaves open, or "".
func (t TLS) Weak() string {
	switch t.mode() {
	case Disabled:
		return "plaintext: rows, and SASL PLAIN passwords, cross the network readable"
	case Required:
		return "encrypted but not authenticated: anyone on the path can pose as the broker"
	case VerifyCA:
		return "the certificate is checked against the CA but not against the broker's host name"
	}
	return ""
}

// Client returns the *tls.Config for the brokers, or nil when TLS is
// disabled. It reads the certificate files (mysqlconn.TLS.Client). Under
// verify-identity without ServerName the config names no server: sarama
// checks each broker's certificate against that broker's own host.
func (t TLS) Client() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if !t.Enabled() {
		return nil, nil
	}
	return mysqlconn.TLS(t).Client(t.ServerName)
}

func isMode(m string) bool {
	for _, x := range Modes {
		if x == m {
			return true
		}
	}
	return false
}

// The SASL mechanisms.
const (
	// Plain sends the password itself: only over TLS.
	Plain = "PLAIN"
	// ScramSHA256 and ScramSHA512 prove the password without sending it
	// (RFC 5802, 7677); the broker keeps only a salted hash of it.
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the SASL mechanisms drc speaks.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// SASL is how the client authenticates. Mechanism "" is no SASL: the
// principal is then the TLS client certificate's, or ANONYMOUS.
//
// SASL prints (%v, %+v, %#v) without its password.
type SASL struct {
	Mechanism string // one of Mechanisms, any case; "" none
	User      string
	Password  string
}

func (s SASL) mechanism() string { return strings.ToUpper(s.Mechanism) }

// Enabled reports whether the client authenticates with SASL.
func (s SASL) Enabled() bool { return s.Mechanism != "" }

// Validate checks the settings.
func (s SASL) Validate() error {
	m := s.mechanism()
	switch {
	case m == "" && (s.User != "" || s.Password != ""):
		return errors.New("sasl.user or sasl.password is set but sasl.mechanism is not: set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	case m == "":
		return nil
	case m != Plain && m != ScramSHA256 && m != ScramSHA512:
		return fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	case s.User == "":
		return fmt.Errorf("sasl.mechanism %s needs sasl.user", m)
	case s.Password == "":
		return fmt.Errorf("sasl.user %s has no password: set sasl.password or sasl.password_file", s.User)
	}
	return nil
}

// String names the mechanism and the user, never the password.
func (s SASL) String() string {
	if !s.Enabled() {
		return "no SASL"
	}
	return fmt.Sprintf("%s user %s", s.mechanism(), s.User)
}

// GoString is String, for %#v.
func (s SASL) GoString() string { return s.String() }

// Conn is one Kafka cluster and how to reach it.
//
// Conn prints (%v, %+v, %#v) as its brokers, protocol and SASL user,
// never with the password.
type Conn struct {
	Brokers  []string
	Version  string // the protocol version sarama speaks, e.g. 3.9.0; default 3.9.0
	ClientID string // default drc
	TLS      TLS
	SASL     SASL
}

// DefaultVersion is the protocol version when Conn.Version is empty.
const DefaultVersion = "3.9.0"

// Validate checks the settings without reading the files or connecting.
func (c Conn) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no broker listed"))
	}
	if _, err := c.version(); err != nil {
		errs = append(errs, err)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.SASL.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Conn) version() (sarama.KafkaVersion, error) {
	s := c.Version
	if s == "" {
		s = DefaultVersion
	}
	v, err := sarama.ParseKafkaVersion(s)
	if err != nil {
		return v, fmt.Errorf("kafka version %q: %w", s, err)
	}
	return v, nil
}

// Protocol is the Kafka security.protocol these settings speak:
// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. The brokers' listener must
// be of the same protocol.
func (c Conn) Protocol() string {
	switch {
	case c.SASL.Enabled() && c.TLS.Enabled():
		return "SASL_SSL"
	case c.SASL.Enabled():
		return "SASL_PLAINTEXT"
	case c.TLS.Enabled():
		return "SSL"
	}
	return "PLAINTEXT"
}

// String is the brokers, the protocol and the SASL user.
func (c Conn) String() string {
	s := strings.Join(c.Brokers, ",") + " (" + c.Protocol()
	if c.SASL.Enabled() {
		s += ", " + c.SASL.String()
	}
	return s + ")"
}

// GoString is String, for %#v.
func (c Conn) GoString() string { return c.String() }

// Config returns the *sarama.Config every role starts from: Version,
// ClientID, a 5 s dial timeout, and TLS and SASL as configured. It reads
// the certificate files; an error is one of the settings (no retry fixes
// it).
func (c Conn) Config() (*sarama.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v, _ := c.version()
	sc := sarama.NewConfig()
	sc.Version = v
	sc.ClientID = c.ClientID
	if sc.ClientID == "" {
		sc.ClientID = "drc"
	}
	sc.Net.DialTimeout = 5 * time.Second
	if c.TLS.Enabled() {
		tc, err := c.TLS.Client()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.SASL.Enabled() {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = c.SASL.User
		sc.Net.SASL.Password = c.SASL.Password
		switch m := c.SASL.mechanism(); m {
		case Plain:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case ScramSHA256:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		case ScramSHA512:
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		}
	}
	return sc, nil
}

// scramClient is sarama's SCRAMClient over xdg-go/scram: one conversation
// per broker connection (sarama asks the generator for a new one each
// time).
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		// The text of a stringprep error names the bad character, not the
		// password; still, keep the password out of it.
		return fmt.Errorf("SCRAM: user name or password cannot be prepared (SASLprep): %w", err)
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) {
	if s.conv == nil {
		return "", errors.New("SCRAM: Step before Begin")
	}
	return s.conv.Step(challenge)
}

func (s *scramClient) Done() bool { return s.conv != nil && s.conv.Done() }
