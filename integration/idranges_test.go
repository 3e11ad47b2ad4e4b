package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drc-dev/drc/idgen"
	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/reconcile"
)

// TestReconcileIDRanges runs `drc reconcile --id-ranges` against region a
// (the source) and region b (the target), which do not replicate: the
// IDs in the tables are composed here, so every foreign ID and every value
// that is not a drc ID is one the test put there. No Kafka: --id-ranges
// only reads the databases. Each scenario has its own database and selects
// it with --tables.
func TestReconcileIDRanges(t *testing.T) {
	a := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	b := harness.StartMariaDB(t, harness.ServerOptions{ServerID: 2, GTIDDomainID: 2})
	p := &idRangesPair{a: a, b: b, cfg: idRangesYAML(t, a, b), now: time.Now().UTC().Truncate(time.Millisecond)}
	drcBinary(t) // build before running anything

	// Order matters: TwoWay and StoredLayout write b's drc_meta, which
	// every later run reads.
	t.Run("ForeignAndNotDRC", p.testForeignAndNotDRC)
	t.Run("Clean", p.testClean)
	t.Run("MissingColumn", p.testMissingColumn)
	t.Run("TwoWay", p.testTwoWay)
	t.Run("StoredLayout", p.testStoredLayout)
}

type idRangesPair struct {
	a, b *harness.Server
	cfg  string
	now  time.Time // IDs are composed around it
}

// idRangesYAML configures source a and target b, with regions a=1 and b=2
// and one applier.tables entry per scenario. The broker is never
// contacted.
func idRangesYAML(t *testing.T, a, b *harness.Server) string {
	t.Helper()
	y := fmt.Sprintf(`cluster: idranges
source: {region: a, flavor: mariadb, host: %s, port: %d, user: %s, password: %s}
target: {region: b, flavor: mariadb, host: %s, port: %d, user: %s, password: %s}
kafka: {brokers: ["127.0.0.1:9"]}
log: {level: info, format: text}
idgen: {regions: {a: 1, b: 2}}
applier:
  tables:
    - {table: "idr_dirty.*", id_columns: [id, ref]}
    - {table: idr_clean.t, id_columns: [id]}
    - {table: idr_nocol.t, id_columns: [id, owner_id]}
    - {table: idr_twoway.t, id_columns: [id]}
    - {table: idr_layout.t, id_columns: [id]}
`, a.Host, a.Port, a.User, a.Password, b.Host, b.Port, b.User, b.Password)
	f := filepath.Join(t.TempDir(), "drc.yaml")
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// composeDRCID is the ID sonyflake composes under l for a node of region
// issuing at time at: time | sequence | region | node.
func composeDRCID(l idgen.Layout, at time.Time, seq, region, node int) int64 {
	elapsed := at.UnixNano()/int64(l.TimeUnit) - l.StartTime.UnixNano()/int64(l.TimeUnit)
	return elapsed<<(l.SequenceBits+l.MachineBits()) | int64(seq)<<l.MachineBits() | int64(l.MachineID(region, node))
}

// idRows inserts rows (id, ref) into db.t of m; ref "" is NULL.
func idRows(t *testing.T, m *harness.Server, db string, rows [][2]string) {
	t.Helper()
	var vals []string
	for _, r := range rows {
		ref := r[1]
		if ref == "" {
			ref = "NULL"
		}
		vals = append(vals, "("+r[0]+", "+ref+")")
	}
	m.Exec(t, "INSERT INTO "+db+".t (id, ref) VALUES "+strings.Join(vals, ", "))
}

// issued is n IDs of region/node, one per second from first, each row's
// ref the same ID when withRef.
func issued(l idgen.Layout, first time.Time, n, region, node int, withRef bool) (rows [][2]string, last time.Time) {
	for i := 0; i < n; i++ {
		last = first.Add(time.Duration(i) * time.Second)
		id := fmt.Sprint(composeDRCID(l, last, i%(1<<l.SequenceBits), region, node))
		ref := ""
		if withRef {
			ref = id
		}
		rows = append(rows, [2]string{id, ref})
	}
	return rows, last
}

// runIDRanges runs drc reconcile --id-ranges --output json on tables and
// returns its exit code and report (nil when stdout is not a report).
func (p *idRangesPair) runIDRanges(t *testing.T, tables string) (int, *reconcile.IDRangesReport, string) {
	t.Helper()
	code, out, errOut := runDRC(t, "reconcile", "--config", p.cfg, "--id-ranges", "--tables", tables, "--output", "json")
	t.Logf("drc reconcile --id-ranges --tables %s: exit %d\n%s%s", tables, code, out, errOut)
	var rep reconcile.IDRangesReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		return code, nil, errOut
	}
	return code, &rep, errOut
}

// idGroupLines renders the report's groups, one line each, sorted:
// "side table.column status region/node count first..last min..max".
func idGroupLines(rep *reconcile.IDRangesReport) []string {
	var out []string
	for _, s := range rep.Sides {
		for _, c := range s.Columns {
			if c.Error != "" {
				out = append(out, fmt.Sprintf("%s %s.%s error", s.Side, c.Table, c.Column))
			}
			if len(c.Groups) == 0 && c.Error == "" {
				out = append(out, fmt.Sprintf("%s %s.%s empty", s.Side, c.Table, c.Column))
			}
			for _, g := range c.Groups {
				where, when := "-", "-"
				if g.Region != nil {
					where = fmt.Sprintf("%d(%s)/%d", *g.Region, g.RegionName, *g.Node)
					when = g.FirstTime.UTC().Format(time.RFC3339Nano) + ".." + g.LastTime.UTC().Format(time.RFC3339Nano)
				}
				out = append(out, fmt.Sprintf("%s %s.%s %s %s %d %s %s..%s", s.Side, c.Table, c.Column, g.Status, where, g.Count, when, g.MinID, g.MaxID))
			}
		}
	}
	slices.Sort(out)
	return out
}

func checkIDGroups(t *testing.T, rep *reconcile.IDRangesReport, want []string) {
	t.Helper()
	slices.Sort(want)
	if got := idGroupLines(rep); !slices.Equal(got, want) {
		t.Errorf("groups:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func groupLine(side, col string, status reconcile.IDStatus, region int, name string, node, count int, first, last time.Time, min, max string) string {
	return fmt.Sprintf("%s %s %s %d(%s)/%d %d %s..%s %s..%s", side, col, status, region, name, node, count,
		first.UTC().Format(time.RFC3339Nano), last.UTC().Format(time.RFC3339Nano), min, max)
}

func (p *idRangesPair) testForeignAndNotDRC(t *testing.T) {
	l := idgen.DefaultLayout()
	const ddl = "CREATE TABLE idr_dirty.t (id BIGINT NOT NULL PRIMARY KEY, ref BIGINT UNSIGNED NULL)"
	p.a.Exec(t, "CREATE DATABASE idr_dirty", ddl)
	p.b.Exec(t, "CREATE DATABASE idr_dirty", ddl)

	// On a: region a's own IDs (node 3), with ref; region b's IDs (node
	// 5); an ID of region 7, which no region has; values idgen never
	// issues: negative, zero, small, just below the first time unit, and
	// three hours in the future; in ref, BIGINT UNSIGNED values above
	// 2^63-1.
	t0 := p.now.Add(-2 * time.Hour)
	own, ownLast := issued(l, t0, 50, 1, 3, true)
	idRows(t, p.a, "idr_dirty", own)
	tb := t0.Add(10 * time.Minute)
	fromB, fromBLast := issued(l, tb, 3, 2, 5, false)
	idRows(t, p.a, "idr_dirty", fromB)
	t7 := t0.Add(20 * time.Minute)
	id7 := fmt.Sprint(composeDRCID(l, t7, 0, 7, 0))
	future := fmt.Sprint(composeDRCID(l, p.now.Add(3*time.Hour), 0, 1, 3))
	noTime := fmt.Sprint(int64(1)<<(l.SequenceBits+l.MachineBits()) - 1)
	idRows(t, p.a, "idr_dirty", [][2]string{
		{id7, ""}, {"-7", ""}, {"0", "9223372036854775808"}, {"5", "18446744073709551615"}, {noTime, ""}, {future, ""},
	})

	// On b, a one-way target: a's IDs (node 4) and two of its own region's.
	onB, onBLast := issued(l, t0, 20, 1, 4, false)
	idRows(t, p.b, "idr_dirty", onB)
	bOwn, bOwnLast := issued(l, tb, 2, 2, 1, false)
	idRows(t, p.b, "idr_dirty", bOwn)

	code, rep, stderr := p.runIDRanges(t, "idr_dirty.*")
	if code != 1 || rep == nil {
		t.Fatalf("exit %d, want 1 with a report; stderr %s", code, stderr)
	}
	if rep.TwoWay || len(rep.Allowed) != 1 || rep.Allowed[0] != (reconcile.RegionRef{Name: "a", ID: 1}) {
		t.Errorf("pair: two-way %v, allowed %+v; want one-way, region a (1)", rep.TwoWay, rep.Allowed)
	}
	for _, s := range rep.Sides {
		if s.LayoutFrom != "config" || !s.Layout.Equal(l) {
			t.Errorf("%s: layout %s from %s; want the default layout from config", s.Side, s.Layout, s.LayoutFrom)
		}
	}
	checkIDGroups(t, rep, []string{
		groupLine("source", "idr_dirty.t.id", reconcile.IDOK, 1, "a", 3, 50, t0, ownLast, own[0][0], own[49][0]),
		groupLine("source", "idr_dirty.t.id", reconcile.IDForeign, 2, "b", 5, 3, tb, fromBLast, fromB[0][0], fromB[2][0]),
		groupLine("source", "idr_dirty.t.id", reconcile.IDForeign, 7, "", 0, 1, t7, t7, id7, id7),
		"source idr_dirty.t.id not_drc_id - 5 - -7.." + future,
		groupLine("source", "idr_dirty.t.ref", reconcile.IDOK, 1, "a", 3, 50, t0, ownLast, own[0][0], own[49][0]),
		"source idr_dirty.t.ref not_drc_id - 2 - 9223372036854775808..18446744073709551615",
		groupLine("target", "idr_dirty.t.id", reconcile.IDOK, 1, "a", 4, 20, t0, onBLast, onB[0][0], onB[19][0]),
		groupLine("target", "idr_dirty.t.id", reconcile.IDForeign, 2, "b", 1, 2, tb, bOwnLast, bOwn[0][0], bOwn[1][0]),
		"target idr_dirty.t.ref empty",
	})
	if s := rep.Summary; s != (reconcile.IDRangesSummary{Columns: 4, Rows: 59 + 52 + 22, Foreign: 4 + 2, NotDRC: 5 + 2}) {
		t.Errorf("summary %+v", s)
	}

	// The text report says the same for people.
	out, _ := exec.Command(drcBinary(t), "reconcile", "--config", p.cfg, "--id-ranges", "--tables", "idr_dirty.t").Output()
	text := strings.Join(strings.Fields(string(out)), " ")
	for _, want := range []string{
		"FOREIGN b (2) 5 3 " + tb.Format(time.RFC3339),
		"FOREIGN 7 (no such region) 0 1",
		"NOT A DRC ID - - 5 - - -7 " + future,
		"idr_dirty.t.ref: 52 value(s), 0 foreign, 2 not a drc id",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func (p *idRangesPair) testClean(t *testing.T) {
	l := idgen.DefaultLayout()
	const ddl = "CREATE TABLE idr_clean.t (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, ref INT NULL)"
	p.a.Exec(t, "CREATE DATABASE idr_clean", ddl)
	p.b.Exec(t, "CREATE DATABASE idr_clean", ddl)
	rows, _ := issued(l, p.now.Add(-time.Hour), 10, 1, 2, false)
	idRows(t, p.a, "idr_clean", rows)
	idRows(t, p.b, "idr_clean", rows)
	// An ID a few minutes ahead of the clock is within idgen.MaxSkew.
	ahead := fmt.Sprint(composeDRCID(l, p.now.Add(10*time.Minute), 0, 1, 2))
	idRows(t, p.a, "idr_clean", [][2]string{{ahead, ""}})

	code, rep, stderr := p.runIDRanges(t, "idr_clean.*")
	if code != 0 || rep == nil {
		t.Fatalf("exit %d, want 0 with a report; stderr %s", code, stderr)
	}
	if s := rep.Summary; s != (reconcile.IDRangesSummary{Columns: 2, Rows: 21}) {
		t.Errorf("summary %+v, want 2 columns, 21 values, nothing foreign", s)
	}
}

func (p *idRangesPair) testMissingColumn(t *testing.T) {
	p.a.Exec(t, "CREATE DATABASE idr_nocol", "CREATE TABLE idr_nocol.t (id BIGINT NOT NULL PRIMARY KEY)",
		"INSERT INTO idr_nocol.t VALUES (1)")
	code, rep, stderr := p.runIDRanges(t, "idr_nocol.t")
	if code != 2 || rep == nil {
		t.Fatalf("exit %d, want 2 with a report; stderr %s", code, stderr)
	}
	var errs []string
	for _, s := range rep.Sides {
		for _, c := range s.Columns {
			if c.Error != "" {
				errs = append(errs, s.Side+": "+c.Error)
			}
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "source: ") || !strings.Contains(errs[0], "owner_id") || !strings.Contains(errs[0], "idr_nocol.t") {
		t.Errorf("errors %q, want one on the source naming idr_nocol.t and owner_id", errs)
	}
	// The column that exists is still checked: 1 is not a drc ID.
	if rep.Summary.NotDRC != 1 {
		t.Errorf("summary %+v, want the value 1 of id reported", rep.Summary)
	}
}

func (p *idRangesPair) testTwoWay(t *testing.T) {
	l := idgen.DefaultLayout()
	const ddl = "CREATE TABLE idr_twoway.t (id BIGINT NOT NULL PRIMARY KEY, ref BIGINT NULL)"
	p.a.Exec(t, "CREATE DATABASE idr_twoway", ddl)
	p.b.Exec(t, "CREATE DATABASE idr_twoway", ddl)
	fromA, _ := issued(l, p.now.Add(-time.Hour), 5, 1, 1, false)
	fromB, _ := issued(l, p.now.Add(-time.Hour), 4, 2, 1, false)
	for _, m := range []*harness.Server{p.a, p.b} {
		idRows(t, m, "idr_twoway", fromA)
		idRows(t, m, "idr_twoway", fromB)
	}

	// b has never run a replicator: its IDs are foreign on both sides.
	p.b.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta", `CREATE TABLE IF NOT EXISTS drc_meta.heartbeat (
		region VARCHAR(64) NOT NULL PRIMARY KEY, ts BIGINT NOT NULL) ENGINE=InnoDB`,
		"REPLACE INTO drc_meta.heartbeat VALUES ('a', 1)")
	code, rep, stderr := p.runIDRanges(t, "idr_twoway.t")
	if code != 1 || rep == nil || rep.TwoWay || rep.Summary.Foreign != 8 {
		t.Fatalf("one-way: exit %d, report %+v; want 1 with 8 foreign IDs; stderr %s", code, rep, stderr)
	}

	// Now it has (its heartbeat row reached its own drc_meta): both
	// regions' IDs are allowed on both sides.
	p.b.Exec(t, "REPLACE INTO drc_meta.heartbeat VALUES ('b', 1)")
	t.Cleanup(func() { p.b.Exec(t, "DELETE FROM drc_meta.heartbeat WHERE region = 'b'") })
	code, rep, stderr = p.runIDRanges(t, "idr_twoway.t")
	if code != 0 || rep == nil || !rep.TwoWay || len(rep.Allowed) != 2 {
		t.Fatalf("two-way: exit %d, report %+v; want 0, two-way, regions a and b allowed; stderr %s", code, rep, stderr)
	}
	if s := rep.Summary; s != (reconcile.IDRangesSummary{Columns: 2, Rows: 18}) {
		t.Errorf("two-way summary %+v", s)
	}
}

// testStoredLayout: a side decodes with the layout in its own
// drc_meta.idgen_layout, not the config's.
func (p *idRangesPair) testStoredLayout(t *testing.T) {
	stored := idgen.DefaultLayout()
	stored.RegionBits, stored.NodeBits = 4, 6
	p.b.Exec(t, "CREATE DATABASE IF NOT EXISTS drc_meta",
		`CREATE TABLE drc_meta.idgen_layout (id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
		  time_unit_ns BIGINT NOT NULL, start_unix_ns BIGINT NOT NULL,
		  sequence_bits TINYINT UNSIGNED NOT NULL, region_bits TINYINT UNSIGNED NOT NULL, node_bits TINYINT UNSIGNED NOT NULL)`,
		fmt.Sprintf("INSERT INTO drc_meta.idgen_layout VALUES (1, %d, %d, %d, %d, %d)",
			int64(stored.TimeUnit), stored.StartTime.UnixNano(), stored.SequenceBits, stored.RegionBits, stored.NodeBits))
	t.Cleanup(func() { p.b.Exec(t, "DROP TABLE drc_meta.idgen_layout") })
	p.b.Exec(t, "CREATE DATABASE idr_layout", "CREATE TABLE idr_layout.t (id BIGINT NOT NULL PRIMARY KEY, ref BIGINT NULL)")
	// Region a, node 9 under the stored layout; the default layout would
	// read these as region 0, node 73.
	rows, last := issued(stored, p.now.Add(-time.Hour), 6, 1, 9, false)
	idRows(t, p.b, "idr_layout", rows)

	code, rep, stderr := p.runIDRanges(t, "idr_layout.t")
	if code != 0 || rep == nil {
		t.Fatalf("exit %d, want 0 with a report; stderr %s", code, stderr)
	}
	if s := rep.Sides[1]; s.LayoutFrom != "drc_meta.idgen_layout" || !s.Layout.Equal(stored) {
		t.Errorf("target layout %s from %s, want the stored %s", s.Layout, s.LayoutFrom, stored)
	}
	checkIDGroups(t, rep, []string{
		groupLine("target", "idr_layout.t.id", reconcile.IDOK, 1, "a", 9, 6, p.now.Add(-time.Hour), last, rows[0][0], rows[5][0]),
	})
}
