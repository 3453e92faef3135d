package tsdb_test

// Kernel benchmarks of the storage engine's hot paths, on the seed's data
// shape: devices sending temperature, humidity, voltage and watt once a
// second, one or two decimals, slowly varying. Whole-path figures with
// targets come from `sluice bench storage` (internal/bench); these isolate
// one operation each so that a change can be judged with benchstat:
//
//	go test ./internal/tsdb -run '^$' -bench . -count 10 | tee new.txt
//	benchstat old.txt new.txt
//
// Every benchmark reports points/s (or per-query time) besides ns/op, and
// allocations.

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

const (
	benchDBName  = "bench"
	benchTblName = "telemetry"
	benchCol     = "measure_value::double"
)

var benchMeasures = [4]string{"temperature", "humidity", "voltage", "watt"}

// benchFleet makes records of the seed's shape without randomness, so that
// runs are comparable: device d at second k.
type benchFleet struct {
	start int64 // ns of second 0
	dims  [][]tsdb.Dimension
	ids   []string
}

func newBenchFleet(devices int, start time.Time) *benchFleet {
	f := &benchFleet{start: start.Truncate(time.Second).UnixNano()}
	for d := range devices {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", d*2654435761%(1<<32), d)
		f.ids = append(f.ids, id)
		f.dims = append(f.dims, []tsdb.Dimension{{Name: "DeviceID", Value: id}})
	}
	return f
}

// extraDims gives every device n more dimensions (model and region, as
// the pipeline benchmark's events have), shared by its records.
func (f *benchFleet) extraDims(n int) {
	for d := range f.dims {
		for i := range n {
			name := [2]string{"model", "region"}[i%2]
			if i >= 2 {
				name = fmt.Sprintf("dim%d", i)
			}
			f.dims[d] = append(f.dims[d], tsdb.Dimension{Name: name, Value: fmt.Sprintf("v%d", (d+i)%7)})
		}
	}
}

// value is a slow daily wave with a little device-specific wobble, rounded
// to one (temperature, voltage) or two (humidity, watt) decimals.
func (f *benchFleet) value(d, k, m int) float64 {
	level := [4]float64{21, 45, 230, 500}[m]
	amp := [4]float64{3, 8, 2, 300}[m]
	scale := [4]float64{10, 100, 10, 100}[m]
	x := level + amp*math.Sin(2*math.Pi*float64(k)/86400+float64(d)) + float64((d*31+k*17)%7-3)/scale
	return math.Round(x*scale) / scale
}

func (f *benchFleet) time(d, k int) int64 {
	return f.start + int64(k)*1e9 + int64(d%1000)*1e6 // a per-device phase, as real devices have
}

// appendTick appends the records of devices [d0, d1) at second k.
func (f *benchFleet) appendTick(dst []tsdb.Record, k, d0, d1 int) []tsdb.Record {
	for d := d0; d < d1; d++ {
		t := f.time(d, k)
		for m, name := range benchMeasures {
			dst = append(dst, tsdb.Record{Dimensions: f.dims[d], MeasureName: name, Time: t, Value: tsdb.Double(f.value(d, k, m))})
		}
	}
	return dst
}

func openBenchDB(b *testing.B, opts tsdb.Options) *tsdb.DB {
	b.Helper()
	if opts.MaintenanceInterval == 0 {
		opts.MaintenanceInterval = -1 // the benchmark decides when to flush
	}
	db, err := tsdb.Open(b.TempDir(), opts, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	if err := db.EnsureTable(context.Background(), benchDBName, benchTblName,
		tsdb.TableOptions{Retention: tsdb.Retention{Memory: 1000 * time.Hour}}); err != nil {
		b.Fatal(err)
	}
	return db
}

func benchWrite(b *testing.B, db *tsdb.DB, recs []tsdb.Record) {
	b.Helper()
	rej, err := db.Write(context.Background(), benchDBName, benchTblName, recs)
	if err != nil {
		b.Fatal(err)
	}
	if len(rej) > 0 {
		b.Fatalf("%d records rejected, first: %+v", len(rej), rej[0])
	}
}

// fillBenchDB writes ticks seconds of devices devices, in batches of 10,000
// records, and flushes and compacts when parts is true.
func fillBenchDB(b *testing.B, db *tsdb.DB, f *benchFleet, devices, ticks int, parts bool) {
	b.Helper()
	recs := make([]tsdb.Record, 0, 10_000+4*devices)
	for k := range ticks {
		recs = f.appendTick(recs, k, 0, devices)
		if len(recs) >= 10_000 || k == ticks-1 {
			benchWrite(b, db, recs)
			recs = recs[:0]
		}
	}
	if parts {
		if err := db.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		if err := db.Compact(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite: one op is one db.Write of batch records (batch/4 devices
// at one second each, new points), from writers goroutines at once.
// cpu-ns/point is the process's CPU time per point (writers, the commit
// goroutine, GC): the steadier figure on a shared machine. The records are
// made before the clock starts (a run of seconds, whose times move on by
// the run's length after each write), so the figures are the store's
// alone.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkWrite$' -count 10
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{"durable", "nosync"} {
		for _, batch := range []int{1000, 10_000} {
			for _, writers := range []int{1, 4} {
				name := fmt.Sprintf("sync=%s/batch=%d/writers=%d", mode, batch, writers)
				b.Run(name, func(b *testing.B) { benchmarkWrite(b, mode == "nosync", batch, writers, 1000, 1) })
			}
		}
	}
	// The pipeline benchmark's fleet: 10,000 devices with three
	// dimensions, 40,000 series, so that series lookups and appends miss
	// the CPU caches as they do there.
	for _, writers := range []int{1, 4} {
		name := fmt.Sprintf("sync=durable/batch=10000/writers=%d/devices=10000", writers)
		b.Run(name, func(b *testing.B) { benchmarkWrite(b, false, 10_000, writers, 10_000, 3) })
	}
}

func benchmarkWrite(b *testing.B, noSync bool, batch, writers, devices, dims int) {
	// Big enough a head that no flush is due inside the benchmark; the
	// figure is the write path alone.
	db := openBenchDB(b, tsdb.Options{NoSync: noSync, HeadMaxPoints: 1 << 30})
	f := newBenchFleet(devices, time.Now().Add(-48*time.Hour))
	f.extraDims(dims - 1)
	// Writer w writes devices [w*devices/writers, (w+1)*devices/writers),
	// second after second, from a run of whole seconds that splits into
	// whole batches: batches never repeat a point.
	runs := make([][]tsdb.Record, writers)
	var ticks int
	for w := range writers {
		lo, hi := w*devices/writers, (w+1)*devices/writers
		perTick := 4 * (hi - lo)
		ticks = batch / gcd(batch, perTick)
		for k := range ticks {
			runs[w] = f.appendTick(runs[w], k, lo, hi)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Now()
	var wg sync.WaitGroup
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := runs[w]
			for i := range n {
				recs := run[i*batch%len(run):][:batch]
				rej, err := db.Write(context.Background(), benchDBName, benchTblName, recs)
				if err != nil || len(rej) > 0 {
					b.Errorf("write: %v, %d rejected", err, len(rej))
					return
				}
				for k := range recs {
					recs[k].Time += int64(ticks) * 1e9
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "points/s")
	// The machine is shared: CPU time spent by this process (writers, the
	// commit goroutine, GC) is the steadier figure.
	if cpu := cputime.Now() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N*batch)/cpu.Seconds(), "points/cpu-s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu-ns/point")
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// BenchmarkFlush: one op flushes a hot tier of points points (1,000
// devices) to a part; the writes before it are not timed.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkFlush$' -count 10
func BenchmarkFlush(b *testing.B) {
	for _, points := range []int{400_000} {
		b.Run(fmt.Sprintf("points=%d", points), func(b *testing.B) {
			const devices = 1000
			db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30})
			f := newBenchFleet(devices, time.Now().Add(-48*time.Hour))
			ticks := points / devices / 4
			recs := make([]tsdb.Record, 0, 10_000+4*devices)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for k := i * ticks; k < (i+1)*ticks; k++ {
					recs = f.appendTick(recs, k, 0, devices)
					if len(recs) >= 10_000 || k == (i+1)*ticks-1 {
						benchWrite(b, db, recs)
						recs = recs[:0]
					}
				}
				b.StartTimer()
				if err := db.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*ticks*devices*4)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkCompact: one op merges parts parts of one partition, each
// holding a tenth of an hour of 1,000 devices; building them is not timed.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkCompact$' -count 10
func BenchmarkCompact(b *testing.B) {
	for _, parts := range []int{4} {
		b.Run(fmt.Sprintf("parts=%d", parts), func(b *testing.B) {
			const devices, ticks = 1000, 90
			b.ReportAllocs()
			var points int
			for i := range b.N {
				b.StopTimer()
				db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30})
				// Whole hours back, so that all parts fall in one partition.
				f := newBenchFleet(devices, time.Now().Add(-48*time.Hour).Truncate(time.Hour))
				recs := make([]tsdb.Record, 0, 4*devices*ticks)
				for p := range parts {
					recs = recs[:0]
					for k := p * ticks; k < (p+1)*ticks; k++ {
						recs = f.appendTick(recs, k, 0, devices)
					}
					benchWrite(b, db, recs)
					if err := db.Flush(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				points += parts * ticks * devices * 4
				b.StartTimer()
				if err := db.Compact(context.Background()); err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					// One part per decimal scale: the fleet's measures
					// have one or two decimals.
					if st := db.Stats(); st.Parts != 2 {
						b.Fatalf("after compaction %d parts, want 2", st.Parts)
					}
				}
			}
			b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkScanColumn: one op scans one DOUBLE column of every point (or
// of one measure) of 1,000 devices over an hour, from compacted parts or
// from the hot tier.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkScanColumn$' -count 10
func BenchmarkScanColumn(b *testing.B) {
	const devices, ticks = 1000, 900
	for _, tier := range []string{"parts", "hot"} {
		for _, measure := range []string{"all", "temperature"} {
			b.Run(fmt.Sprintf("tier=%s/measure=%s", tier, measure), func(b *testing.B) {
				db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30})
				fillBenchDB(b, db, newBenchFleet(devices, time.Now().Add(-48*time.Hour)), devices, ticks, tier == "parts")
				req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
					Columns: []string{benchCol}}
				want := devices * ticks * 4
				if measure != "all" {
					req.MeasureNames = []string{measure}
					want /= 4
				}
				b.ReportAllocs()
				b.ResetTimer()
				var sum float64
				for range b.N {
					rows := 0
					err := db.Scan(context.Background(), req, func(bt *columnar.Batch) error {
						for _, v := range bt.Col(benchCol).Floats {
							sum += v
						}
						rows += bt.Len()
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					if rows != want {
						b.Fatalf("%d rows, want %d", rows, want)
					}
				}
				b.ReportMetric(float64(b.N*want)/b.Elapsed().Seconds(), "points/s")
				runtime.KeepAlive(sum)
			})
		}
	}
}

// BenchmarkScanCold is the storage bench's target figure as a kernel:
// one op scans the value column alone (OnlyColumns) of every point, or of
// one measure, of 1,000 devices over an hour from compacted parts, with
// no page cache, so every page is read and decoded. The consumer sums in
// four chains, as the storage bench does, so that its own dependent
// additions are not what is measured. points/cpu-s is the figure to
// compare (the target is per core).
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkScanCold$' -count 10
func BenchmarkScanCold(b *testing.B) {
	const devices, ticks = 1000, 3600
	for _, measure := range []string{"all", "temperature"} {
		b.Run("measure="+measure, func(b *testing.B) {
			db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30, PageCacheBytes: -1})
			fillBenchDB(b, db, newBenchFleet(devices, time.Now().Add(-48*time.Hour)), devices, ticks, true)
			req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
				Columns: []string{benchCol}, OnlyColumns: true}
			want := devices * ticks * 4
			if measure != "all" {
				req.MeasureNames = []string{measure}
				want /= 4
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Now()
			var sum float64
			for range b.N {
				rows := 0
				err := db.Scan(context.Background(), req, func(bt *columnar.Batch) error {
					var s0, s1, s2, s3 float64
					f := bt.Col(benchCol).Floats
					for len(f) >= 4 {
						s0, s1, s2, s3 = s0+f[0], s1+f[1], s2+f[2], s3+f[3]
						f = f[4:]
					}
					for _, v := range f {
						s0 += v
					}
					sum += s0 + s1 + s2 + s3
					rows += bt.Len()
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if rows != want {
					b.Fatalf("%d rows, want %d", rows, want)
				}
			}
			b.ReportMetric(float64(b.N*want)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(b.N*want)/(cputime.Now()-cpu0).Seconds(), "points/cpu-s")
			runtime.KeepAlive(sum)
		})
	}
}

// BenchmarkSeriesHour: one op reads one device's temperature over one
// hour (3,600 points), from compacted parts or from the hot tier.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkSeriesHour$' -count 10
func BenchmarkSeriesHour(b *testing.B) {
	const devices, ticks = 100, 3 * 3600
	for _, tier := range []string{"parts", "hot"} {
		b.Run("tier="+tier, func(b *testing.B) {
			db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30})
			f := newBenchFleet(devices, time.Now().Add(-48*time.Hour))
			fillBenchDB(b, db, f, devices, ticks, tier == "parts")
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				d := i * 7 % devices
				k := i * 997 % (ticks - 3600)
				lo := f.time(d, k)
				req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: lo, MaxTime: lo + 3600e9 - 1,
					MeasureNames: []string{"temperature"}, Dims: []tsdb.DimFilter{{Name: "DeviceID", Values: []string{f.ids[d]}}},
					Columns: []string{benchCol}}
				rows := 0
				if err := db.Scan(context.Background(), req, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
					b.Fatal(err)
				}
				if rows != 3600 {
					b.Fatalf("%d rows, want 3600", rows)
				}
			}
		})
	}
}

// BenchmarkLatest: one op finds the newest point of each of one device's
// 4 measures among series series.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkLatest$' -count 10
func BenchmarkLatest(b *testing.B) {
	for _, devices := range []int{1000, 25_000} {
		b.Run(fmt.Sprintf("series=%d", 4*devices), func(b *testing.B) {
			db := openBenchDB(b, tsdb.Options{NoSync: true, HeadMaxPoints: 1 << 30})
			f := newBenchFleet(devices, time.Now().Add(-time.Hour))
			fillBenchDB(b, db, f, devices, 3, false)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				d := i * 7 % devices
				req := tsdb.ScanRequest{Database: benchDBName, Table: benchTblName, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
					Dims: []tsdb.DimFilter{{Name: "DeviceID", Values: []string{f.ids[d]}}}, Columns: []string{benchCol}}
				rows := 0
				if err := db.Latest(context.Background(), req, func(bt *columnar.Batch) error { rows += bt.Len(); return nil }); err != nil {
					b.Fatal(err)
				}
				if rows != 4 {
					b.Fatalf("%d rows, want 4", rows)
				}
			}
		})
	}
}

// BenchmarkSeriesMemory: one op creates series series with one point each
// in a fresh store; it reports the growth of the heap in use per series.
// Each device id is made just before its record and the benchmark keeps
// no copy: the store keeps the string (its series' dimension refers to
// it), so it is counted. gc=rare makes the records' garbage with the
// collector off, as when a large live heap makes collections rare (the
// storage suite measures after its other phases): freed garbage then
// leaves holes among what the store keeps, which the heap in use counts.
//
//	go test ./internal/tsdb -run '^$' -bench 'BenchmarkSeriesMemory$' -count 5
func BenchmarkSeriesMemory(b *testing.B) {
	for _, series := range []int{100_000} {
		for _, gc := range []string{"normal", "rare"} {
			b.Run(fmt.Sprintf("series=%d/gc=%s", series, gc), func(b *testing.B) {
				var perSeries float64
				for range b.N {
					b.StopTimer()
					db := openBenchDB(b, tsdb.Options{NoSync: true})
					f := newBenchFleet(1, time.Now().Add(-time.Hour)) // times and values only
					recs := make([]tsdb.Record, 0, 10_000)
					before := benchHeapInUse()
					old := debug.SetGCPercent(100)
					if gc == "rare" {
						debug.SetGCPercent(-1)
					}
					b.StartTimer()
					for d := range series {
						id := fmt.Sprintf("%08x-0000-4000-8000-%012x", d*2654435761%(1<<32), d)
						recs = append(recs, tsdb.Record{Dimensions: []tsdb.Dimension{{Name: "DeviceID", Value: id}},
							MeasureName: "temperature", Time: f.time(d, 0), Value: tsdb.Double(f.value(d, 0, 0))})
						if len(recs) == cap(recs) || d == series-1 {
							benchWrite(b, db, recs)
							clear(recs)
							recs = recs[:0]
						}
					}
					b.StopTimer()
					recs = nil
					perSeries += float64(int64(benchHeapInUse())-int64(before)) / float64(series)
					debug.SetGCPercent(old)
					b.StartTimer()
				}
				b.ReportMetric(perSeries/float64(b.N), "heap-bytes/series")
			})
		}
	}
}

func benchHeapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
