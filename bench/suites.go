package bench

import "github.com/drc-dev/drc/integration/harness"

// Suites returns every suite in the order drcbench runs them. Baselines come
// first so later suites can compute their ratios with Env.Result. To add a
// suite, write its Measure in your own file and add one line here.
func Suites() []Suite {
	return []Suite{
		{Name: "baseline/binlog-decode", Run: onFlavor(harness.FlavorMariaDB, measureBinlogDecode)},
		{Name: "baseline/bulk-insert", Run: onFlavor(harness.FlavorMariaDB, measureBulkInsert)},
		{Name: "baseline/sonyflake", Run: measureSonyflake},
		{Name: "bootstrap", Run: onFlavor(harness.FlavorMariaDB, measureBootstrap)},
		{Name: "replicator", Run: onFlavor(harness.FlavorMariaDB, measureReplicator)},
		{Name: "replicator/codecs", Run: onFlavor(harness.FlavorMariaDB, measureCodecs)},
		{Name: "rss", Run: measureRSS},
		{Name: "applier", Run: measureApplier},
		{Name: "applier/lag", Run: onFlavor(harness.FlavorMariaDB, measureLag)},
		{Name: "dr/switchover", Run: onFlavor(harness.FlavorMariaDB, measureSwitchover)},
		{Name: "idgen", Run: MeasureIDGen},
		{Name: "reconcile", Run: measureReconcile},
		// The same on a MySQL dataset (mysql.go); -run mysql selects them.
		{Name: "mysql/baseline/binlog-decode", Run: onFlavor(harness.FlavorMySQL, measureBinlogDecode)},
		{Name: "mysql/baseline/bulk-insert", Run: onFlavor(harness.FlavorMySQL, measureBulkInsert)},
		{Name: "mysql/bootstrap", Run: onFlavor(harness.FlavorMySQL, measureBootstrap)},
		{Name: "mysql/replicator", Run: onFlavor(harness.FlavorMySQL, measureReplicator)},
		{Name: "mysql/applier", Run: measureMySQLApplier},
		{Name: "mysql/applier/lag", Run: onFlavor(harness.FlavorMySQL, measureLag)},
		{Name: "mysql/dr/switchover", Run: onFlavor(harness.FlavorMySQL, measureSwitchover)},
	}
}
