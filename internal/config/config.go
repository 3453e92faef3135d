// Package config holds the one configuration of `sluice server` and
// `sluice demo`: a Config struct filled, in increasing priority, from
// defaults, an optional YAML file (--config FILE or SLUICE_CONFIG), SLUICE_*
// environment variables and command-line flags, then validated.
//
// Every setting is described once, in the settings table (settings.go); the
// flags, environment variables, YAML keys, choice checks and the generated
// docs/configuration.md (Reference) all come from that table, so they cannot
// disagree. Validate reports every problem at once in a single *Error, each
// problem naming the setting's flag, SLUICE_* variable and YAML key and,
// when Load filled the Config, where the offending value came from.
//
// Invariants: the AWS secret access key is never printed (String, GoString,
// LogValue and error messages mask it); listeners on non-loopback addresses
// are refused unless access keys are configured or allow-open is set.
//
// Concurrency: the package has no mutable state; a Config is a plain value
// and may be read from many goroutines once filled. A *flag.FlagSet is not
// safe for concurrent use, as usual.
package config

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

// Config is the whole configuration of a sluice server. Field meanings,
// defaults and syntax are in docs/configuration.md (see Reference).
type Config struct {
	DataDir string

	HTTPAddr, PGAddr, MQTTAddr, NATSListen, NATSURL string

	Stream, DeadLetterStream string
	StreamRetention          time.Duration
	StreamSync               string
	StreamSyncInterval       time.Duration
	StreamMaxBytes           int64

	Database, Table, RecordMode, MultiMeasureName string
	FutureThreshold                               time.Duration
	BatchSize                                     int
	FlushInterval                                 time.Duration
	Processors                                    int

	Anomalies          bool
	AnomalySensitivity string // low, medium, high or a z threshold; see insights.ParseSensitivity
	AnomalyMaxSeries   int

	MaxBodyBytes, MaxRecordBytes, GroupCommitBytes, IngestQueueBytes int64

	MQTTTopics []TopicMapping

	MemoryRetention, MagneticRetention, PartitionDuration time.Duration
	WALSync                                               string
	PageCacheBytes                                        int64

	Lake                                 bool
	LakeDir, LakeFormat, LakeCompression string
	LakePrefix, LakeErrorPrefix          string
	LakeBufferBytes                      int64
	LakeBufferInterval                   time.Duration

	LogLevel, LogFormat string

	AWSAccessKeyID, AWSSecretAccessKey, KeysFile string
	AllowOpen, AllowUnsigned                     bool
	TLSCert, TLSKey                              string
}

// Default returns the built-in defaults (DESIGN.md §3). Listeners bind to
// loopback so that a default configuration is never reachable from outside.
func Default() Config {
	return Config{
		DataDir:            "./sluice-data",
		HTTPAddr:           "127.0.0.1:7410",
		PGAddr:             "127.0.0.1:5433",
		MQTTAddr:           "127.0.0.1:1883",
		Stream:             "events",
		DeadLetterStream:   "events-dlq",
		StreamRetention:    24 * time.Hour,
		StreamSync:         "always",
		StreamSyncInterval: time.Second,
		Database:           "iot",
		Table:              "telemetry",
		RecordMode:         "single",
		MultiMeasureName:   "metrics",
		FutureThreshold:    15 * time.Minute,
		BatchSize:          10000,
		FlushInterval:      100 * time.Millisecond,
		Processors:         2,
		Anomalies:          true,
		AnomalySensitivity: "medium",
		AnomalyMaxSeries:   insights.DefaultMaxSeries,
		MaxBodyBytes:       8 << 20,
		MaxRecordBytes:     1 << 20,
		GroupCommitBytes:   1 << 20,
		IngestQueueBytes:   64 << 20,
		MQTTTopics:         []TopicMapping{{Pattern: "devices/+/telemetry", Stream: "events"}},
		MemoryRetention:    6 * time.Hour,
		MagneticRetention:  73000 * day,
		WALSync:            "always",
		PartitionDuration:  time.Hour,
		PageCacheBytes:     64 << 20,
		Lake:               true,
		LakeFormat:         "jsonl",
		LakeCompression:    "none",
		LakePrefix:         DefaultLakePrefix,
		LakeErrorPrefix:    DefaultLakeErrorPrefix,
		LakeBufferBytes:    5 << 20,
		LakeBufferInterval: 300 * time.Second,
		LogLevel:           "info",
		LogFormat:          "text",
	}
}

// Default lake object prefixes: Hive-style partitions by arrival hour (UTC),
// written as Firehose prefix expressions so that one template language
// covers the default and custom layouts.
const (
	DefaultLakePrefix      = "events/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
	DefaultLakeErrorPrefix = "errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
)

// configFlag names the flag (and, as SLUICE_CONFIG, the variable) that points
// at the YAML file. It has no YAML key: a file cannot name another file.
const (
	configFlag = "config"
	configEnv  = "SLUICE_CONFIG"
)

// RegisterFlags binds every setting, plus --config, to fs. Each flag writes
// into c's field and shows c's current value as its default, so call it on a
// Config from Default. Flags that fs already defines are left alone, so
// calling it twice does not panic. Load copies the flags the user set from
// wherever they were bound, so the Config passed here need not be the one
// Load returns.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if fs.Lookup(configFlag) == nil {
		fs.String(configFlag, "", "YAML configuration `file` (also "+configEnv+"); environment variables and flags override it")
	}
	for i := range settings {
		s := &settings[i]
		if fs.Lookup(s.name) != nil {
			continue
		}
		fs.Var(&flagValue{s: s, c: c}, s.name, s.help+" ("+s.env()+")")
	}
}

// flagValue adapts one setting of one Config to flag.Value.
type flagValue struct {
	s *setting
	c *Config
	n int // number of Set calls: the first replaces a list default, later ones append
}

// String must work on the zero flagValue: the flag package builds one to
// find out whether a default is the zero value.
func (v *flagValue) String() string {
	if v == nil || v.s == nil || v.c == nil {
		return ""
	}
	return v.s.display(v.c)
}

func (v *flagValue) Set(text string) error {
	defer func() { v.n++ }()
	if v.s.add != nil && v.n > 0 {
		return v.s.add(v.c, text)
	}
	return v.s.set(v.c, text)
}

func (v *flagValue) IsBoolFlag() bool { return v != nil && v.s != nil && v.s.isBool }

// AuthConfigured reports whether clients must authenticate: an access key
// pair or a keys file is configured.
func (c Config) AuthConfigured() bool {
	return (c.AWSAccessKeyID != "" && c.AWSSecretAccessKey != "") || c.KeysFile != ""
}

// Redacted returns a copy of c that is safe to print or log: the secret
// access key, if set, is replaced by "REDACTED".
func (c Config) Redacted() Config {
	if c.AWSSecretAccessKey != "" {
		c.AWSSecretAccessKey = redacted
	}
	c.MQTTTopics = append([]TopicMapping(nil), c.MQTTTopics...)
	return c
}

// String prints every setting as yaml_key=value, secrets masked. It also
// serves fmt's %v and %+v, so a Config printed by accident leaks nothing.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i := range settings {
		s := &settings[i]
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(s.yamlKey())
		b.WriteString("=")
		b.WriteString(s.display(&c))
	}
	b.WriteString("}")
	return b.String()
}

// GoString serves %#v with the secret masked.
func (c Config) GoString() string {
	type plain Config // no methods, so %#v prints fields
	return "config.Config" + strings.TrimPrefix(fmt.Sprintf("%#v", plain(c.Redacted())), "config.plain")
}

// LogValue makes slog print every setting, secrets masked, in both the text
// and the JSON handler.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, len(settings))
	for i := range settings {
		s := &settings[i]
		attrs[i] = slog.String(s.yamlKey(), s.display(&c))
	}
	return slog.GroupValue(attrs...)
}

// Logger returns a logger writing to w at log-level in log-format. Unknown
// values (which Validate rejects) fall back to info and text.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
