package part_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// TestSizesDump prints the SizeReport of the part files named by
// SLUICE_PART_SIZES (a glob), summed, per point; skipped without it.
//
//	SLUICE_PART_SIZES='/tmp/x/tsdb/tables/*/*/*.parquet' go test ./internal/tsdb/part -run SizesDump -v
func TestSizesDump(t *testing.T) {
	glob := os.Getenv("SLUICE_PART_SIZES")
	if glob == "" {
		t.Skip("SLUICE_PART_SIZES not set")
	}
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("glob %q: %v (%d files)", glob, err, len(files))
	}
	t.Log("\n" + sizeTable(t, files))
	if os.Getenv("SLUICE_PART_REWRITE") == "" {
		return
	}
	// Rewrite the parts with this code's writer, as the store's
	// compaction would, and report again.
	dir := t.TempDir()
	pageRows, _ := strconv.Atoi(os.Getenv("SLUICE_PART_PAGE_ROWS"))
	groupRows, _ := strconv.Atoi(os.Getenv("SLUICE_PART_GROUP_ROWS"))
	var out []string
	for i, f := range files {
		r, err := part.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		m := r.Meta()
		all := &columnar.Batch{}
		for _, c := range m.Columns {
			all.Add(c.Name, columnar.NewColumn(c.Type, int(m.Rows)))
		}
		err = r.Scan(context.Background(), part.All(), func(b *columnar.Batch) error {
			for k, name := range b.Names {
				dst := all.Col(name)
				for j := range b.Len() {
					dst.AppendFrom(b.Cols[k], j)
				}
			}
			return nil
		})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.parquet", i))
		if _, err := part.Write(path, all, m.Dims, part.WriterOptions{Minutes: true, CompressionLevel: 4, PageRows: pageRows, RowGroupRows: groupRows}); err != nil {
			t.Fatal(err)
		}
		out = append(out, path)
	}
	t.Log("rewritten:\n" + sizeTable(t, out))
	if os.Getenv("SLUICE_PART_EACH") != "" {
		for i, f := range out {
			t.Logf("%s rewritten:\n%s", files[i], sizeTable(t, []string{f}))
		}
	}
}

func sizeTable(t *testing.T, files []string) string {
	var sum part.SizeReport
	sum.KeyValue = map[string]int64{}
	cols := map[string]*part.ColumnSizes{}
	var rows int64
	for _, f := range files {
		r, err := part.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		rows += r.Meta().Rows
		r.Close()
		rep, err := part.Sizes(f)
		if err != nil {
			t.Fatal(err)
		}
		sum.Total += rep.Total
		sum.Magic += rep.Magic
		sum.Footer += rep.Footer
		sum.Schema += rep.Schema
		sum.RowGroups += rep.RowGroups
		sum.FooterOther += rep.FooterOther
		sum.Other += rep.Other
		for k, v := range rep.KeyValue {
			sum.KeyValue[k] += v
		}
		for _, c := range rep.Columns {
			s := cols[c.Name]
			if s == nil {
				s = &part.ColumnSizes{Name: c.Name}
				cols[c.Name] = s
			}
			s.Pages += c.Pages
			s.DictPages += c.DictPages
			s.Headers += c.Headers
			s.Levels += c.Levels
			s.Values += c.Values
			s.Dict += c.Dict
			s.Uncompr += c.Uncompr
			s.ColumnIndex += c.ColumnIndex
			s.OffsetIndex += c.OffsetIndex
		}
	}
	p := func(n int64) string { return fmt.Sprintf("%.4f", float64(n)/float64(rows)) }
	var b strings.Builder
	fmt.Fprintf(&b, "%d files, %d rows, %d bytes = %s byte/point\n", len(files), rows, sum.Total, p(sum.Total))
	fmt.Fprintf(&b, "%-24s %6s %5s %8s %8s %8s %8s %8s %8s %8s %8s\n", "column", "pages", "dict", "total", "headers", "levels", "values", "dict", "colidx", "offidx", "uncompr")
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := cols[n]
		fmt.Fprintf(&b, "%-24s %6d %5d %8s %8s %8s %8s %8s %8s %8s %8s\n", n, c.Pages, c.DictPages, p(c.Total()), p(c.Headers), p(c.Levels), p(c.Values), p(c.Dict), p(c.ColumnIndex), p(c.OffsetIndex), p(c.Uncompr))
	}
	fmt.Fprintf(&b, "footer %s: schema %s, row groups %s, other %s\n", p(sum.Footer), p(sum.Schema), p(sum.RowGroups), p(sum.FooterOther))
	for k, v := range sum.KeyValue {
		fmt.Fprintf(&b, "  kv %-24s %s\n", k, p(v))
	}
	fmt.Fprintf(&b, "magic %s, unaccounted %s\n", p(sum.Magic), p(sum.Other))
	return b.String()
}

// BenchmarkScanFiles scans measure_value::double of the part files named
// by SLUICE_PART_SIZES (a glob; skipped without it), as bench storage's
// cold scans do, without the store around them.
//
//	SLUICE_PART_SIZES='/tmp/x/tsdb/tables/*/*/*.parquet' go test ./internal/tsdb/part -run '^$' -bench ScanFiles
func BenchmarkScanFiles(b *testing.B) {
	glob := os.Getenv("SLUICE_PART_SIZES")
	if glob == "" {
		b.Skip("SLUICE_PART_SIZES not set")
	}
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		b.Fatalf("glob %q: %v", glob, err)
	}
	var readers []*part.Reader
	for _, f := range files {
		r, err := part.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		readers = append(readers, r)
	}
	for _, m := range []string{"", "temperature"} {
		b.Run("measure="+m, func(b *testing.B) {
			f := part.All()
			f.Columns = []string{"measure_value::double"}
			f.ProjectOnly = true
			if m != "" {
				f.MeasureNames = []string{m}
			}
			b.ReportAllocs()
			var rows int64
			cpu0 := cputime.Now()
			for b.Loop() {
				for _, r := range readers {
					err := r.Scan(context.Background(), f, func(bt *columnar.Batch) error {
						rows += int64(bt.Len())
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(rows)/(cputime.Now()-cpu0).Seconds(), "points/cpu-s")
			b.ReportMetric(float64((cputime.Now()-cpu0).Nanoseconds())/float64(rows), "cpu-ns/point")
		})
	}
}
