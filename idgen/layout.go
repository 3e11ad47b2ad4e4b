package idgen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/sony/sonyflake/v2"
)

// Layout is the bit layout of an ID. It is fixed for a deployment: every
// region uses the same one, and it is stored in drc_meta.idgen_layout so that
// a node configured differently refuses to start.
//
//	63 bits = time (63-SequenceBits-RegionBits-NodeBits) | sequence | region | node
//
// region|node together is sonyflake's machine ID.
type Layout struct {
	// TimeUnit is the resolution of the time part (sonyflake: at least 1ms).
	TimeUnit time.Duration
	// StartTime is the epoch of the time part; it must not be in the future.
	StartTime time.Time
	// SequenceBits is how many IDs one node can issue per time unit: 2^bits.
	SequenceBits int
	// RegionBits and NodeBits split the machine ID. Region IDs are
	// configured; node IDs are leased.
	RegionBits int
	NodeBits   int
}

// DefaultLayout is the layout withDefaults fills in: 1ms units, 12 sequence
// bits (4,096,000 IDs/s per node), 3 region bits, 7 node bits, leaving 41
// time bits (about 69 years from 2025-01-01). Sonyflake's own default (10ms,
// 8 sequence bits) caps a node at 25,600 IDs/s, too few for a shared service.
func DefaultLayout() Layout {
	return Layout{
		TimeUnit:     time.Millisecond,
		StartTime:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		SequenceBits: 12,
		RegionBits:   3,
		NodeBits:     7,
	}
}

// TimeBits is what the other parts leave of 63 bits.
func (l Layout) TimeBits() int { return 63 - l.SequenceBits - l.RegionBits - l.NodeBits }

// MachineBits is sonyflake's BitsMachineID: region and node bits together.
func (l Layout) MachineBits() int { return l.RegionBits + l.NodeBits }

// Nodes is the number of node IDs a region can lease.
func (l Layout) Nodes() int { return 1 << l.NodeBits }

// MachineID is region bits | node bits.
func (l Layout) MachineID(region, node int) int { return region<<l.NodeBits | node }

// Validate checks the layout with sonyflake's own rules (it builds a
// Sonyflake with it), plus ours: sonyflake reads 0 bits as "default", so
// every part must have at least one bit here, except region bits.
func (l Layout) Validate() error {
	switch {
	case l.SequenceBits < 1 || l.SequenceBits > 30:
		return fmt.Errorf("idgen layout: sequence bits must be 1..30, got %d", l.SequenceBits)
	case l.RegionBits < 0 || l.NodeBits < 1:
		return fmt.Errorf("idgen layout: region bits must be ≥0 and node bits ≥1, got %d and %d", l.RegionBits, l.NodeBits)
	case l.MachineBits() > 30:
		return fmt.Errorf("idgen layout: region bits + node bits must be ≤30, got %d", l.MachineBits())
	case l.TimeBits() < 32:
		return fmt.Errorf("idgen layout: sequence+region+node bits must leave ≥32 time bits, got %d", l.TimeBits())
	case l.TimeUnit < time.Millisecond:
		return fmt.Errorf("idgen layout: time unit must be at least 1ms, got %s", l.TimeUnit)
	case l.StartTime.IsZero():
		return fmt.Errorf("idgen layout: start time is not set")
	}
	if _, err := l.sonyflake(); err != nil {
		return fmt.Errorf("idgen layout %s: %w", l, err)
	}
	return nil
}

// sonyflake builds a Sonyflake with this layout. We never call its NextID
// (see doc.go); it validates the layout and decomposes IDs.
func (l Layout) sonyflake() (*sonyflake.Sonyflake, error) {
	return sonyflake.New(sonyflake.Settings{
		BitsSequence:  l.SequenceBits,
		BitsMachineID: l.MachineBits(),
		TimeUnit:      l.TimeUnit,
		StartTime:     l.StartTime,
		MachineID:     func() (int, error) { return 0, nil },
	})
}

// Equal compares layouts field by field (StartTime as an instant).
func (l Layout) Equal(o Layout) bool {
	return l.TimeUnit == o.TimeUnit && l.StartTime.Equal(o.StartTime) &&
		l.SequenceBits == o.SequenceBits && l.RegionBits == o.RegionBits && l.NodeBits == o.NodeBits
}

func (l Layout) String() string {
	return fmt.Sprintf("time_unit=%s start_time=%s time_bits=%d sequence_bits=%d region_bits=%d node_bits=%d",
		l.TimeUnit, l.StartTime.UTC().Format(time.RFC3339Nano), l.TimeBits(), l.SequenceBits, l.RegionBits, l.NodeBits)
}

// startUnits and unitOf convert like sonyflake's toInternalTime, so that our
// IDs are bit-for-bit the IDs sonyflake would compose.
func (l Layout) startUnits() int64 { return l.StartTime.UTC().UnixNano() / int64(l.TimeUnit) }

func (l Layout) unitOf(t time.Time) int64 { return t.UnixNano()/int64(l.TimeUnit) - l.startUnits() }

func (l Layout) timeOf(elapsed int64) time.Time {
	return time.Unix(0, (l.startUnits()+elapsed)*int64(l.TimeUnit)).UTC()
}

// Parts is a decomposed ID. Its JSON form writes the ID as a decimal string,
// because 63-bit IDs do not fit a JavaScript number.
type Parts struct {
	ID       int64     `json:"id,string"`
	Time     time.Time `json:"time"`    // start of the time unit the ID was issued in
	Elapsed  int64     `json:"elapsed"` // time units since the layout's start time
	Sequence int       `json:"sequence"`
	Machine  int       `json:"machine"` // region<<node_bits | node
	Region   int       `json:"region"`
	// RegionName is the region's name when the decomposer knows it (from
	// idgen.regions or drc_meta.idgen_regions); Decompose leaves it empty.
	RegionName string `json:"region_name,omitempty"`
	Node       int    `json:"node"`
}

// String writes the parts on one line; a known region name follows the
// number in parentheses: region=1(eu-west).
func (p Parts) String() string {
	region := strconv.Itoa(p.Region)
	if p.RegionName != "" {
		region += "(" + p.RegionName + ")"
	}
	return fmt.Sprintf("id=%d time=%s region=%s node=%d sequence=%d machine=%d elapsed=%d",
		p.ID, p.Time.UTC().Format(time.RFC3339Nano), region, p.Node, p.Sequence, p.Machine, p.Elapsed)
}

// Decompose splits id into its parts according to layout, using sonyflake's
// own Decompose and ToTime for time, sequence and machine.
func Decompose(id int64, layout Layout) (Parts, error) {
	if id < 0 {
		return Parts{}, fmt.Errorf("decompose %d: %w: negative", id, ErrInvalidID)
	}
	sf, err := layout.sonyflake()
	if err != nil {
		return Parts{}, fmt.Errorf("decompose %d: layout %s: %w", id, layout, err)
	}
	m := sf.Decompose(id)
	machine := int(m["machine"])
	return Parts{
		ID:       id,
		Time:     sf.ToTime(id).UTC(),
		Elapsed:  m["time"],
		Sequence: int(m["sequence"]),
		Machine:  machine,
		Region:   machine >> layout.NodeBits,
		Node:     machine & (1<<layout.NodeBits - 1),
	}, nil
}

// ParseID parses a decimal ID as written by the HTTP API and the CLI.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("parse id %q: %w: want a decimal integer 0..%d", s, ErrInvalidID, int64(^uint64(0)>>1))
	}
	return id, nil
}

// layoutJSON is Layout's JSON form, used by /healthz and the CLI.
type layoutJSON struct {
	TimeUnit     string    `json:"time_unit"`
	StartTime    time.Time `json:"start_time"`
	TimeBits     int       `json:"time_bits"`
	SequenceBits int       `json:"sequence_bits"`
	RegionBits   int       `json:"region_bits"`
	NodeBits     int       `json:"node_bits"`
}

// MarshalJSON writes the time unit as a Go duration string and adds the
// derived time bits for the reader.
func (l Layout) MarshalJSON() ([]byte, error) {
	return json.Marshal(layoutJSON{
		TimeUnit: l.TimeUnit.String(), StartTime: l.StartTime.UTC(), TimeBits: l.TimeBits(),
		SequenceBits: l.SequenceBits, RegionBits: l.RegionBits, NodeBits: l.NodeBits,
	})
}

// UnmarshalJSON reads what MarshalJSON writes; time_bits is ignored.
func (l *Layout) UnmarshalJSON(b []byte) error {
	var j layoutJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("idgen layout json: %w", err)
	}
	unit, err := time.ParseDuration(j.TimeUnit)
	if err != nil {
		return fmt.Errorf("idgen layout json: time_unit: %w", err)
	}
	*l = Layout{TimeUnit: unit, StartTime: j.StartTime, SequenceBits: j.SequenceBits,
		RegionBits: j.RegionBits, NodeBits: j.NodeBits}
	return nil
}

// Fields splits id into its parts with shifts and masks only: no
// allocation, for per-row checks. It agrees with Decompose, which uses
// sonyflake's own functions (tested).
func (l Layout) Fields(id int64) (elapsed int64, sequence, region, node int) {
	node = int(id & (1<<l.NodeBits - 1))
	region = int(id >> l.NodeBits & (1<<l.RegionBits - 1))
	sequence = int(id >> l.MachineBits() & (1<<l.SequenceBits - 1))
	elapsed = id >> (l.MachineBits() + l.SequenceBits)
	return elapsed, sequence, region, node
}

// ElapsedAt is the time part an ID issued at t has: time units since the
// layout's start time.
func (l Layout) ElapsedAt(t time.Time) int64 { return l.unitOf(t) }

// MaxSkew is how far in the future of the checking clock an ID's time may
// be and still count as issued by idgen: clocks of different hosts differ,
// and a row is checked after it was written. An ID further ahead was not
// made by a node of this layout.
const MaxSkew = time.Hour

// Check reports why id is not an ID issued by region under this layout, or
// nil when it is. now is the checking clock. It does not allocate on
// success.
//
// An ID is not a drc ID when it is zero or negative, when its time part is
// zero (a small number such as an AUTO_INCREMENT value: no node issues IDs
// in the layout's first time unit), or when its time is more than MaxSkew
// after now. An ID of another region is ErrForeignID.
func (l Layout) Check(id int64, region int, now time.Time) error {
	if id <= 0 {
		return fmt.Errorf("%w: %d is not positive", ErrNotDRCID, id)
	}
	elapsed, _, r, _ := l.Fields(id)
	if elapsed == 0 {
		return fmt.Errorf("%w: %d has no time part (%d < 2^%d): not issued by idgen", ErrNotDRCID, id, id, 63-l.TimeBits())
	}
	if elapsed > l.unitOf(now.Add(MaxSkew)) {
		return fmt.Errorf("%w: %d would have been issued at %s, in the future", ErrNotDRCID, id, l.timeOf(elapsed).Format(time.RFC3339Nano))
	}
	if r != region {
		return fmt.Errorf("%w: %d belongs to region %d, not %d", ErrForeignID, id, r, region)
	}
	return nil
}
