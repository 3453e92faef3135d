package tsdb

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// liveStore builds a store as a live one holds data: time slices flushed
// one after the other (parts per decimal scale, not compacted), the newest
// in the hot tier, over two partitions, with series present in only some
// sources (devices that start or stop sending), a device with an extra
// dimension, and a multi-measure record with a sometimes missing (NULL)
// value. steps are run in order; after each, check is called with the DB
// and the step's name.
type liveStore struct {
	t     *testing.T
	db    *DB
	base  int64
	check func(step string)
}

const liveSlice = 10 * time.Minute

// liveRecords returns the records of devices [d0, d1) for the seconds
// [from, to) of the store (every 20 s), offset by off ns.
func (ls *liveStore) records(d0, d1, from, to int, off int64) []Record {
	var recs []Record
	for s := from; s < to; s += 20 {
		tm := ls.base + int64(s)*int64(time.Second) + off
		for d := d0; d < d1; d++ {
			dims := []Dimension{{"device", fmt.Sprintf("d%d", d)}}
			if d == 6 {
				dims = append(dims, Dimension{"site", "s1"})
			}
			recs = append(recs,
				Record{Dimensions: dims, MeasureName: "temp", Time: tm, Value: Double(20 + float64((s+d)%9)/10)},
				Record{Dimensions: dims, MeasureName: "hum", Time: tm, Value: Double(40 + float64((s*d)%13)/100)})
			env := Record{Dimensions: dims, MeasureName: "env", Time: tm, Multi: []MeasureValue{{"a", Double(float64(s % 7))}}}
			if s%60 != 0 {
				env.Multi = append(env.Multi, MeasureValue{"b", Double(float64(d) + 0.5)})
			}
			recs = append(recs, env)
		}
	}
	return recs
}

func (ls *liveStore) write(recs []Record) {
	ls.t.Helper()
	if rej, err := ls.db.Write(context.Background(), "iot", "tel", recs); err != nil || len(rej) > 0 {
		ls.t.Fatalf("write: %v %v", err, rej)
	}
}

func (ls *liveStore) flush() {
	ls.t.Helper()
	if err := ls.db.Flush(context.Background()); err != nil {
		ls.t.Fatalf("flush: %v", err)
	}
}

// run loads the store step by step, calling check after each step.
func (ls *liveStore) run() {
	sl := int(liveSlice / time.Second)
	ls.write(ls.records(0, 5, 0, sl, 0)) // d0..d4
	ls.check("first slice in the hot tier")
	ls.flush()
	ls.write(ls.records(0, 7, sl, 2*sl, 0)) // d5, d6 start
	ls.check("one part, the hot tier")
	ls.flush()
	ls.write(ls.records(0, 4, 2*sl, 3*sl, 0)) // d4..d6 stop; the partition ends within this slice
	ls.write(ls.records(7, 8, 2*sl, 3*sl, 0)) // d7 only here
	ls.check("two parts and the hot tier, two partitions")
	ls.flush()
	ls.write(ls.records(0, 3, 3*sl, 4*sl, 0))
	ls.check("three parts, the hot tier")
	// Late data: d1's points between those of the first slice (a part
	// and the hot tier overlap in time for it), d2's at the same times
	// as the first slice with a higher version (replacing them).
	ls.write(ls.records(1, 2, 0, sl, int64(time.Second)))
	late := ls.records(2, 3, 0, sl/2, 0)
	for i := range late {
		late[i].Version = 5
		if late[i].Value.Type == columnar.Float64 {
			late[i].Value = Double(late[i].Value.F + 1)
		}
	}
	ls.write(late)
	ls.check("late data into the first slice")
	ls.flush()
	ls.check("late data flushed")
	// A flush in progress: the active memtable set aside as the flushing
	// one, and writes going on into a new one (some at the same times).
	x, err := ls.db.table("iot", "tel")
	if err != nil {
		ls.t.Fatal(err)
	}
	ls.write(ls.records(0, 2, 4*sl, 4*sl+300, 0))
	x.mu.Lock()
	x.rotate()
	x.mu.Unlock()
	ls.write(ls.records(0, 1, 4*sl+200, 4*sl+500, 0))
	ls.check("a flush in progress")
	ls.flush()
	ls.check("all flushed")
	if err := ls.db.Compact(context.Background()); err != nil {
		ls.t.Fatal(err)
	}
	ls.check("compacted")
}

func openLive(t *testing.T, opts Options) *liveStore {
	now := time.Date(2026, 11, 26, 12, 59, 0, 0, time.UTC)
	opts.MaintenanceInterval, opts.Now = -1, func() time.Time { return now }
	db, err := Open(t.TempDir(), opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureTable(context.Background(), "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	// The hour starts 25 minutes before the partition boundary.
	return &liveStore{t: t, db: db, base: now.Truncate(time.Hour).Add(-25 * time.Minute).UnixNano()}
}

// orderedRows renders a Scan's rows in the order they come.
func orderedRows(t *testing.T, db *DB, req ScanRequest) []string {
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
		t.Fatalf("scan %+v: %v", req, err)
	}
	return out
}

// TestScanSeriesDirect checks Scan of a few series (which reads them
// series by series from each source where it can) against the general
// path's rows of the same series, in the same order, on a live store at
// every step: late data, series in some sources only, two memtables,
// NULL values, time bounds inside a part's span, the page cache on and
// off.
func TestScanSeriesDirect(t *testing.T) {
	for _, cache := range []int64{0, -1} {
		t.Run(fmt.Sprint("cache=", cache >= 0), func(t *testing.T) {
			ls := openLive(t, Options{PageCacheBytes: cache})
			directRuns := 0
			ls.check = func(step string) {
				ranges := [][2]int64{
					{math.MinInt64, math.MaxInt64},
					{ls.base + int64(7*time.Minute) + 1, ls.base + int64(33*time.Minute)},
					{ls.base + int64(25*time.Minute), math.MaxInt64},
				}
				projections := [][]string{nil, {"measure_value::double"}, {"b"}, {"a", "b", "device"}, {}}
				for _, r := range ranges {
					for _, cols := range projections {
						for d := range 8 {
							dev := fmt.Sprintf("d%d", d)
							// The general path: a prefix filter selects no
							// candidates (device names are one digit long).
							all := orderedRows(t, ls.db, ScanRequest{Database: "iot", Table: "tel", MinTime: r[0], MaxTime: r[1],
								Dims: []DimFilter{{Name: "device", Prefix: dev}}, Columns: cols})
							for _, m := range []string{"temp", "hum", "env"} {
								req := ScanRequest{Database: "iot", Table: "tel", MinTime: r[0], MaxTime: r[1],
									MeasureNames: []string{m}, Dims: []DimFilter{{Name: "device", Values: []string{dev}}}, Columns: cols}
								var want []string
								for _, row := range all {
									if strings.Contains(row, " "+m+" {") {
										want = append(want, row)
									}
								}
								if got := orderedRows(t, ls.db, req); !slices.Equal(got, want) {
									t.Fatalf("%s: scan %s of %s in %v, columns %q:\n got %q\nwant %q", step, m, dev, r, cols, got, want)
								}
							}
						}
					}
				}
				// Two series in one request, and the direct path taken
				// where every source allows it.
				req := ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64,
					MeasureNames: []string{"temp", "env"}, Dims: []DimFilter{{Name: "device", Values: []string{"d0", "d3", "d6"}}}}
				all := orderedRows(t, ls.db, ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64})
				var want []string
				for _, row := range all {
					if (strings.Contains(row, " temp {") || strings.Contains(row, " env {")) &&
						(strings.Contains(row, "{device=d0") || strings.Contains(row, "{device=d3") || strings.Contains(row, "{device=d6")) {
						want = append(want, row)
					}
				}
				if got := orderedRows(t, ls.db, req); !slices.Equal(got, want) {
					t.Fatalf("%s: scan of three devices' two measures:\n got %q\nwant %q", step, got, want)
				}
				directRuns += directPartitions(t, ls.db, req)
			}
			ls.run()
			if directRuns == 0 {
				t.Fatal("no partition was read series by series")
			}
		})
	}
}

// directPartitions counts the partitions of req that scanSeries serves.
func directPartitions(t *testing.T, db *DB, req ScanRequest) int {
	t.Helper()
	tb, err := db.table(req.Database, req.Table)
	if err != nil {
		t.Fatal(err)
	}
	clampTime(db, tb, &req)
	snap := db.capture(tb, &req)
	defer snap.release()
	if !snap.direct {
		t.Fatalf("request %+v is not read series by series", req)
	}
	n := 0
	for p := range snap.parts {
		out := newBatchBuilder(snap.dims, snap.fields, false)
		ok, err := db.scanSeries(context.Background(), &req, snap, p, out, func() error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			n++
		}
	}
	return n
}

// clampTime moves req.MinTime up to the table's retention, as the
// queries do before they capture.
func clampTime(db *DB, tb *table, req *ScanRequest) {
	if oldest := db.now() - int64(tb.info.Retention.Magnetic); req.MinTime < oldest {
		req.MinTime = oldest
	}
}

// scanCounts renders what SeriesCounts should answer, from the general
// Scan's rows (as countRows renders SeriesCounts).
func scanCounts(t *testing.T, db *DB, req ScanRequest) []string {
	t.Helper()
	type acc struct{ n, lo, hi int64 }
	by := map[string]*acc{}
	err := db.Scan(context.Background(), req, func(b *columnar.Batch) error {
		for i := 0; i < b.Len(); i++ {
			var dims []string
			for j, name := range b.Names {
				if (name == "device" || name == "site") && !b.Cols[j].IsNull(i) {
					dims = append(dims, name+"="+b.Cols[j].Strs[i])
				}
			}
			sort.Strings(dims)
			k := b.Col("measure_name").Strs[i] + " {" + strings.Join(dims, ",") + "}"
			tm := b.Col("time").Ints[i]
			a := by[k]
			if a == nil {
				a = &acc{0, tm, tm}
				by[k] = a
			}
			a.n++
			a.lo, a.hi = min(a.lo, tm), max(a.hi, tm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k, a := range by {
		out = append(out, fmt.Sprintf("%s %d %d %d", k, a.n, a.lo, a.hi))
	}
	sort.Strings(out)
	return out
}

// oldCounts is SeriesCounts by the per-partition path that keys every
// series by its order key (counter.partition), for comparison with the
// merged path.
func oldCounts(t *testing.T, db *DB, req ScanRequest) []string {
	t.Helper()
	tb, err := db.table(req.Database, req.Table)
	if err != nil {
		t.Fatal(err)
	}
	clampTime(db, tb, &req)
	snap := db.captureTimes(tb, &req, true)
	defer snap.release()
	c := &counter{db: db, req: &req, snap: snap, acc: map[string]*seriesCount{}}
	seen := map[int64]bool{}
	for p := range snap.mem {
		seen[p] = true
	}
	for p := range snap.parts {
		seen[p] = true
	}
	for p := range seen {
		if err := c.partition(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for _, s := range c.acc {
		var dims []string
		for _, d := range s.dims {
			dims = append(dims, d.Name+"="+d.Value)
		}
		out = append(out, fmt.Sprintf("%s {%s} %d %d %d", s.measure, strings.Join(dims, ","), s.n, s.min, s.max))
	}
	sort.Strings(out)
	return out
}

// TestSeriesCountsMerged checks SeriesCounts (the merged path) against the
// general Scan's rows and against the per-partition path it replaced, on
// a live store at every step (see liveStore), with time bounds inside
// sources' spans and series filters.
func TestSeriesCountsMerged(t *testing.T) {
	ls := openLive(t, Options{})
	mergedRuns := 0
	ls.check = func(step string) {
		reqs := []ScanRequest{
			{MinTime: math.MinInt64, MaxTime: math.MaxInt64},
			{MinTime: ls.base + int64(7*time.Minute) + 1, MaxTime: ls.base + int64(33*time.Minute)},
			{MinTime: ls.base + int64(25*time.Minute), MaxTime: math.MaxInt64},
			{MinTime: math.MinInt64, MaxTime: math.MaxInt64, MeasureNames: []string{"temp", "env"}},
			{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Dims: []DimFilter{{Name: "device", Values: []string{"d1", "d6", "d7"}}}},
			{MinTime: ls.base, MaxTime: ls.base + int64(12*time.Minute), Dims: []DimFilter{{Name: "site", Prefix: "s"}}},
		}
		for _, req := range reqs {
			req.Database, req.Table = "iot", "tel"
			got := countRows(t, ls.db, req)
			if want := scanCounts(t, ls.db, req); !slices.Equal(got, want) {
				t.Fatalf("%s: series counts %+v\n got %q\nwant %q", step, req, got, want)
			}
			if old := oldCounts(t, ls.db, req); !slices.Equal(got, old) {
				t.Fatalf("%s: series counts %+v\n got %q\n old %q", step, req, got, old)
			}
		}
		// The merged path serves the live partitions.
		tb, _ := ls.db.table("iot", "tel")
		req := ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
		clampTime(ls.db, tb, &req)
		snap := ls.db.captureTimes(tb, &req, true)
		defer snap.release()
		c := &counter{db: ls.db, req: &req, snap: snap, acc: map[string]*seriesCount{}}
		for p := range snap.parts {
			if _, ok, err := c.merged(context.Background(), p); err != nil {
				t.Fatal(err)
			} else if ok {
				mergedRuns++
			}
		}
	}
	ls.run()
	if mergedRuns == 0 {
		t.Fatal("the merged path served no partition")
	}
}

// TestMergeCountRows checks the merge of two partitions' counts.
func TestMergeCountRows(t *testing.T) {
	dims := []string{"device"}
	mk := func(m, d string) *series { return &series{measure: m, dims: []Dimension{{"device", d}}} }
	a1, a2, b1, c1 := mk("a", "1"), mk("a", "2"), mk("b", "1"), mk("c", "1")
	x := []countRow{{a1, 2, 10, 20}, {b1, 1, 5, 5}}
	y := []countRow{{a1, 3, 30, 40}, {a2, 1, 1, 1}, {c1, 4, 0, 9}}
	got := mergeCountRows(nil, x, y, dims)
	want := []countRow{{a1, 5, 10, 40}, {a2, 1, 1, 1}, {b1, 1, 5, 5}, {c1, 4, 0, 9}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := mergeCountRows(nil, nil, y, dims); !slices.Equal(got, y) {
		t.Fatalf("got %v, want %v", got, y)
	}
	if got := mergeCountRows(nil, x, nil, dims); !slices.Equal(got, x) {
		t.Fatalf("got %v, want %v", got, x)
	}
}

// TestScanOnlyColumns: a Scan with OnlyColumns returns, in order, the
// listed columns of the rows a full Scan returns, whichever path serves a
// partition (parts alone, the hot tier alone, a few series read directly,
// the merge); the batch may leave out measure_name and the dimensions it
// was not asked for, and every batch is valid.
func TestScanOnlyColumns(t *testing.T) {
	ls := openLive(t, Options{})
	ls.check = func(step string) {
		for _, req := range []ScanRequest{
			{Columns: []string{"measure_value::double"}},
			{Columns: []string{"measure_value::double"}, MeasureNames: []string{"temp"}, Dims: []DimFilter{{Name: "device", Values: []string{"d1", "d2"}}}},
			{Columns: []string{"a", "device"}, MeasureNames: []string{"env"}},
			{Columns: []string{"measure_name", "site", "b"}},
		} {
			req.Database, req.Table, req.MinTime, req.MaxTime = "iot", "tel", math.MinInt64, math.MaxInt64
			full := req
			full.Columns, full.OnlyColumns = nil, false
			req.OnlyColumns = true
			var want []string
			err := ls.db.Scan(context.Background(), full, func(b *columnar.Batch) error {
				want = append(want, onlyRows(b, req.Columns)...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = ls.db.Scan(context.Background(), req, func(b *columnar.Batch) error {
				if err := b.Validate(); err != nil {
					return err
				}
				got = append(got, onlyRows(b, req.Columns)...)
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: columns %v: %d rows, want %d; first %q vs %q", step, req.Columns, len(got), len(want), first(got), first(want))
			}
		}
	}
	ls.run()
}

// onlyRows renders the named columns of each row (absent: "-").
func onlyRows(b *columnar.Batch, names []string) []string {
	out := make([]string, b.Len())
	for i := range out {
		var sb strings.Builder
		for _, n := range names {
			c := b.Col(n)
			switch {
			case c == nil:
				sb.WriteString("- ")
			case c.IsNull(i):
				sb.WriteString("NULL ")
			default:
				fmt.Fprint(&sb, c.Value(i), " ")
			}
		}
		out[i] = sb.String()
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
