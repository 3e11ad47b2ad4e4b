package status

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/drc-dev/drc/internal/drcmeta"
	"github.com/drc-dev/drc/replicator"
)

// Health is the verdict on a pipeline; each has an exit code of drc status.
type Health string

// The verdicts, mildest first.
const (
	Healthy  Health = "healthy"
	Degraded Health = "degraded"
	Failed   Health = "error"
)

// ExitCode is drc status's exit code for h: 0 healthy, 1 degraded, 2 error.
func (h Health) ExitCode() int {
	switch h {
	case Healthy:
		return 0
	case Degraded:
		return 1
	}
	return 2
}

func (h Health) rank() int { return h.ExitCode() }

// Limits are the thresholds of the verdict.
type Limits struct {
	// CaughtUpWithin is how old the oldest unapplied transaction may be
	// for a partition to count as caught up (see the package doc). Must be
	// positive; drc status uses twice the heartbeat interval plus a second,
	// the resolution of MariaDB's commit times.
	CaughtUpWithin time.Duration
	// MaxLag degrades a pipeline whose end-to-end or publish lag is above
	// it, or unknown. 0: no limit.
	MaxLag time.Duration
	// ConflictWindow: a conflict recorded within it degrades the pipeline.
	ConflictWindow time.Duration
}

// Report is the status of one pipeline at one moment: what drc status
// prints, as text or as JSON. The JSON field names are a contract for
// scripts; README's "Status and metrics" lists them.
type Report struct {
	Cluster   string    `json:"cluster"`
	CheckedAt time.Time `json:"checked_at"`
	Health    Health    `json:"health"`
	// Reasons says why the health is not healthy, most severe first; empty
	// when healthy.
	Reasons    []string          `json:"reasons"`
	Source     SourceStatus      `json:"source"`
	Kafka      KafkaStatus       `json:"kafka"`
	Target     TargetStatus      `json:"target"`
	Partitions []PartitionStatus `json:"partitions"`
}

// SourceStatus is the source region's side.
type SourceStatus struct {
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	// Position is the server's own GTID position.
	Position string `json:"position,omitempty"`
	// Published is the position after the newest transaction committed to
	// the topic (where a replicator started now would resume), and
	// PublishedAt that transaction's source commit time.
	Published   string     `json:"published,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	// PublishLagSeconds is the status call's time minus PublishedAt: it
	// grows while nothing is published, whatever the heartbeat row says.
	PublishLagSeconds *float64 `json:"publish_lag_seconds,omitempty"`
	// HeartbeatAgeSeconds is the age of the source's heartbeat row, which
	// a running replicator refreshes every heartbeat_interval, publishing
	// or not.
	HeartbeatAgeSeconds *float64 `json:"heartbeat_age_seconds,omitempty"`
	// PurgeHorizonSeconds is replicator.PurgeHorizon of PublishedAt, the
	// same number as drc_replicator_purge_horizon_seconds. When binlogs
	// never expire by age it is absent and PurgeHorizonNever is true.
	PurgeHorizonSeconds *float64 `json:"purge_horizon_seconds,omitempty"`
	PurgeHorizonNever   bool     `json:"purge_horizon_never,omitempty"`
	Error               string   `json:"error,omitempty"`
}

// KafkaStatus is the topic's side.
type KafkaStatus struct {
	// Brokers names the brokers, protocol and SASL user, never the
	// password (kafkaconn.Conn.String).
	Brokers   string `json:"brokers"`
	Topic     string `json:"topic"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

// PartitionStatus is one partition of the topic and the applier's
// progress in it.
type PartitionStatus struct {
	Partition     int32      `json:"partition"`
	HighWatermark int64      `json:"high_watermark"`
	Published     string     `json:"published,omitempty"`
	PublishedAt   *time.Time `json:"published_at,omitempty"`
	// CheckpointOffset is the applier's next offset (drcmeta.Checkpoint);
	// absent without a checkpoint row.
	CheckpointOffset *int64 `json:"checkpoint_offset,omitempty"`
	// OldestUnappliedAt is the source commit time of the first committed
	// record at or after the checkpoint offset: absent when there is none.
	OldestUnappliedAt *time.Time `json:"oldest_unapplied_at,omitempty"`
	// RecordsBehind counts offsets from that record to the high watermark:
	// records, and the Kafka transaction markers between them.
	RecordsBehind *int64 `json:"records_behind,omitempty"`
	// TransactionsBehind counts source transactions (heartbeats and
	// filtered ones included) in Published but not in the checkpoint.
	TransactionsBehind *int64 `json:"transactions_behind,omitempty"`
	CaughtUp           *bool  `json:"caught_up,omitempty"`
}

// TargetStatus is the target region's side.
type TargetStatus struct {
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
	Position string `json:"position,omitempty"`
	// Checkpoint is the applier's checkpoint, one row per partition.
	Checkpoint []drcmeta.Checkpoint `json:"checkpoint,omitempty"`
	// RecordsBehind is the partitions' sum; TransactionsBehind the
	// largest (every partition's position is the whole source's).
	RecordsBehind      *int64 `json:"records_behind,omitempty"`
	TransactionsBehind *int64 `json:"transactions_behind,omitempty"`
	// LagSeconds is end-to-end: the status call's time minus the newest
	// source heartbeat applied here.
	LagSeconds *float64 `json:"lag_seconds,omitempty"`
	// CaughtUp: every partition is (see the package doc);
	// CaughtUpWithinSeconds is the rule's threshold.
	CaughtUp              *bool          `json:"caught_up,omitempty"`
	CaughtUpWithinSeconds float64        `json:"caught_up_within_seconds"`
	Conflicts             *ConflictCount `json:"conflicts,omitempty"`
	// LastError is the error the applier last stopped on, if it recorded
	// one; Stopped says it is newer than the checkpoint, so the applier
	// has not run since.
	LastError *StopError `json:"last_error,omitempty"`
	Stopped   bool       `json:"stopped_on_error,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// ConflictCount summarises the target's drc_meta.conflicts rows of the
// cluster, without any row value.
type ConflictCount struct {
	Total         int64     `json:"total"`
	Recent        int64     `json:"recent"` // within WindowSeconds of the status call
	WindowSeconds float64   `json:"window_seconds"`
	Newest        *Conflict `json:"newest,omitempty"`
}

// Conflict names one conflict: when, where and what kind; never its rows.
type Conflict struct {
	At         time.Time `json:"at"`
	Table      string    `json:"table"`
	Kind       string    `json:"kind"`
	Resolution string    `json:"resolution"`
}

// StopError is the permanent error a role last stopped on, as it recorded
// it in drc_meta.stop_errors.
type StopError = drcmeta.StopError

// Pending is the oldest committed record the applier has not applied in
// one partition.
type Pending struct {
	Offset int64
	At     time.Time // its source commit time (the record's ts)
}

// Readings are what Collect read, each with its error; Assess judges them.
// A nil pointer or map is a reading that was not made or failed.
type Readings struct {
	Now                            time.Time // the status call's time
	Cluster                        string
	SourceRegion, TargetRegion     string
	SourceEndpoint, TargetEndpoint string
	Brokers, Topic                 string

	SourcePosition  string
	SourceHeartbeat *time.Time
	BinlogExpiry    *time.Duration
	// SourceErr: the source could not be read. PurgedErr: the source lacks
	// binlogs after the published position.
	SourceErr, PurgedErr error

	Tails   map[int32]replicator.Tail
	Ends    map[int32]int64   // high watermark per partition; empty: no topic
	Pending map[int32]Pending // absent: nothing unapplied
	// KafkaErr: Kafka could not be read; KafkaRefused: it refused the
	// credentials or a right, or a broker name does not resolve, which
	// no wait fixes.
	KafkaErr     error
	KafkaRefused bool

	TargetPosition  string
	Checkpoints     []drcmeta.Checkpoint
	TargetHeartbeat *time.Time
	Conflicts       *ConflictCount
	LastError       *StopError
	TargetErr       error
}

// verdict accumulates the health and its reasons.
type verdict struct {
	health  Health
	reasons [3][]string // by rank
}

func (v *verdict) add(h Health, format string, args ...any) {
	if h.rank() > v.health.rank() {
		v.health = h
	}
	v.reasons[h.rank()] = append(v.reasons[h.rank()], fmt.Sprintf(format, args...))
}

func (v *verdict) list() []string {
	out := []string{}
	for i := len(v.reasons) - 1; i >= 0; i-- {
		out = append(out, v.reasons[i]...)
	}
	return out
}

// Assess judges r against lim. It only computes: every reading was made
// before.
func Assess(r Readings, lim Limits) Report {
	v := verdict{health: Healthy}
	rep := Report{
		Cluster: r.Cluster, CheckedAt: r.Now,
		Source: SourceStatus{Region: r.SourceRegion, Endpoint: r.SourceEndpoint, Position: r.SourcePosition},
		Kafka:  KafkaStatus{Brokers: r.Brokers, Topic: r.Topic, Reachable: r.KafkaErr == nil},
		Target: TargetStatus{Region: r.TargetRegion, Endpoint: r.TargetEndpoint, Position: r.TargetPosition,
			Checkpoint: r.Checkpoints, CaughtUpWithinSeconds: lim.CaughtUpWithin.Seconds(),
			Conflicts: r.Conflicts, LastError: r.LastError},
	}
	assessSource(&rep, r, lim, &v)
	assessKafka(&rep, r, &v)
	assessTarget(&rep, r, lim, &v)
	rep.Health, rep.Reasons = v.health, v.list()
	return rep
}

func assessSource(rep *Report, r Readings, lim Limits, v *verdict) {
	src := &rep.Source
	if r.SourceErr != nil {
		src.Error = r.SourceErr.Error()
		v.add(Failed, "%s", src.Error)
	}
	if r.SourceHeartbeat != nil {
		src.HeartbeatAgeSeconds = age(r.Now, *r.SourceHeartbeat)
	}
	published, at, ok := replicator.NewestTail(r.Tails)
	if ok {
		src.Published = published.String()
		src.PublishedAt = &at
		src.PublishLagSeconds = age(r.Now, at)
	}
	if r.PurgedErr != nil {
		src.Error = joinErr(src.Error, r.PurgedErr.Error())
		v.add(Failed, "source %s: %v", r.SourceRegion, r.PurgedErr)
	}
	// The horizon needs the published time: without Kafka it is unknown,
	// and an empty topic counts as now, as for the metric.
	if r.BinlogExpiry != nil && r.KafkaErr == nil {
		h := replicator.PurgeHorizon(at, *r.BinlogExpiry, r.Now)
		if math.IsInf(h, 1) {
			src.PurgeHorizonNever = true
		} else {
			src.PurgeHorizonSeconds = &h
		}
	}
	if lim.MaxLag > 0 && r.KafkaErr == nil && ok && *src.PublishLagSeconds > lim.MaxLag.Seconds() {
		v.add(Degraded, "publish lag %s is above --max-lag %s: the replicator is not publishing (is it running? see heartbeat age)",
			seconds(*src.PublishLagSeconds), lim.MaxLag)
	}
}

func assessKafka(rep *Report, r Readings, v *verdict) {
	if r.KafkaErr == nil {
		if len(r.Ends) == 0 {
			v.add(Degraded, "topic %s does not exist on kafka %s: no replicator has published yet", r.Topic, r.Brokers)
		}
		return
	}
	rep.Kafka.Error = r.KafkaErr.Error()
	if r.KafkaRefused {
		v.add(Failed, "%s", rep.Kafka.Error)
		return
	}
	v.add(Degraded, "kafka unreachable: %s", rep.Kafka.Error)
}

func assessTarget(rep *Report, r Readings, lim Limits, v *verdict) {
	dst := &rep.Target
	if r.TargetErr != nil {
		dst.Error = r.TargetErr.Error()
		v.add(Failed, "%s", dst.Error)
	}
	if r.TargetHeartbeat != nil {
		dst.LagSeconds = age(r.Now, *r.TargetHeartbeat)
	}
	if lim.MaxLag > 0 && r.TargetErr == nil {
		switch {
		case dst.LagSeconds == nil:
			v.add(Degraded, "end-to-end lag unknown (no source heartbeat applied on target %s yet) with --max-lag %s", r.TargetRegion, lim.MaxLag)
		case *dst.LagSeconds > lim.MaxLag.Seconds():
			v.add(Degraded, "end-to-end lag %s is above --max-lag %s", seconds(*dst.LagSeconds), lim.MaxLag)
		}
	}
	if c := r.Conflicts; c != nil && c.Recent > 0 {
		msg := fmt.Sprintf("%d conflicts recorded on target %s in the last %s", c.Recent, r.TargetRegion, time.Duration(c.WindowSeconds*float64(time.Second)))
		if n := c.Newest; n != nil {
			msg += fmt.Sprintf(" (newest %s on %s: %s, %s); drc_meta.conflicts has their rows", n.At.UTC().Format(time.RFC3339), n.Table, n.Kind, n.Resolution)
		}
		v.add(Degraded, "%s", msg)
	}
	if e := r.LastError; e != nil {
		var newest time.Time
		for _, c := range r.Checkpoints {
			if c.UpdatedAt.After(newest) {
				newest = c.UpdatedAt
			}
		}
		if e.At.After(newest) {
			dst.Stopped = true
			v.add(Degraded, "the applier stopped on an error at %s and has not applied anything since: %s", e.At.UTC().Format(time.RFC3339), e.Error)
		}
	}
	if r.TargetErr != nil {
		return
	}
	rep.Partitions = partitions(r, lim)
	if r.KafkaErr != nil || len(r.Ends) == 0 {
		return // caught up is unknown
	}
	caught := true
	var records, txns int64
	txnsKnown := true
	var oldest *time.Time
	for _, p := range rep.Partitions {
		caught = caught && p.CaughtUp != nil && *p.CaughtUp
		if p.RecordsBehind != nil {
			records += *p.RecordsBehind
		}
		if p.TransactionsBehind == nil {
			txnsKnown = false
		} else {
			txns = max(txns, *p.TransactionsBehind)
		}
		if p.OldestUnappliedAt != nil && (oldest == nil || p.OldestUnappliedAt.Before(*oldest)) {
			oldest = p.OldestUnappliedAt
		}
	}
	dst.CaughtUp, dst.RecordsBehind = &caught, &records
	if txnsKnown {
		dst.TransactionsBehind = &txns
	}
	if !caught {
		msg := fmt.Sprintf("target %s is behind: %d records", r.TargetRegion, records)
		if txnsKnown {
			msg += fmt.Sprintf(", %d source transactions", txns)
		}
		if oldest != nil {
			msg += fmt.Sprintf("; the oldest unapplied was committed %s before this check (caught up means within %s)", seconds(r.Now.Sub(*oldest).Seconds()), lim.CaughtUpWithin)
		}
		if len(r.Checkpoints) == 0 {
			msg += "; it has no applier checkpoint (has drc apply run?)"
		}
		v.add(Degraded, "%s", msg)
	}
}

// partitions joins, per partition of the topic, Kafka's offsets and tail
// with the applier's checkpoint, and applies the caught-up rule.
func partitions(r Readings, lim Limits) []PartitionStatus {
	cps := map[int32]drcmeta.Checkpoint{}
	for _, c := range r.Checkpoints {
		cps[c.Part] = c
	}
	parts := make([]int32, 0, len(r.Ends))
	for p := range r.Ends {
		parts = append(parts, p)
	}
	for p := range cps {
		if _, ok := r.Ends[p]; !ok && r.KafkaErr != nil {
			parts = append(parts, p) // Kafka unread: show the checkpoint alone
		}
	}
	slices.Sort(parts)
	out := make([]PartitionStatus, 0, len(parts))
	for _, p := range parts {
		ps := PartitionStatus{Partition: p, HighWatermark: r.Ends[p]}
		tail, hasTail := r.Tails[p]
		if hasTail {
			at := tail.Time
			ps.Published, ps.PublishedAt = tail.Position.String(), &at
		}
		cp, hasCP := cps[p]
		if hasCP {
			off := cp.Offset
			ps.CheckpointOffset = &off
		}
		if r.KafkaErr == nil {
			var behind int64
			caught := true
			if pend, ok := r.Pending[p]; ok {
				at := pend.At
				ps.OldestUnappliedAt = &at
				behind = max(0, r.Ends[p]-pend.Offset)
				caught = r.Now.Sub(pend.At) <= lim.CaughtUpWithin
			}
			ps.RecordsBehind, ps.CaughtUp = &behind, &caught
		}
		// Nothing published in the partition: nothing to apply. Published
		// but no checkpoint: every transaction is behind.
		switch n, err := transactionsBehind(tail.Position, cp.GTIDSet); {
		case !hasTail:
			ps.TransactionsBehind = new(int64)
		case err == nil:
			ps.TransactionsBehind = &n
		}
		out = append(out, ps)
	}
	return out
}

// age is now - t in seconds, never negative: a heartbeat read after the
// status call began is not from the future.
func age(now, t time.Time) *float64 {
	s := max(0, now.Sub(t).Seconds())
	return &s
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// seconds prints a number of seconds as a duration, to the millisecond.
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}
