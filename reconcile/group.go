package reconcile

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// both runs f and g concurrently (one per side, typically) and returns when
// both have returned. The first to fail cancels the other; its error is
// returned, not the other's resulting cancellation.
func both(ctx context.Context, f, g func(context.Context) error) error {
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return f(ctx) })
	eg.Go(func() error { return g(ctx) })
	return eg.Wait()
}

// forEach calls f for every item on at most n goroutines and returns when
// all calls have returned. f handles its own errors (a table's failure is
// part of the report); forEach stops handing out items once ctx is done.
func forEach[T any](ctx context.Context, n int, items []T, f func(context.Context, T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				f(ctx, it)
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}
