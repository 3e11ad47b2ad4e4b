package helm

import (
	"os"
	"testing"
)

func TestZZDump(t *testing.T) {
	m, err := renderErr(readValues(t, twoPipelines))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/h8-rendered.yaml", []byte(m), 0o644)
}
