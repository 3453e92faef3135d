package tsdb

import (
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
	for r := i; r < j; r++ {
		bb.time.AppendInt(times[r])
		if bb.version != nil {
			bb.version.AppendInt(versions[r])
		}
		bb.measure.AppendString(s.measure)
	}
	for k, name := range bb.dimNames {
		v, ok := dimValue(s.dims, name)
		for r := i; r < j; r++ {
			if ok {
				bb.dims[k].AppendString(v)
			} else {
				bb.dims[k].AppendNull()
			}
		}
	}
	for k, c := range bb.fields {
		src := bb.fieldSrc[k]
		for r := i; r < j; r++ {
			if src < 0 {
				c.AppendNull()
			} else {
				c.AppendFrom(fields[src].col, r)
			}
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
	bb.measure.AppendString(bb.srcMeasure.Strs[i])
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
