package reconcile

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlerr"
)

// checkpoint reads the applier's progress from the target's
// drc_meta.apply_checkpoint, which the applier writes in the same
// transaction as the rows it applies: a checkpoint that has passed a
// position means the rows of every transaction up to it are visible.
type checkpoint struct {
	db      *sql.DB
	cluster string
	flavor  Flavor
}

// passed reports whether every checkpoint row of the cluster contains pos.
// All partitions must pass: reconcile does not know which partition carries
// a table, and waiting for all of them can only delay a verdict, never turn
// lag into drift.
func (c *checkpoint) passed(ctx context.Context, pos gtid.Set) (bool, error) {
	cks, err := drcmeta.ReadCheckpoints(ctx, c.db, c.cluster)
	if err != nil {
		return false, err
	}
	if len(cks) == 0 {
		return false, fmt.Errorf("%w %q: no row in drc_meta.apply_checkpoint (has its applier run on this target?)", ErrNoCheckpoint, c.cluster)
	}
	ok := true
	for _, ck := range cks {
		set, err := gtid.Parse(string(c.flavor), ck.GTIDSet)
		if err != nil {
			return false, fmt.Errorf("applier checkpoint of %s part %d: %w", c.cluster, ck.Part, err)
		}
		if !set.Contains(pos) {
			ok = false
		}
	}
	return ok, nil
}

// wait polls until the checkpoint passes pos, and reports false if timeout
// elapses first. Polls start at 10ms (a caught-up applier answers at once)
// and back off to 250ms.
func (c *checkpoint) wait(ctx context.Context, pos gtid.Set, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	delay := 10 * time.Millisecond
	for {
		ok, err := c.passed(ctx, pos)
		if err != nil || ok {
			return ok, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		if err := sleepCtx(ctx, min(delay, left)); err != nil {
			return false, err
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// confirmed is a difference that survived settling.
type confirmed struct {
	key     rowKey
	kind    Kind
	columns []string
	src     rowImage // the source's row as read under lock; nil for extra rows
}

// unsettledKey is a candidate settling could not decide.
type unsettledKey struct {
	key    rowKey
	reason string
}

// settler decides which candidate differences are drift. Its reads are
// function fields so the protocol is unit-tested with fakes.
//
// A candidate is first re-read cheaply, without locks (filter): wait until
// the target's checkpoint has passed the source position of the last read,
// read the target, read the source again (new position). Rows that now
// match are dropped; this clears nearly all lag-induced candidates.
//
// What survives is confirmed exactly (confirm): the rows are read on the
// source with shared locks, then the source position P. Every transaction
// that ever wrote those rows is in P, and none can write them while the locks
// are held. Once the checkpoint has passed P, the target's rows are read:
// replication owes them nothing, so any difference is drift, not lag, even
// under live writes. Repairs are written inside that same window, when no
// replicated change to those rows can race them.
type settler struct {
	settle   bool
	rounds   int
	timeout  time.Duration // per wait for the checkpoint
	lockWait time.Duration // longest the source rows stay locked per attempt
	maxLag   time.Duration // repair throttle; 0: none

	waitFor    func(ctx context.Context, pos gtid.Set, timeout time.Duration) (bool, error)
	sourcePos  func(ctx context.Context) (gtid.Set, error)
	readSource func(ctx context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error)
	readTarget func(ctx context.Context, keys []rowKey) (map[string]rowImage, error)
	lockSource func(ctx context.Context, keys []rowKey) (map[string]rowImage, gtid.Set, error)
	release    func(ctx context.Context)
	columns    []string // column names, for the columns that differ
}

func (s *settler) unsettledReason(pos gtid.Set, timeout time.Duration) string {
	return fmt.Sprintf("target applier checkpoint did not pass source position %s within %s", pos, timeout)
}

// diffRow compares one row's two images.
func (s *settler) diffRow(k rowKey, src, tgt rowImage) (confirmed, bool) {
	switch {
	case src == nil && tgt == nil:
		return confirmed{}, false
	case tgt == nil:
		return confirmed{key: k, kind: KindMissing, src: src}, true
	case src == nil:
		return confirmed{key: k, kind: KindExtra}, true
	}
	var cols []string
	for i := range src {
		// nil is NULL; an empty non-nil slice is ''.
		if (src[i] == nil) != (tgt[i] == nil) || !bytes.Equal(src[i], tgt[i]) {
			cols = append(cols, s.columns[i])
		}
	}
	if len(cols) == 0 {
		return confirmed{}, false
	}
	return confirmed{key: k, kind: KindChanged, columns: cols, src: src}, true
}

// filter runs the cheap rounds and returns the keys still differing.
func (s *settler) filter(ctx context.Context, keys []rowKey, pos gtid.Set) ([]rowKey, []unsettledKey, error) {
	pending := keys
	for round := 0; s.settle && round < s.rounds && len(pending) > 0; round++ {
		ok, err := s.waitFor(ctx, pos, s.timeout)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, unsettleAll(pending, s.unsettledReason(pos, s.timeout)), nil
		}
		tgt, err := s.readTarget(ctx, pending)
		if err != nil {
			return nil, nil, err
		}
		src, p2, err := s.readSource(ctx, pending)
		if err != nil {
			return nil, nil, err
		}
		var next []rowKey
		for _, k := range pending {
			if _, differ := s.diffRow(k, src[k.id()], tgt[k.id()]); differ {
				next = append(next, k)
			}
		}
		progress := len(next) < len(pending)
		pending, pos = next, p2
		if !progress {
			// Another round would wait as long and most likely decide
			// nothing more: what is left is drift or rows written all the
			// time, and only the locking confirmation tells them apart.
			break
		}
	}
	return pending, nil, nil
}

func unsettleAll(keys []rowKey, reason string) []unsettledKey {
	out := make([]unsettledKey, len(keys))
	for i, k := range keys {
		out[i] = unsettledKey{key: k, reason: reason}
	}
	return out
}

// confirm decides keys exactly (see settler), batch by batch. apply, when
// set, writes repairs while the batch's source rows are locked.
func (s *settler) confirm(ctx context.Context, keys []rowKey, batch int, apply func(context.Context, []confirmed) error) ([]confirmed, []unsettledKey, error) {
	var diffs []confirmed
	var uns []unsettledKey
	for len(keys) > 0 {
		n := min(batch, len(keys))
		d, u, err := s.confirmBatch(ctx, keys[:n], apply)
		if err != nil {
			return nil, nil, err
		}
		diffs = append(diffs, d...)
		uns = append(uns, u...)
		keys = keys[n:]
	}
	return diffs, uns, nil
}

func (s *settler) confirmBatch(ctx context.Context, keys []rowKey, apply func(context.Context, []confirmed) error) ([]confirmed, []unsettledKey, error) {
	deadline := time.Now().Add(s.timeout)
	backoff := 50 * time.Millisecond
	retry := func() error {
		err := sleepCtx(ctx, min(backoff, max(time.Until(deadline), 0)))
		backoff = min(backoff*2, 2*time.Second)
		return err
	}
	var lastPos gtid.Set
	for {
		if s.settle {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, unsettleAll(keys, s.unsettledReason(lastPos, s.timeout)), nil
			}
			// Let the target catch up before taking any lock, so that locks
			// are held for the short remainder only. The time it takes is the
			// replication lag, which also throttles repairs.
			p, err := s.sourcePos(ctx)
			if err != nil {
				return nil, nil, err
			}
			lastPos = p
			began := time.Now()
			ok, err := s.waitFor(ctx, p, left)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				return nil, unsettleAll(keys, s.unsettledReason(p, s.timeout)), nil
			}
			if apply != nil && s.maxLag > 0 && time.Since(began) > s.maxLag {
				if time.Until(deadline) <= 0 {
					return nil, unsettleAll(keys, fmt.Sprintf("repair deferred: replication lag stayed above %s", s.maxLag)), nil
				}
				if err := retry(); err != nil {
					return nil, nil, err
				}
				continue
			}
		}

		src, pos, err := s.lockSource(ctx, keys)
		if err != nil {
			if mysqlerr.LockConflict(err) && time.Until(deadline) > 0 {
				if err := retry(); err != nil {
					return nil, nil, err
				}
				continue
			}
			return nil, nil, err
		}
		lastPos = pos
		if s.settle {
			ok, err := s.waitFor(ctx, pos, max(min(s.lockWait, time.Until(deadline)), 0))
			if err != nil {
				s.release(ctx)
				return nil, nil, err
			}
			if !ok {
				// Do not keep writers waiting on the source: let go, and try
				// again while time remains.
				s.release(ctx)
				if time.Until(deadline) > 0 {
					if err := retry(); err != nil {
						return nil, nil, err
					}
					continue
				}
				return nil, unsettleAll(keys, s.unsettledReason(pos, s.timeout)), nil
			}
		}
		tgt, err := s.readTarget(ctx, keys)
		if err != nil {
			s.release(ctx)
			return nil, nil, err
		}
		var diffs []confirmed
		for _, k := range keys {
			if d, differ := s.diffRow(k, src[k.id()], tgt[k.id()]); differ {
				diffs = append(diffs, d)
			}
		}
		if apply != nil && len(diffs) > 0 {
			if err := apply(ctx, diffs); err != nil {
				s.release(ctx)
				return nil, nil, err
			}
		}
		s.release(ctx)
		return diffs, nil, nil
	}
}
