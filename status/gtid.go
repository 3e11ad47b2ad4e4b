package status

import (
	"fmt"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/replicator"
)

// transactionsBehind counts the source transactions in published that the
// checkpoint's GTID set (in published's flavor) lacks (gtid.Set.CountMissing).
func transactionsBehind(published replicator.Position, checkpoint string) (int64, error) {
	cp, err := gtid.Parse(published.Flavor(), checkpoint)
	if err != nil {
		return 0, fmt.Errorf("checkpoint gtid_set: %w", err)
	}
	return cp.CountMissing(published), nil
}
