package bootstrap

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// stepClock advances by step on every call.
func stepClock(step time.Duration) func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(step); return t }
}

func TestMariaDBSnapshotSQL(t *testing.T) {
	f := &fakeExecutor{query: func(q string, _ []any) ([][]*string, error) {
		switch q {
		case sqlMariaDBSnapshot:
			return [][]*string{row("binlog_snapshot_file", "mariadb-bin.000003"), row("binlog_snapshot_position", "12345")}, nil
		case sqlMariaDBGTIDPos:
			return [][]*string{row("1-1-42,2-2-7")}, nil
		}
		return nil, errors.New("unexpected " + q)
	}}
	s, err := takeSnapshot(context.Background(), f, FlavorMariaDB, stepClock(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{GTID: "1-1-42,2-2-7", File: "mariadb-bin.000003", Pos: 12345}
	if s != want {
		t.Errorf("snapshot = %+v, want %+v", s, want)
	}
	wantLog := []string{
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"START TRANSACTION WITH CONSISTENT SNAPSHOT",
		"SHOW SESSION STATUS LIKE 'binlog_snapshot_%'",
		"SELECT BINLOG_GTID_POS(?, ?) [mariadb-bin.000003, 12345]",
	}
	if !reflect.DeepEqual(f.log, wantLog) {
		t.Errorf("statements:\n got %q\nwant %q", f.log, wantLog)
	}
}

func TestMariaDBSnapshotWithoutBinlog(t *testing.T) {
	f := &fakeExecutor{query: func(q string, _ []any) ([][]*string, error) {
		return [][]*string{row("binlog_snapshot_file", ""), row("binlog_snapshot_position", "0")}, nil
	}}
	_, err := takeSnapshot(context.Background(), f, FlavorMariaDB, time.Now)
	if !errors.Is(err, ErrNoBinlog) {
		t.Fatalf("err = %v, want ErrNoBinlog", err)
	}
}

func TestMySQLSnapshotSQL(t *testing.T) {
	// gtid_executed moves between the first pair of readings (a commit
	// raced), then holds still: the snapshot is retried once.
	readings := []string{"uuid:1-5", "uuid:1-6", "uuid:1-6,\nother:1-2", "uuid:1-6,\nother:1-2"}
	f := &fakeExecutor{query: func(q string, _ []any) ([][]*string, error) {
		if q != sqlMySQLLogStatus {
			return nil, errors.New("unexpected " + q)
		}
		r := readings[0]
		readings = readings[1:]
		return [][]*string{row(r)}, nil
	}}
	s, err := takeSnapshot(context.Background(), f, FlavorMySQL, stepClock(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if s.GTID != "uuid:1-6,other:1-2" {
		t.Errorf("GTID = %q, want the stable reading without whitespace", s.GTID)
	}
	// Clock calls: lock taken (1), released (2): one step.
	if s.LockHeld != 100*time.Millisecond {
		t.Errorf("LockHeld = %v, want 100ms", s.LockHeld)
	}
	wantLog := []string{
		"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		"LOCK INSTANCE FOR BACKUP",
		sqlMySQLLogStatus,
		"START TRANSACTION WITH CONSISTENT SNAPSHOT",
		sqlMySQLLogStatus,
		"ROLLBACK",
		sqlMySQLLogStatus,
		"START TRANSACTION WITH CONSISTENT SNAPSHOT",
		sqlMySQLLogStatus,
		"UNLOCK INSTANCE",
	}
	if !reflect.DeepEqual(f.log, wantLog) {
		t.Errorf("statements:\n got %q\nwant %q", f.log, wantLog)
	}
	if sqlMySQLLogStatus != "SELECT JSON_UNQUOTE(JSON_EXTRACT(LOCAL, '$.gtid_executed')) FROM performance_schema.log_status" {
		t.Errorf("log_status query changed: %s", sqlMySQLLogStatus)
	}
}

func TestMySQLSnapshotUnlocksOnError(t *testing.T) {
	f := &fakeExecutor{
		exec: func(q string) error {
			if q == sqlStartSnapshot {
				return errors.New("boom")
			}
			return nil
		},
		query: func(string, []any) ([][]*string, error) { return [][]*string{row("u:1-3")}, nil },
	}
	_, err := takeSnapshot(context.Background(), f, FlavorMySQL, time.Now)
	if err == nil {
		t.Fatal("no error")
	}
	if last := f.log[len(f.log)-1]; last != "UNLOCK INSTANCE" {
		t.Errorf("last statement %q, want UNLOCK INSTANCE", last)
	}
}

func TestMySQLSnapshotGivesUpWhenAlwaysRacing(t *testing.T) {
	n := 0
	f := &fakeExecutor{query: func(string, []any) ([][]*string, error) {
		n++
		return [][]*string{row("u:1-" + string(rune('0'+n%10)))}, nil
	}}
	_, err := takeSnapshot(context.Background(), f, FlavorMySQL, time.Now)
	if !errors.Is(err, ErrSnapshotRace) {
		t.Fatalf("err = %v, want ErrSnapshotRace", err)
	}
}
