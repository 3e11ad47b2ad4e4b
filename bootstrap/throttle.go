package bootstrap

import (
	"context"
	"database/sql"
	"log/slog"
	"strconv"
	"time"
)

// throttle paces the snapshot reader: it caps the copy rate
// (MaxRowsPerSecond) and pauses while the source is busy (Threads_running
// above MaxThreadsRunning, checked at most once per ThrottleSleep).
type throttle struct {
	cfg       *Config
	db        *sql.DB
	log       *slog.Logger
	began     time.Time
	rows      int64
	lastCheck time.Time
	throttled time.Duration
}

func newThrottle(cfg *Config, db *sql.DB, log *slog.Logger) *throttle {
	return &throttle{cfg: cfg, db: db, log: log, began: time.Now()}
}

func (t *throttle) count(n int) { t.rows += int64(n) }

// wait returns when the next chunk may be read.
func (t *throttle) wait(ctx context.Context) error {
	if r := t.cfg.MaxRowsPerSecond; r > 0 {
		due := t.began.Add(time.Duration(float64(t.rows) / float64(r) * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	if t.cfg.MaxThreadsRunning <= 0 || time.Since(t.lastCheck) < t.cfg.ThrottleSleep {
		return nil
	}
	paused := time.Time{}
	for {
		t.lastCheck = time.Now()
		n, err := threadsRunning(ctx, t.db)
		if err != nil {
			// Throttling is advisory: a failed probe does not stop the copy.
			t.log.Warn("bootstrap: cannot read source Threads_running; not throttling", "error", err)
			return nil
		}
		if n <= t.cfg.MaxThreadsRunning {
			if !paused.IsZero() {
				d := time.Since(paused)
				t.throttled += d
				t.log.Info("bootstrap: source load back to normal; copy resumes",
					"threads_running", n, "paused", d.Round(time.Millisecond))
			}
			return nil
		}
		if paused.IsZero() {
			paused = time.Now()
			t.log.Info("bootstrap: source busy; copy paused",
				"threads_running", n, "max_threads_running", t.cfg.MaxThreadsRunning)
		}
		if err := sleep(ctx, t.cfg.ThrottleSleep); err != nil {
			return err
		}
	}
}

func threadsRunning(ctx context.Context, db *sql.DB) (int, error) {
	var name, value string
	if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &value); err != nil {
		return 0, err
	}
	return strconv.Atoi(value)
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
