package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/tsdb"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// Targets of the storage engine (the issue that asked for this suite).
var (
	targetWrite       = atLeast(3_000_000) // points/s, durable, batches of 10,000
	targetBytesPoint  = atMost(0.8)        // bytes/point after compaction
	targetScanPerCore = atLeast(200_000_000)
	targetSeriesHour  = atMost(0.2) // ms
	targetPerSeries   = atMost(1024)
)

const (
	benchDB    = "bench"
	benchTable = "telemetry"
	valueCol   = "measure_value::double"
)

type storageConfig struct {
	devices    int
	points     int64
	batch      int
	writers    int
	series     int
	queries    int
	hotDevices int
	scans      int
	noSync     bool
	regular    bool
}

func storageFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &storageConfig{}
	fs.IntVar(&c.devices, "devices", 1000, "devices in the seed data (each sends 4 measures once a second)")
	fs.Int64Var(&c.points, "points", 16_000_000, "points to write in the write phases (half with 1 writer, half with --writers)")
	fs.IntVar(&c.batch, "batch", 10_000, "records per db.Write")
	fs.IntVar(&c.writers, "writers", 4, "concurrent writers in the second write phase")
	fs.IntVar(&c.series, "series", 200_000, "series to create for the memory-per-series figure")
	fs.IntVar(&c.queries, "queries", 1000, "queries per latency figure")
	fs.IntVar(&c.hotDevices, "hot-devices", 50, "devices that get one more hour in the hot tier for the hot series-hour figure")
	fs.IntVar(&c.scans, "scans", 10, "full scans per scan figure (the median is reported)")
	fs.BoolVar(&c.noSync, "no-sync", false, "relaxed writes (tsdb.Options.NoSync); the targets are for durable writes")
	fs.BoolVar(&c.regular, "regular-times", false, "exactly one point per second per device (default: the simulator's sampling jitter of up to 100 ms, in µs)")
	quick := func(set map[string]bool) {
		q := map[string]func(){
			"points":      func() { c.points = 400_000 },
			"series":      func() { c.series = 20_000 },
			"queries":     func() { c.queries = 200 },
			"hot-devices": func() { c.hotDevices = 5 },
			"scans":       func() { c.scans = 1 },
		}
		for name, f := range q {
			if !set[name] {
				f()
			}
		}
	}
	return func(r *run) error { return runStorage(r, c) }, quick
}

func (c *storageConfig) check() error {
	var errs []error
	if c.devices < 1 {
		errs = append(errs, fmt.Errorf("--devices %d: want at least 1", c.devices))
	}
	if c.batch < 4 {
		errs = append(errs, fmt.Errorf("--batch %d: want at least 4", c.batch))
	}
	if c.writers < 1 || c.writers > 1024 {
		errs = append(errs, fmt.Errorf("--writers %d: want 1..1024", c.writers))
	}
	if c.devices >= 1 && c.points/int64(c.devices*4) < 2 {
		errs = append(errs, fmt.Errorf("--points %d: want at least 2 seconds of data (%d)", c.points, 8*c.devices))
	}
	if c.series < 1 || c.queries < 1 || c.hotDevices < 1 || c.scans < 1 {
		errs = append(errs, errors.New("--series, --queries, --hot-devices and --scans must be at least 1"))
	}
	return errors.Join(errs...)
}

// storageBench is one run of the storage suite.
type storageBench struct {
	*run
	c     *storageConfig
	db    *tsdb.DB
	f     *fleet
	start time.Time // first tick
	rng   *rand.Rand
}

func runStorage(r *run, c *storageConfig) error {
	if err := c.check(); err != nil {
		return err
	}
	s := &storageBench{run: r, c: c, rng: rand.New(rand.NewPCG(1, 2))}
	needData := false
	for _, g := range []string{"write", "disk", "scan", "series_hour", "latest"} {
		needData = needData || r.want(g)
	}
	if needData {
		if err := s.dataPhases(); err != nil {
			return err
		}
	}
	if r.want("memory") {
		if err := s.memoryPerSeries(); err != nil {
			return fmt.Errorf("memory per series: %w", err)
		}
	}
	return nil
}

func (s *storageBench) dataPhases() (err error) {
	c := s.c
	ticks := int(c.points / int64(c.devices*4))
	// The data ends an hour and a minute before now, leaving room for the
	// hot hour and staying clear of the future limit.
	now := time.Now().Truncate(time.Second)
	s.start = now.Add(-time.Hour - time.Minute - time.Duration(ticks)*time.Second)
	if s.f, err = genFleet(s.ctx, s.progress, 1, c.devices, ticks, s.start); err != nil {
		return err
	}
	if c.regular {
		s.f.regularize()
	}
	s.db, err = tsdb.Open(filepath.Join(s.dir, "tsdb"), tsdb.Options{NoSync: c.noSync}, nil, nil)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if cerr := s.db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	// Memory retention covers all the data, so the hot tier is flushed for
	// size (HeadMaxPoints), as under live load, not because data is old.
	mem := max(tsdb.DefaultMemoryRetention, (time.Duration(ticks)*time.Second + 3*time.Hour).Truncate(time.Hour))
	mem = min(mem, tsdb.MaxMemoryRetention)
	if err := s.db.EnsureTable(s.ctx, benchDB, benchTable, tsdb.TableOptions{Retention: tsdb.Retention{Memory: mem}}); err != nil {
		return fmt.Errorf("create table: %w", err)
	}

	// (1) Durable write throughput: first half with one writer, second
	// half with c.writers, each owning a share of the devices.
	half := ticks / 2
	mode := "durable"
	if c.noSync {
		mode = "nosync"
	}
	var points int64
	for _, ph := range []struct {
		writers int
		t0, t1  int
	}{{1, 0, half}, {c.writers, half, ticks}} {
		n, wall, cpu, err := s.write(s.f, fmt.Sprintf("write %s writers=%d batch=%d", mode, ph.writers, c.batch), ph.writers, ph.t0, ph.t1)
		if err != nil {
			return err
		}
		points += n
		if s.want("write") {
			var t *target
			if !c.noSync {
				t = targetWrite
			}
			name := fmt.Sprintf("write/%s/batch=%d/writers=%d", mode, c.batch, ph.writers)
			s.add(name, float64(n)/wall.Seconds(), "points/s", t)
			if cpu > 0 {
				// Independent of what else runs on the machine (background
				// flushes of the store included).
				s.add(name+"/per_cpu", float64(n)/cpu.Seconds(), "points/CPU-s", nil)
			}
		}
	}

	// (2) Bytes per point after flush and compaction.
	begin := time.Now()
	if err := s.db.Flush(s.ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	flushed := time.Since(begin)
	if err := s.db.Compact(s.ctx); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	compacted := time.Since(begin) - flushed
	st := s.db.Stats()
	s.logf("  flush %s, compact %s: %d parts, %d rows, %d bytes", flushed.Round(time.Millisecond), compacted.Round(time.Millisecond), st.Parts, st.PartRows, st.PartBytes)
	if st.PartRows != points {
		return fmt.Errorf("after flush and compaction the parts hold %d rows, want the %d points written", st.PartRows, points)
	}
	if s.want("disk") {
		all, err := dirBytes(filepath.Join(s.dir, "tsdb"), "wal")
		if err != nil {
			return err
		}
		s.add("disk/bytes_per_point/parts", float64(st.PartBytes)/float64(points), "bytes", targetBytesPoint)
		s.add("disk/bytes_per_point/index_included", float64(all)/float64(points), "bytes", targetBytesPoint)
		cols, err := partColumnBytes(filepath.Join(s.dir, "tsdb"))
		if err != nil {
			return err
		}
		names := make([]string, 0, len(cols))
		for n := range cols {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			// Where the bytes go: a breakdown for whoever works on the encodings.
			s.add("disk/bytes_per_point/"+n, float64(cols[n])/float64(points), "bytes", nil)
		}
		s.add("disk/flush_compact", (flushed + compacted).Seconds(), "s", nil)
	}

	// (3) Full scan of one DOUBLE column: cold, decoding every page from
	// the part files (the store reopened without its decoded-page cache;
	// the target is for this figure), then through the default cache,
	// which serves whatever of the column fits in it (all of one measure,
	// about half of all four) without decoding.
	if s.want("scan") {
		scans := []struct {
			name     string
			measures []string
		}{{"all_measures", nil}, {"temperature", []string{"temperature"}}}
		for _, cached := range []bool{false, true} {
			cache, mode := int64(-1), "cold"
			if cached {
				cache, mode = 0, "cached"
			}
			if err := s.reopen(cache); err != nil {
				return err
			}
			for _, m := range scans {
				if err := s.scan(m.name, mode, m.measures, points, cached); err != nil {
					return err
				}
			}
		}
	}

	// (4) One series over one hour, from parts.
	if s.want("series_hour") {
		ds, err := s.seriesHours(s.f, "series_hour parts")
		if err != nil {
			return err
		}
		s.addLatencies("series_hour/parts", ds, targetSeriesHour)
	}

	// (5) Latest point of one device.
	if s.want("latest") {
		ds, err := s.latest()
		if err != nil {
			return err
		}
		s.addLatencies("latest", ds, nil)
	}

	// (4b) One series over one hour, from the hot tier: one more hour for
	// a few devices, written after the flush so that it stays in memory.
	if s.want("series_hour") {
		hot := min(c.hotDevices, c.devices)
		f, err := genFleet(s.ctx, s.progress, 1, hot, 3600, s.start.Add(time.Duration(ticks)*time.Second))
		if err != nil {
			return err
		}
		if c.regular {
			f.regularize()
		}
		if _, _, _, err := s.write(f, fmt.Sprintf("write hot hour for %d devices", hot), 1, 0, f.ticks); err != nil {
			return err
		}
		if st := s.db.Stats(); st.HeadPoints != hot*3600*4 {
			s.logf("  note: the hot tier holds %d points, not the %d just written (a background flush ran)", st.HeadPoints, hot*3600*4)
		}
		ds, err := s.seriesHours(f, "series_hour hot")
		if err != nil {
			return err
		}
		s.addLatencies("series_hour/hot", ds, targetSeriesHour)
	}
	return nil
}

// write writes ticks [t0, t1) of f with the given number of writers in
// batches of c.batch and returns the points written and the time taken.
func (s *storageBench) write(f *fleet, label string, writers, t0, t1 int) (points int64, wall, cpu time.Duration, err error) {
	total := int64(t1-t0) * int64(f.devices) * 4
	var done atomic.Int64
	stop := s.progress.start(label, func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(total), "points", el)
	})
	defer stop()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	cpu0, cpuOK := cputime.Process()
	begin := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs := make([]tsdb.Record, 0, s.c.batch+4)
			flush := func() bool {
				rej, err := s.db.Write(ctx, benchDB, benchTable, recs)
				if err != nil {
					fail(fmt.Errorf("write: %w", err))
					return false
				}
				if len(rej) > 0 {
					fail(fmt.Errorf("write: %d of %d records rejected, first: %s", len(rej), len(recs), rej[0].Reason))
					return false
				}
				done.Add(int64(len(recs)))
				recs = recs[:0]
				return true
			}
			for tick := t0; tick < t1; tick++ {
				for dev := w; dev < f.devices; dev += writers {
					recs = f.appendRecords(recs, tick, dev)
					if len(recs) >= s.c.batch && !flush() {
						return
					}
				}
			}
			if len(recs) > 0 {
				flush()
			}
		}()
	}
	wg.Wait()
	wall = time.Since(begin)
	if cpu1, _ := cputime.Process(); cpuOK {
		cpu = cpu1 - cpu0
	}
	if first != nil {
		return 0, 0, 0, first
	}
	return done.Load(), wall, cpu, nil
}

// reopen closes the store and opens it again with the given
// Options.PageCacheBytes (negative: no decoded-page cache, 0: default).
func (s *storageBench) reopen(pageCache int64) (err error) {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	s.db, err = tsdb.Open(filepath.Join(s.dir, "tsdb"), tsdb.Options{NoSync: s.c.noSync, PageCacheBytes: pageCache}, nil, nil)
	if err != nil {
		return fmt.Errorf("reopen store: %w", err)
	}
	return nil
}

// scan runs c.scans full scans of the value column (after one uncounted
// scan that fills the page cache, when warm) and records the median rate
// per CPU second and per wall second.
func (s *storageBench) scan(name, mode string, measures []string, points int64, warm bool) error {
	want := points
	if measures != nil {
		want = points / 4
	}
	var perCore, perWall []float64
	runs := s.c.scans
	if warm {
		runs++
	}
	for i := range runs {
		var rows int64
		req := tsdb.ScanRequest{Database: benchDB, Table: benchTable, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
			MeasureNames: measures, Columns: []string{valueCol}, OnlyColumns: true}
		// Collect the garbage of what ran before (the write phases leave
		// gigabytes, the reopened store's predecessor its whole hot
		// tier) outside the clock: the background GC would otherwise
		// mark and sweep it during the first scans, on the process CPU
		// time that the per-core figure divides by. A scan's own garbage
		// is a few MB.
		runtime.GC()
		cpu0, cpuOK := cputime.Process()
		begin := time.Now()
		err := s.db.Scan(s.ctx, req, func(b *columnar.Batch) error {
			c := b.Col(valueCol)
			if c == nil {
				return fmt.Errorf("batch has no %s column (columns %v)", valueCol, b.Names)
			}
			// Touch the values, as a consumer would. Four sums, not
			// one: a single chain of dependent additions costs ~4 cycles
			// a value, as much as decoding it, and would be measured
			// instead of the store.
			var s0, s1, s2, s3 float64
			f := c.Floats
			for len(f) >= 4 {
				s0, s1, s2, s3 = s0+f[0], s1+f[1], s2+f[2], s3+f[3]
				f = f[4:]
			}
			for _, v := range f {
				s0 += v
			}
			if sum := s0 + s1 + s2 + s3; math.IsNaN(sum) {
				return errors.New("NaN in the data")
			}
			rows += int64(b.Len())
			return nil
		})
		wall := time.Since(begin)
		cpu1, _ := cputime.Process()
		if err != nil {
			return fmt.Errorf("scan %s: %w", name, err)
		}
		if rows != want {
			return fmt.Errorf("scan %s: %d rows, want %d", name, rows, want)
		}
		cpu := cpu1 - cpu0
		if !cpuOK || cpu <= 0 {
			cpu = wall // cannot tell: assume one busy core
		}
		s.logf("  scan %s %s #%d: %d rows in %s (CPU %s)", name, mode, i+1, rows, wall.Round(time.Millisecond), cpu.Round(time.Millisecond))
		if warm && i == 0 {
			continue // filled the cache
		}
		perCore = append(perCore, float64(rows)/cpu.Seconds())
		perWall = append(perWall, float64(rows)/wall.Seconds())
	}
	var t *target
	if mode == "cold" {
		t = targetScanPerCore
	}
	s.add("scan/double/"+name+"/"+mode+"/per_core", median(perCore), "points/s/core", t)
	s.add("scan/double/"+name+"/"+mode, median(perWall), "points/s", nil)
	return nil
}

// seriesHours times c.queries scans of one device's temperature over one
// hour of f (or all of f if shorter), checking the row count.
func (s *storageBench) seriesHours(f *fleet, label string) ([]time.Duration, error) {
	win := min(3600, f.ticks)
	ds := make([]time.Duration, 0, s.c.queries)
	var done atomic.Int64 // read by the progress line
	stop := s.progress.start(label, func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(s.c.queries), "queries", el)
	})
	defer stop()
	for range s.c.queries {
		dev := s.rng.IntN(f.devices)
		t := s.rng.IntN(f.ticks - win + 1)
		// From one sample to the win-th after it: exactly win points,
		// whatever the sampling jitter (a fixed hour could hold 3,601).
		lo, hi := f.times[t*f.devices+dev], f.times[(t+win-1)*f.devices+dev]
		req := tsdb.ScanRequest{Database: benchDB, Table: benchTable, MinTime: lo, MaxTime: hi,
			MeasureNames: []string{"temperature"}, Dims: []tsdb.DimFilter{{Name: "DeviceID", Values: []string{f.ids[dev]}}},
			Columns: []string{valueCol}, OnlyColumns: true}
		rows := 0
		begin := time.Now()
		err := s.db.Scan(s.ctx, req, func(b *columnar.Batch) error { rows += b.Len(); return nil })
		ds = append(ds, time.Since(begin))
		done.Add(1)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		if rows != win {
			return nil, fmt.Errorf("%s: device %s from %s: %d rows, want %d", label, f.ids[dev], time.Unix(0, lo).UTC().Format(time.RFC3339), rows, win)
		}
	}
	return ds, nil
}

// latest times c.queries latest-point lookups of one device (4 measures).
func (s *storageBench) latest() ([]time.Duration, error) {
	ds := make([]time.Duration, 0, s.c.queries)
	var done atomic.Int64 // read by the progress line
	stop := s.progress.start("latest", func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(s.c.queries), "queries", el)
	})
	defer stop()
	last := s.f.ticks - 1
	for range s.c.queries {
		dev := s.rng.IntN(s.f.devices)
		req := tsdb.ScanRequest{Database: benchDB, Table: benchTable, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
			Dims: []tsdb.DimFilter{{Name: "DeviceID", Values: []string{s.f.ids[dev]}}}, Columns: []string{valueCol}}
		rows := 0
		var newest int64
		begin := time.Now()
		err := s.db.Latest(s.ctx, req, func(b *columnar.Batch) error {
			rows += b.Len()
			if c := b.Col("time"); c != nil {
				for _, t := range c.Ints {
					newest = max(newest, t)
				}
			}
			return nil
		})
		ds = append(ds, time.Since(begin))
		done.Add(1)
		if err != nil {
			return nil, fmt.Errorf("latest: %w", err)
		}
		if want := s.f.times[last*s.f.devices+dev]; rows != 4 || newest != want {
			return nil, fmt.Errorf("latest: device %s: %d rows with newest time %d, want 4 rows at %d", s.f.ids[dev], rows, newest, want)
		}
	}
	return ds, nil
}

// memoryPerSeries creates c.series series with one point each in a fresh
// store and reports the growth of the heap in use per series.
func (s *storageBench) memoryPerSeries() (err error) {
	db, err := tsdb.Open(filepath.Join(s.dir, "tsdb-series"), tsdb.Options{NoSync: s.c.noSync}, nil, nil)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	if err := db.EnsureTable(s.ctx, benchDB, benchTable, tsdb.TableOptions{}); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	// Each device id is made just before its record and the benchmark
	// keeps no copy: the store keeps the string (its series' dimension
	// refers to it), so it is counted, as it is in a live pipeline, where
	// the store is what keeps a device's id once its events are gone.
	before := heapInUse()
	t := time.Now().Add(-time.Minute).UnixNano()
	recs := make([]tsdb.Record, 0, s.c.batch)
	var done atomic.Int64 // read by the progress line
	stop := s.progress.start(fmt.Sprintf("memory: create %d series", s.c.series), func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(s.c.series), "series", el)
	})
	for i := range s.c.series {
		recs = append(recs, tsdb.Record{
			Dimensions:  []tsdb.Dimension{{Name: "DeviceID", Value: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919)}},
			MeasureName: "temperature",
			Time:        t,
			Value:       tsdb.Double(20 + float64(i%100)/10),
		})
		if len(recs) == cap(recs) || i == s.c.series-1 {
			rej, err := db.Write(s.ctx, benchDB, benchTable, recs)
			if err != nil {
				stop()
				return fmt.Errorf("write: %w", err)
			}
			if len(rej) > 0 {
				stop()
				return fmt.Errorf("write: %d records rejected, first: %s", len(rej), rej[0].Reason)
			}
			done.Add(int64(len(recs)))
			clear(recs)
			recs = recs[:0]
		}
	}
	stop()
	recs = nil // not counted: only what the store keeps
	after := heapInUse()
	if st := db.Stats(); st.Series != s.c.series {
		return fmt.Errorf("the store has %d series, want %d", st.Series, s.c.series)
	}
	s.add("memory/bytes_per_series", float64(int64(after)-int64(before))/float64(s.c.series), "bytes", targetPerSeries)
	return nil
}

// partColumnBytes says where the bytes of the Parquet part files under
// dir go (part.Sizes summed): per column, its pages and page-index entries
// ("column=NAME"), and the footer by key ("footer=KEY", "footer=metadata"
// for the rest of the Thrift footer and the magic bytes).
func partColumnBytes(dir string) (map[string]int64, error) {
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".parquet" {
			return err
		}
		rep, err := part.Sizes(path)
		if err != nil {
			return err
		}
		for _, c := range rep.Columns {
			out["column="+c.Name] += c.Total()
		}
		meta := rep.Footer + rep.Magic + rep.Other
		for k, n := range rep.KeyValue {
			if strings.HasPrefix(k, "sluice.") && n > 1000 {
				out["footer="+k] += n
				meta -= n
			}
		}
		out["footer=metadata"] += meta
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("column sizes of the parts: %w", err)
	}
	return out, nil
}

// heapInUse returns HeapInuse after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// dirBytes sums the sizes of the files under dir, skipping the top-level
// directory skip.
func dirBytes(dir, skip string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(dir, skip) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return n, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
