package lake

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// pqWide has a column for each path of the fast Parquet reader: strings
// dictionary-coded and plain, optional and required; doubles plain,
// BYTE_STREAM_SPLIT and dictionary-coded; INT64 timestamps and delta
// integers; INT32.
type pqWide struct {
	Dev    *string  `parquet:"dev,optional,dict"`
	Plain  string   `parquet:"plain"`
	Delta  string   `parquet:"delta_s,delta"`
	Temp   *float64 `parquet:"temp,optional"`
	Watt   float64  `parquet:"watt"`
	Split  float64  `parquet:"split,split"`
	DictF  *float64 `parquet:"dict_f,optional,dict"`
	Time   int64    `parquet:"time,timestamp(microsecond)"`
	DeltaI int64    `parquet:"delta_i,delta"`
	N      int32    `parquet:"n"`
	M      *int32   `parquet:"m,optional"`
}

var pqWideCols = []TableColumn{{"dev", "string"}, {"plain", "string"}, {"delta_s", "string"}, {"temp", "double"}, {"watt", "double"},
	{"split", "double"}, {"dict_f", "double"}, {"time", "timestamp"}, {"delta_i", "bigint"}, {"n", "bigint"}, {"m", "int"}}

func wideRows(n, devices int) []pqWide {
	rows := make([]pqWide, n)
	for i := range rows {
		r := pqWide{Plain: fmt.Sprintf("p%d", i%13), Delta: fmt.Sprintf("delta-%05d", i), Watt: float64(i) * 1.5, Split: -float64(i) / 3,
			Time: 1_700_000_000_000_000 + int64(i)*1000, DeltaI: int64(i) * 7, N: int32(i - n/2)}
		if i%5 != 0 {
			d := fmt.Sprintf("device-%04d", (i*7)%devices)
			r.Dev = &d
		}
		if i%3 != 0 {
			v := float64(i) / 2
			r.Temp = &v
		}
		if i%4 != 1 {
			v := float64(i % 9)
			r.DictF = &v
		}
		if i%2 == 0 {
			m := int32(i)
			r.M = &m
		}
		rows[i] = r
	}
	return rows
}

func writeWide(t testing.TB, path string, rows []pqWide, rowGroup int, opts ...parquet.WriterOption) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := parquet.NewGenericWriter[pqWide](f, append([]parquet.WriterOption{parquet.MaxRowsPerRowGroup(int64(rowGroup))}, opts...)...)
	for i := 0; i < len(rows); i += rowGroup {
		if _, err := w.Write(rows[i:min(len(rows), i+rowGroup)]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestParquetFastPath reads files of several shapes with the fast page
// reader and with parquet-go's, and checks both give the rows written,
// and that dictionary codes, where a column has them, name its strings.
func TestParquetFastPath(t *testing.T) {
	for _, c := range []struct {
		name     string
		rows     int
		rowGroup int
		opts     []parquet.WriterOption
		noNulls  bool // optional columns without NULLs (levels of one run)
	}{
		{"no nulls", 3000, 1000, []parquet.WriterOption{parquet.PageBufferSize(4096)}, true},
		{"no nulls v2", 3000, 1000, []parquet.WriterOption{parquet.DataPageVersion(2)}, true},
		{"plain", 3000, 1000, nil, false},
		{"small pages", 3000, 3000, []parquet.WriterOption{parquet.PageBufferSize(512)}, false},
		{"page v2", 2000, 700, []parquet.WriterOption{parquet.DataPageVersion(2), parquet.PageBufferSize(2048)}, false},
		{"page v1", 2000, 700, []parquet.WriterOption{parquet.DataPageVersion(1), parquet.PageBufferSize(2048)}, false},
		{"snappy", 2500, 1000, []parquet.WriterOption{parquet.Compression(&parquet.Snappy)}, false},
		{"zstd v1", 2500, 1000, []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.DataPageVersion(1), parquet.PageBufferSize(4096)}, false},
		{"gzip", 1200, 1200, []parquet.WriterOption{parquet.Compression(&parquet.Gzip)}, false},
		{"one row", 1, 1, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			rows := wideRows(c.rows, 50)
			if c.noNulls {
				for i := range rows {
					r := &rows[i]
					d, v, f, m := "device-x", 1.5, 2.5, int32(i)
					r.Dev, r.Temp, r.DictF, r.M = cmp.Or(r.Dev, &d), cmp.Or(r.Temp, &v), cmp.Or(r.DictF, &f), cmp.Or(r.M, &m)
				}
			}
			writeWide(t, filepath.Join(dir, "a.parquet"), rows, c.rowGroup, c.opts...)
			// A second file with the same dictionary (the reuse path).
			writeWide(t, filepath.Join(dir, "b.parquet"), rows, c.rowGroup, c.opts...)
			def := TableDef{Database: "db", Name: "w", Format: TableParquet, Location: dir, Columns: pqWideCols}
			var results [3][][]any
			for k, slow := range []bool{false, true, false} {
				tbl, err := OpenTable(def, TableOptions{Parallelism: 1})
				if err != nil {
					t.Fatal(err)
				}
				tbl.slowParquet = slow
				var codesOnly []string
				if k == 2 {
					codesOnly = []string{"dev", "plain", "delta_s", "n"}
				}
				results[k] = scanRowsCodes(t, tbl, plan.ScanRequest{}, codesOnly)
			}
			if !reflect.DeepEqual(results[0], results[2]) {
				t.Fatal("codes-only scan differs")
			}
			if !reflect.DeepEqual(results[0], results[1]) {
				for i := range min(len(results[0]), len(results[1])) {
					if !reflect.DeepEqual(results[0][i], results[1][i]) {
						t.Fatalf("row %d: fast %v, parquet-go %v", i, results[0][i], results[1][i])
					}
				}
				t.Fatalf("fast path gave %d rows, parquet-go %d", len(results[0]), len(results[1]))
			}
			if len(results[0]) != 2*c.rows {
				t.Fatalf("%d rows, want %d", len(results[0]), 2*c.rows)
			}
			for i, r := range rows {
				got := results[0][i]
				want := []any{nil, r.Plain, r.Delta, nil, r.Watt, r.Split, nil, r.Time * 1000, r.DeltaI, int64(r.N), nil}
				if r.Dev != nil {
					want[0] = *r.Dev
				}
				if r.Temp != nil {
					want[3] = *r.Temp
				}
				if r.DictF != nil {
					want[6] = *r.DictF
				}
				if r.M != nil {
					want[10] = int64(*r.M)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("row %d: %v, want %v", i, got, want)
				}
			}
		})
	}
}

// scanRowsChecked is scanRows that also checks each VARCHAR column's
// dictionary codes against its strings, and reads files in name order.
func scanRowsChecked(t testing.TB, tbl *Table, req plan.ScanRequest) [][]any {
	t.Helper()
	return scanRowsCodes(t, tbl, req, nil)
}

// scanRowsCodes is scanRowsChecked through ScanCodesOnly: a codesOnly
// column that has codes must have empty strings, and its rows are read
// from the dictionary.
func scanRowsCodes(t testing.TB, tbl *Table, req plan.ScanRequest, codesOnly []string) [][]any {
	t.Helper()
	var mu sync.Mutex
	var out [][]any
	// Numbered dictionaries: one string per id, one id per string, in
	// each space.
	strOf := map[*columnar.DictSpace]map[int32]string{}
	idOf := map[*columnar.DictSpace]map[string]int32{}
	err := tbl.ScanCodesOnly(context.Background(), req, codesOnly, func(b *columnar.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		if err := b.Validate(); err != nil {
			return err
		}
		for k, c := range b.Cols {
			codes, dict := c.Codes()
			if dict == nil {
				continue
			}
			if ids, space := dict.IDs(); space != nil {
				if strOf[space] == nil {
					strOf[space], idOf[space] = map[int32]string{}, map[string]int32{}
				}
				for i, id := range ids {
					s := dict.Str(int32(i))
					if prev, ok := strOf[space][id]; ok && prev != s {
						return fmt.Errorf("column %s: id %d is %q and %q", b.Names[k], id, prev, s)
					}
					if prev, ok := idOf[space][s]; ok && prev != id {
						return fmt.Errorf("column %s: %q has ids %d and %d", b.Names[k], s, prev, id)
					}
					strOf[space][id], idOf[space][s] = s, id
				}
			}
			if slices.Contains(codesOnly, b.Names[k]) {
				// A view with the strings, for the rows below.
				v := &columnar.Column{Type: c.Type, Nulls: c.Nulls, Strs: make([]string, len(c.Strs))}
				for i, code := range codes {
					if c.Strs[i] != "" {
						return fmt.Errorf("column %s row %d: string %q in a codes-only column", b.Names[k], i, c.Strs[i])
					}
					if !c.IsNull(i) {
						v.Strs[i] = dict.Str(code)
					}
				}
				b.Cols[k] = v
				continue
			}
			for i, code := range codes {
				if !c.IsNull(i) && dict.Str(code) != c.Strs[i] {
					return fmt.Errorf("column %s row %d: code %d is %q, string %q", b.Names[k], i, code, dict.Str(code), c.Strs[i])
				}
			}
		}
		for i := range b.Len() {
			row := make([]any, len(b.Cols))
			for k, c := range b.Cols {
				row[k] = c.Value(i)
			}
			out = append(out, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParquetDictIDs reads files whose string dictionaries list
// overlapping sets of devices in different orders (as files cut from a
// stream of devices reporting in varying order do) and checks that the
// fast path numbers their strings consistently (scanRowsChecked) and
// reads the same rows as parquet-go.
func TestParquetDictIDs(t *testing.T) {
	dir := t.TempDir()
	for f := range 6 {
		rows := wideRows(900+100*f, 40+10*f)
		rng := rand.New(rand.NewPCG(uint64(f), 1))
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		writeWide(t, filepath.Join(dir, fmt.Sprintf("f%d.parquet", f)), rows, 400)
	}
	def := TableDef{Database: "db", Name: "w", Format: TableParquet, Location: dir, Columns: pqWideCols}
	var results [2][][]any
	for k, slow := range []bool{false, true} {
		tbl, err := OpenTable(def, TableOptions{Parallelism: 2})
		if err != nil {
			t.Fatal(err)
		}
		tbl.slowParquet = slow
		results[k] = scanRowsChecked(t, tbl, plan.ScanRequest{})
	}
	key := func(r []any) string { return fmt.Sprint(r...) }
	count := map[string]int{}
	for _, r := range results[0] {
		count[key(r)]++
	}
	for _, r := range results[1] {
		count[key(r)]--
	}
	for k, n := range count {
		if n != 0 {
			t.Fatalf("row %s: %d more from the fast path than from parquet-go", k, n)
		}
	}
	if len(results[0]) != 900*6+100*15 {
		t.Fatalf("%d rows", len(results[0]))
	}
}

// TestAllDefined checks the shortcut for definition levels without NULLs.
func TestAllDefined(t *testing.T) {
	for _, c := range []struct {
		levels []byte
		n      int
		want   bool
	}{
		{[]byte{200, 1, 1}, 100, true},   // run of 100 ones
		{[]byte{200, 1, 1}, 101, false},  // too short
		{[]byte{200, 1, 0}, 100, false},  // run of zeros
		{[]byte{201, 1, 0xff}, 8, false}, // bit-packed
		{[]byte{200, 1}, 100, false},     // no value
		{[]byte{0x80}, 1, false},         // truncated varint
		{nil, 0, false},
	} {
		if got := allDefined(c.levels, c.n); got != c.want {
			t.Errorf("allDefined(%v, %d) = %v, want %v", c.levels, c.n, got, c.want)
		}
	}
}

// TestStringDictNumbering checks stringDict's numbering of dictionary
// pages: ids shared by equal strings across pages and columns, the last
// page of a column given back, and a column whose dictionaries are
// mostly new strings left unnumbered from then on.
func TestStringDictNumbering(t *testing.T) {
	page := func(strs ...string) []byte {
		var b []byte
		for _, s := range strs {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
		return b
	}
	var memo dictMemo
	steps := []struct {
		col      int
		strs     []string
		numbered bool
		same     bool // the column's previous *Dict given back
	}{
		{0, []string{"b", "a", "c"}, true, false},
		{0, []string{"b", "a", "c"}, true, true},
		{0, []string{"c", "a", "b", "d"}, true, false},
		{1, []string{"x1", "a", "x2"}, true, false},
		{1, []string{"y1", "y2", "y3", "a"}, true, false}, // mostly new: column 1 stops here
		{1, []string{"a", "b"}, false, false},
		{0, []string{"d", "b"}, true, false},
		// Sorted pages: a merge walk with the last one (entries gone,
		// added, at either end), then unsorted and sorted again.
		{2, []string{"a", "b", "c", "e"}, true, false},
		{2, []string{"0", "b", "c", "d", "e"}, true, false},
		{2, []string{"b", "d", "f"}, true, false},
		{2, []string{"d", "b", "f"}, true, false},
		{2, []string{"b", "c", "d", "f", "g"}, true, false},
		{2, []string{"b", "c", "d", "f", "g"}, true, true},
		{2, []string{"a", "b", "c", "d", "f", "g", "h"}, true, false},
	}
	ids, strOf := map[string]int32{}, map[int32]string{}
	var prev [3]*columnar.Dict
	for k, st := range steps {
		d, view, err := stringDict(page(st.strs...), len(st.strs), &memo, st.col)
		if err != nil {
			t.Fatalf("step %d: %v", k, err)
		}
		if d.Len() != len(st.strs) {
			t.Fatalf("step %d: %d entries, want %d", k, d.Len(), len(st.strs))
		}
		got := make([]string, len(st.strs))
		if err := view.strings(got, []int32{0, 1, 2, 3, 4, 5, 6}[:len(st.strs)]); err != nil {
			t.Fatal(err)
		}
		for i, s := range st.strs {
			if d.Str(int32(i)) != s || got[i] != s {
				t.Errorf("step %d: entry %d is %q / %q, want %q", k, i, d.Str(int32(i)), got[i], s)
			}
		}
		dids, space := d.IDs()
		if (space != nil) != st.numbered {
			t.Errorf("step %d: numbered %v, want %v", k, space != nil, st.numbered)
		}
		for i, s := range st.strs {
			if space == nil {
				break
			}
			if id, ok := ids[s]; ok && id != dids[i] {
				t.Errorf("step %d: %q has id %d, earlier %d", k, s, dids[i], id)
			}
			if o, ok := strOf[dids[i]]; ok && o != s {
				t.Errorf("step %d: %q has id %d, as %q does", k, s, dids[i], o)
			}
			ids[s], strOf[dids[i]] = dids[i], s
		}
		if (d == prev[st.col]) != st.same {
			t.Errorf("step %d: same dictionary as before %v, want %v", k, d == prev[st.col], st.same)
		}
		prev[st.col] = d
	}
	// A bad page is never remembered: it fails every time, and the
	// column's last good dictionary is still the one its page gives.
	for range 2 {
		if _, _, err := stringDict(page("a")[:3], 1, &memo, 0); err == nil {
			t.Error("a truncated page decoded")
		}
	}
	if d, _, err := stringDict(page("d", "b"), 2, &memo, 0); err != nil || d != prev[0] || d.Str(0) != "d" || d.Str(1) != "b" {
		t.Errorf("after a bad page: %v, dictionary reused %v", err, d == prev[0])
	}
}

// TestStringDictShared decodes dictionaries on several workers sharing
// one numbering, as a scan's workers do: every worker must see the same
// id for the same string and different ids for different strings (run
// with -race).
func TestStringDictShared(t *testing.T) {
	num := newDictNumbering()
	const workers = 4
	got := make([]map[string]int32, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			memo := dictMemo{num: num}
			got[w] = map[string]int32{}
			for f := range 30 {
				var strs []string
				for i := range 200 {
					if (i+f+w)%7 != 0 { // each page a slightly different set
						strs = append(strs, fmt.Sprintf("dev-%04d", i))
					}
				}
				if f%3 == 2 { // some unsorted
					strs[0], strs[len(strs)-1] = strs[len(strs)-1], strs[0]
				}
				var page []byte
				for _, s := range strs {
					page = binary.LittleEndian.AppendUint32(page, uint32(len(s)))
					page = append(page, s...)
				}
				d, _, err := stringDict(page, len(strs), &memo, 0)
				if err != nil {
					t.Error(err)
					return
				}
				dids, space := d.IDs()
				if space == nil {
					t.Error("not numbered")
					return
				}
				for i, s := range strs {
					if d.Str(int32(i)) != s {
						t.Errorf("entry %d is %q, want %q", i, d.Str(int32(i)), s)
					}
					if id, ok := got[w][s]; ok && id != dids[i] {
						t.Errorf("worker %d: %q has id %d, earlier %d", w, s, dids[i], id)
					}
					got[w][s] = dids[i]
				}
			}
		}()
	}
	wg.Wait()
	strOf := map[int32]string{}
	for w := range workers {
		for s, id := range got[w] {
			if id != got[0][s] {
				t.Errorf("worker %d: %q has id %d, worker 0 %d", w, s, id, got[0][s])
			}
			if o, ok := strOf[id]; ok && o != s {
				t.Errorf("id %d for %q and %q", id, s, o)
			}
			strOf[id] = s
		}
	}
}

// FuzzStringDict feeds stringDict arbitrary dictionary pages, one after
// the other in one memo (the same column's in turn, so sorted ones meet
// the merge walk): it must not panic, what it decodes must be the entries
// plainStringDict decodes, and numbered entries must have one id per
// string.
func FuzzStringDict(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x00a\x02\x00\x00\x00bc"), uint8(2), []byte("\x02\x00\x00\x00bc"), uint8(1))
	f.Add([]byte("\x00\x00\x00\x00"), uint8(1), []byte("\xff\xff\xff\xff"), uint8(1))
	f.Add([]byte("\x01\x00\x00\x00a\x01\x00\x00\x00c\x01\x00\x00\x00d"), uint8(3), []byte("\x01\x00\x00\x00b\x01\x00\x00\x00c\x01\x00\x00\x00e"), uint8(3))
	f.Fuzz(func(t *testing.T, p1 []byte, n1 uint8, p2 []byte, n2 uint8) {
		var memo dictMemo
		idOf, strOf := map[string]int32{}, map[int32]string{}
		for k, pg := range []struct {
			data []byte
			n    int
			col  int
		}{{p1, int(n1), 0}, {p2, int(n2), 0}, {p1, int(n1), 0}, {p2, int(n2), 1}, {p1, int(n1), 1}} {
			d, view, err := stringDict(pg.data, pg.n, &memo, pg.col)
			var want lastDict
			wd, _, werr := plainStringDict(pg.data, pg.n, &want)
			if (err != nil) != (werr != nil) {
				t.Fatalf("page %d: error %v, plain decoding %v", k, err, werr)
			}
			if err != nil {
				continue
			}
			if d.Len() != pg.n || wd.Len() != pg.n {
				t.Fatalf("page %d: %d and %d entries, want %d", k, d.Len(), wd.Len(), pg.n)
			}
			idx := make([]int32, pg.n)
			for i := range idx {
				idx[i] = int32(i)
			}
			got := make([]string, pg.n)
			if err := view.strings(got, idx); err != nil {
				t.Fatal(err)
			}
			for i := range pg.n {
				if d.Str(int32(i)) != wd.Str(int32(i)) || got[i] != wd.Str(int32(i)) {
					t.Fatalf("page %d entry %d: %q / %q, want %q", k, i, d.Str(int32(i)), got[i], wd.Str(int32(i)))
				}
			}
			ids, _ := d.IDs()
			for i, id := range ids {
				str := d.Str(int32(i))
				if o, ok := idOf[str]; ok && o != id {
					t.Fatalf("page %d: %q has ids %d and %d", k, str, o, id)
				}
				if o, ok := strOf[id]; ok && o != str {
					t.Fatalf("page %d: id %d is %q and %q", k, id, o, str)
				}
				idOf[str], strOf[id] = id, str
			}
		}
	})
}
