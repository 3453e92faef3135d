package tsdb_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// BenchmarkMinuteAggregates: one op is the per-minute partial aggregates
// of one measure of every device over one hour of compacted parts, the
// lower bound inside a minute (as ago(1h) is), so that each series' edge
// minute is read from rows; the bound moves every op by one second. With
// cache=off every op decodes those rows' pages, as the first run of a
// dashboard's query does; with cache=on they come from the page cache
// after the first op.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkMinuteAggregates$' -count 5
func BenchmarkMinuteAggregates(b *testing.B) {
	const devices, ticks = 250, 3600
	for _, cache := range []string{"off", "on"} {
		b.Run("cache="+cache, func(b *testing.B) {
			opts := tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30, PageCacheBytes: -1}
			if cache == "on" {
				opts.PageCacheBytes = 0
			}
			db := openBenchDB(b, opts)
			// Start a few seconds after a minute, so that the data's first
			// minute is whole and the bounds below cut it.
			start := time.Now().Add(-48 * time.Hour).Truncate(time.Hour).Add(5 * time.Second)
			f := newBenchFleet(devices, start)
			fillBenchDB(b, db, f, devices, ticks, true)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				lo := f.start + int64(10+i%40)*1e9 + 1
				req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: lo, MaxTime: math.MaxInt64,
					MeasureNames: []string{"temperature"}, Columns: []string{}}
				rows := 0
				if err := db.MinuteAggregates(context.Background(), req, benchCol, func(bt *columnar.Batch) error {
					rows += bt.Len()
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if rows != devices*61 { // 60 minutes from the cut one, plus 5 s in the next hour
					b.Fatalf("%d rows, want %d", rows, devices*61)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/devices, "ns/series")
		})
	}
}

var _ = fmt.Sprint
