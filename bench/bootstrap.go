package bench

import (
	"context"
	"fmt"

	"github.com/drc-dev/drc/bootstrap"
	"github.com/drc-dev/drc/integration/harness"
)

// Keys of the bootstrap figures.
const (
	KeyBootstrapRate = "bootstrap.rows_per_s"
	KeyBootstrapLock = "bootstrap.source_lock_s"
)

// measureBootstrap seeds a fresh region b from the dataset's source with
// drc bootstrap as in production (default workers, chunk size and
// throttle; one snapshot reader, writers kept out of b's binlog) and
// reports rows per second over the copy's wall time, against region b's
// bulk INSERT rate, and the longest lock held on the source: none on
// MariaDB (a consistent snapshot), LOCK INSTANCE FOR BACKUP on MySQL while
// the snapshot is opened. Region b is of the dataset's flavor.
func measureBootstrap(ctx context.Context, env *Env, f harness.Flavor) ([]Row, error) {
	ds, err := env.DatasetOn(ctx, f)
	if err != nil {
		return nil, err
	}
	target, err := env.StartServer(f, harness.ServerOptions{ServerID: 3, GTIDDomainID: 3})
	if err != nil {
		return nil, fmt.Errorf("start region b: %w", err)
	}
	cfg := bootstrap.NewConfig()
	cfg.Cluster, cfg.SourceRegion, cfg.Flavor = "bench", "a", string(f)
	cfg.Source = bootstrap.Endpoint{Host: ds.Source.Host, Port: ds.Source.Port, User: ds.Source.User, Password: ds.Source.Password}
	cfg.Target = bootstrap.Endpoint{Host: target.Host, Port: target.Port, User: target.User, Password: target.Password}
	cfg.Tables = []string{ds.DB + "." + ds.Table}
	res, err := bootstrap.Run(ctx, cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if res.Rows != int64(ds.Rows) {
		return nil, fmt.Errorf("bootstrap copied %d rows, want %d", res.Rows, ds.Rows)
	}
	rate := float64(res.Rows) / res.CopyElapsed.Seconds()
	base, _ := env.Result(FlavorKey(f, KeyBulkInsert))
	lock := "MariaDB consistent snapshot"
	if f == harness.FlavorMySQL {
		// Milliseconds, which the value column's two decimals of a second
		// would round away.
		lock = fmt.Sprintf("LOCK INSTANCE FOR BACKUP, %.1f ms", float64(res.LockHeld.Microseconds())/1000)
	}
	return []Row{
		{
			Key: FlavorKey(f, KeyBootstrapRate),
			Metric: flavorMetric(f, fmt.Sprintf("bootstrap copy, %d writers, %d-row chunks, 1 snapshot reader (%d rows, %.2fs; reads %.2fs, writes %.2fs summed)",
				cfg.Workers, cfg.ChunkRows, res.Rows, res.CopyElapsed.Seconds(), res.ReadBusy.Seconds(), res.WriteBusy.Seconds())),
			Value: rate, Unit: "rows/s",
			Goal: Ratio(rate, base, "bulk INSERT", "≥ 0.7"),
		},
		{
			Key:    FlavorKey(f, KeyBootstrapLock),
			Metric: flavorMetric(f, "bootstrap, longest lock held on the source ("+lock+")"),
			Value:  res.LockHeld.Seconds(), Unit: "s",
			Goal: fmt.Sprintf("goal ≤ 1 s: %s", map[bool]string{true: "met", false: "missed"}[res.LockHeld.Seconds() <= 1]),
		},
	}, nil
}
