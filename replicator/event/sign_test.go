package event

import (
	"bytes"
	"testing"
)

func TestSigner(t *testing.T) {
	key := bytes.Repeat([]byte{7}, MinKeyBytes)
	recs := [][2]string{{"s.t/[1]", `{"seq":0}`}, {"s.t/[2]", `{"seq":1,"last":true}`}}
	sign := func(key []byte, topic string, part int32, recs [][2]string) []byte {
		s := NewSigner(key, topic, part)
		for _, r := range recs {
			s.Add([]byte(r[0]), []byte(r[1]))
		}
		return s.Sum()
	}
	sig := sign(key, "drc.c", 0, recs)
	v := NewSigner(key, "drc.c", 0)
	for _, r := range recs {
		v.Add([]byte(r[0]), []byte(r[1]))
	}
	if !v.Verify(sig) {
		t.Fatal("a signature does not verify")
	}
	v.Reset()
	if v.Verify(sig) {
		t.Error("an empty transaction verifies another's signature")
	}
	for name, other := range map[string][]byte{
		"other key":       sign(bytes.Repeat([]byte{8}, MinKeyBytes), "drc.c", 0, recs),
		"other topic":     sign(key, "drc.d", 0, recs),
		"other partition": sign(key, "drc.c", 1, recs),
		"record dropped":  sign(key, "drc.c", 0, recs[:1]),
		"value changed":   sign(key, "drc.c", 0, [][2]string{recs[0], {"s.t/[2]", `{"seq":1,"last":false}`}}),
		"boundary moved":  sign(key, "drc.c", 0, [][2]string{{"s.t/[1]{", `"seq":0}`}, recs[1]}),
	} {
		if bytes.Equal(other, sig) {
			t.Errorf("%s: same signature", name)
		}
	}
	if v.Verify(nil) {
		t.Error("a missing signature verifies")
	}
}
