// Package bench measures drc against baselines taken in the same run on the
// same machine, and prints the results as one table (`make bench`).
//
// Every figure that matters is a ratio: shared 2-core machines drift too much
// for absolute numbers to compare across runs. So each suite measures its
// baseline and drc side by side, or reads an earlier suite's baseline with
// Env.Result.
//
// # Adding rows
//
// Write a Measure in your own file (bench/replicator.go, bench/applier.go, …):
//
//	func measureReplicator(ctx context.Context, env *Env) ([]Row, error) {
//		ds, err := env.Dataset(ctx) // the sysbench binlog, shared by all suites
//		...
//		bare, _ := env.Result(KeyBinlogDecode)
//		return []Row{{Key: "replicator.publish", Metric: "replicator publish", Value: rate,
//			Unit: "rows/s", Goal: Ratio(rate, bare, "bare decode", "≥ 0.8")}}, nil
//	}
//
// then add one line for it to Suites in suites.go. Suites run one after the
// other, in that order. Servers a suite starts through Env are stopped when
// the suite ends; the dataset's source server lives for the whole run.
//
// # The dataset
//
// Env.Dataset generates, once per run, a MariaDB source whose binlog holds a
// sysbench table of Env.Rows rows (`sysbench oltp_insert prepare`, default
// 1,000,000, DRC_BENCH_ROWS overrides), and records the GTID positions and
// binlog coordinates before and after it. Env.DatasetOn(ctx,
// harness.FlavorMySQL) does the same on a MySQL source of its own.
//
// # Flavors
//
// The suites named mysql/… (-run mysql) repeat the measurements on the
// MySQL dataset, each against a baseline measured on MySQL in the same run:
// their metrics start with "MySQL" and their keys with "mysql."
// (FlavorKey). The applier's native baseline there is MySQL's
// multi-threaded replica (replica_parallel_workers=4, commit order
// preserved, WRITESET dependencies).
package bench
