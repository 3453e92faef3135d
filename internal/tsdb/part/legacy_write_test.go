package part

// The writer of part files before sluice wrote Parquet itself (pwrite.go):
// parquet-go's Writer fed []parquet.Value rows, its column indexes pruned
// afterwards. Kept in the tests as an oracle: both writers' files must
// read back the same, and the new one must be no bigger.

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// deltaEncoding is parquet-go's DELTA_BINARY_PACKED with sluice's INT64
// encoder; everything else (the Encoding() code, INT32) is parquet-go's.
type deltaEncoding struct {
	delta.BinaryPackedEncoding
	minis  int  // miniblocks of 32 values per block; 0 = dbpMinis
	nibble bool // widths 1..3 written as 4 (see appendDBP)
}

func (e *deltaEncoding) EncodeInt64(dst []byte, src []int64) ([]byte, error) {
	return appendDBP(dst[:0], src, cmp.Or(e.minis, dbpMinis), e.nibble), nil
}

// encode writes the Parquet file. Pages are cut by hand (ColumnWriter.Flush
// every PageRows rows) rather than by parquet-go's byte-size heuristic so
// that all columns share page boundaries; see the package invariants.
func (p *plan) encodeLegacy(out io.Writer, schema *parquet.Schema, opts WriterOptions) (err error) {
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
		schema,
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
		lc, ok := schema.Lookup(info.Name)
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

// prune drops the column indexes no scan uses (see pageindex.go).
func (p *plan) pruneLegacy(f *os.File, schema *parquet.Schema) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	keep := make([]bool, len(p.cols))
	for _, info := range p.meta.Columns {
		lc, _ := schema.Lookup(info.Name)
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

// fileRW is what pruneColumnIndexes needs of the file being written.
type fileRW interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
}

// pruneColumnIndexes drops the column index of every chunk whose leaf
// column keep rejects (but chunk 0 of row group 0), given the file's size,
// and returns the new size.
func pruneColumnIndexes(f fileRW, size int64, keep func(leaf int) bool) (int64, error) {
	var tail [8]byte
	if size < 12 {
		return 0, fmt.Errorf("%d bytes", size)
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return 0, err
	}
	flen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if string(tail[4:]) != "PAR1" || flen > size-12 {
		return 0, fmt.Errorf("no footer")
	}
	footer := make([]byte, flen)
	if _, err := f.ReadAt(footer, size-8-flen); err != nil {
		return 0, err
	}
	var md format.FileMetaData
	proto := &thrift.CompactProtocol{}
	if err := thrift.Unmarshal(proto, footer, &md); err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	// The index region: from the first index to the footer.
	start := size - 8 - flen
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.ColumnIndexOffset <= 0 || cc.OffsetIndexOffset <= 0 {
				return 0, fmt.Errorf("chunk without page index")
			}
			start = min(start, cc.ColumnIndexOffset, cc.OffsetIndexOffset)
		}
	}
	region := make([]byte, size-8-flen-start)
	if _, err := f.ReadAt(region, start); err != nil {
		return 0, err
	}
	slice := func(off int64, n int32) ([]byte, error) {
		a := off - start
		if a < 0 || n < 0 || a+int64(n) > int64(len(region)) {
			return nil, fmt.Errorf("page index at %d+%d outside its region", off, n)
		}
		return region[a : a+int64(n)], nil
	}
	out := make([]byte, 0, len(region))
	pos := start
	for g := range md.RowGroups {
		for c := range md.RowGroups[g].Columns {
			cc := &md.RowGroups[g].Columns[c]
			if (g > 0 || c > 0) && !keep(c) {
				cc.ColumnIndexOffset, cc.ColumnIndexLength = 0, 0
				continue
			}
			b, err := slice(cc.ColumnIndexOffset, cc.ColumnIndexLength)
			if err != nil {
				return 0, err
			}
			out = append(out, b...)
			cc.ColumnIndexOffset = pos
			pos += int64(len(b))
		}
	}
	for g := range md.RowGroups {
		for c := range md.RowGroups[g].Columns {
			cc := &md.RowGroups[g].Columns[c]
			b, err := slice(cc.OffsetIndexOffset, cc.OffsetIndexLength)
			if err != nil {
				return 0, err
			}
			out = append(out, b...)
			cc.OffsetIndexOffset = pos
			pos += int64(len(b))
		}
	}
	nf, err := thrift.Marshal(proto, &md)
	if err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	out = append(out, nf...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(nf)))
	out = append(out, "PAR1"...)
	if _, err := f.WriteAt(out, start); err != nil {
		return 0, err
	}
	end := start + int64(len(out))
	if err := f.Truncate(end); err != nil {
		return 0, err
	}
	return end, nil
}

// legacySchema is the parquet-go schema the old writer gave the plan's
// columns, with sluice's encoders.
func legacySchema(p *plan) *parquet.Schema {
	group := parquet.Group{}
	dbp := &deltaEncoding{nibble: true}
	dbpTime := &deltaEncoding{minis: dbpTimeMinis}
	for _, info := range p.meta.Columns {
		var node parquet.Node
		switch {
		case info.Name == ColTime:
			node = parquet.Encoded(parquet.Timestamp(parquet.Nanosecond), dbpTime)
		case info.Name == ColVersion:
			node = parquet.Encoded(parquet.Int(64), dbp)
		case info.Name == ColMeasureName:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		default:
			switch info.Type {
			case columnar.String:
				node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
			case columnar.Int64:
				node = parquet.Encoded(parquet.Int(64), dbp)
			case columnar.Timestamp:
				node = parquet.Encoded(parquet.Timestamp(parquet.Nanosecond), dbp)
			case columnar.Bool:
				node = parquet.Leaf(parquet.BooleanType)
			case columnar.Float64:
				if info.Decimal {
					node = parquet.Encoded(parquet.Decimal(info.Scale, 18, parquet.Int64Type), dbp)
				} else {
					node = parquet.Encoded(parquet.Leaf(parquet.DoubleType), &parquet.ByteStreamSplit)
				}
			}
			node = parquet.Optional(node)
		}
		group[info.Name] = node
	}
	return parquet.NewSchema("sluice_part", group)
}

// writeLegacy writes b as the old writer did (not atomically: for tests).
func writeLegacy(path string, b *columnar.Batch, dims []string, opts WriterOptions) (Meta, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Meta{}, err
	}
	p, err := newPlan(b, dims, opts)
	if err != nil {
		return Meta{}, err
	}
	f, err := os.Create(path)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	schema := legacySchema(p)
	if err := p.encodeLegacy(f, schema, opts); err != nil {
		return Meta{}, err
	}
	if err := p.pruneLegacy(f, schema); err != nil {
		return Meta{}, err
	}
	st, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	p.meta.Bytes = st.Size()
	return p.meta, nil
}
