package applier

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/drc-dev/drc/internal/infoschema"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/drc-dev/drc/replicator/event"
)

// targetTable is what the applier learns about a table from the target's
// information_schema, because the records cannot say it: which columns are
// generated (left out of INSERT and SET) and which unique keys exist
// (part of a transaction's write-set).
type targetTable struct {
	generated map[string]bool
	json      []string   // columns of MySQL's JSON type
	uniques   [][]string // unique keys, PRIMARY included, column names in key order
	// fkeys: the foreign keys this table's rows take part in, as a child
	// (its referencing columns) or as a parent (the referenced columns).
	fkeys []fkey
}

// fkey is one side of a foreign key: ns names the parent key (parent table
// and referenced columns), cols are this table's columns holding its value.
// A child row and the parent row it references hash to the same write-set
// key, so the transactions writing them run in source order.
type fkey struct {
	ns   string
	cols []string
}

// plan is how rows of one record Table (one schema version of a source
// table) are applied to the target. Columns are indexes into tbl.Columns.
type plan struct {
	tbl     *event.Table
	bound   []event.Column // tbl's columns, each BoundTo its target column
	q       string         // `db`.`table`
	cols    []int          // non-generated columns: INSERT columns, UPDATE SET candidates
	colRefs []*event.Column
	// where: key columns first, then every other non-generated column; an
	// UPDATE or DELETE must match the whole before image.
	where    []int
	whereRef []*event.Column
	nKey     int // len(tbl.PKIndex)
	keyRef   []*event.Column
	// uniques: the target's unique keys (other than the record's primary
	// key) whose columns all exist in tbl.
	uniques   [][]int
	uniqueRef [][]*event.Column
	// fkeys: the foreign-key values of a row (see fkey), for the write-set.
	fkeys []fkeyIdx
	// ids: the columns that must hold drc IDs of the row's origin region
	// (TablePolicy.IDColumns); nil when none.
	ids []int
}

type fkeyIdx struct {
	ns  string
	idx []int
}

// schemaCache holds targetTables and plans. It is safe for concurrent use;
// invalidate drops everything after a DDL.
type schemaCache struct {
	db *sql.DB
	// stopOnTriggers: planning a table with triggers fails (ErrTriggers).
	// The target's triggers are read on first use and again every
	// triggerRecheck, so a trigger created on the target later is found.
	stopOnTriggers bool
	trigMu         sync.Mutex // one trigger read at a time
	triggers       map[[2]string][]string
	triggersAt     time.Time

	// idColumns names the columns of a table that the ID guard checks; nil
	// when no table has any.
	idColumns func(db, table string) []string

	mu      sync.Mutex
	version uint64
	tables  map[[2]string]*targetTable
	plans   map[*event.Table]*plan
}

func newSchemaCache(db *sql.DB, stopOnTriggers bool) *schemaCache {
	return &schemaCache{db: db, stopOnTriggers: stopOnTriggers, tables: map[[2]string]*targetTable{}, plans: map[*event.Table]*plan{}}
}

func (s *schemaCache) invalidate() {
	s.mu.Lock()
	s.version++
	clear(s.tables)
	clear(s.plans)
	s.triggersAt = time.Time{}
	s.mu.Unlock()
}

// Version changes on every invalidate; workers drop prepared statements
// when it does.
func (s *schemaCache) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// plan returns the plan of t, reading the target's schema on first use.
// The trigger check is made when a plan is built; a change in the
// target's triggers drops every plan, so each is checked again.
func (s *schemaCache) plan(ctx context.Context, t *event.Table) (*plan, error) {
	s.mu.Lock()
	if s.stopOnTriggers && time.Since(s.triggersAt) > triggerRecheck {
		s.mu.Unlock()
		if err := s.refreshTriggers(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if p, ok := s.plans[t]; ok {
		return p, nil
	}
	if len(s.plans) > 4096 {
		clear(s.plans)
	}
	if trg := s.triggers[[2]string{t.DB, t.Name}]; s.stopOnTriggers && len(trg) > 0 {
		return nil, permanent(fmt.Errorf("%w: %s has %s on the target; replicated rows already carry the source triggers' effects, so firing them again would duplicate those effects. "+
			"Drop them on this region (and recreate them when it is promoted), or set applier.triggers: fire if they must run for replicated rows",
			ErrTriggers, qualify(t.DB, t.Name), strings.Join(trg, ", ")))
	}
	tt, err := s.table(ctx, t.DB, t.Name)
	if err != nil {
		return nil, err
	}
	p := newPlan(t, tt)
	if s.idColumns != nil {
		for _, name := range s.idColumns(t.DB, t.Name) {
			// Column names are case-insensitive in MySQL.
			i := slices.IndexFunc(t.Columns, func(c event.Column) bool { return strings.EqualFold(c.Name, name) })
			if i < 0 {
				return nil, permanent(fmt.Errorf("applier.tables id_columns: %s has no column %q; name only the tables that have it", qualify(t.DB, t.Name), name))
			}
			p.ids = append(p.ids, i)
		}
	}
	s.plans[t] = p
	return p, nil
}

func (s *schemaCache) table(ctx context.Context, db, name string) (*targetTable, error) {
	key := [2]string{db, name}
	if tt, ok := s.tables[key]; ok {
		return tt, nil
	}
	tt := &targetTable{generated: map[string]bool{}}
	var tableType string
	err := s.db.QueryRowContext(ctx, `SELECT TABLE_TYPE FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, db, name).Scan(&tableType)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the type of %s: %w", qualify(db, name), err)
	}
	if tableType == "SYSTEM VERSIONED" {
		// Its row_start/row_end are in the binlog's rows, and the target
		// writes history rows of its own: drc cannot apply it exactly.
		return nil, permanent(fmt.Errorf("%w: %s is system-versioned (WITH SYSTEM VERSIONING); drc does not replicate system-versioned tables. "+
			"Exclude it from replication (replicator.exclude); its history stays on the source",
			ErrUnsupportedTable, qualify(db, name)))
	}
	cols, err := infoschema.Columns(ctx, s.db, db, name)
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if c.Generated {
			// Column names are case-insensitive: keyed in lower case.
			tt.generated[strings.ToLower(c.Name)] = true
		}
		if c.DataType == "json" {
			tt.json = append(tt.json, c.Name)
		}
	}
	// The primary key comes first, then the others by name. Only the
	// target's unique keys that differ from the record's primary key are
	// kept in a plan (newPlan), numbered in this order for the write-set;
	// the numbers never leave the process.
	keys, err := infoschema.UniqueKeys(ctx, s.db, db, name)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		tt.uniques = append(tt.uniques, k.Columns)
	}
	if tt.fkeys, err = s.foreignKeys(ctx, db, name); err != nil {
		return nil, err
	}
	s.tables[key] = tt
	return tt, nil
}

// triggerRecheck is how often the target's triggers are read again.
const triggerRecheck = 5 * time.Second

// refreshTriggers reads the target's triggers when they are older than
// triggerRecheck, outside the cache's lock. The first read is waited for;
// later ones run in one goroutine while the others go on with the
// previous answer.
func (s *schemaCache) refreshTriggers(ctx context.Context) error {
	s.mu.Lock()
	never := s.triggers == nil
	s.mu.Unlock()
	if never {
		s.trigMu.Lock()
	} else if !s.trigMu.TryLock() {
		return nil
	}
	defer s.trigMu.Unlock()
	s.mu.Lock()
	fresh := time.Since(s.triggersAt) <= triggerRecheck
	s.mu.Unlock()
	if fresh {
		return nil // another goroutine read them meanwhile
	}
	m, err := s.readTriggers(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if !maps.EqualFunc(s.triggers, m, slices.Equal) {
		// A plan was checked against the old triggers: build them again
		// (and let workers drop the statements prepared for the old ones).
		clear(s.plans)
		s.version++
	}
	s.triggers, s.triggersAt = m, time.Now()
	s.mu.Unlock()
	return nil
}

// readTriggers reads every trigger of the target, by table.
func (s *schemaCache) readTriggers(ctx context.Context) (map[[2]string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME
		FROM information_schema.TRIGGERS ORDER BY EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, TRIGGER_NAME`)
	if err != nil {
		return nil, fmt.Errorf("read the target's triggers: %w", err)
	}
	defer rows.Close()
	m := map[[2]string][]string{}
	for rows.Next() {
		var db, tbl, n string
		if err := rows.Scan(&db, &tbl, &n); err != nil {
			return nil, err
		}
		k := [2]string{db, tbl}
		m[k] = append(m[k], "trigger "+mysqlconn.QuoteIdent(n))
	}
	return m, rows.Err()
}

// foreignKeys reads the foreign keys that name table db.name as child or
// as parent.
func (s *schemaCache) foreignKeys(ctx context.Context, db, name string) ([]fkey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME,
			REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
		FROM information_schema.KEY_COLUMN_USAGE
		WHERE REFERENCED_TABLE_NAME IS NOT NULL
		  AND ((TABLE_SCHEMA = ? AND TABLE_NAME = ?) OR (REFERENCED_TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME = ?))
		ORDER BY CONSTRAINT_SCHEMA, TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`, db, name, db, name)
	if err != nil {
		return nil, fmt.Errorf("read foreign keys of %s: %w", qualify(db, name), err)
	}
	defer rows.Close()
	type side struct {
		child, parent      [2]string
		childCols, refCols []string
	}
	var fks []*side
	last := ""
	for rows.Next() {
		var cs, cn, ts, tn, col, rs, rn, rcol string
		if err := rows.Scan(&cs, &cn, &ts, &tn, &col, &rs, &rn, &rcol); err != nil {
			return nil, err
		}
		if id := cs + "\x00" + ts + "\x00" + tn + "\x00" + cn; id != last || len(fks) == 0 {
			fks = append(fks, &side{child: [2]string{ts, tn}, parent: [2]string{rs, rn}})
			last = id
		}
		f := fks[len(fks)-1]
		f.childCols = append(f.childCols, col)
		f.refCols = append(f.refCols, rcol)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []fkey
	for _, f := range fks {
		ns := qualify(f.parent[0], f.parent[1]) + "(" + strings.Join(f.refCols, ",") + ")"
		if f.child == [2]string{db, name} {
			out = append(out, fkey{ns: ns, cols: f.childCols})
		}
		if f.parent == [2]string{db, name} {
			out = append(out, fkey{ns: ns, cols: f.refCols})
		}
	}
	return out, nil
}

func newPlan(t *event.Table, tt *targetTable) *plan {
	p := &plan{tbl: t, q: qualify(t.DB, t.Name), nKey: len(t.PKIndex)}
	// The statements bind each value as the target's column takes it.
	p.bound = make([]event.Column, len(t.Columns))
	for i := range t.Columns {
		p.bound[i] = t.Columns[i].BoundTo(slices.ContainsFunc(tt.json, func(n string) bool { return strings.EqualFold(n, t.Columns[i].Name) }))
	}
	isKey := make([]bool, len(t.Columns))
	for _, i := range t.PKIndex {
		isKey[i] = true
		p.where = append(p.where, i)
		p.keyRef = append(p.keyRef, &p.bound[i])
	}
	for i := range t.Columns {
		c := &p.bound[i]
		if tt.generated[strings.ToLower(c.Name)] {
			continue
		}
		p.cols = append(p.cols, i)
		p.colRefs = append(p.colRefs, c)
		if !isKey[i] {
			p.where = append(p.where, i)
		}
	}
	for _, i := range p.where {
		p.whereRef = append(p.whereRef, &p.bound[i])
	}
uniques:
	for _, names := range tt.uniques {
		var idx []int
		for _, n := range names {
			i := t.ColumnIndex(n)
			if i < 0 {
				continue uniques
			}
			idx = append(idx, i)
		}
		if sameInts(idx, t.PKIndex) {
			continue
		}
		refs := make([]*event.Column, len(idx))
		for k, i := range idx {
			refs[k] = &p.bound[i]
		}
		p.uniques = append(p.uniques, idx)
		p.uniqueRef = append(p.uniqueRef, refs)
	}
fkeys:
	for _, fk := range tt.fkeys {
		var idx []int
		for _, n := range fk.cols {
			i := t.ColumnIndex(n)
			if i < 0 {
				continue fkeys
			}
			idx = append(idx, i)
		}
		p.fkeys = append(p.fkeys, fkeyIdx{ns: fk.ns, idx: idx})
	}
	return p
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
