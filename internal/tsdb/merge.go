package tsdb

import (
	"cmp"
	"context"
	"slices"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// mergeRun is a run of rows of one series in time order: rows [start,
// end) of a batch read from a part, or points [start, end) of a series'
// hot-tier snapshot.
type mergeRun struct {
	key        string // orderKey of the series
	b          *columnar.Batch
	mem        *memSnap
	start, end int
	minT, maxT int64
	strict     bool // times strictly increase, so no two rows share one
}

func (r *mergeRun) times() []int64 {
	if r.mem != nil {
		return r.mem.times
	}
	return r.b.Col("time").Ints
}

// appendTo appends rows [i, j) of the run to bb.
func (r *mergeRun) appendTo(bb *batchBuilder, i, j int) {
	if r.mem != nil {
		bb.appendMem(r.mem.s, r.mem.times, r.mem.versions, r.mem.fields, i, j)
		return
	}
	bb.appendRows(r.b, i, j)
}

// mergePartition reads every source of a partition, keeps the highest
// version of each (series, time) and emits the rows in series, time order.
//
// Every source is sorted by series and time, so its rows come in runs of
// one series; runs, not rows, are keyed and sorted. The runs of a series
// that do not overlap in time (data flushed at different times, the hot
// tier after the parts: the usual case) are copied whole to the output;
// only runs that overlap are merged row by row. A query of the partition
// being written (parts and hot tier together) costs about one copy of each
// part row more than a query of one part, not a sort of every row.
func (db *DB) mergePartition(ctx context.Context, req *ScanRequest, snap *snapshot, parts []*partRef, mem []memSnap, out *batchBuilder, emit func() error) error {
	var runs []mergeRun
	var key []byte
	for _, p := range parts {
		f, ok := partFilter(p, req, snap.allDims, snap.fields)
		if !ok {
			continue
		}
		err := p.r.Scan(ctx, f, func(b *columnar.Batch) error {
			if b.Len() == 0 {
				return nil
			}
			b = cloneBatch(b) // the part reader reuses its batch
			rows := newRowReader(b, snap.allDims)
			start, n := 0, b.Len()
			for i := 1; i <= n; i++ {
				if i < n && rows.sameRowSeries(i, i-1) {
					continue
				}
				_, dims := rows.key(key[:0], start)
				key = orderKey(key[:0], rows.measure.Strs[start], dims, snap.allDims)
				runs = append(runs, mergeRun{key: string(key), b: b, start: start, end: i})
				start = i
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for i := range mem {
		m := &mem[i]
		key = orderKey(key[:0], m.s.measure, m.s.dims, snap.allDims)
		runs = append(runs, mergeRun{key: string(key), mem: m, start: 0, end: len(m.times)})
	}
	for i := range runs {
		// A run that repeats a time (or, against every source's order,
		// goes back) is merged row by row with the rest of its series, so
		// its bounds only order it.
		r := &runs[i]
		times := r.times()
		r.minT, r.maxT, r.strict = times[r.start], times[r.end-1], true
		for j := r.start + 1; j < r.end && r.strict; j++ {
			r.strict = times[j] > times[j-1]
		}
	}
	slices.SortStableFunc(runs, func(x, y mergeRun) int {
		if c := cmp.Compare(x.key, y.key); c != 0 {
			return c
		}
		return cmp.Compare(x.minT, y.minT)
	})
	var over *batchBuilder // rows of overlapping runs
	var idx []int
	for lo := 0; lo < len(runs); {
		hi, disjoint := lo+1, runs[lo].strict
		for hi < len(runs) && runs[hi].key == runs[lo].key {
			disjoint = disjoint && runs[hi].strict && runs[hi].minT > runs[hi-1].maxT
			hi++
		}
		if disjoint {
			for k := lo; k < hi; k++ {
				r := &runs[k]
				for s := r.start; s < r.end; {
					e := r.end
					if room := scanBatchRows - out.b.Len(); room > 0 {
						e = min(e, s+room) // batches of scanBatchRows for scans
					}
					r.appendTo(out, s, e)
					s = e
					if out.b.Len() >= scanBatchRows {
						if err := emit(); err != nil {
							return err
						}
					}
				}
			}
			lo = hi
			continue
		}
		if over == nil {
			over = newBatchBuilder(snap.allDims, snap.fields, true)
		} else {
			over.reset()
		}
		for k := lo; k < hi; k++ {
			runs[k].appendTo(over, runs[k].start, runs[k].end)
		}
		times, versions := over.b.Col("time").Ints, over.b.Col("version").Ints
		idx = idx[:0]
		for i := range times {
			idx = append(idx, i)
		}
		// Stable: of equal versions (equal values, which the write path
		// ensures) the first source's row is kept.
		slices.SortStableFunc(idx, func(i, j int) int {
			if c := cmp.Compare(times[i], times[j]); c != 0 {
				return c
			}
			return cmp.Compare(versions[j], versions[i])
		})
		for x, i := range idx {
			if x > 0 && times[idx[x-1]] == times[i] {
				continue // a lower version of the row just emitted
			}
			out.appendRow(over.b, i)
			if out.b.Len() >= scanBatchRows {
				if err := emit(); err != nil {
					return err
				}
			}
		}
		lo = hi
	}
	return nil
}

// cloneBatch copies a batch's rows into memory of their own, exactly
// sized (dictionary annotations are not kept).
func cloneBatch(b *columnar.Batch) *columnar.Batch {
	nb := &columnar.Batch{Names: slices.Clone(b.Names), Cols: make([]*columnar.Column, len(b.Cols))}
	for i, c := range b.Cols {
		nb.Cols[i] = &columnar.Column{Type: c.Type, Bools: slices.Clone(c.Bools), Ints: slices.Clone(c.Ints),
			Floats: slices.Clone(c.Floats), Strs: slices.Clone(c.Strs), Nulls: slices.Clone(c.Nulls)}
	}
	return nb
}

// sameRowSeries reports whether rows i and j belong to the same series.
func (r *rowReader) sameRowSeries(i, j int) bool {
	if r.measure.Strs[i] != r.measure.Strs[j] {
		return false
	}
	for _, c := range r.dims {
		if n := c.IsNull(i); n != c.IsNull(j) || (!n && c.Strs[i] != c.Strs[j]) {
			return false
		}
	}
	return true
}

// appendRows appends rows [i, j) of a batch whose columns are matched by
// name, as appendRow does for one row.
func (bb *batchBuilder) appendRows(src *columnar.Batch, i, j int) {
	if src != bb.lastSrc {
		bb.mapSource(src)
	}
	appendRangeOrNull(bb.time, bb.srcTime, i, j)
	if bb.version != nil {
		appendRangeOrNull(bb.version, bb.srcVer, i, j)
	}
	appendRangeOrNull(bb.measure, bb.srcMeasure, i, j)
	for k, c := range bb.srcDims {
		appendRangeOrNull(bb.dims[k], c, i, j)
	}
	for k, c := range bb.srcVals {
		appendRangeOrNull(bb.fields[k], c, i, j)
	}
}

// appendRangeOrNull is appendRange, or j-i NULLs if the source lacks the
// column.
func appendRangeOrNull(dst, src *columnar.Column, i, j int) {
	if src != nil {
		appendRange(dst, src, i, j)
		return
	}
	for range j - i {
		dst.AppendNull()
	}
}
