package replicator

import "github.com/drc-dev/drc/internal/gtid"

// Position is a source GTID set in one flavor: "0-1-42,1-1-7" on MariaDB,
// "uuid:1-42" on MySQL. It is the only position drc ever stores: the last
// record of each published transaction carries the Position after it.
// It is gtid.Set under the name the replicator's API gives it; parse one
// with gtid.Parse.
type Position = gtid.Set
