package fn_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// likeRegexp is the reference: LIKE translated to an anchored regexp.
func likeRegexp(pattern string, escape rune) (*regexp.Regexp, bool) {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if escape != 0 && r == escape {
			if i+1 >= len(rs) {
				return nil, false
			}
			n := rs[i+1]
			if n != '%' && n != '_' && n != escape {
				return nil, false
			}
			b.WriteString(regexp.QuoteMeta(string(n)))
			i++
			continue
		}
		switch r {
		case '%':
			b.WriteString(`.*`)
		case '_':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String()), true
}

func FuzzLike(f *testing.F) {
	for _, c := range [][2]string{
		{"abc", "a%"}, {"abc", "%b%"}, {"abc", "a_c"}, {"", "%"}, {"", "_"}, {"aXbXc", "%X%X%"},
		{"héllo wörld", "h_llo%w_rld"}, {"a%b", "a\\%b"}, {"aaa", "%a%a%a%"}, {"ab", "%_%_%_"},
		{"abcabc", "%abc"}, {"xabcab", "%ab_"}, {"mississippi", "%iss%ppi"}, {"a\nb", "a_b"},
	} {
		f.Add(c[0], c[1], false)
		f.Add(c[0], c[1], true)
	}
	f.Fuzz(func(t *testing.T, s, pattern string, useEscape bool) {
		if !utf8.ValidString(s) || !utf8.ValidString(pattern) {
			return
		}
		var esc rune
		if useEscape {
			esc = '\\'
		}
		m, err := fn.CompileLike(pattern, esc, false)
		re, ok := likeRegexp(pattern, esc)
		if (err == nil) != ok {
			t.Fatalf("CompileLike(%q) err=%v, reference ok=%v", pattern, err, ok)
		}
		if err != nil {
			return
		}
		if got, want := m.Match(s), re.MatchString(s); got != want {
			t.Fatalf("%q LIKE %q (escape %q) = %v, reference says %v", s, pattern, esc, got, want)
		}
	})
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"2024-05-29 16:26:31", "2024-05-29", "2024-05-29T16:26:31.123456789Z", "2024-05-29T16:26:31+02:00",
		"2024-05-29 16:26:31.5 UTC", "1677-09-21 00:12:43.145224192", "2262-04-11 23:47:16.854775807",
		"2024-05-29 16:26", "2024-05-29T16:26:31-0530", "0000-01-01", "9999-12-31 23:59:59", "2024-13-01",
	} {
		f.Add(s, int64(0))
	}
	f.Add("", int64(1716999991123456789))
	f.Add("x", int64(-1))
	f.Fuzz(func(t *testing.T, s string, ns int64) {
		if v, err := fn.ParseTimestamp(s); err == nil {
			// Whatever parses must print and parse back to the same instant.
			back, err := fn.ParseTimestamp(fn.FormatTimestamp(v))
			if err != nil || back != v {
				t.Fatalf("ParseTimestamp(%q) = %d, printed %q, reparsed %d, %v", s, v, fn.FormatTimestamp(v), back, err)
			}
		}
		str := fn.FormatTimestamp(ns)
		back, err := fn.ParseTimestamp(str)
		if err != nil || back != ns {
			t.Fatalf("FormatTimestamp(%d) = %q, parsed back %d, %v", ns, str, back, err)
		}
		// The RFC 3339 spelling parses to the same value.
		iso := str[:10] + "T" + str[11:] + "Z"
		if back, err := fn.ParseTimestamp(iso); err != nil || back != ns {
			t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d", iso, back, err, ns)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	_, _, err := fn.Resolve("round", []columnar.Type{columnar.String})
	if err == nil || !strings.Contains(err.Error(), "round(VARCHAR)") || !strings.Contains(err.Error(), "round(DOUBLE, BIGINT)") {
		t.Fatalf("error should name the call and list signatures, got %v", err)
	}
	_, _, err = fn.Resolve("no_such_fn", nil)
	if err == nil || !strings.Contains(err.Error(), "no_such_fn") {
		t.Fatalf("got %v", err)
	}
	for _, tc := range []struct {
		name string
		args []columnar.Type
		want columnar.Type
	}{
		{"+", []columnar.Type{columnar.Int64, columnar.Float64}, columnar.Float64},
		{"+", []columnar.Type{columnar.Timestamp, columnar.Interval}, columnar.Timestamp},
		{"-", []columnar.Type{columnar.Timestamp, columnar.Timestamp}, columnar.Interval},
		{"=", []columnar.Type{columnar.Unknown, columnar.Int64}, columnar.Bool},
		{"coalesce", []columnar.Type{columnar.Unknown, columnar.String}, columnar.String},
		{"round", []columnar.Type{columnar.Int64}, columnar.Int64},
		{"sqrt", []columnar.Type{columnar.Int64}, columnar.Float64},
		{"ROUND", []columnar.Type{columnar.Float64, columnar.Int64}, columnar.Float64},
	} {
		got, _, err := fn.Resolve(tc.name, tc.args)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%s, %v) = %v, %v; want %v", tc.name, tc.args, got, err, tc.want)
		}
	}
}

func TestAggregateCatalogue(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []columnar.Type
		want columnar.Type
		ok   bool
	}{
		{"count", nil, columnar.Int64, true},
		{"sum", []columnar.Type{columnar.Int64}, columnar.Int64, true},
		{"sum", []columnar.Type{columnar.Float64}, columnar.Float64, true},
		{"sum", []columnar.Type{columnar.String}, 0, false},
		{"avg", []columnar.Type{columnar.Int64}, columnar.Float64, true},
		{"max", []columnar.Type{columnar.String}, columnar.String, true},
		{"approx_percentile", []columnar.Type{columnar.Int64, columnar.Float64}, columnar.Int64, true},
		{"max_by", []columnar.Type{columnar.Float64, columnar.Timestamp}, columnar.Float64, true},
		{"stddev", []columnar.Type{columnar.Int64}, columnar.Float64, true},
	} {
		got, err := fn.ResolveAggregate(tc.name, tc.args)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ResolveAggregate(%s, %v) = %v, %v", tc.name, tc.args, got, err)
		}
	}
	if !fn.IsAggregate("COUNT") || fn.IsAggregate("abs") || !fn.IsWindow("dense_rank") || fn.IsWindow("sum") {
		t.Error("IsAggregate/IsWindow")
	}
	if got, err := fn.ResolveWindow("lag", []columnar.Type{columnar.Float64, columnar.Int64, columnar.Float64}); err != nil || got != columnar.Float64 {
		t.Errorf("lag: %v %v", got, err)
	}
	if name, err := fn.ExtractFunction("EPOCH"); err != nil || name != "epoch" {
		t.Errorf("ExtractFunction: %v %v", name, err)
	}
}

func TestFormatDouble(t *testing.T) {
	for v, want := range map[float64]string{1: "1.0", 0.5: "0.5", 1e7: "1.0E7", 1.5e-4: "1.5E-4", 34.840635191284385: "34.840635191284385", -2: "-2.0", 1e21: "1.0E21", 0.001: "0.001"} {
		if got := fn.FormatDouble(v); got != want {
			t.Errorf("FormatDouble(%v) = %q, want %q", v, got, want)
		}
	}
}
