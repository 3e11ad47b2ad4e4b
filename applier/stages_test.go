package applier

import (
	"context"
	"math"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator/event"
)

// Fakes of the partition's stages (stages.go), built from function
// fields. A nil field does nothing and succeeds.

type fakeSource struct {
	retained  func(ctx context.Context) (oldest, newest int64, err error)
	read      func(ctx context.Context, from int64, out chan<- []decoded) error
	committed func(next int64)
}

func (s *fakeSource) Retained(ctx context.Context) (int64, int64, error) {
	if s.retained == nil {
		return 0, math.MaxInt64, nil
	}
	return s.retained(ctx)
}

// Read closes out after read returns, as the contract wants; without read
// it sends nothing until ctx ends.
func (s *fakeSource) Read(ctx context.Context, from int64, out chan<- []decoded) error {
	defer close(out)
	if s.read == nil {
		<-ctx.Done()
		return nil
	}
	return s.read(ctx, from, out)
}

func (s *fakeSource) Committed(next int64) {
	if s.committed != nil {
		s.committed(next)
	}
}

type fakeTarget struct {
	checkpoint func(ctx context.Context) (Checkpoint, bool, error)
	plan       func(ctx context.Context, tbl *event.Table) (*plan, error)
	execDDL    func(ctx context.Context, r *event.Record) error
	recordSkip func(ctx context.Context, s drcmeta.Skip) error
	executor   func(ctx context.Context, i int) (executor, error)
}

func (f *fakeTarget) Checkpoint(ctx context.Context) (Checkpoint, bool, error) {
	if f.checkpoint == nil {
		return Checkpoint{}, false, nil
	}
	return f.checkpoint(ctx)
}

// Plan defaults to a target table with no keys beyond the records'
// primary key.
func (f *fakeTarget) Plan(ctx context.Context, tbl *event.Table) (*plan, error) {
	if f.plan == nil {
		return newPlan(tbl, &targetTable{}), nil
	}
	return f.plan(ctx, tbl)
}

func (f *fakeTarget) ExecDDL(ctx context.Context, r *event.Record) error {
	if f.execDDL == nil {
		return nil
	}
	return f.execDDL(ctx, r)
}

func (f *fakeTarget) RecordSkip(ctx context.Context, s drcmeta.Skip) error {
	if f.recordSkip == nil {
		return nil
	}
	return f.recordSkip(ctx, s)
}

func (f *fakeTarget) Executor(ctx context.Context, i int) (executor, error) {
	if f.executor == nil {
		return &fakeExecutor{}, nil
	}
	return f.executor(ctx, i)
}

func (f *fakeTarget) Close() {}

type fakeExecutor struct {
	apply    func(ctx context.Context, t *txn, again bool) error
	commit   func(ctx context.Context, t *txn) error
	rollback func()
}

// Apply takes a streaming transaction's further records when apply is
// nil.
func (x *fakeExecutor) Apply(ctx context.Context, t *txn, again bool) error {
	if x.apply == nil {
		if t.more != nil {
			for range t.more {
			}
		}
		return nil
	}
	return x.apply(ctx, t, again)
}

func (x *fakeExecutor) Commit(ctx context.Context, t *txn) error {
	if x.commit == nil {
		return nil
	}
	return x.commit(ctx, t)
}

func (x *fakeExecutor) Rollback() {
	if x.rollback != nil {
		x.rollback()
	}
}

func (x *fakeExecutor) Close() {}
