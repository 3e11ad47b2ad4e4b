package bootstrap

import (
	"context"
	"fmt"
	"strings"
)

// fakeExecutor is an executor built from function fields; it records every
// statement with its arguments.
type fakeExecutor struct {
	exec  func(query string) error
	query func(query string, args []any) ([][]*string, error)
	log   []string
}

func (f *fakeExecutor) Exec(_ context.Context, query string, args ...any) error {
	f.log = append(f.log, render(query, args))
	if f.exec == nil {
		return nil
	}
	return f.exec(query)
}

func (f *fakeExecutor) Query(_ context.Context, query string, args ...any) ([][]*string, error) {
	f.log = append(f.log, render(query, args))
	if f.query == nil {
		return nil, nil
	}
	return f.query(query, args)
}

func render(q string, args []any) string {
	if len(args) == 0 {
		return q
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprint(a)
	}
	return q + " [" + strings.Join(parts, ", ") + "]"
}

func row(vals ...string) []*string {
	r := make([]*string, len(vals))
	for i := range vals {
		r[i] = &vals[i]
	}
	return r
}
