package part_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// compatBatch is the content of testdata/v1.parquet, a part written by
// the format-1 writer (sluice before format 2: parquet-go's delta encoder,
// base64 footer keys, uncompressed series statistics) with PageRows 256,
// RowGroupRows 2048 and minutes.
func compatBatch() *columnar.Batch {
	b := &columnar.Batch{}
	tc := b.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add("version", columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	dc := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	xc := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	ic := b.Add("measure_value::bigint", columnar.NewColumn(columnar.Int64, 0))
	for mi, m := range []string{"humidity", "temperature", "watt"} {
		for d := range 5 {
			for s := range 300 {
				tc.AppendInt(1_767_225_600_000_000_000 + int64(d)*1_234_567 + int64(s)*1e9)
				vc.AppendInt(1)
				mc.AppendString(m)
				dc.AppendString(fmt.Sprintf("dev-%02d", d))
				if (s+d+mi)%17 == 0 {
					xc.AppendNull()
					ic.AppendNull()
					continue
				}
				xc.AppendFloat(float64((s*7+d*13+mi*5)%1000+mi*1000) / 100)
				ic.AppendInt(int64(s*s - d*1000))
			}
		}
	}
	return b
}

// TestReadsFormat1: parts written before format 2 read as they did:
// every row, the series statistics and the per-minute pre-aggregates.
func TestReadsFormat1(t *testing.T) {
	want := compatBatch()
	for _, cache := range []bool{false, true} {
		var opts []part.OpenOption
		if cache {
			opts = append(opts, part.WithPageCache(part.NewPageCache(1<<20)))
		}
		r, err := part.Open("testdata/v1.parquet", opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if m := r.Meta(); m.FormatVersion != 1 || m.Rows != int64(want.Len()) || m.Series != 15 {
			t.Fatalf("meta %+v", m)
		}
		checkScan(t, r, want, part.All())
		checkScan(t, r, want, part.Filter{MinTime: 1_767_225_600_000_000_000 + 100e9, MaxTime: math.MaxInt64, MeasureNames: []string{"temperature"},
			Dims: []part.DimFilter{{Name: "DeviceID", Values: []string{"dev-03"}}}, Columns: []string{"measure_value::double"}})
		series, err := r.Series()
		if err != nil || len(series) != 15 || series[7].Measure != "temperature" || series[7].Dims[0] != "dev-02" || series[7].Rows != 300 {
			t.Fatalf("series: %v, %+v", err, series[7])
		}
		mins, err := r.Minutes()
		if err != nil || mins == nil {
			t.Fatalf("minutes: %v, %v", mins, err)
		}
		var rows int64
		if err := r.Scan(context.Background(), part.All(), func(b *columnar.Batch) error { rows += int64(b.Len()); return nil }); err != nil || rows != 4500 {
			t.Fatalf("scan: %d rows, %v", rows, err)
		}
	}
}
