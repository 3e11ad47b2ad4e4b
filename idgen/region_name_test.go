package idgen

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPartsRegionName(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	base := Parts{ID: 42, Time: at, Elapsed: 7, Sequence: 200, Machine: 5<<13 | 4321, Region: 5, Node: 4321}
	for _, tt := range []struct {
		name       string
		regionName string
		wantString string
		wantJSON   string // substring; "" with absent
		absent     string
	}{
		{"named", "eu-west", "region=5(eu-west) node=4321 sequence=200", `"region":5,"region_name":"eu-west","node":4321`, ""},
		{"unnamed", "", "region=5 node=4321 sequence=200", `"region":5,"node":4321`, "region_name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			p.RegionName = tt.regionName
			if got := p.String(); !strings.Contains(got, tt.wantString) {
				t.Errorf("String() = %q, want it to contain %q", got, tt.wantString)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.wantJSON) || tt.absent != "" && strings.Contains(string(b), tt.absent) {
				t.Errorf("JSON %s: want %s, without %q", b, tt.wantJSON, tt.absent)
			}
			var back Parts
			if err := json.Unmarshal(b, &back); err != nil || back != p {
				t.Errorf("JSON round trip: got %+v, %v; want %+v", back, err, p)
			}
		})
	}
}

func TestRegionConflict(t *testing.T) {
	stored := map[int]string{1: "a", 2: "b"}
	tests := []struct {
		name         string
		region       int
		regionName   string
		wantNameOf   string
		wantRegionOf int
		wantMsg      []string
	}{
		{"same pair", 1, "a", "", -1, nil},
		{"new pair", 3, "c", "", -1, nil},
		{"number taken", 1, "c", "a", -1, []string{`region 1 is "a" in drc_meta.idgen_regions`, `configured as region 1 "c"`}},
		{"name taken", 3, "a", "", 1, []string{`"a" is region 1 in drc_meta.idgen_regions`, `configured as region 3 "a"`}},
		{"both taken", 1, "b", "a", 2, []string{`region 1 is "a" and "b" is region 2 in`, `configured as region 1 "b"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := regionConflict(stored, tt.region, tt.regionName, "drc_meta.idgen_regions")
			if tt.wantMsg == nil {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var rce *RegionConflictError
			if !errors.As(err, &rce) || !errors.Is(err, ErrRegionConflict) {
				t.Fatalf("got %v, want a RegionConflictError", err)
			}
			if rce.NameOfRegion != tt.wantNameOf || rce.RegionOfName != tt.wantRegionOf {
				t.Errorf("got %+v, want NameOfRegion %q RegionOfName %d", rce, tt.wantNameOf, tt.wantRegionOf)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
}

func TestMergeRegionNames(t *testing.T) {
	tests := []struct {
		name               string
		configured, stored map[int]string
		want               map[int]string
		wantDropped        []string
	}{
		{"none", nil, nil, map[int]string{}, nil},
		{"configured only", map[int]string{1: "a", 2: "b"}, nil, map[int]string{1: "a", 2: "b"}, nil},
		{"stored adds", map[int]string{1: "a"}, map[int]string{1: "a", 3: "c"}, map[int]string{1: "a", 3: "c"}, nil},
		{"stored renames a number", map[int]string{1: "a", 2: "b"}, map[int]string{2: "x"}, map[int]string{1: "a", 2: "x"}, []string{"2=b"}},
		{"stored renumbers a name", map[int]string{1: "a", 2: "b"}, map[int]string{3: "b"}, map[int]string{1: "a", 3: "b"}, []string{"2=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := mergeRegionNames(tt.configured, tt.stored)
			if !maps.Equal(got, tt.want) || !slices.Equal(dropped, tt.wantDropped) {
				t.Errorf("got %v dropped %v, want %v dropped %v", got, dropped, tt.want, tt.wantDropped)
			}
		})
	}
}

func TestConfigRegionNames(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		wantErr string // "" = valid
	}{
		{"none", func(c *Config) {}, ""},
		{"name only", func(c *Config) { c.RegionName = "b" }, ""},
		{"agreeing map", func(c *Config) { c.RegionName, c.RegionNames = "b", map[int]string{1: "a", 2: "b"} }, ""},
		{"map without own name", func(c *Config) { c.RegionNames = map[int]string{1: "a"} }, ""},
		{"bad name", func(c *Config) { c.RegionName = "b c" }, `region name must be`},
		{"bad map name", func(c *Config) { c.RegionNames = map[int]string{1: ""} }, `name of region 1 must be`},
		{"own number named otherwise", func(c *Config) { c.RegionName, c.RegionNames = "b", map[int]string{2: "x"} },
			`region 2 is "x", but region name is "b"`},
		{"own name numbered otherwise", func(c *Config) { c.RegionName, c.RegionNames = "b", map[int]string{3: "b"} },
			`"b" is region 3, but region is 2`},
		{"one name twice", func(c *Config) { c.RegionNames = map[int]string{1: "a", 3: "a"} }, `"a" names both region 1 and region 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := nodeConfig(2, &fakeLeases{}, newFakeClock(t0))
			tt.set(&cfg)
			_, err := NewNode(cfg, nil)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("NewNode: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSQLLeaseStoreDDLHasRegions(t *testing.T) {
	s, err := NewSQLLeaseStore(nil, "", DefaultLayout())
	if err != nil {
		t.Fatal(err)
	}
	var ddl string
	for _, stmt := range s.DDL() {
		if strings.Contains(stmt, "`drc_meta`.idgen_regions") {
			ddl = stmt
		}
	}
	for _, want := range []string{"CREATE TABLE IF NOT EXISTS", "region_id  INT UNSIGNED NOT NULL", "name       VARCHAR(64)",
		"updated_at DATETIME(6)", "PRIMARY KEY (region_id)", "UNIQUE KEY name (name)"} {
		if !strings.Contains(ddl, want) {
			t.Errorf("idgen_regions DDL lacks %q:\n%s", want, ddl)
		}
	}
}

// A node stores its region's name at start; one whose number or name is
// another region's refuses to start, naming both, and stores nothing.
func TestNodeRefusesRegionConflict(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	cfg := nodeConfig(1, mem.store(), clk)
	cfg.RegionName = "a"
	n1 := newTestNode(t, cfg)
	cancel, done := runNode(t, n1)
	waitReady(t, n1)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Restarting as the same region is fine.
	n2 := newTestNode(t, cfg)
	runNode(t, n2)
	waitReady(t, n2)

	for _, tt := range []struct {
		name    string
		region  int
		rname   string
		wantMsg string
	}{
		{"number taken", 1, "b", `region 1 is "a" in mem.idgen_regions, but this node is configured as region 1 "b"`},
		{"name taken", 2, "a", `"a" is region 1 in mem.idgen_regions, but this node is configured as region 2 "a"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := nodeConfig(tt.region, mem.store(), clk)
			cfg.RegionName = tt.rname
			n := newTestNode(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := n.Run(ctx)
			if !errors.Is(err, ErrRegionConflict) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Run: %v, want ErrRegionConflict saying %s", err, tt.wantMsg)
			}
			if st := n.State(); st.Acquisitions != 0 {
				t.Errorf("refusing node acquired a lease: %+v", st)
			}
		})
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if want := map[int]string{1: "a"}; !maps.Equal(mem.regions, want) {
		t.Errorf("stored regions %v, want %v", mem.regions, want)
	}
}

// GET /v1/ids/{id} and /healthz carry region_name: the node's own, the
// configured map's, and names other regions' nodes stored.
func TestHTTPDecomposeRegionName(t *testing.T) {
	clk := newFakeClock(t0)
	mem := newMemLeases(clk)
	mem.regions[3] = "c" // stored by a node of region c
	cfg := nodeConfig(2, mem.store(), clk)
	cfg.RegionName = "b"
	cfg.RegionNames = map[int]string{1: "a", 2: "b"}
	s, err := NewServer(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, s.Node())
	waitReady(t, s.Node())
	h := s.Handler()
	l := s.Node().Layout()
	own, err := s.Node().NextID()
	if err != nil {
		t.Fatal(err)
	}
	other := func(region int) int64 {
		return 5<<(l.SequenceBits+l.MachineBits()) | int64(l.MachineID(region, 1))
	}
	for _, tt := range []struct {
		id     int64
		region int
		want   string
	}{{own, 2, "b"}, {other(1), 1, "a"}, {other(3), 3, "c"}, {other(0), 0, ""}} {
		code, body := serve(t, h, "/v1/ids/"+strconv.FormatInt(tt.id, 10))
		var got Parts
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
			t.Fatalf("decompose %d: %d %s (%v)", tt.id, code, body, err)
		}
		if got.Region != tt.region || got.RegionName != tt.want {
			t.Errorf("decompose %d: region %d %q, want %d %q (%s)", tt.id, got.Region, got.RegionName, tt.region, tt.want, body)
		}
		if tt.want == "" && strings.Contains(body, "region_name") {
			t.Errorf("decompose %d: %s has region_name", tt.id, body)
		}
	}
	if _, body := serve(t, h, "/healthz"); !strings.Contains(body, `"region":2,"region_name":"b"`) {
		t.Errorf("healthz lacks the region name: %s", body)
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if want := map[int]string{2: "b", 3: "c"}; !maps.Equal(mem.regions, want) {
		t.Errorf("stored regions %v, want %v", mem.regions, want)
	}
}

func serve(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}
