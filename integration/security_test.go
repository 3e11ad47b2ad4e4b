package integration

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/drc-dev/drc/applier"
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
// canary password, appear in no topic record and in no applier log line
// at any level; the DR region keeps its own accounts. A forged DDL record
// that carries two statements runs neither.
func TestNoSecretLeavesTheSource(t *testing.T) {
	p := newApplyPair(t, nil)
	p.app.stop(t)
	var logs lockedBuffer
	a, err := applier.New(applyConfig(p.b, p.k, p.cluster, p.topic), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

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
