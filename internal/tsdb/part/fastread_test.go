package part

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// fastBatch: 3 measures × 7 devices of n points, INT64, TIMESTAMP and
// decimal DOUBLE value columns with NULLs at the given rate.
func fastBatch(r *rand.Rand, n int, nullRate float64) *columnar.Batch {
	b := &columnar.Batch{}
	tc := b.Add(ColTime, columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add(ColVersion, columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add(ColMeasureName, columnar.NewColumn(columnar.String, 0))
	dc := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	xc := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	ic := b.Add("measure_value::bigint", columnar.NewColumn(columnar.Int64, 0))
	sc := b.Add("measure_value::timestamp", columnar.NewColumn(columnar.Timestamp, 0))
	for _, m := range []string{"a", "b", "c"} {
		for d := range 7 {
			t := int64(1_700_000_000_000_000_000) + r.Int64N(1e9)
			x := float64(r.IntN(100000)) / 100
			for range n {
				t += 1e9 + r.Int64N(3)*1e6
				x = math.Round((x+float64(r.IntN(201)-100)/100)*100) / 100
				tc.AppendInt(t)
				vc.AppendInt(1 + r.Int64N(3))
				mc.AppendString(m)
				dc.AppendString(fmt.Sprintf("dev-%d", d))
				if r.Float64() < nullRate {
					xc.AppendNull()
					ic.AppendNull()
					sc.AppendNull()
					continue
				}
				xc.AppendFloat(x)
				ic.AppendInt(r.Int64() >> r.IntN(64))
				sc.AppendInt(t - r.Int64N(1e12))
			}
		}
	}
	return b
}

// TestFastMatchesGeneric reads parts through the fast page reader and
// through parquet-go's, with and without a page cache, whole and in
// ranges that cut pages, and wants the same batches.
func TestFastMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, tc := range []struct {
		n        int
		nullRate float64
		opts     WriterOptions
	}{
		{500, 0, WriterOptions{}},
		{500, 0.1, WriterOptions{PageRows: 256}},
		{300, 0.9, WriterOptions{PageRows: 100, RowGroupRows: 1000}},
		{1000, 0, WriterOptions{PageRows: 333, CompressionLevel: 1}},
		{200, 0.02, WriterOptions{PageRows: 64, NoDecimal: true}},
	} {
		t.Run(fmt.Sprintf("n=%d/nulls=%v/pageRows=%d", tc.n, tc.nullRate, tc.opts.PageRows), func(t *testing.T) {
			b := fastBatch(r, tc.n, tc.nullRate)
			path := filepath.Join(t.TempDir(), "p.parquet")
			if _, err := Write(path, b, []string{"DeviceID"}, tc.opts); err != nil {
				t.Fatal(err)
			}
			times := b.Col(ColTime).Ints
			lo, hi := slices.Min(times), slices.Max(times)
			filters := []Filter{All(), {MinTime: lo + (hi-lo)/3, MaxTime: hi - (hi-lo)/5, MeasureNames: []string{"b"}}}
			for k := range 5 {
				a := lo + r.Int64N(hi-lo)
				filters = append(filters, Filter{MinTime: a, MaxTime: a + r.Int64N(hi-a+1), Columns: []string{"measure_value::double", "measure_value::timestamp"}, ProjectOnly: k%2 == 0})
			}
			for _, f := range filters {
				var want []string
				for _, mode := range []string{"generic", "fast", "fast+cache"} {
					var opts []OpenOption
					if mode == "fast+cache" {
						opts = append(opts, WithPageCache(NewPageCache(64<<10)))
					}
					pr, err := Open(path, opts...)
					if err != nil {
						t.Fatal(err)
					}
					pr.noFast = mode == "generic"
					var got []string
					for range 2 { // twice: the second run hits the cache
						got = got[:0]
						err = pr.Scan(context.Background(), f, func(bt *columnar.Batch) error {
							for i := range bt.Len() {
								row := ""
								for _, c := range bt.Cols {
									row += fmt.Sprint(c.Value(i)) + "|"
								}
								got = append(got, row)
							}
							return nil
						})
						if err != nil {
							t.Fatalf("%s: %v", mode, err)
						}
					}
					if fast := pr.fastPages.Load(); (mode == "generic") != (fast == 0) {
						t.Fatalf("%s: %d pages decoded by the fast reader", mode, fast)
					}
					pr.Close()
					if want == nil {
						want = slices.Clone(got)
						if len(want) == 0 && f.MeasureNames == nil {
							t.Fatalf("filter %+v matched nothing", f)
						}
						continue
					}
					if !slices.Equal(got, want) {
						t.Fatalf("%s: %d rows differ from the generic reader's %d (filter %+v)", mode, len(got), len(want), f)
					}
				}
			}
		})
	}
}

// FuzzPageHeader: the header parser and the page decoder never panic on
// bytes, and reject what they cannot use.
func FuzzFastPage(f *testing.F) {
	b := fastBatch(rand.New(rand.NewPCG(1, 1)), 50, 0.1)
	path := filepath.Join(f.TempDir(), "p.parquet")
	if _, err := Write(path, b, []string{"DeviceID"}, WriterOptions{PageRows: 40}); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	pr, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	defer pr.Close()
	// Seeds: real pages of the time and decimal columns.
	for _, name := range []string{ColTime, "measure_value::double"} {
		c := pr.byName[name]
		_, oi, _ := pr.chunkIndex(0, pr.cols[c].leaf)
		for _, l := range oi.PageLocations[:3] {
			f.Add(raw[l.Offset:l.Offset+int64(l.CompressedPageSize)], c == pr.byName[name] && name != ColTime)
		}
	}
	f.Fuzz(func(t *testing.T, page []byte, decimal bool) {
		cm := &pr.cols[pr.byName[ColTime]]
		if decimal {
			cm = &pr.cols[pr.byName["measure_value::double"]]
		}
		s := &fastScratch{}
		n, err := s.hdr.parse(page)
		if err != nil || !s.hdr.fast() || s.hdr.numRows > 1<<16 || int(s.hdr.defLen) > len(page)-n {
			return
		}
		dst := columnar.NewColumn(cm.info.Type, 0)
		rows := int(s.hdr.numRows)
		if err := pr.decodePage(cm, page[n:], 0, rows, dst, s); err == nil && dst.Len() != rows {
			t.Fatalf("decoded %d rows of %d", dst.Len(), rows)
		}
	})
}
