package part

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// columnIndexSizeLimit bounds the bytes of a string min/max kept in the
// column index. Dimension values and measure names are short; 64 keeps them
// whole. A max that reaches this length may have been truncated, and the
// reader treats it as "no upper bound" (parquet-go's truncation cannot
// always round a max up).
const columnIndexSizeLimit = 64

func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
}

// plan is the validated layout of one Write.
type plan struct {
	meta    Meta
	series  []byte             // KeySeries, as footer text
	minutes []byte             // KeyMinutes, as footer text
	cols    []*columnar.Column // parallel to meta.Columns
	schema  *parquet.Schema
	pages   []int // first row of each page, then the row count
	groups  []int // first page of each row group, then len(pages)-1
}

// layout cuts rows into pages and pages into row groups. Pages hold whole
// series where possible: a page boundary inside a series costs nothing, but
// a series boundary inside a page costs a wide delta-encoding miniblock in
// time and value columns (the values jump), and a one-series read touches
// fewer pages when series start pages. So series are packed greedily into
// pages of at most pageRows rows, and a series longer than that is split
// into equal pages. Row groups take whole pages, at most groupRows rows.
func layout(seriesStarts []int, n, pageRows, groupRows int) (pages, groups []int) {
	pages = []int{0}
	for k, start := range seriesStarts {
		end := n
		if k+1 < len(seriesStarts) {
			end = seriesStarts[k+1]
		}
		cur := pages[len(pages)-1]
		if start > cur && end-cur > pageRows {
			pages = append(pages, start) // close the page before this series
			cur = start
		}
		if end-cur <= pageRows {
			continue // the series fits in the current page
		}
		// cur == start here: split the series evenly.
		parts := (end - start + pageRows - 1) / pageRows
		for j := 1; j < parts; j++ {
			pages = append(pages, start+(end-start)*j/parts)
		}
		pages = append(pages, end)
	}
	if pages[len(pages)-1] != n {
		pages = append(pages, n)
	}
	groups = []int{0}
	for i := 1; i < len(pages)-1; i++ {
		if pages[i+1]-pages[groups[len(groups)-1]] > groupRows {
			groups = append(groups, i)
		}
	}
	groups = append(groups, len(pages)-1)
	return pages, groups
}

// Write writes b as a part file at path atomically: a temp file in the same
// directory, fsync, rename, fsync of the directory. b must be sorted by
// (measure_name, dims..., time), with NULL dimensions first; the same series
// and time twice is an error. Columns of b other than time, version,
// measure_name and dims are value columns of any type. path must not exist.
func Write(path string, b *columnar.Batch, dims []string, opts WriterOptions) (Meta, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Meta{}, err
	}
	p, err := newPlan(b, dims, opts)
	if err != nil {
		return Meta{}, err
	}
	if _, err := os.Lstat(path); err == nil {
		return Meta{}, fmt.Errorf("part: writing %s: %w (parts are immutable)", path, fs.ErrExist)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return Meta{}, fmt.Errorf("part: creating temp file for %s: %w", path, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := p.encode(tmp, opts); err != nil {
		return Meta{}, fmt.Errorf("part: writing %s: %w", path, err)
	}
	if err := p.prune(tmp); err != nil {
		return Meta{}, fmt.Errorf("part: writing the page index of %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return Meta{}, fmt.Errorf("part: syncing %s: %w", tmpName, err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return Meta{}, fmt.Errorf("part: stat %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return Meta{}, fmt.Errorf("part: closing %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return Meta{}, fmt.Errorf("part: renaming %s to %s: %w", tmpName, path, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return Meta{}, fmt.Errorf("part: syncing directory of %s: %w", path, err)
	}
	p.meta.Bytes = st.Size()
	return p.meta, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// newPlan validates b and dims and works out the schema and Meta.
func newPlan(b *columnar.Batch, dims []string, opts WriterOptions) (*plan, error) {
	if b == nil {
		return nil, errorf(ErrInvalid, "nil batch")
	}
	if err := b.Validate(); err != nil {
		return nil, errorf(ErrInvalid, "%v", err)
	}
	n := b.Len()
	if n == 0 {
		return nil, errorf(ErrInvalid, "empty batch")
	}
	seen := make(map[string]bool, len(b.Names))
	for i, name := range b.Names {
		if name == "" {
			return nil, errorf(ErrInvalid, "column %d has no name", i)
		}
		if seen[name] {
			return nil, errorf(ErrInvalid, "column %q appears twice", name)
		}
		seen[name] = true
		if b.Cols[i] == nil {
			return nil, errorf(ErrInvalid, "column %q is nil", name)
		}
	}
	required := func(name string, t columnar.Type) (*columnar.Column, error) {
		c := b.Col(name)
		if c == nil {
			return nil, errorf(ErrInvalid, "required column %q missing", name)
		}
		if c.Type != t {
			return nil, errorf(ErrInvalid, "column %q has type %v, want %v", name, c.Type, t)
		}
		for i := range n {
			if c.IsNull(i) {
				return nil, errorf(ErrInvalid, "column %q is NULL in row %d", name, i)
			}
		}
		return c, nil
	}
	timeCol, err := required(ColTime, columnar.Timestamp)
	if err != nil {
		return nil, err
	}
	if _, err := required(ColVersion, columnar.Int64); err != nil {
		return nil, err
	}
	mnCol, err := required(ColMeasureName, columnar.String)
	if err != nil {
		return nil, err
	}
	isDim := make(map[string]bool, len(dims))
	dimCols := make([]*columnar.Column, len(dims))
	for i, d := range dims {
		if d == ColTime || d == ColVersion || d == ColMeasureName {
			return nil, errorf(ErrInvalid, "%q cannot be a dimension", d)
		}
		if isDim[d] {
			return nil, errorf(ErrInvalid, "dimension %q listed twice", d)
		}
		isDim[d] = true
		c := b.Col(d)
		if c == nil {
			return nil, errorf(ErrInvalid, "dimension column %q missing", d)
		}
		if c.Type != columnar.String {
			return nil, errorf(ErrInvalid, "dimension %q has type %v, want VARCHAR", d, c.Type)
		}
		dimCols[i] = c
	}

	// Sort order, duplicates, series count and time range in one pass.
	series := 1
	seriesStarts := []int{0}
	minT, maxT := timeCol.Ints[0], timeCol.Ints[0]
	for i := 1; i < n; i++ {
		t := timeCol.Ints[i]
		minT, maxT = min(minT, t), max(maxT, t)
		c := compareSeries(mnCol, dimCols, i-1, i)
		if c == 0 {
			switch {
			case timeCol.Ints[i-1] < t:
				continue
			case timeCol.Ints[i-1] == t:
				return nil, errorf(ErrDuplicate, "rows %d and %d", i-1, i)
			}
			return nil, errorf(ErrUnsorted, "time goes back at row %d", i)
		}
		if c > 0 {
			return nil, errorf(ErrUnsorted, "series goes back at row %d", i)
		}
		series++
		seriesStarts = append(seriesStarts, i)
	}

	p := &plan{meta: Meta{
		FormatVersion: FormatVersion,
		MinTime:       minT,
		MaxTime:       maxT,
		Rows:          int64(n),
		Series:        series,
		Dims:          append([]string{}, dims...),
		PageRows:      opts.PageRows,
	}}
	if !opts.NoSeriesStats {
		raw := appendSeriesStats(nil, &p.meta, mnCol, dimCols, timeCol.Ints, seriesStarts)
		p.series = appendFooterText(nil, raw)
	}
	p.pages, p.groups = layout(seriesStarts, n, opts.PageRows, opts.RowGroupRows)
	p.meta.RowGroups = len(p.groups) - 1
	group := parquet.Group{}
	dbp := &deltaEncoding{nibble: true}
	dbpTime := &deltaEncoding{minis: dbpTimeMinis}
	for i, name := range b.Names {
		c := b.Cols[i]
		info := ColumnInfo{Name: name, Type: c.Type, Dim: isDim[name]}
		var node parquet.Node
		switch {
		case name == ColTime:
			node = parquet.Encoded(parquet.Timestamp(parquet.Nanosecond), dbpTime)
		case name == ColVersion:
			node = parquet.Encoded(parquet.Int(64), dbp)
		case name == ColMeasureName:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		default:
			switch c.Type {
			case columnar.String:
				node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
			case columnar.Int64:
				node = parquet.Encoded(parquet.Int(64), dbp)
			case columnar.Timestamp:
				node = parquet.Encoded(parquet.Timestamp(parquet.Nanosecond), dbp)
			case columnar.Bool:
				node = parquet.Leaf(parquet.BooleanType)
			case columnar.Float64:
				s, ok := 0, false
				if !opts.NoDecimal {
					s, ok = enc.DecimalScale(c.Floats, c.Nulls)
				}
				if ok {
					info.Decimal, info.Scale = true, s
					node = parquet.Encoded(parquet.Decimal(s, 18, parquet.Int64Type), dbp)
				} else {
					node = parquet.Encoded(parquet.Leaf(parquet.DoubleType), &parquet.ByteStreamSplit)
				}
			default:
				return nil, errorf(ErrInvalid, "column %q has unsupported type %v", name, c.Type)
			}
			// Value and dimension columns are always OPTIONAL, whether or
			// not this batch has NULLs, so that parts of one table share a
			// schema; an all-present definition level run costs ~nothing.
			node = parquet.Optional(node)
		}
		group[name] = node
		p.meta.Columns = append(p.meta.Columns, info)
		p.cols = append(p.cols, c)
	}
	p.schema = parquet.NewSchema("sluice_part", group)
	if !opts.NoSeriesStats && opts.Minutes {
		// After the columns: the pre-aggregates use their decimal scales.
		raw := appendMinutes(nil, &p.meta, p.cols, timeCol.Ints, seriesStarts)
		p.minutes = appendFooterText(nil, raw)
	}
	return p, nil
}

// compareSeries compares the series of rows i and j: measure_name, then each
// dimension with NULL before any value.
func compareSeries(mn *columnar.Column, dims []*columnar.Column, i, j int) int {
	if a, b := mn.Strs[i], mn.Strs[j]; a != b {
		if a < b {
			return -1
		}
		return 1
	}
	for _, d := range dims {
		ni, nj := d.IsNull(i), d.IsNull(j)
		switch {
		case ni && nj:
			continue
		case ni:
			return -1
		case nj:
			return 1
		}
		if a, b := d.Strs[i], d.Strs[j]; a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	return 0
}

type fileWriter interface {
	Write([]byte) (int, error)
}

// encode writes the Parquet file. Pages are cut by hand (ColumnWriter.Flush
// every PageRows rows) rather than by parquet-go's byte-size heuristic so
// that all columns share page boundaries; see the package invariants.
func (p *plan) encode(out fileWriter, opts WriterOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet-go panicked: %v", r)
		}
	}()
	metaJSON, err := json.Marshal(p.meta)
	if err != nil {
		return err
	}
	sorting := []parquet.SortingColumn{parquet.Ascending(ColMeasureName)}
	for _, d := range p.meta.Dims {
		sorting = append(sorting, parquet.NullsFirst(parquet.Ascending(d)))
	}
	sorting = append(sorting, parquet.Ascending(ColTime))
	options := []parquet.WriterOption{
		p.schema,
		parquet.Compression(&zstd.Codec{Level: zstd.Level(opts.CompressionLevel)}),
		// The largest row we buffer is 9 bytes (INT64/DOUBLE + a level);
		// with twice that per row the automatic flush never fires before
		// ours, and parquet-go preallocates a sane page buffer.
		parquet.PageBufferSize(coarsePageFactor * opts.PageRows * 16),
		parquet.MaxRowsPerRowGroup(int64(opts.RowGroupRows)),
		// Min/max live in the column index; repeating them in every page
		// header would cost ~20 bytes per page per column for nothing.
		parquet.DataPageStatistics(false),
		parquet.ColumnIndexSizeLimit(func([]string) int { return columnIndexSizeLimit }),
		parquet.KeyValueMetadata(KeyFormatVersion, strconv.Itoa(FormatVersion)),
		parquet.KeyValueMetadata(KeyMeta, string(metaJSON)),
		parquet.SortingWriterConfig(parquet.SortingColumns(sorting...)),
	}
	if p.series != nil {
		options = append(options, parquet.KeyValueMetadata(KeySeries, string(p.series)))
	}
	if p.minutes != nil {
		options = append(options, parquet.KeyValueMetadata(KeyMinutes, string(p.minutes)))
	}
	options = append(options,
		parquet.CreatedBy("sluice", "part-v"+strconv.Itoa(FormatVersion), ""),
		parquet.WriteBufferSize(256<<10),
	)
	// Validate first: NewWriter panics on a bad configuration. The options,
	// not the resulting *WriterConfig, go to NewWriter, because merging a
	// WriterConfig ORs boolean fields with the defaults and would turn
	// DataPageStatistics back on.
	if _, err := parquet.NewWriterConfig(options...); err != nil {
		return err
	}
	w := parquet.NewWriter(out, options...)
	writers := w.ColumnWriters()
	leaf := make([]int, len(p.cols))
	for i, info := range p.meta.Columns {
		lc, ok := p.schema.Lookup(info.Name)
		if !ok {
			return fmt.Errorf("column %q missing from schema", info.Name)
		}
		leaf[i] = lc.ColumnIndex
	}
	var (
		vals  []parquet.Value
		mants []int64
	)
	for g := 0; g+1 < len(p.groups); g++ {
		rg := p.pages[p.groups[g]]
		for i, c := range p.cols {
			info := p.meta.Columns[i]
			cw := writers[leaf[i]]
			optional := info.Name != ColTime && info.Name != ColVersion && info.Name != ColMeasureName
			coarse := p.coarse(info)
			pageStart := p.pages[p.groups[g]]
			for pg := p.groups[g]; pg < p.groups[g+1]; pg++ {
				lo, hi := p.pages[pg], p.pages[pg+1]
				if info.Decimal {
					var ok bool
					mants, ok = enc.AppendMantissas(mants[:0], c.Floats[lo:hi], nullsOf(c, lo, hi), info.Scale)
					if !ok {
						return fmt.Errorf("column %q: decimal conversion failed after detection", info.Name)
					}
				}
				vals = appendValues(vals[:0], c, lo, hi, leaf[i], optional, info.Decimal, mants)
				if _, err := cw.WriteRowValues(vals); err != nil {
					return fmt.Errorf("column %q rows %d..%d: %w", info.Name, lo, hi, err)
				}
				if coarse && pg+1 < p.groups[g+1] && p.pages[pg+2]-pageStart <= coarsePageFactor*opts.PageRows {
					continue // the next page's rows join this one
				}
				pageStart = hi
				if err := cw.Flush(); err != nil {
					return fmt.Errorf("column %q rows %d..%d: %w", info.Name, lo, hi, err)
				}
			}
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("row group at row %d: %w", rg, err)
		}
	}
	return w.Close()
}

// coarsePageFactor: columns that scans neither filter on nor usually
// return (measure_name, dimensions and version, when the part has series
// statistics) are cut into pages of up to this many times PageRows rows,
// at page boundaries of the other columns. Their values are runs of alike
// numbers that cost almost nothing, while every page costs ~50 bytes
// (header, offset-index entry, zstd frame).
const coarsePageFactor = 8

// coarse reports whether column info gets coarse pages.
func (p *plan) coarse(info ColumnInfo) bool {
	return p.series != nil && (info.Dim || info.Name == ColMeasureName || info.Name == ColVersion)
}

// prune drops the column indexes no scan uses (see pageindex.go).
func (p *plan) prune(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	keep := make([]bool, len(p.cols))
	for _, info := range p.meta.Columns {
		lc, _ := p.schema.Lookup(info.Name)
		keep[lc.ColumnIndex] = info.Name == ColTime || (p.series == nil && (info.Dim || info.Name == ColMeasureName))
	}
	_, err = pruneColumnIndexes(f, st.Size(), func(leaf int) bool { return leaf < len(keep) && keep[leaf] })
	return err
}

func nullsOf(c *columnar.Column, lo, hi int) []bool {
	if c.Nulls == nil {
		return nil
	}
	return c.Nulls[lo:hi]
}

// appendValues converts rows [lo, hi) of c to parquet values of leaf column
// col. Strings are passed without copying: parquet-go copies them into its
// dictionary before WriteRowValues returns, and c is not modified meanwhile.
func appendValues(dst []parquet.Value, c *columnar.Column, lo, hi, col int, optional, decimal bool, mants []int64) []parquet.Value {
	def := 0
	if optional {
		def = 1
	}
	for i := lo; i < hi; i++ {
		if c.IsNull(i) {
			dst = append(dst, parquet.NullValue().Level(0, 0, col))
			continue
		}
		var v parquet.Value
		switch c.Type {
		case columnar.Int64, columnar.Timestamp:
			v = parquet.Int64Value(c.Ints[i])
		case columnar.Float64:
			if decimal {
				v = parquet.Int64Value(mants[i-lo])
			} else {
				v = parquet.DoubleValue(c.Floats[i])
			}
		case columnar.String:
			s := c.Strs[i]
			v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
		case columnar.Bool:
			v = parquet.BooleanValue(c.Bools[i])
		}
		dst = append(dst, v.Level(0, def, col))
	}
	return dst
}
