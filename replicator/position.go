package replicator

import (
	"context"
	"fmt"

	"github.com/drc-dev/drc/internal/gtid"
	"github.com/drc-dev/drc/internal/mysqlconn"
)

// Position is a source GTID set in one flavor: "0-1-42,1-1-7" on MariaDB,
// "uuid:1-42" on MySQL. It is the only position drc ever stores: the last
// record of each published transaction carries the Position after it.
// It is gtid.Set under the name the replicator's API gives it; parse one
// with gtid.Parse.
type Position = gtid.Set

// Queryer is a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer = mysqlconn.Queryer

// ServerPosition is the GTID set a server has written to its binlog
// (mysqlconn.Flavor.PositionVariable).
func ServerPosition(ctx context.Context, q Queryer, flavor string) (Position, error) {
	var s string
	if err := q.QueryRowContext(ctx, mysqlconn.Flavor(flavor).PositionQuery()).Scan(&s); err != nil {
		return Position{}, fmt.Errorf("read the server's GTID position: %w", err)
	}
	return gtid.Parse(flavor, s)
}
