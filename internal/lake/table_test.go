package lake

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/parquet-go/parquet-go"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeGz(t testing.TB, path, content string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(content))
	zw.Close()
	writeFile(t, path, b.String())
}

// scanRows scans all rows of the given columns, sorted by their text.
func scanRows(t testing.TB, tbl *Table, req plan.ScanRequest) [][]any {
	t.Helper()
	var rows [][]any
	err := tbl.Scan(context.Background(), req, func(b *columnar.Batch) error {
		if err := b.Validate(); err != nil {
			return err
		}
		for i := 0; i < b.Len(); i++ {
			row := make([]any, len(b.Cols))
			for j, c := range b.Cols {
				row[j] = c.Value(i)
			}
			rows = append(rows, row)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool { return fmt.Sprint(rows[i]) < fmt.Sprint(rows[j]) })
	return rows
}

func TestJSONTable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), strings.Join([]string{
		`{"Time": 1609757175225.499, "DeviceID": "d1", "temperature_measure": 11.2, "ok": true, "n": 3}`,
		`{"TIME": "2021-01-04 10:46:15.5", "deviceid": "d\u00e9\"2", "temperature_measure": "12.5", "nested": {"a": [1, "}"]}, "n": 3.0}`,
		`{"time": 1, "DeviceID": 42, "temperature_measure": "hot", "ok": "TRUE", "n": 3.5}`,
		``,
		`not json at all`,
		`{"DeviceID": "d4", "temperature_measure": null, "n": "7", "extra": [1,2,{"x":"y"}]}`,
		`{"DeviceID": "d5", "nested": {"k": "v"}}`,
	}, "\n"))
	writeGz(t, filepath.Join(dir, "sub", "b.json.gz"), `{"deviceid":"gz","n":1}`+"\n")
	writeFile(t, filepath.Join(dir, "_SUCCESS"), "junk")
	writeFile(t, filepath.Join(dir, ".tmp-x"), "junk")
	def := TableDef{Database: "db", Name: "t", Format: TableJSON, Location: dir, Columns: []TableColumn{
		{"deviceid", "string"}, {"time", "timestamp"}, {"temperature_measure", "double"}, {"ok", "boolean"}, {"n", "int"}, {"nested", "struct<a:array<int>>"}}}
	tbl, err := OpenTable(def, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := scanRows(t, tbl, plan.ScanRequest{})
	ts1 := int64(1609757175225499000)
	ts2 := int64(1609757175500000000)
	want := [][]any{
		{"42", int64(1000000), nil, true, nil, nil},
		{nil, nil, nil, nil, nil, nil},
		{"d1", ts1, 11.2, true, int64(3), nil},
		{"d4", nil, nil, nil, int64(7), nil},
		{"d5", nil, nil, nil, nil, `{"k": "v"}`},
		{"dé\"2", ts2, 12.5, nil, int64(3), `{"a": [1, "}"]}`},
		{"gz", nil, nil, nil, int64(1), nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	// A subset of columns, in the requested order.
	got = scanRows(t, tbl, plan.ScanRequest{Columns: []string{"n", "deviceid"}})
	if len(got) != 7 || !reflect.DeepEqual(got[0], []any{int64(1), "gz"}) || !reflect.DeepEqual(got[5], []any{nil, nil}) {
		t.Errorf("subset: %v", got)
	}
	if st := tbl.Stats(); st.FilesOpened != 4 || st.Rows != 14 {
		t.Errorf("stats %+v", st)
	}
}

func TestCSVTable(t *testing.T) {
	for _, c := range []struct {
		name, content string
		def           TableDef
		want          [][]any
	}{
		{"opencsv with header", "device_id,latitude,longitude,city\n\"d1\",52.5,13.4,\"Berlin, DE\"\nd2,48.1,x,\"Mu\"\"nich\"\n\nd3,1\n",
			TableDef{Separator: ",", Quote: `"`, Escape: `\`, SkipHeader: 1},
			[][]any{{"d1", 52.5, 13.4, "Berlin, DE"}, {"d2", 48.1, nil, `Mu"nich`}, {"d3", 1.0, nil, nil}}},
		{"quoted newline and escape", "a,1,2,\"line\nbreak\"\r\nb,3,4,\"q\\\"x\"\r\n",
			TableDef{Separator: ",", Quote: `"`, Escape: `\`},
			[][]any{{"a", 1.0, 2.0, "line\nbreak"}, {"b", 3.0, 4.0, `q"x`}}},
		{"lazy simple tabs", "x\t1\t\\N\tnull city\ny\t2.5\t3\t\\N\n",
			TableDef{Separator: "\t", NullFormat: `\N`},
			[][]any{{"x", 1.0, nil, "null city"}, {"y", 2.5, 3.0, nil}}},
		{"pipe, no header, escaped separator", "a\\|b|5|6|c\n",
			TableDef{Separator: "|", Escape: `\`},
			[][]any{{"a|b", 5.0, 6.0, "c"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "ref.csv"), c.content)
			def := c.def
			def.Database, def.Name, def.Format, def.Location = "master_data", "loc", TableCSV, dir
			def.Columns = []TableColumn{{"device_id", "string"}, {"latitude", "double"}, {"longitude", "double"}, {"city", "string"}}
			tbl, err := OpenTable(def, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := scanRows(t, tbl, plan.ScanRequest{}); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestPartitionPruning(t *testing.T) {
	dir := t.TempDir()
	for _, day := range []int{24, 25, 26} {
		for _, hour := range []int{0, 1} {
			p := filepath.Join(dir, "year=2026", "month=11", fmt.Sprintf("day=%d", day), fmt.Sprintf("hour=%02d", hour), "f.json")
			writeFile(t, p, fmt.Sprintf(`{"deviceid":"d%d","v":%d}`+"\n", day, hour))
		}
	}
	writeFile(t, filepath.Join(dir, "year=2026", "month=11", "day=__HIVE_DEFAULT_PARTITION__", "hour=00", "f.json"), `{"deviceid":"null-day"}`+"\n")
	def := TableDef{Database: "db", Name: "ev", Format: TableJSON, Location: dir,
		Columns:     []TableColumn{{"deviceid", "string"}, {"v", "int"}},
		PartitionBy: []TableColumn{{"year", "int"}, {"month", "int"}, {"day", "int"}, {"hour", "string"}}}
	for _, c := range []struct {
		name  string
		preds []plan.ColPred
		files int64
		rows  int
	}{
		{"none", nil, 7, 7},
		{"day =", []plan.ColPred{{Column: "day", Op: "=", Values: []any{int64(25)}, Type: columnar.Int64}}, 2, 2},
		{"day >= and hour =", []plan.ColPred{{Column: "day", Op: ">=", Values: []any{int64(25)}, Type: columnar.Int64},
			{Column: "hour", Op: "=", Values: []any{"01"}, Type: columnar.String}}, 2, 2},
		{"day in", []plan.ColPred{{Column: "day", Op: "in", Values: []any{int64(24), int64(26)}, Type: columnar.Int64}}, 4, 4},
		{"day < float", []plan.ColPred{{Column: "day", Op: "<", Values: []any{24.5}, Type: columnar.Float64}}, 2, 2},
		{"no match", []plan.ColPred{{Column: "year", Op: "=", Values: []any{int64(2025)}, Type: columnar.Int64}}, 0, 0},
		{"data column predicate does not prune", []plan.ColPred{{Column: "v", Op: "=", Values: []any{int64(9)}, Type: columnar.Int64}}, 7, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl, err := OpenTable(def, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rows := scanRows(t, tbl, plan.ScanRequest{Columns: []string{"deviceid", "day", "hour"}, Preds: c.preds})
			if st := tbl.Stats(); st.FilesOpened != c.files || len(rows) != c.rows {
				t.Errorf("opened %d files, %d rows; want %d, %d (%v)", st.FilesOpened, len(rows), c.files, c.rows, rows)
			}
		})
	}
	tbl, _ := OpenTable(def, TableOptions{})
	rows := scanRows(t, tbl, plan.ScanRequest{Columns: []string{"deviceid", "year", "day", "hour"}})
	if !reflect.DeepEqual(rows[0], []any{"d24", int64(2026), int64(24), "00"}) || !reflect.DeepEqual(rows[6], []any{"null-day", int64(2026), nil, "00"}) {
		t.Errorf("partition values: %v", rows)
	}
	parts, err := tbl.Partitions(context.Background())
	if err != nil || len(parts) != 7 || parts[0].Path != "year=2026/month=11/day=24/hour=00" || parts[0].Values["day"] != "24" {
		t.Errorf("partitions %v %v", parts, err)
	}
}

type pqRow struct {
	DeviceID string   `parquet:"DeviceID,dict"`
	Time     int64    `parquet:"Time,timestamp(millisecond)"`
	Temp     *float64 `parquet:"temperature_measure,optional"`
	N        int32    `parquet:"n"`
	Label    *string  `parquet:"label,optional"`
}

func writeParquetFile(t testing.TB, path string, rows []pqRow, rowGroup int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqRow](f, parquet.MaxRowsPerRowGroup(int64(rowGroup)))
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
	f.Close()
}

func TestParquetTable(t *testing.T) {
	dir := t.TempDir()
	var rows []pqRow
	for i := range 1000 {
		r := pqRow{DeviceID: fmt.Sprintf("d%d", i%7), Time: int64(1_700_000_000_000 + i), N: int32(i)}
		if i%3 != 0 {
			v := float64(i) / 2
			r.Temp = &v
		}
		if i%2 == 0 {
			s := "x"
			r.Label = &s
		}
		rows = append(rows, r)
	}
	writeParquetFile(t, filepath.Join(dir, "dt=a", "p.parquet"), rows, 100)
	def := TableDef{Database: "db", Name: "pq", Format: TableParquet, Location: dir,
		Columns: []TableColumn{{"deviceid", "string"}, {"time", "timestamp"}, {"temperature_measure", "double"},
			{"n", "bigint"}, {"label", "int"}, {"missing", "string"}},
		PartitionBy: []TableColumn{{"dt", "string"}}}
	tbl, err := OpenTable(def, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := scanRows(t, tbl, plan.ScanRequest{})
	if len(got) != 1000 {
		t.Fatalf("%d rows", len(got))
	}
	// Row i = 1 sorts near the top ("d1 ..."); check it by value.
	found := false
	for _, r := range got {
		if r[3] == int64(1) {
			found = true
			want := []any{"d1", int64(1_700_000_000_001) * 1e6, 0.5, int64(1), nil, nil, "a"}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("row 1 = %v, want %v", r, want)
			}
		}
	}
	if !found {
		t.Error("row 1 missing")
	}
	// Statistics skip row groups: n in [0,1000) in groups of 100.
	tbl, _ = OpenTable(def, TableOptions{})
	got = scanRows(t, tbl, plan.ScanRequest{Columns: []string{"n"}, Preds: []plan.ColPred{
		{Column: "n", Op: ">=", Values: []any{int64(250)}, Type: columnar.Int64},
		{Column: "n", Op: "<", Values: []any{int64(300)}, Type: columnar.Int64}}})
	if st := tbl.Stats(); st.RowGroupsRead != 1 || st.RowGroupsSkipped != 9 || len(got) != 100 {
		t.Errorf("stats %+v, %d rows", st, len(got))
	}
	tbl, _ = OpenTable(def, TableOptions{})
	got = scanRows(t, tbl, plan.ScanRequest{Columns: []string{"deviceid"}, Preds: []plan.ColPred{
		{Column: "deviceid", Op: "=", Values: []any{"zzz"}, Type: columnar.String}}})
	if st := tbl.Stats(); st.RowGroupsRead != 0 || len(got) != 0 {
		t.Errorf("string stats %+v", st)
	}
}

func TestParseFloat(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "11.2", "1609757175225.499", "1e10", "1.5E-7", "123456789012345678901234", "0.000001234",
		"-2.5e+3", "9007199254740993", "4.9e-324", "+7", "0.1", "123456.789e-3"} {
		got, ok := lakeParseFloat([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || got != want {
			t.Errorf("lakeParseFloat(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if f, ok := lakeParseFloat([]byte("1e400")); !ok || !math.IsInf(f, 1) {
		t.Errorf("1e400: %v %v", f, ok)
	}
	for _, s := range []string{"5.", "1e", "-", "", "1.2.3", "0x10", "1e+", "nan", "Infinity"} {
		if f, ok := lakeParseFloat([]byte(s)); ok {
			t.Errorf("lakeParseFloat(%q) = %v, want failure", s, f)
		}
	}
}

func TestResolveLocation(t *testing.T) {
	for _, c := range []struct{ loc, want string }{
		{"s3://bucket/events/", "/lake/bucket/events"},
		{"file:///data/x", "/data/x"},
		{"/abs/path", "/abs/path"},
		{"rel/dir", "/lake/rel/dir"},
	} {
		got, err := ResolveLocation("/lake", c.loc)
		if err != nil || got != filepath.FromSlash(c.want) {
			t.Errorf("ResolveLocation(%q) = %q, %v; want %q", c.loc, got, err, c.want)
		}
	}
	if _, err := ResolveLocation("/lake", "../etc"); err == nil {
		t.Error("escape from the lake root accepted")
	}
}
