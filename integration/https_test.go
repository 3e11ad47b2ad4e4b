package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/idgen/client"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/testpki"
)

// TestHTTPSListeners runs drc idgen serve against MariaDB with idgen.tls
// requiring client certificates and metrics.tls serving /metrics over
// HTTPS. The idgen Go client with the CA and a client certificate gets
// IDs; one without a client certificate is refused; one that does not
// trust the CA fails verification. drc_tls_certificate_expiry_seconds,
// scraped over HTTPS, shows each certificate's real remaining lifetime.
func TestHTTPSListeners(t *testing.T) {
	bin := drcBinary(t)
	db := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 141, GTIDDomainID: 141})
	dir := t.TempDir()
	now := time.Now()
	ca := testpki.NewCA(t, dir, "ca", now.Add(90*24*time.Hour))
	other := testpki.NewCA(t, dir, "other-ca", now.Add(90*24*time.Hour))
	// Lifetimes that differ, so that each series is told apart by value.
	idgenCert := ca.Issue(t, "idgen", testpki.Server, now.Add(30*24*time.Hour+17*time.Minute))
	metricsCert := ca.Issue(t, "metrics", testpki.Server, now.Add(20*24*time.Hour+5*time.Minute))
	clientCert := ca.Issue(t, "client", testpki.Client, now.Add(24*time.Hour))

	cfgPath := filepath.Join(dir, "drc.yaml")
	y := fmt.Sprintf(`cluster: %s
source: {region: a, flavor: %s, host: %s, port: %d, user: %s, password: %s}
target: {region: b, flavor: %s, host: %s, port: %d, user: %s, password: %s}
kafka: {brokers: ["127.0.0.1:9"]}
log: {format: json}
metrics: {listen: "127.0.0.1:0", tls: {cert: %s, key: %s}}
idgen: {listen: "127.0.0.1:0", region_id: 1, tls: {cert: %s, key: %s, client_ca: %s}}
`, harness.UniqueName("https"), db.Flavor, db.Host, db.Port, db.User, db.Password,
		db.Flavor, db.Host, db.Port, db.User, db.Password,
		metricsCert.CertFile, metricsCert.KeyFile, idgenCert.CertFile, idgenCert.KeyFile, ca.CertFile)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "idgen.log")
	r := startRole(t, bin, logPath, "idgen", "serve", "--config", cfgPath)
	idgenAddr, metricsAddr := logAddrs(t, r, logPath, "idgen serving", "serving metrics")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The right CA and a client certificate it signed: IDs.
	good, err := client.TLSFiles(ca.CertFile, clientCert.CertFile, clientCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Addrs: []string{"https://" + idgenAddr}, TLS: good, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, err := c.NextN(ctx, 5)
	if err != nil || len(ids) != 5 {
		t.Fatalf("idgen over HTTPS with a client certificate: %v, %v\n%s", ids, err, tail(logPath, 3000))
	}
	if p, err := c.Decompose(ctx, ids[0]); err != nil || p.Region != 1 {
		t.Errorf("decompose %d over HTTPS: %+v, %v", ids[0], p, err)
	}

	// No client certificate: refused in the handshake, before any HTTP.
	noCert, err := client.TLSFiles(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fetchIDs(ctx, idgenAddr, noCert); err == nil {
		t.Errorf("a client without a client certificate got IDs %v", got)
	} else if _, api := errors.AsType[*client.APIError](err); api {
		t.Errorf("a client without a client certificate got an HTTP answer (%v), want the TLS handshake refused", err)
	}

	// A client that does not trust the CA refuses the server.
	untrusting, err := client.TLSFiles(other.CertFile, clientCert.CertFile, clientCert.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fetchIDs(ctx, idgenAddr, untrusting); err == nil {
		t.Errorf("a client trusting another CA got IDs %v", got)
	} else if _, ok := errors.AsType[*tls.CertificateVerificationError](err); !ok {
		t.Errorf("a client trusting another CA: %v, want a certificate verification error", err)
	}

	// /metrics over HTTPS on metrics.listen (server certificate only) and
	// on idgen.listen (client certificate required), same registry.
	noClientCert := &http.Client{Transport: &http.Transport{TLSClientConfig: noCert}, Timeout: 10 * time.Second}
	withClientCert := &http.Client{Transport: &http.Transport{TLSClientConfig: good}, Timeout: 10 * time.Second}
	defer noClientCert.CloseIdleConnections()
	defer withClientCert.CloseIdleConnections()
	for _, s := range []struct {
		name string
		hc   *http.Client
		url  string
	}{
		{"metrics.listen", noClientCert, "https://" + metricsAddr + "/metrics"},
		{"idgen.listen", withClientCert, "https://" + idgenAddr + "/metrics"},
	} {
		got := scrapeExpiry(t, s.hc, s.url)
		want := map[string]time.Time{
			"metrics.tls.cert " + metricsCert.CertFile: metricsCert.Cert.NotAfter,
			"idgen.tls.cert " + idgenCert.CertFile:     idgenCert.Cert.NotAfter,
			"idgen.tls.client_ca " + ca.CertFile:       ca.Cert.NotAfter,
		}
		if len(got) != len(want) {
			t.Errorf("%s: drc_tls_certificate_expiry_seconds has %d series %v, want %d", s.name, len(got), got, len(want))
		}
		for k, notAfter := range want {
			v, ok := got[k]
			remaining := time.Until(notAfter).Seconds()
			// The scrape happened just before time.Until: the gauge may be
			// larger by the time in between, never smaller.
			if !ok || v < remaining || v > remaining+60 {
				t.Errorf("%s: %s = %v (present %v), want the certificate's remaining %.0f s", s.name, k, v, ok, remaining)
			}
		}
	}
	if _, err := noClientCert.Get("https://" + idgenAddr + "/metrics"); err == nil {
		t.Error("idgen's /metrics answered a client without a client certificate")
	}
	r.running(t, logPath)
}

// fetchIDs is one request for IDs with a fresh client using tc.
func fetchIDs(ctx context.Context, addr string, tc *tls.Config) ([]int64, error) {
	c, err := client.New(client.Config{Addrs: []string{"https://" + addr}, TLS: tc, Batch: 1})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.NextN(ctx, 2)
}

// logAddrs waits for the JSON log records msgs and returns their addr
// attributes, in the order of msgs.
func logAddrs(t *testing.T, r *role, logPath string, msgs ...string) (string, string) {
	t.Helper()
	addrs := map[string]string{}
	deadline := time.Now().Add(60 * time.Second)
	for len(addrs) < len(msgs) {
		f, err := os.Open(logPath)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Addr != "" {
				for _, m := range msgs {
					if rec.Msg == m {
						addrs[m] = rec.Addr
					}
				}
			}
		}
		f.Close()
		if len(addrs) == len(msgs) {
			break
		}
		r.running(t, logPath)
		if time.Now().After(deadline) {
			t.Fatalf("no log records %q with an addr after 60s:\n%s", msgs, tail(logPath, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addrs[msgs[0]], addrs[msgs[1]]
}

// scrapeExpiry GETs url and returns drc_tls_certificate_expiry_seconds by
// "use file".
func scrapeExpiry(t *testing.T, hc *http.Client, url string) map[string]float64 {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	got := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, "drc_tls_certificate_expiry_seconds{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			t.Fatalf("cannot read %q", line)
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[k] = strings.Trim(v, `"`)
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(f) {
			t.Fatalf("cannot read the value of %q: %v", line, err)
		}
		got[l["use"]+" "+l["file"]] = f
	}
	return got
}
