package bootstrap

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Key is a primary-key value: one element per key column, as read in the
// binary protocol (int64, uint64, float32, float64 or []byte). A nil Key is
// an open bound: minus infinity as a chunk's low end, plus infinity as its
// high end.
type Key []any

// keyOf extracts the key of a row, normalizing values so that they bind
// exactly: an unsigned BIGINT above MaxInt64 arrives as text and is bound
// as uint64, never as a string that would be compared as a double.
func (t *Table) keyOf(row []any) (Key, error) {
	k := make(Key, len(t.PK))
	for i, p := range t.PK {
		v := row[p]
		if b, ok := v.([]byte); ok {
			if t.Columns[p].Kind == KindInteger {
				u, err := strconv.ParseUint(string(b), 10, 64)
				if err != nil {
					return nil, fmt.Errorf("key column %s: %q is not an integer", t.Columns[p].Name, b)
				}
				v = u
			} else {
				v = append([]byte(nil), b...)
			}
		}
		if v == nil {
			return nil, fmt.Errorf("key column %s is NULL", t.Columns[p].Name)
		}
		k[i] = v
	}
	return k, nil
}

// keyElem is the stored form of one key value: exactly one field is set.
type keyElem struct {
	I *int64   `json:"i,omitempty"`
	U *uint64  `json:"u,omitempty"`
	F *float64 `json:"f,omitempty"`
	// F32 keeps FLOAT keys float32, so they bind as the exact same value.
	F32 *float64 `json:"f32,omitempty"`
	B   *string  `json:"b,omitempty"` // base64
}

// EncodeKey returns the stored form of k (JSON), or "" for an open bound.
// It is deterministic: a chunk's low bound is stored as the exact bytes of
// the previous chunk's high bound, and gaps are found by comparing them.
func EncodeKey(k Key) (string, error) {
	if k == nil {
		return "", nil
	}
	elems := make([]keyElem, len(k))
	for i, v := range k {
		switch x := v.(type) {
		case int64:
			elems[i].I = &x
		case uint64:
			elems[i].U = &x
		case float32:
			f := float64(x)
			elems[i].F32 = &f
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return "", fmt.Errorf("key value %v cannot be stored", x)
			}
			elems[i].F = &x
		case []byte:
			s := base64.StdEncoding.EncodeToString(x)
			elems[i].B = &s
		default:
			return "", fmt.Errorf("key value of type %T cannot be stored", v)
		}
	}
	b, err := json.Marshal(elems)
	if err != nil {
		return "", fmt.Errorf("encode key: %w", err)
	}
	return string(b), nil
}

// DecodeKey parses EncodeKey's form; "" is an open bound (nil).
func DecodeKey(s string) (Key, error) {
	if s == "" {
		return nil, nil
	}
	var elems []keyElem
	if err := json.Unmarshal([]byte(s), &elems); err != nil {
		return nil, fmt.Errorf("decode key %q: %w", s, err)
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("decode key %q: empty", s)
	}
	k := make(Key, len(elems))
	for i, e := range elems {
		switch {
		case e.I != nil:
			k[i] = *e.I
		case e.U != nil:
			k[i] = *e.U
		case e.F32 != nil:
			k[i] = float32(*e.F32)
		case e.F != nil:
			k[i] = *e.F
		case e.B != nil:
			b, err := base64.StdEncoding.DecodeString(*e.B)
			if err != nil {
				return nil, fmt.Errorf("decode key %q: %w", s, err)
			}
			k[i] = b
		default:
			return nil, fmt.Errorf("decode key %q: element %d has no value", s, i)
		}
	}
	return k, nil
}
