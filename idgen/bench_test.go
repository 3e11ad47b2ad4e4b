package idgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Benchmarks of the in-process hot path against bare sonyflake with the
// same layout. Two layouts: the default one, where both are capped by the
// layout (4096 IDs per 1ms unit), and a wide one (20 sequence bits) where
// neither runs out of sequence, so the CPU cost per ID shows.
//
//	go test -run '^$' -bench . ./idgen/
var benchLayouts = []struct {
	name string
	l    Layout
}{
	{"default", DefaultLayout()},
	// 33 time bits of 1ms last 99 days: start yesterday.
	{"wide", Layout{TimeUnit: time.Millisecond, StartTime: time.Now().Add(-24 * time.Hour).Truncate(time.Hour),
		SequenceBits: 20, RegionBits: 3, NodeBits: 7}},
}

func BenchmarkSonyflakeNextID(b *testing.B) {
	for _, bl := range benchLayouts {
		b.Run(bl.name, func(b *testing.B) {
			sf, err := bl.l.sonyflake()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := sf.NextID(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNodeNextID(b *testing.B) {
	for _, bl := range benchLayouts {
		b.Run(bl.name, func(b *testing.B) {
			n := benchNode(b, bl.l)
			one := make([]int64, 1)
			for b.Loop() {
				if _, err := n.NextID(); err != nil {
					if !errors.Is(err, ErrSequenceExhausted) {
						b.Fatal(err)
					}
					// Wait for the next unit the way Next does.
					if err := n.Next(context.Background(), one); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkNodeFill100(b *testing.B) {
	n := benchNode(b, DefaultLayout())
	buf := make([]int64, 100)
	for b.Loop() {
		if err := n.Next(context.Background(), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "IDs/s")
}

func benchNode(b *testing.B, l Layout) *Node {
	mem := newMemLeases(SystemClock{})
	n, err := NewNode(Config{
		Region: 1, RegionBits: l.RegionBits, NodeBits: l.NodeBits, SequenceBits: l.SequenceBits,
		TimeUnit: l.TimeUnit, StartTime: l.StartTime, BackwardBudget: 10 * time.Millisecond,
		Leases: mem.store(),
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx) // the in-memory store cannot fail
	}()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-n.Ready():
	case <-time.After(5 * time.Second):
		b.Fatal("node not ready")
	}
	return n
}
