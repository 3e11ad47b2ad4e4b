package replicator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/drc-dev/drc/internal/gtid"
)

// leaderlessClient is a Kafka client whose partitions are not served by
// their leaders for the first notYet ListOffsets of each.
type leaderlessClient struct {
	sarama.Client
	notYet int
	calls  map[int32]int
}

func (c *leaderlessClient) GetOffset(topic string, p int32, at int64) (int64, error) {
	c.calls[p]++
	if c.calls[p] <= c.notYet {
		return -1, sarama.ErrNotLeaderForPartition
	}
	return 0, nil
}

func TestWaitForLeadersWaitsUntilEveryPartitionIsServed(t *testing.T) {
	c := &leaderlessClient{notYet: 3, calls: map[int32]int{}}
	if err := waitForLeaders(context.Background(), c, "drc.t", 2, time.Minute); err != nil {
		t.Fatalf("waitForLeaders = %v, want nil once the leaders serve", err)
	}
	for p := int32(0); p < 2; p++ {
		if c.calls[p] != c.notYet+1 {
			t.Errorf("partition %d asked %d times, want %d (until it is served, then no more)", p, c.calls[p], c.notYet+1)
		}
	}
}

func TestWaitForLeadersGivesUpNamingThePartition(t *testing.T) {
	c := &leaderlessClient{notYet: 1 << 30, calls: map[int32]int{}}
	err := waitForLeaders(context.Background(), c, "drc.t", 1, 200*time.Millisecond)
	if !errors.Is(err, sarama.ErrNotLeaderForPartition) || !strings.Contains(err.Error(), "drc.t partition 0") {
		t.Fatalf("waitForLeaders = %v, want the last error, naming topic drc.t partition 0", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := waitForLeaders(ctx, c, "drc.t", 1, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("waitForLeaders with ctx ended = %v, want context.Canceled", err)
	}
}

// The published position is the tail that contains the others, and its
// time the newest of any tail's, which need not be the same partition's.
func TestNewestTail(t *testing.T) {
	pos := func(s string) Position {
		p, err := gtid.Parse(gtid.MariaDB, s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tails := map[int32]Tail{
		0: {Position: pos("0-1-7"), Time: t0.Add(3 * time.Second)},
		1: {Position: pos("0-1-9"), Time: t0.Add(time.Second)},
		2: {Position: pos("0-1-4"), Time: t0},
	}
	got, at, ok := NewestTail(tails)
	if !ok || got.String() != "0-1-9" || !at.Equal(t0.Add(3*time.Second)) {
		t.Errorf("NewestTail = %s at %v (%v), want 0-1-9 at %v", got, at, ok, t0.Add(3*time.Second))
	}
	if _, _, ok := NewestTail(nil); ok {
		t.Error("NewestTail of no tails reported ok")
	}
}
