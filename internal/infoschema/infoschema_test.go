package infoschema

import "testing"

func TestIsGenerated(t *testing.T) {
	for extra, want := range map[string]bool{
		"VIRTUAL GENERATED":    true,
		"STORED GENERATED":     true,
		"PERSISTENT GENERATED": true,
		"virtual generated":    true,
		"PERSISTENT":           true,
		"DEFAULT_GENERATED":    false, // MySQL: DEFAULT CURRENT_TIMESTAMP(6)
		"DEFAULT_GENERATED on update CURRENT_TIMESTAMP(6)": false,
		"on update current_timestamp()":                    false,
		"auto_increment":                                   false,
		"INVISIBLE":                                        false,
		"":                                                 false,
	} {
		if got := IsGenerated(extra); got != want {
			t.Errorf("IsGenerated(%q) = %v, want %v", extra, got, want)
		}
	}
}
