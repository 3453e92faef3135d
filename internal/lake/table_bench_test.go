package lake

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// benchLake writes n seed-shaped events as JSON Lines (files of 50k lines)
// and as Parquet (files of 50k rows, row groups of 10k).
func benchLake(b *testing.B, n int) (jsonDir, pqDir string) {
	b.Helper()
	root := filepath.Join(b.TempDir(), fmt.Sprintf("lake-%d", n))
	jsonDir, pqDir = filepath.Join(root, "jsonl"), filepath.Join(root, "parquet")
	const perFile = 50_000
	for f := 0; f*perFile < n; f++ {
		var sb strings.Builder
		var rows []pqRow
		for i := f * perFile; i < min(n, (f+1)*perFile); i++ {
			dev := fmt.Sprintf("%08d-9012-3456-7890-123456789012", i%10000)
			temp := 20 + float64(i%100)/10
			fmt.Fprintf(&sb, `{"Time":%d.499,"DeviceID":"%s","temperature_measure":%.1f,"humidity_measure":33.4,"voltage_measure":230.1,"watt_measure":777.8}`+"\n",
				1_700_000_000_000+int64(i), dev, temp)
			rows = append(rows, pqRow{DeviceID: dev, Time: 1_700_000_000_000 + int64(i), Temp: &temp, N: int32(i)})
		}
		writeFile(b, filepath.Join(jsonDir, fmt.Sprintf("hour=%02d", f), "part.jsonl"), sb.String())
		writeParquetFile(b, filepath.Join(pqDir, fmt.Sprintf("hour=%02d", f), "part.parquet"), rows, 10_000)
	}
	return
}

// BenchmarkScan scans two columns of the same events from JSON Lines and
// Parquet (set LAKE_BENCH_DIR_JSON / LAKE_BENCH_DIR_PARQUET to scan other
// lakes, e.g. ones sluice bench lake delivered).
//
//	go test ./internal/lake -run '^$' -bench BenchmarkScan -benchmem
func BenchmarkScan(b *testing.B) {
	jsonDir, pqDir := os.Getenv("LAKE_BENCH_DIR_JSON"), os.Getenv("LAKE_BENCH_DIR_PARQUET")
	if jsonDir == "" || pqDir == "" {
		j, p := benchLake(b, 200_000)
		jsonDir, pqDir = cmp.Or(jsonDir, j), cmp.Or(pqDir, p)
	}
	cols := []TableColumn{{"time", "double"}, {"deviceid", "string"}, {"temperature_measure", "double"}, {"humidity_measure", "double"}}
	for _, c := range []struct {
		name   string
		format TableFormat
		dir    string
	}{{"format=jsonl", TableJSON, jsonDir}, {"format=parquet", TableParquet, pqDir}} {
		b.Run(c.name, func(b *testing.B) {
			tbl, err := OpenTable(TableDef{Database: "d", Name: "t", Format: c.format, Location: c.dir, Columns: cols}, TableOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var rows int
			for b.Loop() {
				rows = 0
				err := tbl.Scan(context.Background(), plan.ScanRequest{Columns: []string{"deviceid", "temperature_measure"}}, func(bt *columnar.Batch) error {
					rows += bt.Len()
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			st := tbl.Stats()
			b.ReportMetric(float64(st.Bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}
