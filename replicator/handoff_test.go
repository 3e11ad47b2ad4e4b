package replicator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator/event"
)

// replayFile reads the events of a binlog file that MariaDB wrote (the
// event package's golden file), decoded as the replicator's syncer would.
func replayFile(t *testing.T) []*replication.BinlogEvent {
	t.Helper()
	p := replication.NewBinlogParser()
	event.ParserConfig(p)
	var evs []*replication.BinlogEvent
	err := p.ParseFile(filepath.Join("event", "testdata", "mariadb-10.11-rows.binlog"), 0, func(e *replication.BinlogEvent) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// pausingSource replays events, pausing for pause before event pauseAt:
// the source or the network stalling inside a transaction.
type pausingSource struct {
	evs      []*replication.BinlogEvent
	next     int
	pauseAt  int
	pause    time.Duration
	paused   chan struct{} // closed when the pause starts
	resumeAt time.Time
}

func (s *pausingSource) GetEvent(ctx context.Context) (*replication.BinlogEvent, error) {
	if s.next == s.pauseAt {
		if s.paused != nil {
			close(s.paused)
			s.paused = nil
		}
		// The stall is real time, whatever deadline the caller set.
		t := time.NewTimer(time.Until(s.resume()))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.pauseAt = -1
	}
	if s.next >= len(s.evs) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ev := s.evs[s.next]
	s.next++
	return ev, nil
}

// resume is when the pause ends; it is fixed at the pause's first call.
func (s *pausingSource) resume() time.Time {
	if s.resumeAt.IsZero() {
		s.resumeAt = time.Now().Add(s.pause)
	}
	return s.resumeAt
}

// fakeKafka is a transactional producer that keeps what each commit made
// visible, as a read_committed consumer would see it.
type fakeKafka struct {
	mu        sync.Mutex
	inTxn     bool
	pending   []wire
	committed [][]wire // one slice per Kafka transaction
}

type wire struct {
	GTID    string `json:"gtid"`
	Seq     int    `json:"seq"`
	Last    bool   `json:"last"`
	Op      string `json:"op"`
	GTIDSet string `json:"gtid_set"`
}

func (k *fakeKafka) begin() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inTxn = true
	return nil
}

func (k *fakeKafka) send(_ context.Context, m *sarama.ProducerMessage) error {
	v, err := m.Value.Encode()
	if err != nil {
		return err
	}
	var w wire
	if err := json.Unmarshal(v, &w); err != nil {
		return fmt.Errorf("record is not JSON: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pending = append(k.pending, w)
	return nil
}

func (k *fakeKafka) commit() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.committed = append(k.committed, k.pending)
	k.pending, k.inTxn = nil, false
	return nil
}

func (k *fakeKafka) open() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.inTxn
}

func (k *fakeKafka) transactions() [][]wire {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][]wire(nil), k.committed...)
}

// checkWhole fails unless every committed Kafka transaction holds whole
// binlog transactions: seq from 0, one gtid, ending with last.
func checkWhole(t *testing.T, txns [][]wire) (gtids []string) {
	t.Helper()
	for i, kt := range txns {
		want := 0
		for j, w := range kt {
			if w.Seq != want || (want > 0 && w.GTID != kt[j-1].GTID) {
				t.Fatalf("kafka transaction %d record %d: gtid %s seq %d, want seq %d", i, j, w.GTID, w.Seq, want)
			}
			want++
			if w.Last {
				gtids = append(gtids, w.GTID)
				want = 0
			}
		}
		if want != 0 {
			t.Fatalf("kafka transaction %d commits part of binlog transaction %s (%d records, no last)", i, kt[len(kt)-1].GTID, want)
		}
	}
	return gtids
}

// TestPublisherNeverCommitsHalfATransaction is the reader/publisher hand-off
// under back-pressure: a complete transaction waits in the reader's batch
// because the publisher is busy, the next transaction's first record joins
// that batch, and the binlog stream then pauses longer than flush_interval
// inside that transaction. The batch handed over during the pause must not
// let the publisher commit the started transaction's first records.
func TestPublisherNeverCommitsHalfATransaction(t *testing.T) {
	evs := replayFile(t)
	// Pause after the first rows event of two or more rows, before its
	// transaction commits: one record is then in the batch, one held back.
	pauseAt := -1
	var gtids []string
	for i, ev := range evs {
		switch e := ev.Event.(type) {
		case *replication.MariadbGTIDEvent:
			gtids = append(gtids, e.GTID.String())
		case *replication.RowsEvent:
			if pauseAt < 0 && len(e.Rows) >= 2 {
				pauseAt = i + 1
			}
		}
	}
	if pauseAt < 0 {
		t.Fatal("the binlog has no rows event with two rows")
	}

	r, err := New(Config{Cluster: "c", Region: "a", Brokers: []string{"x:1"}, FlushInterval: time.Millisecond}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := gtid.Parse(gtid.MariaDB, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan *batch) // a busy publisher: it takes nothing until started
	free := make(chan *batch, batchQueue+2)
	rd := newReader(r, pos, out, free)
	src := &pausingSource{evs: evs, pauseAt: pauseAt, pause: 300 * time.Millisecond, paused: make(chan struct{})}
	paused := src.paused

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	readErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		readErr <- rd.run(ctx, src)
	}()

	// The publisher frees up in the middle of the pause, after the reader
	// has waited flush_interval many times over.
	<-paused
	time.Sleep(100 * time.Millisecond)
	k := &fakeKafka{}
	pubErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		pubErr <- r.publish(ctx, k, out, free, &sessionState{})
	}()

	// Wait until every transaction of the file is committed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, kt := range k.transactions() {
			for _, w := range kt {
				if w.Last {
					n++
				}
			}
		}
		if n >= len(gtids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions committed after 10s", n, len(gtids))
		}
		select {
		case err := <-readErr:
			t.Fatalf("reader stopped: %v", err)
		case err := <-pubErr:
			t.Fatalf("publisher stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()

	got := checkWhole(t, k.transactions())
	if fmt.Sprint(got) != fmt.Sprint(gtids) {
		t.Fatalf("committed transactions %v, binlog has %v", got, gtids)
	}
}
