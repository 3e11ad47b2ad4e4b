package integration

import (
	"os"
	"testing"

	"github.com/drc-dev/drc/integration/harness"
)

// TestMain gives the package one harness environment: one shared Kafka broker
// (started on first use) and cleanup of every server at the end.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
