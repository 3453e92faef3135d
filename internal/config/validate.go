package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Setting is the flag name of the setting concerned ("http-addr"), or
	// empty for problems of the file as a whole (unknown key, bad YAML).
	Setting string
	// Source says where the offending value came from: "--flag",
	// "SLUICE_VAR", "FILE:LINE:COL", or empty for a default or a Config
	// built in code.
	Source  string
	Message string
}

// String names the setting by its flag, variable and YAML key, then the
// source of the value, then what is wrong.
func (p Problem) String() string {
	var b strings.Builder
	if s := lookup(p.Setting); s != nil {
		b.WriteString(s.label())
		if p.Source != "" {
			b.WriteString(" from ")
			b.WriteString(p.Source)
		}
	} else {
		b.WriteString(p.Source)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Error reports every problem found in a configuration at once, so that an
// operator can fix them all in one go (nats-server's processConfigErr).
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "config: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks every setting and returns nil or an *Error listing every
// problem. It reads the TLS and keys files to check that they exist.
func (c Config) Validate() error {
	if probs := c.problems(nil); len(probs) > 0 {
		return &Error{Problems: probs}
	}
	return nil
}

// checker gathers problems, attributing each to a setting and to the source
// its value came from.
type checker struct {
	c     *Config
	src   map[string]string
	probs []Problem
}

func (k *checker) addf(name, format string, args ...any) {
	k.probs = append(k.probs, Problem{Setting: name, Source: k.src[name], Message: fmt.Sprintf(format, args...)})
}

func (k *checker) durRange(name string, d, lo, hi time.Duration, what string) {
	if d < lo || d > hi {
		k.addf(name, "must be %s, got %s", what, FormatDuration(d))
	}
}

func (k *checker) intRange(name string, n, lo, hi int64, show func(int64) string) {
	if n < lo || n > hi {
		k.addf(name, "must be from %s to %s, got %s", show(lo), show(hi), show(n))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (c Config) problems(src map[string]string) []Problem {
	k := &checker{c: &c, src: src}

	for i := range settings {
		s := &settings[i]
		if len(s.choices) > 0 && !slices.Contains(s.choices, s.get(&c)) {
			k.addf(s.name, "must be one of %s, got %q", quoteList(s.choices), s.get(&c))
		}
	}

	if c.DataDir == "" {
		k.addf("data-dir", "must not be empty")
	}

	k.listeners()

	if c.NATSURL != "" {
		for u := range strings.SplitSeq(c.NATSURL, ",") {
			u = strings.TrimSpace(u)
			p, err := url.Parse(u)
			switch {
			case err != nil || p.Host == "":
				k.addf("nats-url", "%q is not a URL like nats://host:4222", u)
			case !slices.Contains([]string{"nats", "tls", "ws", "wss"}, p.Scheme):
				k.addf("nats-url", "%q: scheme must be nats, tls, ws or wss", u)
			}
		}
		if c.NATSListen != "" {
			k.addf("nats-listen", "cannot be used with --nats-url (SLUICE_NATS_URL, YAML nats_url): --nats-listen exposes the embedded NATS server, --nats-url replaces it with an external one; set only one")
		}
	}

	// Stream.
	if err := checkStreamName(c.Stream); err != nil {
		k.addf("stream", "%v", err)
	}
	if err := checkStreamName(c.DeadLetterStream); err != nil {
		k.addf("dead-letter-stream", "%v", err)
	} else if c.DeadLetterStream == c.Stream {
		k.addf("dead-letter-stream", "must differ from --stream (%q): dead letters would be fed back to the processor", c.Stream)
	}
	if c.StreamRetention != 0 {
		k.durRange("stream-retention", c.StreamRetention, time.Minute, 1<<63-1, "0 (no age limit) or at least 1m")
	}
	k.durRange("stream-sync-interval", c.StreamSyncInterval, time.Millisecond, 2*time.Minute, "from 1ms to 2m")
	if c.StreamMaxBytes < 0 || (c.StreamMaxBytes > 0 && c.StreamMaxBytes < c.GroupCommitBytes) {
		k.addf("stream-max-bytes", "must be 0 (unlimited) or at least --group-commit-bytes (%s), got %s", FormatSize(c.GroupCommitBytes), FormatSize(c.StreamMaxBytes))
	}

	// Processing.
	k.timestreamName("database", c.Database)
	k.timestreamName("table", c.Table)
	if c.MultiMeasureName == "" || len(c.MultiMeasureName) > 256 {
		k.addf("multi-measure-name", "must be 1 to 256 bytes long, got %d", len(c.MultiMeasureName))
	}
	k.durRange("future-threshold", c.FutureThreshold, 0, 24*time.Hour, "from 0s to 24h")
	k.intRange("batch-size", int64(c.BatchSize), 1, 1_000_000, itoa)
	k.durRange("flush-interval", c.FlushInterval, 1, 10*time.Second, "greater than 0 and at most 10s")
	k.intRange("processors", int64(c.Processors), 1, 1024, itoa)
	if _, err := insights.ParseSensitivity(c.AnomalySensitivity); err != nil {
		k.addf("anomaly-sensitivity", "must be low, medium, high or a positive number (standard deviations), got %q", c.AnomalySensitivity)
	}
	k.intRange("anomaly-max-series", int64(c.AnomalyMaxSeries), 1, 100_000_000, itoa)

	// Ingest limits, each bounded by the one it must fit into.
	k.intRange("max-body-bytes", c.MaxBodyBytes, 1<<10, 1<<30, FormatSize)
	if c.MaxRecordBytes < 1 || c.MaxRecordBytes > c.MaxBodyBytes {
		k.addf("max-record-bytes", "must be from 1 to --max-body-bytes (%s), got %s", FormatSize(c.MaxBodyBytes), FormatSize(c.MaxRecordBytes))
	}
	if c.GroupCommitBytes < c.MaxRecordBytes || c.GroupCommitBytes > 64<<20 {
		k.addf("group-commit-bytes", "must be from --max-record-bytes (%s) to 64MiB (NATS's largest message), got %s", FormatSize(c.MaxRecordBytes), FormatSize(c.GroupCommitBytes))
	}
	if need := max(c.MaxBodyBytes, c.GroupCommitBytes); c.IngestQueueBytes < need {
		k.addf("ingest-queue-bytes", "must be at least --max-body-bytes and --group-commit-bytes (%s) so that one request fits, got %s", FormatSize(need), FormatSize(c.IngestQueueBytes))
	}

	// MQTT.
	if len(c.MQTTTopics) == 0 && c.MQTTAddr != "" {
		k.addf("mqtt-topics", "is empty while --mqtt-addr is set: MQTT messages would go nowhere; add a mapping like devices/+/telemetry=events or set --mqtt-addr to empty")
	}
	seen := make(map[string]bool)
	for _, m := range c.MQTTTopics {
		if err := checkTopicFilter(m.Pattern); err != nil {
			k.addf("mqtt-topics", "%q: %v", m.String(), err)
		}
		if err := checkStreamName(m.Stream); err != nil {
			k.addf("mqtt-topics", "%q: %v", m.String(), err)
		}
		if seen[m.Pattern] {
			k.addf("mqtt-topics", "pattern %q is mapped twice", m.Pattern)
		}
		seen[m.Pattern] = true
	}

	// Storage, with Timestream's retention ranges and units.
	switch mr := c.MemoryRetention; {
	case mr < time.Hour || mr > 8766*time.Hour:
		k.addf("memory-retention", "must be from 1h to 8766h (Timestream's MemoryStoreRetentionPeriodInHours range), got %s", FormatDuration(mr))
	case mr%time.Hour != 0:
		k.addf("memory-retention", "must be a whole number of hours, got %s", FormatDuration(mr))
	}
	switch mr := c.MagneticRetention; {
	case mr < day || mr > 73000*day:
		k.addf("magnetic-retention", "must be from 1d to 73000d (Timestream's MagneticStoreRetentionPeriodInDays range), got %s", FormatDuration(mr))
	case mr%day != 0:
		k.addf("magnetic-retention", "must be a whole number of days, got %s", FormatDuration(mr))
	}
	k.durRange("partition-duration", c.PartitionDuration, time.Minute, 7*day, "from 1m to 7d")
	k.intRange("page-cache-bytes", c.PageCacheBytes, 0, 1<<40, FormatSize)

	// Lake, with Firehose's buffering ranges.
	k.intRange("lake-buffer-bytes", c.LakeBufferBytes, 1<<20, 128<<20, FormatSize)
	k.durRange("lake-buffer-interval", c.LakeBufferInterval, 0, 900*time.Second, "from 0s to 900s")
	if strings.Contains(c.LakePrefix, "!{firehose:error-output-type}") {
		k.addf("lake-prefix", "may not use !{firehose:error-output-type}; that belongs in --lake-error-prefix")
	}
	if !strings.Contains(c.LakeErrorPrefix, "!{firehose:error-output-type}") {
		k.addf("lake-error-prefix", "must contain !{firehose:error-output-type}, got %q", c.LakeErrorPrefix)
	}

	k.security()
	return k.probs
}

// listeners checks listener syntax, port clashes and the loopback rule.
func (k *checker) listeners() {
	c := k.c
	type bound struct{ name, host, port string }
	var all []bound
	for _, l := range []struct{ name, addr string }{
		{"http-addr", c.HTTPAddr}, {"pg-addr", c.PGAddr}, {"mqtt-addr", c.MQTTAddr}, {"nats-listen", c.NATSListen},
	} {
		if l.addr == "" {
			continue // off
		}
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			k.addf(l.name, "%q is not host:port (e.g. 127.0.0.1:7410; port 0 picks a free port; empty turns the listener off)", l.addr)
			continue
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			k.addf(l.name, "%q: port %q is not a number from 0 to 65535", l.addr, port)
			continue
		}
		for _, o := range all {
			if port != "0" && o.port == port && (o.host == host || wildcard(o.host) || wildcard(host)) {
				k.addf(l.name, "%q uses the same port as --%s (%s)", l.addr, o.name, net.JoinHostPort(o.host, o.port))
			}
		}
		all = append(all, bound{l.name, host, port})
		if !isLoopback(host) && !c.AuthConfigured() && !c.AllowOpen {
			k.addf(l.name, "listens on %q, which other machines can reach, but no access keys are configured, so anyone who can reach it could read and write all data. "+
				"Bind to a loopback address (127.0.0.1:%s), configure access keys (--aws-access-key-id with --aws-secret-access-key, or --keys-file), "+
				"or set --allow-open (SLUICE_ALLOW_OPEN, YAML allow_open) to accept an open listener", l.addr, port)
		}
	}
}

func wildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// isLoopback reports whether host can only be reached from this machine:
// "localhost" or a loopback IP. An empty host means every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // IPv6 zone
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// timestreamName applies Timestream's database/table name rules: 3 to 256
// characters from a-z A-Z 0-9 _ . -.
func (k *checker) timestreamName(name, v string) {
	if len(v) < 3 || len(v) > 256 {
		k.addf(name, "must be 3 to 256 characters long (Timestream's rule), got %q", v)
		return
	}
	for _, r := range v {
		if !(r == '_' || r == '.' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			k.addf(name, "may contain only letters, digits, '_', '.' and '-' (Timestream's rule), got %q", v)
			return
		}
	}
}

func (k *checker) security() {
	c := k.c
	if c.AWSAccessKeyID != "" && c.AWSSecretAccessKey == "" {
		k.addf("aws-secret-access-key", "is missing: --aws-access-key-id is set, and a key id is useless without its secret")
	}
	if c.AWSSecretAccessKey != "" && c.AWSAccessKeyID == "" {
		k.addf("aws-access-key-id", "is missing: --aws-secret-access-key is set, and a secret is useless without its key id")
	}
	if c.KeysFile != "" {
		k.regularFile("keys-file", c.KeysFile)
	}
	if c.AllowUnsigned {
		for _, l := range []struct{ name, addr string }{{"http-addr", c.HTTPAddr}, {"pg-addr", c.PGAddr}, {"mqtt-addr", c.MQTTAddr}} {
			if host, _, err := net.SplitHostPort(l.addr); err == nil && !isLoopback(host) {
				k.addf("allow-unsigned", "cannot be used while --%s listens on %q, which other machines can reach: anyone could use it without a key. Bind to a loopback address or turn allow-unsigned off", l.name, l.addr)
			}
		}
	}
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		k.addf("tls-key", "is missing: --tls-cert is set; give both or neither")
	case c.TLSKey != "" && c.TLSCert == "":
		k.addf("tls-cert", "is missing: --tls-key is set; give both or neither")
	case c.TLSCert != "" && c.TLSKey != "":
		okCert := k.regularFile("tls-cert", c.TLSCert)
		okKey := k.regularFile("tls-key", c.TLSKey)
		if okCert && okKey {
			if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
				k.addf("tls-cert", "cannot be used with --tls-key %q: %v", c.TLSKey, err)
			}
		}
	}
}

// regularFile reports whether path names a readable regular file, adding a
// problem if not.
func (k *checker) regularFile(name, path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		k.addf(name, "%v", err)
		return false
	}
	if !fi.Mode().IsRegular() {
		k.addf(name, "%q is not a regular file", path)
		return false
	}
	return true
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}
