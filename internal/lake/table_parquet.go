package lake

// Parquet files for lake tables, read with parquet-go's page API: only the
// wanted columns are decoded, page by page, straight into typed columns
// (dictionary pages of strings are turned into Go strings once per row
// group). Row groups whose min/max statistics cannot satisfy the scan's
// predicates are skipped without reading their pages. Columns match
// top-level Parquet fields by name, ignoring case; a column the file lacks
// is NULL, and a value of another physical type is converted (or NULL when
// it cannot be).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

type parquetDecoder struct {
	t     *Table
	want  []wantCol
	preds []plan.ColPred
	vals  []parquet.Value
	dicts dictMemo
}

// rowGroup is the decoded columns of one row group and the storage they
// use. The batches handed out are views of it; a columnar.Hold counts
// their readers (the scan's caller, and any reader that Retains a
// column), and the last one to let go puts the row group in the table's
// pool (Table.rowGroups), so that decoding allocates little in the steady
// state, from scan to scan too.
type rowGroup struct {
	cols  []*columnar.Column
	codes [][]int32 // per column: dictionary codes of a VARCHAR column
	// blank, per VARCHAR column: how many leading entries of its Strs'
	// storage are known to be empty strings, so that a codes-only read
	// (see Table.ScanCodesOnly) need not clear them again.
	blank []int
}

// newParquetDecoder returns a decoder numbering dictionary strings in
// num (nil: its own).
func newParquetDecoder(t *Table, want []wantCol, preds []plan.ColPred, num *dictNumbering) *parquetDecoder {
	return &parquetDecoder{t: t, want: want, preds: preds, dicts: dictMemo{num: num}}
}

// rowGroupColumns returns empty columns for the wanted columns with room
// for n rows, recycled when possible.
func (d *parquetDecoder) rowGroupColumns(n int) *rowGroup {
	rg, _ := d.t.bufs.rowGroups.Get().(*rowGroup)
	if rg == nil {
		rg = &rowGroup{}
	}
	rg.cols = growTo(rg.cols, len(d.want))
	rg.codes = growTo(rg.codes, len(d.want))
	rg.blank = growTo(rg.blank, len(d.want))
	for i, w := range d.want {
		c := rg.cols[i]
		rg.codes[i] = rg.codes[i][:0]
		if c == nil || c.Type != w.typ || columnCap(c) < n {
			c = columnar.NewColumn(w.typ, n)
			rg.cols[i], rg.blank[i] = c, cap(c.Strs) // new memory is zero
			continue
		}
		c.Reset()
	}
	return rg
}

// growTo returns s with length n, keeping its elements.
func growTo[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return append(s, make([]T, n-len(s))...)
}

func columnCap(c *columnar.Column) int {
	switch c.Type {
	case columnar.Bool:
		return cap(c.Bools)
	case columnar.Int64, columnar.Timestamp, columnar.Date, columnar.Interval:
		return cap(c.Ints)
	case columnar.Float64:
		return cap(c.Floats)
	case columnar.String:
		return cap(c.Strs)
	}
	return 0
}

// pqLeaf is a file column a wanted column reads.
type pqLeaf struct {
	leaf     int
	kind     parquet.Kind
	optional bool
	maxDef   int
	tsUnit   int64 // nanoseconds per unit for INT64 timestamps
	date     bool  // INT32 DATE
}

func (d *parquetDecoder) file(ctx context.Context, f fileTask, emit emitFunc) (err error) {
	fh, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("lake: opening %s: %w", f.path, err)
	}
	defer fh.Close()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("lake: reading %s: parquet-go panicked: %v", f.path, p)
		}
	}()
	pf, err := openParquet(fh, f.size)
	if err != nil {
		return fmt.Errorf("lake: reading %s: %w", f.path, err)
	}
	d.t.stats.files.Add(1)
	pages, _ := d.t.bufs.chunkReaders.Get().(*chunkReader)
	if pages == nil {
		pages = &chunkReader{}
	}
	defer d.t.bufs.chunkReaders.Put(pages)
	schema := pf.Schema()
	// Resolve every top-level leaf by lower-case name.
	leaves := map[string]pqLeaf{}
	for _, path := range schema.Columns() {
		if len(path) != 1 {
			continue
		}
		lc, ok := schema.Lookup(path...)
		if !ok || lc.MaxRepetitionLevel != 0 {
			continue
		}
		l := pqLeaf{leaf: lc.ColumnIndex, kind: lc.Node.Type().Kind(), optional: lc.MaxDefinitionLevel > 0, maxDef: lc.MaxDefinitionLevel, tsUnit: 1e6}
		if lt := lc.Node.Type().LogicalType(); lt != nil {
			switch v := lt.Value.(type) {
			case *format.TimestampType:
				switch v.Unit.Value.(type) {
				case *format.MicroSeconds:
					l.tsUnit = 1e3
				case *format.NanoSeconds:
					l.tsUnit = 1
				}
			case *format.DateType:
				l.date = true
			}
		}
		name := strings.ToLower(path[0])
		if _, dup := leaves[name]; !dup {
			leaves[name] = l
		}
	}
	cols := make([]*pqLeaf, len(d.want))
	for i, w := range d.want {
		if w.data < 0 {
			continue
		}
		if l, ok := leaves[w.name]; ok {
			cols[i] = &l
		}
	}
	md := pf.Metadata()
	for g, rg := range pf.RowGroups() {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := rg.NumRows()
		if n == 0 {
			continue
		}
		if !d.rowGroupMayMatch(md, g, leaves) {
			d.t.stats.rgSkipped.Add(1)
			continue
		}
		d.t.stats.rgRead.Add(1)
		chunks := rg.ColumnChunks()
		rgb := d.rowGroupColumns(int(n))
		out := rgb.cols
		for i, w := range d.want {
			c := out[i]
			switch {
			case w.part >= 0:
				continue // filled below
			case cols[i] == nil:
				for range n {
					c.AppendNull()
				}
				continue
			}
			var cc *format.ColumnChunk
			if g < len(md.RowGroups) && cols[i].leaf < len(md.RowGroups[g].Columns) {
				cc = &md.RowGroups[g].Columns[cols[i].leaf]
				d.t.stats.bytes.Add(cc.MetaData.TotalCompressedSize)
			}
			err := errNotFast
			if cc != nil && !d.t.slowParquet && fastChunk(cols[i], cc, c.Type) {
				err = pages.read(fh, f.size, cc, cols[i], int(n), c, &rgb.codes[i], &d.dicts, i, w.codesOnly, &rgb.blank[i])
			}
			if errors.Is(err, errNotFast) {
				rgb.blank[i] = 0
				c.Reset()
				err = d.readChunk(chunks[cols[i].leaf], cols[i], n, c, &rgb.codes[i])
			}
			if err != nil {
				return fmt.Errorf("lake: reading column %q of row group %d of %s: %w", w.name, g, f.path, err)
			}
			if c.Len() != int(n) {
				return fmt.Errorf("lake: column %q of row group %d of %s has %d rows, want %d", w.name, g, f.path, c.Len(), n)
			}
		}
		fillPartitions(d.want, out, f, int(n))
		// Hand the row group on in executor-sized slices (views, no
		// copies), counted by a hold: the buffers are reused once the
		// scan's caller is done with the last batch and every reader that
		// retained a column has released it.
		hold := columnar.NewHold(func() {
			if !hasUnknown(out) {
				d.t.bufs.rowGroups.Put(rgb)
			}
		})
		for lo := 0; lo < int(n); lo += batchRows {
			hi := min(int(n), lo+batchRows)
			b := &columnar.Batch{Names: make([]string, len(d.want)), Cols: make([]*columnar.Column, len(d.want))}
			for i, w := range d.want {
				b.Names[i] = w.name
				b.Cols[i] = sliceColumn(out[i], lo, hi, hold)
			}
			var rel func()
			if hi == int(n) {
				rel = hold.Release // the row group's last batch
			}
			if err := emit(b, rel); err != nil {
				hold.Release()
				return err
			}
		}
	}
	return nil
}

// hasUnknown reports a column of type Unknown (no value slice to reuse).
func hasUnknown(cols []*columnar.Column) bool {
	for _, c := range cols {
		if c.Type == columnar.Unknown {
			return true
		}
	}
	return false
}

func openParquet(fh *os.File, size int64) (*parquet.File, error) {
	if size < 12 {
		return nil, fmt.Errorf("%d bytes is too short for a Parquet file", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := fh.ReadAt(head[:], 0); err != nil {
		return nil, err
	}
	if _, err := fh.ReadAt(tail[:], size-8); err != nil {
		return nil, err
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return nil, errors.New("not a Parquet file (no PAR1 magic)")
	}
	// parquet-go trusts the footer length; check it before it allocates.
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 || footer == 0 {
		return nil, fmt.Errorf("footer length %d does not fit in %d bytes", footer, size)
	}
	return parquet.OpenFile(fh, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true), parquet.ReadBufferSize(256<<10))
}

// sliceColumn returns a view of rows [lo, hi) of c, with c's dictionary
// codes, under hold.
func sliceColumn(c *columnar.Column, lo, hi int, hold *columnar.Hold) *columnar.Column {
	s := &columnar.Column{Type: c.Type}
	switch c.Type {
	case columnar.Bool:
		s.Bools = c.Bools[lo:hi:hi]
	case columnar.Int64, columnar.Timestamp, columnar.Date, columnar.Interval:
		s.Ints = c.Ints[lo:hi:hi]
	case columnar.Float64:
		s.Floats = c.Floats[lo:hi:hi]
	case columnar.String:
		s.Strs = c.Strs[lo:hi:hi]
	}
	if c.Nulls != nil {
		s.Nulls = c.Nulls[lo:hi:hi]
	}
	if codes, dict := c.Codes(); dict != nil {
		s.SetCodes(codes[lo:hi:hi], dict)
	}
	s.SetHold(hold)
	return s
}

// rowGroupMayMatch checks the scan's predicates against the row group's
// column statistics.
func (d *parquetDecoder) rowGroupMayMatch(md *format.FileMetaData, g int, leaves map[string]pqLeaf) bool {
	if len(d.preds) == 0 || g >= len(md.RowGroups) {
		return true
	}
	rg := &md.RowGroups[g]
	for _, p := range d.preds {
		l, ok := leaves[p.Column]
		if !ok || l.leaf >= len(rg.Columns) {
			continue
		}
		st := &rg.Columns[l.leaf].MetaData.Statistics
		minB, maxB := st.MinValue, st.MaxValue
		if minB == nil || maxB == nil {
			minB, maxB = st.Min, st.Max // older writers; signed order
			if l.kind == parquet.ByteArray {
				continue // old byte-array statistics may use signed byte order
			}
		}
		if minB == nil || maxB == nil {
			if rg.NumRows > 0 && st.NullCount == rg.NumRows {
				return false // all NULL: no comparison holds
			}
			continue
		}
		lo, ok1 := statValue(l, minB, p.Type)
		hi, ok2 := statValue(l, maxB, p.Type)
		if !ok1 || !ok2 {
			continue
		}
		if !rangeMayMatch(lo, hi, p) {
			return false
		}
	}
	return true
}

// statValue decodes a PLAIN statistic into a value comparable with
// constants of type t (nil, false when it cannot be compared).
func statValue(l pqLeaf, b []byte, t columnar.Type) (any, bool) {
	switch l.kind {
	case parquet.Int32:
		if len(b) != 4 {
			return nil, false
		}
		v := int64(int32(binary.LittleEndian.Uint32(b)))
		if t == columnar.Timestamp || (t == columnar.Date) != l.date {
			return nil, false
		}
		return v, true
	case parquet.Int64:
		if len(b) != 8 {
			return nil, false
		}
		v := int64(binary.LittleEndian.Uint64(b))
		if t == columnar.Timestamp {
			if v > math.MaxInt64/l.tsUnit || v < math.MinInt64/l.tsUnit {
				return nil, false
			}
			return v * l.tsUnit, true
		}
		if t == columnar.Date {
			return nil, false
		}
		return v, true
	case parquet.Float:
		if len(b) != 4 {
			return nil, false
		}
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), t == columnar.Float64 || t == columnar.Int64
	case parquet.Double:
		if len(b) != 8 {
			return nil, false
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), t == columnar.Float64 || t == columnar.Int64
	case parquet.ByteArray:
		return string(b), t == columnar.String
	}
	return nil, false
}

func rangeMayMatch(lo, hi any, p plan.ColPred) bool {
	in := func(v any) bool {
		c1, ok1 := compareAny(v, lo)
		c2, ok2 := compareAny(v, hi)
		return !ok1 || !ok2 || (c1 >= 0 && c2 <= 0)
	}
	if p.Op == "in" {
		for _, v := range p.Values {
			if in(v) {
				return true
			}
		}
		return false
	}
	if len(p.Values) != 1 {
		return true
	}
	v := p.Values[0]
	switch p.Op {
	case "=":
		return in(v)
	case "<": // some value < v  ⇔  min < v
		c, ok := compareAny(lo, v)
		return !ok || c < 0
	case "<=":
		c, ok := compareAny(lo, v)
		return !ok || c <= 0
	case ">":
		c, ok := compareAny(hi, v)
		return !ok || c > 0
	case ">=":
		c, ok := compareAny(hi, v)
		return !ok || c >= 0
	}
	return true
}

// readChunk decodes all n rows of a column chunk into dst. A VARCHAR
// column whose pages are all dictionary-coded keeps the codes as well
// (in *codes, attached to dst with SetCodes), so that readers can group
// or compare by code.
func (d *parquetDecoder) readChunk(cc parquet.ColumnChunk, l *pqLeaf, n int64, dst *columnar.Column, codes *[]int32) error {
	pages := cc.Pages()
	defer pages.Close()
	var dict []string
	var dictSrc parquet.Dictionary
	var cdict *columnar.Dict
	coded := l.kind == parquet.ByteArray && dst.Type == columnar.String
	*codes = (*codes)[:0]
	for need := n; need > 0; {
		page, err := pages.ReadPage()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		rows := page.NumRows()
		take := min(rows, need)
		if take <= 0 {
			parquet.Release(page)
			return errors.New("empty page")
		}
		if dd := page.Dictionary(); dd != nil && l.kind == parquet.ByteArray && dst.Type == columnar.String && dd != dictSrc {
			coded = coded && dictSrc == nil // one dictionary per chunk, else no codes
			dictSrc = dd
			dict = make([]string, dd.Len())
			dv := dd.Page().Data()
			data, offs := dv.ByteArray()
			if len(offs) == len(dict)+1 {
				all := string(data) // one allocation; entries are substrings
				for i := range dict {
					dict[i] = all[offs[i]:offs[i+1]]
				}
			} else {
				for i := range dict {
					dict[i] = string(dd.Index(int32(i)).ByteArray())
				}
			}
			cdict = columnar.NewDict(dict)
		}
		if coded && (page.Dictionary() == nil || dict == nil) {
			coded = false // a plain page (the writer's dictionary overflowed)
		}
		start := dst.Len()
		err = d.appendPage(page, l, int(take), dst, dict)
		if err == nil && coded {
			*codes = appendCodes(*codes, page, dst, start, int(take))
		}
		parquet.Release(page)
		if err != nil {
			return err
		}
		need -= take
	}
	if coded && cdict != nil && cdict.Len() > 0 && len(*codes) == dst.Len() {
		dst.SetCodes(*codes, cdict)
	}
	return nil
}

// appendCodes appends the dictionary codes of the n rows appendPage just
// appended to dst from row start (code 0 for NULL rows).
func appendCodes(codes []int32, page parquet.Page, dst *columnar.Column, start, n int) []int32 {
	data := page.Data()
	idx := data.Int32()
	if dst.Nulls == nil {
		return append(codes, idx[:n]...)
	}
	j := 0
	for _, null := range dst.Nulls[start : start+n] {
		if null {
			codes = append(codes, 0)
		} else {
			codes = append(codes, idx[j])
			j++
		}
	}
	return codes
}

// appendPage appends the first n rows of page to dst.
func (d *parquetDecoder) appendPage(page parquet.Page, l *pqLeaf, n int, dst *columnar.Column, dict []string) error {
	var levels []byte
	nn := n
	if l.optional {
		levels = page.DefinitionLevels()
		if len(levels) < n {
			return fmt.Errorf("page has %d levels for %d rows", len(levels), n)
		}
		levels = levels[:n]
		nn = 0
		for _, v := range levels {
			nn += int(v)
		}
		if nn == n {
			levels = nil
		}
	}
	// Fast paths: the physical type is the column's type. (Data of a
	// dictionary-coded page is its indexes: only strings read them here.)
	start := dst.Len()
	data := page.Data()
	coded := page.Dictionary() != nil
	switch {
	case coded && l.kind != parquet.ByteArray:
		// the slow path below reads values through the dictionary
	case l.kind == parquet.Double && dst.Type == columnar.Float64:
		v := data.Double()
		if len(v) < nn {
			return fmt.Errorf("page has %d values, want %d", len(v), nn)
		}
		dst.Floats = append(dst.Floats, v[:nn]...)
		dst.SpreadLevels(levels, start, nn)
		return nil
	case l.kind == parquet.Int64 && (dst.Type == columnar.Int64 || dst.Type == columnar.Timestamp):
		v := data.Int64()
		if len(v) < nn {
			return fmt.Errorf("page has %d values, want %d", len(v), nn)
		}
		if dst.Type == columnar.Timestamp && l.tsUnit != 1 {
			for _, x := range v[:nn] {
				dst.Ints = append(dst.Ints, x*l.tsUnit)
			}
		} else {
			dst.Ints = append(dst.Ints, v[:nn]...)
		}
		dst.SpreadLevels(levels, start, nn)
		return nil
	case l.kind == parquet.Int32 && (dst.Type == columnar.Int64 || (dst.Type == columnar.Date && l.date)):
		v := data.Int32()
		if len(v) < nn {
			return fmt.Errorf("page has %d values, want %d", len(v), nn)
		}
		for _, x := range v[:nn] {
			dst.Ints = append(dst.Ints, int64(x))
		}
		dst.SpreadLevels(levels, start, nn)
		return nil
	case l.kind == parquet.ByteArray && dst.Type == columnar.String:
		if dict != nil && page.Dictionary() != nil {
			idx := data.Int32()
			if len(idx) < nn {
				return fmt.Errorf("page has %d values, want %d", len(idx), nn)
			}
			for _, i := range idx[:nn] {
				if uint(i) >= uint(len(dict)) {
					return fmt.Errorf("dictionary index %d out of %d", i, len(dict))
				}
				dst.Strs = append(dst.Strs, dict[i])
			}
		} else {
			b, offs := data.ByteArray()
			if len(offs) < nn+1 {
				return fmt.Errorf("page has %d values, want %d", len(offs)-1, nn)
			}
			all := string(b[offs[0]:offs[nn]])
			base := offs[0]
			for k := range nn {
				dst.Strs = append(dst.Strs, all[offs[k]-base:offs[k+1]-base])
			}
		}
		dst.SpreadLevels(levels, start, nn)
		return nil
	}
	// Slow path: value by value, converting.
	vr := page.Values()
	if cap(d.vals) < 256 {
		d.vals = make([]parquet.Value, 256)
	}
	buf := d.vals[:256]
	for left := n; left > 0; {
		k, err := vr.ReadValues(buf[:min(left, len(buf))])
		for _, v := range buf[:k] {
			appendValue(dst, v, l)
		}
		left -= k
		if err != nil {
			if err == io.EOF && left == 0 {
				return nil
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if k == 0 {
			return io.ErrNoProgress
		}
	}
	return nil
}

// appendValue converts one Parquet value to dst's type; what does not
// convert is NULL.
func appendValue(dst *columnar.Column, v parquet.Value, l *pqLeaf) {
	if v.IsNull() {
		dst.AppendNull()
		return
	}
	var f float64
	var i int64
	var isInt, isFloat bool
	switch v.Kind() {
	case parquet.Boolean:
		switch dst.Type {
		case columnar.Bool:
			dst.AppendBool(v.Boolean())
		case columnar.String:
			dst.AppendString(strconv.FormatBool(v.Boolean()))
		default:
			dst.AppendNull()
		}
		return
	case parquet.Int32:
		i, isInt = int64(v.Int32()), true
		if l.date {
			if dst.Type == columnar.Date {
				dst.AppendInt(i)
				return
			}
			if dst.Type == columnar.Timestamp {
				dst.AppendInt(i * 86400e9)
				return
			}
		}
	case parquet.Int64:
		i, isInt = v.Int64(), true
		if dst.Type == columnar.Timestamp {
			dst.AppendInt(i * l.tsUnit)
			return
		}
	case parquet.Int96:
		// Impala/Hive timestamps: nanoseconds of the day, then Julian day.
		x := v.Int96()
		nanos := int64(uint64(x[0]) | uint64(x[1])<<32)
		day := int64(x[2])
		ns := (day-2440588)*86400e9 + nanos
		switch dst.Type {
		case columnar.Timestamp:
			dst.AppendInt(ns)
		case columnar.Date:
			dst.AppendInt(floorDivInt(ns, 86400e9))
		default:
			dst.AppendNull()
		}
		return
	case parquet.Float:
		f, isFloat = float64(v.Float()), true
	case parquet.Double:
		f, isFloat = v.Double(), true
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if dst.Type == columnar.String {
			dst.AppendString(string(v.ByteArray()))
		} else {
			appendText(dst, v.ByteArray())
		}
		return
	}
	switch dst.Type {
	case columnar.Int64:
		if isInt {
			dst.AppendInt(i)
		} else if isFloat && f == math.Trunc(f) && math.Abs(f) < 9.2e18 {
			dst.AppendInt(int64(f))
		} else {
			dst.AppendNull()
		}
	case columnar.Float64:
		if isInt {
			dst.AppendFloat(float64(i))
		} else if isFloat {
			dst.AppendFloat(f)
		} else {
			dst.AppendNull()
		}
	case columnar.String:
		if isInt {
			dst.AppendString(strconv.FormatInt(i, 10))
		} else if isFloat {
			dst.AppendString(strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			dst.AppendNull()
		}
	case columnar.Timestamp:
		if isFloat {
			dst.AppendInt(int64(math.Round(f * 1e6)))
		} else {
			dst.AppendNull()
		}
	default:
		dst.AppendNull()
	}
}

func floorDivInt(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
