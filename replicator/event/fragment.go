package event

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrMidFragment: a fragment other than the first, with no record open. A
// reader that starts at an arbitrary offset can meet it first.
var ErrMidFragment = errors.New("fragment without the fragments before it")

// A record whose JSON is larger than one Kafka record may be (the topic's
// max.message.bytes) travels as n consecutive Kafka records of the same
// partition and key, in one Kafka transaction. Each carries the header
// FragmentHeader with the value "i/n" (i from 0) and, as its value, the
// i-th slice of the record's JSON; concatenated in order they are the
// record. Records that fit carry no such header, so event format v1 is
// unchanged for every record a replicator could publish before.
const FragmentHeader = "drc-fragment"

// Fragments cuts value into slices of at most size bytes (sharing value's
// memory) and returns them with their header values. A value of at most
// size bytes is returned whole, with no header.
func Fragments(value []byte, size int) (parts [][]byte, headers [][]byte) {
	if len(value) <= size {
		return [][]byte{value}, nil
	}
	n := (len(value) + size - 1) / size
	for i := 0; i < n; i++ {
		end := min((i+1)*size, len(value))
		parts = append(parts, value[i*size:end:end])
		headers = append(headers, []byte(strconv.Itoa(i)+"/"+strconv.Itoa(n)))
	}
	return parts, headers
}

// Assembler joins fragments back into records, for one partition read in
// offset order.
type Assembler struct {
	buf   []byte
	next  int // index of the fragment expected next; 0 when none is open
	total int
	first int64 // offset of fragment 0 of the open record
}

// Add takes the Kafka record at offset, with the value of its
// FragmentHeader (nil when it has none). It returns the whole record and
// the offset of its first Kafka record once complete; ok is false while a
// fragmented record is still incomplete. A record without the header is
// returned as is. Fragment 0 always starts a new record: a replicator that
// restarted inside a transaction publishes it again from its start. After
// an error the next record starts afresh.
//
// The returned bytes are valid until the next call.
func (a *Assembler) Add(header, value []byte, offset int64) (record []byte, first int64, ok bool, err error) {
	defer func() {
		if err != nil {
			a.next = 0 // start afresh after a broken sequence
		}
	}()
	if header == nil {
		if a.next > 0 {
			return nil, 0, false, fmt.Errorf("offset %d: a whole record inside fragmented record at offset %d (fragment %d of %d expected)", offset, a.first, a.next, a.total)
		}
		return value, offset, true, nil
	}
	i, n, err := parseFragment(header)
	if err != nil {
		return nil, 0, false, fmt.Errorf("offset %d: %w", offset, err)
	}
	switch {
	case i == 0:
		a.buf, a.next, a.total, a.first = a.buf[:0], 0, n, offset
	case a.next == 0:
		return nil, 0, false, fmt.Errorf("offset %d: fragment %d/%d: %w", offset, i, n, ErrMidFragment)
	case i != a.next || n != a.total:
		return nil, 0, false, fmt.Errorf("offset %d: fragment %d/%d, want %d/%d of the record at offset %d", offset, i, n, a.next, a.total, a.first)
	}
	a.buf = append(a.buf, value...)
	a.next++
	if a.next < a.total {
		return nil, 0, false, nil
	}
	a.next = 0
	rec := a.buf
	if cap(a.buf) > 64<<20 {
		a.buf = nil // do not keep a huge buffer for ordinary records
	}
	return rec, a.first, true, nil
}

// Open reports whether a fragmented record is incomplete.
func (a *Assembler) Open() bool { return a.next > 0 }

func parseFragment(h []byte) (i, n int, err error) {
	s := string(h)
	for k := 0; k < len(s); k++ {
		if s[k] == '/' {
			i, err1 := strconv.Atoi(s[:k])
			n, err2 := strconv.Atoi(s[k+1:])
			if err1 == nil && err2 == nil && i >= 0 && n >= 2 && i < n {
				return i, n, nil
			}
			break
		}
	}
	return 0, 0, fmt.Errorf("bad %s header %q: want i/n with 0 <= i < n, n >= 2", FragmentHeader, s)
}
