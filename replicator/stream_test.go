package replicator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator/event"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testReader(t *testing.T, allow ...string) (*reader, chan *batch) {
	t.Helper()
	r, err := New(Config{Cluster: "c", Region: "b", Brokers: []string{"x:1"}, AllowDDL: allow}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := gtid.Parse(gtid.MariaDB, "1-1-10")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *batch, 4)
	return newReader(r, pos, out, make(chan *batch, 4)), out
}

// published drains what the reader handed over or still holds and counts
// the records.
func published(rd *reader, out chan *batch) int {
	n := 0
	if rd.cur != nil {
		n += len(rd.cur.msgs)
		rd.cur = nil
	}
	for {
		select {
		case b := <-out:
			n += len(b.msgs)
		default:
			return n
		}
	}
}

func TestReaderStopsOnUnclassifiedStatement(t *testing.T) {
	ctx := context.Background()
	rd, _ := testReader(t)
	if err := rd.asm.begin("1-1-11", 0, true); err != nil {
		t.Fatal(err)
	}
	err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte("FROBNICATE TABLE t"), Schema: []byte("s")})
	var uc *ErrUnclassified
	if !errors.As(err, &uc) || !IsPermanent(err) || uc.GTID != "1-1-11" {
		t.Fatalf("query = %v, want a permanent ErrUnclassified for 1-1-11", err)
	}
	if rd.asm.pos.String() != "1-1-10" {
		t.Errorf("position advanced past the unclassified statement: %s", rd.asm.pos)
	}

	// An operator may allow the exact statement through.
	rd, out := testReader(t, "FROBNICATE   TABLE t")
	if err := rd.asm.begin("1-1-11", 0, true); err != nil {
		t.Fatal(err)
	}
	if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte("FROBNICATE TABLE t"), Schema: []byte("s")}); err != nil {
		t.Fatalf("allowed statement: %v", err)
	}
	if n := published(rd, out); rd.asm.pos.String() != "1-1-11" || n != 1 {
		t.Fatalf("allowed statement not published: pos %s", rd.asm.pos)
	}
}

func TestReaderRejectsStatementDML(t *testing.T) {
	rd, _ := testReader(t)
	if err := rd.asm.begin("1-1-11", 0, false); err != nil {
		t.Fatal(err)
	}
	err := rd.asm.query(context.Background(), &replication.QueryEvent{Query: []byte("INSERT INTO t VALUES (1)")})
	if err == nil || !IsPermanent(err) {
		t.Fatalf("statement DML = %v, want a permanent error", err)
	}
}

func TestReaderSkipsDDLFromAnotherRegion(t *testing.T) {
	ctx := context.Background()
	rd, out := testReader(t) // region b
	for i, tc := range []struct {
		sql       string
		published bool
	}{
		{DDLOriginComment("a") + "ALTER TABLE t ADD COLUMN x INT", false},
		{DDLOriginComment("b") + "ALTER TABLE t ADD COLUMN y INT", true},
		{"ALTER TABLE t ADD COLUMN z INT", true},
	} {
		if err := rd.asm.begin(fmt.Sprintf("1-1-%d", 11+i), 0, true); err != nil {
			t.Fatal(err)
		}
		if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte(tc.sql), Schema: []byte("s")}); err != nil {
			t.Fatal(err)
		}
		if got := published(rd, out) == 1; got != tc.published {
			t.Errorf("%q published = %v, want %v", tc.sql, got, tc.published)
		}
	}
}

func TestErrorKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&PreflightError{"binlog_format", "x"}, "preflight"},
		{permanent(&ErrUnclassified{SQL: "x"}), "ddl"},
		{fmt.Errorf("wrapped: %w", ErrPurged), "purged"},
		{classifyKafka(errors.New("broker down")), "kafka"},
		{permanent(&kafkaError{errors.New("fenced")}), "kafka"},
		{errors.New("something else"), "other"},
	} {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestFencedErrorSaysWhatHappened(t *testing.T) {
	err := classifyKafka(fmt.Errorf("commit kafka transaction: %w", sarama.ErrProducerFenced))
	if !IsPermanent(err) || !errors.Is(err, sarama.ErrProducerFenced) || errorKind(err) != "kafka" {
		t.Fatalf("fenced = %v: want permanent, ErrProducerFenced, kind kafka", err)
	}
	if s := err.Error(); !strings.Contains(s, "another replicator") || strings.Contains(s, "how did this happen") {
		t.Errorf("fenced error text %q", s)
	}
}

func TestPublishLagGrowsWhileNothingIsPublished(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	if v := testutil.ToFloat64(m.lag); !math.IsNaN(v) {
		t.Errorf("lag before any publish = %v, want NaN", v)
	}
	m.observeCommit(1, 1, 10, time.Now().Add(-30*time.Second), "1-1-5")
	if v := testutil.ToFloat64(m.lag); v < 30 || v > 60 {
		t.Errorf("lag 30 s after the newest published commit = %v, want >= 30", v)
	}
	if n := testutil.CollectAndCount(m.errors); n != 6 {
		t.Errorf("%d error series at start, want 6", n)
	}
}

func TestReaderOperatorSkip(t *testing.T) {
	ctx := context.Background()
	rd, out := testReader(t)
	rd.asm.cfg.SkipGTID = "1-1-11"
	var recorded []drcmeta.Skip
	rd.asm.cfg.RecordSkip = func(_ context.Context, s drcmeta.Skip) error { recorded = append(recorded, s); return nil }

	// The transaction the replicator stops at: an unclassifiable statement
	// and a rows event whose table map it cannot read (no column names:
	// binlog_row_metadata=MINIMAL).
	if err := rd.asm.begin("1-1-11", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte("FROBNICATE TABLE t"), Schema: []byte("s")}); err != nil {
		t.Fatalf("skipped statement: %v", err)
	}
	tm := &replication.TableMapEvent{Schema: []byte("shop"), Table: []byte("orders"), ColumnCount: 1, ColumnType: []byte{3}}
	if err := rd.asm.rows(ctx, replication.WRITE_ROWS_EVENTv1, &replication.RowsEvent{Table: tm, Rows: [][]any{{int32(1)}}}); err != nil {
		t.Fatalf("skipped rows: %v", err)
	}
	if err := rd.asm.commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := published(rd, out); n != 0 || rd.asm.pos.String() != "1-1-11" {
		t.Fatalf("skipped transaction: %d records published, position %s; want none and 1-1-11", n, rd.asm.pos)
	}
	if len(recorded) != 1 || recorded[0].GTID != "1-1-11" || strings.Join(recorded[0].Tables, ",") != "s,shop.orders" || recorded[0].Role != "replicator" {
		t.Fatalf("recorded %+v", recorded)
	}
	if got := testutil.ToFloat64(rd.r.metrics.skipped.WithLabelValues("operator")); got != 1 {
		t.Errorf("skipped{operator} = %v", got)
	}

	// The next transaction is read as usual: the same rows event stops it,
	// and the error says how to pass over it.
	if err := rd.asm.begin("1-1-12", 0, false); err != nil {
		t.Fatal(err)
	}
	err := rd.asm.rows(ctx, replication.WRITE_ROWS_EVENTv1, &replication.RowsEvent{Table: tm, Rows: [][]any{{int32(1)}}})
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "--skip-gtid 1-1-12") {
		t.Fatalf("unreadable rows in 1-1-12: %v, want a permanent error naming --skip-gtid 1-1-12", err)
	}
}

func TestReaderDoesNotPublishAccountStatements(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	r, err := New(Config{Cluster: "c", Region: "b", Brokers: []string{"x:1"}}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	pos, _ := gtid.Parse(gtid.MariaDB, "1-1-10")
	out := make(chan *batch, 4)
	rd := newReader(r, pos, out, make(chan *batch, 4))
	stmts := []string{
		"CREATE USER 'app'@'%' IDENTIFIED BY 'canary-7f3a'",
		"ALTER USER 'app'@'%' IDENTIFIED BY 'canary-7f3a'",
		"GRANT SELECT ON shop.* TO 'app'@'%' IDENTIFIED BY 'canary-7f3a'",
		"SET PASSWORD FOR 'app'@'%' = PASSWORD('canary-7f3a')",
		"CREATE ROLE r1",
		"REVOKE ALL ON *.* FROM 'app'@'%'",
		"CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'x', PASSWORD 'canary-7f3a')",
		"DROP USER 'app'@'%'",
	}
	for i, q := range stmts {
		if err := rd.asm.begin(fmt.Sprintf("1-1-%d", 11+i), 0, true); err != nil {
			t.Fatal(err)
		}
		if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte(q), Schema: []byte("shop")}); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if n := published(rd, out); n != 0 {
		t.Errorf("%d account statements published", n)
	}
	if got := testutil.ToFloat64(r.metrics.skipped.WithLabelValues("account")); got != float64(len(stmts)) {
		t.Errorf("skipped{account} = %v, want %d", got, len(stmts))
	}
	if want := fmt.Sprintf("1-1-%d", 10+len(stmts)); rd.asm.pos.String() != "1-1-"+want[len("1-1-"):] {
		t.Errorf("position %s, want %s: account statements are read, not published", rd.asm.pos, want)
	}
	if strings.Contains(logs.String(), "canary") || !strings.Contains(logs.String(), "statement=\"CREATE USER\"") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// A source that goes idle after transactions that published nothing (here
// a DDL sent back from another region) gets a position marker carrying its
// position; an idle source whose position is already published gets none.
func TestReaderIdleMarker(t *testing.T) {
	ctx := context.Background()
	rd, out := testReader(t) // region b
	heartbeat := &replication.BinlogEvent{Header: &replication.EventHeader{}, Event: &replication.HeartbeatEvent{}}
	if err := rd.asm.handle(ctx, heartbeat); err != nil {
		t.Fatal(err)
	}
	if n := published(rd, out); n != 0 {
		t.Fatalf("idle with nothing unpublished: %d records, want none", n)
	}
	rd.asm.lastSet = time.Now() // a gtid_set was just published: no marker due
	if err := rd.asm.begin("1-1-11", 0, true); err != nil {
		t.Fatal(err)
	}
	if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte(DDLOriginComment("a") + "ALTER TABLE t ADD COLUMN x INT"), Schema: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if n := published(rd, out); n != 0 {
		t.Fatalf("a DDL from region a was published back: %d records", n)
	}
	if err := rd.asm.handle(ctx, heartbeat); err != nil {
		t.Fatal(err)
	}
	b := rd.cur
	if b == nil || len(b.msgs) != 1 || !b.boundary {
		t.Fatalf("idle after an unpublished transaction: batch %+v, want one marker at a boundary", b)
	}
	val, _ := b.msgs[0].Value.Encode()
	var rec event.Record
	if err := json.Unmarshal(val, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Op != event.OpHeartbeat || rec.After != nil || !rec.Last || rec.GTIDSet != "1-1-11" {
		t.Errorf("marker = %+v, want a last heartbeat record without image and gtid_set 1-1-11", rec)
	}
	published(rd, out)
	// Once published, the next idle heartbeat adds nothing.
	if err := rd.asm.handle(ctx, heartbeat); err != nil {
		t.Fatal(err)
	}
	if n := published(rd, out); n != 0 {
		t.Errorf("second idle heartbeat: %d records, want none", n)
	}
}

// A partition that got nothing of a published transaction is behind; and
// while transactions that publish nothing keep coming (the source is never
// idle), the marker comes once no gtid_set has been published for
// markerDelay.
func TestReaderMarkerPartitionsAndDelay(t *testing.T) {
	ctx := context.Background()
	rd, out := testReader(t)
	rd.asm.behind = make([]bool, 2) // two partitions
	rd.asm.seq, rd.asm.pend = make([]int, 2), []*pending{{}, {}}
	rd.asm.lastSet = time.Now()
	// A transaction published to partition 0 only (a DDL of s).
	if err := rd.asm.begin("1-1-11", 0, true); err != nil {
		t.Fatal(err)
	}
	rd.r.cfg.Partitions = 2
	if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte("ALTER TABLE t ADD COLUMN y INT"), Schema: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	published(rd, out)
	p := rd.asm.partition("s")
	if rd.asm.behind[p] || !rd.asm.behind[1-p] {
		t.Fatalf("behind = %v after a transaction in partition %d only", rd.asm.behind, p)
	}
	heartbeat := &replication.BinlogEvent{Header: &replication.EventHeader{}, Event: &replication.HeartbeatEvent{}}
	if err := rd.asm.handle(ctx, heartbeat); err != nil {
		t.Fatal(err)
	}
	if b := rd.cur; b == nil || len(b.msgs) != 1 || b.msgs[0].Partition != 1-p {
		t.Fatalf("idle: want one marker, in partition %d only; got %+v", 1-p, b)
	}
	published(rd, out)

	// Not idle: transactions from the other region, none published.
	rd.asm.lastSet = time.Now().Add(-markerDelay / 2)
	drop := func(gtid string) int {
		if err := rd.asm.begin(gtid, 0, true); err != nil {
			t.Fatal(err)
		}
		if err := rd.asm.query(ctx, &replication.QueryEvent{Query: []byte(DDLOriginComment("a") + "ALTER TABLE t ADD COLUMN z INT"), Schema: []byte("s")}); err != nil {
			t.Fatal(err)
		}
		return published(rd, out)
	}
	if n := drop("1-1-12"); n != 0 {
		t.Fatalf("a marker before markerDelay: %d records", n)
	}
	rd.asm.lastSet = time.Now().Add(-markerDelay)
	if n := drop("1-1-13"); n != 2 {
		t.Fatalf("after markerDelay without a gtid_set: %d records, want a marker in both partitions", n)
	}
}
