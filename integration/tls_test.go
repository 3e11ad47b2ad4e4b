package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator"
)

// TestTLSVerifyIdentity: both regions run with require_secure_transport=ON
// and a certificate from a CA the test made. The replicator (binlog stream
// included) and the applier replicate over verify-identity, and drc
// reconcile and drc status work through the config's tls section. A wrong
// CA, a wrong host name, an expired certificate and plaintext each fail at
// once with an error naming the endpoint and the reason.
func TestTLSVerifyIdentity(t *testing.T) {
	for _, f := range harness.Flavors {
		t.Run(f.Title(), func(t *testing.T) { testTLSVerifyIdentity(t, f) })
	}
}

func testTLSVerifyIdentity(t *testing.T, flavor harness.Flavor) {
	pki := harness.NewPKI(t)
	a := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1, TLS: &pki.Server})
	b := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2, TLS: &pki.Server})
	k := harness.SharedKafka(t)
	cluster := harness.UniqueName("tls")
	topic := "drc." + cluster
	verify := mysqlconn.TLS{Mode: mysqlconn.VerifyIdentity, CA: pki.CA}

	a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	rc := replicatorConfig(a, k, cluster, topic)
	rc.StartGTID = a.BinlogGTIDPos(t)
	rc.TLS = verify
	startReplicator(t, rc)
	ac := applyConfig(b, k, cluster, topic)
	ac.TLS = verify
	startApplier(t, ac)
	a.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO s.t VALUES (1, 'one'), (2, 'two')", "UPDATE s.t SET v = 'uno' WHERE id = 1")
	waitApplied(t, a, b, cluster, time.Minute)
	assertSameTables(t, a, b, "s.t")
	// The CLI through the config file's tls section.
	dir := t.TempDir()
	cfgFile := drcConfig(t, dir, a, b, k, cluster, topic, "")
	y, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsYAML := fmt.Sprintf("tls: {mode: verify-identity, ca: %s}}", pki.CA)
	withTLS := strings.ReplaceAll(string(y), "password: "+a.Password+"}", "password: "+a.Password+", "+tlsYAML)
	cfgFile = filepath.Join(dir, "tls.yaml")
	if err := os.WriteFile(cfgFile, []byte(withTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runDRC(t, "reconcile", "--config", cfgFile, "--tables", "s.t"); code != 0 {
		t.Fatalf("drc reconcile over TLS: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runDRC(t, "config", "check", cfgFile); code != 0 || strings.Contains(errOut, "source.tls.mode") {
		t.Errorf("drc config check with verify-identity: exit %d, warnings:\n%s%s", code, errOut, out)
	}

	// Failures: each is permanent and names the endpoint and the reason.
	c := harness.StartServer(t, flavor, harness.ServerOptions{ServerID: 3, GTIDDomainID: 3, TLS: &pki.Expired})
	// MariaDB answers a plaintext login under require_secure_transport
	// with "Access denied", MySQL with ER_SECURE_TRANSPORT_REQUIRED.
	plaintext := "Access denied"
	if flavor == harness.FlavorMySQL {
		plaintext = "secure transport"
	}
	for _, tc := range []struct {
		name string
		db   *harness.Server
		tls  mysqlconn.TLS
		want string
	}{
		{"wrong CA", a, mysqlconn.TLS{Mode: mysqlconn.VerifyIdentity, CA: pki.OtherCA}, "unknown authority"},
		{"wrong host name", a, mysqlconn.TLS{Mode: mysqlconn.VerifyIdentity, CA: pki.CA, ServerName: "db.example.com"}, "db.example.com"},
		{"expired certificate", c, verify, "expired"},
		{"plaintext", a, mysqlconn.TLS{Mode: mysqlconn.Disabled}, plaintext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := replicatorConfig(tc.db, k, harness.UniqueName("tlsbad"), "drc.tlsbad")
			rc.TLS = tc.tls
			rr := startReplicator(t, rc)
			err := rr.wait(t, 30*time.Second)
			if !replicator.IsPermanent(err) || !strings.Contains(err.Error(), tc.db.Addr()) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("replicator: %v; want a permanent error naming %s and %q", err, tc.db.Addr(), tc.want)
			}
			ac := applyConfig(tc.db, k, harness.UniqueName("tlsbad"), "drc.tlsbad")
			ac.TLS = tc.tls
			ra := startApplier(t, ac)
			err = ra.wait(t, 30*time.Second)
			if !applier.IsPermanent(err) || !strings.Contains(err.Error(), tc.db.Addr()) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("applier: %v; want a permanent error naming %s and %q", err, tc.db.Addr(), tc.want)
			}
		})
	}
}
