// Package bench runs the whole-path benchmark suites behind `sluice bench
// SUITE` (DESIGN.md §3): "storage" drives internal/tsdb directly on a
// temporary directory, "pipeline" starts a real server (internal/app) on a
// temporary directory and loads it over HTTP from the same process.
//
// Output: a results table for people on stdout, or with --format json one
// object {"suite", "machine", "results": [{"name", "value", "unit"}]} for
// scripts; results that have a target also carry "target" (text such as
// ">= 3000000") and "met". Progress (phase, counts, rates, ETA) goes to
// stderr so that stdout stays parseable.
//
// Concurrency: Main may be called from several goroutines at once; each
// call keeps its state to itself (there is no package-level mutable state),
// though concurrent runs of course disturb each other's figures.
//
// Invariants: every run works in its own temporary directory, removed
// before Main returns (unless --keep); every goroutine a suite starts has
// ended when Main returns; a measurement that could not be taken is an
// error, never a zero in the results.
package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is one measured figure.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Target is the goal for this figure (">= 3000000", "<= 0.8"), empty
	// when there is none; Met says whether Value reaches it.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

// Report is what a suite run prints.
type Report struct {
	Suite   string   `json:"suite"`
	Machine string   `json:"machine"`
	Results []Result `json:"results"`
}

// target is a goal a figure is judged against.
type target struct {
	atLeast bool // value >= v; else value <= v
	v       float64
}

func atLeast(v float64) *target { return &target{atLeast: true, v: v} }
func atMost(v float64) *target  { return &target{v: v} }

func (t *target) met(v float64) bool {
	if t.atLeast {
		return v >= t.v
	}
	return v <= t.v
}

func (t *target) String() string {
	op := "<="
	if t.atLeast {
		op = ">="
	}
	return op + " " + strconv.FormatFloat(t.v, 'f', -1, 64)
}

// suite is one benchmark suite. flags registers its settings on fs and
// returns the function that runs it; quick is applied by run to the
// settings the user did not set.
type suite struct {
	name  string
	about string
	flags func(fs *flag.FlagSet) (run func(r *run) error, quick func(set map[string]bool))
}

var suites = []suite{
	{"storage", "the storage engine alone: durable writes, bytes/point, scans, point and series queries, memory per series", storageFlags},
	{"pipeline", "the whole server over HTTP: batch and single-event ingest, ingest→queryable latency", pipelineFlags},
	{"query", "the seed's dashboard queries over HTTP on an hour of compacted data: one series, per-minute averages, latest values, counts", queryFlags},
	{"insights", "anomaly detection on labelled simulator data (precision, recall, F1 per kind, against a baseline) and batch throughput; forecasting figures as they land", insightsFlags},
	{"lake", "the raw data lake: delivery of a filled stream as JSON Lines, gzipped JSON Lines and Parquet (events/s, MB/s, bytes/event on disk)", lakeFlags},
	{"aws", "the AWS-compatible APIs through the official SDK clients: Timestream WriteRecords against native direct writes (points/s, ratio), Kinesis PutRecords against native ingest (records/s)", awsFlags},
}

// run is the state shared by a suite's phases.
type run struct {
	ctx      context.Context
	stderr   io.Writer
	dir      string // a fresh temporary directory for this run
	only     map[string]bool
	progress *progress
	report   Report
}

// want reports whether the measurement group name was selected by --only.
func (r *run) want(name string) bool { return len(r.only) == 0 || r.only[name] }

// add records a result; t may be nil.
func (r *run) add(name string, value float64, unit string, t *target) {
	res := Result{Name: name, Value: value, Unit: unit}
	if t != nil {
		ok := t.met(value)
		res.Target, res.Met = t.String(), &ok
	}
	r.report.Results = append(r.report.Results, res)
}

// logf prints a note on stderr (not part of the results).
func (r *run) logf(format string, args ...any) {
	r.progress.println(fmt.Sprintf(format, args...))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sluice bench SUITE [flags]")
	fmt.Fprintln(w, "\nsuites:")
	for _, s := range suites {
		fmt.Fprintf(w, "  %-9s %s\n", s.name, s.about)
	}
	fmt.Fprintln(w, "\nRun `sluice bench SUITE -h` for a suite's flags.")
}

// Main runs `sluice bench ARGS`: ARGS is a suite name and its flags, in
// any order.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := ""
	rest := make([]string, 0, len(args))
	for i, a := range args {
		if name == "" && !strings.HasPrefix(a, "-") && (i == 0 || !flagTakesValue(args[i-1])) {
			name = a
			continue
		}
		rest = append(rest, a)
	}
	if name == "" || name == "help" {
		usage(stderr)
		if name == "help" || slicesContains(args, "-h") || slicesContains(args, "--help") {
			return nil
		}
		return errors.New("bench: name a suite")
	}
	var s *suite
	for i := range suites {
		if suites[i].name == name {
			s = &suites[i]
		}
	}
	if s == nil {
		usage(stderr)
		return fmt.Errorf("bench: unknown suite %q", name)
	}

	fs := flag.NewFlagSet("sluice bench "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output `format`: table or json")
	quick := fs.Bool("quick", false, "a ~10 s smoke run with small sizes (flags given explicitly still win)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file` (inspect with go tool pprof -top)")
	memprofile := fs.String("memprofile", "", "write a heap profile to `file` when the live heap is largest (sampled every 250 ms; inspect with go tool pprof -sample_index=inuse_space -top)")
	only := fs.String("only", "", "comma-separated measurement `groups` to run (default all; see the result names' first part)")
	tmp := fs.String("dir", "", "parent `directory` for the run's temporary data (default the system's)")
	keep := fs.Bool("keep", false, "keep the run's data directory and print its path")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long, printing every goroutine's stack to stderr first (0 = never)")
	runSuite, applyQuick := s.flags(fs)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("bench %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected arguments %q", name, fs.Args())
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("bench %s: --format %q: want table or json", name, *format)
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		applyQuick(set)
	}

	dir, err := os.MkdirTemp(*tmp, "sluice-bench-"+name+"-")
	if err != nil {
		return fmt.Errorf("bench %s: create a temporary directory: %w", name, err)
	}
	if *keep {
		fmt.Fprintf(stderr, "bench: data kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if *timeout > 0 {
		// A suite that hangs (a deadlock in the code under test, say) dumps
		// the stacks that show where, then is cancelled.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		t := time.AfterFunc(*timeout, func() {
			fmt.Fprintf(stderr, "bench %s: still running after %s; goroutines:\n", name, *timeout)
			pprof.Lookup("goroutine").WriteTo(stderr, 2)
			cancel()
		})
		defer t.Stop()
	}
	r := &run{
		ctx:      ctx,
		stderr:   stderr,
		dir:      dir,
		progress: newProgress(stderr),
		report:   Report{Suite: name, Machine: machine()},
	}
	if *only != "" {
		r.only = map[string]bool{}
		for _, g := range strings.Split(*only, ",") {
			r.only[strings.TrimSpace(g)] = true
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fmt.Errorf("bench %s: create CPU profile: %w", name, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("bench %s: start CPU profile: %w", name, err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *memprofile != "" {
		stop, err := profileHeapPeak(ctx, *memprofile, stderr)
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		defer stop()
	}
	if l, ok := loadAverage(); ok && l > float64(runtime.NumCPU())/2 {
		r.logf("note: load average %.1f on %d CPUs before the run: if other processes are busy, the figures will be low", l, runtime.NumCPU())
	}
	start := time.Now()
	if err := runSuite(r); err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}
	r.logf("bench %s: done in %s", name, time.Since(start).Round(100*time.Millisecond))
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r.report)
	}
	return writeTable(stdout, &r.report)
}

// flagTakesValue reports whether a (a flag) consumes the next argument:
// it has no "=value" and is not one of the boolean flags.
func flagTakesValue(a string) bool {
	if !strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
		return false
	}
	switch strings.TrimLeft(a, "-") {
	case "quick", "keep", "h", "help", "no-sync", "regular-times":
		return false
	}
	return true
}

func slicesContains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func writeTable(w io.Writer, rep *Report) error {
	rows := [][5]string{{"name", "value", "unit", "target", ""}}
	for _, res := range rep.Results {
		row := [5]string{res.Name, human(res.Value), res.Unit}
		if res.Target != "" {
			op, v, _ := strings.Cut(res.Target, " ")
			f, _ := strconv.ParseFloat(v, 64)
			row[3] = map[string]string{">=": "≥ ", "<=": "≤ "}[op] + human(f)
			row[4] = "ok"
			if res.Met != nil && !*res.Met {
				row[4] = "MISSED"
			}
		}
		rows = append(rows, row)
	}
	var width [5]int
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	pad := func(s string, n int) string { return strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) }
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "suite %s on %s\n\n", rep.Suite, rep.Machine)
	for _, row := range rows {
		// name and unit left-aligned, numbers right-aligned.
		line := row[0] + pad(row[0], width[0]) + "  " + pad(row[1], width[1]) + row[1] + "  " +
			row[2] + pad(row[2], width[2]) + "  " + pad(row[3], width[3]) + row[3] + "  " + row[4]
		fmt.Fprintln(bw, strings.TrimRight(line, " "))
	}
	return bw.Flush()
}

// human formats v for people: thousands separators for large numbers,
// three significant digits for small ones.
func human(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case math.Abs(v) >= 1000:
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		if neg {
			b.WriteByte('-')
		}
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// machine describes where the run happened.
func machine() string {
	parts := []string{runtime.GOOS + "/" + runtime.GOARCH, fmt.Sprintf("%d CPUs", runtime.NumCPU())}
	if m := cpuModel(); m != "" {
		parts = append(parts, m)
	}
	parts = append(parts, runtime.Version())
	return strings.Join(parts, ", ")
}

// loadAverage returns the 1-minute load average where the system tells.
func loadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return l, err == nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// percentile returns the q-quantile (0 < q <= 1) of sorted by the
// nearest-rank method; sorted must not be empty.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// addLatencies sorts ds and records their p50 and p99 in milliseconds,
// judging t (milliseconds) against both.
func (r *run) addLatencies(name string, ds []time.Duration, t *target) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r.add(name+"/p50", ms(percentile(ds, 0.50)), "ms", t)
	r.add(name+"/p99", ms(percentile(ds, 0.99)), "ms", t)
}
