package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/integration/harness"
)

// The smoke tests prove the harness starts real servers configured the way
// drc needs: a row written to MariaDB is decodable from its binlog with the
// table map's own metadata, and Kafka transactions are honoured by a
// read_committed consumer.

func TestSmokeBinlogRowDecoded(t *testing.T) {
	t.Parallel()
	src := harness.StartMariaDB(t, harness.ServerOptions{GTIDDomainID: 7})
	db := harness.UniqueName("smoke")
	src.Exec(t,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(32) NOT NULL, n INT)",
		"INSERT INTO "+db+".t VALUES (18446744073709551615, 'héllo wörld', -42)",
	)
	wantGTID := src.BinlogGTIDPos(t)

	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 100000 + rand.Uint32N(1<<30),
		Flavor:   mysql.MariaDBFlavor,
		Host:     src.Host,
		Port:     uint16(src.Port),
		User:     src.User,
		Password: src.Password,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	start, err := mysql.ParseMariadbGTIDSet("") // from the first binlog
	if err != nil {
		t.Fatalf("parse gtid set: %v", err)
	}
	streamer, err := syncer.StartSyncGTID(start)
	if err != nil {
		t.Fatalf("start binlog sync from %s: %v", src.Addr(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastGTID string
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("read binlog (last gtid %q, want %q): %v", lastGTID, wantGTID, err)
		}
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent:
			lastGTID = e.GTID.String()
			if e.GTID.DomainID != 7 || e.GTID.ServerID != src.ServerID {
				t.Errorf("gtid %s: want domain 7 and server_id %d", lastGTID, src.ServerID)
			}
		case *replication.RowsEvent:
			if string(e.Table.Schema) != db || string(e.Table.Table) != "t" {
				continue
			}
			if ev.Header.EventType != replication.WRITE_ROWS_EVENTv1 && ev.Header.EventType != replication.WRITE_ROWS_EVENTv2 {
				t.Fatalf("event type %v, want a write-rows event", ev.Header.EventType)
			}
			// Column names come from binlog_row_metadata=FULL, not from a
			// live schema query.
			if got, want := fmt.Sprint(e.Table.ColumnNameString()), "[id name n]"; got != want {
				t.Errorf("column names = %s, want %s", got, want)
			}
			if !e.Table.UnsignedMap()[0] {
				t.Errorf("column id not marked unsigned in table map metadata")
			}
			if len(e.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(e.Rows))
			}
			row := e.Rows[0]
			// The table map's signedness metadata lets go-mysql decode
			// BIGINT UNSIGNED as uint64.
			if got, ok := row[0].(uint64); !ok || got != math.MaxUint64 {
				t.Errorf("id = %#v, want uint64(%d)", row[0], uint64(math.MaxUint64))
			}
			if got, want := fmt.Sprint(row[1]), "héllo wörld"; got != want {
				t.Errorf("name = %q, want %q", got, want)
			}
			if got, ok := row[2].(int32); !ok || got != -42 {
				t.Errorf("n = %#v, want int32(-42)", row[2])
			}
			if lastGTID != wantGTID {
				t.Errorf("row arrived in gtid %s, want %s (the insert)", lastGTID, wantGTID)
			}
			return
		}
	}
}

func TestSmokeKafkaCommittedTxnVisible(t *testing.T) {
	t.Parallel()
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("smoke")
	k.CreateTopic(t, topic, 1)
	p := newTxnProducer(t, k)
	produceTxn(t, p, topic, true, "committed-1")

	got := k.ConsumeReadCommitted(t, topic, 1, 30*time.Second)
	if len(got) != 1 || string(got[0].Value) != "committed-1" {
		t.Fatalf("read_committed consumer got %v, want [committed-1]", values(got))
	}
}

func TestSmokeKafkaAbortedTxnInvisible(t *testing.T) {
	t.Parallel()
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("smoke")
	k.CreateTopic(t, topic, 1)
	p := newTxnProducer(t, k)
	produceTxn(t, p, topic, false, "aborted-1")
	produceTxn(t, p, topic, true, "committed-1")
	produceTxn(t, p, topic, false, "aborted-2")
	produceTxn(t, p, topic, true, "committed-2")

	// Asking for four records gives aborted ones every chance to show up;
	// read_committed must stop at the two committed ones.
	got := values(k.ConsumeReadCommitted(t, topic, 4, 3*time.Second))
	if fmt.Sprint(got) != "[committed-1 committed-2]" {
		t.Fatalf("read_committed consumer got %v, want [committed-1 committed-2]", got)
	}

	// Control: the aborted records really are in the log, so the check above
	// fails if the consumer's isolation level were dropped.
	raw := readUncommitted(t, k, topic, 4)
	if fmt.Sprint(raw) != "[aborted-1 committed-1 aborted-2 committed-2]" {
		t.Fatalf("read_uncommitted consumer got %v, want all four records", raw)
	}
}

// newTxnProducer returns a transactional producer configured the way the
// replicator's must be.
func newTxnProducer(t *testing.T, k *harness.Kafka) sarama.SyncProducer {
	t.Helper()
	cfg := k.SaramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Transaction.ID = harness.UniqueName("drc-smoke")
	p, err := sarama.NewSyncProducer([]string{k.Bootstrap}, cfg)
	if err != nil {
		t.Fatalf("new transactional producer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func produceTxn(t *testing.T, p sarama.SyncProducer, topic string, commit bool, value string) {
	t.Helper()
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin txn: %v", err)
	}
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(value)}
	if _, _, err := p.SendMessage(msg); err != nil {
		t.Fatalf("send %s: %v", value, err)
	}
	end := p.CommitTxn
	if !commit {
		end = p.AbortTxn
	}
	if err := end(); err != nil {
		t.Fatalf("end txn of %s (commit=%v): %v", value, commit, err)
	}
}

// readUncommitted reads partition 0 of topic with the default isolation level
// until it has want records.
func readUncommitted(t *testing.T, k *harness.Kafka, topic string, want int) []string {
	t.Helper()
	cfg := k.SaramaConfig()
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	c, err := sarama.NewConsumer([]string{k.Bootstrap}, cfg)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s/0: %v", topic, err)
	}
	defer pc.Close()
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Fatalf("consume %s/0: %v", topic, err)
		case <-timeout:
			return got
		}
	}
	return got
}

func values(msgs []*sarama.ConsumerMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	return out
}

// The restart tests run sequentially: they stop servers (the broker is shared
// by the package's tests), and Go runs parallel tests only after them.

func TestSmokeMariaDBRestartKeepsData(t *testing.T) {
	m := harness.StartMariaDB(t, harness.ServerOptions{})
	db := harness.UniqueName("smoke")
	m.Exec(t, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY)", "INSERT INTO "+db+".t VALUES (1)")
	addr, pos := m.Addr(), m.BinlogGTIDPos(t)

	m.Stop(t)
	if m.Running() {
		t.Fatalf("server still running after Stop")
	}
	m.Start(t)
	m.Exec(t, "INSERT INTO "+db+".t VALUES (2)")
	m.Kill(t)
	m.Start(t)

	if m.Addr() != addr {
		t.Errorf("address changed across restarts: %s, then %s", addr, m.Addr())
	}
	var n int
	if err := m.Open(t, db).QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	if n != 2 {
		t.Errorf("rows after stop and kill = %d, want 2", n)
	}
	if got := m.BinlogGTIDPos(t); got == pos {
		t.Errorf("gtid_binlog_pos %s did not advance past %s", got, pos)
	}
}

func TestSmokeKafkaRestartKeepsRecords(t *testing.T) {
	k := harness.SharedKafka(t)
	topic := harness.UniqueName("smoke")
	k.CreateTopic(t, topic, 1)
	produceTxn(t, newTxnProducer(t, k), topic, true, "before")

	k.Stop(t)
	k.Start(t)
	produceTxn(t, newTxnProducer(t, k), topic, true, "after")

	got := values(k.ConsumeReadCommitted(t, topic, 2, 30*time.Second))
	if fmt.Sprint(got) != "[before after]" {
		t.Fatalf("after a broker restart got %v, want [before after]", got)
	}
}
