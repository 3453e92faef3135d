package config

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// day is the unit of the "d" suffix that ParseDuration accepts on top of Go's
// units. Timestream counts magnetic retention in days, so operators think in
// days; a day here is exactly 24h (no calendar, no DST).
const day = 24 * time.Hour

// ParseDuration parses a Go duration ("200ms", "1h30m") that may also use the
// unit "d" for 24 hours ("30d", "1d12h", "1.5d"). Negative values parse; range
// checks belong to Validate.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, errors.New(`empty duration (want e.g. "200ms", "15m", "24h", "30d")`)
	}
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (want e.g. \"200ms\", \"15m\", \"24h\", \"30d\")", orig)
		}
		return d, nil
	}
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	// Split off every "<number>d" component, convert it exactly, and hand
	// the remaining components to time.ParseDuration. No Go unit contains
	// the letter d, so a 'd' always ends a day component.
	var total time.Duration
	var rest strings.Builder
	for s != "" {
		i := 0
		for i < len(s) && (s[i] == '.' || ('0' <= s[i] && s[i] <= '9')) {
			i++
		}
		num := s[:i]
		j := i
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[i:j]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("invalid duration %q (want e.g. \"200ms\", \"15m\", \"24h\", \"30d\")", orig)
		}
		if unit == "d" {
			d, ok := daysToDuration(num)
			if !ok || total > math.MaxInt64-d {
				return 0, fmt.Errorf("invalid duration %q: out of range", orig)
			}
			total += d
		} else {
			rest.WriteString(num)
			rest.WriteString(unit)
		}
		s = s[j:]
	}
	if rest.Len() > 0 {
		d, err := time.ParseDuration(rest.String())
		if err != nil || d < 0 || total > math.MaxInt64-d {
			return 0, fmt.Errorf("invalid duration %q (want e.g. \"200ms\", \"15m\", \"24h\", \"30d\")", orig)
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// daysToDuration converts a decimal day count ("30", "1.5") to a Duration
// exactly for the integer part (float64 would lose nanoseconds near 73000d).
func daysToDuration(num string) (time.Duration, bool) {
	intPart, frac, _ := strings.Cut(num, ".")
	if strings.Contains(frac, ".") || (intPart == "" && frac == "") {
		return 0, false
	}
	var n uint64
	if intPart != "" {
		var err error
		n, err = strconv.ParseUint(intPart, 10, 64)
		if err != nil {
			return 0, false
		}
	}
	hi, lo := bits.Mul64(n, uint64(day))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	d := time.Duration(lo)
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, false
		}
		fd := time.Duration(f * float64(day))
		if d > math.MaxInt64-fd {
			return 0, false
		}
		d += fd
	}
	return d, true
}

// FormatDuration prints d so that ParseDuration reads it back: Go syntax
// without zero tails ("24h", "15m", "1h30m"), and whole days from 30 days up
// in days ("73000d"), which is how retention is usually stated.
func FormatDuration(d time.Duration) string {
	if d >= 30*day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// sizeUnits maps a lower-cased unit to its multiplier. Both SI (kB = 1000)
// and IEC (KiB = 1024) units are accepted because both appear in the wild;
// bare K/M/G are refused since people mean different things by them.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// ParseSize parses a byte count with an optional unit: "1048576", "512KiB",
// "8MiB", "1MB", "1.5GiB" (fractions are rounded down to whole bytes). Units
// are case-insensitive; a space between number and unit is allowed.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '.' || ('0' <= t[i] && t[i] <= '9')) {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q (want bytes with an optional unit: \"1048576\", \"512KiB\", \"8MiB\", \"1MB\")", s)
	}
	intPart, frac, hasDot := strings.Cut(num, ".")
	if strings.Contains(frac, ".") || (hasDot && intPart == "" && frac == "") {
		return 0, fmt.Errorf("invalid size %q: malformed number", s)
	}
	var n uint64
	if intPart != "" {
		var err error
		if n, err = strconv.ParseUint(intPart, 10, 64); err != nil {
			return 0, fmt.Errorf("invalid size %q: out of range", s)
		}
	}
	hi, lo := bits.Mul64(n, uint64(mult))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: out of range", s)
	}
	v := int64(lo)
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q: malformed number", s)
		}
		add := int64(f * float64(mult))
		if v > math.MaxInt64-add {
			return 0, fmt.Errorf("invalid size %q: out of range", s)
		}
		v += add
	}
	return v, nil
}

// FormatSize prints n with the largest unit that divides it exactly
// ("8MiB", "1MB", "2TB"), else as plain bytes, so that ParseSize reads back
// the same number.
func FormatSize(n int64) string {
	if n <= 0 {
		return strconv.FormatInt(n, 10)
	}
	for _, u := range [...]struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"kB", 1e3}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// TopicMapping routes MQTT messages whose topic matches Pattern (an MQTT topic
// filter, with + and # wildcards) to the named stream.
type TopicMapping struct {
	Pattern, Stream string
}

// String prints the mapping in the "pattern=stream" form ParseTopicMapping reads.
func (m TopicMapping) String() string { return m.Pattern + "=" + m.Stream }

// ParseTopicMapping reads one "pattern=stream" mapping. The last '=' splits,
// because stream names cannot contain '=' while topics may. Wildcard syntax
// is checked by Validate, so that a Config built in code is checked too.
func ParseTopicMapping(s string) (TopicMapping, error) {
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return TopicMapping{}, fmt.Errorf("invalid MQTT topic mapping %q: want pattern=stream, e.g. devices/+/telemetry=events", s)
	}
	m := TopicMapping{Pattern: strings.TrimSpace(s[:i]), Stream: strings.TrimSpace(s[i+1:])}
	if m.Pattern == "" || m.Stream == "" {
		return TopicMapping{}, fmt.Errorf("invalid MQTT topic mapping %q: pattern and stream must both be non-empty", s)
	}
	return m, nil
}

// parseTopicList reads a comma-separated list of mappings; blank items are
// skipped so "a=x," and "" work.
func parseTopicList(s string) ([]TopicMapping, error) {
	var out []TopicMapping
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		m, err := ParseTopicMapping(item)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func formatTopicList(ms []TopicMapping) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

// checkTopicFilter applies the MQTT 3.1.1/5 topic filter rules (§4.7): '+'
// fills a whole level, '#' fills a whole level and only the last one; no NUL;
// valid UTF-8; at most 65535 bytes.
func checkTopicFilter(p string) error {
	switch {
	case p == "":
		return errors.New("empty topic filter")
	case len(p) > 65535:
		return errors.New("topic filter longer than 65535 bytes")
	case !utf8.ValidString(p):
		return errors.New("topic filter is not valid UTF-8")
	case strings.ContainsRune(p, 0):
		return errors.New("topic filter contains a NUL character")
	}
	levels := strings.Split(p, "/")
	for i, l := range levels {
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("'+' must fill a whole topic level, got level %q", l)
		}
		if strings.Contains(l, "#") {
			if l != "#" {
				return fmt.Errorf("'#' must fill a whole topic level, got level %q", l)
			}
			if i != len(levels)-1 {
				return errors.New("'#' is only allowed as the last topic level")
			}
		}
	}
	return nil
}

// checkStreamName applies JetStream's stream name rules: no whitespace, no
// '.', '*', '>' (subject tokens) and no path separators (names become
// directories), at most 255 bytes.
func checkStreamName(n string) error {
	if n == "" {
		return errors.New("empty stream name")
	}
	if len(n) > 255 {
		return errors.New("stream name longer than 255 bytes")
	}
	if i := strings.IndexAny(n, " \t\r\n.*>/\\="); i >= 0 {
		return fmt.Errorf("stream name %q contains %q (not allowed: whitespace . * > / \\ =)", n, n[i])
	}
	return nil
}
