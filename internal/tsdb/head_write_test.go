package tsdb

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// sharedDimsRecords makes a batch shaped like the pipeline's: events of
// one to four records sharing one Dimensions slice, interleaved with
// records of their own slice, copies of a device's dimensions in another
// slice (sorted or not), invalid records inside a run, and times that
// repeat, come late or fall in other partitions, so that runs of one
// slice meet conflicts, upserts and cold lookups.
func sharedDimsRecords(rng *rand.Rand, base int64, slicesByDev [][]Dimension, n int) []Record {
	measures := []string{"temp", "hum", "volt", "watt"}
	var recs []Record
	for len(recs) < n {
		dev := rng.Intn(len(slicesByDev))
		var dims []Dimension
		switch rng.Intn(5) {
		case 0: // the same dimensions in another slice
			dims = slices.Clone(slicesByDev[dev])
		case 1: // ... unsorted
			dims = slices.Clone(slicesByDev[dev])
			slices.Reverse(dims)
		default: // the device's own slice, as package event shares it
			dims = slicesByDev[dev]
		}
		tm := base + int64(rng.Intn(6))*int64(30*time.Minute) + int64(rng.Intn(3))*int64(time.Second)
		for _, k := range rng.Perm(len(measures))[:1+rng.Intn(len(measures))] {
			r := Record{Dimensions: dims, MeasureName: measures[k], Time: tm, Version: int64(rng.Intn(3)),
				Value: Double(float64(rng.Intn(3)) + 0.5)}
			switch rng.Intn(12) {
			case 0:
				r.MeasureName = "" // rejected inside the run
			case 1:
				r.Value = Double(math.NaN()) // an invalid value inside the run
			case 2:
				r.Dimensions = []Dimension{{"device", fmt.Sprint("d", rng.Intn(len(slicesByDev)))}} // a slice of its own
			case 3:
				r.MeasureName, r.Multi = "env", []MeasureValue{{"hum", Double(float64(rng.Intn(2)))}} // no fast path
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// TestWriteSharedDimsModel: batches whose records share Dimensions slices
// in runs (the write path looks a run's dimension set up once) are stored
// and rejected as the model says, before and after flushes (cold
// lookups), compactions and restarts.
func TestWriteSharedDimsModel(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			dir := t.TempDir()
			now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			base := now.Add(-3 * time.Hour).UnixNano()
			opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return now }, PageCacheBytes: -1}
			ctx := context.Background()
			db, err := Open(dir, opts, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { db.Close() }()
			if err := db.EnsureTable(ctx, "iot", "telemetry", TableOptions{}); err != nil {
				t.Fatal(err)
			}
			var devs [][]Dimension
			for d := range 5 {
				// The names batchRows knows as dimensions.
				devs = append(devs, []Dimension{{"device", fmt.Sprint("d", d)}, {"site", fmt.Sprint("s", d%2)}})
			}
			m := &model{points: map[modelKey]modelPoint{}}
			for step := range 50 {
				switch op := rng.Intn(10); {
				case op < 7:
					recs := sharedDimsRecords(rng, base, devs, 1+rng.Intn(80))
					gotRej, err := db.Write(ctx, "iot", "telemetry", recs)
					if err != nil {
						t.Fatalf("step %d: write: %v", step, err)
					}
					wantRej := modelWriteWithInvalid(m, recs)
					if len(gotRej) != len(wantRej) {
						t.Fatalf("step %d: %d rejects, model says %d: %+v vs %+v", step, len(gotRej), len(wantRej), gotRej, wantRej)
					}
					for i := range gotRej {
						if gotRej[i].Index != wantRej[i].Index || gotRej[i].ExistingVersion != wantRej[i].ExistingVersion {
							t.Fatalf("step %d: reject %d = %+v, model says %+v", step, i, gotRej[i], wantRej[i])
						}
					}
				case op == 7:
					if err := db.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				case op == 8:
					if err := db.Compact(ctx); err != nil {
						t.Fatal(err)
					}
				default:
					if err := db.Close(); err != nil {
						t.Fatal(err)
					}
					if db, err = Open(dir, opts, nil, nil); err != nil {
						t.Fatal(err)
					}
				}
				checkActFast(t, db, step)
				req := ScanRequest{Database: "iot", Table: "telemetry", MinTime: math.MinInt64, MaxTime: math.MaxInt64}
				if got, want := scanRows(t, db, req), m.rows(math.MinInt64, math.MaxInt64, nil, nil); !slices.Equal(got, want) {
					t.Fatalf("step %d: scan disagrees with the model\n got %d rows: %v\nwant %d rows: %v", step, len(got), got, len(want), want)
				}
			}
		})
	}
}

// checkActFast checks series.actFast against the memSeries it mirrors.
func checkActFast(t *testing.T, db *DB, step int) {
	t.Helper()
	tb, err := db.table("iot", "telemetry")
	if err != nil {
		t.Fatal(err)
	}
	tb.mu.RLock()
	defer tb.mu.RUnlock()
	for _, ss := range tb.byMeasure {
		for _, s := range ss {
			if s.act != nil && s.actGen == tb.active.gen && s.actFast != s.act.fast {
				t.Fatalf("step %d: series %s %v: actFast %v, act.fast %v", step, s.measure, s.dims, s.actFast, s.act.fast)
			}
		}
	}
}

// TestMemSeriesLayout: what an append of a fixed-size value reads and
// writes of a memSeries is in its first 128 bytes (see memSeries).
func TestMemSeriesLayout(t *testing.T) {
	var ms memSeries
	for _, f := range []struct {
		name     string
		off, len uintptr
	}{
		{"times", unsafe.Offsetof(ms.times), unsafe.Sizeof(ms.times)},
		{"versions", unsafe.Offsetof(ms.versions), unsafe.Sizeof(ms.versions)},
		{"col0.Bools", unsafe.Offsetof(ms.col0) + unsafe.Offsetof(ms.col0.Bools), unsafe.Sizeof(ms.col0.Bools)},
		{"col0.Ints", unsafe.Offsetof(ms.col0) + unsafe.Offsetof(ms.col0.Ints), unsafe.Sizeof(ms.col0.Ints)},
		{"col0.Floats", unsafe.Offsetof(ms.col0) + unsafe.Offsetof(ms.col0.Floats), unsafe.Sizeof(ms.col0.Floats)},
	} {
		if f.off+f.len > 128 {
			t.Errorf("memSeries.%s ends at byte %d, past the first 128", f.name, f.off+f.len)
		}
	}
	if got := unsafe.Sizeof(ms); got > 256 {
		t.Errorf("memSeries is %d bytes, want at most 256 (a size class)", got)
	}
}

// modelWriteWithInvalid is model.write for batches that may hold records
// with an empty measure name or a NaN value (rejected, ExistingVersion 0).
func modelWriteWithInvalid(m *model, recs []Record) []Reject {
	var rejects []Reject
	for i, r := range recs {
		if r.MeasureName == "" || math.IsNaN(r.Value.F) {
			rejects = append(rejects, Reject{Index: i})
			continue
		}
		for _, rj := range m.write([]Record{r}) {
			rj.Index = i
			rejects = append(rejects, rj)
		}
	}
	return rejects
}

// TestWriteColdRange: records inside the time range of the table's parts
// are decided against the parts, whatever else the batch holds, after a
// flush, a compaction and a restart (the range is cached per flushEpoch).
func TestWriteColdRange(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ts := now.Add(-time.Hour).UnixNano()
	ctx := context.Background()
	dir := t.TempDir()
	opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return now }}
	db, err := Open(dir, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	dims := []Dimension{{"DeviceID", "a"}}
	write := func(recs ...Record) []Reject {
		t.Helper()
		rej, err := db.Write(ctx, "iot", "tel", recs)
		if err != nil {
			t.Fatal(err)
		}
		return rej
	}
	write(Record{Dimensions: dims, MeasureName: "temp", Time: ts, Value: Double(1)},
		Record{Dimensions: dims, MeasureName: "temp", Time: ts + 10, Value: Double(2)})
	steps := []struct {
		name string
		do   func() error
	}{
		{"flush", func() error { return db.Flush(ctx) }},
		{"compact", func() error { return db.Compact(ctx) }},
		{"restart", func() error {
			if err := db.Close(); err != nil {
				return err
			}
			db, err = Open(dir, opts, nil, nil)
			return err
		}},
	}
	for k, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		newT := ts + int64(k+1)*int64(time.Minute) // after the parts: no cold lookup
		rej := write(
			Record{Dimensions: dims, MeasureName: "temp", Time: newT, Value: Double(3)},
			Record{Dimensions: dims, MeasureName: "temp", Time: ts + 10, Value: Double(9)},                      // conflicts with a part's point
			Record{Dimensions: dims, MeasureName: "temp", Time: ts, Value: Double(1)},                           // the same: a no-op
			Record{Dimensions: dims, MeasureName: "temp", Time: ts + 5, Value: Double(4)},                       // inside the range, no point there
			Record{Dimensions: []Dimension{{"DeviceID", "b"}}, MeasureName: "temp", Time: ts, Value: Double(5)}, // a new series at a cold time
		)
		if len(rej) != 1 || rej[0].Index != 1 || rej[0].ExistingVersion != 1 || !strings.HasPrefix(rej[0].Reason, "A record already exists") {
			t.Fatalf("after %s: rejects %+v, want record 1's version conflict", st.name, rej)
		}
		// A batch wholly after the parts takes the path without cold
		// bounds; a conflict with the head is still one.
		if rej := write(Record{Dimensions: dims, MeasureName: "temp", Time: newT, Value: Double(7)}); len(rej) != 1 || rej[0].ExistingVersion != 1 {
			t.Fatalf("after %s: rewrite of a head point: rejects %+v, want one conflict", st.name, rej)
		}
		// The point at ts+5 is in the head now, the others in parts.
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if rej := write(Record{Dimensions: dims, MeasureName: "temp", Time: ts + 5, Value: Double(8)}); len(rej) != 1 || rej[0].ExistingVersion != 1 {
			t.Fatalf("after %s and a flush: rewrite of a flushed point: rejects %+v, want one conflict", st.name, rej)
		}
	}
	rows := scanAll(t, db)
	for _, want := range []string{fmt.Sprintf("%d temp DeviceID=a 2", ts+10), fmt.Sprintf("%d temp DeviceID=a 4", ts+5), fmt.Sprintf("%d temp DeviceID=b 5", ts)} {
		if !contains(rows, want) {
			t.Errorf("rows lack %q:\n%s", want, strings.Join(rows, "\n"))
		}
	}
	if len(rows) != 2+3+1+1 { // the first two, one new point per step, ts+5, device b
		t.Errorf("%d rows, want 7:\n%s", len(rows), strings.Join(rows, "\n"))
	}
}

// BenchmarkDimsHash: one op hashes the pipeline's three dimensions.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkDimsHash$' -count 5
func BenchmarkDimsHash(b *testing.B) {
	seed := newTable(&TableInfo{}).seed
	dims := []Dimension{{"DeviceID", "3f2a9c1e-0000-4000-8000-00000000002a"}, {"model", "v3"}, {"region", "v4"}}
	b.ReportAllocs()
	var x uint64
	for range b.N {
		x += dimsHash(seed, dims)
	}
	_ = x
}

// TestDimsHashMemo: dimsHashMemo gives dimsHash's answer whether the
// names are the memo's strings, other strings with the same bytes, or
// substrings of one another, and after the memo has wrapped around.
func TestDimsHashMemo(t *testing.T) {
	seed := newTable(&TableInfo{}).seed
	rng := rand.New(rand.NewSource(1))
	long := "DeviceIDmodelregion"
	names := []string{"DeviceID", "model", "region", long[:8], long[8:13], long[:5], "", strings.Clone("model")}
	for i := range 20 {
		names = append(names, fmt.Sprint("dim", i))
	}
	var m stringMemo
	for range 2000 {
		dims := make([]Dimension, rng.Intn(4))
		for k := range dims {
			dims[k] = Dimension{names[rng.Intn(len(names))], fmt.Sprint("v", rng.Intn(3))}
		}
		if got, want := dimsHashMemo(seed, dims, &m), dimsHash(seed, dims); got != want {
			t.Fatalf("dimsHashMemo(%v) = %x, dimsHash = %x", dims, got, want)
		}
	}
}

// TestWriteMeasureNameMemo: measure names are checked once per string a
// batch repeats, and invalid ones among valid ones are each rejected.
func TestWriteMeasureNameMemo(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ts := now.Add(-time.Minute).UnixNano()
	ctx := context.Background()
	db, err := Open(t.TempDir(), Options{MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		t.Fatal(err)
	}
	dims := []Dimension{{"DeviceID", "a"}}
	names := []string{"temp", "time", "temp", "", "ts_x", strings.Repeat("m", maxMeasureLen+1), "measure_value", "temp"[:2], "temp"}
	var recs []Record
	for i, n := range names {
		for range 2 { // each name twice: the second from the memo
			recs = append(recs, Record{Dimensions: dims, MeasureName: n, Time: ts + int64(i), Value: Double(1)})
		}
	}
	rej, err := db.Write(ctx, "iot", "tel", recs)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range rej {
		got = append(got, r.Index)
	}
	want := []int{2, 3, 6, 7, 8, 9, 10, 11, 12, 13}
	if !slices.Equal(got, want) {
		t.Fatalf("rejected %v, want %v: %+v", got, want, rej)
	}
}
