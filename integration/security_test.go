package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/replicator"
	"github.com/drc-dev/drc/replicator/event"
)

// lockedBuffer is a log sink shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretLeavesTheSource: account statements written on a, with a
// canary password, appear in no topic record, in no replicator or applier
// log line at any level, in no metric and in no `drc status` output; the
// DR region keeps its own accounts. A forged DDL record that carries two
// statements runs neither.
func TestNoSecretLeavesTheSource(t *testing.T) {
	p := newApplyPair(t, nil)
	p.app.stop(t)
	p.rep.stop(t)
	var logs lockedBuffer
	debug := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	rc := replicatorConfig(p.a, p.k, p.cluster, p.topic)
	rc.StartGTID = p.a.BinlogGTIDPos(t) // the topic may still be empty
	rep, err := replicator.New(rc, debug, regs[0])
	if err != nil {
		t.Fatal(err)
	}
	a, err := applier.New(applyConfig(p.b, p.k, p.cluster, p.topic), debug, regs[1])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, repDone := make(chan error, 1), make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	go func() { repDone <- rep.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-repDone })

	const canary = "canary-pw-5d1e"
	p.a.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY) COMMENT 'x'",
		"CREATE USER 'app'@'%' IDENTIFIED BY '"+canary+"'",
		"ALTER USER 'app'@'%' IDENTIFIED BY '"+canary+"'",
		"GRANT SELECT ON s.* TO 'app'@'%'",
		"SET PASSWORD FOR 'app'@'%' = PASSWORD('"+canary+"')",
		"INSERT INTO s.t VALUES (1)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "s.t")
	for _, m := range p.k.ConsumeReadCommitted(t, p.topic, 1<<20, 5*time.Second) {
		if strings.Contains(string(m.Value), canary) || strings.Contains(string(m.Value), "CREATE USER") {
			t.Errorf("offset %d carries an account statement: %.300s", m.Offset, m.Value)
		}
	}
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM mysql.user WHERE user = 'app'"); n != 0 {
		t.Errorf("the account reached b")
	}
	for i, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) == 0 {
			t.Fatalf("registry %d exported nothing", i)
		}
		for _, mf := range mfs {
			if strings.Contains(mf.String(), canary) {
				t.Errorf("metric %s carries the canary", mf.GetName())
			}
		}
	}
	cfgPath := writeConfig(t, p.a, p.b, p.k, p.cluster, p.topic, "")
	status, _ := exec.Command(drcBinary(t), "status", "--config", cfgPath, "--output", "json").CombinedOutput()
	if !strings.Contains(string(status), p.cluster) && !strings.Contains(string(status), "gtid") {
		t.Errorf("drc status printed no status:\n%s", status)
	}
	if strings.Contains(string(status), canary) {
		t.Errorf("drc status shows the canary:\n%s", status)
	}

	// A DDL record with two statements, as a forger would write it.
	forged := fmt.Sprintf(`{"v":1,"cluster":%q,"region":"a","origin":"a","gtid":"1-1-9999","ts":1,"seq":0,"last":true,`+
		`"op":"ddl","db":"s","table":"x","pk":[],"sql":"CREATE TABLE s.x (id INT); CREATE TABLE s.y (id INT)","gtid_set":"1-1-9999"}`, p.cluster)
	p.k.Produce(t, p.topic, forged)
	select {
	case err := <-done:
		done <- err
		t.Logf("applier stopped: %v", err)
	case <-time.After(30 * time.Second):
	}
	for _, tbl := range []string{"x", "y"} {
		if n := queryInt(t, p.b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 's' AND TABLE_NAME = ?", tbl); n != 0 {
			t.Errorf("the forged record's statement created s.%s on b", tbl)
		}
	}
	if l := logs.String(); strings.Contains(l, canary) {
		t.Errorf("the canary is in the applier's log:\n%s", l)
	}
}

// TestRecordSigning: with kafka.record_key on both roles, a transaction
// signed with another key stops the applier with nothing of it applied,
// and a forged, unsigned position record at the tail of the topic neither
// makes a restarted replicator skip the rows written while it was down
// nor keeps it from starting.
func TestRecordSigning(t *testing.T) {
	key := []byte(strings.Repeat("k", 40))
	signed := func(c *applier.Config) { c.RecordKey = key }
	p := &applyPair{
		a:       harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1}),
		b:       harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2}),
		k:       harness.SharedKafka(t),
		cluster: harness.UniqueName("sig"),
	}
	p.topic = "drc." + p.cluster
	p.a.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta")
	rc := replicatorConfig(p.a, p.k, p.cluster, p.topic)
	rc.StartGTID = p.a.BinlogGTIDPos(t)
	rc.RecordKey = key
	p.rep = startReplicator(t, rc)
	p.app = startApplier(t, with(applyConfig(p.b, p.k, p.cluster, p.topic), signed))
	p.a.Exec(t, "CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)", "INSERT INTO s.t VALUES (1)")
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	for _, m := range p.k.ConsumeReadCommitted(t, p.topic, 1<<20, 5*time.Second) {
		var r struct {
			Last bool `json:"last"`
		}
		if json.Unmarshal(m.Value, &r) == nil && r.Last && len(replicator.Header(m.Headers, event.SignatureHeader)) != 32 {
			t.Fatalf("offset %d: a final record without a signature", m.Offset)
		}
	}

	// A DDL transaction signed with another key.
	forged := fmt.Sprintf(`{"v":1,"cluster":%q,"region":"a","origin":"a","gtid":"1-1-9999","ts":1,"seq":0,"last":true,`+
		`"op":"ddl","db":"s","table":"forged","pk":[],"sql":"CREATE TABLE s.forged (id INT)","gtid_set":"1-1-9999"}`, p.cluster)
	sig := event.NewSigner([]byte(strings.Repeat("x", 40)), p.topic, 0)
	sig.Add(nil, []byte(forged))
	p.k.ProduceMessages(t, &sarama.ProducerMessage{Topic: p.topic, Partition: 0, Value: sarama.StringEncoder(forged),
		Headers: []sarama.RecordHeader{{Key: []byte(event.SignatureHeader), Value: sig.Sum()}}})
	err := p.app.wait(t, time.Minute)
	if !errors.Is(err, applier.ErrUnsigned) || !applier.IsPermanent(err) {
		t.Fatalf("applier stopped with %v, want a permanent ErrUnsigned", err)
	}
	t.Logf("applier stopped: %v", err)
	if n := queryInt(t, p.b, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 's' AND TABLE_NAME = 'forged'"); n != 0 {
		t.Fatal("the forged DDL ran on b")
	}

	// A forged position record, unsigned, naming a position past the
	// source, while the replicator is down and rows are written.
	p.rep.stop(t)
	p.a.Exec(t, "INSERT INTO s.t VALUES (2)", "INSERT INTO s.t VALUES (3)")
	p.k.Produce(t, p.topic, fmt.Sprintf(`{"v":1,"cluster":%q,"region":"a","origin":"a","gtid":"","ts":1,"seq":0,"last":true,`+
		`"op":"heartbeat","db":"drc_meta","table":"heartbeat","pk":[],"gtid_set":"1-1-999999"}`, p.cluster))
	p.rep = startReplicator(t, rc)
	m := regexp.MustCompile(`--skip-offset (\d+:\d+)`).FindStringSubmatch(errText(err))
	if m == nil {
		t.Fatalf("the applier's error does not name --skip-offset: %v", err)
	}
	skip, err := applier.ParseSkipOffset(m[1])
	if err != nil {
		t.Fatal(err)
	}
	ac := with(applyConfig(p.b, p.k, p.cluster, p.topic), signed)
	ac.SkipOffsets = []applier.SkipOffset{skip}
	p.app = startApplier(t, ac)
	// The forged position record stops it again, at its own offset: pass
	// it over too, then every row written while the replicator was down
	// must be on b.
	err = p.app.wait(t, time.Minute)
	m = regexp.MustCompile(`--skip-offset (\d+:\d+)`).FindStringSubmatch(errText(err))
	if !errors.Is(err, applier.ErrUnsigned) || m == nil {
		t.Fatalf("the unsigned position record: applier stopped with %v", err)
	}
	skip2, _ := applier.ParseSkipOffset(m[1])
	ac.SkipOffsets = append(ac.SkipOffsets, skip2)
	p.app = startApplier(t, ac)
	waitApplied(t, p.a, p.b, p.cluster, time.Minute)
	assertSameTables(t, p.a, p.b, "s.t")
}
