package tsdb

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// minuteKey is a series (rendered) and an epoch minute.
type minuteKey struct {
	series string
	minute int64
}

// minuteTotals folds partial aggregates per series and minute.
type minuteTotals map[minuteKey]*part.ValueAgg

func (m minuteTotals) fold(k minuteKey, a part.ValueAgg) {
	t := m[k]
	if t == nil {
		t = &part.ValueAgg{}
		m[k] = t
	}
	switch {
	case a.Count == 0:
	case t.Count == 0:
		*t = a
	default:
		t.Count += a.Count
		t.Sum += a.Sum
		t.Min, t.Max = min(t.Min, a.Min), max(t.Max, a.Max)
	}
}

func seriesOf(b *columnar.Batch, i int) string {
	var sb strings.Builder
	for j, n := range b.Names {
		if n == "measure_name" || n == "device" || n == "site" {
			fmt.Fprintf(&sb, "%s=%v,", n, b.Cols[j].Value(i))
		}
	}
	return sb.String()
}

// TestMinuteAggregates interleaves random writes (late data and rewrites
// of stored points included), flushes and compactions, and checks that
// MinuteAggregates folded per series and minute equals the plain Scan's
// rows aggregated the same way, for random time bounds (not aligned to
// minutes), measure and dimension filters. Sums add the same values in
// another grouping, so they are compared with a relative tolerance of
// 1e-9; counts, minima and maxima exactly.
func TestMinuteAggregates(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runMinutes(t, seed, false) })
		// Times moving forward, as live data: flushes cut series by time,
		// so a partition's parts and hot tier do not overlap and are
		// aggregated apart, without merging rows.
		t.Run(fmt.Sprint("seed=", seed, "/ordered"), func(t *testing.T) { runMinutes(t, seed, true) })
	}
}

func runMinutes(t *testing.T, seed int64, ordered bool) {
	rng := rand.New(rand.NewSource(seed))
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := now.Add(-3 * time.Hour).UnixNano()
	opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return now }, PartRowGroupRows: 50}
	ctx := context.Background()
	db, err := Open(t.TempDir(), opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "telemetry", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	window := 0 // ordered: each write's times lie in a later 5-minute window
	write := func(n int) {
		window++
		recs := make([]Record, n)
		for i := range recs {
			dims := []Dimension{{"device", fmt.Sprintf("d%d", rng.Intn(4))}}
			if rng.Intn(4) == 0 {
				dims = append(dims, Dimension{"site", "s1"})
			}
			tm := base + rng.Int63n(int64(150*time.Minute))/int64(time.Second)*int64(time.Second)
			if ordered {
				tm = base + int64(window%30)*int64(5*time.Minute) + rng.Int63n(int64(5*time.Minute))/int64(time.Second)*int64(time.Second)
			}
			r := Record{Dimensions: dims, Time: tm, Version: int64(rng.Intn(4))}
			switch rng.Intn(4) {
			case 0, 1:
				r.MeasureName, r.Value = "temp", Double(float64(rng.Intn(1000))/8)
			case 2:
				r.MeasureName, r.Value = "count", Bigint(int64(rng.Intn(3)))
			default:
				r.MeasureName = "env"
				r.Multi = []MeasureValue{{"hum", Double(rng.Float64() * 100)}}
				if rng.Intn(2) == 0 {
					r.Multi = append(r.Multi, MeasureValue{"ok", Boolean(rng.Intn(2) == 0)})
				}
			}
			recs[i] = r
		}
		if _, err := db.Write(ctx, "iot", "telemetry", recs); err != nil {
			t.Fatal(err)
		}
	}
	// check compares the two; with compacted, it also checks that
	// pre-aggregates were used (fewer rows than the scan).
	check := func(step int, compacted bool) {
		t.Helper()
		req := ScanRequest{Database: "iot", Table: "telemetry", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
		if rng.Intn(3) > 0 {
			req.MinTime = base + rng.Int63n(int64(160*time.Minute))
			req.MaxTime = req.MinTime + rng.Int63n(int64(100*time.Minute))
		}
		if rng.Intn(3) == 0 {
			req.MeasureNames = []string{"temp", "env"}
		}
		if rng.Intn(4) == 0 {
			req.Dims = []DimFilter{{Name: "device", Values: []string{"d0", "d2"}}}
		}
		column := "measure_value::double"
		if rng.Intn(3) == 0 {
			column = "hum"
		}
		want := minuteTotals{}
		var scanned, emitted int
		if err := db.Scan(ctx, req, func(b *columnar.Batch) error {
			times, vals := b.Col("time"), b.Col(column)
			scanned += b.Len()
			for i := range b.Len() {
				var a part.ValueAgg
				if vals != nil && !vals.IsNull(i) {
					a.Add(vals.Floats[i])
				}
				want.fold(minuteKey{seriesOf(b, i), int64(math.Floor(float64(times.Ints[i]) / 60e9))}, a)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got := minuteTotals{}
		req.Columns = []string{"measure_name", "device", "site"}
		if err := db.MinuteAggregates(ctx, req, column, func(b *columnar.Batch) error {
			n := len(b.Cols)
			mins, cnt, sum, lo, hi := b.Cols[n-5], b.Cols[n-4], b.Cols[n-3], b.Cols[n-2], b.Cols[n-1]
			emitted += b.Len()
			for i := range b.Len() {
				a := part.ValueAgg{Count: cnt.Ints[i]}
				if a.Count > 0 {
					a.Sum, a.Min, a.Max = sum.Floats[i], lo.Floats[i], hi.Floats[i]
				} else if !sum.IsNull(i) {
					t.Fatalf("count 0 with a sum")
				}
				if mins.Ints[i]%int64(60e9) != 0 {
					t.Fatalf("minute %d not aligned", mins.Ints[i])
				}
				got.fold(minuteKey{seriesOf(b, i), mins.Ints[i] / 60e9}, a)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var keys []minuteKey
		for k := range want {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].series != keys[j].series {
				return keys[i].series < keys[j].series
			}
			return keys[i].minute < keys[j].minute
		})
		if len(got) != len(want) {
			t.Fatalf("step %d %+v %s: %d series-minutes, scan has %d", step, req, column, len(got), len(want))
		}
		if (compacted || ordered) && scanned > 100 && emitted >= scanned {
			t.Errorf("step %d: %d aggregate rows for %d scanned rows: pre-aggregates unused", step, emitted, scanned)
		}
		for _, k := range keys {
			g, w := got[k], want[k]
			if g == nil || g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || math.Abs(g.Sum-w.Sum) > 1e-9*max(1, math.Abs(w.Sum)) {
				t.Fatalf("step %d %+v %s: %v = %+v, scan gives %+v", step, req, column, k, g, w)
			}
		}
	}
	for step := range 40 {
		switch op := rng.Intn(10); {
		case op < 6:
			write(1 + rng.Intn(300))
		case op < 8 || ordered && op < 10:
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		default:
			if err := db.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check(step, false)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for step := range 10 {
		check(100+step, true)
	}
}

// TestCandidateSeries: the ranges candidateSeries finds by binary search
// are ascending, disjoint, and hold every series of a part that matches
// the request, for random parts (NULL first dimensions included) and
// measure and first-dimension filters.
func TestCandidateSeries(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	dims := []string{"device", "site"}
	for iter := range 500 {
		var stats []part.SeriesStat
		for _, m := range []string{"a", "b", "c"}[:1+rng.Intn(3)] {
			if rng.Intn(4) == 0 {
				continue
			}
			for d := -1; d < 5; d++ {
				if rng.Intn(3) == 0 {
					continue
				}
				st := part.SeriesStat{Measure: m, Dims: []string{"", "s"}}
				if d < 0 {
					st.Nulls = []bool{true, false}
				} else {
					st.Dims[0] = fmt.Sprint("d", d)
				}
				stats = append(stats, st)
			}
		}
		req := &ScanRequest{}
		if rng.Intn(2) == 0 {
			req.MeasureNames = []string{}
			for range rng.Intn(3) {
				req.MeasureNames = append(req.MeasureNames, []string{"a", "b", "c", "x"}[rng.Intn(4)])
			}
		}
		if rng.Intn(2) == 0 {
			f := DimFilter{Name: dims[rng.Intn(2)]}
			for range 1 + rng.Intn(3) {
				f.Values = append(f.Values, fmt.Sprint("d", rng.Intn(6)))
			}
			req.Dims = append(req.Dims, f)
		}
		ranges := candidateSeries(stats, dims, req)
		in := make([]bool, len(stats))
		prev := 0
		for _, r := range ranges {
			if r[0] < prev || r[0] >= r[1] || r[1] > len(stats) {
				t.Fatalf("iter %d: ranges %v are not ascending, disjoint and non-empty", iter, ranges)
			}
			prev = r[1]
			for k := r[0]; k < r[1]; k++ {
				in[k] = true
			}
		}
		for k, st := range stats {
			var ds []Dimension
			for j, n := range dims {
				if st.Nulls == nil || !st.Nulls[j] {
					ds = append(ds, Dimension{n, st.Dims[j]})
				}
			}
			if req.matchIdentity(st.Measure, ds) && !in[k] {
				t.Fatalf("iter %d: series %d %+v matches %+v but is in none of %v", iter, k, st, req, ranges)
			}
		}
	}
}
