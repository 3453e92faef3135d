package tsdb

import (
	"slices"
	"sort"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// batchBuilder assembles rows into a batch with the engine's column order:
// time, [version], measure_name, dimensions (sorted), value columns (sorted).
type batchBuilder struct {
	b                      *columnar.Batch
	time, version, measure *columnar.Column
	dimNames               []string
	dims                   []*columnar.Column
	fieldNames             []string
	fields                 []*columnar.Column
	fieldSrc               []int // scratch: source column per output field

	// The source batch appendRow last mapped, and its columns in builder
	// order (nil where the source lacks one or has another type).
	lastSrc          *columnar.Batch
	srcTime, srcVer  *columnar.Column
	srcMeasure       *columnar.Column
	srcDims, srcVals []*columnar.Column
}

func newBatchBuilder(dims []string, fields map[string]columnar.Type, withVersion bool) *batchBuilder {
	bb := &batchBuilder{b: &columnar.Batch{}}
	bb.time = bb.b.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	if withVersion {
		bb.version = bb.b.Add("version", columnar.NewColumn(columnar.Int64, 0))
	}
	bb.measure = bb.b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	bb.dimNames = dims
	for _, d := range dims {
		bb.dims = append(bb.dims, bb.b.Add(d, columnar.NewColumn(columnar.String, 0)))
	}
	for n := range fields {
		bb.fieldNames = append(bb.fieldNames, n)
	}
	sort.Strings(bb.fieldNames)
	for _, n := range bb.fieldNames {
		bb.fields = append(bb.fields, bb.b.Add(n, columnar.NewColumn(fields[n], 0)))
	}
	bb.fieldSrc = make([]int, len(bb.fields))
	return bb
}

// keepOnly drops measure_name and the dimension columns that names does
// not list from the batch being built: a Scan with OnlyColumns that returns
// none of them then does not fill them row by row (two strings a row,
// most of a one-series read's work). A dropped measure_name leaves
// bb.measure nil; every append checks.
func (bb *batchBuilder) keepOnly(names []string) {
	keep := func(n string) bool { return slices.Contains(names, n) }
	nb := &columnar.Batch{}
	var dimNames []string
	var dims []*columnar.Column
	for i, n := range bb.b.Names {
		c := bb.b.Cols[i]
		switch {
		case c == bb.measure && !keep(n):
			bb.measure = nil
			continue
		case slices.Contains(bb.dims, c):
			if !keep(n) {
				continue
			}
			dimNames, dims = append(dimNames, n), append(dims, c)
		}
		nb.Add(n, c)
	}
	bb.b, bb.dimNames, bb.dims = nb, dimNames, dims
	bb.lastSrc = nil
}

// reset starts a new batch with the same columns.
func (bb *batchBuilder) reset() {
	nb := &columnar.Batch{}
	for i, n := range bb.b.Names {
		nb.Add(n, columnar.NewColumn(bb.b.Cols[i].Type, 0))
	}
	*bb = batchBuilder{b: nb, dimNames: bb.dimNames, fieldNames: bb.fieldNames, fieldSrc: bb.fieldSrc}
	bb.time = nb.Col("time")
	bb.version = nb.Col("version")
	bb.measure = nb.Col("measure_name")
	for _, d := range bb.dimNames {
		bb.dims = append(bb.dims, nb.Col(d))
	}
	for _, f := range bb.fieldNames {
		bb.fields = append(bb.fields, nb.Col(f))
	}
}

// appendMem appends points [i, j) of a series' hot-tier columns.
func (bb *batchBuilder) appendMem(s *series, times, versions []int64, fields []*fieldCol, i, j int) {
	for k, name := range bb.fieldNames {
		bb.fieldSrc[k] = -1
		for x, f := range fields {
			if f.name == name {
				bb.fieldSrc[k] = x
				break
			}
		}
	}
	// Whole runs at a time: flush moves every point of the hot tier
	// through here.
	appendInts(bb.time, times[i:j])
	if bb.version != nil {
		appendInts(bb.version, versions[i:j])
	}
	if bb.measure != nil {
		appendRepeated(bb.measure, s.measure, j-i)
	}
	for k, name := range bb.dimNames {
		if v, ok := dimValue(s.dims, name); ok {
			appendRepeated(bb.dims[k], v, j-i)
		} else {
			for r := i; r < j; r++ {
				bb.dims[k].AppendNull()
			}
		}
	}
	for k, c := range bb.fields {
		if src := bb.fieldSrc[k]; src >= 0 {
			appendRange(c, fields[src].col, i, j)
		} else {
			for r := i; r < j; r++ {
				c.AppendNull()
			}
		}
	}
}

// reserve makes room for n more rows in every column, so that a builder
// whose row count is known never grows by copying.
func (bb *batchBuilder) reserve(n int) {
	for _, c := range bb.b.Cols {
		switch c.Type {
		case columnar.Bool:
			c.Bools = slices.Grow(c.Bools, n)
		case columnar.Float64:
			c.Floats = slices.Grow(c.Floats, n)
		case columnar.String:
			c.Strs = slices.Grow(c.Strs, n)
		default:
			c.Ints = slices.Grow(c.Ints, n)
		}
	}
}

// appendInts appends non-NULL values to an integer column.
func appendInts(c *columnar.Column, v []int64) {
	c.Ints = append(c.Ints, v...)
	markValidN(c, len(v))
}

// appendRepeated appends n copies of a VARCHAR value.
func appendRepeated(c *columnar.Column, v string, n int) {
	for range n {
		c.Strs = append(c.Strs, v)
	}
	markValidN(c, n)
}

// appendRange appends rows [i, j) of src, which has dst's type.
func appendRange(dst, src *columnar.Column, i, j int) {
	if src.Nulls != nil {
		for r := i; r < j; r++ {
			dst.AppendFrom(src, r)
		}
		return
	}
	switch dst.Type {
	case columnar.Bool:
		dst.Bools = append(dst.Bools, src.Bools[i:j]...)
	case columnar.Float64:
		dst.Floats = append(dst.Floats, src.Floats[i:j]...)
	case columnar.String:
		dst.Strs = append(dst.Strs, src.Strs[i:j]...)
	default:
		dst.Ints = append(dst.Ints, src.Ints[i:j]...)
	}
	markValidN(dst, j-i)
}

// markValidN keeps a column's null bitmap, if it has one, in step after n
// non-NULL appends.
func markValidN(c *columnar.Column, n int) {
	if c.Nulls != nil {
		for range n {
			c.Nulls = append(c.Nulls, false)
		}
	}
}

// appendRow appends row i of a batch whose columns are matched by name
// (missing ones become NULL). The name matching is done once per source
// batch, not per row: a caller whose source batch object is refilled
// between calls (part scans reuse theirs) calls forget first.
func (bb *batchBuilder) appendRow(src *columnar.Batch, i int) {
	if src != bb.lastSrc {
		bb.mapSource(src)
	}
	bb.time.AppendInt(bb.srcTime.Ints[i])
	if bb.version != nil {
		bb.version.AppendInt(bb.srcVer.Ints[i])
	}
	if bb.measure != nil {
		bb.measure.AppendString(bb.srcMeasure.Strs[i])
	}
	for k, c := range bb.srcDims {
		if c != nil {
			bb.dims[k].AppendFrom(c, i)
		} else {
			bb.dims[k].AppendNull()
		}
	}
	for k, c := range bb.srcVals {
		if c != nil {
			bb.fields[k].AppendFrom(c, i)
		} else {
			bb.fields[k].AppendNull()
		}
	}
}

// forget drops the cached source mapping.
func (bb *batchBuilder) forget() { bb.lastSrc = nil }

func (bb *batchBuilder) mapSource(src *columnar.Batch) {
	bb.lastSrc = src
	bb.srcTime, bb.srcVer, bb.srcMeasure = src.Col("time"), src.Col("version"), src.Col("measure_name")
	bb.srcDims = bb.srcDims[:0]
	for _, name := range bb.dimNames {
		bb.srcDims = append(bb.srcDims, src.Col(name))
	}
	bb.srcVals = bb.srcVals[:0]
	for k, name := range bb.fieldNames {
		c := src.Col(name)
		if c != nil && c.Type != bb.fields[k].Type {
			c = nil
		}
		bb.srcVals = append(bb.srcVals, c)
	}
}

// nullColumn returns a column of n NULLs.
func nullColumn(t columnar.Type, n int) *columnar.Column {
	c := columnar.NewColumn(t, n)
	for i := 0; i < n; i++ {
		c.AppendNull()
	}
	return c
}
