package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
cluster: demo
source: {region: a, host: 127.0.0.1, port: 3307}
target: {region: b, host: 127.0.0.1, port: 3308}
kafka: {brokers: ["127.0.0.1:9092"]}
`

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseMinimalGetsDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := cfg.Applier.Workers, 4; got != want {
		t.Errorf("applier.workers = %d, want %d", got, want)
	}
	if got, want := cfg.Replicator.HeartbeatInterval, time.Second; got != want {
		t.Errorf("heartbeat = %s, want %s", got, want)
	}
	if got, want := cfg.Source.Port, 3307; got != want {
		t.Errorf("source.port = %d, want %d", got, want)
	}
	if got, want := cfg.TopicName(), "drc.demo"; got != want {
		t.Errorf("topic = %q, want %q", got, want)
	}
}

func TestExampleFileIsValid(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "deploy", "drc.example.yaml"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	// The example documents the defaults, so it must equal them apart from
	// the required keys it fills in.
	d := Default()
	d.Cluster, d.Source.Region, d.Target.Region = "demo", "a", "b"
	d.Kafka.Brokers = []string{"127.0.0.1:9092"}
	d.IDGen.MySQL = MySQL{Flavor: "mariadb", Port: 3306, User: "drc"}
	d.Replicator.Include, d.Replicator.Exclude, d.Replicator.AllowDDL = []string{}, []string{}, []string{}
	d.Applier.Tables = []TablePolicy{}
	d.Reconcile.Tables, d.Bootstrap.Tables = []string{}, []string{}
	if got, want := cfg.Redacted(), d.Redacted(); got != want {
		t.Errorf("example differs from Default():\n--- example\n%s\n--- default\n%s", got, want)
	}
}

func TestUnknownKeyIsNamed(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{minimal + "kafka_typo: 1\n", "kafka_typo"},
		{strings.Replace(minimal, "brokers:", "broker:", 1), "kafka.broker"},
		{minimal + "applier: {tables: [{table: a.b, confict: stop}]}\n", "confict"},
	} {
		_, err := Parse([]byte(tc.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse error = %v, want it to name %q", err, tc.want)
		}
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	y := strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`, `kafka: {brokers: [nohost], compression: brotli}`, 1) + `
applier: {workers: 0, conflict: newest}
log: {level: loud}
idgen: {region_id: 9, region_bits: 3}
`
	cfg, err := Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken config")
	}
	for _, want := range []string{
		"applier.workers: must be 1..256, got 0",
		"applier.conflict:",
		"log.level:",
		"kafka.brokers[0]:",
		"kafka.compression:",
		"idgen.region_id: must be 0..7",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Parse([]byte(minimal), envMap(map[string]string{
		"DRC_APPLIER_WORKERS":               "16",
		"DRC_KAFKA_BROKERS":                 "h1:1,h2:2",
		"DRC_REPLICATOR_HEARTBEAT_INTERVAL": "250ms",
		"DRC_SOURCE_PASSWORD":               "s3cret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Applier.Workers != 16 {
		t.Errorf("workers = %d, want 16", cfg.Applier.Workers)
	}
	if got := strings.Join(cfg.Kafka.Brokers, " "); got != "h1:1 h2:2" {
		t.Errorf("brokers = %q", got)
	}
	if cfg.Replicator.HeartbeatInterval != 250*time.Millisecond {
		t.Errorf("heartbeat = %s", cfg.Replicator.HeartbeatInterval)
	}
	if cfg.Source.Password != "s3cret" {
		t.Errorf("password not overridden")
	}
	if strings.Contains(cfg.Redacted(), "s3cret") {
		t.Errorf("Redacted() leaks the password:\n%s", cfg.Redacted())
	}
}

func TestPasswordFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte("fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(minimal+"\n"), envMap(map[string]string{"DRC_TARGET_PASSWORD_FILE": f}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Target.Password != "fromfile" {
		t.Errorf("target.password = %q, want fromfile", cfg.Target.Password)
	}
	_, err = Parse([]byte(minimal), envMap(map[string]string{"DRC_TARGET_PASSWORD_FILE": f, "DRC_TARGET_PASSWORD": "x"}))
	if err == nil || !strings.Contains(err.Error(), "target.password") {
		t.Errorf("both password and password_file: err = %v", err)
	}
	_, err = Parse([]byte(minimal), envMap(map[string]string{"DRC_TARGET_PASSWORD_FILE": "/nonexistent/pw"}))
	if err == nil || !strings.Contains(err.Error(), "target.password_file") {
		t.Errorf("missing password file: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("cluster: [\n"))
	f.Add([]byte("kafka: 5\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("applier: {tables: 7}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, noEnv)
		if err == nil {
			_ = cfg.Validate()
			_ = cfg.Redacted()
		}
	})
}

func TestBadDurationIsEchoed(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		env  map[string]string
		want []string
	}{
		{minimal + "replicator: {heartbeat_interval: 5x}\n", nil, []string{"replicator.heartbeat_interval", `"5x"`}},
		{minimal, map[string]string{"DRC_APPLIER_RETRY_MAX_BACKOFF": "10"}, []string{"applier.retry_max_backoff", `"10"`}},
	} {
		_, err := Parse([]byte(tc.yaml), envMap(tc.env))
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Parse error = %v, want it to contain %s", err, w)
			}
		}
	}
}

func TestIDGuardSettings(t *testing.T) {
	ok := minimal + `
idgen: {regions: {a: 1, b: 2}}
applier:
  foreign_id: record
  tables:
    - {table: shop.orders, id_columns: [id, customer_id], foreign_id: stop}
`
	cfg, err := Parse([]byte(ok), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.IDGen.Regions["b"] != 2 || strings.Join(cfg.Applier.Tables[0].IDColumns, ",") != "id,customer_id" || cfg.Applier.ForeignID != "record" {
		t.Errorf("parsed %+v %+v", cfg.IDGen.Regions, cfg.Applier)
	}
	if got := cfg.IDGenRegionID(); got != 1 {
		t.Errorf("IDGenRegionID = %d, want a's number 1", got)
	}

	env, err := Parse([]byte(minimal), envMap(map[string]string{"DRC_IDGEN_REGIONS": "a=3, b=4"}))
	if err != nil {
		t.Fatal(err)
	}
	if env.IDGen.Regions["a"] != 3 || env.IDGen.Regions["b"] != 4 {
		t.Errorf("DRC_IDGEN_REGIONS: regions = %v", env.IDGen.Regions)
	}
	if _, err := Parse([]byte(minimal), envMap(map[string]string{"DRC_IDGEN_REGIONS": "a:3"})); err == nil || !strings.Contains(err.Error(), "name=number") {
		t.Errorf("DRC_IDGEN_REGIONS=a:3: %v", err)
	}

	bad := minimal + `
idgen: {region_id: 5, regions: {a: 1, c: 1, b_x: 9}}
applier:
  foreign_id: skip
  tables:
    - {table: shop.orders, id_columns: [""], foreign_id: never}
`
	cfg, err = Parse([]byte(bad), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.Validate()
	for _, want := range []string{
		"applier.foreign_id: foreign_id policy \"skip\"",
		"applier.tables[0].foreign_id:",
		"applier.tables[0].id_columns[0]:",
		"idgen.regions.c: number 1 is also region a's",
		"idgen.regions.b_x: region name",
		"idgen.regions.b_x: must be 0..7",
		"idgen.region_id: is 5 but idgen.regions numbers region a 1",
		"idgen.regions: must number region b",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestBadNumberIsEchoed(t *testing.T) {
	y := strings.Replace(minimal, "port: 3307", "port: abc", 1)
	_, err := Parse([]byte(y), noEnv)
	if err == nil || !strings.Contains(err.Error(), `source.port`) || !strings.Contains(err.Error(), `invalid number "abc"`) {
		t.Fatalf("port abc: %v", err)
	}
	cfg, err := Parse([]byte(minimal), envMap(map[string]string{"DRC_APPLIER_WORKERS": " 12 "}))
	if err != nil || cfg.Applier.Workers != 12 {
		t.Fatalf("DRC_APPLIER_WORKERS=' 12 ': %v, %d", err, cfg.Applier.Workers)
	}
}

func TestRecordKeyAndSecretFileLimit(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "record.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`, `kafka: {brokers: ["127.0.0.1:9092"], record_key_file: `+key+`}`, 1)
	cfg, err := Parse([]byte(y), noEnv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil || cfg.Kafka.RecordKey != strings.Repeat("k", 40) {
		t.Fatalf("record_key_file: %v, key %q", err, cfg.Kafka.RecordKey)
	}
	if strings.Contains(cfg.Redacted(), strings.Repeat("k", 40)) {
		t.Error("Redacted() shows the record key")
	}
	short, err := Parse([]byte(minimal), envMap(map[string]string{"DRC_KAFKA_RECORD_KEY": "short"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := short.Validate(); err == nil || !strings.Contains(err.Error(), "kafka.record_key: must be at least 32 bytes") {
		t.Errorf("a 5-byte key: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 100<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	y = strings.Replace(minimal, "port: 3307}", "port: 3307, password_file: "+big+"}", 1)
	if _, err := Parse([]byte(y), noEnv); err == nil || !strings.Contains(err.Error(), "not a secret file") {
		t.Errorf("a 100 KiB password file: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(minimal, "port: 3307}", "port: 3307, password_file: "+pw+", tls: {mode: verify-identity, ca: /etc/ca.pem}}", 1)
	cfg, err := Parse([]byte(y), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.Warnings(), "\n")
	for _, want := range []string{"source.password_file " + pw + " can be read by other users (mode 0644)", "target.tls.mode is preferred"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "source.tls") || strings.Contains(got, "s3cret") {
		t.Errorf("warnings:\n%s", got)
	}
	for _, mode := range []os.FileMode{0o600, 0o640} { // the file's group is this process's own
		if err := os.Chmod(pw, mode); err != nil {
			t.Fatal(err)
		}
		if cfg, err = Parse([]byte(y), noEnv); err != nil || strings.Contains(strings.Join(cfg.Warnings(), "\n"), "password_file") {
			t.Errorf("a %#o file of the process's own group still warned: %v %v", mode, err, cfg.Warnings())
		}
	}
}

func TestKafkaTLSAndSASL(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "kafka-pw")
	if err := os.WriteFile(pw, []byte("kafka-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secure := minimal + `kafka: {brokers: ["kafka1:9093"], tls: {mode: verify-identity, ca: /etc/drc/kafka-ca.pem},
  sasl: {mechanism: SCRAM-SHA-512, user: drc-rep, password_file: ` + pw + `}}
`
	secure = strings.Replace(secure, "kafka: {brokers: [\"127.0.0.1:9092\"]}\n", "", 1)
	cfg, err := Parse([]byte(secure), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	k := cfg.Kafka.Conn()
	if k.SASL.Password != "kafka-s3cret" || k.SASL.User != "drc-rep" || k.TLS.Mode != "verify-identity" || k.Protocol() != "SASL_SSL" {
		t.Errorf("kafka conn = %v, password read %v", k, k.SASL.Password == "kafka-s3cret")
	}
	if r := cfg.Redacted(); strings.Contains(r, "kafka-s3cret") || !strings.Contains(r, "<redacted>") {
		t.Errorf("Redacted shows the Kafka password or hides nothing:\n%s", r)
	}
	if w := strings.Join(cfg.Warnings(), "\n"); strings.Contains(w, "kafka") {
		t.Errorf("SASL_SSL with verify-identity warned:\n%s", w)
	}
	env, err := Parse([]byte(minimal), envMap(map[string]string{
		"DRC_KAFKA_SASL_MECHANISM": "PLAIN", "DRC_KAFKA_SASL_USER": "u", "DRC_KAFKA_SASL_PASSWORD": "p", "DRC_KAFKA_TLS_MODE": "required",
	}))
	if err != nil || env.Validate() != nil || env.Kafka.Conn().Protocol() != "SASL_SSL" {
		t.Errorf("kafka security from the environment: %v %v %v", err, env.Validate(), env.Kafka.Conn())
	}

	// Each bad setting is named.
	for _, tc := range []struct{ kafka, want string }{
		{`tls: {mode: preferred}`, "kafka.tls: tls.mode preferred does not apply to Kafka"},
		{`tls: {mode: verify-ca}`, "kafka.tls: tls.mode verify-ca needs tls.ca"},
		{`tls: {mode: required, cert: /c.pem}`, "kafka.tls: tls.cert and tls.key go together"},
		{`tls: {mode: bogus}`, `kafka.tls: tls.mode "bogus"`},
		{`sasl: {mechanism: GSSAPI, user: u, password: p}`, `kafka.sasl: sasl.mechanism "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{`sasl: {mechanism: SCRAM-SHA-256, user: u}`, "kafka.sasl: sasl.user u has no password"},
		{`sasl: {mechanism: SCRAM-SHA-256, password: p}`, "kafka.sasl: sasl.mechanism SCRAM-SHA-256 needs sasl.user"},
		{`sasl: {user: u, password: p}`, "kafka.sasl: sasl.user or sasl.password is set but sasl.mechanism is not"},
	} {
		y := strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`, `kafka: {brokers: ["127.0.0.1:9092"], `+tc.kafka+`}`, 1)
		cfg, err := Parse([]byte(y), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", tc.kafka, err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.kafka, err, tc.want)
		}
	}
	y := strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`, `kafka: {brokers: ["127.0.0.1:9092"], sasl: {mechanism: scram-sha-256, user: u, password: p, password_file: `+pw+`}}`, 1)
	if _, err := Parse([]byte(y), noEnv); err == nil || !strings.Contains(err.Error(), "kafka.sasl.password and kafka.sasl.password_file are both set") {
		t.Errorf("password and password_file: %v", err)
	}

	// Weak settings warn, saying what they leave open.
	for _, tc := range []struct{ kafka, want string }{
		{``, "kafka.tls.mode is disabled: plaintext"},
		{`tls: {mode: required}`, "kafka.tls.mode is required: encrypted but not authenticated"},
		{`tls: {mode: verify-ca, ca: /ca.pem}`, "kafka.tls.mode is verify-ca"},
		{`sasl: {mechanism: PLAIN, user: u, password: p}`, "kafka.sasl.mechanism PLAIN without TLS (kafka.tls.mode disabled): the password crosses the network in clear"},
		{`sasl: {mechanism: scram-sha-512, user: u, password: p}`, "kafka.sasl.mechanism SCRAM-SHA-512 without TLS"},
	} {
		y := minimal
		if tc.kafka != "" {
			y = strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`, `kafka: {brokers: ["127.0.0.1:9092"], `+tc.kafka+`}`, 1)
		}
		cfg, err := Parse([]byte(y), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Join(cfg.Warnings(), "\n"); !strings.Contains(w, tc.want) || strings.Contains(w, "password: p") {
			t.Errorf("%s: warnings lack %q:\n%s", tc.kafka, tc.want, w)
		}
	}
}

func TestCompressionLevel(t *testing.T) {
	for _, tc := range []struct {
		codec   string
		level   int
		wantErr string
	}{
		{"zstd", 1, ""},
		{"zstd", 22, ""},
		{"gzip", 9, ""},
		{"lz4", 0, ""},
		{"zstd", 23, "kafka.compression_level: must be 1..22 for zstd"},
		{"gzip", 10, "kafka.compression_level: must be 1..9 for gzip"},
		{"lz4", 3, "kafka.compression_level: is only for zstd and gzip, not lz4"},
	} {
		y := strings.Replace(minimal, `kafka: {brokers: ["127.0.0.1:9092"]}`,
			fmt.Sprintf(`kafka: {brokers: ["127.0.0.1:9092"], compression: %s, compression_level: %d}`, tc.codec, tc.level), 1)
		cfg, err := Parse([]byte(y), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Kafka.CompressionLevel != tc.level {
			t.Fatalf("compression_level %d parsed as %d", tc.level, cfg.Kafka.CompressionLevel)
		}
		err = cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s level %d: %v", tc.codec, tc.level, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s level %d: error %v, want %q", tc.codec, tc.level, err, tc.wantErr)
		}
	}
}

func TestCommitLinger(t *testing.T) {
	for _, tc := range []struct {
		linger  string
		wantErr string
	}{
		{"0s", ""},
		{"100ms", ""},
		{"11s", "replicator.commit_linger: must be 0..10s, got 11s"},
		{"-1ms", "replicator.commit_linger: must be 0..10s, got -1ms"},
	} {
		cfg, err := Parse([]byte(minimal+"replicator: {commit_linger: "+tc.linger+"}\n"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("commit_linger %s: %v", tc.linger, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("commit_linger %s: error %v, want %q", tc.linger, err, tc.wantErr)
		}
	}
}
