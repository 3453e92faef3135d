package tsdb

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// model is the plain in-memory reference the engine must agree with:
// a map from (series, time) to the stored point, with DESIGN.md §5's rules.
type model struct {
	points map[modelKey]modelPoint
}

type modelKey struct {
	series string
	t      int64
}

type modelPoint struct {
	measure string
	dims    []Dimension
	v       int64
	vals    map[string]Value
}

func recordVals(r Record) map[string]Value {
	m := map[string]Value{}
	if r.Multi == nil {
		m[singleField(r.Value.Type)] = r.Value
	}
	for _, mv := range r.Multi {
		m[mv.Name] = mv.Value
	}
	return m
}

func sameVals(a, b map[string]Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v.Equal(w) {
			return false
		}
	}
	return true
}

// write applies records in order and returns the expected rejects.
func (m *model) write(recs []Record) []Reject {
	var rejects []Reject
	for i, r := range recs {
		dims := append([]Dimension(nil), r.Dimensions...)
		sort.Slice(dims, func(a, b int) bool { return dims[a].Name < dims[b].Name })
		k := modelKey{string(seriesKey(nil, r.MeasureName, dims)), r.Time}
		v := r.Version
		if v == 0 {
			v = 1
		}
		vals := recordVals(r)
		if ex, ok := m.points[k]; ok && v <= ex.v {
			if !sameVals(ex.vals, vals) {
				rejects = append(rejects, Reject{Index: i, ExistingVersion: ex.v})
			}
			continue
		}
		m.points[k] = modelPoint{measure: r.MeasureName, dims: dims, v: v, vals: vals}
	}
	return rejects
}

// rows renders the model (or a scan) as sorted strings for comparison.
func (m *model) rows(lo, hi int64, measures []string, dims []DimFilter) []string {
	var out []string
	for k, p := range m.points {
		if k.t < lo || k.t > hi || (measures != nil && !slices.Contains(measures, p.measure)) {
			continue
		}
		if !(&ScanRequest{Dims: dims}).matchSeries(&series{measure: p.measure, dims: p.dims}) {
			continue
		}
		var parts []string
		for _, d := range p.dims {
			parts = append(parts, d.Name+"="+d.Value)
		}
		var fs []string
		for n, v := range p.vals {
			fs = append(fs, n+"="+v.String())
		}
		sort.Strings(fs)
		out = append(out, fmt.Sprintf("%d %s {%s} %s", k.t, p.measure, strings.Join(parts, ","), strings.Join(fs, ",")))
	}
	sort.Strings(out)
	return out
}

// counts renders, per series with points in [lo, hi] that passes the
// filters, its point count and time bounds (what SeriesCounts returns).
func (m *model) counts(lo, hi int64, measures []string, dims []DimFilter) []string {
	type acc struct {
		p        modelPoint
		n        int
		min, max int64
	}
	by := map[string]*acc{}
	for k, p := range m.points {
		if k.t < lo || k.t > hi || (measures != nil && !slices.Contains(measures, p.measure)) {
			continue
		}
		if !(&ScanRequest{Dims: dims}).matchSeries(&series{measure: p.measure, dims: p.dims}) {
			continue
		}
		a := by[k.series]
		if a == nil {
			a = &acc{p: p, min: k.t, max: k.t}
			by[k.series] = a
		}
		a.n++
		a.min, a.max = min(a.min, k.t), max(a.max, k.t)
	}
	var out []string
	for _, a := range by {
		var parts []string
		for _, d := range a.p.dims {
			parts = append(parts, d.Name+"="+d.Value)
		}
		out = append(out, fmt.Sprintf("%s {%s} %d %d %d", a.p.measure, strings.Join(parts, ","), a.n, a.min, a.max))
	}
	sort.Strings(out)
	return out
}

// countRows renders a SeriesCounts answer like model.counts.
func countRows(t *testing.T, db *DB, req ScanRequest) []string {
	t.Helper()
	var out []string
	err := db.SeriesCounts(context.Background(), req, func(b *columnar.Batch) error {
		if err := b.Validate(); err != nil {
			return err
		}
		n, lo, hi := b.Col(CountColumn), b.Col(MinTimeColumn), b.Col(MaxTimeColumn)
		for i := 0; i < b.Len(); i++ {
			var dims []string
			for j, name := range b.Names {
				if (strings.HasPrefix(name, "dev") || name == "site") && !b.Cols[j].IsNull(i) {
					dims = append(dims, name+"="+b.Cols[j].Strs[i])
				}
			}
			sort.Strings(dims)
			out = append(out, fmt.Sprintf("%s {%s} %d %d %d", b.Col("measure_name").Strs[i], strings.Join(dims, ","), n.Ints[i], lo.Ints[i], hi.Ints[i]))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("series counts: %v", err)
	}
	sort.Strings(out)
	return out
}

// latest renders the newest point of each series.
func (m *model) latest() []string {
	newest := map[string]modelKey{}
	for k := range m.points {
		if cur, ok := newest[k.series]; !ok || k.t > cur.t {
			newest[k.series] = k
		}
	}
	sub := &model{points: map[modelKey]modelPoint{}}
	for _, k := range newest {
		sub.points[k] = m.points[k]
	}
	return sub.rows(math.MinInt64, math.MaxInt64, nil, nil)
}

func scanRows(t *testing.T, db *DB, req ScanRequest) []string {
	t.Helper()
	var out []string
	err := db.Scan(context.Background(), req, func(b *columnar.Batch) error {
		if err := b.Validate(); err != nil {
			return err
		}
		out = append(out, batchRows(b)...)
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	sort.Strings(out)
	return out
}

// projectedRows scans req and renders the rows' values of req.Columns
// (NULL where a batch lacks the column), sorted.
func projectedRows(t *testing.T, db *DB, req ScanRequest) []string {
	t.Helper()
	var out []string
	err := db.Scan(context.Background(), req, func(b *columnar.Batch) error {
		if err := b.Validate(); err != nil {
			return err
		}
		for i := 0; i < b.Len(); i++ {
			var sb strings.Builder
			for _, name := range req.Columns {
				c := b.Col(name)
				switch {
				case c == nil || c.IsNull(i):
					sb.WriteString("NULL")
				default:
					fmt.Fprint(&sb, c.Value(i))
				}
				sb.WriteString("|")
			}
			out = append(out, sb.String())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	sort.Strings(out)
	return out
}

func batchRows(b *columnar.Batch) []string {
	var out []string
	{
		for i := 0; i < b.Len(); i++ {
			var dims, fs []string
			for j, name := range b.Names {
				c := b.Cols[j]
				if name == "time" || name == "measure_name" || c.IsNull(i) {
					continue
				}
				if strings.HasPrefix(name, "dev") || name == "site" {
					dims = append(dims, name+"="+c.Strs[i])
				} else {
					fs = append(fs, name+"="+valueAt(c, i).String())
				}
			}
			sort.Strings(dims)
			sort.Strings(fs)
			out = append(out, fmt.Sprintf("%d %s {%s} %s", b.Col("time").Ints[i], b.Col("measure_name").Strs[i], strings.Join(dims, ","), strings.Join(fs, ",")))
		}
	}
	return out
}

// randomRecords makes a batch designed to collide: few series, few times,
// few values, versions 0..3.
func randomRecords(rng *rand.Rand, base int64, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		dev := fmt.Sprintf("d%d", rng.Intn(3))
		dims := []Dimension{{"device", dev}}
		if rng.Intn(4) == 0 {
			dims = append(dims, Dimension{"site", "s1"})
		}
		// Times over three partitions, late data included.
		tm := base + int64(rng.Intn(6))*int64(30*time.Minute) + int64(rng.Intn(3))*int64(time.Second)
		r := Record{Dimensions: dims, Time: tm, Version: int64(rng.Intn(4))}
		switch rng.Intn(4) {
		case 3:
			// Two decimals: its parts get another scale than temp's.
			r.MeasureName, r.Value = "volt", Double(float64(rng.Intn(3))+0.25)
		case 0:
			r.MeasureName, r.Value = "temp", Double(float64(rng.Intn(3))+0.5)
		case 1:
			r.MeasureName, r.Value = "count", Bigint(int64(rng.Intn(3)))
		default:
			r.MeasureName = "env"
			r.Multi = []MeasureValue{{"hum", Double(float64(rng.Intn(2)))}}
			if rng.Intn(2) == 0 {
				r.Multi = append(r.Multi, MeasureValue{"ok", Boolean(rng.Intn(2) == 0)})
			}
		}
		recs[i] = r
	}
	return recs
}

// TestModel interleaves random writes, flushes, compactions, restarts and
// queries, and checks that the engine agrees with the model every time.
func TestModel(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5}
	if s := os.Getenv("TSDB_MODEL_SEEDS"); s != "" {
		n, _ := strconv.Atoi(s)
		seeds = nil
		for i := 0; i < n; i++ {
			seeds = append(seeds, time.Now().UnixNano()+int64(i))
		}
	}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := now.Add(-3 * time.Hour).UnixNano()
	opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return now }, PartRowGroupRows: 7}
	// Odd seeds read parts through a page cache small enough to evict,
	// even seeds without one.
	opts.PageCacheBytes = -1
	if seed%2 != 0 {
		opts.PageCacheBytes = 16 << 10
	}
	ctx := context.Background()
	open := func() *DB {
		db, err := Open(dir, opts, nil, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return db
	}
	db := open()
	defer func() { db.Close() }()
	if err := db.EnsureTable(ctx, "iot", "telemetry", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	m := &model{points: map[modelKey]modelPoint{}}
	check := func(step int, what string) {
		t.Helper()
		req := ScanRequest{Database: "iot", Table: "telemetry", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
		if rng.Intn(2) == 0 {
			req.MinTime = base + int64(rng.Intn(4))*int64(30*time.Minute)
			req.MaxTime = req.MinTime + int64(rng.Intn(4)+1)*int64(30*time.Minute)
		}
		if rng.Intn(3) == 0 {
			req.MeasureNames = []string{"temp", "env"}
		}
		if rng.Intn(4) == 0 && req.MeasureNames != nil {
			// A value named twice must not return rows twice.
			req.MeasureNames = append(req.MeasureNames, req.MeasureNames[0])
		}
		switch rng.Intn(4) {
		case 0:
			req.Dims = []DimFilter{{Name: "device", Values: []string{"d0", "d2", "d0"}}}
		case 1:
			req.Dims = []DimFilter{{Name: "site", Prefix: "s"}}
		}
		got := scanRows(t, db, req)
		want := m.rows(req.MinTime, req.MaxTime, req.MeasureNames, req.Dims)
		if !slices.Equal(got, want) {
			t.Fatalf("step %d after %s: scan %+v disagrees with the model\n got %d rows: %v\nwant %d rows: %v", step, what, req, len(got), got, len(want), want)
		}
		// A projection with OnlyColumns gives the same rows of the listed
		// columns, whichever columns it leaves out.
		proj := req
		proj.OnlyColumns = true
		proj.Columns = []string{}
		for _, c := range []string{"time", "measure_name", "device", "site", "measure_value::double", "measure_value::bigint", "hum", "ok"} {
			if rng.Intn(3) == 0 {
				proj.Columns = append(proj.Columns, c)
			}
		}
		if len(proj.Columns) == 0 {
			proj.Columns = []string{"measure_value::double"}
		}
		full := proj
		full.OnlyColumns = false
		if got, want := projectedRows(t, db, proj), projectedRows(t, db, full); !slices.Equal(got, want) {
			t.Fatalf("step %d after %s: OnlyColumns scan %+v disagrees\n got %d rows: %v\nwant %d rows: %v", step, what, proj, len(got), got, len(want), want)
		}
		// Series counts: statistics where sources cannot overlap, times
		// read where they can, scans of parts without statistics.
		if got, want := countRows(t, db, req), m.counts(req.MinTime, req.MaxTime, req.MeasureNames, req.Dims); !slices.Equal(got, want) {
			t.Fatalf("step %d after %s: series counts %+v disagree with the model\n got %v\nwant %v", step, what, req, got, want)
		}
		// The latest-point path: the newest point of each series.
		latestReq := ScanRequest{Database: "iot", Table: "telemetry", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
		var gotLatest []string
		if err := db.Latest(context.Background(), latestReq, func(b *columnar.Batch) error {
			gotLatest = append(gotLatest, batchRows(b)...)
			return nil
		}); err != nil {
			t.Fatalf("latest: %v", err)
		}
		sort.Strings(gotLatest)
		if wantLatest := m.latest(); !slices.Equal(gotLatest, wantLatest) {
			t.Fatalf("step %d after %s: latest disagrees with the model\n got %v\nwant %v", step, what, gotLatest, wantLatest)
		}
	}
	for step := 0; step < 60; step++ {
		var what string
		switch op := rng.Intn(10); {
		case op < 6:
			what = "write"
			recs := randomRecords(rng, base, 1+rng.Intn(20))
			wantRej := m.write(recs)
			gotRej, err := db.Write(ctx, "iot", "telemetry", recs)
			if err != nil {
				t.Fatalf("step %d: write: %v", step, err)
			}
			if len(gotRej) != len(wantRej) {
				t.Fatalf("step %d: %d rejects, model says %d: %+v vs %+v", step, len(gotRej), len(wantRej), gotRej, wantRej)
			}
			for i := range gotRej {
				if gotRej[i].Index != wantRej[i].Index || gotRej[i].ExistingVersion != wantRej[i].ExistingVersion {
					t.Fatalf("step %d: reject %d = %+v, model says %+v", step, i, gotRej[i], wantRej[i])
				}
			}
		case op == 6:
			what = "flush"
			if err := db.Flush(ctx); err != nil {
				t.Fatalf("step %d: flush: %v", step, err)
			}
		case op == 7 && rng.Intn(2) == 0:
			what = "compact"
			if err := db.Compact(ctx); err != nil {
				t.Fatalf("step %d: compact: %v", step, err)
			}
		case op == 7:
			// The background compaction merges some of a partition's
			// parts, not all.
			what = "compact (tiered)"
			db.flushMu.Lock()
			err := db.compactLocked(ctx, func(_ int64, ps []*partRef) []*partRef { return pickTiered(ps, 2) })
			db.flushMu.Unlock()
			if err != nil {
				t.Fatalf("step %d: tiered compaction: %v", step, err)
			}
		case op == 8:
			what = "restart"
			if err := db.Close(); err != nil {
				t.Fatalf("step %d: close: %v", step, err)
			}
			// Parts written from now on may lack series statistics, as
			// parts of an older sluice do.
			opts.partNoSeriesStats = rng.Intn(3) == 0
			db = open()
		default:
			what = "query"
		}
		check(step, what)
	}
}
