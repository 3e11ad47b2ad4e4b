package reconcile

import (
	"context"
	"errors"
	"testing"
)

func TestBothReturnsTheFirstFailure(t *testing.T) {
	boom := errors.New("boom")
	failing := func(context.Context) error { return boom }
	// waits for the cancellation the other's failure causes, and returns
	// what a cancelled statement returns.
	waiting := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, tc := range []struct {
		name string
		f, g func(context.Context) error
		want error
	}{
		{"f fails", failing, waiting, boom},
		{"g fails", waiting, failing, boom},
		{"both succeed", func(context.Context) error { return nil }, func(context.Context) error { return nil }, nil},
	} {
		if got := both(context.Background(), tc.f, tc.g); !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("%s: both = %v, want %v", tc.name, got, tc.want)
		}
	}
}
