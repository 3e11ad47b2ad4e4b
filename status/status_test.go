package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-sql-driver/mysql"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/replicator"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func pos(t *testing.T, flavor, s string) replicator.Position {
	t.Helper()
	p, err := gtid.Parse(flavor, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// healthy is a one-partition pipeline where everything is fine: the
// applier has applied what was published a moment ago.
func healthy(t *testing.T) Readings {
	return Readings{
		Now: now, Cluster: "shop", SourceRegion: "a", TargetRegion: "b",
		SourceEndpoint: "db-a:3306", TargetEndpoint: "db-b:3306", Brokers: "k:9092 (PLAINTEXT)", Topic: "drc.shop",
		SourcePosition:  "0-1-100",
		SourceHeartbeat: ptr(now.Add(-300 * time.Millisecond)),
		BinlogExpiry:    ptr(24 * time.Hour),
		Tails:           map[int32]replicator.Tail{0: {Position: pos(t, "mariadb", "0-1-100"), Time: now.Add(-time.Second)}},
		Ends:            map[int32]int64{0: 500},
		Pending:         map[int32]Pending{},
		TargetPosition:  "0-2-40",
		Checkpoints:     []drcmeta.Checkpoint{{Cluster: "shop", Part: 0, Offset: 499, GTIDSet: "0-1-100", UpdatedAt: now.Add(-time.Second)}},
		TargetHeartbeat: ptr(now.Add(-1200 * time.Millisecond)),
		Conflicts:       &ConflictCount{WindowSeconds: 3600},
	}
}

var limits = Limits{CaughtUpWithin: 3 * time.Second, ConflictWindow: time.Hour}

func TestCaughtUp(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Readings)
		want   *bool
		behind int64
	}{
		{"nothing unapplied", func(r *Readings) {}, ptr(true), 0},
		{"oldest unapplied younger than the threshold", func(r *Readings) {
			r.Pending[0] = Pending{Offset: 497, At: now.Add(-2 * time.Second)}
		}, ptr(true), 3},
		{"oldest unapplied exactly at the threshold", func(r *Readings) {
			r.Pending[0] = Pending{Offset: 497, At: now.Add(-3 * time.Second)}
		}, ptr(true), 3},
		{"oldest unapplied older than the threshold", func(r *Readings) {
			r.Pending[0] = Pending{Offset: 400, At: now.Add(-3*time.Second - time.Millisecond)}
		}, ptr(false), 100},
		{"one of two partitions behind", func(r *Readings) {
			r.Ends[1] = 80
			r.Checkpoints = append(r.Checkpoints, drcmeta.Checkpoint{Cluster: "shop", Part: 1, Offset: 20, GTIDSet: "0-1-90"})
			r.Pending[1] = Pending{Offset: 21, At: now.Add(-time.Minute)}
		}, ptr(false), 59},
		{"a partition without a checkpoint but with records", func(r *Readings) {
			r.Ends[1] = 80
			r.Pending[1] = Pending{Offset: 0, At: now.Add(-time.Hour)}
		}, ptr(false), 80},
		{"a partition without a checkpoint and nothing in it", func(r *Readings) {
			r.Ends[1] = 0
		}, ptr(true), 0},
		{"kafka unreachable: unknown", func(r *Readings) {
			r.KafkaErr, r.Tails, r.Ends, r.Pending = errors.New("dial tcp: connection refused"), nil, nil, nil
		}, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy(t)
			tt.change(&r)
			rep := Assess(r, limits)
			got := rep.Target.CaughtUp
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Fatalf("caught_up = %v, want %v; report %+v", fmtBool(got), fmtBool(tt.want), rep)
			}
			if tt.behind >= 0 && (rep.Target.RecordsBehind == nil || *rep.Target.RecordsBehind != tt.behind) {
				t.Errorf("records_behind = %v, want %d", fmtInt(rep.Target.RecordsBehind), tt.behind)
			}
			if tt.want != nil && !*tt.want {
				if rep.Health != Degraded || !containsReason(rep, "target b is behind") {
					t.Errorf("health %s, reasons %q; want degraded, target b is behind", rep.Health, rep.Reasons)
				}
			}
		})
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name   string
		lim    Limits
		change func(r *Readings)
		want   Health
		reason string // a reason containing this
	}{
		{"healthy", limits, func(r *Readings) {}, Healthy, ""},
		{"kafka unreachable", limits, func(r *Readings) {
			r.KafkaErr, r.Tails, r.Ends, r.Pending = errors.New("kafka k:9092: dial tcp: connection refused"), nil, nil, nil
		}, Degraded, "kafka unreachable: kafka k:9092"},
		{"kafka refused", limits, func(r *Readings) {
			r.KafkaErr, r.KafkaRefused, r.Tails, r.Ends, r.Pending = errors.New("kafka k:9092: SASL authentication failed"), true, nil, nil, nil
		}, Failed, "SASL authentication failed"},
		{"topic missing", limits, func(r *Readings) {
			r.Tails, r.Ends, r.Pending = nil, map[int32]int64{}, nil
		}, Degraded, "topic drc.shop does not exist"},
		{"source unreadable", limits, func(r *Readings) {
			r.SourceErr = errors.New("source a (db-a:3306): access denied")
		}, Failed, "source a (db-a:3306): access denied"},
		{"target unreadable", limits, func(r *Readings) {
			r.TargetErr, r.Checkpoints, r.TargetHeartbeat, r.Conflicts = errors.New("target b (db-b:3306): connection refused"), nil, nil, nil
		}, Failed, "target b (db-b:3306)"},
		{"purged", limits, func(r *Readings) {
			r.PurgedErr = fmt.Errorf("%w: GTIDs 0-1-5 are needed", replicator.ErrPurged)
		}, Failed, "source a:"},
		{"recent conflict", limits, func(r *Readings) {
			r.Conflicts = &ConflictCount{Total: 3, Recent: 1, WindowSeconds: 3600,
				Newest: &Conflict{At: now.Add(-time.Minute), Table: "shop.orders", Kind: "duplicate_key", Resolution: "source_applied"}}
		}, Degraded, "1 conflicts recorded on target b in the last 1h0m0s (newest 2025-03-01T11:59:00Z on shop.orders: duplicate_key"},
		{"old conflicts only", limits, func(r *Readings) {
			r.Conflicts = &ConflictCount{Total: 3, WindowSeconds: 3600, Newest: &Conflict{At: now.Add(-48 * time.Hour)}}
		}, Healthy, ""},
		{"end-to-end lag above max", Limits{CaughtUpWithin: time.Minute, MaxLag: time.Second}, func(r *Readings) {}, Degraded, "end-to-end lag 1.2s is above --max-lag 1s"},
		{"end-to-end lag unknown with max", Limits{CaughtUpWithin: time.Minute, MaxLag: time.Minute}, func(r *Readings) {
			r.TargetHeartbeat = nil
		}, Degraded, "end-to-end lag unknown"},
		{"publish lag above max", Limits{CaughtUpWithin: time.Minute, MaxLag: 5 * time.Second}, func(r *Readings) {
			r.Tails[0] = replicator.Tail{Position: r.Tails[0].Position, Time: now.Add(-10 * time.Second)}
		}, Degraded, "publish lag 10s is above --max-lag 5s"},
		{"applier stopped on an error", limits, func(r *Readings) {
			r.LastError = &StopError{At: now.Add(-30 * time.Second), Error: "conflict under policy stop"}
			r.Checkpoints[0].UpdatedAt = now.Add(-time.Minute)
		}, Degraded, "the applier stopped on an error at 2025-03-01T11:59:30Z and has not applied anything since: conflict under policy stop"},
		{"applier stopped on an error, then ran again", limits, func(r *Readings) {
			r.LastError = &StopError{At: now.Add(-time.Hour), Error: "conflict under policy stop"}
		}, Healthy, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := healthy(t)
			tt.change(&r)
			rep := Assess(r, tt.lim)
			if rep.Health != tt.want {
				t.Fatalf("health = %s, want %s; reasons %q", rep.Health, tt.want, rep.Reasons)
			}
			if tt.want == Healthy && len(rep.Reasons) != 0 {
				t.Errorf("healthy with reasons %q", rep.Reasons)
			}
			if tt.reason != "" && !containsReason(rep, tt.reason) {
				t.Errorf("reasons %q lack %q", rep.Reasons, tt.reason)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	for h, want := range map[Health]int{Healthy: 0, Degraded: 1, Failed: 2} {
		if got := h.ExitCode(); got != want {
			t.Errorf("%s.ExitCode() = %d, want %d", h, got, want)
		}
	}
}

// The purge horizon status prints is replicator.PurgeHorizon, the function
// behind drc_replicator_purge_horizon_seconds, of the published time.
func TestPurgeHorizonIsTheMetrics(t *testing.T) {
	r := healthy(t)
	rep := Assess(r, limits)
	want := replicator.PurgeHorizon(now.Add(-time.Second), 24*time.Hour, now)
	if rep.Source.PurgeHorizonSeconds == nil || *rep.Source.PurgeHorizonSeconds != want {
		t.Fatalf("purge_horizon_seconds = %v, want %v", fmtFloat(rep.Source.PurgeHorizonSeconds), want)
	}
	if want != 24*3600-1 {
		t.Errorf("PurgeHorizon(now-1s, 24h, now) = %v, want %v", want, 24*3600-1)
	}

	r.BinlogExpiry = ptr(time.Duration(0))
	rep = Assess(r, limits)
	if rep.Source.PurgeHorizonSeconds != nil || !rep.Source.PurgeHorizonNever {
		t.Errorf("no expiry: purge_horizon_seconds %v, never %v; want absent, true", fmtFloat(rep.Source.PurgeHorizonSeconds), rep.Source.PurgeHorizonNever)
	}
	if !math.IsInf(replicator.PurgeHorizon(now, 0, now), 1) {
		t.Errorf("PurgeHorizon with no expiry is not +Inf")
	}

	// Without Kafka the published time, and so the horizon, is unknown.
	r = healthy(t)
	r.KafkaErr, r.Tails, r.Ends, r.Pending = errors.New("down"), nil, nil, nil
	if rep := Assess(r, limits); rep.Source.PurgeHorizonSeconds != nil {
		t.Errorf("kafka unreachable: purge_horizon_seconds = %v, want absent", *rep.Source.PurgeHorizonSeconds)
	}
}

func TestPublishLag(t *testing.T) {
	r := healthy(t)
	r.Tails[1] = replicator.Tail{Position: pos(t, "mariadb", "0-1-90"), Time: now.Add(-20 * time.Second)}
	rep := Assess(r, limits)
	if rep.Source.Published != "0-1-100" {
		t.Errorf("published = %q, want the tail that contains the others, 0-1-100", rep.Source.Published)
	}
	if got := rep.Source.PublishLagSeconds; got == nil || *got != 1 {
		t.Errorf("publish_lag_seconds = %v, want 1 (the newest tail)", fmtFloat(got))
	}
	if got := rep.Source.HeartbeatAgeSeconds; got == nil || *got != 0.3 {
		t.Errorf("heartbeat_age_seconds = %v, want 0.3", fmtFloat(got))
	}
}

func TestJSONShape(t *testing.T) {
	r := healthy(t)
	r.Pending[0] = Pending{Offset: 450, At: now.Add(-time.Minute)}
	r.Conflicts = &ConflictCount{Total: 2, Recent: 1, WindowSeconds: 3600, Newest: &Conflict{At: now, Table: "s.t", Kind: "missing_row", Resolution: "target_kept"}}
	r.LastError = &StopError{At: now, Error: "boom"}
	r.BinlogExpiry = ptr(time.Duration(0)) // +Inf must not break the encoding
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Assess(r, limits)); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, buf.String())
	}
	for _, path := range []string{
		"cluster", "checked_at", "health", "reasons",
		"source.region", "source.endpoint", "source.position", "source.published", "source.published_at",
		"source.publish_lag_seconds", "source.heartbeat_age_seconds", "source.purge_horizon_never",
		"kafka.brokers", "kafka.topic", "kafka.reachable",
		"target.region", "target.endpoint", "target.position", "target.checkpoint", "target.records_behind",
		"target.transactions_behind", "target.lag_seconds", "target.caught_up", "target.caught_up_within_seconds",
		"target.conflicts.total", "target.conflicts.recent", "target.conflicts.window_seconds",
		"target.conflicts.newest.at", "target.conflicts.newest.table", "target.conflicts.newest.kind",
		"target.last_error.at", "target.last_error.error", "target.stopped_on_error",
		"partitions",
	} {
		if _, ok := lookup(got, path); !ok {
			t.Errorf("JSON lacks %s:\n%s", path, buf.String())
		}
	}
	parts, _ := got["partitions"].([]any)
	if len(parts) != 1 {
		t.Fatalf("partitions = %v, want one", got["partitions"])
	}
	p := parts[0].(map[string]any)
	for _, k := range []string{"partition", "high_watermark", "published", "published_at", "checkpoint_offset",
		"oldest_unapplied_at", "records_behind", "transactions_behind", "caught_up"} {
		if _, ok := p[k]; !ok {
			t.Errorf("partition JSON lacks %s: %v", k, p)
		}
	}
	if got["health"] != "degraded" || p["records_behind"] != float64(50) || p["caught_up"] != false {
		t.Errorf("health %v, records_behind %v, caught_up %v; want degraded, 50, false", got["health"], p["records_behind"], p["caught_up"])
	}
}

func lookup(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestWriteText(t *testing.T) {
	r := healthy(t)
	r.Pending[0] = Pending{Offset: 450, At: now.Add(-time.Minute)}
	var buf bytes.Buffer
	if err := WriteText(&buf, Assess(r, limits)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"PIPELINE shop: a -> b", "DEGRADED", "! target b is behind: 50 records",
		"SOURCE a (db-a:3306)", "publish lag 1s", "purge horizon", "23h59m59s", "KAFKA k:9092 (PLAINTEXT) topic drc.shop",
		"reachable", "1m0s ago", "TARGET b (db-b:3306)", "p0:0-1-100@499", "caught up", "no"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestTransactionsBehind(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429562"
	tests := []struct {
		flavor, published, checkpoint string
		want                          int64
	}{
		{"mariadb", "0-1-100", "0-1-100", 0},
		{"mariadb", "0-1-100", "0-1-90", 10},
		{"mariadb", "0-1-100,1-1-7", "0-1-90", 17},
		{"mariadb", "0-2-100", "0-1-95", 5}, // a domain's seq_nos count its transactions, whichever server
		{"mariadb", "0-1-90", "0-1-100", 0},
		{"mariadb", "0-1-5", "", 5},
		{"mysql", u1 + ":1-100", u1 + ":1-100", 0},
		{"mysql", u1 + ":1-100", u1 + ":1-90", 10},
		{"mysql", u1 + ":1-100", u1 + ":1-40:50-100", 9},
		{"mysql", u1 + ":1-100," + u2 + ":1-5", u1 + ":1-100", 5},
		{"mysql", u1 + ":1-10", "", 10},
	}
	for _, tt := range tests {
		got, err := transactionsBehind(pos(t, tt.flavor, tt.published), tt.checkpoint)
		if err != nil || got != tt.want {
			t.Errorf("transactionsBehind(%s %q, %q) = %d, %v; want %d", tt.flavor, tt.published, tt.checkpoint, got, err, tt.want)
		}
	}
	if _, err := transactionsBehind(pos(t, "mariadb", "0-1-5"), "not a set"); err == nil {
		t.Errorf("an unparsable checkpoint gave no error")
	}
}

func TestRecordTS(t *testing.T) {
	whole := `{"v":1,"cluster":"shop","region":"a","origin":"a","gtid":"0-1-5","ts":1740830400123,"seq":0,"last":true,"op":"insert","db":"s","table":"t","pk":["id"],"after":{"id":"1"}}`
	tests := []struct {
		name  string
		value string
		want  int64
		ok    bool
	}{
		{"whole record", whole, 1740830400123, true},
		{"first fragment", whole[:90], 1740830400123, true},
		{"cut before ts", whole[:40], 0, false},
		{"not JSON", "hello", 0, false},
		{"no ts", `{"v":1}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := recordTS([]byte(tt.value))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: recordTS = %d, %v; want %d, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// Fakes built from function fields; a nil field answers as a healthy
// server would.
type fakeSource struct {
	position func() (string, error)
	purged   func(replicator.Position) error
}

func (f fakeSource) Privileges(context.Context) error { return nil }
func (f fakeTarget) Privileges(context.Context) error { return nil }

func (f fakeSource) Position(context.Context) (string, error) {
	if f.position != nil {
		return f.position()
	}
	return "0-1-100", nil
}
func (f fakeSource) Heartbeat(context.Context, string) (time.Time, bool, error) {
	return now, true, nil
}
func (f fakeSource) BinlogExpiry(context.Context) (time.Duration, error) { return time.Hour, nil }
func (f fakeSource) CheckPurged(_ context.Context, p replicator.Position) error {
	if f.purged != nil {
		return f.purged(p)
	}
	return nil
}

type fakeTarget struct {
	position    func() (string, error)
	checkpoints []drcmeta.Checkpoint
}

func (f fakeTarget) Position(context.Context) (string, error) {
	if f.position != nil {
		return f.position()
	}
	return "0-2-1", nil
}
func (f fakeTarget) Heartbeat(context.Context, string) (time.Time, bool, error) {
	return now, true, nil
}
func (f fakeTarget) Checkpoints(context.Context) ([]drcmeta.Checkpoint, error) {
	return f.checkpoints, nil
}
func (f fakeTarget) Conflicts(_ context.Context, w time.Duration) (ConflictCount, error) {
	return ConflictCount{WindowSeconds: w.Seconds()}, nil
}
func (f fakeTarget) LastError(context.Context) (*StopError, error) { return nil, nil }

type fakeTopic struct {
	ends    func() (map[int32]int64, error)
	tails   map[int32]replicator.Tail
	pending func(from map[int32]int64) (map[int32]Pending, error)
}

func (f fakeTopic) Tails(context.Context) (map[int32]replicator.Tail, error) { return f.tails, nil }
func (f fakeTopic) Ends(context.Context) (map[int32]int64, error)            { return f.ends() }
func (f fakeTopic) Pending(_ context.Context, from map[int32]int64) (map[int32]Pending, error) {
	if f.pending != nil {
		return f.pending(from)
	}
	return nil, nil
}

func TestCollect(t *testing.T) {
	p := Pipeline{Cluster: "shop", SourceRegion: "a", TargetRegion: "b", SourceEndpoint: "db-a:3306", TargetEndpoint: "db-b:3306",
		Kafka: kafkaconn.Conn{Brokers: []string{"k:9092"}, SASL: kafkaconn.SASL{Mechanism: "SCRAM-SHA-512", User: "drc", Password: "s3cret"}},
		Topic: "drc.shop"}
	tails := map[int32]replicator.Tail{0: {Position: pos(t, "mariadb", "0-1-100"), Time: now}, 1: {Position: pos(t, "mariadb", "0-1-99"), Time: now}}
	ends := func() (map[int32]int64, error) { return map[int32]int64{0: 10, 1: 20, 2: 5}, nil }
	cps := []drcmeta.Checkpoint{{Cluster: "shop", Part: 0, Offset: 10, GTIDSet: "0-1-100"}, {Cluster: "shop", Part: 1, Offset: 15, GTIDSet: "0-1-95"}}
	denied := &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'drc'@'x' (using password: YES)"}

	t.Run("reads from each checkpoint", func(t *testing.T) {
		var asked map[int32]int64
		topic := fakeTopic{ends: ends, tails: tails, pending: func(from map[int32]int64) (map[int32]Pending, error) {
			asked = from
			return map[int32]Pending{1: {Offset: 16, At: now.Add(-time.Hour)}}, nil
		}}
		rep := Collect(context.Background(), p, fakeSource{}, fakeTarget{checkpoints: cps}, topic, limits, now)
		// Partition 0 is at its high watermark: not read. Partition 2 has
		// no checkpoint: read from the oldest record.
		if fmt.Sprint(asked) != "map[1:15 2:-1]" {
			t.Errorf("Pending asked for %v, want map[1:15 2:-1]", asked)
		}
		if rep.Health != Degraded || rep.Target.CaughtUp == nil || *rep.Target.CaughtUp {
			t.Errorf("health %s, caught up %v; want degraded, false", rep.Health, fmtBool(rep.Target.CaughtUp))
		}
		if got := fmtInt(rep.Target.TransactionsBehind); got != "4" {
			t.Errorf("transactions_behind = %s, want 4 (partition 1: 0-1-99 published, 0-1-95 applied)", got)
		}
	})
	t.Run("source denied", func(t *testing.T) {
		topic := fakeTopic{ends: ends, tails: tails}
		src := fakeSource{position: func() (string, error) { return "", denied }}
		rep := Collect(context.Background(), p, src, fakeTarget{checkpoints: cps}, topic, limits, now)
		if rep.Health != Failed || !containsReason(rep, "source a (db-a:3306): ") || !containsReason(rep, "Access denied") || !containsReason(rep, "check the user, password") {
			t.Errorf("health %s, reasons %q; want error naming source a (db-a:3306), access denied", rep.Health, rep.Reasons)
		}
	})
	t.Run("target host unknown", func(t *testing.T) {
		topic := fakeTopic{ends: ends, tails: tails}
		dst := fakeTarget{position: func() (string, error) {
			return "", fmt.Errorf("dial: %w", &net.DNSError{Err: "no such host", Name: "db-b", IsNotFound: true})
		}}
		rep := Collect(context.Background(), p, fakeSource{}, dst, topic, limits, now)
		if rep.Health != Failed || !containsReason(rep, "target b (db-b:3306): ") || !containsReason(rep, "does not resolve") {
			t.Errorf("health %s, reasons %q; want error naming target b, host does not resolve", rep.Health, rep.Reasons)
		}
	})
	t.Run("kafka password wrong", func(t *testing.T) {
		topic := fakeTopic{ends: func() (map[int32]int64, error) { return nil, sarama.ErrSASLAuthenticationFailed }}
		rep := Collect(context.Background(), p, fakeSource{}, fakeTarget{checkpoints: cps}, topic, limits, now)
		if rep.Health != Failed || !containsReason(rep, "kafka k:9092") || !containsReason(rep, "SASL authentication failed") {
			t.Errorf("health %s, reasons %q; want error naming the brokers", rep.Health, rep.Reasons)
		}
		var buf bytes.Buffer
		_ = WriteJSON(&buf, rep)
		_ = WriteText(&buf, rep)
		if strings.Contains(buf.String(), "s3cret") {
			t.Errorf("the Kafka password is printed:\n%s", buf.String())
		}
	})
	t.Run("kafka down", func(t *testing.T) {
		topic := fakeTopic{ends: func() (map[int32]int64, error) {
			return nil, fmt.Errorf("%w: dial tcp k:9092: connect: connection refused", sarama.ErrOutOfBrokers)
		}}
		rep := Collect(context.Background(), p, fakeSource{}, fakeTarget{checkpoints: cps}, topic, limits, now)
		if rep.Health != Degraded || rep.Kafka.Reachable || !containsReason(rep, "kafka unreachable: kafka k:9092") {
			t.Errorf("health %s, reachable %v, reasons %q; want degraded, unreachable", rep.Health, rep.Kafka.Reachable, rep.Reasons)
		}
	})
	t.Run("purged", func(t *testing.T) {
		topic := fakeTopic{ends: ends, tails: tails}
		src := fakeSource{purged: func(p replicator.Position) error {
			if p.String() != "0-1-100" {
				t.Errorf("CheckPurged(%s), want the published position 0-1-100", p)
			}
			return fmt.Errorf("%w: GTIDs are needed", replicator.ErrPurged)
		}}
		rep := Collect(context.Background(), p, src, fakeTarget{checkpoints: cps}, topic, limits, now)
		if rep.Health != Failed || !strings.Contains(rep.Source.Error, "purged") {
			t.Errorf("health %s, source error %q; want error, purged", rep.Health, rep.Source.Error)
		}
	})
}

func containsReason(rep Report, s string) bool {
	for _, r := range rep.Reasons {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

func fmtBool(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

func fmtInt(v *int64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}

func fmtFloat(v *float64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}
