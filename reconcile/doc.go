// Package reconcile finds and repairs drift between a source and a target
// database: rows that differ although replication says the target is caught
// up. It is `drc reconcile`.
//
// # The story of a run
//
// Run resolves the table patterns on both sides and plans each table: the
// columns compared (all but generated ones; the column sets must match) and
// the key that orders and identifies rows, the primary key or else a unique
// key whose columns are NOT NULL on both sides. A table without one, or whose
// key is unusable (nullable, a column prefix, FLOAT, ENUM, different
// collations on the two sides), is reported as not comparable, with the
// reason. Tables are compared Concurrency at a time. Each table runs as two
// stages joined by a bounded queue:
//
//  1. scan hashes the table chunk by chunk, on both sides at once;
//  2. settle narrows every mismatched part to rows, decides which
//     differences are real (settling), repairs them if asked, and records
//     the chunk as done in the target's drc_meta.
//
// # Chunks and parts
//
// A chunk is a run of consecutive key ranges, its parts, of about PartRows
// rows each, hashed in one statement per side (one SELECT per part, joined
// with UNION ALL). The number of parts per chunk adapts so that a chunk takes
// about ChunkTime. Parts are the unit of mismatch: a mismatched part is small,
// so narrowing it is cheap, and the single statement keeps round trips and
// parsing per chunk constant. Part bounds follow the key: for a single
// integer key they are computed (lo+w, lo+2w, … with w adapted to the key
// density, gaps skipped by asking both sides for the next key); for any other
// key, composite ones included, every PartRows-th key is read from the
// source. The first part is open below and the last part open above, so rows
// that exist only on the target, or were inserted after the run started, are
// compared too. Ranges are written as expanded comparisons
// (a > x OR (a = x AND b > y)) with a leading a >= x that the range
// optimizer turns into an index range, under FORCE INDEX on the key.
//
// # The hash
//
// Each part is compared by its row count and a digest the database computes:
// SHA2(GROUP_CONCAT(fields SEPARATOR X'0A'), 256), that is 256 bits over
// the part's rows in key order (MD5, 128 bits, with Digest "md5"). The
// expression is built once from the source's schema and runs unchanged on
// both sides. The canonical row encoding (builder.encodingFields) is, field
// by field, separated by '|':
//
//   - text and binary values as LENGTH(v) and v: the exact bytes, framed by
//     their length so that no value can shift its neighbours' fields (the
//     columns "x|y","z" and "x","y|z" encode differently); trailing spaces are
//     kept, and comparison never goes through a collation, so 'a' and 'A' or
//     'a' and 'a ' differ. CHAR values are read as the server returns them,
//     trailing pad stripped, the same on both sides (PAD_CHAR_TO_FULL_LENGTH
//     is cleared in the session), since CHAR does not store trailing spaces;
//   - integers and DECIMAL as their exact text, DECIMAL with its scale;
//     dates and times with their fraction;
//   - FLOAT and DOUBLE as CAST(v AS DOUBLE): compared by value, through the
//     shortest text that round-trips the exact double. FLOAT's own text keeps
//     six digits and would hide a change in the seventh;
//   - TIMESTAMP as UNIX_TIMESTAMP(v), independent of time_zone;
//   - BIT as its number;
//   - last, ISNULL() of every nullable column: a NULL field is blanked (in a
//     part, where GROUP_CONCAT would drop a row with a NULL argument) or
//     skipped (CONCAT_WS, in a row's digest), and the flags keep NULL apart
//     from the empty string (and from an empty binary value).
//
// In a part the fields are GROUP_CONCAT's own arguments (builder.partEncoding):
// it appends them to the part's text directly, where a CONCAT_WS per row
// would first build each row's string; that alone made hashing a part about
// a fifth cheaper (below).
//
// When a table mixes character sets, text columns are cast to BINARY before
// concatenation (no conversion, no collation clash); a column whose character
// set differs between the sides is compared as CONVERT(v USING utf8mb4).
//
// What a part's digest detects. The encoding is injective: every row parses
// back from the part's text (numbers, dates and flags contain neither '|'
// nor a newline, every text or binary value is preceded by its length), so
// two parts whose rows differ in any way, in any number of rows, have
// different texts. A missing or extra row changes the count as well. Two
// different texts get the same digest only by a collision of SHA-256
// (MD5): for changes nobody chose to collide, about 2⁻²⁵⁶ (2⁻¹²⁸) per part,
// far inside the bound the project holds every digest to: any single-row
// change is detected with probability at least 1 − 2⁻⁶⁴ per chunk. DESIGN's
// 128-bit rule comes from peers whose 32-bit CRC aggregates missed real
// drift.
//
// Cheaper digests that were measured and did not pay (MariaDB 10.11, the
// bench's sysbench rows, µs per row on one core, hashing parts of 1,000 rows;
// the scan alone, COUNT(*), costs 0.18–0.21):
//
//   - SHA-256 over GROUP_CONCAT of a CONCAT_WS per row (the previous
//     encoding): 1.08–1.20; over the multi-argument GROUP_CONCAT: 0.89.
//     SHA1 costs the same (the CPU has SHA instructions for both), MD5 more
//     (1.15), CRC32 of the same text no less (0.94): the hash is not where
//     the time goes once the text is built, GROUP_CONCAT is (0.5 of it).
//   - A 64-bit digest per row from two 32-bit CRCs, SUM(CRC32(r) << 32 |
//     CRC32C(r)): 0.95–1.12. It would meet the bound: CRC32 and CRC32C are
//     linear codes with different generator polynomials, which are coprime
//     (checked: their GCD over GF(2) is 1), so a change e to a row of the same
//     length escapes both only if their product, of degree 64, divides e:
//     2⁻⁶⁴ for a change that is not chosen to collide, and changes within 64
//     bits always show. It must be aggregated by SUM, not BIT_XOR: under
//     XOR the part's value is a CRC of the XOR of its rows, so swapping a
//     value between two rows of the same length cancels exactly. But the
//     row's encoding is computed twice, SUM of integers is DECIMAL
//     arithmetic, and CRC32C() is MariaDB's alone (MySQL 9.7 has neither it
//     nor MD5 nor SHA1): no cheaper than the multi-argument SHA-256, and
//     weaker against changes of several rows.
//   - CRC32 and CRC32C of one part text: the text must be built twice
//     (1.58), or materialized in a derived table (1.63).
//   - One BIT_XOR(CRC32(row)), pt-table-sync's construction: 0.62–0.73, and
//     32 bits with XOR cancellation: below the bound.
//
// The concatenation depends on row order; under FORCE INDEX a range scan of
// a clustered primary key yields key order, and a secondary unique key gets
// an explicit ORDER BY inside GROUP_CONCAT. Were the order ever to differ, the part would mismatch and be
// narrowed to rows, which compares rows by key: slower, never wrong.
// GROUP_CONCAT is capped by group_concat_max_len, which the session sets to
// max_allowed_packet; a cut part raises warning 1260, which is checked after
// every hash, and the chunk is redone with smaller parts. A digest is never
// computed over a truncated part.
//
// # Narrowing
//
// A mismatched part of at most PartRows rows (on either side) is fetched as
// (key, digest of the row's encoding) from both sides and compared by key:
// missing on the target, extra on the target, or changed. A larger part (a
// dense key region, or rows only one side has) is bisected at its middle key,
// each half hashed on both sides, and only halves that differ are narrowed
// further.
//
// # Settling
//
// A mismatch found while replication is running may be lag. A candidate is
// reported as drift only if it still differs in a comparison where the target
// had applied everything the source had when the source was read.
//
// Positions. The source's position is @@gtid_binlog_pos (MariaDB) or
// @@gtid_executed (MySQL), read inside the START TRANSACTION WITH CONSISTENT
// SNAPSHOT that reads the chunk, after the snapshot is taken. Everything
// visible in the snapshot was written to the binlog before it became visible,
// so the position is an upper bound of the snapshot's contents: waiting for
// it can only wait longer, never too little. The target's progress is the
// applier's drc_meta.apply_checkpoint row(s) for Cluster, which the applier
// writes in the same transaction as the rows it applies. "Passed" means, for
// MariaDB, that for each domain of the source position the checkpoint's
// seq_no is at least as large; for MySQL, set containment (gtid.Set.Contains,
// whose doc says what a domain listed twice means).
// Every partition's row must have passed: reconcile does not know which
// partition carries a table, and waiting for all can only delay a verdict.
//
// Cheap rounds. Candidates are first re-read without locks, up to
// SettleRounds times: wait until the checkpoint has passed the position of the
// last source read, read the target, read the source again in a new snapshot.
// Rows that now match are dropped; this clears almost every lag-induced
// candidate. A round that drops nothing ends the rounds early.
//
// Exact confirmation. What is left is drift, or rows that are written all the
// time. They are told apart under locks: read the rows on the source with
// LOCK IN SHARE MODE (a missing key's gap is locked too), then the source
// position P. Every transaction that ever wrote those rows committed, and so
// reached the binlog, before the locks were granted, so it is in P; and while
// the locks are held no transaction can write them. Once the checkpoint has
// passed P, the target's rows owe nothing to replication: any difference is
// drift, even under live writes and even when the target has since applied
// transactions past P. To keep writers waiting as little as possible, the
// confirmation first waits (without locks) for the target to catch up with
// the current source position, and holds the locks for at most LockWait per
// attempt before letting go and trying again. If the checkpoint does not pass
// within SettleTimeout, the candidates are reported as unsettled: never as
// drift, and the run exits 1 with a message saying so.
//
// Without an applier there is no checkpoint, and settling is impossible. Run
// then fails with ErrNoCheckpoint, unless Settle is false, which says
// explicitly that nothing replicates into the target: candidates are then
// confirmed by one plain re-read.
//
// # Repair
//
// With Repair, each confirmed difference is repaired inside its confirmation's
// lock window, when no replicated change to those rows can race the repair:
// the source's row as read under lock is written to the target (INSERT for a
// missing row, UPDATE of every column for a changed one, DELETE for an extra
// one), RepairBatch rows per transaction, deletes first. The statements are
// literal SQL, exactly what a dry run prints. A failing batch is retried row
// by row; a row that still fails (say, a unique-key clash with another
// drifted row) is reported with its error.
//
// Repairs are marked by running them with SET SESSION sql_log_bin = 0 on the
// target: they reach neither the target's binlog nor, therefore, its
// replicator (which would send them back to the source region) nor anyone
// else. This needs SUPER or BINLOG ADMIN; without it Run fails at once with
// ErrRepairNotMarked instead of writing unmarked repairs. (The alternative, a
// marker row written first in each repair transaction, would need the
// replicator to recognise and drop those transactions; sql_log_bin=0 needs
// nothing from anyone.) The cost: a native replica of the target does not see
// repairs either; reconcile it separately.
//
// Repairs are throttled by replication lag: before a batch's rows are locked,
// reconcile waits for the target to catch up with the source; if that took
// longer than MaxLag the batch waits and tries again, within SettleTimeout.
// After repair, a second pass runs the exact confirmation again over every
// repaired row; a row that still differs is reported as not repaired.
//
// # State and resume
//
// Progress lives in the target's drc_meta (the replicator does not publish
// those tables): drc_meta.reconcile_runs, one row per run, and
// drc_meta.reconcile_chunks, one row per finished chunk with its upper key
// and what it found. The run id is derived from the cluster, the table
// patterns and the repair flag (RunID), so running the same command again
// after a kill resumes: finished chunks are skipped and their findings
// reported again. A run that finished starts over; Restart forces that.
//
// # Output
//
// Report.WriteText prints a table per table, the differences (key, kind,
// columns that differ), the unsettled candidates and, for a dry run, the
// repair SQL. Report.WriteJSON writes the same as one JSON document. Exit
// codes (Report.ExitCode, ExitCode): 0 consistent (or repaired and
// verified), 1 drift left unrepaired, candidates unsettled or tables not
// comparable, 2 an error.
//
// # ID ranges
//
// IDRanges is a separate check, `drc reconcile --id-ranges`: it compares
// nothing between the sides. On each side it scans the columns that must
// hold drc IDs (the applier's id_columns) and groups their values, in the
// database, by the region and node bits of the ID layout: one GROUP BY
// query per column, with MIN and MAX of each group, which are its first and
// last ID in time because time is the most significant part. Values outside
// the range a drc ID can have (Layout.Check's rule: positive, a non-zero
// time part, at most idgen.MaxSkew in the future, and so never a BIGINT
// UNSIGNED above 2^63-1) form one group of their own. A group of a region
// not allowed on the side is foreign: a writer issuing, or copying, IDs of
// the wrong region, and since when. The source region is always allowed;
// the target region too when the pair is two-way, decided as the applier
// does. Each side decodes with the layout its own drc_meta.idgen_layout
// holds, if any. Exit codes: 0 nothing foreign, 1 foreign IDs or values
// that are not drc IDs, 2 an error.
package reconcile
