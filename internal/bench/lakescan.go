package bench

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// targetLakeScanRatio: the same query over Parquet must be at least 10×
// faster than over JSON Lines (issue 5).
var targetLakeScanRatio = atLeast(10)

// lakeScanQueries are the queries both formats answer, each named for
// the results. "group" is an Athena-style aggregate per device (10k
// groups: the engine's GROUP BY costs the same for both formats, so it
// bounds the ratio); "filter" is a filter and aggregates over three of the
// event's columns, the typical dashboard question a columnar format is for.
var lakeScanQueries = []struct{ name, sql string }{
	{"group", `SELECT deviceid, count(*), avg(temperature_measure) FROM lake.events GROUP BY deviceid`},
	{"filter", `SELECT count(*), avg(temperature_measure), max(watt_measure) FROM lake.events WHERE humidity_measure > 45`},
}

// lakeScan measures lake table scans: the same query through the SQL
// engine over the lakes the delivery phase wrote, one per format (dirs maps
// "jsonl", "jsonl_gzip", "parquet" to lake roots holding events/…). The
// table's columns are inferred from the JSON Lines files, as the Glue
// crawler would, and the Parquet table uses the same columns. It reports
// rows/s and MB/s (bytes on disk) per format and the Parquet/JSON Lines
// speed ratio. Each query runs reps times; the fastest run counts.
func lakeScan(r *run, dirs map[string]string, reps int) error {
	jsonDir, ok := dirs["jsonl"]
	if !ok {
		return fmt.Errorf("lake scan: no JSON Lines lake to read (run the delivery phase)")
	}
	if reps < 1 {
		reps = 3
	}
	ctx := r.ctx
	def, err := lake.Infer(ctx, lake.InferOptions{Location: filepath.Join(jsonDir, "events"), Database: "lake", Table: "events"})
	if err != nil {
		return fmt.Errorf("lake scan: infer: %w", err)
	}
	db, err := tsdb.Open(filepath.Join(r.dir, "lakescan-tsdb"), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	secs := map[string]float64{}
	for _, f := range []struct {
		name   string
		format lake.TableFormat
	}{{"jsonl", lake.TableJSON}, {"jsonl_gzip", lake.TableJSON}, {"parquet", lake.TableParquet}} {
		dir, ok := dirs[f.name]
		if !ok {
			continue
		}
		cat, err := lake.OpenCatalog(lake.CatalogOptions{})
		if err != nil {
			return err
		}
		d := def
		d.Format, d.Location = f.format, filepath.Join(dir, "events")
		if f.format == lake.TableParquet {
			d.SerDe = lake.SerDeParquetHive
		}
		if err := cat.CreateTable(ctx, d, false, true); err != nil {
			return err
		}
		eng := sluicesql.New(db, sluicesql.Options{Lake: cat, Timeout: 10 * time.Minute})
		files, size, err := lakeFilesSize(d.Location)
		if err != nil {
			return err
		}
		for _, q := range lakeScanQueries {
			best := time.Duration(1<<63 - 1)
			var rows int64
			stop := r.progress.start("query "+q.name+" over the "+f.name+" lake", func(el time.Duration) string { return el.Round(time.Second).String() })
			for range reps {
				before := cat.Stats().Rows
				start := time.Now()
				res, err := eng.Query(ctx, q.sql, nil)
				el := time.Since(start)
				if err != nil {
					stop()
					return fmt.Errorf("lake scan %s, query %s: %w", f.name, q.name, err)
				}
				if res.Rows.Len() == 0 {
					stop()
					return fmt.Errorf("lake scan %s, query %s: no rows", f.name, q.name)
				}
				rows = cat.Stats().Rows - before
				best = min(best, el)
			}
			stop()
			s := best.Seconds()
			secs[f.name+"/"+q.name] = s
			r.logf("  %s, query %s: %d rows from %d files (%.1f MB) in %v", f.name, q.name, rows, files, float64(size)/1e6, best.Round(time.Millisecond))
			r.add("scan_"+q.name+"_"+f.name+"_rows_per_s", float64(rows)/s, "rows/s", nil)
			r.add("scan_"+q.name+"_"+f.name+"_mb_per_s", float64(size)/1e6/s, "MB/s", nil)
		}
	}
	for _, q := range lakeScanQueries {
		if j, p := secs["jsonl/"+q.name], secs["parquet/"+q.name]; j > 0 && p > 0 {
			r.add("scan_"+q.name+"_parquet_speedup_over_jsonl", j/p, "x", targetLakeScanRatio)
		}
	}
	return nil
}

// lakeFilesSize counts the files under dir and their bytes.
func lakeFilesSize(dir string) (files int, size int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return nil
	})
	return files, size, err
}
