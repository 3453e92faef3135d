package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines outlive the tests: every
// suite must stop what it started (servers, senders, pollers).
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			os.Stderr.WriteString("leaked goroutines:\n" + string(buf))
			code = 1
		}
	}
	os.Exit(code)
}

// TestSuitesQuick runs every suite with --quick and checks the JSON shape
// of DESIGN.md §3 and that the figures every suite promises are there.
func TestSuitesQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs whole suites")
	}
	for _, tc := range []struct {
		suite string
		want  []string
	}{
		{"storage", []string{
			"write/durable/batch=10000/writers=1", "write/durable/batch=10000/writers=4",
			"disk/bytes_per_point/parts", "disk/bytes_per_point/index_included",
			"scan/double/all_measures/cold/per_core", "scan/double/all_measures/cached/per_core", "series_hour/parts/p50", "series_hour/parts/p99",
			"series_hour/hot/p99", "latest/p50", "latest/p99", "memory/bytes_per_series",
		}},
		{"pipeline", []string{
			"ingest_batch/batch=500/senders=4/acked", "ingest_batch/batch=500/senders=4/end_to_end",
			"ingest_single/clients=64/acked", "ingest_single/clients=64/end_to_end",
			"latency/ingest_to_queryable/p50", "latency/ingest_to_queryable/p99", "latency/probes_not_visible",
		}},
		{"query", []string{
			"q1_series_hour/p50", "q1_series_hour/p99", "q2_series_minutely/p50", "q2_series_minutely/p99",
			"q3_fleet_minutely/p50", "q3_fleet_minutely/p99", "q4_latest_all/p50", "q4_latest_all/p99",
			"q5_count_per_device/p50", "q5_count_per_device/p99",
		}},
	} {
		t.Run("suite="+tc.suite, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{tc.suite, "--quick", "--format", "json", "--dir", t.TempDir()}
			if err := Main(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("Main(%q): %v\nstderr:\n%s", args, err, stderr.String())
			}
			// Decode into generic values first: the contract is the JSON.
			var raw map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
			}
			for _, k := range []string{"suite", "machine", "results"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("output lacks %q: %s", k, stdout.String())
				}
			}
			var rep Report
			dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rep); err != nil {
				t.Fatalf("decode report: %v", err)
			}
			if rep.Suite != tc.suite || rep.Machine == "" || len(rep.Results) == 0 {
				t.Errorf("report header: suite %q machine %q, %d results", rep.Suite, rep.Machine, len(rep.Results))
			}
			seen := map[string]bool{}
			for _, res := range rep.Results {
				if res.Name == "" || res.Unit == "" || math.IsNaN(res.Value) || math.IsInf(res.Value, 0) || res.Value < 0 {
					t.Errorf("bad result %+v", res)
				}
				if (res.Target == "") != (res.Met == nil) {
					t.Errorf("result %q: target %q but met %v", res.Name, res.Target, res.Met)
				}
				if seen[res.Name] {
					t.Errorf("result %q twice", res.Name)
				}
				seen[res.Name] = true
			}
			for _, name := range tc.want {
				if !seen[name] {
					t.Errorf("no result %q", name)
				}
			}
			if !strings.Contains(stderr.String(), "done") {
				t.Errorf("no progress on stderr:\n%s", stderr.String())
			}
		})
	}
}

func TestTableOutput(t *testing.T) {
	ok, missed := true, false
	rep := &Report{Suite: "storage", Machine: "m", Results: []Result{
		{Name: "write/x", Value: 3_500_000, Unit: "points/s", Target: ">= 3000000", Met: &ok},
		{Name: "disk/y", Value: 1.25, Unit: "bytes", Target: "<= 0.8", Met: &missed},
		{Name: "latest/p50", Value: 0.0734, Unit: "ms"},
	}}
	var b bytes.Buffer
	if err := writeTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := `suite storage on m

name            value  unit           target
write/x     3,500,000  points/s  ≥ 3,000,000  ok
disk/y           1.25  bytes           ≤ 0.8  MISSED
latest/p50     0.0734  ms
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestMainArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string // "" = success
	}{
		{nil, "name a suite"},
		{[]string{"nosuch"}, `unknown suite "nosuch"`},
		{[]string{"help"}, ""},
		{[]string{"storage", "-h"}, ""},
		{[]string{"storage", "--format", "xml"}, `--format "xml"`},
		{[]string{"storage", "--bogus"}, "flag provided but not defined"},
		{[]string{"storage", "extra"}, "unexpected arguments"},
		{[]string{"--format", "json", "storage", "--devices", "0"}, "--devices 0"},
		{[]string{"storage", "--points", "10"}, "--points 10"},
		{[]string{"pipeline", "--duration", "0s"}, "durations must be positive"},
		{[]string{"pipeline", "--pool", "10"}, "--pool 10"},
	} {
		var stdout, stderr bytes.Buffer
		err := Main(context.Background(), tc.args, &stdout, &stderr)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("Main(%q) = %v, want success", tc.args, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("Main(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
		}
	}
}

func TestHuman(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {7, "7"}, {0.5, "0.5"}, {0.0736, "0.0736"}, {6.4123, "6.41"}, {999.4, "999"},
		{1000, "1,000"}, {3_000_000, "3,000,000"}, {-1234567.6, "-1,234,568"}, {math.Inf(1), "+Inf"},
	} {
		if got := human(tc.v); got != tc.want {
			t.Errorf("human(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}} {
		if got := percentile(ds, tc.q); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{5}, 0.99); got != 5 {
		t.Errorf("percentile of one = %v", got)
	}
}

func TestAcceptedCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{"accepted":500,"rejected":0,"errors":[]}`, 500},
		{`{"accepted":0,"rejected":1}`, 0},
		{`{"error":{"code":"x"}}`, -1},
		{`{"accepted":}`, -1},
	} {
		if got := acceptedCount([]byte(tc.in)); got != tc.want {
			t.Errorf("acceptedCount(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestEventPool checks that the n-th event of a run is the pool's event
// with its time moved by whole rounds, that bodies stay valid NDJSON and
// that no two events of a run share a device and time.
func TestEventPool(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	ep, err := newEventPool(context.Background(), newProgress(&bytes.Buffer{}), 10, 40, 20, start, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		dev  string
		time float64
	}
	seen := map[key]bool{}
	var body []byte
	for n := int64(0); n < 4*40; n += 20 {
		if body, err = ep.body(body[:0], n, 20); err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(body, []byte("\n"))
		if len(lines) != 20 {
			t.Fatalf("batch %d has %d lines, want 20", n, len(lines))
		}
		for i, l := range lines {
			var ev struct {
				Time     float64
				DeviceID string
			}
			if err := json.Unmarshal(l, &ev); err != nil {
				t.Fatalf("batch %d: %v in %s", n, err, l)
			}
			// Round r is round 0 moved by r whole spans.
			var first struct{ Time float64 }
			base, _ := ep.body(nil, n%40, 20)
			if err := json.Unmarshal(bytes.Split(base, []byte("\n"))[i], &first); err != nil {
				t.Fatal(err)
			}
			if want := first.Time + float64(n/40*ep.span); math.Abs(ev.Time-want) > 1e-3 {
				t.Errorf("event %d of batch %d at %v, want %v", i, n, ev.Time, want)
			}
			k := key{ev.DeviceID, ev.Time}
			if seen[k] {
				t.Errorf("event %v sent twice", k)
			}
			seen[k] = true
		}
	}
	if _, err := ep.body(nil, 30, 20); err == nil {
		t.Error("a batch across a round was accepted")
	}
	if got := ep.align(41); got != 80 {
		t.Errorf("align(41) = %d, want 80", got)
	}
	late, _ := newEventPool(context.Background(), newProgress(&bytes.Buffer{}), 10, 40, 20, start, start.Add(5*time.Second))
	if _, err := late.body(nil, 40, 20); err == nil {
		t.Error("events past the time limit were produced")
	}
}
