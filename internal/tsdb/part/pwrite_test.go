package part

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
)

// oracleBatch: series of random lengths over every column type, with
// NULL dimensions (one dimension NULL in whole row groups), dimension
// values longer than the column-index bound, VARCHAR values, DOUBLEs with
// NaN, ±Inf and -0.0, an all-NULL column, and NULLs at rate nullRate.
func oracleBatch(r *rand.Rand, series, maxRows int, nullRate float64) *columnar.Batch {
	b := &columnar.Batch{}
	tc := b.Add(ColTime, columnar.NewColumn(columnar.Timestamp, 0))
	vc := b.Add(ColVersion, columnar.NewColumn(columnar.Int64, 0))
	mc := b.Add(ColMeasureName, columnar.NewColumn(columnar.String, 0))
	dc := b.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	rc := b.Add("region", columnar.NewColumn(columnar.String, 0))
	xc := b.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	fc := b.Add("raw", columnar.NewColumn(columnar.Float64, 0))
	ic := b.Add("measure_value::bigint", columnar.NewColumn(columnar.Int64, 0))
	sc := b.Add("measure_value::timestamp", columnar.NewColumn(columnar.Timestamp, 0))
	bc := b.Add("measure_value::boolean", columnar.NewColumn(columnar.Bool, 0))
	vs := b.Add("measure_value::varchar", columnar.NewColumn(columnar.String, 0))
	nc := b.Add("never", columnar.NewColumn(columnar.Float64, 0))
	type key struct {
		m, d, reg string
		dNull     bool
	}
	var keys []key
	for i := range series {
		k := key{m: fmt.Sprintf("m%d", r.IntN(3)), d: fmt.Sprintf("dev-%03d", i)}
		switch r.IntN(5) {
		case 0:
			k.dNull, k.d = true, ""
		case 1:
			k.d = strings.Repeat("x", 60+r.IntN(20)) + k.d // past the column-index bound
		}
		if r.IntN(3) == 0 {
			k.reg = "eu"
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.m, b.m); c != 0 {
			return c
		}
		if a.dNull != b.dNull {
			if a.dNull {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.d, b.d); c != 0 {
			return c
		}
		if (a.reg == "") != (b.reg == "") {
			if a.reg == "" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.reg, b.reg)
	})
	keys = slices.CompactFunc(keys, func(a, b key) bool { return a == b })
	words := []string{"", "on", "off", "idle", strings.Repeat("long", 30)}
	for _, k := range keys {
		t := int64(1_700_000_000_000_000_000) + r.Int64N(1e12)
		x := float64(r.IntN(100000)) / 100
		for range 1 + r.IntN(maxRows) {
			t += 1 + r.Int64N(2e9)
			tc.AppendInt(t)
			vc.AppendInt(1 + r.Int64N(2))
			mc.AppendString(k.m)
			if k.dNull {
				dc.AppendNull()
			} else {
				dc.AppendString(k.d)
			}
			if k.reg == "" {
				rc.AppendNull()
			} else {
				rc.AppendString(k.reg)
			}
			nc.AppendNull()
			null := func() bool { return r.Float64() < nullRate }
			if null() {
				xc.AppendNull()
			} else {
				x = math.Round((x+float64(r.IntN(201)-100)/100)*100) / 100
				xc.AppendFloat(x)
			}
			switch {
			case null():
				fc.AppendNull()
			case r.IntN(20) == 0:
				fc.AppendFloat([]float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0}[r.IntN(5)])
			default:
				fc.AppendFloat(r.NormFloat64() * 1e3)
			}
			if null() {
				ic.AppendNull()
			} else {
				ic.AppendInt(r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2)))
			}
			if null() {
				sc.AppendNull()
			} else {
				sc.AppendInt(t - r.Int64N(1e12))
			}
			if null() {
				bc.AppendNull()
			} else {
				bc.AppendBool(r.IntN(3) == 0)
			}
			if null() {
				vs.AppendNull()
			} else {
				vs.AppendString(words[r.IntN(len(words))])
			}
		}
	}
	return b
}

// scanStrings reads every row of a part with the sluice reader.
func scanStrings(t *testing.T, path string, noFast bool) []string {
	t.Helper()
	pr, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	pr.noFast = noFast
	var rows []string
	err = pr.Scan(context.Background(), All(), func(bt *columnar.Batch) error {
		for i := range bt.Len() {
			var sb strings.Builder
			for k, c := range bt.Cols {
				v := c.Value(i)
				if f, ok := v.(float64); ok {
					v = math.Float64bits(f) // NaN and -0.0 exactly
				}
				fmt.Fprintf(&sb, "%s=%v|", bt.Names[k], v)
			}
			rows = append(rows, sb.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// genericRows reads a part with parquet-go's row reader.
func genericRows(t *testing.T, f *parquet.File) []parquet.Row {
	t.Helper()
	var rows []parquet.Row
	for _, rg := range f.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 64)
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
	return rows
}

func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWriterMatchesParquetGo writes the same batches with this package's
// Parquet writer and with parquet-go's (the writer before it) and wants
// the same file contents: the rows both readers see, the schema, chunk
// statistics, page boundaries, column indexes and footer keys.
func TestWriterMatchesParquetGo(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	for _, tc := range []struct {
		series, maxRows int
		nullRate        float64
		opts            WriterOptions
	}{
		{40, 300, 0.05, WriterOptions{PageRows: 64, RowGroupRows: 1000, Minutes: true}},
		{10, 2000, 0, WriterOptions{}},
		{60, 50, 0.5, WriterOptions{PageRows: 32, RowGroupRows: 256, NoSeriesStats: true}},
		{5, 400, 0.1, WriterOptions{PageRows: 100, NoDecimal: true, CompressionLevel: 4}},
		{1, 1, 0, WriterOptions{}},
		{30, 200, 1, WriterOptions{PageRows: 50, RowGroupRows: 300}},
	} {
		name := fmt.Sprintf("series=%d/rows=%d/nulls=%v/%+v", tc.series, tc.maxRows, tc.nullRate, tc.opts)
		t.Run(name, func(t *testing.T) {
			b := oracleBatch(r, tc.series, tc.maxRows, tc.nullRate)
			dims := []string{"DeviceID", "region"}
			dir := t.TempDir()
			newPath, oldPath := filepath.Join(dir, "new.parquet"), filepath.Join(dir, "old.parquet")
			mNew, err := Write(newPath, b, dims, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			mOld, err := writeLegacy(oldPath, b, dims, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d rows: %d bytes, parquet-go's writer %d", b.Len(), mNew.Bytes, mOld.Bytes)
			if mNew.Bytes > mOld.Bytes {
				t.Errorf("part of %d bytes, parquet-go's writer made %d", mNew.Bytes, mOld.Bytes)
			}
			want := scanStrings(t, oldPath, false)
			if len(want) != b.Len() {
				t.Fatalf("old part scans %d rows, want %d", len(want), b.Len())
			}
			for _, noFast := range []bool{false, true} {
				if got := scanStrings(t, newPath, noFast); !slices.Equal(got, want) {
					t.Fatalf("noFast=%v: scan differs from the old writer's part", noFast)
				}
			}
			fNew, fOld := openParquet(t, newPath), openParquet(t, oldPath)
			gotRows, wantRows := genericRows(t, fNew), genericRows(t, fOld)
			if len(gotRows) != len(wantRows) {
				t.Fatalf("generic reader: %d rows, want %d", len(gotRows), len(wantRows))
			}
			for i := range gotRows {
				if !sameRow(gotRows[i], wantRows[i]) {
					t.Fatalf("generic reader row %d:\n%v\nwant\n%v", i, gotRows[i], wantRows[i])
				}
			}
			compareFooters(t, fNew, fOld)
		})
	}
}

func compareFooters(t *testing.T, fNew, fOld *parquet.File) {
	t.Helper()
	a, b := fNew.Metadata(), fOld.Metadata()
	if fmt.Sprint(a.Schema) != fmt.Sprint(b.Schema) {
		t.Errorf("schema\n%v\nwant\n%v", a.Schema, b.Schema)
	}
	if fmt.Sprint(a.ColumnOrders) != fmt.Sprint(b.ColumnOrders) || a.CreatedBy != b.CreatedBy || a.NumRows != b.NumRows || a.Version != b.Version {
		t.Errorf("file metadata differs: %v %q %d vs %v %q %d", a.ColumnOrders, a.CreatedBy, a.NumRows, b.ColumnOrders, b.CreatedBy, b.NumRows)
	}
	if fmt.Sprint(a.KeyValueMetadata) != fmt.Sprint(b.KeyValueMetadata) {
		t.Errorf("key/value metadata differs")
	}
	if len(a.RowGroups) != len(b.RowGroups) {
		t.Fatalf("%d row groups, want %d", len(a.RowGroups), len(b.RowGroups))
	}
	ciA, ciB := fNew.ColumnIndexes(), fOld.ColumnIndexes()
	oiA, oiB := fNew.OffsetIndexes(), fOld.OffsetIndexes()
	nc := len(a.RowGroups[0].Columns)
	for g := range a.RowGroups {
		ra, rb := &a.RowGroups[g], &b.RowGroups[g]
		if ra.NumRows != rb.NumRows || fmt.Sprint(ra.SortingColumns) != fmt.Sprint(rb.SortingColumns) || ra.Ordinal != rb.Ordinal {
			t.Errorf("row group %d differs", g)
		}
		for c := range ra.Columns {
			ma, mb := &ra.Columns[c].MetaData, &rb.Columns[c].MetaData
			name := strings.Join(ma.PathInSchema, ".")
			if ma.Type != mb.Type || ma.Codec != mb.Codec || ma.NumValues != mb.NumValues || name != strings.Join(mb.PathInSchema, ".") ||
				!slices.Equal(ma.Encoding, mb.Encoding) || (ma.DictionaryPageOffset == 0) != (mb.DictionaryPageOffset == 0) {
				t.Errorf("row group %d column %s: metadata %+v, want %+v", g, name, ma, mb)
			}
			sa, sb := ma.Statistics, mb.Statistics
			if sa.NullCount != sb.NullCount || !bytes.Equal(sa.MinValue, sb.MinValue) || !bytes.Equal(sa.MaxValue, sb.MaxValue) {
				// parquet-go keeps NaN and +0.0 in DOUBLE bounds, which
				// Parquet says to leave out and write as -0.0.
				if ma.Type != format.Double || sa.NullCount != sb.NullCount {
					t.Errorf("row group %d column %s: statistics %+v, want %+v", g, name, sa, sb)
				}
			}
			k := g*nc + c
			la, lb := oiA[k].PageLocations, oiB[k].PageLocations
			if len(la) != len(lb) {
				t.Fatalf("row group %d column %s: %d pages, want %d", g, name, len(la), len(lb))
			}
			for p := range la {
				if la[p].FirstRowIndex != lb[p].FirstRowIndex {
					t.Errorf("row group %d column %s page %d: first row %d, want %d", g, name, p, la[p].FirstRowIndex, lb[p].FirstRowIndex)
				}
			}
			hasA, hasB := len(ciA[k].NullPages) > 0, len(ciB[k].NullPages) > 0
			if hasA != hasB {
				t.Errorf("row group %d column %s: column index %v, want %v", g, name, hasA, hasB)
				continue
			}
			if !hasA {
				continue
			}
			ia, ib := ciA[k], ciB[k]
			if !slices.Equal(ia.NullPages, ib.NullPages) || !slices.Equal(ia.NullCounts, ib.NullCounts) ||
				!slices.EqualFunc(ia.MinValues, ib.MinValues, bytes.Equal) || !slices.EqualFunc(ia.MaxValues, ib.MaxValues, bytes.Equal) {
				if ma.Type != format.Double {
					t.Errorf("row group %d column %s: column index\n%+v\nwant\n%+v", g, name, ia, ib)
				}
			}
			if ia.BoundaryOrder != ib.BoundaryOrder && ma.Type != format.Double && !(ia.BoundaryOrder == format.Unordered && slices.Contains(ia.NullPages, true)) {
				t.Errorf("row group %d column %s: boundary order %v, want %v", g, name, ia.BoundaryOrder, ib.BoundaryOrder)
			}
		}
	}
}

// sameRow compares rows value by value, bit for bit (NaN equals NaN).
func sameRow(a, b parquet.Row) bool {
	return slices.EqualFunc(a, b, func(x, y parquet.Value) bool {
		return x.Kind() == y.Kind() && x.IsNull() == y.IsNull() && x.DefinitionLevel() == y.DefinitionLevel() &&
			x.Column() == y.Column() && bytes.Equal(x.Bytes(), y.Bytes())
	})
}

// TestHybrid: the RLE / bit-packing hybrid encoder's output decodes, with
// parquet-go's decoder and (bit width 1) with fastread's, to the values
// put in, for runs short and long and widths 1 to 32.
func TestHybrid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for range 300 {
		width := uint(1 + r.IntN(32))
		var want []int32
		h := hybrid{width: width}
		for range r.IntN(60) {
			v := uint32(r.Uint64() & (1<<width - 1))
			if r.IntN(3) == 0 && len(want) > 0 {
				v = uint32(want[len(want)-1]) // a run continued by a second put
			}
			n := []int{1, 1 + r.IntN(7), 8 + r.IntN(20), r.IntN(1200)}[r.IntN(4)]
			h.put(v, n)
			for range n {
				want = append(want, int32(v))
			}
		}
		enc := h.finish()
		got, err := (&rle.Encoding{BitWidth: int(width)}).DecodeInt32(nil, enc)
		if err != nil || len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Fatalf("width %d: decoded %d values (%v), want %d", width, len(got), err, len(want))
		}
		if width == 1 {
			lv, err := decodeLevels(nil, enc, len(want))
			if err != nil || len(lv) != len(want) {
				t.Fatalf("decodeLevels: %d levels, %v", len(lv), err)
			}
			for i, l := range lv {
				if int32(l) != want[i] {
					t.Fatalf("decodeLevels: level %d is %d, want %d", i, l, want[i])
				}
			}
		}
	}
}
