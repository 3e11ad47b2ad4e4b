package drcmeta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// rowDriver answers every query with one row of 1, no row, or an error.
type rowDriver struct{ err error }

func (d rowDriver) Open(string) (driver.Conn, error) { return conn{d.err}, nil }

type conn struct{ err error }

func (c conn) Prepare(string) (driver.Stmt, error) { return stmt(c), nil }
func (c conn) Close() error                        { return nil }
func (c conn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

type stmt struct{ err error }

func (s stmt) Close() error  { return nil }
func (s stmt) NumInput() int { return -1 }
func (s stmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("no exec")
}
func (s stmt) Query([]driver.Value) (driver.Rows, error) {
	if s.err != nil && s.err != io.EOF {
		return nil, s.err
	}
	return &rows{empty: s.err == io.EOF}, nil
}

type rows struct {
	empty, done bool
}

func (r *rows) Columns() []string { return []string{"1"} }
func (r *rows) Close() error      { return nil }
func (r *rows) Next(dst []driver.Value) error {
	if r.empty || r.done {
		return io.EOF
	}
	r.done = true
	dst[0] = int64(1)
	return nil
}

func TestRunsReplicator(t *testing.T) {
	tests := []struct {
		name    string
		err     error // io.EOF: no row
		want    bool
		wantErr string
	}{
		{"row", nil, true, ""},
		{"no row", io.EOF, false, ""},
		{"no table", &mysql.MySQLError{Number: 1146, Message: "Table 'drc_meta.heartbeat' doesn't exist"}, false, ""},
		{"no database", &mysql.MySQLError{Number: 1049, Message: "Unknown database 'drc_meta'"}, false, ""},
		{"denied", &mysql.MySQLError{Number: 1142, Message: "SELECT command denied"}, false, "read drc_meta.heartbeat of region b"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "drcmeta-test-" + string(rune('a'+i))
			sql.Register(name, rowDriver{tt.err})
			db, err := sql.Open(name, "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got, err := RunsReplicator(context.Background(), db, "b")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RunsReplicator = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("RunsReplicator = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
