package exec

import (
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// chunk is the unit operators pass: columns of n rows each. Unlike a
// columnar.Batch it knows its row count without columns (SELECT 1 has one
// row and, before projection, no columns). Receivers must not modify a
// chunk's columns and must copy what they keep past the call.
type chunk struct {
	cols []*columnar.Column
	n    int
	// owned: the columns are the producer's own memory, which it neither
	// reuses nor reads after handing them on (a sort's output), so the
	// result may keep them instead of copying.
	owned bool
}

const chunkRows = 4096

// expand makes a one-row constant column n rows long.
func expand(c *columnar.Column, n int) *columnar.Column {
	if colLen(c) == n {
		return c
	}
	return fn.Broadcast(c, n)
}

func colLen(c *columnar.Column) int {
	if c.Type == columnar.Unknown {
		return len(c.Nulls)
	}
	return c.Len()
}

// gather returns the rows sel of c, in order.
func gather(c *columnar.Column, sel []int32) *columnar.Column {
	out := &columnar.Column{Type: c.Type}
	switch c.Type {
	case columnar.Bool:
		out.Bools = make([]bool, len(sel))
		for k, i := range sel {
			out.Bools[k] = c.Bools[i]
		}
	case columnar.Float64:
		out.Floats = make([]float64, len(sel))
		for k, i := range sel {
			out.Floats[k] = c.Floats[i]
		}
	case columnar.String:
		out.Strs = make([]string, len(sel))
		for k, i := range sel {
			out.Strs[k] = c.Strs[i]
		}
	case columnar.Unknown:
	default:
		out.Ints = make([]int64, len(sel))
		for k, i := range sel {
			out.Ints[k] = c.Ints[i]
		}
	}
	if c.Nulls != nil {
		out.Nulls = make([]bool, len(sel))
		any := false
		for k, i := range sel {
			out.Nulls[k] = c.Nulls[i]
			any = any || c.Nulls[i]
		}
		if !any && c.Type != columnar.Unknown {
			out.Nulls = nil
		}
	}
	return out
}

// gatherOrNull is gather where a negative index gives NULL.
func gatherOrNull(c *columnar.Column, sel []int32) *columnar.Column {
	out := columnar.NewColumn(c.Type, len(sel))
	for _, i := range sel {
		if i < 0 {
			out.AppendNull()
		} else {
			out.AppendFrom(c, int(i))
		}
	}
	return out
}

// slice returns a view of rows [lo, hi) of c.
func slice(c *columnar.Column, lo, hi int) *columnar.Column {
	out := &columnar.Column{Type: c.Type}
	switch c.Type {
	case columnar.Bool:
		out.Bools = c.Bools[lo:hi:hi]
	case columnar.Float64:
		out.Floats = c.Floats[lo:hi:hi]
	case columnar.String:
		out.Strs = c.Strs[lo:hi:hi]
	case columnar.Unknown:
	default:
		out.Ints = c.Ints[lo:hi:hi]
	}
	if c.Nulls != nil {
		out.Nulls = c.Nulls[lo:hi:hi]
	}
	return out
}

func sliceChunk(ch *chunk, lo, hi int) *chunk {
	out := &chunk{cols: make([]*columnar.Column, len(ch.cols)), n: hi - lo}
	for i, c := range ch.cols {
		out.cols[i] = slice(c, lo, hi)
	}
	return out
}

func gatherChunk(ch *chunk, sel []int32) *chunk {
	out := &chunk{cols: make([]*columnar.Column, len(ch.cols)), n: len(sel)}
	for i, c := range ch.cols {
		out.cols[i] = gather(c, sel)
	}
	return out
}

// appendRows appends all n rows of src to dst (same type), copying.
func appendRows(dst, src *columnar.Column, n int) {
	if src.Nulls != nil || dst.Nulls != nil {
		m := colLen(dst)
		if dst.Nulls == nil {
			dst.Nulls = make([]bool, m, m+n)
		}
		if src.Nulls != nil {
			dst.Nulls = append(dst.Nulls, src.Nulls[:n]...)
		} else {
			dst.Nulls = append(dst.Nulls, make([]bool, n)...)
		}
	}
	switch dst.Type {
	case columnar.Bool:
		dst.Bools = append(dst.Bools, src.Bools[:n]...)
	case columnar.Float64:
		dst.Floats = append(dst.Floats, src.Floats[:n]...)
	case columnar.String:
		dst.Strs = append(dst.Strs, src.Strs[:n]...)
	case columnar.Unknown:
	default:
		dst.Ints = append(dst.Ints, src.Ints[:n]...)
	}
}

// setRow overwrites row j of dst with row i of src.
func setRow(dst *columnar.Column, j int, src *columnar.Column, i int) {
	isNull := src.IsNull(i)
	if isNull && dst.Nulls == nil {
		dst.Nulls = make([]bool, colLen(dst))
	}
	if dst.Nulls != nil {
		dst.Nulls[j] = isNull
	}
	if isNull {
		return
	}
	switch dst.Type {
	case columnar.Bool:
		dst.Bools[j] = src.Bools[i]
	case columnar.Float64:
		dst.Floats[j] = src.Floats[i]
	case columnar.String:
		dst.Strs[j] = src.Strs[i]
	case columnar.Unknown:
	default:
		dst.Ints[j] = src.Ints[i]
	}
}

// growTo extends c with NULL-free zero rows up to n rows.
func growTo(c *columnar.Column, n int) {
	m := colLen(c)
	if m >= n {
		return
	}
	k := n - m
	switch c.Type {
	case columnar.Bool:
		c.Bools = append(c.Bools, make([]bool, k)...)
	case columnar.Float64:
		c.Floats = append(c.Floats, make([]float64, k)...)
	case columnar.String:
		c.Strs = append(c.Strs, make([]string, k)...)
	case columnar.Unknown:
		c.Nulls = append(c.Nulls, make([]bool, k)...)
		for i := m; i < n; i++ {
			c.Nulls[i] = true
		}
		return
	default:
		c.Ints = append(c.Ints, make([]int64, k)...)
	}
	if c.Nulls != nil {
		c.Nulls = append(c.Nulls, make([]bool, k)...)
	}
}

// colBytes estimates the memory c holds.
func colBytes(c *columnar.Column) int64 {
	// Strings are estimated (16-byte header + 16 bytes of text) so that
	// this stays O(1); buffers that copy rows count text exactly (rowBytes).
	return int64(cap(c.Bools) + 8*cap(c.Ints) + 8*cap(c.Floats) + cap(c.Nulls) + 32*cap(c.Strs))
}

// strBytes is the size of the string payloads of rows [lo, hi) of c.
func rowBytes(c *columnar.Column, n int) int64 {
	b := int64(n)
	switch c.Type {
	case columnar.Int64, columnar.Timestamp, columnar.Date, columnar.Interval, columnar.Float64:
		b += 8 * int64(n)
	case columnar.String:
		b += 16 * int64(n)
		for _, s := range c.Strs[:n] {
			b += int64(len(s))
		}
	}
	return b
}

func copyChunk(ch *chunk) *chunk {
	out := &chunk{cols: make([]*columnar.Column, len(ch.cols)), n: ch.n}
	for i, c := range ch.cols {
		d := columnar.NewColumn(c.Type, ch.n)
		appendRows(d, c, ch.n)
		out.cols[i] = d
	}
	return out
}

// copyInto copies ch into dst's columns when their types match (reusing
// their memory), else allocates.
func copyInto(dst, ch *chunk) *chunk {
	if len(dst.cols) != len(ch.cols) {
		return copyChunk(ch)
	}
	for i, c := range ch.cols {
		d := dst.cols[i]
		if d.Type != c.Type {
			return copyChunk(ch)
		}
		d.Reset()
		appendRows(d, expand(c, ch.n), ch.n)
	}
	dst.n = ch.n
	return dst
}

// buffer accumulates copies of chunks into one set of columns.
type buffer struct {
	cols []*columnar.Column
	n    int
}

func newBuffer(types []columnar.Type) *buffer {
	b := &buffer{cols: make([]*columnar.Column, len(types))}
	for i, t := range types {
		b.cols[i] = columnar.NewColumn(t, 0)
	}
	return b
}

// add copies ch into b and returns the bytes it added.
func (b *buffer) add(ch *chunk) int64 {
	var bytes int64
	for i, c := range ch.cols {
		appendRows(b.cols[i], expand(c, ch.n), ch.n)
		bytes += rowBytes(expand(c, ch.n), ch.n)
	}
	b.n += ch.n
	return bytes
}

func (b *buffer) chunk() *chunk { return &chunk{cols: b.cols, n: b.n} }

func schemaTypes(cols []planColumn) []columnar.Type {
	ts := make([]columnar.Type, len(cols))
	for i, c := range cols {
		ts[i] = c.Type
	}
	return ts
}
