// Package harness starts real servers for drc's integration tests and
// benchmarks: isolated MariaDB instances and one Apache Kafka broker (KRaft)
// per test binary. Nothing here is a mock.
//
// # Use from a test package
//
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		src := harness.StartMariaDB(t, harness.ServerOptions{GTIDDomainID: 1})
//		k := harness.SharedKafka(t)
//		topic := harness.UniqueName("drc_test")
//		k.CreateTopic(t, topic, 1)
//		...
//	}
//
// Main owns the one piece of package state: the per-test-binary *Env that the
// package-level helpers (StartMariaDB, SharedKafka, Ensure) use. It is created
// before m.Run and closed after it; Close stops the shared broker and any
// server a test left running. Programs (the bench runner) create their own Env
// with NewEnv, call its methods, and pass a ProgramTB where a TB is needed.
//
// # What starts, and how
//
//   - Ensure runs deploy/local/install once per Env. It installs missing apt
//     packages and resolves the pinned Kafka jars into
//     ${DRC_CACHE:-$HOME/.cache/drc}. So a fresh machine works; tests never
//     skip because a server is missing.
//   - MariaDB: a template datadir (mariadb-install-db plus the drc user) is
//     built once per machine under the cache directory, keyed by the server
//     version, and copied for each instance. Each instance runs mariadbd with
//     --no-defaults (the Debian service and /etc/mysql are never used) on a
//     free 127.0.0.1 port, with binlog_format=ROW, binlog_row_image=FULL,
//     binlog_row_metadata=FULL, gtid_strict_mode=ON and log_slave_updates=ON.
//     Durability is relaxed (innodb_flush_log_at_trx_commit=2, no doublewrite):
//     that survives a killed process, which is what outage tests do, but not
//     an OS crash, which no test does.
//   - Kafka: one single-node KRaft broker (controller and broker in one JVM),
//     formatted with kafka.tools.StorageTool and started lazily on first use
//     of SharedKafka. Readiness is a real metadata round trip with sarama.
//
// Every child process gets SIGKILL when the test binary dies (Pdeathsig), so a
// panicking or timed-out test leaves no servers behind. Each Env keeps its
// files under one temporary directory; directories of dead test binaries are
// removed the next time an Env is created. Set DRC_HARNESS_KEEP=1 to keep the
// directories of failed tests for inspection.
//
// Helpers report failure through TB.Fatalf, naming what failed and including
// the tail of the server's log.
package harness
