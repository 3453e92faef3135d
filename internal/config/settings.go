package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// setting describes one configuration setting. The table below is the only
// list of settings: flags, environment variables, YAML keys, validation of
// choices and docs/configuration.md are all derived from it, so they cannot
// drift apart.
type setting struct {
	name    string   // flag name; env and YAML names derive from it
	section string   // heading in the reference docs
	help    string   // one or two sentences, plain text (no backquotes: the flag package treats them specially)
	choices []string // allowed values, if an enumeration
	secret  bool     // never printed
	isBool  bool     // a flag without a value means true

	// set parses text into c's field, replacing its value.
	set func(c *Config, text string) error
	// add parses text and appends it to c's field; only list settings have it
	// (a repeated flag, an element of a YAML sequence).
	add func(c *Config, text string) error
	// get formats c's field in the syntax set reads.
	get func(c *Config) string
	// copy copies the field from src to dst.
	copy func(dst, src *Config)
}

func (s *setting) env() string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func (s *setting) yamlKey() string { return strings.ReplaceAll(s.name, "-", "_") }

// label names the setting in all three places it can be set, for messages.
func (s *setting) label() string {
	return "--" + s.name + " (" + s.env() + ", YAML " + s.yamlKey() + ")"
}

// display formats c's field for people: secrets are masked.
func (s *setting) display(c *Config) string {
	v := s.get(c)
	if s.secret && v != "" {
		return redacted
	}
	return v
}

const redacted = "REDACTED"

// Section headings, in the order the reference lists them.
const (
	secGeneral   = "General"
	secListeners = "Listeners"
	secStream    = "Stream"
	secProcess   = "Processing"
	secIngest    = "Ingest limits"
	secMQTT      = "MQTT"
	secStorage   = "Storage"
	secLake      = "Lake"
	secLogging   = "Logging"
	secSecurity  = "Security"
)

// settings is the table of every setting. It is read-only after package
// initialisation.
var settings = []setting{
	str("data-dir", secGeneral, "Directory that holds everything sluice stores: stream/ (the log), tsdb/ (the store), lake/ (raw events) and catalog/.", func(c *Config) *string { return &c.DataDir }),

	str("http-addr", secListeners, "Listen address (host:port) of the native HTTP API, the AWS-compatible APIs, the console and /metrics. Empty turns it off.", func(c *Config) *string { return &c.HTTPAddr }),
	str("pg-addr", secListeners, "Listen address of the PostgreSQL wire protocol (Grafana, psql). Empty turns it off.", func(c *Config) *string { return &c.PGAddr }),
	str("mqtt-addr", secListeners, "Listen address of the MQTT broker that devices publish to. Empty turns it off.", func(c *Config) *string { return &c.MQTTAddr }),
	str("nats-listen", secListeners, "Expose the embedded NATS server on this address (host:port). Empty keeps it in-process only.", func(c *Config) *string { return &c.NATSListen }),
	str("nats-url", secListeners, "Use an external NATS JetStream server or cluster (comma-separated nats:// or tls:// URLs) instead of the embedded one.", func(c *Config) *string { return &c.NATSURL }),

	str("stream", secStream, "Stream that device events are written to.", func(c *Config) *string { return &c.Stream }),
	str("dead-letter-stream", secStream, "Stream that receives events that cannot be mapped, with the reason and the original bytes.", func(c *Config) *string { return &c.DeadLetterStream }),
	dur("stream-retention", secStream, "How long the stream keeps events (0 keeps them until stream-max-bytes is reached).", func(c *Config) *time.Duration { return &c.StreamRetention }),
	choice(str("stream-sync", secStream, `When the stream fsyncs. "always": before every acknowledgement, so an acknowledged event survives power loss. "interval": every stream-sync-interval (relaxed, faster): a machine crash or power loss can lose events that were acknowledged within the last interval.`, func(c *Config) *string { return &c.StreamSync }), "always", "interval"),
	dur("stream-sync-interval", secStream, `Time between fsyncs when stream-sync is "interval".`, func(c *Config) *time.Duration { return &c.StreamSyncInterval }),
	size("stream-max-bytes", secStream, "Largest size of the stream on disk; the oldest events are removed beyond it. 0 means unlimited.", func(c *Config) *int64 { return &c.StreamMaxBytes }),

	str("database", secProcess, "Database that the processor writes records to.", func(c *Config) *string { return &c.Database }),
	str("table", secProcess, "Table that the processor writes records to.", func(c *Config) *string { return &c.Table }),
	choice(str("record-mode", secProcess, `How events become records. "single": one record per measure (as in the seed). "multi": one multi-measure record per event.`, func(c *Config) *string { return &c.RecordMode }), "single", "multi"),
	str("multi-measure-name", secProcess, `Measure name of multi-measure records (record-mode "multi").`, func(c *Config) *string { return &c.MultiMeasureName }),
	dur("future-threshold", secProcess, "A record more than this far ahead of its stream arrival time gets the arrival time instead (clock correction).", func(c *Config) *time.Duration { return &c.FutureThreshold }),
	integer("batch-size", secProcess, "Most records the processor writes to the store in one batch.", func(c *Config) *int { return &c.BatchSize }),
	dur("flush-interval", secProcess, "Longest time the processor holds a partial batch (greater than 0, at most 10s).", func(c *Config) *time.Duration { return &c.FlushInterval }),
	integer("processors", secProcess, "Number of processor workers sharing the stream's durable consumer, each decoding, writing and scoring in stages of its own; on two cores one worker falls behind ingest, two keep up.", func(c *Config) *int { return &c.Processors }),
	boolean("anomalies", secProcess, "Score every numeric measure value for anomalies as the processor writes it, against a baseline learnt per series (level, trend, daily and weekly seasonality), and keep the anomalies in the system table sluice.anomalies. The baselines are saved in insights/detector.state under data-dir every minute and at shutdown.", func(c *Config) *bool { return &c.Anomalies }),
	str("anomaly-sensitivity", secProcess, `How far from its expected value a point must lie to be an anomaly: "low" (6 robust standard deviations, fewer and surer anomalies), "medium" (5), "high" (4, more anomalies and more false alarms), or the number of standard deviations itself.`, func(c *Config) *string { return &c.AnomalySensitivity }),
	integer("anomaly-max-series", secProcess, "Most series the anomaly detector keeps a baseline for (about 1KiB each); beyond it the least recently seen series is forgotten and learns again from scratch when it comes back.", func(c *Config) *int { return &c.AnomalyMaxSeries }),

	size("max-body-bytes", secIngest, "Largest HTTP ingest request body; larger requests get 413.", func(c *Config) *int64 { return &c.MaxBodyBytes }),
	size("max-record-bytes", secIngest, "Largest single device event.", func(c *Config) *int64 { return &c.MaxRecordBytes }),
	size("group-commit-bytes", secIngest, "Largest stream message that concurrent small requests are coalesced into (group commit).", func(c *Config) *int64 { return &c.GroupCommitBytes }),
	size("ingest-queue-bytes", secIngest, "Bytes that may wait for the stream; beyond this, ingest answers 429/503 with Retry-After (backpressure).", func(c *Config) *int64 { return &c.IngestQueueBytes }),

	topics("mqtt-topics", secMQTT, "MQTT topic filters and the stream each feeds, as pattern=stream. As a flag it may repeat or be comma-separated; in YAML it is a list of strings. + matches one topic level, # the rest (last level only).", func(c *Config) *[]TopicMapping { return &c.MQTTTopics }),

	dur("memory-retention", secStorage, "Default memory-store (hot tier) retention of new tables, like Timestream's MemoryStoreRetentionPeriodInHours: whole hours from 1h to 8766h.", func(c *Config) *time.Duration { return &c.MemoryRetention }),
	dur("magnetic-retention", secStorage, `Default magnetic-store retention of new tables, like Timestream's MagneticStoreRetentionPeriodInDays: whole days from 1d to 73000d ("d" means 24h).`, func(c *Config) *time.Duration { return &c.MagneticRetention }),
	choice(str("wal-sync", secStorage, `When the store's write-ahead log fsyncs. "always": before a write is acknowledged. "relaxed": in the background (faster): a machine crash or power loss can lose the most recent records although the stream already counts them as processed.`, func(c *Config) *string { return &c.WALSync }), "always", "relaxed"),
	size("page-cache-bytes", secStorage, "Memory for decoded pages of the cold tier's part files, kept for queries that read them again (a dashboard's refresh). 0 turns the cache off.", func(c *Config) *int64 { return &c.PageCacheBytes }),
	dur("partition-duration", secStorage, "Time span of one storage partition (from 1m to 7d).", func(c *Config) *time.Duration { return &c.PartitionDuration }),

	boolean("lake", secLake, "Deliver the original events of the stream to the data lake as files (a second durable consumer, like Firehose to S3).", func(c *Config) *bool { return &c.Lake }),
	str("lake-dir", secLake, "Root directory of the data lake. Empty means lake/ under data-dir.", func(c *Config) *string { return &c.LakeDir }),
	choice(str("lake-format", secLake, `File format of lake objects. "jsonl": one original event per line, as Firehose writes them. "parquet": columns inferred from the events, the schema growing as new keys appear.`, func(c *Config) *string { return &c.LakeFormat }), "jsonl", "parquet"),
	choice(str("lake-compression", secLake, `Compression of JSON Lines objects ("gzip" adds .gz). Parquet objects use no codec: their dictionary and plain encodings already make them about 3 times smaller than JSON Lines, and decompression was the largest cost of scanning them.`, func(c *Config) *string { return &c.LakeCompression }), "none", "gzip"),
	str("lake-prefix", secLake, "Object key prefix under lake-dir, in Firehose's expression syntax: !{timestamp:yyyy} (and MM, dd, HH, ...) of the arrival time of the oldest event in the object, !{firehose:random-string}.", func(c *Config) *string { return &c.LakePrefix }),
	str("lake-error-prefix", secLake, "Object key prefix for events that cannot be delivered as they are; must contain !{firehose:error-output-type}.", func(c *Config) *string { return &c.LakeErrorPrefix }),
	size("lake-buffer-bytes", secLake, "Bytes buffered before a lake object is written (Firehose's SizeInMBs; 1MiB to 128MiB).", func(c *Config) *int64 { return &c.LakeBufferBytes }),
	dur("lake-buffer-interval", secLake, "Longest time events wait in the buffer before a lake object is written (Firehose's IntervalInSeconds; up to 900s).", func(c *Config) *time.Duration { return &c.LakeBufferInterval }),

	choice(str("log-level", secLogging, "Lowest level that is logged.", func(c *Config) *string { return &c.LogLevel }), "debug", "info", "warn", "error"),
	choice(str("log-format", secLogging, "Log line format.", func(c *Config) *string { return &c.LogFormat }), "text", "json"),

	str("aws-access-key-id", secSecurity, "Access key id of the administrator key, allowed everything. Clients sign AWS API requests with it (SigV4) and use it as user name on the native API (Basic or Bearer), MQTT and PostgreSQL. Setting keys guards every listener. Needs aws-secret-access-key.", func(c *Config) *string { return &c.AWSAccessKeyID }),
	secret(str("aws-secret-access-key", secSecurity, "Secret access key that goes with aws-access-key-id. Never printed; prefer the environment variable or the YAML file to the flag, which other local users can see.", func(c *Config) *string { return &c.AWSSecretAccessKey })),
	str("keys-file", secSecurity, "YAML file of further access keys, each with a secret and an IAM-style policy (docs/security.md). Used instead of or besides aws-access-key-id.", func(c *Config) *string { return &c.KeysFile }),
	boolean("allow-unsigned", secSecurity, "With access keys configured, still admit requests and connections that carry no credential at all, with full access (wrong credentials are still refused). For development; only allowed when every listener is on a loopback address.", func(c *Config) *bool { return &c.AllowUnsigned }),
	boolean("allow-open", secSecurity, "Allow listeners on non-loopback addresses without access keys: anyone who can reach them can write and read all data.", func(c *Config) *bool { return &c.AllowOpen }),
	str("tls-cert", secSecurity, "PEM certificate file (with any intermediate certificates) for TLS on the HTTP, MQTT and PostgreSQL listeners. Needs tls-key. Read at start.", func(c *Config) *string { return &c.TLSCert }),
	str("tls-key", secSecurity, "PEM private key file that goes with tls-cert.", func(c *Config) *string { return &c.TLSKey }),
}

// lookup returns the setting with the given flag name, or nil.
func lookup(name string) *setting {
	for i := range settings {
		if settings[i].name == name {
			return &settings[i]
		}
	}
	return nil
}

func str(name, section, help string, f func(*Config) *string) setting {
	return setting{
		name: name, section: section, help: help,
		set:  func(c *Config, t string) error { *f(c) = t; return nil },
		get:  func(c *Config) string { return *f(c) },
		copy: func(d, s *Config) { *f(d) = *f(s) },
	}
}

func choice(s setting, choices ...string) setting {
	s.choices = choices
	return s
}

func secret(s setting) setting {
	s.secret = true
	return s
}

func dur(name, section, help string, f func(*Config) *time.Duration) setting {
	return setting{
		name: name, section: section, help: help,
		set: func(c *Config, t string) error {
			d, err := ParseDuration(strings.TrimSpace(t))
			if err != nil {
				return err
			}
			*f(c) = d
			return nil
		},
		get:  func(c *Config) string { return FormatDuration(*f(c)) },
		copy: func(d, s *Config) { *f(d) = *f(s) },
	}
}

func size(name, section, help string, f func(*Config) *int64) setting {
	return setting{
		name: name, section: section, help: help,
		set: func(c *Config, t string) error {
			n, err := ParseSize(t)
			if err != nil {
				return err
			}
			*f(c) = n
			return nil
		},
		get:  func(c *Config) string { return FormatSize(*f(c)) },
		copy: func(d, s *Config) { *f(d) = *f(s) },
	}
}

func integer(name, section, help string, f func(*Config) *int) setting {
	return setting{
		name: name, section: section, help: help,
		set: func(c *Config, t string) error {
			n, err := strconv.Atoi(strings.TrimSpace(t))
			if err != nil {
				return fmt.Errorf("invalid integer %q", t)
			}
			*f(c) = n
			return nil
		},
		get:  func(c *Config) string { return strconv.Itoa(*f(c)) },
		copy: func(d, s *Config) { *f(d) = *f(s) },
	}
}

func boolean(name, section, help string, f func(*Config) *bool) setting {
	return setting{
		name: name, section: section, help: help, isBool: true,
		set: func(c *Config, t string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(t))
			if err != nil {
				return fmt.Errorf("invalid boolean %q (want true or false)", t)
			}
			*f(c) = b
			return nil
		},
		get:  func(c *Config) string { return strconv.FormatBool(*f(c)) },
		copy: func(d, s *Config) { *f(d) = *f(s) },
	}
}

func topics(name, section, help string, f func(*Config) *[]TopicMapping) setting {
	return setting{
		name: name, section: section, help: help,
		set: func(c *Config, t string) error {
			ms, err := parseTopicList(t)
			if err != nil {
				return err
			}
			*f(c) = ms
			return nil
		},
		add: func(c *Config, t string) error {
			ms, err := parseTopicList(t)
			if err != nil {
				return err
			}
			*f(c) = append(*f(c), ms...)
			return nil
		},
		get:  func(c *Config) string { return formatTopicList(*f(c)) },
		copy: func(d, s *Config) { *f(d) = slices.Clone(*f(s)) },
	}
}
