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
	if bb.measure != nil {
		appendRangeOrNull(bb.measure, bb.srcMeasure, i, j)
	}
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

// seriesSource is one source of one series in a partition, for scanSeries:
// rows [lo, hi) of a part, or a hot-tier snapshot; its times are
// times[t0:t1] of scanSeries' buffer.
type seriesSource struct {
	pr     *partRef
	mem    *memSnap
	lo, hi int64
	t0, t1 int
}

// scanSeries emits the rows of partition p for the few series of
// snap.series (Scan of one device's measure, as a dashboard's panel asks
// for it), series by series, each one's sources in time order. It looks
// each series up in each part's series index (cached per part) and reads
// its time and value columns alone, instead of compiling a filter for
// every part, searching its series statistics, decoding the version,
// measure and dimension columns and merging the runs by key. ok is false,
// with nothing emitted, when the partition needs the general merge: a
// series whose sources overlap in time or repeat a time, a part without
// an index, or a value column only the part scan can read (not DOUBLE).
func (db *DB) scanSeries(ctx context.Context, req *ScanRequest, snap *snapshot, p int64, out *batchBuilder, emit func() error) (ok bool, err error) {
	parts, mem := snap.parts[p], snap.mem[p]
	if out.version != nil {
		return false, nil
	}
	idx := make([]*seriesIndex, len(parts))
	for k, pr := range parts {
		ix, err := pr.index(snap.t)
		if ix == nil || err != nil {
			return false, err
		}
		meta := pr.r.Meta()
		for f, name := range out.fieldNames {
			if c, ok := meta.Column(name); ok && c.Type == out.fields[f].Type && c.Type != columnar.Float64 {
				return false, nil
			}
		}
		idx[k] = ix
	}
	// Plan every series' sources (reading part times) before emitting
	// any row, so that a partition the plan cannot serve goes whole to
	// the general merge.
	// The sources' times are scratch of this call (appendSource copies
	// them out): reused across Scans, they are not a few pages' worth of
	// garbage per dashboard query.
	tp := db.timesPool.Get().(*[]int64)
	times := (*tp)[:0]
	defer func() {
		if cap(times) <= maxPooledTimes {
			*tp = times[:0]
			db.timesPool.Put(tp)
		}
	}()
	srcs := make([]seriesSource, 0, len(snap.series)*(len(parts)+1))
	ends := make([]int, 0, len(snap.series)) // srcs of series i end at ends[i]
	for _, s := range snap.series {
		first := len(srcs)
		for k, pr := range parts {
			i := idx[k].find(s, snap.allDims)
			if i < 0 {
				continue
			}
			st := &idx[k].stats[i]
			if st.MaxTime < req.MinTime || st.MinTime > req.MaxTime {
				continue
			}
			t0 := len(times)
			if times, err = pr.r.AppendTimes(ctx, times, st.Start, st.Start+st.Rows); err != nil {
				return false, err
			}
			all := times[t0:]
			a, _ := slices.BinarySearch(all, req.MinTime)
			z, found := slices.BinarySearch(all, req.MaxTime)
			if found {
				z++
			}
			if a >= z {
				times = times[:t0]
				continue
			}
			srcs = append(srcs, seriesSource{pr: pr, lo: st.Start + int64(a), hi: st.Start + int64(z), t0: t0 + a, t1: t0 + z})
		}
		for i := range mem {
			if m := &mem[i]; m.s == s {
				t0 := len(times)
				times = append(times, m.times...)
				srcs = append(srcs, seriesSource{mem: m, t0: t0, t1: len(times)})
			}
		}
		these := srcs[first:]
		slices.SortFunc(these, func(a, b seriesSource) int { return cmp.Compare(times[a.t0], times[b.t0]) })
		for j := range these {
			ts := times[these[j].t0:these[j].t1]
			for x := 1; x < len(ts); x++ {
				if ts[x] <= ts[x-1] {
					return false, nil // a repeated time: versions decide
				}
			}
			if j > 0 && ts[0] <= times[these[j-1].t1-1] {
				return false, nil // overlapping sources
			}
		}
		ends = append(ends, len(srcs))
	}
	first := 0
	for si, s := range snap.series {
		for _, src := range srcs[first:ends[si]] {
			if err := appendSource(ctx, out, s, src, times); err != nil {
				return true, err
			}
		}
		first = ends[si]
		if out.b.Len() >= scanBatchRows {
			if err := emit(); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// maxPooledTimes bounds the times scratch scanSeries keeps for reuse (1 MiB).
const maxPooledTimes = 128 << 10

// appendSource appends the rows of one source of series s to out.
func appendSource(ctx context.Context, out *batchBuilder, s *series, src seriesSource, times []int64) error {
	if src.mem != nil {
		m := src.mem
		out.appendMem(m.s, m.times, m.versions, m.fields, 0, len(m.times))
		return nil
	}
	n := src.t1 - src.t0
	appendInts(out.time, times[src.t0:src.t1])
	if out.measure != nil {
		appendRepeated(out.measure, s.measure, n)
	}
	for k, name := range out.dimNames {
		if v, ok := dimValue(s.dims, name); ok {
			appendRepeated(out.dims[k], v, n)
		} else {
			appendNulls(out.dims[k], n)
		}
	}
	meta := src.pr.r.Meta()
	for k, name := range out.fieldNames {
		c, ok := meta.Column(name)
		if !ok || c.Type != out.fields[k].Type {
			// As a part scan's rows are merged: a column the part
			// lacks, or holds with another type, reads as NULL.
			appendNulls(out.fields[k], n)
			continue
		}
		if err := src.pr.r.AppendFloats(ctx, out.fields[k], name, src.lo, src.hi); err != nil {
			return err
		}
	}
	return nil
}

func appendNulls(c *columnar.Column, n int) {
	for range n {
		c.AppendNull()
	}
}
