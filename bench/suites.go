package bench

// Suites returns every suite in the order drcbench runs them. Baselines come
// first so later suites can compute their ratios with Env.Result. To add a
// suite, write its Measure in your own file and add one line here.
func Suites() []Suite {
	return []Suite{
		{Name: "baseline/binlog-decode", Run: measureBinlogDecode},
		{Name: "baseline/bulk-insert", Run: measureBulkInsert},
		{Name: "baseline/sonyflake", Run: measureSonyflake},
		{Name: "bootstrap", Run: measureBootstrap},
		{Name: "replicator", Run: measureReplicator},
		{Name: "rss", Run: measureRSS},
		{Name: "applier", Run: measureApplier},
		{Name: "applier/lag", Run: measureLag},
		{Name: "idgen", Run: MeasureIDGen},
		{Name: "reconcile", Run: measureReconcile},
	}
}
