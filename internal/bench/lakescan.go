package bench

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// targetLakeScanRatio: the same query over Parquet must be at least 10×
// faster than over JSON Lines (issue 5).
var targetLakeScanRatio = atLeast(10)

// lakeScanQueries are the queries both formats answer, each named for
// the results. "group" is an Athena-style aggregate per device (10k
// groups: JSON Lines hashes every row's device id; Parquet groups by
// dictionary code: the scan numbers the strings of the files'
// dictionaries once per scan, a dictionary equal to or sorted like the
// previous one costing no hashing, the aggregate maps numbers to groups
// without hashing, and the device id column's rows are never turned into
// strings); "filter" is a filter and aggregates over three of the
// event's columns, the typical dashboard question a columnar format is
// for.
var lakeScanQueries = []struct{ name, sql string }{
	{"group", `SELECT deviceid, count(*), avg(temperature_measure) FROM lake.events GROUP BY deviceid`},
	{"filter", `SELECT count(*), avg(temperature_measure), max(watt_measure) FROM lake.events WHERE humidity_measure > 45`},
}

// lakeScan measures lake table scans: the same queries through the SQL
// engine over the lakes the delivery phase wrote, one per format (dirs maps
// "jsonl", "jsonl_gzip", "parquet" to lake roots holding events/…). The
// table's columns are inferred from the JSON Lines files, as the Glue
// crawler would, and the Parquet table uses the same columns. It reports
// rows/s and MB/s (bytes on disk) per format and query, and the
// Parquet/JSON Lines ratio of elapsed and of CPU time. Each query runs
// reps times per format, the formats taking turns so that other load on a
// shared machine falls on all of them alike; the fastest run counts (and,
// for CPU time, the cheapest: the process's CPU time, which other
// processes do not inflate).
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
	type lakeT struct {
		name        string
		cat         *lake.Catalog
		eng         *sluicesql.Engine
		files       int
		size        int64
		best, cpu   time.Duration
		rows        int64
		cpuMeasured bool
	}
	var lakes []*lakeT
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
		l := &lakeT{name: f.name, cat: cat, eng: sluicesql.New(db, sluicesql.Options{Lake: cat, Timeout: 10 * time.Minute})}
		if l.files, l.size, err = lakeFilesSize(d.Location); err != nil {
			return err
		}
		lakes = append(lakes, l)
	}
	for _, q := range lakeScanQueries {
		for _, l := range lakes {
			l.best, l.cpu, l.cpuMeasured = time.Duration(1<<63-1), time.Duration(1<<63-1), false
		}
		stop := r.progress.start("query "+q.name+" over each lake", func(el time.Duration) string { return el.Round(time.Second).String() })
		for range reps {
			for _, l := range lakes {
				before := l.cat.Stats().Rows
				cpu0, cpuOK := cputime.Process()
				start := time.Now()
				res, err := l.eng.Query(ctx, q.sql, nil)
				el := time.Since(start)
				cpu1, _ := cputime.Process()
				if err != nil {
					stop()
					return fmt.Errorf("lake scan %s, query %s: %w", l.name, q.name, err)
				}
				if res.Rows.Len() == 0 {
					stop()
					return fmt.Errorf("lake scan %s, query %s: no rows", l.name, q.name)
				}
				l.rows = l.cat.Stats().Rows - before
				l.best = min(l.best, el)
				if cpuOK && cpu1 > cpu0 {
					l.cpu, l.cpuMeasured = min(l.cpu, cpu1-cpu0), true
				}
			}
		}
		stop()
		var jsonl, parquet *lakeT
		for _, l := range lakes {
			s := l.best.Seconds()
			r.logf("  %s, query %s: %d rows from %d files (%.1f MB) in %v", l.name, q.name, l.rows, l.files, float64(l.size)/1e6, l.best.Round(time.Millisecond))
			r.add("scan_"+q.name+"_"+l.name+"_rows_per_s", float64(l.rows)/s, "rows/s", nil)
			r.add("scan_"+q.name+"_"+l.name+"_mb_per_s", float64(l.size)/1e6/s, "MB/s", nil)
			if l.cpuMeasured {
				r.add("scan_"+q.name+"_"+l.name+"_rows_per_cpu_s", float64(l.rows)/l.cpu.Seconds(), "rows/s", nil)
			}
			switch l.name {
			case "jsonl":
				jsonl = l
			case "parquet":
				parquet = l
			}
		}
		if jsonl != nil && parquet != nil {
			r.add("scan_"+q.name+"_parquet_speedup_over_jsonl", jsonl.best.Seconds()/parquet.best.Seconds(), "x", targetLakeScanRatio)
			if jsonl.cpuMeasured && parquet.cpuMeasured {
				r.add("scan_"+q.name+"_parquet_cpu_ratio_over_jsonl", jsonl.cpu.Seconds()/parquet.cpu.Seconds(), "x", nil)
			}
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
