package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlerr"
	"github.com/drc-dev/drc/replicator"
)

// Source reads the source server. Every method only reads.
type Source interface {
	// Privileges fails naming what the account lacks to read the rest.
	Privileges(ctx context.Context) error
	// Position is the server's GTID position in its flavor's text form.
	Position(ctx context.Context) (string, error)
	// Heartbeat is the ts of region's row of drc_meta.heartbeat; ok is
	// false when there is none.
	Heartbeat(ctx context.Context, region string) (ts time.Time, ok bool, err error)
	// BinlogExpiry is replicator.BinlogExpiry.
	BinlogExpiry(ctx context.Context) (time.Duration, error)
	// CheckPurged is replicator.CheckPurged: it fails when the server no
	// longer holds every binlog transaction after pos.
	CheckPurged(ctx context.Context, pos replicator.Position) error
}

// Target reads the target server. Every method only reads.
type Target interface {
	Privileges(ctx context.Context) error
	Position(ctx context.Context) (string, error)
	Heartbeat(ctx context.Context, region string) (ts time.Time, ok bool, err error)
	// Checkpoints is the applier checkpoint, one row per partition (none
	// without drc_meta).
	Checkpoints(ctx context.Context) ([]drcmeta.Checkpoint, error)
	// Conflicts counts the cluster's conflicts, all and those recorded
	// within window of the server's clock, and names the newest.
	Conflicts(ctx context.Context, window time.Duration) (ConflictCount, error)
	// LastError is the error the applier last stopped on, or nil.
	LastError(ctx context.Context) (*StopError, error)
}

// Topic reads the pipeline's topic. Every method only reads.
type Topic interface {
	// Tails is replicator.PublishedTailTimes.
	Tails(ctx context.Context) (map[int32]replicator.Tail, error)
	// Ends is the high watermark of each partition, as a read_committed
	// reader sees it; empty when the topic does not exist.
	Ends(ctx context.Context) (map[int32]int64, error)
	// Pending returns, for each partition in from, the first committed
	// record at or after its offset (from the oldest retained for a
	// negative offset), if there is one now.
	Pending(ctx context.Context, from map[int32]int64) (map[int32]Pending, error)
}

// Pipeline names what Collect reads, for the report and its errors.
type Pipeline struct {
	Cluster                    string
	SourceRegion, TargetRegion string
	// SourceEndpoint and TargetEndpoint are host:port.
	SourceEndpoint, TargetEndpoint string
	Kafka                          kafkaconn.Conn
	Topic                          string
}

// Collect reads the pipeline through src, dst and topic and judges it
// (Assess). Any reading may fail; the report then carries the error,
// naming the endpoint, and the readings that worked. now is the status
// call's time.
func Collect(ctx context.Context, p Pipeline, src Source, dst Target, topic Topic, lim Limits, now time.Time) Report {
	r := Readings{
		Now: now, Cluster: p.Cluster,
		SourceRegion: p.SourceRegion, TargetRegion: p.TargetRegion,
		SourceEndpoint: p.SourceEndpoint, TargetEndpoint: p.TargetEndpoint,
		Brokers: p.Kafka.String(), Topic: p.Topic,
	}
	readSource(ctx, p, src, &r)
	readTarget(ctx, p, dst, lim, &r)
	readTopic(ctx, p, src, topic, &r)
	return Assess(r, lim)
}

func readSource(ctx context.Context, p Pipeline, src Source, r *Readings) {
	err := src.Privileges(ctx)
	pos := ""
	if err == nil {
		pos, err = src.Position(ctx)
	}
	if err != nil {
		r.SourceErr = endpointError("source", p.SourceRegion, p.SourceEndpoint, err)
		return
	}
	r.SourcePosition = pos
	if ts, ok, err := src.Heartbeat(ctx, p.SourceRegion); err == nil && ok {
		r.SourceHeartbeat = &ts
	}
	if e, err := src.BinlogExpiry(ctx); err == nil {
		r.BinlogExpiry = &e
	}
}

func readTarget(ctx context.Context, p Pipeline, dst Target, lim Limits, r *Readings) {
	fail := func(err error) {
		r.TargetErr = endpointError("target", p.TargetRegion, p.TargetEndpoint, err)
	}
	err := dst.Privileges(ctx)
	pos := ""
	if err == nil {
		pos, err = dst.Position(ctx)
	}
	if err != nil {
		fail(err)
		return
	}
	r.TargetPosition = pos
	if r.Checkpoints, err = dst.Checkpoints(ctx); err != nil {
		fail(err)
		return
	}
	if ts, ok, err := dst.Heartbeat(ctx, p.SourceRegion); err != nil {
		fail(err)
		return
	} else if ok {
		r.TargetHeartbeat = &ts
	}
	c, err := dst.Conflicts(ctx, lim.ConflictWindow)
	if err != nil {
		fail(err)
		return
	}
	r.Conflicts = &c
	if r.LastError, err = dst.LastError(ctx); err != nil {
		fail(err)
	}
}

func readTopic(ctx context.Context, p Pipeline, src Source, topic Topic, r *Readings) {
	fail := func(err error) {
		r.KafkaErr, r.KafkaRefused = kafkaError(p.Kafka, p.Topic, err)
		r.Tails, r.Ends, r.Pending = nil, nil, nil
	}
	var err error
	if r.Ends, err = topic.Ends(ctx); err != nil {
		fail(err)
		return
	}
	if len(r.Ends) == 0 {
		return
	}
	if r.Tails, err = topic.Tails(ctx); err != nil {
		fail(err)
		return
	}
	// Read from each checkpoint offset (the oldest retained record without
	// one), except where the checkpoint is at the high watermark already.
	from := make(map[int32]int64, len(r.Ends))
	for part := range r.Ends {
		from[part] = -1
	}
	for _, c := range r.Checkpoints {
		if end, ok := r.Ends[c.Part]; ok {
			from[c.Part] = c.Offset
			if c.Offset >= end {
				delete(from, c.Part)
			}
		}
	}
	if r.Pending, err = topic.Pending(ctx, from); err != nil {
		fail(err)
		return
	}
	if pos, _, ok := replicator.NewestTail(r.Tails); ok && r.SourceErr == nil {
		if err := src.CheckPurged(ctx, pos); err != nil {
			if errors.Is(err, replicator.ErrPurged) {
				r.PurgedErr = err
			} else {
				r.SourceErr = endpointError("source", p.SourceRegion, p.SourceEndpoint, err)
			}
		}
	}
}

// endpointError names the server an error came from, and says what to
// check when no retry can fix it.
func endpointError(role, region, endpoint string, err error) error {
	hint := ""
	switch {
	case mysqlerr.Denied(err):
		hint = " (refused: check the user, password, grants and TLS settings in the config)"
	case mysqlerr.UnknownHost(err):
		hint = " (the host name does not resolve: check the config)"
	}
	return fmt.Errorf("%s %s (%s): %w%s", role, region, endpoint, err, hint)
}

// kafkaError names the brokers an error came from and tells a refusal (a
// wrong password, a missing ACL, a certificate, a broker name that does not
// resolve), which waiting does not fix, from an outage.
func kafkaError(conn kafkaconn.Conn, topic string, err error) (error, bool) {
	if kerr := conn.Refused(err); kerr != nil {
		return kerr, true
	}
	if mysqlerr.UnknownHost(err) {
		return fmt.Errorf("kafka %s: a broker host name does not resolve: %w", conn, err), true
	}
	return fmt.Errorf("kafka %s, topic %s: %w", conn, topic, err), false
}
