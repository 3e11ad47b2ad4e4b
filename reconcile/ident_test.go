package reconcile

import (
	"testing"
)

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"t", "`t`"},
		{"we`ird", "`we``ird`"},
		{"with space", "`with space`"},
		{"naïve ß", "`naïve ß`"},
		{"``", "``````"},
		{"a.b", "`a.b`"},
	}
	for _, tt := range tests {
		if got := QuoteIdent(tt.in); got != tt.want {
			t.Errorf("QuoteIdent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
