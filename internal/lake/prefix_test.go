package lake

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPrefixEval(t *testing.T) {
	at := time.Date(2026, 11, 5, 8, 4, 9, 123, time.FixedZone("CET", 3600)) // 07:04:09 UTC
	tests := []struct {
		prefix  string
		isErr   bool
		errType string
		want    string // "R" in want stands for an 11-character random string
	}{
		{DefaultPrefix, false, "", "events/year=2026/month=11/day=05/hour=07/"},
		{DefaultErrorPrefix, true, ErrorProcessingFailed, "errors/processing-failed/year=2026/month=11/day=05/hour=07/"},
		{"!{timestamp:yyyy}/!{timestamp:MM}/", false, "", "2026/11/"},
		{"a/!{timestamp:yyyy-MM-dd HH:mm:ss}/", false, "", "a/2026-11-05 07:04:09/"},
		{"!{timestamp:y/M/d/H/m/s}/", false, "", "2026/11/5/7/4/9/"},
		{"!{timestamp:yy}/", false, "", "26/"},
		{"!{timestamp:'year='yyyy'/month='MM}/", false, "", "year=2026/month=11/"},
		{"!{timestamp:'it''s'yyyy}/", false, "", "it's2026/"},
		{"!{timestamp:yyyy''MM}/", false, "", "2026'11/"},
		{"!{timestamp:yyyy}/!{timestamp:HH}/", false, "", "2026/07/"},
		// No timestamp expression: Firehose appends yyyy/MM/dd/HH/.
		{"myprefix/", false, "", "myprefix/2026/11/05/07/"},
		{"", false, "", "2026/11/05/07/"},
		{"noslash", false, "", "noslash2026/11/05/07/"},
		{"e/!{firehose:error-output-type}/", true, ErrorFormatConversionFailed, "e/format-conversion-failed/2026/11/05/07/"},
		{"r/!{firehose:random-string}/!{timestamp:yyyy}/", false, "", "r/R/2026/"},
	}
	random := regexp.MustCompile(`[a-z0-9]{11}`)
	for _, tt := range tests {
		p, err := ParsePrefix(tt.prefix, tt.isErr)
		if err != nil {
			t.Errorf("ParsePrefix(%q): %v", tt.prefix, err)
			continue
		}
		got := p.Eval(at, tt.errType)
		if strings.Contains(tt.want, "R") {
			i := strings.Index(tt.want, "R")
			if len(got) != len(tt.want)+randomLen-1 || !random.MatchString(got[i:i+randomLen]) {
				t.Errorf("%q: got %q, want %q with R random", tt.prefix, got, tt.want)
				continue
			}
			got = got[:i] + "R" + got[i+randomLen:]
			if again := p.Eval(at, tt.errType); again == p.Eval(at, tt.errType) {
				t.Errorf("%q: random string did not change between uses: %q", tt.prefix, again)
			}
		}
		if got != tt.want {
			t.Errorf("%q at %v: got %q, want %q", tt.prefix, at, got, tt.want)
		}
	}
}

func TestPrefixErrors(t *testing.T) {
	tests := []struct {
		prefix string
		isErr  bool
		want   string // part of the error
	}{
		{"a/!{firehose:error-output-type}/", false, "only allowed in the error prefix"},
		{"errors/!{timestamp:yyyy}/", true, "must contain"},
		{"!{timestamp:yyyy", false, "unterminated"},
		{"!{timestamp:}/", false, "empty"},
		{"!{timestamp:yyyyQ}/", false, "not supported"},
		{"!{timestamp:MMM}/", false, "at most 2"},
		{"!{timestamp:'abc}/", false, "unterminated quote"},
		{"!{timestamp:yyyy[MM]}/", false, "reserved"},
		{"!{firehose:bogus}/", false, "unknown firehose"},
		{"!{partitionKeyFromQuery:k}/", false, "dynamic partitioning"},
		{"!{yyyy}/", false, "no namespace"},
		{"!{other:k}/", false, "unknown namespace"},
		{"../!{timestamp:yyyy}/", false, "path segments"},
		{"/abs/!{timestamp:yyyy}/", false, "relative"},
		{strings.Repeat("x", 600) + "!{timestamp:yyyy}/", false, "limit"},
	}
	for _, tt := range tests {
		_, err := ParsePrefix(tt.prefix, tt.isErr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePrefix(%q, %v) = %v, want an error containing %q", tt.prefix, tt.isErr, err, tt.want)
		}
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{DefaultPrefix, DefaultErrorPrefix, "!{timestamp:'a''b'yyyy}", "x!{firehose:random-string}", "!{timestamp:yy/M/d}"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	at := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string, isErr bool) {
		p, err := ParsePrefix(s, isErr)
		if err != nil {
			return
		}
		got := p.Eval(at, ErrorProcessingFailed)
		if len(got) > maxPrefixLen {
			t.Fatalf("%q evaluates to %d characters", s, len(got))
		}
		if strings.HasPrefix(got, "/") {
			t.Fatalf("%q evaluates to an absolute path %q", s, got)
		}
	})
}
