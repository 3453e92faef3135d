package part_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// TestSeriesStats checks the footer's series statistics against the batch
// that was written, and AppendTimes against its time column.
func TestSeriesStats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	b := genBatch(r, genOpts{
		measures: []string{"temperature", "humidity"}, devices: 30, regions: []string{"", "eu-west", "us"},
		points: 200, step: 1e9,
	})
	path, meta := writePart(t, b, part.WriterOptions{RowGroupRows: 1500, PageRows: 128})
	pr := openPart(t, path)
	got, err := pr.Series()
	if err != nil {
		t.Fatal(err)
	}
	// Brute force: runs of equal (measure, DeviceID, region).
	ts := b.Col("time").Ints
	mn, dev, reg := b.Col("measure_name"), b.Col("DeviceID"), b.Col("region")
	var want []part.SeriesStat
	for i := range b.Len() {
		same := i > 0 && mn.Strs[i] == mn.Strs[i-1] && dev.Strs[i] == dev.Strs[i-1] && reg.IsNull(i) == reg.IsNull(i-1) && reg.Strs[i] == reg.Strs[i-1]
		if same {
			w := &want[len(want)-1]
			w.Rows++
			w.MaxTime = ts[i]
			continue
		}
		s := part.SeriesStat{Measure: mn.Strs[i], Dims: []string{dev.Strs[i], reg.Strs[i]}, Start: int64(i), Rows: 1, MinTime: ts[i], MaxTime: ts[i]}
		if reg.IsNull(i) {
			s.Dims[1] = ""
			s.Nulls = []bool{false, true}
		}
		want = append(want, s)
	}
	if len(got) != len(want) || len(got) != meta.Series {
		t.Fatalf("%d series, want %d (meta %d)", len(got), len(want), meta.Series)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Measure != w.Measure || !slices.Equal(g.Dims, w.Dims) || !slices.Equal(g.Nulls, w.Nulls) || g.Start != w.Start || g.Rows != w.Rows || g.MinTime != w.MinTime || g.MaxTime != w.MaxTime {
			t.Fatalf("series %d = %+v, want %+v", i, g, w)
		}
	}
	for range 50 {
		lo := r.Int64N(int64(len(ts)))
		hi := lo + r.Int64N(int64(len(ts))-lo+1)
		prefix := []int64{-1}
		out, err := pr.AppendTimes(context.Background(), prefix, lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		if out[0] != -1 || !slices.Equal(out[1:], ts[lo:hi]) {
			t.Fatalf("AppendTimes(%d, %d) = %d values, want %d", lo, hi, len(out)-1, hi-lo)
		}
	}
	if _, err := pr.AppendTimes(context.Background(), nil, 5, int64(len(ts))+1); err == nil {
		t.Fatal("AppendTimes past the end: no error")
	}

	// A part written without them (as before they existed) has none.
	old, _ := writePart(t, b, part.WriterOptions{NoSeriesStats: true})
	if s, err := openPart(t, old).Series(); s != nil || err != nil {
		t.Fatalf("part without series statistics: Series() = %d series, %v", len(s), err)
	}
}
