package kafkaconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

const secret = "pa55-w0rd-canary"

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		conn Conn
		want string // "" valid
	}{
		{"plaintext default", Conn{Brokers: []string{"k:9092"}}, ""},
		{"scram over verify-identity", Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: VerifyIdentity, CA: "/ca.pem"}, SASL: SASL{Mechanism: "scram-sha-512", User: "u", Password: "p"}}, ""},
		{"plain over required", Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: Required}, SASL: SASL{Mechanism: "PLAIN", User: "u", Password: "p"}}, ""},
		{"no broker", Conn{}, "no broker listed"},
		{"bad version", Conn{Brokers: []string{"k:9092"}, Version: "three"}, `kafka version "three"`},
		{"preferred", Conn{Brokers: []string{"k:9092"}, TLS: TLS{Mode: "preferred"}}, "tls.mode preferred does not apply to Kafka"},
		{"unknown mode", Conn{Brokers: []string{"k:9092"}, TLS: TLS{Mode: "strict"}}, `tls.mode "strict": want disabled, required, verify-ca or verify-identity`},
		{"verify without ca", Conn{Brokers: []string{"k:9092"}, TLS: TLS{Mode: VerifyCA}}, "needs tls.ca"},
		{"cert without key", Conn{Brokers: []string{"k:9092"}, TLS: TLS{Mode: Required, Cert: "/c.pem"}}, "tls.cert and tls.key go together"},
		{"ca with tls disabled", Conn{Brokers: []string{"k:9092"}, TLS: TLS{CA: "/ca.pem"}}, "tls.mode disabled uses no certificate"},
		{"unknown mechanism", Conn{Brokers: []string{"k:9092"}, SASL: SASL{Mechanism: "GSSAPI", User: "u", Password: "p"}}, `sasl.mechanism "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"user without mechanism", Conn{Brokers: []string{"k:9092"}, SASL: SASL{User: "u"}}, "sasl.mechanism is not"},
		{"mechanism without user", Conn{Brokers: []string{"k:9092"}, SASL: SASL{Mechanism: ScramSHA256, Password: "p"}}, "needs sasl.user"},
		{"user without password", Conn{Brokers: []string{"k:9092"}, SASL: SASL{Mechanism: ScramSHA256, User: "u"}}, "sasl.user u has no password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.conn.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	sasl := SASL{Mechanism: ScramSHA512, User: "u", Password: "p"}
	tlsOn := TLS{Mode: Required}
	for _, tc := range []struct {
		conn Conn
		want string
	}{
		{Conn{}, "PLAINTEXT"},
		{Conn{TLS: tlsOn}, "SSL"},
		{Conn{SASL: sasl}, "SASL_PLAINTEXT"},
		{Conn{TLS: tlsOn, SASL: sasl}, "SASL_SSL"},
	} {
		if got := tc.conn.Protocol(); got != tc.want {
			t.Errorf("%v: Protocol() = %s, want %s", tc.conn, got, tc.want)
		}
	}
}

func TestPrintingHidesThePassword(t *testing.T) {
	c := Conn{Brokers: []string{"k1:9093", "k2:9093"}, TLS: TLS{Mode: Required}, SASL: SASL{Mechanism: ScramSHA512, User: "drc-rep", Password: secret}}
	holder := struct {
		Kafka Conn
		SASL  SASL
	}{c, c.SASL}
	for _, s := range []string{
		fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c),
		fmt.Sprintf("%v", c.SASL), fmt.Sprintf("%+v", c.SASL), fmt.Sprintf("%#v", c.SASL),
		fmt.Sprintf("%v", holder), fmt.Sprintf("%+v", holder), fmt.Sprintf("%#v", holder),
		(&RefusedError{Conn: c, Reason: "r", Err: sarama.ErrSASLAuthenticationFailed}).Error(),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("printed the password: %s", s)
		}
	}
	if got, want := c.String(), "k1:9093,k2:9093 (SASL_SSL, SCRAM-SHA-512 user drc-rep)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestConfig(t *testing.T) {
	ca := writeCA(t)
	for _, tc := range []struct {
		name      string
		conn      Conn
		mechanism sarama.SASLMechanism
		scram     bool
	}{
		{"plaintext", Conn{Brokers: []string{"k:9092"}}, "", false},
		{"plain", Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: Required}, SASL: SASL{Mechanism: "plain", User: "u", Password: secret}}, sarama.SASLTypePlaintext, false},
		{"scram-sha-256", Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: VerifyCA, CA: ca}, SASL: SASL{Mechanism: ScramSHA256, User: "u", Password: secret}}, sarama.SASLTypeSCRAMSHA256, true},
		{"scram-sha-512", Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: VerifyIdentity, CA: ca}, SASL: SASL{Mechanism: ScramSHA512, User: "u", Password: secret}}, sarama.SASLTypeSCRAMSHA512, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, err := tc.conn.Config()
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Validate(); err != nil {
				t.Fatalf("sarama rejects the config: %v", err)
			}
			if sc.Version != sarama.V3_9_0_0 || sc.ClientID != "drc" || sc.Net.DialTimeout != 5*time.Second {
				t.Errorf("version %s, client id %q, dial timeout %s; want 3.9.0, drc, 5s", sc.Version, sc.ClientID, sc.Net.DialTimeout)
			}
			if got, want := sc.Net.TLS.Enable, tc.conn.TLS.Enabled(); got != want {
				t.Errorf("Net.TLS.Enable = %v, want %v", got, want)
			}
			if got, want := sc.Net.SASL.Enable, tc.mechanism != ""; got != want {
				t.Errorf("Net.SASL.Enable = %v, want %v", got, want)
			}
			if want := tc.mechanism; want != "" && sc.Net.SASL.Mechanism != want {
				t.Errorf("Net.SASL.Mechanism = %s, want %s", sc.Net.SASL.Mechanism, want)
			}
			if got := sc.Net.SASL.SCRAMClientGeneratorFunc != nil; got != tc.scram {
				t.Errorf("SCRAM client generator set = %v, want %v", got, tc.scram)
			}
			if tc.conn.TLS.Mode == VerifyIdentity {
				tc := sc.Net.TLS.Config
				// sarama names each broker's host when ServerName is empty.
				if tc.InsecureSkipVerify || tc.RootCAs == nil || tc.ServerName != "" {
					t.Errorf("verify-identity: skip verify %v, roots %v, server name %q", tc.InsecureSkipVerify, tc.RootCAs != nil, tc.ServerName)
				}
			}
		})
	}
	if _, err := (Conn{Brokers: []string{"k:9093"}, TLS: TLS{Mode: VerifyCA, CA: filepath.Join(t.TempDir(), "missing.pem")}}).Config(); err == nil || !strings.Contains(err.Error(), "tls.ca") {
		t.Errorf("a missing CA file: %v, want an error naming tls.ca", err)
	}
}

// TestSCRAMConversation runs the client against xdg-go/scram's server
// with the right password and a wrong one.
func TestSCRAMConversation(t *testing.T) {
	for _, tc := range []struct {
		mech string
		hash scram.HashGeneratorFcn
	}{{ScramSHA256, scram.SHA256}, {ScramSHA512, scram.SHA512}} {
		sc, err := Conn{Brokers: []string{"k:9093"}, SASL: SASL{Mechanism: tc.mech, User: "drc-rep", Password: secret}}.Config()
		if err != nil {
			t.Fatal(err)
		}
		stored, err := tc.hash.NewClient("drc-rep", secret, "")
		if err != nil {
			t.Fatal(err)
		}
		creds := stored.GetStoredCredentials(scram.KeyFactors{Salt: "c2FsdHNhbHQ=", Iters: 4096})
		server, err := tc.hash.NewServer(func(user string) (scram.StoredCredentials, error) {
			if user != "drc-rep" {
				return scram.StoredCredentials{}, errors.New("unknown user")
			}
			return creds, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{secret, "wrong"} {
			client := sc.Net.SASL.SCRAMClientGeneratorFunc()
			if err := client.Begin("drc-rep", pw, ""); err != nil {
				t.Fatal(err)
			}
			conv := server.NewConversation()
			var challenge string
			var cerr, serr error
			for i := 0; i < 4 && !client.Done() && cerr == nil && serr == nil; i++ {
				var resp string
				if resp, cerr = client.Step(challenge); cerr == nil && !client.Done() {
					challenge, serr = conv.Step(resp)
				}
			}
			ok := cerr == nil && serr == nil && conv.Valid()
			if want := pw == secret; ok != want {
				t.Errorf("%s with password %q: authenticated %v (client %v, server %v), want %v", tc.mech, pw, ok, cerr, serr, want)
			}
		}
	}
}

func TestRefused(t *testing.T) {
	c := Conn{Brokers: []string{"10.0.0.1:9093"}, TLS: TLS{Mode: VerifyIdentity, CA: "/etc/drc/kafka-ca.pem"}, SASL: SASL{Mechanism: ScramSHA512, User: "drc-rep", Password: secret}}
	outOfBrokers := func(err error) error {
		return fmt.Errorf("connect to kafka: %w", sarama.Wrap(sarama.ErrOutOfBrokers, err))
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" not refused
	}{
		{"broker down", outOfBrokers(io.EOF), ""},
		{"timeout", deadline(), ""},
		{"not leader", sarama.ErrNotLeaderForPartition, ""},
		{"wrong password", fmt.Errorf("metadata: %w", sarama.ErrSASLAuthenticationFailed), "SASL authentication failed for SCRAM-SHA-512 user drc-rep"},
		{"mechanism off", sarama.ErrUnsupportedSASLMechanism, "does not enable SASL mechanism SCRAM-SHA-512"},
		{"topic ACL", &sarama.ConsumerError{Topic: "drc.x", Partition: 0, Err: sarama.ErrTopicAuthorizationFailed}, "principal User:drc-rep may not use the topic"},
		{"group ACL", sarama.ErrGroupAuthorizationFailed, "may not use the consumer group"},
		{"transactional id ACL", fmt.Errorf("init producer: %w", sarama.ErrTransactionalIDAuthorizationFailed), "may not use the transactional id"},
		{"cluster ACL", sarama.ErrClusterAuthorizationFailed, "CLUSTER_AUTHORIZATION_FAILED"},
		{"unknown CA", outOfBrokers(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "not signed by a CA in tls.ca /etc/drc/kafka-ca.pem"},
		{"wrong name", outOfBrokers(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "kafka.example.com"}}), "not valid for the name kafka.example.com"},
		{"expired", outOfBrokers(x509.CertificateInvalidError{Reason: x509.Expired}), "has expired"},
		{"plaintext listener", outOfBrokers(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "does not speak TLS on this port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Refused(tc.err)
			if tc.want == "" {
				if got != nil {
					t.Errorf("Refused = %v, want nil", got)
				}
				return
			}
			var re *RefusedError
			if !errors.As(got, &re) || !strings.Contains(got.Error(), tc.want) || !strings.Contains(got.Error(), "10.0.0.1:9093") {
				t.Fatalf("Refused = %v, want a *RefusedError naming 10.0.0.1:9093 and %q", got, tc.want)
			}
			if !errors.Is(got, tc.err) || strings.Contains(got.Error(), secret) {
				t.Errorf("Refused = %v: must wrap the cause and hide the password", got)
			}
			if again := c.Refused(fmt.Errorf("session: %w", got)); !errors.As(again, &re) || strings.Count(again.Error(), "10.0.0.1:9093") != 1 {
				t.Errorf("classifying twice: %v", again)
			}
		})
	}
	if Denied(outOfBrokers(x509.UnknownAuthorityError{})) || !Denied(sarama.ErrTopicAuthorizationFailed) {
		t.Error("Denied must report Kafka protocol refusals only, not TLS failures")
	}
}

// deadline is the error a slow broker gives.
func deadline() error { return fmt.Errorf("read: %w", os.ErrDeadlineExceeded) }

// writeCA writes a self-signed CA certificate and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
