package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/drc-dev/drc/reconcile"
)

func TestReconcileIDRangesFlags(t *testing.T) {
	dir := t.TempDir()
	noColumns := filepath.Join(dir, "nocolumns.yaml")
	os.WriteFile(noColumns, []byte(`
cluster: demo
source: {region: a}
target: {region: b}
kafka: {brokers: ["127.0.0.1:9092"]}
idgen: {regions: {a: 1, b: 2}}
`), 0o600)
	for _, tc := range []struct {
		name     string
		args     []string
		contains string
	}{
		{"with repair", []string{"--id-ranges", "--repair", "--config", noColumns}, "--id-ranges compares no rows"},
		{"with no-settle", []string{"--id-ranges", "--no-settle", "--config", noColumns}, "--id-ranges compares no rows"},
		{"no id columns", []string{"--id-ranges", "--config", noColumns}, "applier.tables: no entry has id_columns"},
		{"bad output", []string{"--id-ranges", "--output", "yaml", "--config", noColumns}, "--output must be text or json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"reconcile"}, tc.args...), &out, &errOut)
			if code != exitError || !strings.Contains(errOut.String(), tc.contains) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tc.contains)
			}
		})
	}

	var out, errOut bytes.Buffer
	run(context.Background(), []string{"reconcile", "--help"}, &out, &errOut)
	if !strings.Contains(out.String(), "--id-ranges") || !strings.Contains(out.String(), "NOT A DRC ID") {
		t.Errorf("reconcile --help does not describe --id-ranges:\n%s", out.String())
	}
}

func TestIDRangesConfigFromYAML(t *testing.T) {
	f := filepath.Join(t.TempDir(), "drc.yaml")
	os.WriteFile(f, []byte(`
cluster: demo
source: {region: eu, host: db-eu, port: 3307}
target: {region: us, host: db-us}
kafka: {brokers: ["127.0.0.1:9092"]}
idgen: {regions: {eu: 1, us: 2}, node_bits: 6, start_time: "2024-06-01T00:00:00Z"}
applier:
  tables:
    - {table: shop.orders, conflict: source-wins}
    - {table: shop.orders, id_columns: [id, customer_id]}
    - {table: "crm.*", id_columns: [id]}
`), 0o600)
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := idRangesConfig(cfg, "shop.*,crm.people")
	if err != nil {
		t.Fatal(err)
	}
	if want := []reconcile.IDColumns{{Table: "shop.orders", Columns: []string{"id", "customer_id"}}, {Table: "crm.*", Columns: []string{"id"}}}; !reflect.DeepEqual(rc.Columns, want) {
		t.Errorf("columns %+v, want %+v", rc.Columns, want)
	}
	if want := []string{"shop.*", "crm.people"}; !reflect.DeepEqual(rc.Tables, want) {
		t.Errorf("tables %q, want %q", rc.Tables, want)
	}
	if rc.SourceRegion != "eu" || rc.TargetRegion != "us" || rc.Regions["us"] != 2 {
		t.Errorf("regions: %s, %s, %v", rc.SourceRegion, rc.TargetRegion, rc.Regions)
	}
	if l := rc.Layout; l.NodeBits != 6 || l.StartTime.Year() != 2024 {
		t.Errorf("layout %s, want the idgen section's", l)
	}
	if !strings.Contains(rc.SourceDSN, "db-eu:3307") || !strings.Contains(rc.TargetDSN, "db-us:3306") {
		t.Errorf("DSNs %q, %q", rc.SourceDSN, rc.TargetDSN)
	}
}
