package tsdb_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// BenchmarkLiveQueries times two of the dashboard's queries on a live
// store loaded as `sluice bench query` loads it: 1,000 devices × 4
// measures × one hour, written in six 10-minute slices with a flush after
// each but the last (parts not compacted, the last slice in the hot tier).
// The hour starts 25 minutes into an hour, so it spans two partitions.
// query=series-hour is Q1 (one series over the last hour, a different
// device each op); query=counts-per-device is Q5's store side (SeriesCounts
// of every series, projecting DeviceID); query=fleet-minutely is Q3's
// (MinuteAggregates of one measure of every device). cpu-ns/op is the process's CPU
// time per op, the steadier figure on a shared machine. state=compacted
// runs the same after a flush and Compact.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkLiveQueries$' -count 5
func BenchmarkLiveQueries(b *testing.B) {
	const devices, ticks, slices = 1000, 3600, 6
	ctx := context.Background()
	db := openBenchDB(b, tsdb.Options{NoSync: true})
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).Add(25 * time.Minute)
	f := newBenchFleet(devices, start)
	recs := make([]tsdb.Record, 0, 10_000+4*devices)
	for s := range slices {
		for k := ticks * s / slices; k < ticks*(s+1)/slices; k++ {
			recs = f.appendTick(recs, k, 0, devices)
			if len(recs) >= 10_000 {
				benchWrite(b, db, recs)
				recs = recs[:0]
			}
		}
		if len(recs) > 0 {
			benchWrite(b, db, recs)
			recs = recs[:0]
		}
		if s < slices-1 {
			if err := db.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	end := f.start + int64(ticks)*1e9
	seriesHour := func(b *testing.B) {
		b.ReportAllocs()
		rows := 0
		cpu := cpuClock()
		for i := 0; b.Loop(); i++ {
			req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: end - int64(time.Hour), MaxTime: math.MaxInt64,
				MeasureNames: []string{"temperature"}, Dims: []tsdb.DimFilter{{Name: "DeviceID", Values: []string{f.ids[i%devices]}}},
				Columns: []string{benchCol}}
			rows = 0
			if err := db.Scan(ctx, req, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(cpu()/float64(b.N), "cpu-ns/op")
		if rows < ticks-1 || rows > ticks {
			b.Fatalf("%d rows, want %d", rows, ticks)
		}
	}
	countsPerDevice := func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuClock()
		for b.Loop() {
			req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
				Columns: []string{"DeviceID"}}
			series, points := 0, int64(0)
			if err := db.SeriesCounts(ctx, req, func(bt *columnar.Batch) error {
				series += bt.Len()
				for _, n := range bt.Col(tsdb.CountColumn).Ints {
					points += n
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			if series != devices*4 || points != devices*4*ticks {
				b.Fatalf("%d series, %d points; want %d, %d", series, points, devices*4, devices*4*ticks)
			}
		}
		b.ReportMetric(cpu()/float64(b.N), "cpu-ns/op")
	}
	fleetMinutely := func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuClock()
		for b.Loop() {
			req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: end - int64(time.Hour), MaxTime: math.MaxInt64,
				MeasureNames: []string{"temperature"}, Columns: []string{}}
			rows := 0
			if err := db.MinuteAggregates(ctx, req, benchCol, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
				b.Fatal(err)
			}
			if rows < devices*60 {
				b.Fatalf("%d rows, want at least %d", rows, devices*60)
			}
		}
		b.ReportMetric(cpu()/float64(b.N), "cpu-ns/op")
	}
	b.Run("state=live/query=series-hour", seriesHour)
	b.Run("state=live/query=counts-per-device", countsPerDevice)
	b.Run("state=live/query=fleet-minutely", fleetMinutely)
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := db.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("state=compacted/query=series-hour", seriesHour)
	b.Run("state=compacted/query=counts-per-device", countsPerDevice)
	b.Run("state=compacted/query=fleet-minutely", fleetMinutely)
}

// cpuClock returns a function giving the process CPU time (ns) since the
// call.
func cpuClock() func() float64 {
	t0 := cputime.Now()
	return func() float64 { return float64(cputime.Now() - t0) }
}
