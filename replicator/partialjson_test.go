package replicator

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/replicator/event"
)

func TestPartialJSON(t *testing.T) {
	tbl := &event.Table{DB: "d", Name: "t", Columns: []event.Column{{Name: "id", Kind: event.KindInt}, {Name: "doc", Kind: event.KindJSON}}}
	whole := &replication.RowsEvent{Rows: [][]any{{int32(1), []byte(`{"a":1}`)}, {int32(1), []byte(`{"a":2}`)}}}
	if err := partialJSON(whole, tbl); err != nil {
		t.Errorf("whole after image: %v", err)
	}
	// A diff that changes nothing arrives empty: not published as null.
	noop := &replication.RowsEvent{Rows: [][]any{{int32(1), `{"a":1}`}, {int32(1), []byte{}}}}
	if err := partialJSON(noop, tbl); !errors.Is(err, ErrPartialJSON) {
		t.Errorf("no-op diff: %v, want ErrPartialJSON", err)
	}
	// A diff in a before image is not possible; only after images count.
	partial := &replication.RowsEvent{Rows: [][]any{
		{int32(1), []byte(`{"a":1}`)}, {int32(1), []byte(`{"a":2}`)},
		{int32(2), []byte(`{"a":1}`)}, {int32(2), &replication.JsonDiff{Op: replication.JsonDiffOperationReplace, Path: "$.a", Value: "2"}},
	}}
	err := partialJSON(partial, tbl)
	if !errors.Is(err, ErrPartialJSON) || !strings.Contains(err.Error(), "column doc of d.t") {
		t.Errorf("partial after image: %v, want ErrPartialJSON naming column doc of d.t", err)
	}
}
