package tsdb

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// TestSeriesHashChain: series whose hashes collide are told apart by their
// identity (the write path finds series by hash, not by key).
func TestSeriesHashChain(t *testing.T) {
	tb := newTable(&TableInfo{})
	const h = 42 // every series below gets the same hash
	ids := []struct {
		measure string
		dims    []Dimension
	}{
		{"temp", []Dimension{{"d", "1"}}},
		{"temp", []Dimension{{"d", "2"}}},
		{"hum", []Dimension{{"d", "1"}}},
		{"temp", []Dimension{{"d", "1"}, {"e", "1"}}},
		{"temp", nil},
	}
	made := map[*series]bool{}
	for _, id := range ids {
		if s := tb.lookupSeries(h, id.measure, id.dims); s != nil {
			t.Fatalf("%s %v found before it was created", id.measure, id.dims)
		}
		made[tb.createSeries(h, id.measure, id.dims)] = true
	}
	if len(made) != len(ids) || tb.nseries != len(ids) {
		t.Fatalf("%d distinct series (nseries %d) for %d identities", len(made), tb.nseries, len(ids))
	}
	for _, id := range ids {
		s := tb.lookupSeries(h, id.measure, id.dims)
		if s == nil || s.measure != id.measure || !sameDims(s.dims, id.dims) {
			t.Errorf("lookup %s %v = %+v", id.measure, id.dims, s)
		}
	}
	if s := tb.lookupSeries(h, "temp", []Dimension{{"d", "3"}}); s != nil {
		t.Errorf("unknown identity found: %+v", s)
	}
	// A dimension set with many measures finds them through a map.
	many := []Dimension{{"d", "many"}}
	hm := dimsHash(tb.seed, many)
	var list []*series
	for i := range 2 * manyMeasures {
		list = append(list, tb.createSeries(hm, fmt.Sprint("m", i), many))
	}
	for i, want := range list {
		if got := tb.lookupSeries(hm, fmt.Sprint("m", i), many); got != want {
			t.Errorf("measure m%d of %d: got %p, want %p", i, len(list), got, want)
		}
	}
	if got := tb.lookupSeries(hm, "m", many); got != nil {
		t.Errorf("unknown measure found")
	}
	// getOrCreateSeries (replay, parts) and the hash path agree.
	n := tb.nseries
	s := tb.getOrCreateSeries("volt", []Dimension{{"d", "1"}})
	if tb.nseries != n+1 {
		t.Errorf("nseries %d after creating one series, want %d", tb.nseries, n+1)
	}
	if got := tb.lookupSeries(dimsHash(tb.seed, []Dimension{{"d", "1"}}), "volt", []Dimension{{"d", "1"}}); got != s {
		t.Errorf("getOrCreateSeries series not found by hash")
	}
}

// TestWriteDimensionSharing: records that share one Dimensions slice (as
// package event makes them), unsorted dimensions and invalid ones are
// checked and identified exactly as if each record had its own slice.
func TestWriteDimensionSharing(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ts := now.Add(-time.Minute).UnixNano()
	ctx := context.Background()
	shared := []Dimension{{"DeviceID", "a"}, {"site", "s1"}}
	unsorted := []Dimension{{"site", "s1"}, {"DeviceID", "a"}} // same series as shared
	dup := []Dimension{{"d", "x"}, {"d", "y"}}
	reserved := []Dimension{{"time", "x"}}
	tests := []struct {
		name    string
		recs    []Record
		rejects []string // reason prefixes by record, "" = stored
		rows    int      // rows stored in the table afterwards
	}{
		{
			name: "one slice, four measures",
			recs: []Record{
				{Dimensions: shared, MeasureName: "temp", Time: ts, Value: Double(1)},
				{Dimensions: shared, MeasureName: "hum", Time: ts, Value: Double(2)},
				{Dimensions: shared, MeasureName: "volt", Time: ts, Value: Double(3)},
				{Dimensions: shared, MeasureName: "watt", Time: ts, Value: Double(4)},
			},
			rejects: []string{"", "", "", ""},
			rows:    4,
		},
		{
			name: "unsorted copy of the same series conflicts",
			recs: []Record{
				{Dimensions: unsorted, MeasureName: "temp", Time: ts, Value: Double(1)},     // same value: no-op
				{Dimensions: unsorted, MeasureName: "hum", Time: ts, Value: Double(9)},      // conflict
				{Dimensions: unsorted, MeasureName: "volt", Time: ts + 1, Value: Double(3)}, // new point
			},
			rejects: []string{"", "A record already exists", ""},
			rows:    5,
		},
		{
			name: "in-batch conflict through two slices",
			recs: []Record{
				{Dimensions: []Dimension{{"DeviceID", "b"}}, MeasureName: "temp", Time: ts, Value: Double(1)},
				{Dimensions: []Dimension{{"DeviceID", "b"}}, MeasureName: "temp", Time: ts, Value: Double(2)},
				{Dimensions: []Dimension{{"DeviceID", "b"}}, MeasureName: "temp", Time: ts, Version: 2, Value: Double(3)},
			},
			rejects: []string{"", "A record already exists", ""},
			rows:    6,
		},
		{
			name: "invalid shared dimensions reject every record using them",
			recs: []Record{
				{Dimensions: dup, MeasureName: "temp", Time: ts, Value: Double(1)},
				{Dimensions: dup, MeasureName: "hum", Time: ts, Value: Double(1)},
				{Dimensions: shared, MeasureName: "temp", Time: ts + 2, Value: Double(1)},
				{Dimensions: reserved, MeasureName: "temp", Time: ts, Value: Double(1)},
				{Dimensions: reserved, MeasureName: "", Time: ts, Value: Double(1)},
				{Dimensions: reserved, MeasureName: "temp", Time: ts, Value: Double(1)},
			},
			rejects: []string{`dimension "d" appears more than once`, `dimension "d" appears more than once`, "",
				`dimension name "time" is reserved`, "MeasureName is empty", `dimension name "time" is reserved`},
			rows: 7,
		},
		{
			name: "multi-measure records share the arena",
			recs: []Record{
				{Dimensions: shared, MeasureName: "env", Time: ts, Multi: []MeasureValue{{"b", Double(1)}, {"a", Bigint(2)}}},
				{Dimensions: shared, MeasureName: "env", Time: ts + 1, Multi: []MeasureValue{{"a", Bigint(3)}}},
				{Dimensions: shared, MeasureName: "env", Time: ts, Multi: []MeasureValue{{"a", Bigint(2)}, {"b", Double(1)}}}, // same: no-op
				{Dimensions: shared, MeasureName: "env", Time: ts, Multi: []MeasureValue{{"a", Bigint(2)}, {"a", Bigint(2)}}},
			},
			rejects: []string{"", "", "", `measure value "a" appears more than once`},
			rows:    9,
		},
	}
	db, err := Open(t.TempDir(), Options{MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rej, err := db.Write(ctx, "iot", "tel", tc.recs)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]string, len(tc.recs))
			for _, r := range rej {
				got[r.Index] = r.Reason
			}
			for i, want := range tc.rejects {
				if (want == "") != (got[i] == "") || !strings.HasPrefix(got[i], want) {
					t.Errorf("record %d: reject %q, want %q", i, got[i], want)
				}
			}
			if rows := scanAll(t, db); len(rows) != tc.rows {
				t.Errorf("%d rows stored, want %d:\n%s", len(rows), tc.rows, strings.Join(rows, "\n"))
			}
		})
	}
	rows := scanAll(t, db)
	want := fmt.Sprintf("%d temp DeviceID=b 3", ts) // version 2 replaced the value
	if !contains(rows, want) {
		t.Errorf("rows lack %q:\n%s", want, strings.Join(rows, "\n"))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scanAll renders every row of iot.tel as "time measure dims values".
func scanAll(t *testing.T, db *DB) []string {
	t.Helper()
	var out []string
	err := db.Scan(context.Background(), ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64}, func(b *columnar.Batch) error {
		for i := 0; i < b.Len(); i++ {
			var dims, vals []string
			for j, name := range b.Names {
				c := b.Cols[j]
				switch {
				case name == "time" || name == "measure_name" || c.IsNull(i):
				case c.Type == columnar.String && !strings.HasPrefix(name, "measure_value"):
					dims = append(dims, name+"="+c.Strs[i])
				default:
					vals = append(vals, fmt.Sprint(valueAt(c, i)))
				}
			}
			sort.Strings(dims)
			out = append(out, fmt.Sprintf("%d %s %s %s", b.Col("time").Ints[i], b.Col("measure_name").Strs[i],
				strings.Join(dims, ","), strings.Join(vals, ",")))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConcurrentWritesAndFlushes: writers on overlapping series while
// flushes move the hot tier to parts; every point written is there once,
// with its value, and redelivered batches are no-ops.
func TestConcurrentWritesAndFlushes(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := now.Add(-time.Hour).UnixNano()
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	const writers, batches, devices = 4, 30, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dims := make([][]Dimension, devices)
			for d := range dims {
				dims[d] = []Dimension{{"DeviceID", fmt.Sprint("dev", d)}}
			}
			for k := range batches {
				var recs []Record
				for d := range devices {
					// Writer w owns times ≡ w (mod writers) of every device.
					tm := base + int64(k*writers+w)*int64(time.Second)
					for _, m := range []string{"temp", "hum"} {
						recs = append(recs, Record{Dimensions: dims[d], MeasureName: m, Time: tm, Value: Double(float64(d*1000 + k))})
					}
				}
				for range 2 { // the second time is a redelivery
					rej, err := db.Write(ctx, "iot", "tel", recs)
					if err != nil || len(rej) > 0 {
						errs <- fmt.Errorf("writer %d batch %d: %v, rejects %v", w, k, err, rej)
						return
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
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
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rows := scanAll(t, db)
	if want := writers * batches * devices * 2; len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r] {
			t.Fatalf("row twice: %s", r)
		}
		seen[r] = true
	}
}

// TestHeadLayout pins the sizes the write path's cache-line layout relies
// on (see series and memSeries).
func TestHeadLayout(t *testing.T) {
	if got := unsafe.Sizeof(series{}); got > 256 {
		t.Errorf("series is %d bytes, want at most 256", got)
	}
	if got := unsafe.Offsetof(series{}.measure); got != 128 {
		t.Errorf("series.measure at %d, want 128 (the second pair of lines)", got)
	}
	// Memory per series (≤ 1 KiB) counts on these size classes.
	if got := unsafe.Sizeof(series{}); got > 192 {
		t.Errorf("series is %d bytes, want at most 192 (a size class)", got)
	}
	if got := unsafe.Sizeof(memSeries{}); got > 256 {
		t.Errorf("memSeries is %d bytes, want at most 256 (a size class)", got)
	}
}

// TestWriteWhileFlushing: with a flushing memtable set aside (and set
// aside again and again, as after failed flushes, more times than
// memtable generations have values), writes decide against the points
// there: repeats are no-ops, conflicts are rejected, higher versions win,
// and new points take the append fast path without losing any.
func TestWriteWhileFlushing(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := now.Add(-time.Hour).UnixNano()
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	tb, err := db.table("iot", "tel")
	if err != nil {
		t.Fatal(err)
	}
	dims := []Dimension{{"DeviceID", "d"}}
	rec := func(sec int, v float64, version int64) Record {
		return Record{Dimensions: dims, MeasureName: "temp", Time: base + int64(sec)*1e9, Value: Double(v), Version: version}
	}
	write := func(want int, recs ...Record) {
		t.Helper()
		rej, err := db.Write(ctx, "iot", "tel", recs)
		if err != nil || len(rej) != want {
			t.Fatalf("write %+v: %v, rejects %+v, want %d", recs, err, rej, want)
		}
	}
	rotate := func() {
		tb.mu.Lock()
		tb.rotate()
		tb.mu.Unlock()
	}
	write(0, rec(0, 0, 1), rec(1, 1, 1), rec(2, 2, 1))
	rotate()
	write(0, rec(1, 1, 1))  // repeat of a flushing point
	write(1, rec(1, 9, 1))  // conflict with it
	write(0, rec(1, 10, 2)) // a higher version wins
	want := map[int]float64{0: 0, 1: 10, 2: 2}
	sec := 3
	for round := range 600 {
		// New points (the first creates the series' active memSeries,
		// the others append to it), then a repeat of an older one and a
		// conflict with one.
		for range 3 {
			write(0, rec(sec, float64(sec), 1))
			want[sec] = float64(sec)
			sec++
		}
		if round > 0 { // points of the previous round: in the flushing memtable
			write(0, rec(sec-5, float64(sec-5), 1))
			write(1, rec(sec-4, -1, 1))
		}
		if round%7 == 3 {
			write(0) // an empty write between rotations
		}
		rotate() // a flushing memtable is already set aside: as after a failed flush
	}
	rows := scanAll(t, db)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		var tm int64
		var m, d string
		var v float64
		if _, err := fmt.Sscanf(r, "%d %s %s %g", &tm, &m, &d, &v); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		if s := int((tm - base) / 1e9); want[s] != v {
			t.Errorf("second %d: %v, want %v", s, v, want[s])
		}
	}
}

// TestMemSeriesPut: random puts into one memSeries (new times, repeats,
// inserts, versions other than 1, a second value column, scans capturing
// the slices in between) agree with a map, never write into the shared
// all-ones versions array, keep ms.fast true to its definition and leave
// what a scan captured unchanged.
func TestMemSeriesPut(t *testing.T) {
	for seed := range int64(50) {
		rng := rand.New(rand.NewSource(seed))
		m := newMemtable()
		s := &series{id: uint64(seed + 1)}
		want := map[int64]point{}
		type capture struct {
			times, versions []int64
			vals            []float64
			copyT, copyV    []int64
			copyF           []float64
		}
		var caps []capture
		for range 300 {
			tm := int64(rng.Intn(200))
			if rng.Intn(2) == 0 {
				tm = int64(200 + len(want)) // appends after the newest
			}
			v := int64(1)
			if rng.Intn(10) == 0 {
				v = int64(1 + rng.Intn(3))
			}
			p := point{t: tm, v: v, fields: []fieldValue{{singleField(columnar.Float64), Double(float64(rng.Intn(100)))}}}
			if rng.Intn(40) == 0 {
				p.fields = []fieldValue{{"other", Bigint(1)}}
			}
			ms := m.put(s, p)
			want[tm] = p
			if rng.Intn(8) == 0 {
				// What a scan does: capture the slices, mark shared.
				ms.shared.Store(true)
				c := capture{times: ms.times[:len(ms.times):len(ms.times)], versions: ms.versions[:len(ms.versions):len(ms.versions)]}
				c.copyT, c.copyV = slices.Clone(c.times), slices.Clone(c.versions)
				if ms.fields[0].col.Type == columnar.Float64 {
					c.vals = ms.fields[0].col.Floats[:len(ms.times):len(ms.times)]
					c.copyF = slices.Clone(c.vals)
				}
				caps = append(caps, c)
			}
			wantFast := columnar.Unknown
			if len(ms.fields) == 1 && ms.fields[0] == &ms.fc0 && ms.col0.Nulls == nil && ms.fc0.name == singleField(ms.col0.Type) {
				wantFast = ms.col0.Type
			}
			if ms.fast != wantFast {
				t.Fatalf("seed %d: fast = %v, want %v", seed, ms.fast, wantFast)
			}
		}
		for i, one := range ones {
			if one != 1 {
				t.Fatalf("seed %d: ones[%d] = %d", seed, i, one)
			}
		}
		ms := m.series[s.id]
		if len(ms.times) != len(want) || len(ms.versions) != len(ms.times) {
			t.Fatalf("seed %d: %d times, %d versions, want %d", seed, len(ms.times), len(ms.versions), len(want))
		}
		for i, tm := range ms.times {
			if i > 0 && tm <= ms.times[i-1] {
				t.Fatalf("seed %d: times not sorted at %d", seed, i)
			}
			got := ms.pointAt(i)
			w := want[tm]
			if got.v != w.v || !sameValues(got.fields, w.fields) {
				t.Fatalf("seed %d: time %d: got %+v, want %+v", seed, tm, got, w)
			}
		}
		for _, c := range caps {
			if !slices.Equal(c.times, c.copyT) || !slices.Equal(c.versions, c.copyV) || !slices.Equal(c.vals, c.copyF) {
				t.Fatalf("seed %d: a captured slice changed", seed)
			}
		}
	}
}

// TestGrow: a series' first point costs room for a few, not minGrow
// (memory per series); a short full slice grows straight to minGrow;
// longer slices grow as append does.
func TestGrow(t *testing.T) {
	s := append(grow([]int64(nil)), 1)
	if cap(s) >= minGrow {
		t.Fatalf("first append: cap %d, want less than %d", cap(s), minGrow)
	}
	for len(s) < minGrow {
		s = append(grow(s), 1)
	}
	if cap(s) != minGrow {
		t.Fatalf("after %d appends cap %d, want %d", minGrow, cap(s), minGrow)
	}
	if got := append(grow(s), 0); cap(got) <= minGrow {
		t.Fatalf("a full slice of %d grew to cap %d", minGrow, cap(got))
	}
}
