package part_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// genOpts shapes a random, valid (sorted, duplicate-free) batch.
type genOpts struct {
	measures   []string
	devices    int
	regions    []string // region dimension; "" entries become NULL
	points     int      // per series
	step       int64    // ns between points
	allTypes   bool     // add BIGINT, VARCHAR, BOOLEAN, TIMESTAMP and a non-decimal DOUBLE column
	nullChance float64
}

var dims = []string{"DeviceID", "region"}

func genBatch(r *rand.Rand, o genOpts) *columnar.Batch {
	b := &columnar.Batch{}
	tc := b.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add("version", columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	dev := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	reg := b.Add("region", columnar.NewColumn(columnar.String, 0))
	dbl := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	var big, str, boo, ts, raw *columnar.Column
	if o.allTypes {
		big = b.Add("measure_value::bigint", columnar.NewColumn(columnar.Int64, 0))
		str = b.Add("measure_value::varchar", columnar.NewColumn(columnar.String, 0))
		boo = b.Add("measure_value::boolean", columnar.NewColumn(columnar.Bool, 0))
		ts = b.Add("measure_value::timestamp", columnar.NewColumn(columnar.Timestamp, 0))
		raw = b.Add("noise", columnar.NewColumn(columnar.Float64, 0))
	}
	ms := slices.Clone(o.measures)
	slices.Sort(ms)
	type series struct{ dev, reg string }
	var ss []series
	for d := range o.devices {
		ss = append(ss, series{fmt.Sprintf("dev-%05d", d), o.regions[d%len(o.regions)]})
	}
	// Sort order: DeviceID then region with NULL ("") first.
	slices.SortFunc(ss, func(a, b series) int {
		if c := strings.Compare(a.dev, b.dev); c != 0 {
			return c
		}
		return strings.Compare(a.reg, b.reg)
	})
	null := func() bool { return o.nullChance > 0 && r.Float64() < o.nullChance }
	for _, m := range ms {
		for _, s := range ss {
			t := int64(1_700_000_000_000_000_000) + r.Int64N(1000)*o.step
			x := float64(r.IntN(1000)) / 10
			for range o.points {
				t += o.step * (1 + r.Int64N(2))
				tc.AppendInt(t)
				vc.AppendInt(1 + r.Int64N(2))
				mc.AppendString(m)
				dev.AppendString(s.dev)
				if s.reg == "" {
					reg.AppendNull()
				} else {
					reg.AppendString(s.reg)
				}
				x = math.Round((x+float64(r.IntN(5)-2)*0.01)*100) / 100
				if null() {
					dbl.AppendNull()
				} else {
					dbl.AppendFloat(x)
				}
				if !o.allTypes {
					continue
				}
				if null() {
					big.AppendNull()
					str.AppendNull()
					boo.AppendNull()
					ts.AppendNull()
					raw.AppendNull()
					continue
				}
				big.AppendInt(r.Int64() - math.MaxInt64/2)
				str.AppendString([]string{"", "on", "off", "ünïcode"}[r.IntN(4)])
				boo.AppendBool(r.IntN(2) == 1)
				ts.AppendInt(t - r.Int64N(1e9))
				raw.AppendFloat([]float64{r.NormFloat64(), math.NaN(), math.Inf(-1), math.Copysign(0, -1), 1e300}[r.IntN(5)])
			}
		}
	}
	return b
}

func writePart(t testing.TB, b *columnar.Batch, opts part.WriterOptions) (string, part.Meta) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.parquet")
	m, err := part.Write(path, b, dims, opts)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return path, m
}

func openPart(t testing.TB, path string) *part.Reader {
	t.Helper()
	r, err := part.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// collect runs a scan and copies every batch into one.
func collect(t testing.TB, r *part.Reader, f part.Filter) (*columnar.Batch, part.ScanStats) {
	t.Helper()
	var out *columnar.Batch
	st, err := r.ScanWithStats(context.Background(), f, func(b *columnar.Batch) error {
		if err := b.Validate(); err != nil {
			return err
		}
		if out == nil {
			out = &columnar.Batch{}
			for i, n := range b.Names {
				out.Add(n, columnar.NewColumn(b.Cols[i].Type, 0))
			}
		}
		if !slices.Equal(out.Names, b.Names) {
			return fmt.Errorf("names changed: %v vs %v", out.Names, b.Names)
		}
		for i, c := range b.Cols {
			for j := range c.Len() {
				out.Cols[i].AppendFrom(c, j)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out, st
}

// sameValue compares two cells; floats by bits so -0.0 and NaN count.
func sameValue(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 && ok2 {
		return math.Float64bits(fa) == math.Float64bits(fb)
	}
	return a == b
}

// expect is the brute-force Scan: rows of b matching f, columns projected.
func expect(b *columnar.Batch, f part.Filter) (names []string, rows [][]any) {
	names = []string{"time", "version", "measure_name"}
	if f.ProjectOnly && len(f.Columns) > 0 {
		names = nil
	}
	if f.Columns == nil {
		for _, n := range b.Names {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	} else {
		for _, n := range f.Columns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
rows:
	for i := range b.Len() {
		t := b.Col("time").Ints[i]
		if t < f.MinTime || t > f.MaxTime {
			continue
		}
		if f.MeasureNames != nil && !slices.Contains(f.MeasureNames, b.Col("measure_name").Strs[i]) {
			continue
		}
		for _, d := range f.Dims {
			c := b.Col(d.Name)
			if c == nil || c.IsNull(i) {
				continue rows
			}
			if len(d.Values) > 0 && !slices.Contains(d.Values, c.Strs[i]) {
				continue rows
			}
			if !strings.HasPrefix(c.Strs[i], d.Prefix) {
				continue rows
			}
		}
		row := make([]any, len(names))
		for k, n := range names {
			row[k] = b.Col(n).Value(i)
		}
		rows = append(rows, row)
	}
	return names, rows
}

func checkScan(t *testing.T, r *part.Reader, b *columnar.Batch, f part.Filter) part.ScanStats {
	t.Helper()
	got, st := collect(t, r, f)
	names, want := expect(b, f)
	if len(want) == 0 {
		if got != nil && got.Len() != 0 {
			t.Fatalf("filter %+v: got %d rows, want none", f, got.Len())
		}
		return st
	}
	if got == nil {
		t.Fatalf("filter %+v: got no rows, want %d", f, len(want))
	}
	if !slices.Equal(got.Names, names) {
		t.Fatalf("filter %+v: columns %v, want %v", f, got.Names, names)
	}
	if got.Len() != len(want) {
		t.Fatalf("filter %+v: %d rows, want %d", f, got.Len(), len(want))
	}
	for i, row := range want {
		for k, v := range row {
			if g := got.Cols[k].Value(i); !sameValue(g, v) {
				t.Fatalf("filter %+v: row %d column %s = %v, want %v", f, i, names[k], g, v)
			}
			if got.Cols[k].Type != b.Col(names[k]).Type {
				t.Fatalf("column %s type %v, want %v", names[k], got.Cols[k].Type, b.Col(names[k]).Type)
			}
		}
	}
	if st.RowsMatched != int64(len(want)) {
		t.Fatalf("stats say %d rows matched, want %d", st.RowsMatched, len(want))
	}
	return st
}

func TestRoundTripAllTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	b := genBatch(r, genOpts{
		measures: []string{"temperature", "humidity"}, devices: 7, regions: []string{"", "eu", "us"},
		points: 500, step: 1e9, allTypes: true, nullChance: 0.1,
	})
	for _, opts := range []part.WriterOptions{{}, {RowGroupRows: 1000, PageRows: 100}, {RowGroupRows: 777, PageRows: 33, CompressionLevel: 4}} {
		t.Run(fmt.Sprintf("rg=%d/page=%d", opts.RowGroupRows, opts.PageRows), func(t *testing.T) {
			path, m := writePart(t, b, opts)
			pr := openPart(t, path)
			got := pr.Meta()
			if got.Rows != int64(b.Len()) || got.Series != 14 || got.FormatVersion != part.FormatVersion || got.Bytes != m.Bytes {
				t.Fatalf("meta %+v, write said %+v", got, m)
			}
			dbl, _ := got.Column("measure_value::double")
			noise, _ := got.Column("noise")
			if !dbl.Decimal || dbl.Scale != 2 || noise.Decimal {
				t.Fatalf("decimal detection: double %+v noise %+v", dbl, noise)
			}
			checkScan(t, pr, b, part.All())
		})
	}
}

func TestFilterMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	b := genBatch(r, genOpts{
		measures: []string{"temperature", "humidity", "voltage", "watt"}, devices: 40, regions: []string{"", "eu-west", "eu-north", "us"},
		points: 300, step: 1e9, allTypes: true, nullChance: 0.05,
	})
	path, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 5000, PageRows: 256})
	pr := openPart(t, path)
	// The same part without series statistics: measure and dimension
	// predicates then rest on the page index and row checks alone.
	oldPath, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 5000, PageRows: 256, NoSeriesStats: true})
	old := openPart(t, oldPath)
	// Both again through one small page cache (a few dozen pages), so that
	// scans hit, miss and evict; each filter runs twice on them.
	cache := part.NewPageCache(48 << 10)
	cached, oldCached := openCachedPart(t, path, cache), openCachedPart(t, oldPath, cache)
	ts := b.Col("time").Ints
	tmin, tmax := slices.Min(ts), slices.Max(ts)
	allCols := []string{"DeviceID", "region", "measure_value::double", "measure_value::bigint", "measure_value::varchar", "measure_value::boolean", "measure_value::timestamp", "noise"}
	for i := range 150 {
		f := part.All()
		if r.IntN(3) > 0 {
			a, z := tmin+r.Int64N(tmax-tmin+1), tmin+r.Int64N(tmax-tmin+1)
			f.MinTime, f.MaxTime = min(a, z), max(a, z)
		}
		if r.IntN(2) == 0 {
			f.MeasureNames = []string{[]string{"temperature", "humidity", "voltage", "watt", "nope"}[r.IntN(5)]}
			if r.IntN(2) == 0 {
				f.MeasureNames = append(f.MeasureNames, "watt")
			}
		}
		switch r.IntN(6) {
		case 5:
			// Several devices, one perhaps twice or absent, with a
			// second dimension's filter: the lead dimension's runs.
			f.Dims = append(f.Dims, part.DimFilter{Name: "DeviceID", Values: []string{fmt.Sprintf("dev-%05d", r.IntN(45)), fmt.Sprintf("dev-%05d", r.IntN(45)), fmt.Sprintf("dev-%05d", r.IntN(45))}},
				part.DimFilter{Name: "region", Values: []string{"us", "eu-west", "eu-north"}[:1+r.IntN(3)]})
		case 1:
			f.Dims = append(f.Dims, part.DimFilter{Name: "DeviceID", Values: []string{fmt.Sprintf("dev-%05d", r.IntN(45))}})
		case 2:
			f.Dims = append(f.Dims, part.DimFilter{Name: "DeviceID", Values: []string{fmt.Sprintf("dev-%05d", r.IntN(45)), fmt.Sprintf("dev-%05d", r.IntN(45))}})
		case 3:
			f.Dims = append(f.Dims, part.DimFilter{Name: "region", Prefix: []string{"eu", "eu-n", "u", "x", ""}[r.IntN(5)]})
		case 4:
			f.Dims = append(f.Dims, part.DimFilter{Name: "DeviceID", Prefix: fmt.Sprintf("dev-000%d", r.IntN(5))},
				part.DimFilter{Name: "region", Values: []string{"us", "eu-west"}})
		}
		if r.IntN(2) == 0 {
			f.Columns = []string{}
			for _, c := range allCols {
				if r.IntN(3) == 0 {
					f.Columns = append(f.Columns, c)
				}
			}
		}
		if r.IntN(2) == 0 {
			// Only the listed columns, which may include the fixed ones.
			f.ProjectOnly = true
			if f.Columns == nil {
				f.Columns = []string{}
			}
			for _, c := range []string{"time", "version", "measure_name"} {
				if r.IntN(3) == 0 {
					f.Columns = append(f.Columns, c)
				}
			}
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkScan(t, pr, b, f)
			checkScan(t, old, b, f)
			for range 2 {
				checkScan(t, cached, b, f)
				checkScan(t, oldCached, b, f)
			}
		})
	}
	if st := cache.Stats(); st.Hits == 0 || st.Misses == 0 || st.Bytes > 48<<10 {
		t.Errorf("page cache stats %+v: want hits, misses and at most 48 KiB", st)
	}
	t.Run("unknown dimension matches nothing", func(t *testing.T) {
		f := part.All()
		f.Dims = []part.DimFilter{{Name: "building"}}
		checkScan(t, pr, b, f)
	})
	t.Run("unknown projection column is an error", func(t *testing.T) {
		f := part.All()
		f.Columns = []string{"nope"}
		err := pr.Scan(context.Background(), f, func(*columnar.Batch) error { return nil })
		if !errors.Is(err, part.ErrInvalid) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fn error stops the scan", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := pr.Scan(context.Background(), part.All(), func(*columnar.Batch) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("err = %v after %d calls", err, calls)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := pr.Scan(ctx, part.All(), func(*columnar.Batch) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestConcurrentScans(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	b := genBatch(r, genOpts{measures: []string{"a", "b"}, devices: 20, regions: []string{"x"}, points: 200, step: 1e9})
	path, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 2000, PageRows: 128})
	pr := openPart(t, path)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			f := part.All()
			f.Dims = []part.DimFilter{{Name: "DeviceID", Values: []string{fmt.Sprintf("dev-%05d", i)}}}
			n := 0
			if err := pr.Scan(context.Background(), f, func(b *columnar.Batch) error { n += b.Len(); return nil }); err != nil {
				t.Error(err)
			}
			if n != 400 {
				t.Errorf("scan %d: %d rows, want 400", i, n)
			}
		})
	}
	wg.Wait()
}

func TestSkipping(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	b := genBatch(r, genOpts{measures: []string{"humidity", "temperature"}, devices: 50, regions: []string{"eu"}, points: 1000, step: 1e9})
	path, m := writePart(t, b, part.WriterOptions{RowGroupRows: 10_000, PageRows: 500})
	pr := openPart(t, path)
	if m.RowGroups != 10 {
		t.Fatalf("%d row groups", m.RowGroups)
	}
	// One series, all time: row-group statistics skip 9 of 10 groups, and
	// the page index skips most pages of the remaining one.
	f := part.All()
	f.MeasureNames = []string{"temperature"}
	f.Dims = []part.DimFilter{{Name: "DeviceID", Values: []string{"dev-00042"}}}
	st := checkScan(t, pr, b, f)
	t.Logf("one series: %+v", st)
	if st.RowGroupsSkipped != 9 || st.RowsRead > 1500 {
		t.Fatalf("one series: %+v", st)
	}
	// A narrow time range: every series is in it, but each page holds a
	// stretch of one or two series' time, so most pages are skipped.
	ts := b.Col("time").Ints
	mid := (slices.Min(ts) + slices.Max(ts)) / 2
	f = part.All()
	f.MinTime, f.MaxTime = mid, mid+10e9
	st = checkScan(t, pr, b, f)
	t.Logf("10 s window: %+v", st)
	if st.PagesSkipped < st.Pages/2 {
		t.Fatalf("narrow time range skipped too little: %+v", st)
	}
	// Outside the part: nothing is read.
	f.MinTime, f.MaxTime = 0, 1
	st = checkScan(t, pr, b, f)
	if st.RowsRead != 0 || st.PagesSkipped != st.Pages {
		t.Fatalf("disjoint range read rows: %+v", st)
	}
}

func TestWriteRejects(t *testing.T) {
	base := func() *columnar.Batch {
		r := rand.New(rand.NewPCG(5, 5))
		return genBatch(r, genOpts{measures: []string{"m"}, devices: 3, regions: []string{"", "eu"}, points: 3, step: 1e9})
	}
	dir := t.TempDir()
	tests := []struct {
		name   string
		mutate func(b *columnar.Batch) *columnar.Batch
		dims   []string
		opts   part.WriterOptions
		want   error
	}{
		{"nil batch", func(*columnar.Batch) *columnar.Batch { return nil }, dims, part.WriterOptions{}, part.ErrInvalid},
		{"empty", func(*columnar.Batch) *columnar.Batch { return &columnar.Batch{} }, dims, part.WriterOptions{}, part.ErrInvalid},
		{"no time", func(b *columnar.Batch) *columnar.Batch { b.Names[0] = "t"; return b }, dims, part.WriterOptions{}, part.ErrInvalid},
		{"time wrong type", func(b *columnar.Batch) *columnar.Batch { b.Cols[0].Type = columnar.Int64; return b }, dims, part.WriterOptions{}, part.ErrInvalid},
		{"null version", func(b *columnar.Batch) *columnar.Batch {
			b.Cols[1].Nulls = make([]bool, b.Len())
			b.Cols[1].Nulls[2] = true
			return b
		}, dims, part.WriterOptions{}, part.ErrInvalid},
		{"missing dim", nil, []string{"DeviceID", "building"}, part.WriterOptions{}, part.ErrInvalid},
		{"dim not string", nil, []string{"measure_value::double"}, part.WriterOptions{}, part.ErrInvalid},
		{"dim twice", nil, []string{"DeviceID", "DeviceID"}, part.WriterOptions{}, part.ErrInvalid},
		{"dim is required column", nil, []string{"measure_name"}, part.WriterOptions{}, part.ErrInvalid},
		{"ragged", func(b *columnar.Batch) *columnar.Batch { b.Cols[5].Floats = b.Cols[5].Floats[:1]; return b }, dims, part.WriterOptions{}, part.ErrInvalid},
		{"duplicate name", func(b *columnar.Batch) *columnar.Batch { b.Names[4] = "DeviceID"; return b }, []string{"DeviceID"}, part.WriterOptions{}, part.ErrInvalid},
		{"bad options", nil, dims, part.WriterOptions{PageRows: -1}, part.ErrInvalid},
		{"time goes back", func(b *columnar.Batch) *columnar.Batch { b.Cols[0].Ints[1] = b.Cols[0].Ints[0] - 1; return b }, dims, part.WriterOptions{}, part.ErrUnsorted},
		{"duplicate", func(b *columnar.Batch) *columnar.Batch { b.Cols[0].Ints[1] = b.Cols[0].Ints[0]; return b }, dims, part.WriterOptions{}, part.ErrDuplicate},
		{"series goes back", func(b *columnar.Batch) *columnar.Batch {
			d := b.Col("DeviceID")
			d.Strs[0], d.Strs[len(d.Strs)-1] = d.Strs[len(d.Strs)-1], d.Strs[0]
			return b
		}, dims, part.WriterOptions{}, part.ErrUnsorted},
		{"null dimension must sort first", nil, []string{"region", "DeviceID"}, part.WriterOptions{}, part.ErrUnsorted},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base()
			if tt.mutate != nil {
				b = tt.mutate(b)
			}
			path := filepath.Join(dir, fmt.Sprintf("%d.parquet", i))
			_, err := part.Write(path, b, tt.dims, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("failed Write left %s behind", path)
			}
		})
	}
	t.Run("existing part is not replaced", func(t *testing.T) {
		path := filepath.Join(dir, "exists.parquet")
		if _, err := part.Write(path, base(), dims, part.WriterOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := part.Write(path, base(), dims, part.WriterOptions{}); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v", err)
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Fatalf("temp file %s left behind", e.Name())
			}
		}
	})
}

// TestStandardReader reads a part with parquet-go's generic row reader, not
// this package's schema code, and checks it sees the same rows.
func TestStandardReader(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	b := genBatch(r, genOpts{measures: []string{"humidity", "temperature"}, devices: 5, regions: []string{"", "eu"}, points: 300, step: 1e9, allTypes: true, nullChance: 0.1})
	path, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 1000, PageRows: 128})
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup(part.KeyFormatVersion); v != strconv.Itoa(part.FormatVersion) {
		t.Fatalf("format version key %q", v)
	}
	if n := len(f.Metadata().RowGroups[0].SortingColumns); n != 4 {
		t.Fatalf("%d sorting columns declared, want 4", n)
	}
	cols := f.Schema().Columns()
	idx := map[string]int{}
	for i, p := range cols {
		idx[p[0]] = i
	}
	var rows []parquet.Row
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 100)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				rows = append(rows, row.Clone())
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	if len(rows) != b.Len() {
		t.Fatalf("standard reader saw %d rows, want %d", len(rows), b.Len())
	}
	dblNode, _ := f.Schema().Lookup("measure_value::double")
	lt := dblNode.Node.Type().LogicalType()
	if dec, ok := lt.Value.(*format.DecimalType); !ok || dec.Scale != 2 || dec.Precision != 18 {
		t.Fatalf("double column logical type %v", lt)
	}
	for i, row := range rows {
		for k, name := range b.Names {
			c := b.Col(name)
			v := row[idx[name]]
			if c.IsNull(i) != v.IsNull() {
				t.Fatalf("row %d %s: null %v vs %v", i, name, c.IsNull(i), v.IsNull())
			}
			if c.IsNull(i) {
				continue
			}
			var ok bool
			switch {
			case name == "measure_value::double":
				ok = v.Int64() == int64(math.Round(c.Floats[i]*100))
			case c.Type == columnar.Float64:
				ok = math.Float64bits(v.Double()) == math.Float64bits(c.Floats[i])
			case c.Type == columnar.Int64 || c.Type == columnar.Timestamp:
				ok = v.Int64() == c.Ints[i]
			case c.Type == columnar.String:
				ok = v.String() == c.Strs[i]
			case c.Type == columnar.Bool:
				ok = v.Boolean() == c.Bools[i]
			}
			if !ok {
				t.Fatalf("row %d column %d %s: standard reader %v, want %v", i, k, name, v, c.Value(i))
			}
		}
	}
}

func TestNewerFormatRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Time int64 `parquet:"time"`
	}
	w := parquet.NewGenericWriter[row](f, parquet.KeyValueMetadata(part.KeyFormatVersion, strconv.Itoa(part.FormatVersion+1)))
	if _, err := w.Write([]row{{1}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := part.Open(path); !errors.Is(err, part.ErrFormatVersion) {
		t.Fatalf("err = %v, want ErrFormatVersion", err)
	}
}

func TestCorruptParts(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	b := genBatch(r, genOpts{measures: []string{"m", "n"}, devices: 4, regions: []string{"", "eu"}, points: 200, step: 1e9, allTypes: true, nullChance: 0.1})
	path, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 500, PageRows: 64})
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	try := func(t *testing.T, data []byte) (openErr, scanErr error) {
		t.Helper()
		pr, err := part.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return err, nil
		}
		return nil, pr.Scan(context.Background(), part.All(), func(*columnar.Batch) error { return nil })
	}
	t.Run("not a sluice part", func(t *testing.T) {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[struct{ A int64 }](&buf)
		w.Write([]struct{ A int64 }{{1}})
		w.Close()
		if err, _ := try(t, buf.Bytes()); !errors.Is(err, part.ErrCorrupt) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 3, 8, 100, len(good) / 2, len(good) - 9, len(good) - 1} {
			if err, _ := try(t, good[:n]); !errors.Is(err, part.ErrCorrupt) {
				t.Fatalf("truncated to %d: err = %v", n, err)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for i := range 50 {
			g := make([]byte, r.IntN(4096))
			for j := range g {
				g[j] = byte(r.Uint32())
			}
			if i%2 == 0 && len(g) > 8 {
				copy(g, "PAR1")
				copy(g[len(g)-4:], "PAR1")
			}
			if err, _ := try(t, g); !errors.Is(err, part.ErrCorrupt) {
				t.Fatalf("garbage: err = %v", err)
			}
		}
	})
	t.Run("flipped footer bytes", func(t *testing.T) {
		footerLen := int(uint32(good[len(good)-8]) | uint32(good[len(good)-7])<<8 | uint32(good[len(good)-6])<<16 | uint32(good[len(good)-5])<<24)
		start := len(good) - 8 - footerLen
		for range 150 {
			d := bytes.Clone(good)
			for range 1 + r.IntN(3) {
				d[start+r.IntN(footerLen+8)] ^= byte(1 + r.IntN(255))
			}
			openErr, scanErr := try(t, d)
			for _, err := range []error{openErr, scanErr} {
				if err != nil && !errors.Is(err, part.ErrCorrupt) && !errors.Is(err, part.ErrFormatVersion) {
					t.Fatalf("unexpected error kind: %v", err)
				}
			}
		}
	})
	t.Run("flipped data bytes", func(t *testing.T) {
		for range 150 {
			d := bytes.Clone(good)
			d[4+r.IntN(len(d)/2)] ^= byte(1 + r.IntN(255))
			openErr, scanErr := try(t, d)
			for _, err := range []error{openErr, scanErr} {
				if err != nil && !errors.Is(err, part.ErrCorrupt) {
					t.Fatalf("unexpected error kind: %v", err)
				}
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	r := rand.New(rand.NewPCG(8, 8))
	b := genBatch(r, genOpts{measures: []string{"m"}, devices: 2, regions: []string{"", "eu"}, points: 20, step: 1e9, allTypes: true, nullChance: 0.2})
	path := filepath.Join(f.TempDir(), "seed.parquet")
	if _, err := part.Write(path, b, dims, part.WriterOptions{PageRows: 8, RowGroupRows: 30, Minutes: true}); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := part.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, part.ErrCorrupt) && !errors.Is(err, part.ErrFormatVersion) {
				t.Fatalf("error of unexpected kind: %v", err)
			}
			return
		}
		err = pr.Scan(context.Background(), part.All(), func(b *columnar.Batch) error { return b.Validate() })
		if err != nil && !errors.Is(err, part.ErrCorrupt) {
			t.Fatalf("scan error of unexpected kind: %v", err)
		}
		ss, err := pr.Series()
		if err != nil && !errors.Is(err, part.ErrCorrupt) {
			t.Fatalf("series statistics error of unexpected kind: %v", err)
		}
		if _, err := pr.Minutes(); err != nil && !errors.Is(err, part.ErrCorrupt) {
			t.Fatalf("pre-aggregates error of unexpected kind: %v", err)
		}
		for _, s := range ss {
			if _, err := pr.AppendTimes(context.Background(), nil, s.Start, s.Start+s.Rows); err != nil && !errors.Is(err, part.ErrCorrupt) {
				t.Fatalf("AppendTimes error of unexpected kind: %v", err)
			}
		}
	})
}

// TestBatchesEndAtPages: a scan longer than one batch cuts its batches
// where pages start, so that no page is decompressed twice, and still
// returns every row once. Series of 3,600 rows go two to a 8,192-row page.
func TestBatchesEndAtPages(t *testing.T) {
	b := seedBatch(50, 3600)
	path := filepath.Join(t.TempDir(), "p.parquet")
	if _, err := part.Write(path, b, []string{"DeviceID"}, part.WriterOptions{PageRows: 8192}); err != nil {
		t.Fatal(err)
	}
	r := openPart(t, path)
	for _, only := range []bool{false, true} {
		f := part.All()
		f.Columns = []string{"measure_value::double"}
		f.ProjectOnly = only
		var lens []int
		err := r.Scan(context.Background(), f, func(bt *columnar.Batch) error {
			lens = append(lens, bt.Len())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for i, n := range lens {
			total += n
			if i < len(lens)-1 && n%7200 != 0 {
				t.Errorf("projectOnly=%v: batch %d of %d rows ends inside a page of 7,200", only, i, n)
			}
		}
		if total != b.Len() || len(lens) < 2 {
			t.Errorf("projectOnly=%v: %d rows in %d batches, want %d in several", only, total, len(lens), b.Len())
		}
		checkScan(t, r, b, f)
	}
}

// TestLeadDimensionRuns: the series of a measure are found by binary search
// on the first dimension's values; a NULL sorts first and never equals a
// value, not even the empty string.
func TestLeadDimensionRuns(t *testing.T) {
	b := &columnar.Batch{}
	tc := b.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add("version", columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	dev := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	reg := b.Add("region", columnar.NewColumn(columnar.String, 0))
	val := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	null := "<null>"
	for _, m := range []string{"hum", "temp"} {
		for _, d := range []string{null, "", "a", "b", "c"} {
			for _, g := range []string{null, "x"} {
				for k := range 3 {
					tc.AppendInt(int64(1e18) + int64(k)*1e9)
					vc.AppendInt(1)
					mc.AppendString(m)
					if d == null {
						dev.AppendNull()
					} else {
						dev.AppendString(d)
					}
					if g == null {
						reg.AppendNull()
					} else {
						reg.AppendString(g)
					}
					val.AppendFloat(float64(k))
				}
			}
		}
	}
	path, _ := writePart(t, b, part.WriterOptions{PageRows: 4})
	pr := openPart(t, path)
	for _, devs := range [][]string{{""}, {"a", "c"}, {"zz"}, {"", "b"}, {"c", "a", "a"}} {
		for _, measures := range [][]string{nil, {"temp"}} {
			for _, regs := range [][]string{nil, {"x"}} {
				f := part.All()
				f.MeasureNames = measures
				f.Dims = []part.DimFilter{{Name: "DeviceID", Values: devs}}
				if regs != nil {
					f.Dims = append(f.Dims, part.DimFilter{Name: "region", Values: regs})
				}
				t.Run(fmt.Sprint(devs, measures, regs), func(t *testing.T) { checkScan(t, pr, b, f) })
			}
		}
	}
}
