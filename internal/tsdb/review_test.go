package tsdb

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// minuteTotalsOf folds a MinuteAggregates answer, or the rows of a Scan,
// per series and minute.
func minuteTotalsOf(t *testing.T, db *DB, req ScanRequest, column string, agg bool) minuteTotals {
	t.Helper()
	out := minuteTotals{}
	ctx := context.Background()
	if !agg {
		if err := db.Scan(ctx, req, func(b *columnar.Batch) error {
			times, vals := b.Col("time"), b.Col(column)
			for i := range b.Len() {
				var a part.ValueAgg
				if vals != nil && vals.Type == columnar.Float64 && !vals.IsNull(i) {
					a.Add(vals.Floats[i])
				}
				out.fold(minuteKey{seriesOf(b, i), int64(math.Floor(float64(times.Ints[i]) / 60e9))}, a)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	req.Columns = []string{"measure_name", "device", "site"}
	if err := db.MinuteAggregates(ctx, req, column, func(b *columnar.Batch) error {
		n := len(b.Cols)
		mins, cnt, sum, lo, hi := b.Cols[n-5], b.Cols[n-4], b.Cols[n-3], b.Cols[n-2], b.Cols[n-1]
		for i := range b.Len() {
			a := part.ValueAgg{Count: cnt.Ints[i]}
			if a.Count > 0 {
				a.Sum, a.Min, a.Max = sum.Floats[i], lo.Floats[i], hi.Floats[i]
			}
			out.fold(minuteKey{seriesOf(b, i), mins.Ints[i] / 60e9}, a)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameMinuteTotals(got, want minuteTotals) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d series-minutes, want %d", len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g == nil || g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || math.Abs(g.Sum-w.Sum) > 1e-9*max(1, math.Abs(w.Sum)) {
			return fmt.Sprintf("%v = %+v, want %+v", k, g, w)
		}
	}
	return ""
}

// TestReviewModelLive is the model test with a flush in progress (the
// active memtable set aside as the flushing one, as a flush that failed
// leaves it) between steps, the background compaction's picks, and every
// per-source shortcut (SeriesCounts, MinuteAggregates) checked against the
// model or the Scan after every step.
func TestReviewModelLive(t *testing.T) {
	seeds := []int64{11, 12, 13}
	if testing.Short() {
		seeds = seeds[:1]
	}
	if n, _ := strconv.Atoi(os.Getenv("TSDB_REVIEW_SEEDS")); n > 0 {
		seeds = nil
		for i := range n {
			seeds = append(seeds, time.Now().UnixNano()+int64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runReviewModel(t, seed) })
	}
}

func runReviewModel(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := now.Add(-3 * time.Hour).UnixNano()
	opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return now }, PartRowGroupRows: 5, PageCacheBytes: -1}
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
			req.MinTime = base + rng.Int63n(int64(3*time.Hour))
			req.MaxTime = req.MinTime + rng.Int63n(int64(time.Hour))
		}
		if rng.Intn(3) == 0 {
			req.MeasureNames = []string{"temp", "env", "volt"}
		}
		if rng.Intn(4) == 0 {
			req.Dims = []DimFilter{{Name: "device", Values: []string{"d0", "d2"}}}
		}
		if got, want := scanRows(t, db, req), m.rows(req.MinTime, req.MaxTime, req.MeasureNames, req.Dims); !slices.Equal(got, want) {
			t.Fatalf("step %d after %s: scan %+v\n got %v\nwant %v", step, what, req, got, want)
		}
		if got, want := countRows(t, db, req), m.counts(req.MinTime, req.MaxTime, req.MeasureNames, req.Dims); !slices.Equal(got, want) {
			t.Fatalf("step %d after %s: series counts %+v\n got %v\nwant %v", step, what, req, got, want)
		}
		for _, column := range []string{"measure_value::double", "hum"} {
			got, want := minuteTotalsOf(t, db, req, column, true), minuteTotalsOf(t, db, req, column, false)
			if msg := sameMinuteTotals(got, want); msg != "" {
				t.Fatalf("step %d after %s: minute aggregates %+v of %s: %s", step, what, req, column, msg)
			}
		}
	}
	tb := func() *table {
		x, err := db.table("iot", "telemetry")
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	window := 0
	for step := 0; step < 80; step++ {
		var what string
		switch op := rng.Intn(12); {
		case op < 6:
			what = "write"
			var recs []Record
			if rng.Intn(2) == 0 {
				recs = randomRecords(rng, base, 1+rng.Intn(20))
			} else {
				// Live data: times moving forward, flushes cut series by time.
				window++
				recs = randomRecords(rng, base, 1+rng.Intn(20))
				for i := range recs {
					recs[i].Time = base + int64(window%36)*int64(5*time.Minute) + rng.Int63n(300)*int64(time.Second)
				}
			}
			wantRej := m.write(recs)
			gotRej, err := db.Write(ctx, "iot", "telemetry", recs)
			if err != nil {
				t.Fatalf("step %d: write: %v", step, err)
			}
			if len(gotRej) != len(wantRej) {
				t.Fatalf("step %d: %d rejects, model says %d: %+v vs %+v", step, len(gotRej), len(wantRej), gotRej, wantRej)
			}
		case op == 6:
			what = "flush"
			if err := db.Flush(ctx); err != nil {
				t.Fatalf("step %d: flush: %v", step, err)
			}
		case op == 7:
			// A flush in progress (or failed): the active memtable is the
			// flushing one, a new one takes writes.
			what = "rotate"
			x := tb()
			x.mu.Lock()
			x.rotate()
			x.mu.Unlock()
		case op == 8:
			what = "compact"
			if err := db.Compact(ctx); err != nil {
				t.Fatalf("step %d: compact: %v", step, err)
			}
		case op == 9:
			what = "compact (tiered)"
			minParts := 2 + rng.Intn(3)
			db.flushMu.Lock()
			err := db.compactLocked(ctx, func(_ int64, ps []*partRef) []*partRef { return pickTiered(ps, minParts) })
			db.flushMu.Unlock()
			if err != nil {
				t.Fatalf("step %d: tiered compaction: %v", step, err)
			}
		case op == 10:
			what = "restart"
			if err := db.Close(); err != nil {
				t.Fatalf("step %d: close: %v", step, err)
			}
			opts.partNoSeriesStats = rng.Intn(4) == 0
			db = open()
		default:
			what = "query"
		}
		check(step, what)
	}
}

// TestReviewConcurrentCompaction: writers of late data (their points fall
// inside the series' cold bounds, so the write path looks them up in the
// parts) and scanners run while the background maintenance flushes and
// merges some of the partition's parts at a time. Redeliveries are no-ops,
// conflicting values with the same version are rejected, higher versions
// win, and no scan ever sees a point twice.
func TestReviewConcurrentCompaction(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	base := now.Add(-time.Hour).Truncate(time.Hour).UnixNano() // a past partition
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }, PartRowGroupRows: 64}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds, devices = 3, 100, 8
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range rounds {
				var recs []Record
				for d := range devices {
					// Writer w owns times ≡ w (mod writers); times go
					// back and forth so that many fall inside cold bounds.
					sec := ((k*7)%rounds)*writers + w
					recs = append(recs, Record{Dimensions: []Dimension{{"device", fmt.Sprint("d", d)}}, MeasureName: "temp",
						Time: base + int64(sec)*int64(time.Second), Value: Double(float64(d*1000 + sec)), Version: 1})
				}
				if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
					errs <- fmt.Errorf("writer %d round %d: %v %+v", w, k, err, rej)
					return
				}
				// A conflicting value with the same version: rejected,
				// whether the point is in memory or in a part.
				bad := slices.Clone(recs)
				for i := range bad {
					bad[i].Value = Double(-1)
				}
				if rej, err := db.Write(ctx, "iot", "tel", bad); err != nil || len(rej) != len(bad) {
					errs <- fmt.Errorf("writer %d round %d: conflict: %v, %d rejects", w, k, err, len(rej))
					return
				}
				// The value again, version 2: it wins (same value).
				for i := range recs {
					recs[i].Version = 2
				}
				if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
					errs <- fmt.Errorf("writer %d round %d: v2: %v %+v", w, k, err, rej)
					return
				}
				time.Sleep(time.Millisecond) // let flushes and merges interleave
			}
		}()
	}
	stop := make(chan struct{})
	var passes, scans atomic.Int64
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.Flush(ctx); err != nil {
				errs <- err
				return
			}
			if err := db.maintainOnce(ctx); err != nil {
				errs <- err
				return
			}
			passes.Add(1)
		}
	}()
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			seen := map[string]bool{}
			for _, r := range scanAllT(db) {
				if seen[r] {
					errs <- fmt.Errorf("scan: row %s twice", r)
					return
				}
				seen[r] = true
			}
			scans.Add(1)
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d maintenance passes, %d scans, stats %+v", passes.Load(), scans.Load(), db.Stats())
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	rows := scanAll(t, db)
	if want := writers * rounds * devices; len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
}

// scanAllT is scanAll without a testing.T (for goroutines): the rows'
// series and time.
func scanAllT(db *DB) []string {
	var out []string
	db.Scan(context.Background(), ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64}, func(b *columnar.Batch) error {
		for i := 0; i < b.Len(); i++ {
			out = append(out, fmt.Sprint(b.Col("time").Ints[i], b.Col("device").Strs[i]))
		}
		return nil
	})
	return out
}

// TestReviewMergeOrderOddNames: the merge orders series by orderKey and
// compaction writes that order to parts, which check it: names that are
// prefixes of each other, NUL and 0xFF bytes, empty values and missing
// dimensions.
func TestReviewMergeOrderOddNames(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	base := now.Add(-time.Hour).Truncate(time.Hour).UnixNano()
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }, PartRowGroupRows: 3}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	measures := []string{"t", "t\x00", "t\x00\x01", "t\x01", "ta", "t\xff"}
	vals := []string{"", "\x00", "a", "a\x00", "a\x00b", "ab", "\xff"}
	n := 0
	for round := range 3 {
		var recs []Record
		for _, m := range measures {
			for i, v := range vals {
				var dims []Dimension
				if (i+round)%3 != 0 {
					dims = append(dims, Dimension{"device", v})
				}
				if (i+round)%2 == 0 {
					dims = append(dims, Dimension{"site", v})
				}
				if len(dims) == 0 {
					dims = []Dimension{{"zone", v}}
				}
				recs = append(recs, Record{Dimensions: dims, MeasureName: m, Time: base + int64(round)*1e9, Value: Double(1.5)})
				n++
			}
		}
		if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
			t.Fatalf("write: %v %+v", err, rej)
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before := scanAll(t, db)
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := scanAll(t, db)
	if len(after) != len(before) || !slices.Equal(after, before) {
		t.Fatalf("compaction changed the rows: %d before, %d after", len(before), len(after))
	}
}
