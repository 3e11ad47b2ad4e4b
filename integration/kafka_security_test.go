package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/replicator"
)

// grantReplicator gives user the ACLs README lists for the replicator of
// cluster on topic (the topic created by an admin, so no Create).
func grantReplicator(t *testing.T, k *harness.Kafka, user, topic, cluster string, txnID bool) {
	t.Helper()
	k.Allow(t, user, sarama.AclResourceTopic, topic, sarama.AclOperationWrite, sarama.AclOperationDescribe, sarama.AclOperationRead)
	if txnID {
		k.Allow(t, user, sarama.AclResourceTransactionalID, "drc-"+cluster, sarama.AclOperationWrite, sarama.AclOperationDescribe)
	}
	k.Allow(t, user, sarama.AclResourceCluster, "kafka-cluster", sarama.AclOperationIdempotentWrite)
}

// grantApplier gives user the ACLs README lists for the applier: read the
// topic, and its consumer group.
func grantApplier(t *testing.T, k *harness.Kafka, user, topic, group string, read bool) {
	t.Helper()
	ops := []sarama.AclOperation{sarama.AclOperationDescribe, sarama.AclOperationDescribeConfigs}
	if read {
		ops = append(ops, sarama.AclOperationRead)
	}
	k.Allow(t, user, sarama.AclResourceTopic, topic, ops...)
	k.Allow(t, user, sarama.AclResourceGroup, group, sarama.AclOperationRead)
}

// TestKafkaSecurity: on a broker whose only client listener is SASL_SSL
// (SCRAM-SHA-512) with the standard authorizer, the replicator and the
// applier replicate over verify-identity, each as its own user holding
// only the ACLs README lists. Another principal cannot write the topic.
// A wrong password, a CA that did not sign the broker's certificate, an
// applier without Read on the topic and a replicator without its
// transactional id each stop the role at once with a permanent error
// naming the broker and the cause.
func TestKafkaSecurity(t *testing.T) {
	pki := harness.NewPKI(t)
	users := map[string]string{
		"drc-rep":        "rep-" + harness.UniqueName("pw"),
		"drc-app":        "app-" + harness.UniqueName("pw"),
		"drc-rep-notxn":  "notxn-" + harness.UniqueName("pw"),
		"drc-app-noread": "noread-" + harness.UniqueName("pw"),
	}
	k := harness.StartKafka(t, harness.KafkaOptions{Secure: true, PKI: pki, Users: users})
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	cluster := harness.UniqueName("ksec")
	topic := "drc." + cluster
	k.CreateTopic(t, topic, 1)
	grantReplicator(t, k, "drc-rep", topic, cluster, true)
	grantApplier(t, k, "drc-app", topic, "drc-apply-"+cluster+"-b", true)

	as := func(user string) kafkaconn.Conn { return k.Conn(user, users[user]) }
	a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	rc := replicatorConfig(a, k, cluster, topic)
	rc.StartGTID = a.BinlogGTIDPos(t)
	rc.KafkaTLS, rc.KafkaSASL = as("drc-rep").TLS, as("drc-rep").SASL
	startReplicator(t, rc)
	ac := applyConfig(b, k, cluster, topic)
	ac.KafkaTLS, ac.KafkaSASL = as("drc-app").TLS, as("drc-app").SASL
	startApplier(t, ac)
	a.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO s.t VALUES (1, 'one'), (2, 'two')", "UPDATE s.t SET v = 'uno' WHERE id = 1")
	waitApplied(t, a, b, cluster, time.Minute)
	assertSameTables(t, a, b, "s.t")

	// Only the replicator's principal writes the topic.
	p, err := sarama.NewSyncProducer([]string{k.Bootstrap}, k.SaramaConfigAs("drc-app", users["drc-app"]))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(`{"op":"ddl"}`)})
	p.Close()
	if !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		t.Errorf("a producer with the applier's credentials: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	noSASL := k.SaramaConfig()
	noSASL.Net.SASL.Enable = false
	noSASL.Metadata.Retry.Max = 1
	if p, err := sarama.NewSyncProducer([]string{k.Bootstrap}, noSASL); err == nil {
		p.Close()
		t.Error("a producer without credentials connected to the SASL_SSL listener")
	}

	// The CLI through the config file's kafka.tls and kafka.sasl: drc config
	// check finds nothing weak and shows no password; a wrong password
	// stops drc replicate and drc apply with exit code 2, naming the broker.
	dir := t.TempDir()
	y, err := os.ReadFile(drcConfig(t, dir, a, b, k, cluster, topic, ""))
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "kafka-password")
	if err := os.WriteFile(pwFile, []byte(users["drc-app"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKafka := func(name, password string) string {
		sasl := "password_file: " + pwFile
		if password != "" {
			sasl = "password: " + password
		}
		secure := fmt.Sprintf("version: 3.9.0, tls: {mode: verify-identity, ca: %s}, sasl: {mechanism: SCRAM-SHA-512, user: drc-app, %s}}", pki.CA, sasl)
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(strings.Replace(string(y), "version: 3.9.0}", secure, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cfgFile := withKafka("secure.yaml", "")
	if code, out, errOut := runDRC(t, "config", "check", cfgFile); code != 0 || strings.Contains(errOut, "kafka.") || strings.Contains(out+errOut, users["drc-app"]) || !strings.Contains(out, "drc-app") {
		t.Errorf("drc config check over SASL_SSL: exit %d\n%s%s", code, errOut, out)
	}
	badFile := withKafka("wrong-password.yaml", "not-the-password")
	for _, role := range []string{"replicate", "apply"} {
		began := time.Now()
		code, _, errOut := runDRC(t, role, "--config", badFile)
		if code != 2 || !strings.Contains(errOut, k.Bootstrap) || !strings.Contains(errOut, "SASL authentication failed") || time.Since(began) > 30*time.Second {
			t.Errorf("drc %s with a wrong Kafka password: exit %d after %v, want 2 naming %s and the cause:\n%s", role, code, time.Since(began).Round(time.Millisecond), k.Bootstrap, errOut)
		}
	}

	// Each refusal stops the role at once, naming the broker and the cause.
	otherTopic := "drc." + harness.UniqueName("ksec")
	k.CreateTopic(t, otherTopic, 1)
	notxnCluster, noreadCluster := harness.UniqueName("notxn"), harness.UniqueName("noread")
	grantReplicator(t, k, "drc-rep-notxn", otherTopic, notxnCluster, false)
	grantApplier(t, k, "drc-app-noread", topic, "drc-apply-"+noreadCluster+"-b", false)
	wrongPassword := as("drc-rep")
	wrongPassword.SASL.Password = "not-the-password"
	otherCA := as("drc-rep")
	otherCA.TLS.CA = pki.OtherCA
	wrongName := as("drc-rep")
	wrongName.TLS.ServerName = "kafka.example.com"
	for _, tc := range []struct {
		name     string
		rep, app *kafkaconn.Conn // nil: that role is not tried
		cluster  string
		topic    string
		want     string
	}{
		{"wrong password", &wrongPassword, &wrongPassword, harness.UniqueName("badpw"), topic, "SASL authentication failed for SCRAM-SHA-512 user drc-rep"},
		{"CA that did not sign the broker", &otherCA, &otherCA, harness.UniqueName("badca"), topic, "not signed by a CA in tls.ca " + pki.OtherCA},
		{"wrong host name", &wrongName, &wrongName, harness.UniqueName("badname"), topic, "not valid for the name kafka.example.com"},
		{"applier without Read on the topic", nil, ptr(as("drc-app-noread")), noreadCluster, topic, "principal User:drc-app-noread may not use the topic (TOPIC_AUTHORIZATION_FAILED)"},
		{"replicator without its transactional id", ptr(as("drc-rep-notxn")), nil, notxnCluster, otherTopic, "principal User:drc-rep-notxn may not use the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(role string, err error, permanent bool, began time.Time) {
				t.Helper()
				var re *kafkaconn.RefusedError
				if !permanent || !errors.As(err, &re) || !strings.Contains(err.Error(), k.Bootstrap) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v; want a permanent error naming %s and %q", role, err, k.Bootstrap, tc.want)
				}
				if err != nil && (strings.Contains(err.Error(), users["drc-rep"]) || strings.Contains(err.Error(), wrongPassword.SASL.Password)) {
					t.Errorf("%s: the error shows the password: %v", role, err)
				}
				t.Logf("%s stopped after %v: %v", role, time.Since(began).Round(time.Millisecond), err)
			}
			if tc.rep != nil {
				rc := replicatorConfig(a, k, tc.cluster, tc.topic)
				rc.KafkaTLS, rc.KafkaSASL = tc.rep.TLS, tc.rep.SASL
				began := time.Now()
				err := startReplicator(t, rc).wait(t, 30*time.Second)
				check("replicator", err, replicator.IsPermanent(err), began)
			}
			if tc.app != nil {
				ac := applyConfig(b, k, tc.cluster, tc.topic)
				ac.KafkaTLS, ac.KafkaSASL = tc.app.TLS, tc.app.SASL
				began := time.Now()
				err := startApplier(t, ac).wait(t, 30*time.Second)
				check("applier", err, applier.IsPermanent(err), began)
			}
		})
	}

	// The pipeline still runs: nothing above disturbed it.
	a.Exec(t, "INSERT INTO s.t VALUES (3, 'three')")
	waitApplied(t, a, b, cluster, time.Minute)
	assertSameTables(t, a, b, "s.t")
}

func ptr[T any](v T) *T { return &v }
