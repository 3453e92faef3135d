package csvio

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

func ns(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"2026-11-25T18:00:00Z", ns("2026-11-25T18:00:00Z"), ""},
		{"2026-11-25T19:00:00.5+01:00", ns("2026-11-25T18:00:00.5Z"), ""},
		{" 2026-11-25T18:00:00.123456789Z ", ns("2026-11-25T18:00:00.123456789Z"), ""},
		{"2026-11-25 18:00:00", ns("2026-11-25T18:00:00Z"), ""},
		{"2026-11-25T18:00:00", ns("2026-11-25T18:00:00Z"), ""},
		{"2026-11-25 18:00:00.25Z", ns("2026-11-25T18:00:00.25Z"), ""},
		{"2026-11-25", ns("2026-11-25T00:00:00Z"), ""},
		// Epoch units by magnitude.
		{"1795629600", ns("2026-11-25T18:00:00Z"), ""},
		{"1795629600.25", ns("2026-11-25T18:00:00.25Z"), ""},
		{"1795629600250", ns("2026-11-25T18:00:00.25Z"), ""},
		{"1795629600250.5", ns("2026-11-25T18:00:00.2505Z"), ""},
		{"1795629600250001", ns("2026-11-25T18:00:00.250001Z"), ""},
		{"1795629600250000123", ns("2026-11-25T18:00:00.250000123Z"), ""},
		{"0", 0, ""},
		{"-86400", -86400e9, ""},
		{"99999999999", 0, "outside"},    // just below 1e11: seconds, beyond int64 nanoseconds
		{"100000000000", 1e11 * 1e6, ""}, // 1e11: milliseconds, 1973-03-03
		{"+12", 12e9, ""},
		{".5", 5e8, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"9223372036854775808", 0, "outside"},
		{"99999999999999999999", 0, "too large"},
		{"1e9", 0, "neither RFC 3339 nor an epoch number"},
		{"", 0, "empty time"},
		{"yesterday", 0, "neither"},
		{"-", 0, "neither"},
		{".", 0, "neither"},
		{"1.2.3", 0, "neither"},
		{"2026-13-01T00:00:00Z", 0, "neither"},
		{"1600-01-01T00:00:00Z", 0, "outside 1677-09-21..2262-04-11"},
		{"2300-01-01T00:00:00Z", 0, "outside 1677-09-21..2262-04-11"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTime(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %d, %v; want error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestReadSeries(t *testing.T) {
	t0 := ns("2026-11-25T18:00:00Z")
	for _, tc := range []struct {
		name   string
		in     string
		times  []int64
		values []float64
		err    string
	}{
		{"no header", "1795629600,1.5\n1795629660,2\n", []int64{t0, t0 + 60e9}, []float64{1.5, 2}, ""},
		{"header", "timestamp,value\n2026-11-25T18:00:00Z,1\n2026-11-25T18:01:00Z,-2.5e3\n", []int64{t0, t0 + 60e9}, []float64{1, -2500}, ""},
		{"bom header", "\ufefftimestamp,value\n1795629600,1\n", []int64{t0}, []float64{1}, ""},
		{"unnamed header", "when,what\n1795629600,1\n", []int64{t0}, []float64{1}, ""},
		{"named columns elsewhere", "device,value,time\nd1,7,1795629600\n", []int64{t0}, []float64{7}, ""},
		{"own output reads back", strings.Join(Header, ",") + "\n2026-11-25T18:00:00Z,3,2.9,2,4,0.5,false\n2026-11-25T18:01:00Z,,3,2,4,,\n", []int64{t0}, []float64{3}, ""},
		{"missing values skipped", "1795629600,NaN\n1795629660,\n1795629720,null\n1795629780,4\n", []int64{t0 + 180e9}, []float64{4}, ""},
		{"comments and blanks", "# a comment\n\n1795629600,1\n\n", []int64{t0}, []float64{1}, ""},
		{"spaces", "1795629600, 1\n 1795629660 ,2\n", []int64{t0, t0 + 60e9}, []float64{1, 2}, ""},
		{"crlf", "time,value\r\n1795629600,1\r\n", []int64{t0}, []float64{1}, ""},
		{"unsorted", "1795629720,3\n1795629600,1\n1795629660,2\n", []int64{t0, t0 + 60e9, t0 + 120e9}, []float64{1, 2, 3}, ""},
		{"milliseconds", "1795629600000,1\n1795629600500,2\n", []int64{t0, t0 + 5e8}, []float64{1, 2}, ""},
		{"empty", "", nil, nil, ""},
		{"header only", "time,value\n", nil, nil, ""},
		{"bad time", "time,value\n1795629600,1\nnoon,2\n", nil, nil, "line 3: time \"noon\""},
		{"bad first time", "noon,2\n", nil, nil, "time \"noon\""},
		{"bad value", "1795629600,abc\n", nil, nil, "line 1: value \"abc\""},
		{"infinite value", "1795629600,Inf\n", nil, nil, "not a finite number"},
		{"short row", "time,value\n1795629600\n", nil, nil, "line 2: 1 fields"},
		{"bad header", "time,reading\n1795629600,1\n", nil, nil, "want columns named time"},
		{"one column header", "hello\n", nil, nil, "neither a time nor a header"},
		{"bad quoting", "1795629600,\"1\n", nil, nil, "reading CSV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSeries(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Times) != len(tc.times) || len(s.Values) != len(tc.values) {
				t.Fatalf("got %v %v, want %v %v", s.Times, s.Values, tc.times, tc.values)
			}
			for i := range tc.times {
				if s.Times[i] != tc.times[i] || s.Values[i] != tc.values[i] {
					t.Fatalf("row %d: got %d,%v want %d,%v", i, s.Times[i], s.Values[i], tc.times[i], tc.values[i])
				}
			}
		})
	}
}

func TestWriter(t *testing.T) {
	t0 := ns("2026-11-25T18:00:00Z")
	pts := []insights.Point{
		{Time: t0, Value: 1.5, Expected: 1.25, Lower: 0.5, Upper: 2, Score: 0.333, IsAnomaly: false},
		{Time: t0 + 1, Value: 1e20, Expected: -1e-9, Lower: math.NaN(), Upper: 0, Score: 7, IsAnomaly: true},
	}
	for _, tc := range []struct {
		scored bool
		want   string
	}{
		{true, "time,value,expected,lower,upper,score,is_anomaly\n" +
			"2026-11-25T18:00:00Z,1.5,1.25,0.5,2,0.333,false\n" +
			"2026-11-25T18:00:00.000000001Z,1e+20,-1e-09,,0,7,true\n"},
		{false, "time,value,expected,lower,upper,score,is_anomaly\n" +
			"2026-11-25T18:00:00Z,1.5,1.25,0.5,2,,\n" +
			"2026-11-25T18:00:00.000000001Z,1e+20,-1e-09,,0,,\n"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, tc.scored)
		for _, p := range pts {
			if err := w.Write(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("scored=%v:\n%s\nwant\n%s", tc.scored, buf.String(), tc.want)
		}
		// The output is CSV with the header and reads back as a series.
		recs, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
		if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != strings.Join(Header, ",") {
			t.Fatalf("output is not the CSV expected: %v %v", recs, err)
		}
		s, err := ReadSeries(strings.NewReader(buf.String()))
		if err != nil || s.Len() != 2 || s.Values[1] != 1e20 {
			t.Fatalf("read back: %v %v", s, err)
		}
	}
	// No rows: the header alone.
	var buf bytes.Buffer
	w := NewWriter(&buf, true)
	if err := w.Flush(); err != nil || buf.String() != strings.Join(Header, ",")+"\n" {
		t.Fatalf("empty output %q, %v", buf.String(), err)
	}
}

// FuzzParseTime: ParseTime never panics; an accepted epoch number or
// RFC 3339 time written back in RFC 3339 parses to the same instant.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-25T18:00:00Z", "2026-11-25 18:00:00.5", "1795629600", "1795629600.25", "1795629600250",
		"1795629600250001", "1795629600250000123", "-1", "+.5", "9223372036854775807", "2026-11-25", "1e9", "", "T", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseTime(s)
		if err != nil {
			return
		}
		back, err := ParseTime(time.Unix(0, v).UTC().Format(time.RFC3339Nano))
		if err != nil || back != v {
			t.Fatalf("%q -> %d -> %d, %v", s, v, back, err)
		}
	})
}

// FuzzReadSeries: any input is read or refused without panicking, and a
// series read is sorted, of equal lengths and finite.
func FuzzReadSeries(f *testing.F) {
	for _, s := range []string{"1795629600,1\n", "time,value\n2026-11-25T18:00:00Z,1\n", "a,b\n1,2\n", "\"x\n", "value,time\n3,0\n", "1,2\n0,NaN\n-1,3\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadSeries(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(s.Times) != len(s.Values) {
			t.Fatal("lengths differ")
		}
		for i, v := range s.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("value %d is %v", i, v)
			}
			if i > 0 && s.Times[i] < s.Times[i-1] {
				t.Fatalf("not sorted at %d", i)
			}
		}
		// Writing the series and reading it back gives it again.
		var buf bytes.Buffer
		w := NewWriter(&buf, true)
		for i := range s.Times {
			if err := w.Write(insights.Point{Time: s.Times[i], Value: s.Values[i], Expected: math.NaN(), Lower: math.NaN(), Upper: math.NaN()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := ReadSeries(&buf)
		if err != nil || again.Len() != s.Len() {
			t.Fatalf("round trip: %v (%d vs %d rows)", err, again.Len(), s.Len())
		}
		for i := range s.Times {
			// Compared as numbers: -0 is written as 0.
			if again.Times[i] != s.Times[i] || again.Values[i] != s.Values[i] {
				t.Fatalf("row %d: %d,%v vs %d,%v", i, again.Times[i], again.Values[i], s.Times[i], s.Values[i])
			}
		}
	})
}
