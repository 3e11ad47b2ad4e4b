package applier

import (
	"errors"
	"math"
	"testing"
)

func TestInterpolate(t *testing.T) {
	tests := []struct {
		tmpl string
		args []any
		want string
	}{
		{"INSERT INTO `d`.`t` (`a`, `b?`) VALUES (?, ?), (?, ?)", []any{int64(-1), "x'y", uint64(18446744073709551615), nil},
			"INSERT INTO `d`.`t` (`a`, `b?`) VALUES (-1, 'x\\'y'), (18446744073709551615, NULL)"},
		{"UPDATE `a``?` SET `c` = CAST(? AS DECIMAL(10,2)) WHERE `k` = ? AND `b` <=> CONVERT(CONVERT(? USING binary) USING gbk)",
			[]any{"1.50", 0.1, []byte{0, 0xff, 'a'}},
			"UPDATE `a``?` SET `c` = CAST('1.50' AS DECIMAL(10,2)) WHERE `k` = 1e-01 AND `b` <=> CONVERT(CONVERT(X'00ff61' USING binary) USING gbk)"},
		{"SELECT ?", []any{"\\ \x00 \n \r \x1a \""}, `SELECT '\\ \0 \n \r \Z "'`},
		{"SELECT ?", []any{[]byte{}}, `SELECT X''`},
		{"SELECT ?", []any{math.Float64frombits(1)}, `SELECT 5e-324`},
	}
	for _, tt := range tests {
		got, err := interpolate(nil, tt.tmpl, tt.args)
		if err != nil || string(got) != tt.want {
			t.Errorf("interpolate(%q, %v)\n got %s, %v\nwant %s", tt.tmpl, tt.args, got, err, tt.want)
		}
	}
}

func TestInterpolateRefuses(t *testing.T) {
	if _, err := interpolate(nil, "SELECT ?", []any{math.Copysign(0, -1)}); !errors.Is(err, errNoLiteral) {
		t.Errorf("-0: err = %v, want errNoLiteral", err)
	}
	if _, err := interpolate(nil, "SELECT ?", []any{struct{}{}}); !errors.Is(err, errNoLiteral) {
		t.Errorf("struct: err = %v, want errNoLiteral", err)
	}
	if _, err := interpolate(nil, "SELECT ?, ?", []any{int64(1)}); err == nil || errors.Is(err, errNoLiteral) {
		t.Errorf("too few arguments: err = %v, want a permanent error", err)
	}
	if _, err := interpolate(nil, "SELECT `?`", []any{int64(1)}); err == nil {
		t.Error("a ? inside an identifier was taken as a placeholder")
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		got, want []int64
		ok        bool
	}{
		{[]int64{0, 1, 1, 3}, []int64{1, 3}, true},
		{[]int64{0, 2, 1, 3}, []int64{1, 3}, true}, // the slot row's count is not checked
		{[]int64{0, 1, 0, 3}, []int64{1, 3}, false},
		{[]int64{0, 1, 1}, []int64{1, 3}, false},
		{[]int64{0, 1, 7}, []int64{-1}, true},
	}
	for _, tt := range tests {
		if ok := matches(tt.got, tt.want); ok != tt.ok {
			t.Errorf("matches(%v, %v) = %v, want %v", tt.got, tt.want, ok, tt.ok)
		}
	}
}
