package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "8MiB", want: 8 << 20},
		{in: "8mib", want: 8 << 20},
		{in: "8 MiB", want: 8 << 20},
		{in: " 64MiB ", want: 64 << 20},
		{in: "1MB", want: 1_000_000},
		{in: "1kB", want: 1000},
		{in: "1KB", want: 1000},
		{in: "2GiB", want: 2 << 30},
		{in: "3GB", want: 3_000_000_000},
		{in: "1TiB", want: 1 << 40},
		{in: "100B", want: 100},
		{in: "1.5KiB", want: 1536},
		{in: "0.1KiB", want: 102}, // rounded down to whole bytes
		{in: ".5MiB", want: 512 << 10},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", bad: true}, // 2^63
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "9223372036854775808", bad: true},
		{in: "", bad: true},
		{in: "MiB", bad: true},
		{in: "-1", bad: true},
		{in: "8M", bad: true}, // ambiguous: refused
		{in: "8 Mi", bad: true},
		{in: "1.2.3KiB", bad: true},
		{in: ".", bad: true},
		{in: "1e6", bad: true},
		{in: "0x10", bad: true},
	} {
		got, err := ParseSize(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"}, {1, "1"}, {1000, "1kB"}, {1024, "1KiB"}, {8 << 20, "8MiB"}, {1_000_000, "1MB"},
		{1536, "1536"}, {3 << 30, "3GiB"}, {5 << 40, "5TiB"}, {2_000_000_000_000, "2TB"}, {math.MaxInt64, "9223372036854775807"},
	} {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseSize(FormatSize(tc.in)); err != nil || back != tc.in {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tc.in, back, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "200ms", want: 200 * time.Millisecond},
		{in: "24h", want: 24 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0", want: 0},
		{in: "30d", want: 30 * day},
		{in: "1d", want: day},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2d3h4m5s", want: 2*day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "73000d", want: 73000 * day},
		{in: "-1d", want: -day},
		{in: "+2d", want: 2 * day},
		{in: "106751d", want: 106751 * day},
		{in: "106752d", bad: true}, // beyond int64 nanoseconds
		{in: "106751d24h", bad: true},
		{in: "", bad: true},
		{in: "d", bad: true},
		{in: "5days", bad: true},
		{in: "1d-5h", bad: true},
		{in: "1dd", bad: true},
		{in: "100", bad: true}, // no unit
		{in: "1.2.3d", bad: true},
		{in: "abc", bad: true},
	} {
		got, err := ParseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {100 * time.Millisecond, "100ms"}, {time.Second, "1s"}, {15 * time.Minute, "15m"},
		{time.Hour, "1h"}, {24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"}, {6 * time.Hour, "6h"},
		{30 * day, "30d"}, {73000 * day, "73000d"}, {29 * day, "696h"}, {30*day + time.Hour, "721h"},
		{time.Hour + time.Second, "1h0m1s"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := ParseDuration(FormatDuration(tc.in)); err != nil || back != tc.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tc.in, back, err)
		}
	}
}

func TestTopicMappings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []TopicMapping
		bad  bool
	}{
		{in: "devices/+/telemetry=events", want: []TopicMapping{{"devices/+/telemetry", "events"}}},
		{in: "a/#=x,b/+/c=y", want: []TopicMapping{{"a/#", "x"}, {"b/+/c", "y"}}},
		{in: " a/b = x , ", want: []TopicMapping{{"a/b", "x"}}},
		{in: "k=v/t=s", want: []TopicMapping{{"k=v/t", "s"}}}, // last '=' splits
		{in: "", want: nil},
		{in: "devices/+/telemetry", bad: true},
		{in: "=events", bad: true},
		{in: "a/b=", bad: true},
	} {
		got, err := parseTopicList(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseTopicList(%q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseTopicList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseTopicList(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestCheckTopicFilter(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"devices/+/telemetry", true},
		{"#", true},
		{"+", true},
		{"a/#", true},
		{"+/+/#", true},
		{"/a", true},
		{"a//b", true},
		{"sport/tennis/player1", true},
		{"", false},
		{"a/b#", false},
		{"a/#/b", false},
		{"a+/b", false},
		{"a/+b", false},
		{"##", false},
		{"a\x00b", false},
		{"\xff", false},
		{strings.Repeat("a", 65536), false},
	} {
		err := checkTopicFilter(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("checkTopicFilter(%.20q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// FuzzParseSize checks that the size parser never panics, never returns a
// negative size, and that formatting round-trips.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "8MiB", "1MB", "512KiB", "1.5GiB", "9223372036854775807", "8388608TiB", ".5 kb", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	})
}

// FuzzParseDuration checks the day-aware duration parser against
// time.ParseDuration where the two must agree, and the format round trip.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"200ms", "24h", "30d", "1d12h", "1.5d", "73000d", "-1d", "106752d", "1h0m1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if !strings.Contains(s, "d") && s != "" {
			want, werr := time.ParseDuration(s)
			if (err == nil) != (werr == nil) || (err == nil && d != want) {
				t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration = %v, %v", s, d, err, want, werr)
			}
		}
		if err != nil {
			return
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v (formatted %q)", d, back, err, FormatDuration(d))
		}
	})
}

// FuzzTopicMapping checks that mapping parsing and filter checks never panic
// and that a parsed mapping prints back to itself.
func FuzzTopicMapping(f *testing.F) {
	for _, s := range []string{"devices/+/telemetry=events", "a/#=x", "a=b=c", "#/a=x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseTopicMapping(s)
		if err != nil {
			return
		}
		_ = checkTopicFilter(m.Pattern)
		_ = checkStreamName(m.Stream)
		back, err := ParseTopicMapping(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseTopicMapping(%q) = %v, %v; want %v", m.String(), back, err, m)
		}
	})
}
