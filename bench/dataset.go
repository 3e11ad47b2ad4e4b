package bench

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/drc-dev/drc/integration/harness"
	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Dataset is a source whose binlog holds a sysbench table, written by
// `sysbench oltp_insert prepare`: id INT AUTO_INCREMENT PRIMARY KEY (1..Rows),
// k INT (indexed), c CHAR(120), pad CHAR(60).
type Dataset struct {
	// Flavor is the source's: MariaDB (server_id 1, gtid_domain_id 1) or
	// MySQL (server_id 1, its own server_uuid).
	Flavor harness.Flavor
	// Source is region a. It runs for the whole bench run; suites must not
	// change the dataset table.
	Source *harness.Server
	DB     string // "sbtest"
	Table  string // "sbtest1"
	Rows   int

	// StartGTID is the source's GTID position just before the dataset's
	// first transaction (gtid_binlog_pos on MariaDB, gtid_executed on
	// MySQL); reading the binlog from it yields exactly the dataset.
	StartGTID string
	// EndGTID is the position after the dataset's last transaction.
	EndGTID string
	// EndFile and EndPos are the binlog coordinates of the end of the
	// dataset's last event.
	EndFile string
	EndPos  uint32
	// Events and BinlogBytes describe the range: how many binlog events and
	// bytes lie between StartGTID and EndGTID (as counted by the bare decode).
	Events      int
	BinlogBytes int64
}

// Dataset returns the run's MariaDB dataset; see DatasetOn.
func (e *Env) Dataset(ctx context.Context) (*Dataset, error) {
	return e.DatasetOn(ctx, harness.FlavorMariaDB)
}

// DatasetOn returns the run's dataset on a source of flavor f, generating it
// on first use (10-20 s for a million rows on 2 cores). Each flavor has its
// own source, with the same Rows. A failure is returned to every later
// caller; a cancellation is not remembered.
func (e *Env) DatasetOn(ctx context.Context, f harness.Flavor) (*Dataset, error) {
	e.datasetMu.Lock()
	defer e.datasetMu.Unlock()
	if slot, ok := e.datasets[f]; ok {
		return slot.ds, slot.err
	}
	ds, err := e.generateDataset(ctx, f)
	if err == nil || ctx.Err() == nil {
		// Remember failures, but not a cancellation.
		e.datasets[f] = &datasetSlot{ds: ds, err: err}
	}
	return ds, err
}

func (e *Env) generateDataset(ctx context.Context, f harness.Flavor) (*Dataset, error) {
	began := time.Now()
	src, err := e.startServerTB(e.runTB, f, harness.ServerOptions{ServerID: 1, GTIDDomainID: 1})
	if err != nil {
		return nil, fmt.Errorf("start %s dataset source: %w", f.Title(), err)
	}
	ds := &Dataset{Flavor: f, Source: src, DB: "sbtest", Table: "sbtest1", Rows: e.Rows}
	if err := harness.Catch(func() {
		src.Exec(e.runTB, "CREATE DATABASE "+ds.DB)
		ds.StartGTID = src.BinlogGTIDPos(e.runTB)
	}); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	db, err := sqlOpen(src, ds.DB)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer db.Close()
	if f == harness.FlavorMySQL {
		if err := mysqlWritesetTracking(ctx, db); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
	}

	e.logf("dataset: sysbench oltp_insert prepare, %d rows into %s %s", e.Rows, f.Title(), src.Addr())
	cmd := exec.CommandContext(ctx, "sysbench", "oltp_insert",
		"--db-driver=mysql",
		"--mysql-host="+src.Host,
		"--mysql-port="+strconv.Itoa(src.Port),
		"--mysql-user="+src.User,
		"--mysql-password="+src.Password,
		"--mysql-db="+ds.DB,
		"--tables=1",
		"--table-size="+strconv.Itoa(e.Rows),
		"prepare")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dataset: sysbench prepare: %w\n%s", err, out.String())
	}

	var count int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ds.Table).Scan(&count); err != nil {
		return nil, fmt.Errorf("dataset: count rows: %w", err)
	}
	if count != e.Rows {
		return nil, fmt.Errorf("dataset: sysbench wrote %d rows, want %d", count, e.Rows)
	}
	if err := harness.Catch(func() { ds.EndGTID = src.BinlogGTIDPos(e.runTB) }); err != nil {
		return nil, fmt.Errorf("dataset: end position: %w", err)
	}
	if err := binlogEnd(ctx, db, ds); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}

	// One untimed pass over the range fills the OS cache, so the timed
	// decodes of every suite start equal, and checks the range's contents.
	res, err := DecodeBinlog(ctx, ds, nil)
	if err != nil {
		return nil, fmt.Errorf("dataset: verify binlog: %w", err)
	}
	if res.Rows != ds.Rows {
		return nil, fmt.Errorf("dataset: binlog range holds %d row images, want %d", res.Rows, ds.Rows)
	}
	ds.Events, ds.BinlogBytes = res.Events, res.Bytes
	e.logf("dataset: %s, %d rows, %d events, %.1f MiB of binlog (%s .. %s) in %v",
		f.Title(), ds.Rows, ds.Events, float64(ds.BinlogBytes)/(1<<20), ds.StartGTID, ds.EndGTID, time.Since(began).Round(time.Second))
	return ds, nil
}

// binlogEnd sets ds.EndFile and EndPos from the source's binlog status
// (mysqlconn.Flavor.BinlogStatusQuery): File, Position, Binlog_Do_DB,
// Binlog_Ignore_DB, and on MySQL Executed_Gtid_Set.
func binlogEnd(ctx context.Context, db *sql.DB, ds *Dataset) error {
	f, version, err := mysqlconn.ServerFlavor(ctx, db)
	if err != nil {
		return err
	}
	var doDB, ignoreDB, executed string
	dest := []any{&ds.EndFile, &ds.EndPos, &doDB, &ignoreDB}
	if f == mysqlconn.MySQL {
		dest = append(dest, &executed)
	}
	q := f.BinlogStatusQuery(version)
	if err := db.QueryRowContext(ctx, q).Scan(dest...); err != nil {
		return fmt.Errorf("%s: %w", strings.ToLower(q), err)
	}
	return nil
}

// SyncerConfig returns a BinlogSyncer config for the dataset's source with a
// random server id and a silent logger.
func (ds *Dataset) SyncerConfig() replication.BinlogSyncerConfig {
	return replication.BinlogSyncerConfig{
		ServerID: 100000 + rand.Uint32N(1<<30),
		Flavor:   string(ds.Flavor), // go-mysql's words are drc's: mariadb, mysql
		Host:     ds.Source.Host,
		Port:     uint16(ds.Source.Port),
		User:     ds.Source.User,
		Password: ds.Source.Password,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// Covers reports whether ev is inside the dataset's range: false once the
// stream has passed EndFile:EndPos. file is the binlog file the stream is
// in (from the last rotate event).
func (ds *Dataset) Covers(file string, ev *replication.BinlogEvent) bool {
	return !(file == ds.EndFile && ev.Header.LogPos >= ds.EndPos)
}

// DecodeResult counts what a pass over the dataset's binlog saw.
type DecodeResult struct {
	Rows    int // row images in rows events
	Events  int
	Bytes   int64
	Elapsed time.Duration // from StartSyncGTID to the last event
}

// DecodeBinlog reads the dataset's binlog range with go-mysql's bare
// BinlogSyncer, with GTID auto-position from StartGTID, as the replicator
// does, and counts row images. onEvent, if not nil, sees every event.
func DecodeBinlog(ctx context.Context, ds *Dataset, onEvent func(*replication.BinlogEvent) error) (DecodeResult, error) {
	var res DecodeResult
	start, err := gtid.Parse(string(ds.Flavor), ds.StartGTID)
	if err != nil {
		return res, fmt.Errorf("dataset start: %w", err)
	}
	syncer := replication.NewBinlogSyncer(ds.SyncerConfig())
	defer syncer.Close()
	began := time.Now()
	streamer, err := syncer.StartSyncGTID(start.GoMySQL())
	if err != nil {
		return res, fmt.Errorf("start sync at %s: %w", ds.StartGTID, err)
	}
	file := ""
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return res, fmt.Errorf("read binlog after %d events: %w", res.Events, err)
		}
		if rot, ok := ev.Event.(*replication.RotateEvent); ok {
			file = string(rot.NextLogName)
		}
		if ev.Header.LogPos == 0 {
			continue // artificial event (fake rotate, format description)
		}
		res.Events++
		res.Bytes += int64(ev.Header.EventSize)
		if rows, ok := ev.Event.(*replication.RowsEvent); ok {
			res.Rows += len(rows.Rows)
		}
		if onEvent != nil {
			if err := onEvent(ev); err != nil {
				return res, err
			}
		}
		if !ds.Covers(file, ev) {
			res.Elapsed = time.Since(began)
			return res, nil
		}
	}
}
