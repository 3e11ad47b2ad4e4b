package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/drc-dev/drc/config"
	"github.com/drc-dev/drc/idgen"
)

const idgenRegionsConfig = `
cluster: demo
source: {region: a, password: hunter2}
target: {region: b}
kafka: {brokers: ["127.0.0.1:9092"]}
idgen: {regions: {a: 1, b: 2}}
`

// decompose --config names the region from idgen.regions, without a
// database; without --config there is no name.
func TestIDGenDecomposeRegionName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drc.yaml")
	if err := os.WriteFile(path, []byte(idgenRegionsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	l := idgen.DefaultLayout()
	id := func(region int) string {
		return strconv.FormatInt(1000<<(l.SequenceBits+l.MachineBits())|int64(l.MachineID(region, 5)), 10)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"named", []string{"idgen", "decompose", id(2), "--config", path}, " region=2(b) node=5 "},
		{"own region", []string{"idgen", "decompose", "--config", path, id(1)}, " region=1(a) node=5 "},
		{"not in the map", []string{"idgen", "decompose", id(3), "--config", path}, " region=3 node=5 "},
		{"no config", []string{"idgen", "decompose", id(2)}, " region=2 node=5 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output %q lacks %q", out.String(), tt.want)
			}
		})
	}
}

func TestIDGenConfigRegion(t *testing.T) {
	cfg, err := config.Parse([]byte(idgenRegionsConfig), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ic, err := idgenConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int]string{1: "a", 2: "b"}; ic.Region != 1 || ic.RegionName != "a" || !maps.Equal(ic.RegionNames, want) {
		t.Errorf("region %d %q names %v; want 1 \"a\" %v", ic.Region, ic.RegionName, ic.RegionNames, want)
	}
}
