package idgen

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Callers match them with errors.Is; IsRetryable says which
// ones a caller may retry (here or on another node) without changing anything.
var (
	// ErrLayoutMismatch: the configured layout differs from the one stored in
	// drc_meta.idgen_layout. Permanent: the node refuses to start, because
	// IDs from two layouts can collide.
	ErrLayoutMismatch = errors.New("idgen: configured layout differs from the stored layout")

	// ErrRegionConflict: this node's region number is stored in
	// drc_meta.idgen_regions under another region's name, or its name under
	// another number. Permanent: the node refuses to start, because two
	// regions issuing under one number collide. See RegionConflictError.
	ErrRegionConflict = errors.New("idgen: region number or name belongs to another region")

	// ErrNoFreeNode: every node id of the region is leased and unexpired.
	// Transient: leases of vanished nodes expire after their TTL.
	ErrNoFreeNode = errors.New("idgen: no free node id in region")

	// ErrLeaseLost: the lease row no longer belongs to this holder (another
	// node took it after it expired). The node stops issuing and acquires a
	// new lease.
	ErrLeaseLost = errors.New("idgen: lease lost")

	// ErrNotIssuing: the node holds no usable lease right now (starting,
	// waiting for the clock, re-acquiring or stopped).
	ErrNotIssuing = errors.New("idgen: not issuing: no lease")

	// ErrLeaseExpiring: the lease was not renewed in time and the node stopped
	// issuing, a safety margin before the lease expires in the database.
	ErrLeaseExpiring = errors.New("idgen: not issuing: lease not renewed in time")

	// ErrNotReserved: the clock reached the persisted high-water mark before
	// a renewal raised it (usually: the database is slow or unreachable, or
	// the clock jumped forwards).
	ErrNotReserved = errors.New("idgen: not issuing: high-water mark not yet persisted this far")

	// ErrClockBackward: the clock is further behind the last issued time than
	// the backward-step budget. Returned at once instead of blocking until
	// the clock catches up; issuing resumes by itself when it has.
	ErrClockBackward = errors.New("idgen: clock stepped backwards beyond the budget")

	// ErrSequenceExhausted: the sequence of the current time unit is used up
	// and running further ahead of the clock would exceed the budget. Wait
	// for the next time unit (Node.Next does).
	ErrSequenceExhausted = errors.New("idgen: sequence exhausted for this time unit")

	// ErrClockBehind: at start, the clock is behind the high-water mark of
	// the leased node id by more than the configured wait. See
	// ClockBehindError for the numbers.
	ErrClockBehind = errors.New("idgen: clock is behind the high-water mark")

	// ErrOverTimeLimit: the time bits of the layout are used up.
	ErrOverTimeLimit = errors.New("idgen: time bits of the layout are exhausted")

	// ErrInvalidID: a string or number is not an ID of the layout.
	ErrInvalidID = errors.New("idgen: invalid id")

	// ErrNotDRCID: a value in a column that must hold drc IDs was not
	// issued by idgen at all (zero, an AUTO_INCREMENT value, a time in the
	// future). See Layout.Check.
	ErrNotDRCID = errors.New("idgen: not a drc id")

	// ErrForeignID: an ID was issued in another region than the one the row
	// was written in. See Layout.Check.
	ErrForeignID = errors.New("idgen: id of another region")
)

// IsRetryable reports whether err is a transient refusal to issue: the same
// call may succeed later, or on another node, with nothing changed.
func IsRetryable(err error) bool {
	for _, e := range []error{ErrNotIssuing, ErrLeaseExpiring, ErrNotReserved,
		ErrClockBackward, ErrSequenceExhausted, ErrNoFreeNode, ErrLeaseLost} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ClockBehindError is the start-up refusal: the clock would have to move
// Behind forwards to pass the high-water mark of the node id, and that is
// longer than MaxWait. Waiting less would risk repeating IDs.
type ClockBehindError struct {
	Region, Node int
	HighWater    time.Time // the persisted mark
	Now          time.Time // the clock when it gave up
	Behind       time.Duration
	MaxWait      time.Duration
}

func (e *ClockBehindError) Error() string {
	return fmt.Sprintf("idgen: clock is %s behind the high-water mark %s of region %d node %d, "+
		"more than max_clock_wait %s; refusing to issue IDs that could repeat "+
		"(fix the clock, or raise max_clock_wait)",
		e.Behind, e.HighWater.UTC().Format(time.RFC3339Nano), e.Region, e.Node, e.MaxWait)
}

// Is makes errors.Is(err, ErrClockBehind) true.
func (e *ClockBehindError) Is(target error) bool { return target == ErrClockBehind }

// RegionConflictError is the start-up refusal of a node whose region number
// or name is already another region's in the idgen_regions table.
type RegionConflictError struct {
	Table  string // schema.idgen_regions
	Region int    // configured number
	Name   string // configured name
	// NameOfRegion is the name stored for Region ("" if none or the same);
	// RegionOfName the number stored for Name (-1 if none or the same).
	NameOfRegion string
	RegionOfName int
}

func (e *RegionConflictError) Error() string {
	var stored []string
	if e.NameOfRegion != "" {
		stored = append(stored, fmt.Sprintf("region %d is %q", e.Region, e.NameOfRegion))
	}
	if e.RegionOfName >= 0 {
		stored = append(stored, fmt.Sprintf("%q is region %d", e.Name, e.RegionOfName))
	}
	return fmt.Sprintf("idgen: %s in %s, but this node is configured as region %d %q; "+
		"refusing to start: each region needs its own number, or the IDs of two regions collide "+
		"(fix idgen.regions or idgen.region_id; if a region was renamed or renumbered on purpose, "+
		"delete its old row from %s first)",
		strings.Join(stored, " and "), e.Table, e.Region, e.Name, e.Table)
}

// Is makes errors.Is(err, ErrRegionConflict) true.
func (e *RegionConflictError) Is(target error) bool { return target == ErrRegionConflict }
