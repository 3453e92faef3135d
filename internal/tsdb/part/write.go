package part

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
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
	mants   [][]int64          // parallel to meta.Columns: decimal mantissas, else nil
	starts  []int              // first row of each series
	pages   []int              // first row of each page, then the row count
	groups  []int              // first page of each row group, then len(pages)-1
	specs   []chunkSpec        // the columns in schema (leaf) order
	elems   []format.SchemaElement
	orders  []format.ColumnOrder
	sorting []format.SortingColumn
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
		if c.Nulls != nil {
			if i := slices.Index(c.Nulls[:n], true); i >= 0 {
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
	times, mn := timeCol.Ints, mnCol.Strs
	for i := 1; i < n; i++ {
		t := times[i]
		minT, maxT = min(minT, t), max(maxT, t)
		if times[i-1] < t && sameString(mn[i-1], mn[i]) && sameDims(dimCols, i-1, i) {
			continue // the common case, without comparing strings
		}
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
	var zw *zstd.Encoder // of the footer keys, one for both
	if !opts.NoSeriesStats {
		if zw, err = newFooterEncoder(); err != nil {
			return nil, fmt.Errorf("part: zstd encoder: %w", err)
		}
		defer zw.Close()
		raw := appendSeriesStats(nil, zw, &p.meta, mnCol, dimCols, timeCol.Ints, seriesStarts)
		p.series = appendFooterText(nil, raw)
	}
	p.pages, p.groups = layout(seriesStarts, n, opts.PageRows, opts.RowGroupRows)
	p.meta.RowGroups = len(p.groups) - 1
	p.starts = seriesStarts
	group := parquet.Group{}
	specs := map[string]chunkSpec{}
	for i, name := range b.Names {
		c := b.Cols[i]
		info := ColumnInfo{Name: name, Type: c.Type, Dim: isDim[name]}
		s := chunkSpec{col: c, optional: true, minis: dbpMinis, nibble: true, ints: c.Ints}
		var node parquet.Node
		switch {
		case name == ColTime:
			node = parquet.Timestamp(parquet.Nanosecond)
			s.phys, s.enc, s.optional, s.minis, s.nibble = format.Int64, format.DeltaBinaryPacked, false, dbpTimeMinis, false
		case name == ColVersion:
			node = parquet.Int(64)
			s.phys, s.enc, s.optional = format.Int64, format.DeltaBinaryPacked, false
		case name == ColMeasureName:
			node = parquet.String()
			s.phys, s.enc, s.optional, s.series = format.ByteArray, format.RLEDictionary, false, true
		default:
			switch c.Type {
			case columnar.String:
				node = parquet.String()
				s.phys, s.enc, s.series = format.ByteArray, format.RLEDictionary, info.Dim
			case columnar.Int64:
				node = parquet.Int(64)
				s.phys, s.enc = format.Int64, format.DeltaBinaryPacked
			case columnar.Timestamp:
				node = parquet.Timestamp(parquet.Nanosecond)
				s.phys, s.enc = format.Int64, format.DeltaBinaryPacked
			case columnar.Bool:
				node = parquet.Leaf(parquet.BooleanType)
				s.phys, s.enc = format.Boolean, format.Plain
			case columnar.Float64:
				scale, ok := 0, false
				if !opts.NoDecimal {
					scale, ok = decimalScale(c.Floats, c.Nulls)
				}
				if ok {
					info.Decimal, info.Scale = true, scale
					node = parquet.Decimal(scale, 18, parquet.Int64Type)
					s.phys, s.enc, s.ints = format.Int64, format.DeltaBinaryPacked, nil
				} else {
					node = parquet.Leaf(parquet.DoubleType)
					s.phys, s.enc = format.Double, format.ByteStreamSplit
				}
			default:
				return nil, errorf(ErrInvalid, "column %q has unsupported type %v", name, c.Type)
			}
			// Value and dimension columns are always OPTIONAL, whether or
			// not this batch has NULLs, so that parts of one table share a
			// schema; an all-present definition level run costs ~nothing.
			node = parquet.Optional(node)
		}
		s.info = info
		group[name] = node
		specs[name] = s
		p.meta.Columns = append(p.meta.Columns, info)
		p.cols = append(p.cols, c)
	}
	p.schemaOf(group, specs)
	if !opts.NoSeriesStats && opts.Minutes {
		// After the columns: the pre-aggregates use their decimal scales.
		raw := appendMinutes(nil, zw, &p.meta, p.cols, timeCol.Ints, seriesStarts)
		p.minutes = appendFooterText(nil, raw)
	}
	return p, nil
}

// sameString reports whether a and b are the same string, quickly where
// they share their bytes (the rows of a series usually do): false may
// still be equal strings, for compareSeries to tell.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

// sameDims reports whether rows i and j have the same dimensions by
// sameString (false: compare them with compareSeries).
func sameDims(dims []*columnar.Column, i, j int) bool {
	for _, d := range dims {
		if !sameString(d.Strs[i], d.Strs[j]) || (d.Nulls != nil && d.Nulls[i] != d.Nulls[j]) {
			return false
		}
	}
	return true
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

// decimalScale is enc.DecimalScale in fewer passes: the scale found by
// raising it where a value needs more digits is checked again only on the
// rows before its last raise (the rows after were checked at the final
// scale on the way), where enc.DecimalScale checks every row twice.
func decimalScale(vals []float64, nulls []bool) (scale int, ok bool) {
	raised := 0 // rows before this one were checked at a lower scale
	for i, v := range vals {
		if nulls != nil && nulls[i] {
			continue
		}
		if _, ok := enc.Mantissa(v, scale); ok {
			continue
		}
		found := false
		for s := scale + 1; s <= enc.MaxScale; s++ {
			if _, ok := enc.Mantissa(v, s); ok {
				scale, found = s, true
				break
			}
		}
		if !found {
			return 0, false
		}
		raised = i
	}
	for i, v := range vals[:raised] {
		if nulls != nil && nulls[i] {
			continue
		}
		if _, ok := enc.Mantissa(v, scale); !ok {
			return 0, false
		}
	}
	return scale, true
}

// schemaOf fills in the Parquet schema elements, column orders, sorting
// columns and the chunk specs in leaf order, as parquet-go's Writer derives
// them from the same nodes.
func (p *plan) schemaOf(group parquet.Group, specs map[string]chunkSpec) {
	fields := group.Fields() // in name order: the leaf order
	root := format.SchemaElement{Name: "sluice_part"}
	root.NumChildren.Set(int32(len(fields)))
	p.elems = append(p.elems, root)
	leafOf := map[string]int{}
	for leaf, f := range fields {
		t := f.Type()
		e := format.SchemaElement{Name: f.Name()}
		if f.Optional() {
			e.RepetitionType.Set(format.Optional)
		} else {
			e.RepetitionType.Set(format.Required)
		}
		if lt := t.LogicalType(); lt != nil {
			e.LogicalType = *lt
			if d, ok := lt.Value.(*format.DecimalType); ok {
				e.Scale.Set(d.Scale)
				e.Precision.Set(d.Precision)
			}
		}
		if n := int32(t.Length()); n > 0 {
			e.TypeLength.Set(n)
		}
		if pt := t.PhysicalType(); pt != nil {
			e.Type.Set(*pt)
		}
		if ct := t.ConvertedType(); ct != nil {
			e.ConvertedType.Set(*ct)
		}
		p.elems = append(p.elems, e)
		p.orders = append(p.orders, *t.ColumnOrder())
		s := specs[f.Name()]
		s.leaf = leaf
		s.coarse = p.coarse(s.info)
		p.specs = append(p.specs, s)
		leafOf[f.Name()] = leaf
	}
	p.sorting = append(p.sorting, format.SortingColumn{ColumnIdx: int32(leafOf[ColMeasureName])})
	for _, d := range p.meta.Dims {
		p.sorting = append(p.sorting, format.SortingColumn{ColumnIdx: int32(leafOf[d]), NullsFirst: true})
	}
	p.sorting = append(p.sorting, format.SortingColumn{ColumnIdx: int32(leafOf[ColTime])})
}

// encode writes the Parquet file: "PAR1", each row group's column chunks
// in leaf order, the page index and the footer.
func (p *plan) encode(f io.Writer, opts WriterOptions) (err error) {
	defer func() {
		// A bug here must not take the store down: it fails this part.
		if r := recover(); r != nil {
			err = fmt.Errorf("encoder panicked: %v", r)
		}
	}()
	metaJSON, err := json.Marshal(p.meta)
	if err != nil {
		return err
	}
	kv := []format.KeyValue{
		{Key: KeyFormatVersion, Value: strconv.Itoa(FormatVersion)},
		{Key: KeyMeta, Value: string(metaJSON)},
	}
	if p.series != nil {
		kv = append(kv, format.KeyValue{Key: KeySeries, Value: string(p.series)})
	}
	if p.minutes != nil {
		kv = append(kv, format.KeyValue{Key: KeyMinutes, Value: string(p.minutes)})
	}
	slices.SortFunc(kv, func(a, b format.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	w, err := newPQWriter(bufio.NewWriterSize(f, 256<<10), opts.CompressionLevel)
	if err != nil {
		return err
	}
	defer w.zenc.Close()
	w.write([]byte("PAR1"))
	md := format.FileMetaData{
		Version:          2,
		Schema:           p.elems,
		NumRows:          p.meta.Rows,
		KeyValueMetadata: kv,
		CreatedBy:        "sluice version part-v" + strconv.Itoa(FormatVersion) + "(build )",
		ColumnOrders:     p.orders,
	}
	chunks := make([][]chunk, len(p.groups)-1)
	var bounds []int
	for g := range chunks {
		chunks[g] = make([]chunk, len(p.specs))
		rg := format.RowGroup{
			NumRows:        int64(p.pages[p.groups[g+1]] - p.pages[p.groups[g]]),
			SortingColumns: p.sorting,
			FileOffset:     w.off,
			Ordinal:        int16(g),
		}
		for j := range p.specs {
			s := &p.specs[j]
			ch := &chunks[g][j]
			ch.md = format.ColumnMetaData{Type: s.phys, PathInSchema: []string{s.info.Name}, Codec: format.Zstd}
			if p.keepsColumnIndex(g, s) {
				ch.ci = &format.ColumnIndex{}
			}
			bounds = p.pageBounds(bounds, g, s.coarse, opts.PageRows)
			w.writeChunk(s, bounds, ch, p.starts)
			if w.err != nil {
				return fmt.Errorf("column %q of row group %d: %w", s.info.Name, g, w.err)
			}
			if ch.ci != nil {
				ch.ci.BoundaryOrder = boundaryOrder(ch.ci, s.phys)
			}
			var encs []format.Encoding
			if s.phys == format.ByteArray {
				encs = append(encs, format.Plain)
				ch.md.EncodingStats = append(ch.md.EncodingStats, format.PageEncodingStats{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1})
			}
			if s.optional {
				encs = append(encs, format.RLE)
			}
			encs = append(encs, s.enc)
			slices.Sort(encs)
			ch.md.Encoding = slices.Compact(encs)
			ch.md.EncodingStats = append(ch.md.EncodingStats, format.PageEncodingStats{PageType: format.DataPageV2, Encoding: s.enc, Count: ch.data})
			rg.TotalByteSize += ch.md.TotalUncompressedSize
			rg.TotalCompressedSize += ch.md.TotalCompressedSize
			rg.Columns = append(rg.Columns, format.ColumnChunk{MetaData: ch.md})
		}
		md.RowGroups = append(md.RowGroups, rg)
	}
	return w.finish(&md, chunks)
}
