package drcmeta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// version1Tables are the tables drc created before drc_meta had versions.
var version1Tables = []string{"apply_checkpoint", "conflicts", "heartbeat", "skipped",
	"bootstrap_state", "bootstrap_chunks", "reconcile_runs", "reconcile_chunks"}

func TestMigrations(t *testing.T) {
	if len(migrations) == 0 || migrations[len(migrations)-1].to != Current {
		t.Fatalf("the last migration is not to Current (%d): %+v", Current, migrations)
	}
	for i, m := range migrations {
		if want := legacyVersion + 1 + i; m.to != want {
			t.Errorf("migrations[%d] is to version %d, want %d: one step per version, in order", i, m.to, want)
		}
	}
	// Every table is in version 1 or added by exactly one migration, so a
	// new table cannot be forgotten on servers already at Current.
	addedBy := map[string]int{}
	for _, m := range migrations {
		for _, name := range m.adds {
			if _, ok := addedBy[name]; ok || slices.Contains(version1Tables, name) {
				t.Errorf("table %s is added twice (again by version %d)", name, m.to)
			}
			addedBy[name] = m.to
		}
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.name)
		if _, ok := addedBy[tb.name]; !ok && !slices.Contains(version1Tables, tb.name) {
			t.Errorf("table %s is neither in version 1 nor added by a migration", tb.name)
		}
	}
	for name, v := range addedBy {
		if !slices.Contains(names, name) {
			t.Errorf("version %d adds %s, which tables does not define", v, name)
		}
	}
}

func TestTables(t *testing.T) {
	head := regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS drc_meta\.(\w+) \(`)
	seen := map[string]bool{}
	for _, tb := range tables {
		m := head.FindStringSubmatch(tb.ddl)
		if m == nil || m[1] != tb.name {
			t.Errorf("%s: the DDL does not create drc_meta.%s:\n%s", tb.name, tb.name, tb.ddl)
		}
		if seen[tb.name] {
			t.Errorf("%s is defined twice", tb.name)
		}
		seen[tb.name] = true
		if !regexp.MustCompile(`\) ENGINE=InnoDB( DEFAULT CHARSET=utf8mb4)?$`).MatchString(tb.ddl) {
			t.Errorf("%s is not created ENGINE=InnoDB:\n%s", tb.name, tb.ddl)
		}
	}
	if !strings.Contains(conflictsDDL, conflictsDetail) {
		t.Errorf("conflicts is created without the detail column")
	}
}

func TestPending(t *testing.T) {
	tests := []struct {
		found   int
		want    []int // versions of the steps
		wantErr []string
		newer   bool
	}{
		{found: legacyVersion, want: []int{2, 3}},
		{found: 2, want: []int{3}},
		{found: Current},
		{found: Current + 1, newer: true, wantErr: []string{fmt.Sprint(Current + 1), fmt.Sprint(Current), "upgrade drc"}},
		{found: 0, wantErr: []string{"version 0"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.found), func(t *testing.T) {
			steps, err := pending(tt.found)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("pending(%d) = %v, want an error", tt.found, steps)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("pending(%d) error %q does not say %q", tt.found, err, w)
					}
				}
				if got := errors.Is(err, ErrNewerSchema); got != tt.newer {
					t.Errorf("errors.Is(%v, ErrNewerSchema) = %v, want %v", err, got, tt.newer)
				}
				return
			}
			if err != nil {
				t.Fatalf("pending(%d): %v", tt.found, err)
			}
			var got []int
			for _, m := range steps {
				got = append(got, m.to)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("pending(%d) = versions %v, want %v", tt.found, got, tt.want)
			}
		})
	}
}

// fakeServer answers the statements Ensure sends, from a model of
// drc_meta: the version row, each table's engine, and whether conflicts
// has its detail column. It records every statement.
type fakeServer struct {
	version  int               // 0: no schema_version row
	engines  map[string]string // table name -> engine
	detail   bool
	lockFree bool
	stmts    []string
}

func (f *fakeServer) Connect(context.Context) (driver.Conn, error) { return fakeConn{f}, nil }
func (f *fakeServer) Driver() driver.Driver                        { return nil }

type fakeConn struct{ f *fakeServer }

func (c fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("no prepare") }
func (c fakeConn) Close() error                        { return nil }
func (c fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("no transactions") }

var ddlName = regexp.MustCompile(`^(?:CREATE TABLE IF NOT EXISTS|ALTER TABLE) drc_meta\.(\w+)`)

func (c fakeConn) ExecContext(_ context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	f := c.f
	f.stmts = append(f.stmts, q)
	name := ""
	if m := ddlName.FindStringSubmatch(q); m != nil {
		name = m[1]
	}
	switch {
	case q == createDatabase:
	case strings.HasPrefix(q, "CREATE TABLE"):
		if _, ok := f.engines[name]; !ok {
			f.engines[name] = "InnoDB"
			f.detail = f.detail || name == "conflicts"
		}
	case strings.HasSuffix(q, "ENGINE=InnoDB"):
		f.engines[name] = "InnoDB"
	case strings.Contains(q, "ADD COLUMN detail"):
		f.detail = true
	case strings.HasPrefix(q, "INSERT INTO drc_meta.schema_version"):
		f.version = int(args[0].Value.(int64))
	default:
		return nil, fmt.Errorf("fake server: unexpected %q", q)
	}
	return driver.RowsAffected(1), nil
}

func (c fakeConn) QueryContext(_ context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	f := c.f
	f.stmts = append(f.stmts, q)
	one := func(v ...driver.Value) (driver.Rows, error) { return &fakeRows{vals: [][]driver.Value{v}}, nil }
	switch {
	case strings.HasPrefix(q, "SELECT version FROM drc_meta.schema_version"):
		if _, ok := f.engines["schema_version"]; !ok {
			return nil, &mysql.MySQLError{Number: 1146, Message: "Table 'drc_meta.schema_version' doesn't exist"}
		}
		if f.version == 0 {
			return &fakeRows{}, nil
		}
		return one(int64(f.version))
	case strings.HasPrefix(q, "SELECT GET_LOCK"):
		if !f.lockFree {
			return one(int64(0))
		}
		return one(int64(1))
	case strings.HasPrefix(q, "SELECT RELEASE_LOCK"):
		return one(int64(1))
	case strings.HasPrefix(q, "SELECT ENGINE FROM information_schema.TABLES"):
		if e, ok := f.engines[args[0].Value.(string)]; ok {
			return one(e)
		}
		return &fakeRows{}, nil
	case strings.HasPrefix(q, "SELECT COUNT(*), COALESCE(SUM(COLUMN_NAME = ?), 0) FROM information_schema.COLUMNS"):
		if _, ok := f.engines[args[1].Value.(string)]; !ok {
			return one(int64(0), int64(0))
		}
		found := int64(0)
		if f.detail {
			found = 1
		}
		return one(int64(12), found)
	}
	return nil, fmt.Errorf("fake server: unexpected %q", q)
}

type fakeRows struct {
	vals [][]driver.Value
}

func (r *fakeRows) Columns() []string {
	if len(r.vals) == 0 {
		return []string{"a"}
	}
	return make([]string, len(r.vals[0]))
}
func (r *fakeRows) Close() error { return nil }
func (r *fakeRows) Next(dst []driver.Value) error {
	if len(r.vals) == 0 {
		return io.EOF
	}
	copy(dst, r.vals[0])
	r.vals = r.vals[1:]
	return nil
}

// changes are the statements that change the server.
func (f *fakeServer) changes() []string {
	var out []string
	for _, s := range f.stmts {
		if !strings.HasPrefix(s, "SELECT") {
			out = append(out, s)
		}
	}
	return out
}

func TestEnsure(t *testing.T) {
	allInnoDB := func(f *fakeServer) error {
		for _, tb := range tables {
			if e := f.engines[tb.name]; e != "InnoDB" {
				return fmt.Errorf("%s is %q after Ensure", tb.name, e)
			}
		}
		return nil
	}
	version1 := func() map[string]string {
		e := map[string]string{}
		for _, name := range version1Tables {
			e[name] = "InnoDB"
		}
		e["apply_checkpoint"] = "MyISAM"
		return e
	}
	tests := []struct {
		name string
		f    *fakeServer
		// wantChanges are substrings of the changing statements, in order;
		// nil: none at all.
		wantChanges []string
		wantErr     string
	}{
		{
			name: "empty server",
			f:    &fakeServer{engines: map[string]string{}, lockFree: true},
			wantChanges: []string{createDatabase, "drc_meta.schema_version (", "drc_meta.apply_checkpoint (", "drc_meta.conflicts (",
				"drc_meta.heartbeat (", "drc_meta.skipped (", "drc_meta.bootstrap_state (", "drc_meta.bootstrap_chunks (",
				"drc_meta.reconcile_runs (", "drc_meta.reconcile_chunks (", "drc_meta.dr_operations (", "drc_meta.quarantine (", "INSERT INTO drc_meta.schema_version"},
		},
		{
			name: "version 1",
			f:    &fakeServer{engines: version1(), lockFree: true},
			wantChanges: []string{createDatabase, "ALTER TABLE drc_meta.apply_checkpoint ENGINE=InnoDB",
				"ALTER TABLE drc_meta.conflicts ADD COLUMN detail JSON NULL", "drc_meta.schema_version (",
				"drc_meta.dr_operations (", "drc_meta.quarantine (", "INSERT INTO drc_meta.schema_version"},
		},
		{
			name: "current",
			f:    &fakeServer{engines: map[string]string{"schema_version": "InnoDB"}, version: Current},
		},
		{
			name:    "newer",
			f:       &fakeServer{engines: map[string]string{"schema_version": "InnoDB"}, version: Current + 1, lockFree: true},
			wantErr: fmt.Sprintf("at schema version %d, and this drc knows versions up to %d; upgrade drc", Current+1, Current),
		},
		{
			name:    "lock held",
			f:       &fakeServer{engines: version1()},
			wantErr: "another drc has held it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := sql.OpenDB(tt.f)
			defer db.Close()
			err := Ensure(context.Background(), db)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Ensure = %v, want an error saying %q", err, tt.wantErr)
				}
				if tt.name == "newer" && !errors.Is(err, ErrNewerSchema) {
					t.Errorf("Ensure = %v, want ErrNewerSchema", err)
				}
				if c := tt.f.changes(); len(c) > 0 {
					t.Errorf("Ensure changed a server it refused: %q", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			got := tt.f.changes()
			i := 0
			for _, s := range got {
				if i < len(tt.wantChanges) && strings.Contains(s, tt.wantChanges[i]) {
					i++
				}
			}
			if i < len(tt.wantChanges) {
				t.Errorf("Ensure ran %d statements, without %q in order:\n%s", len(got), tt.wantChanges[i], strings.Join(got, "\n"))
			}
			if tt.wantChanges == nil && len(got) > 0 {
				t.Errorf("Ensure changed a server at Current:\n%s", strings.Join(got, "\n"))
			}
			if tt.f.version != Current || !tt.f.detail && tt.wantChanges != nil {
				t.Errorf("after Ensure: version %d, conflicts.detail %v", tt.f.version, tt.f.detail)
			}
			if tt.wantChanges != nil {
				if err := allInnoDB(tt.f); err != nil {
					t.Error(err)
				}
			}
			// Idempotent: a second call reads the version and stops.
			tt.f.stmts = nil
			if err := Ensure(context.Background(), db); err != nil {
				t.Fatalf("Ensure again: %v", err)
			}
			if c := tt.f.changes(); len(c) > 0 {
				t.Errorf("Ensure again changed the server: %q", c)
			}
		})
	}
}
