package idgen

import (
	"encoding/json"
	"errors"
	"strconv"
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

func TestFieldsAgreeWithDecompose(t *testing.T) {
	for _, l := range []Layout{DefaultLayout(), {TimeUnit: 10 * time.Millisecond, StartTime: DefaultLayout().StartTime,
		SequenceBits: 8, RegionBits: 3, NodeBits: 13}} {
		sf, err := l.sonyflake()
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 80_000_000, time.UTC)
		for _, c := range []struct{ seq, region, node int }{{0, 0, 0}, {200, 5, 99}, {1<<l.SequenceBits - 1, 1<<l.RegionBits - 1, 1<<l.NodeBits - 1}} {
			id, err := sf.Compose(at, c.seq, l.MachineID(c.region, c.node))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decompose(id, l)
			if err != nil {
				t.Fatal(err)
			}
			elapsed, seq, region, node := l.Fields(id)
			if elapsed != p.Elapsed || seq != p.Sequence || region != p.Region || node != p.Node {
				t.Errorf("layout %s id %d: Fields = %d %d %d %d, Decompose = %+v", l, id, elapsed, seq, region, node, p)
			}
			if region != c.region || node != c.node || seq != c.seq {
				t.Errorf("id %d: Fields region %d node %d seq %d, composed with %+v", id, region, node, seq, c)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	l := DefaultLayout()
	sf, err := l.sonyflake()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	compose := func(at time.Time, region int) int64 {
		id, err := sf.Compose(at, 7, l.MachineID(region, 3))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name   string
		id     int64
		region int
		want   error
	}{
		{"own region", compose(now.Add(-time.Minute), 2), 2, nil},
		{"slightly ahead", compose(now.Add(time.Minute), 2), 2, nil},
		{"other region", compose(now, 1), 2, ErrForeignID},
		{"zero", 0, 0, ErrNotDRCID},
		{"negative", -5, 0, ErrNotDRCID},
		{"auto increment", 12345, 0, ErrNotDRCID},
		{"far future", compose(now.Add(48*time.Hour), 2), 2, ErrNotDRCID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Check(tt.id, tt.region, now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check(%d, %d) = %v, want nil", tt.id, tt.region, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check(%d, %d) = %v, want %v", tt.id, tt.region, err, tt.want)
			}
			if !strings.Contains(err.Error(), strconv.FormatInt(tt.id, 10)) {
				t.Errorf("error %q does not name the id", err)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() { _ = l.Check(compose(now, 2), 2, now) }); n != 0 {
		t.Errorf("Check allocates %v times on success", n)
	}
}
