package part

import (
	"math/rand/v2"
	"path/filepath"
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
