package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// RefusedError is a Kafka failure that no retry fixes: the brokers
// refused the client's credentials or its rights (a missing ACL), or the
// TLS handshake with them failed verification. Retrying would only hide
// it from the operator, so the roles stop at once (exit code 2).
type RefusedError struct {
	Conn   Conn   // the brokers; prints without the password
	Reason string // what is wrong, for the operator
	Err    error  // as sarama returned it
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("kafka %s: %s: %v", e.Conn, e.Reason, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Denied reports an error that only the Kafka protocol returns and that
// no retry fixes: failed SASL authentication, a SASL mechanism the
// brokers do not enable, or an authorization failure on a topic, a
// consumer group, the cluster or a transactional id. Unlike Refused it
// needs no knowledge of which connection failed, so a caller may ask it
// of any error.
func Denied(err error) bool {
	for _, k := range []sarama.KError{
		sarama.ErrSASLAuthenticationFailed, sarama.ErrUnsupportedSASLMechanism,
		sarama.ErrTopicAuthorizationFailed, sarama.ErrGroupAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed, sarama.ErrTransactionalIDAuthorizationFailed,
	} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// Refused returns err as a *RefusedError naming the brokers and what is
// wrong when no retry fixes it (Denied, or a TLS failure), else nil. Ask
// it only of errors of the Kafka connection: a TLS failure of another
// connection (a MySQL server's) would read as the brokers'.
func (c Conn) Refused(err error) error {
	if err == nil {
		return nil
	}
	var re *RefusedError
	if errors.As(err, &re) {
		return err
	}
	if reason := c.refusal(err); reason != "" {
		return &RefusedError{Conn: c, Reason: reason, Err: err}
	}
	return nil
}

func (c Conn) refusal(err error) string {
	principal := "this client's principal (no SASL: the TLS client certificate's, or ANONYMOUS)"
	if c.SASL.Enabled() {
		principal = "principal User:" + c.SASL.User
	}
	const acls = "grant the ACLs README lists under Security, Kafka"
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ve *tls.CertificateVerificationError
		rh tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		return fmt.Sprintf("SASL authentication failed for %s: wrong user name or password, or the brokers hold no %s credential for the user", c.SASL, c.SASL.mechanism())
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return fmt.Sprintf("the brokers' listener does not enable SASL mechanism %s (broker setting sasl.enabled.mechanisms)", c.SASL.mechanism())
	case errors.Is(err, sarama.ErrTopicAuthorizationFailed):
		return fmt.Sprintf("not authorized: %s may not use the topic (TOPIC_AUTHORIZATION_FAILED); %s", principal, acls)
	case errors.Is(err, sarama.ErrGroupAuthorizationFailed):
		return fmt.Sprintf("not authorized: %s may not use the consumer group (GROUP_AUTHORIZATION_FAILED); %s", principal, acls)
	case errors.Is(err, sarama.ErrTransactionalIDAuthorizationFailed):
		return fmt.Sprintf("not authorized: %s may not use the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); %s", principal, acls)
	case errors.Is(err, sarama.ErrClusterAuthorizationFailed):
		return fmt.Sprintf("not authorized: %s may not perform a cluster operation (CLUSTER_AUTHORIZATION_FAILED); %s", principal, acls)
	case errors.As(err, &ua):
		return fmt.Sprintf("TLS: the broker's certificate is not signed by a CA in tls.ca %s", c.TLS.CA)
	case errors.As(err, &he):
		return fmt.Sprintf("TLS: the broker's certificate is not valid for the name %s (tls.server_name sets the name to check, if the certificate carries another)", he.Host)
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			return "TLS: the broker's certificate has expired or is not valid yet"
		}
		return "TLS: the broker's certificate is not valid for this use"
	case errors.As(err, &ve):
		return "TLS: the broker's certificate does not verify"
	case errors.As(err, &rh):
		return "TLS: the broker does not speak TLS on this port (a PLAINTEXT or SASL_PLAINTEXT listener): set tls.mode disabled, or list the SSL or SASL_SSL listener's port"
	}
	return ""
}
