package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// BenchmarkLakeScan runs the lake suite's scan queries over lakes a kept run
// of `sluice bench lake --keep --only delivery` delivered (LAKE_SCAN_DIR =
// that run's directory, holding lake-jsonl and lake-parquet). rows/cpu-s
// is the process's CPU time, steadier than rows/s on a shared machine.
//
//	LAKE_SCAN_DIR=/tmp/sluice-bench-lake-123 go test ./internal/bench -run '^$' -bench BenchmarkLakeScan
func BenchmarkLakeScan(b *testing.B) {
	root := os.Getenv("LAKE_SCAN_DIR")
	if root == "" {
		b.Skip("LAKE_SCAN_DIR is not set")
	}
	ctx := context.Background()
	def, err := lake.Infer(ctx, lake.InferOptions{Location: filepath.Join(root, "lake-jsonl", "events"), Database: "lake", Table: "events"})
	if err != nil {
		b.Fatal(err)
	}
	db, err := tsdb.Open(b.TempDir(), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, f := range []struct {
		name   string
		format lake.TableFormat
	}{{"jsonl", lake.TableJSON}, {"parquet", lake.TableParquet}} {
		for _, q := range lakeScanQueries {
			b.Run("query="+q.name+"/format="+f.name, func(b *testing.B) {
				cat, err := lake.OpenCatalog(lake.CatalogOptions{})
				if err != nil {
					b.Fatal(err)
				}
				d := def
				d.Format, d.Location = f.format, filepath.Join(root, "lake-"+f.name, "events")
				if f.format == lake.TableParquet {
					d.SerDe = lake.SerDeParquetHive
				}
				if err := cat.CreateTable(ctx, d, false, true); err != nil {
					b.Fatal(err)
				}
				eng := sluicesql.New(db, sluicesql.Options{Lake: cat, Timeout: 10 * time.Minute})
				b.ReportAllocs()
				before := cat.Stats().Rows
				cpu0, _ := cputime.Process()
				for b.Loop() {
					if _, err := eng.Query(ctx, q.sql, nil); err != nil {
						b.Fatal(err)
					}
				}
				cpu1, _ := cputime.Process()
				rows := float64(cat.Stats().Rows - before)
				b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(rows/(cpu1-cpu0).Seconds(), "rows/cpu-s")
			})
		}
	}
}
