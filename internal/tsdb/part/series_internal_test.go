package part

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// FuzzDecodeSeries: KeySeries' decoder never panics, and what it accepts
// is consistent with the part's meta.
func FuzzDecodeSeries(f *testing.F) {
	b := fastBatch(rand.New(rand.NewPCG(3, 3)), 30, 0)
	path := filepath.Join(f.TempDir(), "p.parquet")
	if _, err := Write(path, b, []string{"DeviceID"}, WriterOptions{}); err != nil {
		f.Fatal(err)
	}
	pr, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	defer pr.Close()
	raw, _, err := pr.footerBytes(KeySeries)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	meta := pr.Meta()
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeSeriesStats(b, &meta)
		if err != nil || got == nil {
			return
		}
		var rows int64
		for _, s := range got {
			if s.Start != rows || s.MinTime < meta.MinTime || s.MaxTime > meta.MaxTime || s.MinTime > s.MaxTime || len(s.Dims) != len(meta.Dims) {
				t.Fatalf("inconsistent series %+v", s)
			}
			rows += s.Rows
		}
		if rows != meta.Rows || len(got) != meta.Series {
			t.Fatalf("%d series of %d rows, meta %d of %d", len(got), rows, meta.Series, meta.Rows)
		}
	})
}

// An encoding this reader does not know reads as absent (scans fall back
// to the rows), not as an error.
func TestSeriesOtherEncoding(t *testing.T) {
	meta := &Meta{Rows: 1, Series: 1}
	for _, v := range []byte{0, 2, 4, 255} {
		if s, err := decodeSeriesStats([]byte{v, 1, 2, 3}, meta); s != nil || err != nil {
			t.Errorf("encoding %d: %v, %v; want nil, nil", v, s, err)
		}
	}
}
