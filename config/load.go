package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drc-dev/drc/internal/kafkaconn"
	"github.com/drc-dev/drc/internal/mysqlconn"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "DRC_"

// Load reads the YAML file at path, applies environment overrides found by
// lookupEnv (os.LookupEnv in production) and reads secret files. It does not
// validate; call Validate on the result.
func Load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, lookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load on bytes already read.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	// An unknown key must be an error naming it: a typo such as
	// "kafka.broker" would otherwise silently fall back to a default.
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("parse yaml: %w", err)
	}
	defaults := toPlain(reflect.ValueOf(Default())).(map[string]any)
	if unknown := unknownKeys(raw, defaults, ""); len(unknown) > 0 {
		return Config{}, fmt.Errorf("unknown key(s): %s", strings.Join(unknown, ", "))
	}

	v := viper.New()
	v.SetConfigType("yaml")
	for key, val := range flatten(defaults, "") {
		v.SetDefault(key, val)
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return Config{}, fmt.Errorf("parse yaml: %w", err)
	}
	if lookupEnv != nil {
		for _, key := range v.AllKeys() {
			name := EnvName(key)
			if val, ok := lookupEnv(name); ok {
				v.Set(key, val)
			}
		}
	}
	var cfg Config
	err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook,
		intHook,
		regionsHook,
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return Config{}, fmt.Errorf("decode: %w", err)
	}
	if err := cfg.readSecrets(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// EnvName is the environment variable that overrides a key path such as
// "kafka.brokers" (DRC_KAFKA_BROKERS).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// maxSecretBytes bounds a secret file: a path such as /dev/zero must fail,
// not exhaust memory.
const maxSecretBytes = 64 << 10

func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a secret file", path, maxSecretBytes)
	}
	return b, nil
}

// readableByOthers reports a file that users other than drc's can read:
// readable by everyone, or by a group drc's process is not in. A group of
// drc's own (systemd's 0640 root:drc, a Kubernetes fsGroup) is its own.
func readableByOthers(fi os.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o004 != 0 {
		return true
	}
	if perm&0o040 == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	if int(st.Gid) == os.Getgid() {
		return false
	}
	groups, err := os.Getgroups()
	return err != nil || !slices.Contains(groups, int(st.Gid))
}

func (c *Config) readSecrets() error {
	read := func(field, file string, dst *string) error {
		if file == "" {
			return nil
		}
		if *dst != "" {
			return fmt.Errorf("%s and %s_file are both set; keep one", field, field)
		}
		b, err := readSecretFile(file)
		if err != nil {
			return fmt.Errorf("%s_file: %w", field, err)
		}
		if fi, err := os.Stat(file); err == nil && readableByOthers(fi) {
			c.secretWarnings = append(c.secretWarnings, fmt.Sprintf("%s_file %s can be read by other users (mode %#o); chmod 600 it, or 640 with a group only drc is in", field, file, fi.Mode().Perm()))
		}
		*dst = strings.TrimRight(string(b), "\r\n")
		return nil
	}
	for _, s := range []struct {
		field string
		file  string
		dst   *string
	}{
		{"source.password", c.Source.PasswordFile, &c.Source.Password},
		{"target.password", c.Target.PasswordFile, &c.Target.Password},
		{"idgen.mysql.password", c.IDGen.MySQL.PasswordFile, &c.IDGen.MySQL.Password},
		{"idgen.token", c.IDGen.TokenFile, &c.IDGen.Token},
		{"kafka.record_key", c.Kafka.RecordKeyFile, &c.Kafka.RecordKey},
		{"kafka.sasl.password", c.Kafka.SASL.PasswordFile, &c.Kafka.SASL.Password},
	} {
		if err := read(s.field, s.file, s.dst); err != nil {
			return err
		}
	}
	return nil
}

// Redacted returns the effective config as YAML with every secret replaced,
// for `drc config check` and logs.
func (c Config) Redacted() string {
	r := c
	for _, p := range []*string{&r.Source.Password, &r.Target.Password, &r.IDGen.MySQL.Password, &r.IDGen.Token, &r.Kafka.RecordKey, &r.Kafka.SASL.Password} {
		if *p != "" {
			*p = "<redacted>"
		}
	}
	out, err := yaml.Marshal(toPlain(reflect.ValueOf(r)))
	if err != nil {
		return fmt.Sprintf("# cannot render config: %v\n", err)
	}
	return string(out)
}

// Endpoint is this server for the roles (mysqlconn).
func (m MySQL) Endpoint() mysqlconn.Endpoint {
	return mysqlconn.Endpoint{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password, TLS: mysqlconn.TLS(m.TLS)}
}

// Conn is how the roles reach the brokers (kafkaconn).
func (k Kafka) Conn() kafkaconn.Conn {
	return kafkaconn.Conn{
		Brokers: k.Brokers, Version: k.Version, ClientID: k.ClientID,
		TLS:  kafkaconn.TLS(k.TLS),
		SASL: kafkaconn.SASL{Mechanism: k.SASL.Mechanism, User: k.SASL.User, Password: k.SASL.Password},
	}
}

// DSN is the go-sql-driver data source name for this server, with the
// shared session defaults and TLS (mysqlconn.Endpoint.Driver).
func (m MySQL) DSN(db string) (string, error) {
	mc, err := m.Endpoint().Driver()
	if err != nil {
		return "", err
	}
	mc.DBName = db
	return mc.FormatDSN(), nil
}

// Addr is host:port.
func (m MySQL) Addr() string { return fmt.Sprintf("%s:%d", m.Host, m.Port) }

// toPlain turns a config struct into maps keyed by the mapstructure tags,
// with durations as their text form ("1s"), so defaults, the printed config
// and the YAML file all read alike.
func toPlain(v reflect.Value) any {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		for i := 0; i < v.NumField(); i++ {
			tag := v.Type().Field(i).Tag.Get("mapstructure")
			if tag == "" || tag == "-" {
				continue
			}
			m[tag] = toPlain(v.Field(i))
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = toPlain(v.Index(i))
		}
		return out
	default:
		return v.Interface()
	}
}

func flatten(m map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			for kk, vv := range flatten(sub, prefix+k+".") {
				out[kk] = vv
			}
			continue
		}
		out[prefix+k] = v
	}
	return out
}

// unknownKeys lists the key paths of raw that known does not have. Lists of
// structs (applier.tables) are checked by the decoder instead.
func unknownKeys(raw, known map[string]any, prefix string) []string {
	var out []string
	for k, v := range raw {
		kv, ok := known[strings.ToLower(k)]
		if !ok {
			out = append(out, prefix+k)
			continue
		}
		sub, isMap := v.(map[string]any)
		ksub, kIsMap := kv.(map[string]any)
		if isMap && kIsMap {
			out = append(out, unknownKeys(sub, ksub, prefix+k+".")...)
		}
	}
	sort.Strings(out)
	return out
}

// durationHook decodes a duration string and, unlike mapstructure's own
// hook, names the value it could not parse.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	s, _ := data.(string)
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q: want a number with a unit, e.g. 500ms, 5s, 1m", s)
	}
	return d, nil
}

// regionsHook decodes idgen.regions given as text, as an environment
// variable gives it: "a=0,b=1".
func regionsHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[map[string]int]() {
		return data, nil
	}
	s, _ := data.(string)
	out := map[string]int{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		name, num, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if !ok || err != nil {
			return nil, fmt.Errorf("invalid region numbering %q: want name=number pairs, e.g. a=0,b=1", s)
		}
		out[strings.TrimSpace(name)] = n
	}
	return out, nil
}

// intHook decodes an integer given as text (an environment variable, or a
// quoted YAML value) and, unlike the decoder's own error, names the value
// it could not parse.
func intHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint32, reflect.Uint64:
	default:
		return data, nil
	}
	if to == reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return nil, fmt.Errorf("invalid number %q: want an integer such as 3306", s)
	}
	return s, nil
}
