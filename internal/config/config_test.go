package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from config.Reference()")

// load runs config.Load with a fresh flag set; a non-empty yamlText is
// written to a file and passed with --config.
func load(t *testing.T, yamlText string, env []string, args ...string) (config.Config, error) {
	t.Helper()
	if yamlText != "" {
		path := filepath.Join(t.TempDir(), "sluice.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return config.Load(fs, args, env)
}

func TestDefaultIsValid(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Fatalf("Load with nothing = %v, want Default()", cfg)
	}
}

// TestPrecedence checks default < file < env < flag for each kind of value.
func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name                        string // flag name
		file, env, flagValue        string // the value in each layer; "" = no flag argument (bool)
		get                         func(config.Config) any
		wantFile, wantEnv, wantFlag any
	}{
		{"data-dir", "/f", "/e", "/x", func(c config.Config) any { return c.DataDir }, "/f", "/e", "/x"},
		{"http-addr", "127.0.0.1:1", "127.0.0.1:2", "", func(c config.Config) any { return c.HTTPAddr }, "127.0.0.1:1", "127.0.0.1:2", ""},
		{"flush-interval", "1s", "2s", "3s", func(c config.Config) any { return c.FlushInterval }, time.Second, 2 * time.Second, 3 * time.Second},
		{"magnetic-retention", "30d", "2d", "24h", func(c config.Config) any { return c.MagneticRetention }, 30 * 24 * time.Hour, 48 * time.Hour, 24 * time.Hour},
		{"max-body-bytes", "2MiB", "3MB", "4194304", func(c config.Config) any { return c.MaxBodyBytes }, int64(2 << 20), int64(3_000_000), int64(4 << 20)},
		{"batch-size", "10", "20", "30", func(c config.Config) any { return c.BatchSize }, 10, 20, 30},
		{"record-mode", "multi", "single", "multi", func(c config.Config) any { return c.RecordMode }, "multi", "single", "multi"},
		{"allow-open", "true", "false", "true", func(c config.Config) any { return c.AllowOpen }, true, false, true},
		{"mqtt-topics", "[a/+=s1]", "b/#=s2", "c=s3", func(c config.Config) any { return fmt.Sprint(c.MQTTTopics) },
			"[a/+=s1]", "[b/#=s2]", "[c=s3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, "-", "_")
			env := "SLUICE_" + strings.ToUpper(key)
			fileText := key + ": " + tc.file + "\n"
			flagArg := "--" + tc.name + "=" + tc.flagValue

			cfg, err := load(t, fileText, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.wantFile) {
				t.Errorf("file: got %v, want %v", got, tc.wantFile)
			}
			cfg, err = load(t, fileText, []string{env + "=" + tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.wantEnv) {
				t.Errorf("file+env: got %v, want %v", got, tc.wantEnv)
			}
			cfg, err = load(t, fileText, []string{env + "=" + tc.env}, flagArg)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.wantFlag) {
				t.Errorf("file+env+flag: got %v, want %v", got, tc.wantFlag)
			}
			// Env without a file still beats the default.
			cfg, err = load(t, "", []string{env + "=" + tc.env})
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(cfg); !reflect.DeepEqual(got, tc.wantEnv) {
				t.Errorf("env only: got %v, want %v", got, tc.wantEnv)
			}
		})
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte("table: from_a\n"), 0o600)
	os.WriteFile(b, []byte("table: from_b\n"), 0o600)
	cfg, err := load(t, "", []string{"SLUICE_CONFIG=" + a})
	if err != nil || cfg.Table != "from_a" {
		t.Fatalf("SLUICE_CONFIG: table %q, %v", cfg.Table, err)
	}
	cfg, err = load(t, "", []string{"SLUICE_CONFIG=" + a}, "--config", b)
	if err != nil || cfg.Table != "from_b" {
		t.Fatalf("--config over SLUICE_CONFIG: table %q, %v", cfg.Table, err)
	}
	_, err = load(t, "", []string{"SLUICE_CONFIG=" + filepath.Join(dir, "missing.yaml")})
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestEnvFirstOccurrenceWins(t *testing.T) {
	cfg, err := load(t, "", []string{"SLUICE_TABLE=first", "SLUICE_TABLE=second", "OTHER=x", "SLUICE_NOEQUALS"})
	if err != nil || cfg.Table != "first" {
		t.Fatalf("table %q, %v", cfg.Table, err)
	}
}

func TestEmptyEnvTurnsListenerOff(t *testing.T) {
	cfg, err := load(t, "", []string{"SLUICE_MQTT_ADDR="})
	if err != nil || cfg.MQTTAddr != "" {
		t.Fatalf("mqtt addr %q, %v", cfg.MQTTAddr, err)
	}
}

func TestMQTTTopicsFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		yaml string
		env  []string
		want string
	}{
		{"default", nil, "", nil, "devices/+/telemetry=events"},
		{"repeat replaces default", []string{"--mqtt-topics", "a/+=x", "--mqtt-topics", "b/#=y"}, "", nil, "a/+=x,b/#=y"},
		{"comma", []string{"--mqtt-topics=a/+=x,b/#=y"}, "", nil, "a/+=x,b/#=y"},
		{"repeat and comma", []string{"--mqtt-topics=a=x,b=y", "--mqtt-topics=c=z"}, "", nil, "a=x,b=y,c=z"},
		{"yaml list", nil, "mqtt_topics:\n  - a/+/t=x\n  - b/#=y\n", nil, "a/+/t=x,b/#=y"},
		{"yaml scalar", nil, "mqtt_topics: a=x,b=y\n", nil, "a=x,b=y"},
		{"yaml empty list with mqtt off", nil, "mqtt_topics: []\nmqtt_addr: \"\"\n", nil, ""},
		{"env", nil, "", []string{"SLUICE_MQTT_TOPICS=a/#=x, b=y"}, "a/#=x,b=y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.yaml, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, m := range cfg.MQTTTopics {
				parts = append(parts, m.String())
			}
			if got := strings.Join(parts, ","); got != tc.want {
				t.Fatalf("topics %q, want %q", got, tc.want)
			}
		})
	}
}

// problemsOf returns the problems in err, failing if err is not a *config.Error.
func problemsOf(t *testing.T, err error) []config.Problem {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce.Problems
}

// names returns the flag, variable and YAML key of a setting.
func names(setting string) (string, string, string) {
	key := strings.ReplaceAll(setting, "-", "_")
	return "--" + setting, "SLUICE_" + strings.ToUpper(key), key
}

// TestValidateProblems makes one thing wrong at a time and checks that the
// problem is reported for the right setting, naming its flag, variable and
// YAML key, and with the expected words.
func TestValidateProblems(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.WriteFile(keys, []byte("k s\n"), 0o600)
	for _, tc := range []struct {
		setting string
		mutate  func(*config.Config)
		words   string
	}{
		{"data-dir", func(c *config.Config) { c.DataDir = "" }, "empty"},
		{"http-addr", func(c *config.Config) { c.HTTPAddr = "7410" }, "host:port"},
		{"http-addr", func(c *config.Config) { c.HTTPAddr = "127.0.0.1:70000" }, "65535"},
		{"pg-addr", func(c *config.Config) { c.PGAddr = "127.0.0.1:http" }, "65535"},
		{"pg-addr", func(c *config.Config) { c.PGAddr = "127.0.0.1:7410" }, "same port"},
		{"http-addr", func(c *config.Config) { c.HTTPAddr = "0.0.0.0:7410" }, "allow-open"},
		{"pg-addr", func(c *config.Config) { c.PGAddr = "[::]:5433" }, "access keys"},
		{"mqtt-addr", func(c *config.Config) { c.MQTTAddr = ":1883" }, "other machines"},
		{"nats-listen", func(c *config.Config) { c.NATSListen = "192.168.1.10:4222" }, "loopback"},
		{"http-addr", func(c *config.Config) { c.HTTPAddr = "myhost.example:80" }, "allow-open"},
		{"nats-url", func(c *config.Config) { c.NATSURL = "http://x:4222" }, "scheme"},
		{"nats-url", func(c *config.Config) { c.NATSURL = "nats://a:4222, nonsense" }, "URL"},
		{"nats-listen", func(c *config.Config) { c.NATSURL = "nats://a:4222"; c.NATSListen = "127.0.0.1:4222" }, "only one"},
		{"stream", func(c *config.Config) { c.Stream = "ev.ents" }, "contains"},
		{"dead-letter-stream", func(c *config.Config) { c.DeadLetterStream = "events" }, "differ"},
		{"stream-retention", func(c *config.Config) { c.StreamRetention = time.Second }, "1m"},
		{"stream-sync", func(c *config.Config) { c.StreamSync = "never" }, `"always", "interval"`},
		{"stream-sync-interval", func(c *config.Config) { c.StreamSyncInterval = 0 }, "1ms"},
		{"stream-max-bytes", func(c *config.Config) { c.StreamMaxBytes = 1000 }, "unlimited"},
		{"database", func(c *config.Config) { c.Database = "x" }, "3 to 256"},
		{"table", func(c *config.Config) { c.Table = "tele metry" }, "letters"},
		{"record-mode", func(c *config.Config) { c.RecordMode = "both" }, `"single", "multi"`},
		{"multi-measure-name", func(c *config.Config) { c.MultiMeasureName = "" }, "256"},
		{"future-threshold", func(c *config.Config) { c.FutureThreshold = -time.Second }, "24h"},
		{"batch-size", func(c *config.Config) { c.BatchSize = 0 }, "from 1 to 1000000"},
		{"flush-interval", func(c *config.Config) { c.FlushInterval = 0 }, "greater than 0 and at most 10s, got 0s"},
		{"flush-interval", func(c *config.Config) { c.FlushInterval = 11 * time.Second }, "at most 10s"},
		{"processors", func(c *config.Config) { c.Processors = 0 }, "from 1"},
		{"anomaly-sensitivity", func(c *config.Config) { c.AnomalySensitivity = "extreme" }, "low, medium, high"},
		{"anomaly-sensitivity", func(c *config.Config) { c.AnomalySensitivity = "-2" }, "positive number"},
		{"anomaly-max-series", func(c *config.Config) { c.AnomalyMaxSeries = 0 }, "from 1"},
		{"max-body-bytes", func(c *config.Config) { c.MaxBodyBytes, c.IngestQueueBytes = 2<<30, 4<<30 }, "1GiB"},
		{"max-record-bytes", func(c *config.Config) { c.MaxRecordBytes, c.GroupCommitBytes = 16<<20, 16<<20 }, "--max-body-bytes"},
		{"group-commit-bytes", func(c *config.Config) { c.GroupCommitBytes = 1024 }, "--max-record-bytes"},
		{"ingest-queue-bytes", func(c *config.Config) { c.IngestQueueBytes = 1 << 20 }, "one request fits"},
		{"mqtt-topics", func(c *config.Config) { c.MQTTTopics = []config.TopicMapping{{"a/#/b", "events"}} }, "last"},
		{"mqtt-topics", func(c *config.Config) { c.MQTTTopics = []config.TopicMapping{{"a/b+", "events"}} }, "whole"},
		{"mqtt-topics", func(c *config.Config) { c.MQTTTopics = []config.TopicMapping{{"a", "e.v"}} }, "stream name"},
		{"mqtt-topics", func(c *config.Config) { c.MQTTTopics = []config.TopicMapping{{"a", "x"}, {"a", "y"}} }, "twice"},
		{"mqtt-topics", func(c *config.Config) { c.MQTTTopics = nil }, "nowhere"},
		{"memory-retention", func(c *config.Config) { c.MemoryRetention = 30 * time.Minute }, "8766h"},
		{"memory-retention", func(c *config.Config) { c.MemoryRetention = 90 * time.Minute }, "whole number of hours"},
		{"memory-retention", func(c *config.Config) { c.MemoryRetention = 8767 * time.Hour }, "MemoryStoreRetentionPeriodInHours"},
		{"magnetic-retention", func(c *config.Config) { c.MagneticRetention = 73001 * 24 * time.Hour }, "73000d"},
		{"magnetic-retention", func(c *config.Config) { c.MagneticRetention = 36 * time.Hour }, "whole number of days"},
		{"wal-sync", func(c *config.Config) { c.WALSync = "sometimes" }, `"relaxed"`},
		{"partition-duration", func(c *config.Config) { c.PartitionDuration = time.Second }, "1m to 7d"},
		{"log-level", func(c *config.Config) { c.LogLevel = "verbose" }, `"debug"`},
		{"log-format", func(c *config.Config) { c.LogFormat = "xml" }, `"json"`},
		{"aws-secret-access-key", func(c *config.Config) { c.AWSAccessKeyID = "AKID" }, "missing"},
		{"aws-access-key-id", func(c *config.Config) { c.AWSSecretAccessKey = "sssh" }, "missing"},
		{"keys-file", func(c *config.Config) { c.KeysFile = filepath.Join(dir, "nope") }, "no such file"},
		{"keys-file", func(c *config.Config) { c.KeysFile = dir }, "not a regular file"},
		{"tls-key", func(c *config.Config) { c.TLSCert = keys }, "both or neither"},
		{"tls-cert", func(c *config.Config) { c.TLSKey = keys }, "both or neither"},
		{"tls-cert", func(c *config.Config) { c.TLSCert, c.TLSKey = keys, keys }, "--tls-key"},
	} {
		t.Run(tc.setting+"/"+tc.words, func(t *testing.T) {
			c := config.Default()
			tc.mutate(&c)
			probs := problemsOf(t, c.Validate())
			if len(probs) != 1 {
				t.Fatalf("want 1 problem, got %d: %v", len(probs), c.Validate())
			}
			p := probs[0]
			if p.Setting != tc.setting {
				t.Errorf("problem is about %q, want %q: %v", p.Setting, tc.setting, p)
			}
			fl, env, key := names(tc.setting)
			msg := p.String()
			for _, want := range []string{fl, env, key, tc.words} {
				if !strings.Contains(msg, want) {
					t.Errorf("problem %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestListenerSecurity(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(keys, []byte("k s\n"), 0o600)
	for _, tc := range []struct {
		addr   string
		mutate func(*config.Config)
		ok     bool
	}{
		{"127.0.0.1:0", nil, true},
		{"127.0.0.2:7410", nil, true},
		{"localhost:7410", nil, true},
		{"LOCALHOST:7410", nil, true},
		{"[::1]:7410", nil, true},
		{"", nil, true}, // off
		{"0.0.0.0:7410", nil, false},
		{"[::]:7410", nil, false},
		{":7410", nil, false},
		{"10.0.0.5:7410", nil, false},
		{"sluice.local:7410", nil, false},
		{"0.0.0.0:7410", func(c *config.Config) { c.AllowOpen = true }, true},
		{"0.0.0.0:7410", func(c *config.Config) { c.AWSAccessKeyID, c.AWSSecretAccessKey = "AKID", "sssh" }, true},
		{"0.0.0.0:7410", func(c *config.Config) { c.KeysFile = keys }, true},
	} {
		c := config.Default()
		c.HTTPAddr = tc.addr
		if tc.mutate != nil {
			tc.mutate(&c)
		}
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("http-addr %q (auth %v, open %v): Validate() = %v, want ok=%v", tc.addr, c.AuthConfigured(), c.AllowOpen, err, tc.ok)
		}
	}
}

// TestManyProblemsAtOnce checks that problems from the file, the
// environment and validation come back together, each with its source.
func TestManyProblemsAtOnce(t *testing.T) {
	yamlText := "flush_interval: 0s\nhttp_addr: 0.0.0.0:7410\nbatch_size: lots\nhtp_addr: x\nmax_body_bytes: 8M\n"
	_, err := load(t, yamlText, []string{"SLUICE_RECORD_MODE=both", "SLUICE_STREAM_RETENTION=forever"}, "--log-level=loud")
	probs := problemsOf(t, err)
	msg := err.Error()
	want := []string{
		"--flush-interval (SLUICE_FLUSH_INTERVAL, YAML flush_interval) from ", "sluice.yaml:1:17: must be greater than 0",
		"--http-addr (SLUICE_HTTP_ADDR, YAML http_addr) from ", "sluice.yaml:2:12: listens on",
		"--batch-size (SLUICE_BATCH_SIZE, YAML batch_size) from ", `sluice.yaml:3:13: invalid integer "lots"`,
		`sluice.yaml:4:1: unknown key "htp_addr" (did you mean "http_addr"?)`,
		`sluice.yaml:5:17: invalid size "8M"`,
		`--record-mode (SLUICE_RECORD_MODE, YAML record_mode) from SLUICE_RECORD_MODE: must be one of "single", "multi", got "both"`,
		`from SLUICE_STREAM_RETENTION: invalid duration "forever"`,
		`--log-level (SLUICE_LOG_LEVEL, YAML log_level) from --log-level: must be one of`,
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not contain %q:\n%s", w, msg)
		}
	}
	if len(probs) != 8 || !strings.HasPrefix(msg, fmt.Sprintf("config: %d problems:\n", len(probs))) {
		t.Errorf("got %d problems:\n%s", len(probs), msg)
	}
}

func TestStrictYAML(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key with line", "table: t1x\n\n  # comment\nbogus: 1\n", `sluice.yaml:4:1: unknown key "bogus"`},
		{"flag spelling hint", "http-addr: 127.0.0.1:1\n", `unknown key "http-addr" (did you mean "http_addr"?)`},
		{"duplicate", "table: abc\ntable: abd\n", "set twice in the file (first at "},
		{"list for scalar", "table: [a, b]\n", "takes a single value, not a list"},
		{"mapping value", "table: {a: b}\n", "not a mapping"},
		{"nested list item", "mqtt_topics:\n  - [a]\n", "must be a string"},
		{"bad topic item line", "mqtt_topics:\n  - a=x\n  - nothing\n", "sluice.yaml:3:5: invalid MQTT topic mapping"},
		{"not a mapping", "- a\n- b\n", "top level must be a mapping"},
		{"syntax", "table: [\n", "parsing YAML"},
		{"two documents", "table: abc\n---\ntable: abd\n", "more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Empty files, comments, null values and anchors are fine.
	for _, ok := range []string{"\n", "# nothing\n", "nats_url:\n", "database: &x iot2\ntable: *x\n"} {
		if _, err := load(t, ok, nil); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	cfg, err := load(t, "database: &x iot2\ntable: *x\n", nil)
	if err != nil || cfg.Table != "iot2" {
		t.Errorf("alias: table %q, %v", cfg.Table, err)
	}
}

func TestExampleYAMLLoadsDefaults(t *testing.T) {
	cfg, err := load(t, config.ExampleYAML(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, config.Default()) {
		t.Fatalf("example file loads %v\nwant %v", cfg, config.Default())
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	c := config.Default()
	c.AWSAccessKeyID = "AKIDEXAMPLE"
	c.AWSSecretAccessKey = secret
	c.HTTPAddr = "0.0.0.0:7410"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c))
	}
	out = append(out, c.String(), fmt.Sprint(c.Redacted()), fmt.Sprintf("%+v", c.Redacted()))
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		c.LogFormat = format
		log := c.Logger(&buf)
		log.Info("starting", "config", c, "ptr", &c)
		log.Info("any", "config", any(c))
		out = append(out, buf.String())
	}
	// Validation messages about the pair must not echo the secret either.
	bad := c
	bad.AWSAccessKeyID = ""
	out = append(out, fmt.Sprint(bad.Validate()))
	// Nor may -h output, even when the flag was set.
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	d := config.Default()
	d.RegisterFlags(fs)
	if err := fs.Parse([]string{"--aws-secret-access-key", secret}); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	out = append(out, usage.String(), fs.Lookup("aws-secret-access-key").Value.String())

	for i, s := range out {
		if strings.Contains(s, secret) || strings.Contains(s, secret[:12]) {
			t.Errorf("output %d leaks the secret: %s", i, s)
		}
	}
	if !strings.Contains(out[0], "REDACTED") || !strings.Contains(out[0], "AKIDEXAMPLE") {
		t.Errorf("%%v should show the key id and REDACTED: %s", out[0])
	}
	if c.AWSSecretAccessKey != secret {
		t.Error("Redacted changed the original")
	}
}

func TestLogger(t *testing.T) {
	c := config.Default()
	c.LogLevel, c.LogFormat = "warn", "json"
	var buf bytes.Buffer
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if s := buf.String(); strings.Contains(s, "hidden") || !strings.Contains(s, `"msg":"shown"`) {
		t.Fatalf("json/warn logger wrote %q", s)
	}
	buf.Reset()
	c.LogLevel, c.LogFormat = "debug", "text"
	c.Logger(&buf).Debug("dbg")
	if s := buf.String(); !strings.Contains(s, "level=DEBUG msg=dbg") {
		t.Fatalf("text/debug logger wrote %q", s)
	}
}

func TestFlags(t *testing.T) {
	// RegisterFlags on the caller's Config: flags write into it, and Load
	// still returns the merged result.
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mine := config.Default()
	mine.RegisterFlags(fs)
	mine.RegisterFlags(fs) // twice is harmless
	cfg, err := config.Load(fs, []string{"--allow-open", "--http-addr=:0", "--batch-size", "7", "rest"}, []string{"SLUICE_TABLE=envtable"})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AllowOpen || cfg.HTTPAddr != ":0" || cfg.BatchSize != 7 || cfg.Table != "envtable" {
		t.Fatalf("got %v", cfg)
	}
	if mine.BatchSize != 7 {
		t.Errorf("flag did not write into the bound Config")
	}
	if got := fs.Args(); len(got) != 1 || got[0] != "rest" {
		t.Errorf("fs.Args() = %v", got)
	}
	if f := fs.Lookup("flush-interval"); f == nil || f.DefValue != "100ms" {
		t.Errorf("flush-interval DefValue = %v", f)
	}

	// A malformed flag fails at parse time and names the flag.
	_, err = load(t, "", nil, "--flush-interval=soon")
	if err == nil || !strings.Contains(err.Error(), "flush-interval") {
		t.Errorf("bad flag: %v", err)
	}
	_, err = load(t, "", nil, "-h")
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestUnknownEnv(t *testing.T) {
	got := config.UnknownEnv([]string{"SLUICE_TABLE=x", "SLUICE_TABEL=y", "SLUICE_CONFIG=z", "HOME=/"})
	if len(got) != 1 || got[0] != "SLUICE_TABEL" {
		t.Fatalf("UnknownEnv = %v", got)
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writeCert(t, dir, "a")
	_, keyB := writeCert(t, dir, "b")
	c := config.Default()
	c.TLSCert, c.TLSKey = certA, keyA
	if err := c.Validate(); err != nil {
		t.Fatalf("matching pair: %v", err)
	}
	c.TLSKey = keyB
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--tls-cert (SLUICE_TLS_CERT, YAML tls_cert)") {
		t.Fatalf("mismatched pair: %v", err)
	}
	c.TLSCert = filepath.Join(dir, "missing.pem")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing cert: %v", err)
	}
}

func writeCert(t *testing.T, dir, name string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certPath, keyPath
}

// TestReferenceDocs fails when docs/configuration.md differs from
// config.Reference(); run "go test ./internal/config -update" to rewrite it.
func TestReferenceDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	want := config.Reference()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -update)", err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date: run go test ./internal/config -update and commit the result", path)
	}
	// Every setting appears with all three names.
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	d := config.Default()
	d.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		fl, env, key := names(f.Name)
		row := "| `" + fl + "` | `" + env + "` | `" + key + "` |"
		if !strings.Contains(want, row) {
			t.Errorf("reference lacks row %q", row)
		}
	})
}
