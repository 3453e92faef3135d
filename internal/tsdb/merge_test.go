package tsdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// BenchmarkScanMerged scans the partition being written, as a dashboard
// over the last hour does: half an hour of 200 series in a part, the
// next 20 minutes in the hot tier (source=parts+head); then the same
// after a second flush (source=two-parts) and after Compact (one-part,
// which needs no merge).
//
//	go test ./internal/tsdb -run '^$' -bench BenchmarkScanMerged -count 5
func BenchmarkScanMerged(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 59, 0, 0, time.UTC)
	db, err := Open(b.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		b.Fatal(err)
	}
	base := now.Truncate(time.Hour)
	const devices = 200
	write := func(from, to int) {
		recs := make([]Record, 0, 10000)
		for s := from; s < to; s++ {
			for d := 0; d < devices; d++ {
				recs = append(recs, Record{Dimensions: []Dimension{{Name: "DeviceID", Value: fmt.Sprintf("dev-%04d", d)}},
					MeasureName: "temp", Time: base.Add(time.Duration(s) * time.Second).UnixNano(), Value: Double(20 + float64(s%50)/10)})
			}
			if len(recs) >= 9000 || s == to-1 {
				if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
					b.Fatal(err, rej)
				}
				recs = recs[:0]
			}
		}
	}
	write(0, 1800)
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	write(1800, 3000)
	req := ScanRequest{Database: "iot", Table: "tel", MinTime: base.UnixNano(), MaxTime: now.UnixNano(),
		MeasureNames: []string{"temp"}, Columns: []string{"measure_value::double"}}
	run := func(b *testing.B) {
		b.ReportAllocs()
		rows := 0
		for b.Loop() {
			rows = 0
			if err := db.Scan(ctx, req, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
				b.Fatal(err)
			}
		}
		if rows != devices*3000 {
			b.Fatalf("%d rows, want %d", rows, devices*3000)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
	}
	b.Run("source=parts+head", run)
	if err := db.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("source=two-parts", run)
	if err := db.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("source=one-part", run)
}

// BenchmarkSeriesHourLive reads one series over an hour from a live
// store: 1,000 devices × 4 measures, flushed every 10 minutes (5 parts),
// the last 10 minutes in the hot tier. The dashboard's Q1.
//
//	go test ./internal/tsdb -run '^$' -bench BenchmarkSeriesHourLive -count 5
func BenchmarkSeriesHourLive(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 59, 59, 0, time.UTC)
	db, err := Open(b.TempDir(), Options{NoSync: true, MaintenanceInterval: -1, Now: func() time.Time { return now }}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		b.Fatal(err)
	}
	const devices = 1000
	start := now.Add(-time.Hour)
	measures := []string{"temperature", "humidity", "voltage", "watt"}
	recs := make([]Record, 0, 10000)
	for s := 0; s < 3600; s++ {
		for d := 0; d < devices; d++ {
			for m, name := range measures {
				recs = append(recs, Record{Dimensions: []Dimension{{Name: "DeviceID", Value: fmt.Sprintf("dev-%04d", d)}},
					MeasureName: name, Time: start.Add(time.Duration(s) * time.Second).UnixNano(), Value: Double(float64(20+m) + float64(s%50)/10)})
			}
		}
		if len(recs) >= 9000 || s == 3599 {
			if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
				b.Fatal(err, rej)
			}
			recs = recs[:0]
		}
		if s%600 == 599 && s < 3000 {
			if err := db.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	rows := 0
	for i := 0; b.Loop(); i++ {
		req := ScanRequest{Database: "iot", Table: "tel", MinTime: start.UnixNano(), MaxTime: now.UnixNano(),
			MeasureNames: []string{"temperature"}, Dims: []DimFilter{{Name: "DeviceID", Values: []string{fmt.Sprintf("dev-%04d", i%devices)}}},
			Columns: []string{"measure_value::double"}}
		rows = 0
		if err := db.Scan(ctx, req, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	if rows != 3600 {
		b.Fatalf("%d rows, want 3600", rows)
	}
}
