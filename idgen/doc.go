// Package idgen is drc's ID generator: region-bound Sonyflake IDs, so that
// rows written in different regions never collide on a primary key.
//
// # The ID
//
// An ID is a positive int64 (63 bits) in sonyflake/v2's layout, with the
// machine ID split into a configured region and a leased node:
//
//	| time (TimeBits) | sequence (SequenceBits) | region (RegionBits) | node (NodeBits) |
//	  63-S-R-N bits     S bits                    R bits                N bits
//
//	time     = (issue time - StartTime) / TimeUnit, truncated
//	machine  = region<<NodeBits | node        (sonyflake's machine ID)
//	id       = time<<(S+R+N) | sequence<<(R+N) | machine
//
// DefaultLayout is 1ms units, 41 time bits (until 2094 from 2025-01-01),
// 12 sequence bits (4,096 IDs per ms per node), 3 region bits and 7 node
// bits. The layout is fixed for a deployment: every region uses the same one
// (that is what keeps their ranges apart), and the first node to start
// stores it in idgen_layout; a node configured differently refuses to start
// with ErrLayoutMismatch, naming both layouts. Decompose (and `drc idgen
// decompose ID`, GET /v1/ids/{id}) splits an ID back into its parts; the
// server and `decompose --config` add the region's name beside its number
// (Parts.RegionName; region=1(a) in text).
//
// # Why not sonyflake's NextID
//
// Layout validation, ToTime and Decompose are sonyflake's own; the IDs are
// bit-for-bit what its Compose produces (tested). But the sequencing is ours,
// because sonyflake v2.2.0's NextID
//   - sleeps while holding its mutex when a unit's sequence runs out, and,
//     after a backward clock step, sleeps for as long as the step (an hour
//     step blocks every caller for an hour);
//   - starts from zero in every process, so a restart with the clock behind
//     repeats IDs;
//   - calls time.Now itself, so a test cannot step its clock.
//
// The generator (generator.go) keeps the same state (last time unit,
// sequence) under one mutex, reads the Clock under it, and never sleeps:
// every refusal returns at once as a sentinel error, and Node.Next waits for
// the next unit outside the lock when the sequence runs out. Its cost per ID
// is sonyflake's (time.Now dominates both).
//
// # Leases
//
// Node bits are leased from drc_meta.idgen_leases in the region's own MySQL,
// so regions need no coordination with each other. One row per (region,
// node):
//
//	region_id     INT UNSIGNED     PK part; configured region id
//	node_id       INT UNSIGNED     PK part; leased node id
//	owner         VARCHAR(255)     holder, host/pid/random: unique per process
//	epoch         BIGINT UNSIGNED  +1 at every acquisition; renew and release
//	                               are fenced on (owner, epoch)
//	expires_at    DATETIME(6)      UTC by the database clock (UTC_TIMESTAMP(6));
//	                               free to take once passed
//	high_water    BIGINT           in layout time units: every ID ever issued
//	                               under this machine ID has a smaller time part
//	high_water_at DATETIME(6)      high_water as a UTC time, for people
//	acquired_at   DATETIME(6)      UTC, last change of epoch
//	updated_at    DATETIME(6)      UTC, last acquire, renew or release
//
// drc_meta.idgen_layout holds one row (id = 1, CHECK enforced):
// time_unit_ns, start_unix_ns, start_time (UTC, for people), time_bits,
// sequence_bits, region_bits, node_bits, created_at. And
// drc_meta.idgen_regions names the regions whose nodes use this database:
//
//	region_id  INT UNSIGNED  PK; configured region id
//	name       VARCHAR(64)   UNIQUE (ascii_bin); Config.RegionName
//	updated_at DATETIME(6)   UTC, when a node of the region last started
//
// SQLLeaseStore.DDL returns the exact statements; EnsureLayout runs them
// (IF NOT EXISTS).
//
// After the layout check, a node with a RegionName stores (Region,
// RegionName) with EnsureRegion. If its number is stored under another
// name, or its name under another number, it refuses to start with a
// RegionConflictError naming both rows: two regions configured with one
// number would issue colliding IDs, which is what the region bits exist to
// prevent. Both columns are unique keys, so of two such nodes starting at
// once one inserts and the other sees its row. The node then knows the
// names of Config.RegionNames plus the stored ones (a stored row wins over
// a configured entry it contradicts, with a warning). The table lives with
// the leases, in each region's own MySQL, and drc_meta is not replicated:
// it catches conflicts among nodes that share a lease database, not two
// regions that each have their own; config validation checks that
// idgen.regions gives every region its own number.
//
// Acquisition is one transaction: SELECT the region's rows FOR UPDATE
// (acquirers serialise on those row and gap locks), pick a node ID that has
// no row or whose row has expired, and INSERT it or UPDATE it fenced on the
// old epoch and on expiry, checking the affected rows. Two nodes racing for
// one node ID: exactly one commits; the other gets a deadlock or duplicate
// key, retries, and sees the winner's row. Expired rows are reclaimed, so
// nodes that come and go do not use up the node bits; among free IDs the
// lowest one whose mark is not ahead of the acquirer's clock is preferred.
//
// A node renews every RenewInterval (default TTL/3). Its lease deadline is
// the clock reading taken *before* the renew statement was sent, plus TTL,
// minus TTL/10; the database's expires_at counts from a later instant (the
// statement's UTC_TIMESTAMP), so the node always stops issuing before its
// lease can expire and be taken over, by at least TTL/10 on top of the
// network delay. The deadline is checked on every call against the clock's
// monotonic reading, so a wall-clock step cannot extend it, and a hung
// renewal (statements have timeouts) cannot either. If renewal fails,
// issuing stops at the deadline; if the database comes back before anyone
// took the row (same epoch), issuing resumes; if someone did, renewal
// returns ErrLeaseLost and the node acquires a new node ID.
//
// # Clock safety
//
// The high-water mark is persisted ahead of use: every acquisition and
// renewal writes high_water = GREATEST(high_water, now + LeaseTTL) before
// the node may issue up to it, and the generator never issues a time part at
// or above the mark it knows to be committed. So the stored mark is always
// above every issued time, whatever happens to the process, and the hot path
// never touches the database. A TTL ahead lines the mark up with the lease
// expiry, so a node ID reclaimed after a crash is usable at once by a node
// with a correct clock. A clean shutdown lowers the mark to one past the last
// time actually issued.
//
// A node that acquires a node ID starts issuing only once its clock has
// passed the row's mark (the floor). Behind by no more than MaxClockWait, it
// waits (healthz 503, phase waiting_for_clock, renewing meanwhile); behind by
// more, it releases the row and Run returns a ClockBehindError that says by
// how much. It never issues below the floor, so it never repeats an ID.
//
// At run time, issued time may run ahead of the clock by at most
// BackwardBudget: when a unit's sequence runs out the generator borrows the
// next unit (as sonyflake does, minus the sleep) within that budget, and a
// backward clock step within the budget is absorbed by continuing the
// sequence. A step beyond it makes every call return ErrClockBackward at
// once (healthz 503, drc_idgen_clock_ok 0) until the clock has caught up;
// nothing blocks for the length of the step.
//
// # Serving
//
// Server runs a Node and the HTTP API (see routes in http.go): GET
// /v1/ids?count=N returns {"ids":["…"]} (decimal strings: 63-bit IDs do
// not fit a JavaScript number), GET /v1/ids/{id} decomposes, /healthz
// reports NodeState (503 when not issuing), /metrics serves the registry
// passed in (drc_idgen_* metrics). A bearer token, if configured, guards
// /v1/. Package client is the Go client with prefetch and failover.
package idgen
