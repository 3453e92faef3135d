package part_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// seedBatch builds the seed's shape as the storage engine flushes it: one
// single-measure table, dimension DeviceID, measures humidity, temperature,
// voltage and watt as measure_value::double, one point per second per
// device, sorted by (measure_name, DeviceID, time). Values are random walks
// printed with the seed's decimals: temperature 21.3 (steps of 0.1, mostly
// flat), humidity 45.12 (±0.05), voltage 229.8 (±0.2 around 230), watt
// 777.88 (±0.50).
func seedBatch(devices, seconds int) *columnar.Batch {
	r := rand.New(rand.NewPCG(42, 42))
	n := devices * 4 * seconds
	b := &columnar.Batch{}
	tc := b.Add("time", columnar.NewColumn(columnar.Timestamp, n))
	vc := b.Add("version", columnar.NewColumn(columnar.Int64, n))
	mc := b.Add("measure_name", columnar.NewColumn(columnar.String, n))
	dc := b.Add("DeviceID", columnar.NewColumn(columnar.String, n))
	xc := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, n))
	const t0 = int64(1_767_225_600_000_000_000) // 2026-01-01T00:00:00Z
	ids := make([]string, devices)
	for d := range ids {
		// Sortable ids shaped like the seed's UUIDs.
		ids[d] = fmt.Sprintf("%08x-9012-3456-7890-%012x", d, d*7919)
	}
	for _, m := range []string{"humidity", "temperature", "voltage", "watt"} {
		for d := range devices {
			var x float64
			switch m {
			case "humidity":
				x = 30 + float64(r.IntN(3000))/100
			case "temperature":
				x = 18 + float64(r.IntN(80))/10
			case "voltage":
				x = 230
			case "watt":
				x = 100 + float64(r.IntN(90000))/100
			}
			for s := range seconds {
				switch m {
				case "humidity":
					x = math.Round((x+float64(r.IntN(11)-5)/100)*100) / 100
				case "temperature":
					if r.IntN(5) == 0 {
						x = math.Round((x+float64(r.IntN(3)-1)/10)*10) / 10
					}
				case "voltage":
					x = math.Round((x+float64(r.IntN(5)-2)/10+(230-x)/20)*10) / 10
				case "watt":
					x = math.Round((x+float64(r.IntN(101)-50)/100)*100) / 100
				}
				tc.AppendInt(t0 + int64(s)*1e9)
				vc.AppendInt(1)
				mc.AppendString(m)
				dc.AppendString(ids[d])
				xc.AppendFloat(x)
			}
		}
	}
	return b
}

var seedOnce = sync.OnceValue(func() *columnar.Batch { return seedBatch(250, 3600) })

// TestBytesPerPoint measures both DOUBLE paths on a smaller seed-shaped
// batch (50 devices × 4 measures × 3600 s) and holds the decimal path to
// the 0.8 byte/point target.
func TestBytesPerPoint(t *testing.T) {
	b := seedBatch(50, 3600)
	points := float64(b.Len())
	sizes := map[bool]float64{}
	for _, noDecimal := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "p.parquet")
		m, err := part.Write(path, b, []string{"DeviceID"}, part.WriterOptions{NoDecimal: noDecimal})
		if err != nil {
			t.Fatal(err)
		}
		sizes[noDecimal] = float64(m.Bytes) / points
		t.Logf("noDecimal=%v: %d bytes, %.3f bytes/point", noDecimal, m.Bytes, sizes[noDecimal])
		// And the values come back exactly either way.
		pr := openPart(t, path)
		checkScan(t, pr, b, part.Filter{MinTime: math.MinInt64, MaxTime: math.MaxInt64, MeasureNames: []string{"watt"}})
	}
	if sizes[false] > 0.8 {
		t.Errorf("decimal path: %.3f bytes/point, target 0.8", sizes[false])
	}
	if sizes[false] >= sizes[true] {
		t.Errorf("decimal path (%.3f) not smaller than double path (%.3f)", sizes[false], sizes[true])
	}
}

// minutes=true writes the per-minute pre-aggregates too, as the store's
// flush does.
//
// go test ./internal/tsdb/part -run '^$' -bench BenchmarkWrite -count 10 | benchstat -
func BenchmarkWrite(b *testing.B) {
	batch := seedOnce()
	for _, bc := range []struct{ noDecimal, minutes bool }{{false, false}, {true, false}, {false, true}} {
		name := fmt.Sprintf("decimal=%v", !bc.noDecimal)
		if bc.minutes {
			name = "minutes=true"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			dir := b.TempDir()
			var m part.Meta
			i := 0
			cpu0 := cputime.Now()
			for b.Loop() {
				var err error
				m, err = part.Write(filepath.Join(dir, fmt.Sprint(i)), batch, []string{"DeviceID"}, part.WriterOptions{NoDecimal: bc.noDecimal, Minutes: bc.minutes})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(m.Bytes)/float64(batch.Len()), "B/point")
			b.ReportMetric(float64(batch.Len())*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(batch.Len())*float64(b.N)/(cputime.Now()-cpu0).Seconds(), "points/cpu-s")
		})
	}
}

func writeSeed(b *testing.B, opts part.WriterOptions, ro ...part.OpenOption) (*part.Reader, part.Meta) {
	b.Helper()
	batch := seedOnce()
	path := filepath.Join(b.TempDir(), "p.parquet")
	m, err := part.Write(path, batch, []string{"DeviceID"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	r, err := part.Open(path, ro...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, m
}

// go test ./internal/tsdb/part -run '^$' -bench BenchmarkScanDouble -count 10 | benchstat -
func BenchmarkScanDouble(b *testing.B) {
	for _, c := range []struct{ noDecimal, projectOnly bool }{{false, false}, {true, false}, {false, true}} {
		b.Run(fmt.Sprintf("decimal=%v/projectOnly=%v", !c.noDecimal, c.projectOnly), func(b *testing.B) {
			pr, m := writeSeed(b, part.WriterOptions{NoDecimal: c.noDecimal})
			f := part.All()
			f.Columns = []string{"measure_value::double"}
			f.ProjectOnly = c.projectOnly
			b.ReportAllocs()
			var sum float64
			cpu0 := cputime.Now()
			for b.Loop() {
				err := pr.Scan(context.Background(), f, func(bt *columnar.Batch) error {
					for _, v := range bt.Col("measure_value::double").Floats {
						sum += v
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.Rows)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(m.Rows)*float64(b.N)/(cputime.Now()-cpu0).Seconds(), "points/cpu-s")
			_ = sum
		})
	}
}

// go test ./internal/tsdb/part -run '^$' -bench BenchmarkSeriesHour -count 10 | benchstat -
//
// cache=on reads through a 64 MiB page cache (the store's default), which
// holds every page the loop visits after its first rounds.
func BenchmarkSeriesHour(b *testing.B) {
	for _, bc := range []struct {
		pageRows int
		cache    bool
	}{{1024, false}, {2048, false}, {4096, false}, {8192, false}, {16384, false}, {2048, true}, {8192, true}, {16384, true}} {
		onOff := map[bool]string{false: "off", true: "on"}[bc.cache]
		b.Run(fmt.Sprintf("pageRows=%d/cache=%s", bc.pageRows, onOff), func(b *testing.B) {
			var ro []part.OpenOption
			if bc.cache {
				ro = append(ro, part.WithPageCache(part.NewPageCache(64<<20)))
			}
			pr, m := writeSeed(b, part.WriterOptions{PageRows: bc.pageRows}, ro...)
			batch := seedOnce()
			devs := batch.Col("DeviceID").Strs
			f := part.All()
			f.MeasureNames = []string{"temperature"}
			f.Columns = []string{"measure_value::double"}
			b.ReportAllocs()
			var st part.ScanStats
			i := 0
			cpu0 := cputime.Now()
			for b.Loop() {
				f.Dims = []part.DimFilter{{Name: "DeviceID", Values: []string{devs[(i*3600*7)%len(devs)]}}}
				var err error
				n := 0
				st, err = pr.ScanWithStats(context.Background(), f, func(bt *columnar.Batch) error { n += bt.Len(); return nil })
				if err != nil || n != 3600 {
					b.Fatalf("%d points, %v", n, err)
				}
				i++
			}
			b.ReportMetric(float64(m.Bytes)/float64(m.Rows), "B/point")
			b.ReportMetric(float64(st.RowsRead), "rows-decoded")
			b.ReportMetric(float64((cputime.Now()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// One series, the last 59 minutes of its hour, two columns (sluice bench
// query's Q1 as the store asks a part for it): the time bound cuts into the
// series' page, so rows are filtered by time, while the page index proves
// the device and measure for every row.
//
// go test ./internal/tsdb/part -run '^$' -bench BenchmarkSeriesWindow -count 10 | benchstat -
func BenchmarkSeriesWindow(b *testing.B) {
	pr, _ := writeSeed(b, part.WriterOptions{})
	batch := seedOnce()
	devs := batch.Col("DeviceID").Strs
	times := batch.Col("time").Ints
	f := part.All()
	f.MinTime = slices.Min(times) + 60e9
	f.MeasureNames = []string{"temperature"}
	f.Columns = []string{"time", "measure_value::double"}
	f.ProjectOnly = true
	b.ReportAllocs()
	i := 0
	cpu0 := cputime.Now()
	for b.Loop() {
		f.Dims = []part.DimFilter{{Name: "DeviceID", Values: []string{devs[(i*3600*7)%len(devs)]}}}
		n := 0
		err := pr.Scan(context.Background(), f, func(bt *columnar.Batch) error { n += bt.Len(); return nil })
		if err != nil || n != 3540 {
			b.Fatalf("%d points, %v", n, err)
		}
		i++
	}
	b.ReportMetric(float64((cputime.Now()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
