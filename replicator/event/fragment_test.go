package event

import (
	"bytes"
	"strings"
	"testing"
)

func TestFragmentsRoundTrip(t *testing.T) {
	value := bytes.Repeat([]byte("0123456789"), 25) // 250 bytes
	for _, size := range []int{250, 1000, 100, 7, 1} {
		parts, headers := Fragments(value, size)
		if size >= len(value) {
			if len(parts) != 1 || headers != nil {
				t.Fatalf("size %d: %d parts, headers %q; want the value whole", size, len(parts), headers)
			}
			continue
		}
		if want := (len(value) + size - 1) / size; len(parts) != want || len(headers) != want {
			t.Fatalf("size %d: %d parts, %d headers; want %d", size, len(parts), len(headers), want)
		}
		var a Assembler
		for i, p := range parts {
			if len(p) > size {
				t.Fatalf("size %d: part %d is %d bytes", size, i, len(p))
			}
			rec, first, ok, err := a.Add(headers[i], p, int64(100+i))
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i == len(parts)-1) {
				t.Fatalf("size %d: part %d ok = %v", size, i, ok)
			}
			if ok && (!bytes.Equal(rec, value) || first != 100) {
				t.Fatalf("size %d: assembled %d bytes from offset %d", size, len(rec), first)
			}
		}
		if a.Open() {
			t.Errorf("size %d: assembler still open", size)
		}
	}
}

func TestAssemblerRejectsBrokenSequences(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // "" = no header
		wantErr string
	}{
		{"missing start", []string{"1/3"}, "without the fragments before it"},
		{"gap", []string{"0/3", "2/3"}, "fragment 2/3, want 1/3"},
		{"other count", []string{"0/3", "1/4"}, "want 1/3"},
		{"whole record inside", []string{"0/2", ""}, "a whole record inside fragmented record at offset 0"},
		{"bad header", []string{"x"}, "bad drc-fragment header"},
		{"one of one", []string{"0/1"}, "bad drc-fragment header"},
		{"index past count", []string{"3/3"}, "bad drc-fragment header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			var err error
			for i, h := range tt.headers {
				var hb []byte
				if h != "" {
					hb = []byte(h)
				}
				if _, _, _, err = a.Add(hb, []byte("x"), int64(i)); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// A restart inside a transaction publishes it again: fragment 0 starts over.
	var a Assembler
	a.Add([]byte("0/2"), []byte("ab"), 1)
	rec, first, ok, err := a.Add([]byte("0/2"), []byte("cd"), 2)
	if ok || err != nil {
		t.Fatalf("second fragment 0: ok %v err %v", ok, err)
	}
	rec, first, ok, err = a.Add([]byte("1/2"), []byte("ef"), 3)
	if !ok || err != nil || string(rec) != "cdef" || first != 2 {
		t.Fatalf("after a restart: %q from %d, %v, %v", rec, first, ok, err)
	}
}
