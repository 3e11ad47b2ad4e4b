package idgen

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLayoutValidate(t *testing.T) {
	ok := DefaultLayout()
	tests := []struct {
		name    string
		mod     func(*Layout)
		wantErr string
	}{
		{"default", func(*Layout) {}, ""},
		{"sonyflake default", func(l *Layout) {
			*l = Layout{TimeUnit: 10 * time.Millisecond, StartTime: l.StartTime, SequenceBits: 8, RegionBits: 4, NodeBits: 12}
		}, ""},
		{"no sequence bits", func(l *Layout) { l.SequenceBits = 0 }, "sequence bits"},
		{"no node bits", func(l *Layout) { l.NodeBits = 0 }, "node bits"},
		{"machine too wide", func(l *Layout) { l.RegionBits, l.NodeBits = 16, 15 }, "≤30"},
		{"time too narrow", func(l *Layout) { l.SequenceBits = 22 }, "32 time bits"},
		{"unit too small", func(l *Layout) { l.TimeUnit = time.Microsecond }, "at least 1ms"},
		{"start in future", func(l *Layout) { l.StartTime = time.Now().Add(time.Hour) }, "start time is ahead"},
		{"start unset", func(l *Layout) { l.StartTime = time.Time{} }, "not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ok
			tt.mod(&l)
			err := l.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecomposeMatchesSonyflakeCompose(t *testing.T) {
	l := Layout{TimeUnit: 10 * time.Millisecond, StartTime: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		SequenceBits: 8, RegionBits: 3, NodeBits: 13}
	sf, err := l.sonyflake()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 80_000_000, time.UTC)
	id, err := sf.Compose(at, 200, l.MachineID(5, 4321))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decompose(id, l)
	if err != nil {
		t.Fatal(err)
	}
	want := Parts{ID: id, Time: at, Elapsed: l.unitOf(at), Sequence: 200, Machine: 5<<13 | 4321, Region: 5, Node: 4321}
	if got != want {
		t.Fatalf("Decompose(%d)\n got %+v\nwant %+v", id, got, want)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"id":"`) {
		t.Errorf("JSON %s: id must be a string", b)
	}
	var back Parts
	if err := json.Unmarshal(b, &back); err != nil || back != want {
		t.Errorf("JSON round trip: got %+v, %v", back, err)
	}
	if s := got.String(); !strings.Contains(s, "region=5 node=4321 sequence=200") {
		t.Errorf("String() = %q", s)
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"123", 123, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"12a", 0, false},
		{"1e3", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseID(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q): error %v does not wrap ErrInvalidID", tt.in, err)
		}
	}
}

func TestLayoutJSONRoundTrip(t *testing.T) {
	l := DefaultLayout()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var got Layout
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(l) {
		t.Fatalf("got %s, want %s (json %s)", got, l, b)
	}
	if !strings.Contains(string(b), `"time_bits":41`) {
		t.Errorf("json %s lacks time_bits 41", b)
	}
}

// FuzzParseIDDecompose: any string either fails to parse with ErrInvalidID
// or is an ID whose parts compose back to it.
func FuzzParseIDDecompose(f *testing.F) {
	for _, s := range []string{"0", "250029979637645441", "9223372036854775807", "-1", "1e9", " 1", "0x10"} {
		f.Add(s)
	}
	l := DefaultLayout()
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("ParseID(%q): %v does not wrap ErrInvalidID", s, err)
			}
			return
		}
		p, err := Decompose(id, l)
		if err != nil {
			t.Fatalf("Decompose(%d): %v", id, err)
		}
		back := p.Elapsed<<(l.SequenceBits+l.MachineBits()) | int64(p.Sequence)<<l.MachineBits() | int64(l.MachineID(p.Region, p.Node))
		if back != id || p.Machine != l.MachineID(p.Region, p.Node) {
			t.Fatalf("Decompose(%d) = %+v composes back to %d", id, p, back)
		}
	})
}
