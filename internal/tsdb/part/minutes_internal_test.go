package part

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// FuzzDecodeMinutes feeds KeyMinutes bodies (decompressed, so that the
// fuzzer reaches the layout rather than zstd's checks) to the decoder
// against a real part's series: it must not panic, and what it accepts
// must keep the invariants MinuteAggregates relies on.
func FuzzDecodeMinutes(f *testing.F) {
	b := &columnar.Batch{}
	tc := b.Add(ColTime, columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add(ColVersion, columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add(ColMeasureName, columnar.NewColumn(columnar.String, 0))
	dc := b.Add("d", columnar.NewColumn(columnar.String, 0))
	xc := b.Add("x", columnar.NewColumn(columnar.Float64, 0))
	yc := b.Add("y", columnar.NewColumn(columnar.Float64, 0))
	r := rand.New(rand.NewPCG(3, 3))
	for _, d := range []string{"a", "b"} {
		for s := range 150 {
			tc.AppendInt(int64(s) * 1e9)
			vc.AppendInt(1)
			mc.AppendString("m")
			dc.AppendString(d)
			xc.AppendFloat(float64(r.IntN(1000)) / 10)
			if r.IntN(5) == 0 {
				yc.AppendNull()
			} else {
				yc.AppendFloat(r.Float64())
			}
		}
	}
	path := filepath.Join(f.TempDir(), "p.parquet")
	if _, err := Write(path, b, []string{"d"}, WriterOptions{Minutes: true}); err != nil {
		f.Fatal(err)
	}
	pr, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	defer pr.Close()
	series, err := pr.Series()
	if err != nil {
		f.Fatal(err)
	}
	meta := pr.Meta()
	raw, _, err := pr.footerBytes(KeyMinutes)
	if err != nil {
		f.Fatal(err)
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		f.Fatal(err)
	}
	body, err := dec.DecodeAll(raw[1:], nil)
	dec.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeMinutesBody(body, &meta, series, minutesEncoding)
		if err != nil {
			return
		}
		for k, ms := range m.Series {
			row := series[k].Start
			for _, s := range ms {
				if s.Start != row || s.Rows <= 0 || s.MinTime > s.MaxTime || minuteOf(s.MinTime) != s.Minute || minuteOf(s.MaxTime) != s.Minute {
					t.Fatalf("series %d: bad minute %+v", k, s)
				}
				for _, v := range s.Values {
					if v.Count < 0 || v.Count > s.Rows {
						t.Fatalf("series %d: bad count in %+v", k, s)
					}
				}
				row += s.Rows
			}
			if row != series[k].Start+series[k].Rows {
				t.Fatalf("series %d: minutes cover %d rows", k, row-series[k].Start)
			}
		}
	})
}

// TestMinutesOtherEncoding: a KeyMinutes of another version (1, written
// before this layout, or a future one) reads as absent, not as an error
// and never misread, so queries scan the rows.
func TestMinutesOtherEncoding(t *testing.T) {
	meta := &Meta{Rows: 1}
	for _, v := range []byte{0, 1, minutesEncoding + 1, 255} {
		if m, err := decodeMinutes([]byte{v, 1, 2, 3}, meta, nil); m != nil || err != nil {
			t.Errorf("encoding %d: %v, %v; want nil, nil", v, m, err)
		}
	}
	if _, err := decodeMinutes(nil, meta, nil); err == nil {
		t.Error("empty KeyMinutes accepted")
	}
}

// TestTimeExp: timeExp finds the largest power of ten up to 10^9 that
// divides every time, as a row-by-row search does.
func TestTimeExp(t *testing.T) {
	naive := func(times []int64) int {
		exp := 9
		for _, x := range times {
			for exp > 0 && x%pow10[exp] != 0 {
				exp--
			}
		}
		return exp
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		times := make([]int64, r.IntN(20))
		for i := range times {
			times[i] = (r.Int64N(1e12) - 5e11) * pow10[r.IntN(10)]
		}
		if got, want := timeExp(times), naive(times); got != want {
			t.Fatalf("timeExp(%v) = %d, want %d", times, got, want)
		}
	}
}

// TestMinutesAtTimeLimits: series whose rows reach the first and the last
// minute of int64 nanoseconds split into minutes as anywhere else.
func TestMinutesAtTimeLimits(t *testing.T) {
	b := &columnar.Batch{}
	tc := b.Add(ColTime, columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add(ColVersion, columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add(ColMeasureName, columnar.NewColumn(columnar.String, 0))
	xc := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	const lo, hi = -1 << 63, 1<<63 - 1
	rows := []struct {
		m     string
		times []int64
	}{
		{"a", []int64{lo, lo + 1, lo + 59e9, lo + 60e9, lo + 61e9}},
		{"b", []int64{hi - 130e9, hi - 70e9, hi - 3, hi - 1, hi}},
	}
	for _, s := range rows {
		for i, ts := range s.times {
			tc.AppendInt(ts)
			vc.AppendInt(1)
			mc.AppendString(s.m)
			xc.AppendFloat(float64(i))
		}
	}
	path := filepath.Join(t.TempDir(), "p.parquet")
	if _, err := Write(path, b, nil, WriterOptions{Minutes: true}); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, err := r.Minutes()
	if err != nil || m == nil {
		t.Fatalf("Minutes() = %v, %v", m, err)
	}
	for k, s := range rows {
		var got []int64 // rows per minute
		for _, ms := range m.Series[k] {
			got = append(got, ms.Rows)
		}
		var want []int64
		for i, ts := range s.times {
			if i == 0 || minuteOf(ts) != minuteOf(s.times[i-1]) {
				want = append(want, 0)
			}
			want[len(want)-1]++
		}
		if !slices.Equal(got, want) {
			t.Errorf("series %s: rows per minute %v, want %v", s.m, got, want)
		}
	}
}
