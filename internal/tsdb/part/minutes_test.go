package part_test

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// TestMinutes checks the footer's per-minute pre-aggregates against the
// batch that was written (brute force per series and epoch minute), and
// AppendFloats against its value columns.
func TestMinutes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, o := range []genOpts{
		{measures: []string{"temperature", "humidity"}, devices: 20, regions: []string{"", "eu"}, points: 300, step: 1e9},
		{measures: []string{"a"}, devices: 5, regions: []string{"x"}, points: 500, step: 7_300_000_000, allTypes: true, nullChance: 0.3},
	} {
		b := genBatch(r, o)
		path, _ := writePart(t, b, part.WriterOptions{RowGroupRows: 1000, PageRows: 100, Minutes: true})
		pr := openPart(t, path)
		series, err := pr.Series()
		if err != nil {
			t.Fatal(err)
		}
		m, err := pr.Minutes()
		if err != nil || m == nil {
			t.Fatalf("Minutes() = %v, %v", m, err)
		}
		var want []string
		for i, n := range b.Names {
			if b.Cols[i].Type == columnar.Float64 {
				want = append(want, n)
			}
		}
		if len(m.Columns) != len(want) {
			t.Fatalf("columns %v, want %v", m.Columns, want)
		}
		ts := b.Col("time").Ints
		for k, st := range series {
			row := st.Start
			for _, ms := range m.Series[k] {
				if ms.Start != row || ms.Rows <= 0 {
					t.Fatalf("series %d minute %d: rows [%d, +%d), want start %d", k, ms.Minute, ms.Start, ms.Rows, row)
				}
				lo, hi := ms.Start, ms.Start+ms.Rows
				for i := lo; i < hi; i++ {
					if ts[i]/part.Minute != ms.Minute { // times are positive here
						t.Fatalf("series %d: row %d at %d is not in minute %d", k, i, ts[i], ms.Minute)
					}
				}
				if hi < st.Start+st.Rows && ts[hi]/part.Minute == ms.Minute {
					t.Fatalf("series %d minute %d ends early", k, ms.Minute)
				}
				if ms.MinTime != ts[lo] || ms.MaxTime != ts[hi-1] {
					t.Fatalf("series %d minute %d: times %d..%d, want %d..%d", k, ms.Minute, ms.MinTime, ms.MaxTime, ts[lo], ts[hi-1])
				}
				for c, name := range m.Columns {
					col := b.Col(name)
					var a part.ValueAgg
					for i := lo; i < hi; i++ {
						if !col.IsNull(int(i)) {
							a.Add(col.Floats[i])
						}
					}
					if !closeAgg(ms.Values[c], a) {
						t.Fatalf("series %d minute %d column %s: %+v, want %+v", k, ms.Minute, name, ms.Values[c], a)
					}
				}
				row = hi
			}
			if row != st.Start+st.Rows {
				t.Fatalf("series %d: minutes cover %d rows, want %d", k, row-st.Start, st.Rows)
			}
		}
		for range 30 {
			lo := r.Int64N(int64(len(ts)))
			hi := lo + r.Int64N(int64(len(ts))-lo+1)
			for _, name := range m.Columns {
				dst := columnar.NewColumn(columnar.Float64, 0)
				if err := pr.AppendFloats(context.Background(), dst, name, lo, hi); err != nil {
					t.Fatal(err)
				}
				src := b.Col(name)
				if dst.Len() != int(hi-lo) {
					t.Fatalf("AppendFloats(%s, %d, %d): %d values", name, lo, hi, dst.Len())
				}
				for i := range dst.Len() {
					j := int(lo) + i
					if dst.IsNull(i) != src.IsNull(j) || (!src.IsNull(j) && !sameAgg(part.ValueAgg{Sum: dst.Floats[i]}, part.ValueAgg{Sum: src.Floats[j]})) {
						t.Fatalf("AppendFloats(%s) row %d differs", name, j)
					}
				}
			}
		}
	}
	b := genBatch(r, genOpts{measures: []string{"a"}, devices: 2, regions: []string{"x"}, points: 10, step: 1e9})
	for _, o := range []part.WriterOptions{{NoSeriesStats: true, Minutes: true}, {}} {
		old, _ := writePart(t, b, o)
		if m, err := openPart(t, old).Minutes(); m != nil || err != nil {
			t.Fatalf("part written with %+v: Minutes() = %v, %v", o, m, err)
		}
	}
}

// TestMinutesSize logs what the index costs on seed-shaped data.
func TestMinutesSize(t *testing.T) {
	// What the index costs on seed-shaped data (50 devices × 4 measures ×
	// 3600 s): logged, not held to a target.
	seed := seedBatch(50, 3600)
	var size [2]int64
	for i, on := range []bool{false, true} {
		m, err := part.Write(filepath.Join(t.TempDir(), "p.parquet"), seed, []string{"DeviceID"}, part.WriterOptions{Minutes: on})
		if err != nil {
			t.Fatal(err)
		}
		size[i] = m.Bytes
	}
	t.Logf("per-minute pre-aggregates: %d bytes, %.3f bytes/point (part without them: %.3f)",
		size[1]-size[0], float64(size[1]-size[0])/float64(seed.Len()), float64(size[0])/float64(seed.Len()))
}

func sameAgg(a, b part.ValueAgg) bool {
	same := func(x, y float64) bool { return x == y || (x != x && y != y) }
	return a.Count == b.Count && same(a.Sum, b.Sum) && same(a.Min, b.Min) && same(a.Max, b.Max)
}

// closeAgg is sameAgg with sums compared to a relative 1e-12: a decimal
// column's sum is the exact sum of its mantissas, rounded once, where a
// brute-force float64 sum rounds at every addition.
func closeAgg(a, b part.ValueAgg) bool {
	if math.IsNaN(b.Sum) || math.IsInf(b.Sum, 0) {
		return sameAgg(a, b)
	}
	c := a
	c.Sum = b.Sum
	return sameAgg(c, b) && math.Abs(a.Sum-b.Sum) <= 1e-12*max(1, math.Abs(b.Sum))
}

// TestMinutesDecimal checks the integer path: a DOUBLE column stored as
// DECIMAL(18, s) gets the exact sum of its mantissas (rounded once) and
// bit-exact min and max; a column whose minute sums would overflow int64
// falls back to float64 (sums added in row order) without disturbing the
// other columns of the part.
func TestMinutesDecimal(t *testing.T) {
	b := &columnar.Batch{}
	tc := b.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add("version", columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	dc := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	small := b.Add("small", columnar.NewColumn(columnar.Float64, 0)) // scale 1, sums differ from float addition
	huge := b.Add("huge", columnar.NewColumn(columnar.Float64, 0))   // scale 0, 60 × 5e17 overflows int64
	const t0 = int64(1_767_225_600_000_000_000)
	r := rand.New(rand.NewPCG(5, 5))
	for _, d := range []string{"a", "b"} {
		for s := range 180 {
			tc.AppendInt(t0 + int64(s)*1e9)
			vc.AppendInt(1)
			mc.AppendString("m")
			dc.AppendString(d)
			small.AppendFloat(float64(r.IntN(2000)-1000) / 10)
			if s%7 == 3 {
				huge.AppendNull()
			} else {
				huge.AppendFloat(5e17 + float64(r.IntN(1000))*64) // exact in float64
			}
		}
	}
	path := filepath.Join(t.TempDir(), "p.parquet")
	meta, err := part.Write(path, b, []string{"DeviceID"}, part.WriterOptions{Minutes: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		scale int
	}{{"small", 1}, {"huge", 0}} {
		if info, _ := meta.Column(c.name); !info.Decimal || info.Scale != c.scale {
			t.Fatalf("column %s stored as %+v, want DECIMAL(18, %d)", c.name, info, c.scale)
		}
	}
	pr := openPart(t, path)
	m, err := pr.Minutes()
	if err != nil || m == nil {
		t.Fatalf("Minutes() = %v, %v", m, err)
	}
	series, err := pr.Series()
	if err != nil {
		t.Fatal(err)
	}
	inexact := 0 // minutes where float addition would have been off
	for k := range series {
		if len(m.Series[k]) != 3 {
			t.Fatalf("series %d: %d minutes, want 3", k, len(m.Series[k]))
		}
		for _, ms := range m.Series[k] {
			lo, hi := int(ms.Start), int(ms.Start+ms.Rows)
			// small: exact mantissa sum, rounded once.
			var mant int64
			var rowOrder part.ValueAgg
			for i := lo; i < hi; i++ {
				x, ok := enc.Mantissa(small.Floats[i], 1)
				if !ok {
					t.Fatalf("row %d: %v has no mantissa at scale 1", i, small.Floats[i])
				}
				mant += x
				rowOrder.Add(small.Floats[i])
			}
			want := rowOrder
			want.Sum = enc.FromMantissa(mant, 1)
			if got := ms.Values[m.Column("small")]; !sameAgg(got, want) {
				t.Fatalf("series %d minute %d small: %+v, want %+v", k, ms.Minute, got, want)
			}
			if want.Sum != rowOrder.Sum {
				inexact++
			}
			// huge: float64 fallback, sums in row order like ValueAgg.Add.
			var f part.ValueAgg
			for i := lo; i < hi; i++ {
				if !huge.IsNull(i) {
					f.Add(huge.Floats[i])
				}
			}
			if got := ms.Values[m.Column("huge")]; !sameAgg(got, f) {
				t.Fatalf("series %d minute %d huge: %+v, want %+v", k, ms.Minute, got, f)
			}
		}
	}
	if inexact == 0 {
		t.Fatal("no minute's float64 sum differs from the exact one: the test proves nothing")
	}
}
