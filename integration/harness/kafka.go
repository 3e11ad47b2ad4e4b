package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/drc-dev/drc/internal/kafkaconn"
)

const (
	kafkaReadyLimit = 120 * time.Second // JVM start on 2 busy cores
	kafkaStopLimit  = 60 * time.Second
	kafkaStartTries = 3
)

// Kafka is a single-node KRaft broker (controller and broker in one JVM).
type Kafka struct {
	Bootstrap string // "127.0.0.1:port"

	// A secure broker's (KafkaOptions.Secure): the CA its certificate is
	// signed with, and its super user, which SaramaConfig connects as.
	CA                       string
	AdminUser, AdminPassword string

	env            *Env
	opts           KafkaOptions
	dir            string
	props          string
	logPath        string
	port, ctrlPort int
	mu             sync.Mutex
	proc           *process
}

// KafkaOptions configures a broker of a test's own (StartKafka). The zero
// value is a plaintext broker like the shared one.
type KafkaOptions struct {
	// Secure makes the broker run the posture README's Security section
	// describes: the only client listener is SASL_SSL with SCRAM-SHA-512
	// and a certificate from PKI (for 127.0.0.1 and localhost), the broker
	// talks to itself over the same listener, and the StandardAuthorizer
	// lets no one do anything an ACL does not allow
	// (allow.everyone.if.no.acl.found=false). User admin, created when the
	// storage is formatted, is the one super user. (The controller's own
	// listener, which clients do not use, is SASL_PLAINTEXT with PLAIN:
	// KRaft controllers cannot check SCRAM credentials, which live in the
	// metadata they serve.)
	Secure bool
	// PKI issues the broker's certificate; nil: a new one.
	PKI *PKI
	// Users are the SCRAM-SHA-512 users (name: password) created when the
	// storage is formatted, besides admin. They may do nothing until Allow
	// grants it.
	Users map[string]string
}

// kafkaAdmin is the secure broker's super user.
const kafkaAdmin = "admin"

// StartKafka starts a broker of the test's own, apart from the shared one,
// and stops it, removing its files, at the end of the test.
func StartKafka(t TB, opts KafkaOptions) *Kafka {
	t.Helper()
	return defaultEnv(t).StartKafka(t, opts)
}

// StartKafka is the package-level StartKafka on this Env.
func (e *Env) StartKafka(t TB, opts KafkaOptions) *Kafka {
	t.Helper()
	e.Ensure(t)
	if opts.Secure && opts.PKI == nil {
		opts.PKI = NewPKI(t)
	}
	began := time.Now()
	k, err := e.startKafkaWith(opts)
	if err != nil {
		t.Fatalf("harness: start kafka: %v", err)
	}
	t.Cleanup(func() { k.cleanup(t) })
	t.Logf("harness: kafka %s (secure %v) up in %v, dir %s", k.Bootstrap, opts.Secure, time.Since(began).Round(time.Millisecond), k.dir)
	return k
}

// cleanup runs at the end of the test that started the broker.
func (k *Kafka) cleanup(t TB) {
	if p := k.current(); p != nil && p.stop(kafkaStopLimit) {
		t.Logf("harness: kafka %s did not stop within %v; killed", k.Bootstrap, kafkaStopLimit)
	}
	if t.Failed() {
		t.Logf("harness: last lines of %s:\n%s", k.logPath, logTail(k.logPath, 20))
		if keepDirs() {
			t.Logf("harness: kept %s (DRC_HARNESS_KEEP=1)", k.dir)
			return
		}
	}
	os.RemoveAll(k.dir)
}

// SharedKafka returns the Env's one broker, starting it on first use. It
// lives until the Env is closed (for tests: the end of the test binary).
// Tests isolate themselves with unique topic names. If the broker failed to
// start, every later call fails with the same error.
func (e *Env) SharedKafka(t TB) *Kafka {
	t.Helper()
	e.Ensure(t)
	e.kafkaMu.Lock()
	defer e.kafkaMu.Unlock()
	if e.kafka == nil && e.kafkaErr == nil {
		began := time.Now()
		e.kafka, e.kafkaErr = e.startKafka()
		if e.kafkaErr == nil {
			t.Logf("harness: kafka %s up in %v, dir %s", e.kafka.Bootstrap, time.Since(began).Round(time.Millisecond), e.kafka.dir)
		}
	}
	if e.kafkaErr != nil {
		t.Fatalf("harness: start kafka: %v", e.kafkaErr)
	}
	return e.kafka
}

func (e *Env) startKafka() (*Kafka, error) { return e.startKafkaWith(KafkaOptions{}) }

func (e *Env) startKafkaWith(opts KafkaOptions) (*Kafka, error) {
	var lastErr error
	for attempt := 1; attempt <= kafkaStartTries; attempt++ {
		dir, err := os.MkdirTemp(e.root, "kafka-")
		if err != nil {
			return nil, fmt.Errorf("create kafka dir: %w", err)
		}
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		k := &Kafka{
			Bootstrap: "127.0.0.1:" + strconv.Itoa(ports[0]),
			env:       e,
			dir:       dir,
			props:     filepath.Join(dir, "server.properties"),
			logPath:   filepath.Join(dir, "kafka.log"),
			port:      ports[0],
			ctrlPort:  ports[1],
			opts:      opts,
		}
		if opts.Secure {
			k.CA, k.AdminUser, k.AdminPassword = opts.PKI.CA, kafkaAdmin, "admin-"+randomHex(8)
		}
		if err := k.format(); err != nil {
			return nil, err
		}
		lastErr = k.startAndWait()
		if lastErr == nil {
			return k, nil
		}
		if !logMentions(k.logPath, "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

// serverProperties is the broker's config: one node that is its own
// controller, and replication factor 1 for the internal topics, which
// transactions need.
func (k *Kafka) serverProperties() string {
	return fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=PLAINTEXT://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%[3]s
num.network.threads=2
num.io.threads=4
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
log.segment.bytes=67108864
log.retention.hours=24
`, k.port, k.ctrlPort, filepath.Join(k.dir, "data"))
}

// secureProperties is a secure broker's config (KafkaOptions.Secure): its
// listeners replace the plaintext ones, the rest is serverProperties'.
func (k *Kafka) secureProperties() (string, error) {
	pki := k.opts.PKI
	read := func(path string) (string, error) {
		b, err := os.ReadFile(path)
		// A properties value is one line: Java reads \n back as a newline.
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", `\n`), err
	}
	chain, err := read(pki.Server.Cert)
	if err != nil {
		return "", err
	}
	key, err := read(pki.ServerKeyPKCS8)
	if err != nil {
		return "", err
	}
	ca, err := read(pki.CA)
	if err != nil {
		return "", err
	}
	listeners := fmt.Sprintf(`listeners=SASL_SSL://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=SASL_SSL://127.0.0.1:%[1]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="%[3]s" password="%[4]s";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="%[3]s" password="%[4]s" user_%[3]s="%[4]s";
ssl.keystore.type=PEM
ssl.keystore.certificate.chain=%[5]s
ssl.keystore.key=%[6]s
ssl.truststore.type=PEM
ssl.truststore.certificates=%[7]s
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:%[3]s
allow.everyone.if.no.acl.found=false
`, k.port, k.ctrlPort, k.AdminUser, k.AdminPassword, chain, key, ca)
	var out []string
	for _, line := range strings.Split(k.serverProperties(), "\n") {
		switch {
		case strings.HasPrefix(line, "listeners="), strings.HasPrefix(line, "advertised.listeners="),
			strings.HasPrefix(line, "controller.listener.names="), strings.HasPrefix(line, "inter.broker.listener.name="),
			strings.HasPrefix(line, "listener.security.protocol.map="):
			continue
		}
		out = append(out, line)
	}
	return listeners + strings.Join(out, "\n"), nil
}

func (k *Kafka) javaArgs(mainClass string, args ...string) []string {
	libs := k.env.kafkaLibs
	java := "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java = filepath.Join(home, "bin", "java")
	}
	argv := []string{
		java,
		"-Xms256m", "-Xmx1g",
		"-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:+ExitOnOutOfMemoryError",
		"-Djava.awt.headless=true",
		"-Dlog4j.configuration=file:" + filepath.Join(filepath.Dir(libs), "log4j.properties"),
		"-Dkafka.logs.dir=" + filepath.Join(k.dir, "logs"),
		"-cp", filepath.Join(libs, "*"),
		mainClass,
	}
	return append(argv, args...)
}

// format writes server.properties and formats the log directory with a
// fresh cluster id.
func (k *Kafka) format() error {
	props := k.serverProperties()
	if k.opts.Secure {
		var err error
		if props, err = k.secureProperties(); err != nil {
			return fmt.Errorf("kafka TLS files: %w", err)
		}
	}
	// The secure broker's file holds its key and the admin password.
	if err := os.WriteFile(k.props, []byte(props), 0o600); err != nil {
		return fmt.Errorf("write kafka config: %w", err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	// A leading '-' would make StorageTool read the id as an option: keep
	// the first base64 digit below 32 ('A'..'f').
	id[0] &= 0x7f
	clusterID := base64.RawURLEncoding.EncodeToString(id)
	args := []string{"format", "-t", clusterID, "-c", k.props}
	if k.opts.Secure {
		// SCRAM users are created with the storage, before the broker
		// first starts, so none is ever missing when a client connects.
		users := map[string]string{k.AdminUser: k.AdminPassword}
		maps.Copy(users, k.opts.Users)
		for _, name := range slices.Sorted(maps.Keys(users)) {
			args = append(args, "--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", name, users[name]))
		}
	}
	argv := k.javaArgs("kafka.tools.StorageTool", args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("format kafka storage: %w\n%s", err, lastLines(out.String(), 30))
	}
	return nil
}

func (k *Kafka) startAndWait() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, err := k.env.start("kafka "+k.Bootstrap, k.logPath, k.javaArgs("kafka.Kafka", k.props))
	if err != nil {
		return err
	}
	k.proc = p
	deadline := time.Now().Add(kafkaReadyLimit)
	var lastErr error
	for {
		if !p.running() {
			return fmt.Errorf("broker exited during startup: %s\nlast lines of %s:\n%s", p.exitDescription(), k.logPath, logTail(k.logPath, 40))
		}
		if lastErr = k.ping(); lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("broker not ready after %v: %w\nlast lines of %s:\n%s", kafkaReadyLimit, lastErr, k.logPath, logTail(k.logPath, 40))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ping is the readiness check: a metadata round trip that lists the broker.
func (k *Kafka) ping() error {
	cfg := k.SaramaConfig()
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{k.Bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return err
	}
	if len(client.Brokers()) == 0 {
		return errors.New("metadata lists no brokers")
	}
	if _, err := client.Controller(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return nil
}

// Stop shuts the broker down (SIGTERM; SIGKILL after a minute), keeping its
// log directory, for outage tests. Start brings it back on the same port.
// Other tests of the package share this broker: a test that stops it must not
// run in parallel with them. If the test ends with the broker still stopped,
// its cleanup starts it again.
func (k *Kafka) Stop(t TB) {
	t.Helper()
	p := k.current()
	if p == nil || !p.running() {
		t.Fatalf("harness: stop kafka %s: %v", k.Bootstrap, errNotRunning)
	}
	t.Cleanup(func() { k.restartIfDown(t) })
	if p.stop(kafkaStopLimit) {
		t.Logf("harness: kafka %s did not stop within %v; killed", k.Bootstrap, kafkaStopLimit)
	}
}

// Kill stops the broker with SIGKILL, as a crash would. Like Stop, the test's
// cleanup restarts it if the test did not.
func (k *Kafka) Kill(t TB) {
	t.Helper()
	p := k.current()
	if p == nil || !p.running() {
		t.Fatalf("harness: kill kafka %s: %v", k.Bootstrap, errNotRunning)
	}
	t.Cleanup(func() { k.restartIfDown(t) })
	p.kill()
}

// Start restarts a stopped broker with the same log directory and ports and
// waits until it answers metadata requests.
func (k *Kafka) Start(t TB) {
	t.Helper()
	if p := k.current(); p != nil && p.running() {
		t.Fatalf("harness: start kafka %s: already running", k.Bootstrap)
	}
	began := time.Now()
	if err := k.startAndWait(); err != nil {
		t.Fatalf("harness: restart kafka %s: %v", k.Bootstrap, err)
	}
	t.Logf("harness: kafka %s restarted in %v", k.Bootstrap, time.Since(began).Round(time.Millisecond))
}

func (k *Kafka) restartIfDown(t TB) {
	if p := k.current(); p != nil && p.running() {
		return
	}
	if err := k.startAndWait(); err != nil {
		t.Logf("harness: restart kafka %s after the test: %v", k.Bootstrap, err)
	}
}

func (k *Kafka) current() *process {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.proc
}

// Pid returns the broker's process id, or 0 when it is not running.
func (k *Kafka) Pid() int {
	if p := k.current(); p != nil && p.running() {
		return p.pid()
	}
	return 0
}

// LogPath returns the path of the broker's log.
func (k *Kafka) LogPath() string { return k.logPath }

// SaramaConfig returns a client config for this broker: Version 3.9, producer
// successes returned, consumer errors returned, oldest offset first, and
// retries long enough to ride out a broker restart. Callers add what their
// role needs (idempotence, transactions, isolation level). On a secure
// broker it connects as the super user, so the harness's helpers (Produce,
// CreateTopic, ConsumeReadCommitted) work there too.
func (k *Kafka) SaramaConfig() *sarama.Config {
	return k.SaramaConfigAs(k.AdminUser, k.AdminPassword)
}

// Conn is how a role reaches a secure broker as user: SASL_SSL with
// SCRAM-SHA-512 and verify-identity against the broker's CA. On a
// plaintext broker it is the bootstrap address alone.
func (k *Kafka) Conn(user, password string) kafkaconn.Conn {
	c := kafkaconn.Conn{Brokers: []string{k.Bootstrap}, Version: "3.9.0", ClientID: "drc-harness"}
	if k.opts.Secure {
		c.TLS = kafkaconn.TLS{Mode: kafkaconn.VerifyIdentity, CA: k.CA}
		c.SASL = kafkaconn.SASL{Mechanism: kafkaconn.ScramSHA512, User: user, Password: password}
	}
	return c
}

// SaramaConfigAs is SaramaConfig connecting as user (secure brokers).
func (k *Kafka) SaramaConfigAs(user, password string) *sarama.Config {
	cfg, err := k.Conn(user, password).Config()
	if err != nil {
		// Only the CA file is read, which the PKI keeps until the end of
		// the test that made it, after the broker's cleanup.
		panic(fmt.Sprintf("harness: kafka %s client config: %v", k.Bootstrap, err))
	}
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 30 * time.Second
	cfg.Net.WriteTimeout = 30 * time.Second
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	cfg.Admin.Timeout = 30 * time.Second
	cfg.Admin.Retry.Max = 10
	cfg.Admin.Retry.Backoff = 250 * time.Millisecond
	return cfg
}

// Produce writes values to partition 0 of topic with a plain,
// non-transactional producer, as any client with access to the topic
// could.
func (k *Kafka) Produce(t TB, topic string, values ...string) {
	t.Helper()
	msgs := make([]*sarama.ProducerMessage, len(values))
	for i, v := range values {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}
	}
	k.ProduceMessages(t, msgs...)
}

// ProduceMessages writes msgs as they are (partition, key, headers) with a
// plain, non-transactional producer.
func (k *Kafka) ProduceMessages(t TB, msgs ...*sarama.ProducerMessage) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{k.Bootstrap}, k.SaramaConfig())
	if err != nil {
		t.Fatalf("harness: producer for %s: %v", k.Bootstrap, err)
	}
	defer p.Close()
	for _, m := range msgs {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatalf("harness: produce to %s: %v", m.Topic, err)
		}
	}
}

// CreateTopic creates a topic with replication factor 1 and waits until every
// partition has a leader.
func (k *Kafka) CreateTopic(t TB, name string, partitions int) {
	t.Helper()
	if err := k.createTopic(name, partitions); err != nil {
		t.Fatalf("harness: create topic %s on %s: %v", name, k.Bootstrap, err)
	}
}

func (k *Kafka) createTopic(name string, partitions int) error {
	cfg := k.SaramaConfig()
	admin, err := sarama.NewClusterAdmin([]string{k.Bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}
	if err := admin.CreateTopic(name, detail, false); err != nil {
		return err
	}
	client, err := sarama.NewClient([]string{k.Bootstrap}, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := client.RefreshMetadata(name)
		if err == nil {
			var ids []int32
			ids, err = client.Partitions(name)
			if err == nil && len(ids) != partitions {
				err = fmt.Errorf("metadata lists %d partitions, want %d", len(ids), partitions)
			}
			for _, id := range ids {
				if err == nil {
					_, err = client.Leader(name, id)
				}
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for leaders: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ConsumeReadCommitted reads topic from the oldest offset of every partition
// with isolation level read_committed, and returns when want records were
// read or timeout passed, with what it has, ordered by partition and offset.
// The caller asserts on the count. want <= 0 reads for the whole timeout.
func (k *Kafka) ConsumeReadCommitted(t TB, topic string, want int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	msgs, err := k.consume(topic, want, timeout, sarama.ReadCommitted)
	if err != nil {
		t.Fatalf("harness: consume %s from %s: %v", topic, k.Bootstrap, err)
	}
	return msgs
}

func (k *Kafka) consume(topic string, want int, timeout time.Duration, isolation sarama.IsolationLevel) ([]*sarama.ConsumerMessage, error) {
	cfg := k.SaramaConfig()
	cfg.Consumer.IsolationLevel = isolation
	consumer, err := sarama.NewConsumer([]string{k.Bootstrap}, cfg)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make(chan *sarama.ConsumerMessage)
	errs := make(chan error, len(partitions))
	var wg sync.WaitGroup
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, fmt.Errorf("consume partition %d: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					select {
					case out <- m:
					case <-ctx.Done():
						return
					}
				case err := <-pc.Errors():
					errs <- err
					return
				}
			}
		}()
	}

	var msgs []*sarama.ConsumerMessage
	var consumeErr error
collect:
	for want <= 0 || len(msgs) < want {
		select {
		case m := <-out:
			msgs = append(msgs, m)
		case err := <-errs:
			consumeErr = err
			break collect
		case <-ctx.Done():
			break collect
		}
	}
	cancel()
	wg.Wait()
	slices.SortFunc(msgs, func(a, b *sarama.ConsumerMessage) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return msgs, consumeErr
}

// Allow grants principal User:user the operations on one resource of a
// secure broker, as the admin would with
//
//	kafka-acls.sh --add --allow-principal User:<user> --operation <op> --topic <name>
//
// (or --group, --transactional-id, --cluster; the cluster's name is
// kafka-cluster), and waits until the broker enforces them.
func (k *Kafka) Allow(t TB, user string, rt sarama.AclResourceType, name string, ops ...sarama.AclOperation) {
	t.Helper()
	if err := k.allow(user, rt, name, ops); err != nil {
		t.Fatalf("harness: kafka %s: allow User:%s %v on %v %s: %v", k.Bootstrap, user, ops, rt, name, err)
	}
}

func (k *Kafka) allow(user string, rt sarama.AclResourceType, name string, ops []sarama.AclOperation) error {
	admin, err := sarama.NewClusterAdmin([]string{k.Bootstrap}, k.SaramaConfig())
	if err != nil {
		return err
	}
	defer admin.Close()
	principal := "User:" + user
	res := sarama.Resource{ResourceType: rt, ResourceName: name, ResourcePatternType: sarama.AclPatternLiteral}
	ra := &sarama.ResourceAcls{Resource: res}
	for _, op := range ops {
		ra.Acls = append(ra.Acls, &sarama.Acl{Principal: principal, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow})
	}
	if err := admin.CreateACLs([]*sarama.ResourceAcls{ra}); err != nil {
		return err
	}
	// The controller commits the ACLs; the broker's authorizer learns them
	// from the metadata log a moment later. DescribeAcls answers from the
	// broker's authorizer, so once it lists them the broker enforces them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := admin.ListAcls(sarama.AclFilter{
			ResourceType: rt, ResourceName: &name, ResourcePatternTypeFilter: sarama.AclPatternLiteral,
			Principal: &principal, Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAllow,
		})
		have := map[sarama.AclOperation]bool{}
		for _, r := range got {
			for _, a := range r.Acls {
				have[a.Operation] = true
			}
		}
		missing := slices.DeleteFunc(slices.Clone(ops), func(op sarama.AclOperation) bool { return have[op] })
		if err == nil && len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not enforced after 30s (missing %v, list: %v)", missing, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
