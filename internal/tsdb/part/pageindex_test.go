package part

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestColumnIndexesKept: a part keeps the column index of time (and of
// measure_name and the dimensions without series statistics), plus the
// first chunk's, which parquet-go needs to find the others; every chunk
// keeps its offset index; parquet-go reads them all back.
func TestColumnIndexesKept(t *testing.T) {
	b := fastBatch(rand.New(rand.NewPCG(2, 2)), 400, 0.05)
	for _, noSeries := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "p.parquet")
		if _, err := Write(path, b, []string{"DeviceID"}, WriterOptions{PageRows: 100, RowGroupRows: 3000, NoSeriesStats: noSeries}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		md := pf.Metadata()
		ci, oi := pf.ColumnIndexes(), pf.OffsetIndexes()
		nc := len(md.RowGroups[0].Columns)
		if len(md.RowGroups) < 3 || len(oi) != len(md.RowGroups)*nc {
			t.Fatalf("%d row groups, %d offset indexes", len(md.RowGroups), len(oi))
		}
		for g, rg := range md.RowGroups {
			for c, cc := range rg.Columns {
				name := cc.MetaData.PathInSchema[0]
				k := g*nc + c
				want := name == ColTime || (g == 0 && c == 0) || (noSeries && (name == ColMeasureName || name == "DeviceID"))
				np := len(oi[k].PageLocations)
				if np == 0 {
					t.Fatalf("row group %d %s: no offset index", g, name)
				}
				if got := len(ci[k].MinValues) == np && len(ci[k].NullPages) == np; got != want {
					t.Errorf("noSeries=%v row group %d %s: column index %v, want %v", noSeries, g, name, got, want)
				}
			}
		}
		f.Close()
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !r.hasIndex {
			t.Error("reader sees no page index")
		}
		r.Close()
	}
}
