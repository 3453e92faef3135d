package part

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// maxBatchRows caps the rows decoded (and handed to fn) at once, bounding
// a Scan's memory to a few MB whatever the part size.
const maxBatchRows = 64 << 10

// rowRange is a range of rows of a row group; need has a bit set for each
// filter column (query.fcols, bit fbit(i)) whose predicate the page index
// does not prove for every row in it. Only those filter columns are decoded
// and checked; need == 0 means every row matches.
type rowRange struct {
	lo, hi int64
	need   uint64
}

// fbit is the need bit of filter column i; columns past 63 share bit 63,
// which then means "check them all".
func fbit(i int) uint64 { return 1 << min(i, 63) }

type dimPred struct {
	col    int      // index into r.cols
	values []string // sorted, deduplicated; nil = any
	prefix string
}

// query is a compiled Filter plus the buffers of one Scan.
type query struct {
	r        *Reader
	f        Filter
	measures []string // sorted; nil = all
	dims     []dimPred
	read     []int // columns to decode (indices into r.cols)
	slot     []int // r.cols index → position in read, or -1
	out      []int // positions in read that are returned, in output order
	outRead  []int // the read positions of out, ascending: what an exact range decodes
	fcols    []int // filter columns (indices into r.cols), see Reader.filterCols
	timeBit  uint64
	mnBit    uint64
	dimBits  []uint64         // parallel to dims
	decodes  map[uint64][]int // need mask → read positions to decode
	// seriesRows, when not nil, are the rows (across row groups, merged)
	// of the series that pass the measure and dimension predicates, from
	// the series statistics; rgFirst[g] is row group g's first row.
	seriesRows []rowRange
	rgFirst    []int64
	buf        []*columnar.Column
	outBatch   columnar.Batch
	gathered   []*columnar.Column
	views      []columnar.Column // per read position: a row range of buf
	sel        []int32
	pages      []parquet.Pages // per read position, for the current row group
}

func (r *Reader) compile(f Filter) (*query, error) {
	q := &query{r: r, f: f, slot: make([]int, len(r.cols))}
	for i := range q.slot {
		q.slot[i] = -1
	}
	want := func(c int) int {
		if q.slot[c] < 0 {
			q.slot[c] = len(q.read)
			q.read = append(q.read, c)
		}
		return q.slot[c]
	}
	if !f.ProjectOnly || len(f.Columns) == 0 {
		for _, name := range []string{ColTime, ColVersion, ColMeasureName} {
			q.out = append(q.out, want(r.byName[name]))
		}
	}
	if f.Columns == nil {
		for i := range r.cols {
			if q.slot[i] < 0 {
				q.out = append(q.out, want(i))
			}
		}
	} else {
		for _, name := range f.Columns {
			i, ok := r.byName[name]
			if !ok {
				return nil, fmt.Errorf("%w: no column %q in part", ErrInvalid, name)
			}
			if q.slot[i] < 0 {
				q.out = append(q.out, want(i))
			}
		}
	}
	if f.MeasureNames != nil {
		q.measures = sortedSet(f.MeasureNames)
	}
	for _, d := range f.Dims {
		i, ok := r.byName[d.Name]
		if !ok || !r.cols[i].info.Dim {
			// A filter on a dimension the part does not have matches no
			// row: every row lacks it.
			return nil, nil
		}
		p := dimPred{col: i, prefix: d.Prefix}
		if len(d.Values) > 0 {
			p.values = sortedSet(d.Values)
		}
		want(i)
		q.dims = append(q.dims, p)
	}
	if f.MinTime != minInt64 || f.MaxTime != maxInt64 {
		want(r.timeCol)
	}
	if q.measures != nil {
		want(r.mnCol)
	}
	q.outRead = slices.Sorted(slices.Values(q.out))
	q.fcols = r.filterCols(q)
	for i, c := range q.fcols {
		switch {
		case c == r.mnCol && q.measures != nil && q.mnBit == 0:
			q.mnBit = fbit(i)
		case c == r.timeCol && q.timeBit == 0 && (f.MinTime != minInt64 || f.MaxTime != maxInt64):
			q.timeBit = fbit(i)
		}
	}
	// dims follow the measure name in filterCols, in q.dims order.
	first := 0
	if q.measures != nil {
		first = 1
	}
	for k := range q.dims {
		q.dimBits = append(q.dimBits, fbit(first+k))
	}
	q.decodes = map[uint64][]int{}
	q.buf = make([]*columnar.Column, len(q.read))
	q.gathered = make([]*columnar.Column, len(q.read))
	q.views = make([]columnar.Column, len(q.read))
	for p, c := range q.read {
		t := r.cols[c].info.Type
		q.buf[p] = columnar.NewColumn(t, 0)
		q.gathered[p] = columnar.NewColumn(t, 0)
	}
	q.pages = make([]parquet.Pages, len(q.read))
	for _, p := range q.out {
		q.outBatch.Names = append(q.outBatch.Names, r.cols[q.read[p]].info.Name)
	}
	q.outBatch.Cols = make([]*columnar.Column, len(q.out))
	return q, nil
}

// matchSeries fills q.seriesRows from the part's series statistics when q
// has measure or dimension predicates: then those predicates hold for every
// row of the ranges, and pages whose index cannot prove them (pages holding
// several series) need not decode the columns to check them.
func (r *Reader) matchSeries(q *query) error {
	if q.measures == nil && len(q.dims) == 0 {
		return nil
	}
	stats, err := r.Series()
	if err != nil || stats == nil {
		return err
	}
	dimPos := make([]int, len(q.dims))
	for k, d := range q.dims {
		dimPos[k] = slices.Index(r.meta.Dims, r.cols[d.col].info.Name)
		if dimPos[k] < 0 {
			return nil // cannot happen: compile checked the dimension
		}
	}
	match := func(st *SeriesStat) bool {
		for k, d := range q.dims {
			j := dimPos[k]
			if st.Nulls != nil && st.Nulls[j] {
				return false
			}
			v := st.Dims[j]
			if d.values != nil {
				if _, ok := slices.BinarySearch(d.values, v); !ok {
					return false
				}
			}
			if !strings.HasPrefix(v, d.prefix) {
				return false
			}
		}
		return true
	}
	rows := []rowRange{}
	add := func(st *SeriesStat) {
		if !match(st) || st.MaxTime < q.f.MinTime || st.MinTime > q.f.MaxTime {
			return
		}
		if n := len(rows); n > 0 && rows[n-1].hi == st.Start {
			rows[n-1].hi += st.Rows
			return
		}
		rows = append(rows, rowRange{st.Start, st.Start + st.Rows, 0})
	}
	// Series are sorted by measure name, then by the dimensions in
	// Meta.Dims order (a NULL first): with an equality filter on the first
	// dimension, each of its values is a run found by binary search, and a
	// one-device query touches a few series, not every series of the
	// measure (a scan per query of 1,000 series cost 50 µs).
	lead := -1
	for k, d := range q.dims {
		if dimPos[k] == 0 && d.values != nil {
			lead = k
			break
		}
	}
	scanRun := func(lo, hi int) { // series [lo, hi) of one measure
		if lead < 0 {
			for i := lo; i < hi; i++ {
				add(&stats[i])
			}
			return
		}
		for _, v := range q.dims[lead].values {
			i := lo + sort.Search(hi-lo, func(x int) bool {
				st := &stats[lo+x]
				return !(st.Nulls != nil && st.Nulls[0]) && st.Dims[0] >= v
			})
			for ; i < hi && stats[i].Dims[0] == v && !(stats[i].Nulls != nil && stats[i].Nulls[0]); i++ {
				add(&stats[i])
			}
			lo = i // values are sorted: the next one's run is after
		}
	}
	runEnd := func(i int) int { // the end of measure stats[i].Measure's run
		m := stats[i].Measure
		return i + sort.Search(len(stats)-i, func(x int) bool { return stats[i+x].Measure > m })
	}
	if q.measures == nil {
		for i := 0; i < len(stats); {
			j := runEnd(i)
			scanRun(i, j)
			i = j
		}
	} else {
		for _, m := range q.measures {
			i, _ := slices.BinarySearchFunc(stats, m, func(st SeriesStat, m string) int { return strings.Compare(st.Measure, m) })
			if i < len(stats) && stats[i].Measure == m {
				scanRun(i, runEnd(i))
			}
		}
	}
	q.seriesRows = rows
	q.rgFirst = make([]int64, len(r.rgRows))
	var first int64
	for g, n := range r.rgRows {
		q.rgFirst[g] = first
		first += n
	}
	return nil
}

// overlaps reports whether row group g (of n rows) holds rows of q.seriesRows.
func (q *query) overlaps(g int, n int64) bool {
	lo, hi := q.rgFirst[g], q.rgFirst[g]+n
	i := sort.Search(len(q.seriesRows), func(i int) bool { return q.seriesRows[i].hi > lo })
	return i < len(q.seriesRows) && q.seriesRows[i].lo < hi
}

// decode returns the read positions a range with the given need decodes:
// the returned columns and the filter columns it must check.
func (q *query) decode(need uint64) []int {
	if d, ok := q.decodes[need]; ok {
		return d
	}
	d := slices.Clone(q.outRead)
	for i, c := range q.fcols {
		if need&fbit(i) != 0 && !slices.Contains(d, q.slot[c]) {
			d = append(d, q.slot[c])
		}
	}
	q.decodes[need] = d
	return d
}

func sortedSet(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// Scan calls fn with batches of the rows that match f exactly, in file order,
// holding time, version, measure_name and the projected columns with their
// logical types. Row groups and pages that cannot match are skipped using
// column-chunk statistics and the page index. fn must not keep the batch or
// its columns after returning: their memory is reused. Strings in the batch
// are immutable and may be kept.
func (r *Reader) Scan(ctx context.Context, f Filter, fn func(*columnar.Batch) error) error {
	_, err := r.ScanWithStats(ctx, f, fn)
	return err
}

// ScanWithStats is Scan that also reports what was read and skipped.
func (r *Reader) ScanWithStats(ctx context.Context, f Filter, fn func(*columnar.Batch) error) (st ScanStats, err error) {
	st.RowGroups = len(r.rgRows)
	for g := range r.rgRows {
		st.Pages += r.numPages(g)
	}
	q, err := r.compile(f)
	if err != nil || q == nil || f.MinTime > f.MaxTime || f.MaxTime < r.meta.MinTime || f.MinTime > r.meta.MaxTime {
		st.RowGroupsSkipped, st.PagesSkipped = st.RowGroups, st.Pages
		return st, err
	}
	if err := r.matchSeries(q); err != nil {
		return st, err
	}
	for g := range r.rgRows {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		np := r.numPages(g)
		if !r.rowGroupMayMatch(g, q) || q.seriesRows != nil && !q.overlaps(g, r.rgRows[g]) {
			st.RowGroupsSkipped++
			st.PagesSkipped += np
			continue
		}
		ranges := r.candidateRanges(g, q)
		st.PagesSkipped += np - r.pagesTouched(g, ranges)
		if err := r.scanGroup(ctx, g, q, ranges, &st, fn); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (r *Reader) numPages(g int) int {
	if _, oi, ok := r.chunkIndex(g, r.cols[r.timeCol].leaf); ok {
		return len(oi.PageLocations)
	}
	return 1
}

// pagesTouched counts pages of the time column overlapping ranges.
func (r *Reader) pagesTouched(g int, ranges []rowRange) int {
	_, oi, ok := r.chunkIndex(g, r.cols[r.timeCol].leaf)
	if !ok {
		if len(ranges) > 0 {
			return 1
		}
		return 0
	}
	n, k := 0, 0
	locs := oi.PageLocations
	for p := range locs {
		lo, hi := locs[p].FirstRowIndex, r.rgRows[g]
		if p+1 < len(locs) {
			hi = locs[p+1].FirstRowIndex
		}
		for k < len(ranges) && ranges[k].hi <= lo {
			k++
		}
		if k < len(ranges) && ranges[k].lo < hi {
			n++
		}
	}
	return n
}

// bounds is a [min, max] range of a chunk or page; hiOpen means max is not
// a valid upper bound (possibly truncated).
type bounds struct {
	min, max []byte
	hiOpen   bool
	allNull  bool
	unknown  bool // no statistics: assume anything
}

func (r *Reader) mayMatch(c int, q *query, b bounds) bool {
	if b.unknown {
		return true
	}
	switch {
	case c == r.timeCol:
		if len(b.min) != 8 || len(b.max) != 8 {
			return true
		}
		lo := int64(binary.LittleEndian.Uint64(b.min))
		hi := int64(binary.LittleEndian.Uint64(b.max))
		return hi >= q.f.MinTime && lo <= q.f.MaxTime
	case c == r.mnCol:
		return b.allNull || valuesMayMatch(q.measures, b)
	}
	for _, d := range q.dims {
		if d.col != c {
			continue
		}
		if b.allNull {
			return false
		}
		if d.values != nil && !valuesMayMatch(d.values, b) {
			return false
		}
		if d.prefix != "" && !prefixMayMatch(d.prefix, b) {
			return false
		}
	}
	return true
}

// allMatch reports whether every non-NULL value of column c within bounds
// b passes q's predicate on c (the caller checks NULLs).
func (r *Reader) allMatch(c int, q *query, b bounds) bool {
	if b.unknown || b.allNull || b.hiOpen {
		return false
	}
	switch {
	case c == r.timeCol:
		if len(b.min) != 8 || len(b.max) != 8 {
			return false
		}
		lo := int64(binary.LittleEndian.Uint64(b.min))
		hi := int64(binary.LittleEndian.Uint64(b.max))
		return lo >= q.f.MinTime && hi <= q.f.MaxTime
	case c == r.mnCol:
		if q.measures == nil {
			return true
		}
		_, found := slices.BinarySearch(q.measures, string(b.min))
		return found && bytes.Equal(b.min, b.max)
	}
	for _, d := range q.dims {
		if d.col != c {
			continue
		}
		if !bytes.Equal(b.min, b.max) {
			return false
		}
		if d.values != nil {
			if _, found := slices.BinarySearch(d.values, string(b.min)); !found {
				return false
			}
		}
		if !bytes.HasPrefix(b.min, []byte(d.prefix)) {
			return false
		}
	}
	return true
}

func valuesMayMatch(values []string, b bounds) bool {
	// Comparisons of string(b) directly in an expression do not allocate.
	i, _ := slices.BinarySearchFunc(values, b.min, func(v string, m []byte) int {
		switch {
		case v < string(m):
			return -1
		case v > string(m):
			return 1
		}
		return 0
	})
	return i < len(values) && (b.hiOpen || values[i] <= string(b.max))
}

func prefixMayMatch(p string, b bounds) bool {
	if !b.hiOpen && string(b.max) < p {
		return false
	}
	// Strings with prefix p are < succ(p), the shortest string above them.
	succ := []byte(p)
	for len(succ) > 0 && succ[len(succ)-1] == 0xff {
		succ = succ[:len(succ)-1]
	}
	if len(succ) == 0 {
		return true
	}
	succ[len(succ)-1]++
	return bytes.Compare(b.min, succ) < 0
}

// filterCols lists the columns whose statistics can prune for q.
func (r *Reader) filterCols(q *query) []int {
	// Most selective first: rows are sorted by measure_name, then the
	// dimensions, so those narrow the candidate ranges fastest, and later
	// columns only look at pages inside the ranges left.
	cols := make([]int, 0, 2+len(q.dims))
	if q.measures != nil {
		cols = append(cols, r.mnCol)
	}
	for _, d := range q.dims {
		cols = append(cols, d.col)
	}
	if q.f.MinTime != minInt64 || q.f.MaxTime != maxInt64 {
		cols = append(cols, r.timeCol)
	}
	return cols
}

func (r *Reader) rowGroupMayMatch(g int, q *query) bool {
	rg := &r.pf.Metadata().RowGroups[g]
	for _, c := range q.fcols {
		md := &rg.Columns[r.cols[c].leaf].MetaData
		s := &md.Statistics
		b := bounds{min: s.MinValue, max: s.MaxValue, hiOpen: len(s.MaxValue) >= columnIndexSizeLimit}
		switch {
		case s.NullCount == md.NumValues && md.NumValues > 0:
			b.allNull = true
		case len(s.MinValue) == 0 && len(s.MaxValue) == 0:
			b.unknown = true
		}
		if !r.mayMatch(c, q, b) {
			return false
		}
	}
	return true
}

// candidateRanges intersects, over the filter columns, the row ranges of
// pages whose column-index bounds may match.
func (r *Reader) candidateRanges(g int, q *query) []rowRange {
	ranges := []rowRange{{0, r.rgRows[g], 0}}
	if q.seriesRows != nil {
		// The series statistics already gave the rows of the matching
		// series: only the time bound is left to the page index.
		ranges = ranges[:0]
		first := q.rgFirst[g]
		for _, sr := range q.seriesRows {
			lo, hi := max(sr.lo, first)-first, min(sr.hi, first+r.rgRows[g])-first
			if lo < hi {
				ranges = append(ranges, rowRange{lo, hi, 0})
			}
		}
	}
	for fi, c := range q.fcols {
		if q.seriesRows != nil && c != r.timeCol {
			continue
		}
		bit := fbit(fi)
		ci, oi, ok := r.chunkIndex(g, r.cols[c].leaf)
		if !ok || ci == nil {
			for i := range ranges {
				ranges[i].need |= bit
			}
			continue
		}
		var keep []rowRange
		locs := oi.PageLocations
		// Visit only pages that overlap the ranges still in play.
		k := 0
		p0 := 0
		if len(ranges) > 0 {
			p0 = max(0, sort.Search(len(locs), func(i int) bool { return locs[i].FirstRowIndex > ranges[0].lo })-1)
		}
		for p := p0; p < len(locs); p++ {
			plo, phi := locs[p].FirstRowIndex, r.rgRows[g]
			if p+1 < len(locs) {
				phi = locs[p+1].FirstRowIndex
			}
			for k < len(ranges) && ranges[k].hi <= plo {
				k++
			}
			if k == len(ranges) {
				break
			}
			if ranges[k].lo >= phi {
				continue
			}
			b := bounds{min: ci.MinValues[p], max: ci.MaxValues[p], hiOpen: len(ci.MaxValues[p]) >= columnIndexSizeLimit, allNull: ci.NullPages[p]}
			if !r.mayMatch(c, q, b) {
				continue
			}
			noNulls := !r.cols[c].optional || (p < len(ci.NullCounts) && ci.NullCounts[p] == 0)
			var need uint64
			if !noNulls || !r.allMatch(c, q, b) {
				need = bit
			}
			lo, hi := locs[p].FirstRowIndex, r.rgRows[g]
			if p+1 < len(locs) {
				hi = locs[p+1].FirstRowIndex
			}
			if n := len(keep); n > 0 && keep[n-1].hi == lo && keep[n-1].need == need {
				keep[n-1].hi = hi
			} else {
				keep = append(keep, rowRange{lo, hi, need})
			}
		}
		ranges = intersect(ranges, keep)
		if len(ranges) == 0 {
			break
		}
	}
	return ranges
}

func intersect(a, b []rowRange) []rowRange {
	var out []rowRange
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].lo, b[j].lo), min(a[i].hi, b[j].hi)
		if lo < hi {
			out = append(out, rowRange{lo, hi, a[i].need | b[j].need})
		}
		if a[i].hi < b[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

func (r *Reader) scanGroup(ctx context.Context, g int, q *query, ranges []rowRange, st *ScanStats, fn func(*columnar.Batch) error) (err error) {
	if len(ranges) == 0 {
		return nil
	}
	rgs := r.pf.RowGroups()
	chunks := rgs[g].ColumnChunks()
	defer func() {
		for i, p := range q.pages {
			if p != nil {
				p.Close()
				q.pages[i] = nil
			}
		}
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: parquet-go panicked reading row group %d: %v", ErrCorrupt, g, p)
		}
	}()
	for _, rr := range ranges {
		for lo, hi := rr.lo, rr.lo; lo < rr.hi; lo = hi {
			if err := ctx.Err(); err != nil {
				return err
			}
			// A range the page index proves to match needs only the
			// returned columns, and no row filtering; otherwise only the
			// filter columns it does not prove are decoded and checked.
			decode := q.decode(rr.need)
			hi = r.batchEnd(g, q, decode, lo, rr.hi)
			for _, i := range decode {
				c := q.read[i]
				if q.pages[i] == nil {
					q.pages[i] = chunks[r.cols[c].leaf].Pages()
				}
				reserve(q.buf[i], int(hi-lo))
				if err := r.readColumn(g, c, q.pages[i], lo, hi, q.buf[i]); err != nil {
					return err
				}
			}
			st.RowsRead += hi - lo
			var b *columnar.Batch
			if rr.need == 0 {
				b = q.all(int(hi - lo))
			} else {
				b = q.filter(int(hi-lo), rr.need)
			}
			if b == nil {
				continue
			}
			st.RowsMatched += int64(b.Len())
			if err := fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchEnd returns the end of the batch of rows that starts at lo within a
// range ending at hi: at most maxBatchRows rows, cut where a page of the
// decoded column with the most pages starts. A cut inside a page would
// make the next batch decompress that page again and sum its first rows
// only to skip them (one page in four or five, at 16 Ki-row pages and
// 64 Ki-row batches). The columns that are not coarse share their page
// boundaries (see plan.pageBounds), so one column's boundary suits them
// all; a coarse column's pages are runs that cost little to read twice.
func (r *Reader) batchEnd(g int, q *query, decode []int, lo, hi int64) int64 {
	end := lo + maxBatchRows
	if end >= hi {
		return hi
	}
	var locs []format.PageLocation
	for _, i := range decode {
		if _, oi, ok := r.chunkIndex(g, r.cols[q.read[i]].leaf); ok && len(oi.PageLocations) > len(locs) {
			locs = oi.PageLocations
		}
	}
	if p := pageOf(locs, end); p >= 0 && locs[p].FirstRowIndex > lo {
		return locs[p].FirstRowIndex
	}
	return end
}

// filter evaluates q on the decoded rows in q.buf and returns the batch to
// hand out, or nil when no row matches.
func (q *query) filter(n int, need uint64) *columnar.Batch {
	if cap(q.sel) < n {
		q.sel = make([]int32, 0, n)
	}
	q.sel = q.sel[:0]
	if need&q.timeBit != 0 {
		ts := q.buf[q.slot[q.r.timeCol]].Ints
		for i, t := range ts[:n] {
			if t >= q.f.MinTime && t <= q.f.MaxTime {
				q.sel = append(q.sel, int32(i))
			}
		}
	} else {
		for i := range n {
			q.sel = append(q.sel, int32(i))
		}
	}
	if need&q.mnBit != 0 {
		q.sel = filterStrings(q.sel, q.buf[q.slot[q.r.mnCol]], func(s string) bool {
			_, ok := slices.BinarySearch(q.measures, s)
			return ok
		})
	}
	for k, d := range q.dims {
		if need&q.dimBits[k] == 0 {
			continue
		}
		q.sel = filterStrings(q.sel, q.buf[q.slot[d.col]], func(s string) bool {
			if d.values != nil {
				if _, ok := slices.BinarySearch(d.values, s); !ok {
					return false
				}
			}
			return strings.HasPrefix(s, d.prefix)
		})
	}
	if len(q.sel) == 0 {
		return nil
	}
	if len(q.sel) == n {
		return q.all(n)
	}
	if a, z := int(q.sel[0]), int(q.sel[len(q.sel)-1])+1; z-a == len(q.sel) {
		// One run of rows (a time bound cutting into a series, which is
		// sorted by time): hand out views, not copies.
		for k, p := range q.out {
			q.views[p] = sliceColumn(q.buf[p], a, z)
			q.outBatch.Cols[k] = &q.views[p]
		}
		return &q.outBatch
	}
	for k, p := range q.out {
		dst := q.gathered[p]
		dst.Reset()
		gather(dst, q.buf[p], q.sel)
		q.outBatch.Cols[k] = dst
	}
	return &q.outBatch
}

// all returns the decoded rows unchanged.
func (q *query) all(int) *columnar.Batch {
	for k, p := range q.out {
		q.outBatch.Cols[k] = q.buf[p]
	}
	return &q.outBatch
}

// reserve empties c and makes room for n rows in its data slice, so that
// decoding a chunk does not grow it step by step.
func reserve(c *columnar.Column, n int) {
	c.Reset()
	switch c.Type {
	case columnar.Int64, columnar.Timestamp:
		if cap(c.Ints) < n {
			c.Ints = make([]int64, 0, n)
		}
	case columnar.Float64:
		if cap(c.Floats) < n {
			c.Floats = make([]float64, 0, n)
		}
	case columnar.String:
		if cap(c.Strs) < n {
			c.Strs = make([]string, 0, n)
		}
	case columnar.Bool:
		if cap(c.Bools) < n {
			c.Bools = make([]bool, 0, n)
		}
	}
}

// filterStrings keeps the selected rows whose value matches. Rows are sorted
// by series, so equal strings come in runs; the last verdict is reused
// while the string does not change.
func filterStrings(sel []int32, c *columnar.Column, match func(string) bool) []int32 {
	out := sel[:0]
	var last string
	lastOK, have := false, false
	for _, i := range sel {
		if c.IsNull(int(i)) {
			continue
		}
		s := c.Strs[i]
		if !have || s != last {
			last, lastOK, have = s, match(s), true
		}
		if lastOK {
			out = append(out, i)
		}
	}
	return out
}

// sliceColumn returns rows [a, z) of c, sharing its memory.
func sliceColumn(c *columnar.Column, a, z int) columnar.Column {
	return columnar.Column{Type: c.Type, Bools: rows(c.Bools, a, z), Ints: rows(c.Ints, a, z),
		Floats: rows(c.Floats, a, z), Strs: rows(c.Strs, a, z), Nulls: rows(c.Nulls, a, z)}
}

func rows[T any](s []T, a, z int) []T {
	if s == nil {
		return nil
	}
	return s[a:z:z]
}

func gather(dst, src *columnar.Column, sel []int32) {
	if src.Nulls != nil {
		for _, i := range sel {
			dst.AppendFrom(src, int(i))
		}
		return
	}
	switch src.Type {
	case columnar.Int64, columnar.Timestamp:
		for _, i := range sel {
			dst.Ints = append(dst.Ints, src.Ints[i])
		}
	case columnar.Float64:
		for _, i := range sel {
			dst.Floats = append(dst.Floats, src.Floats[i])
		}
	case columnar.String:
		for _, i := range sel {
			dst.Strs = append(dst.Strs, src.Strs[i])
		}
	case columnar.Bool:
		for _, i := range sel {
			dst.Bools = append(dst.Bools, src.Bools[i])
		}
	}
}

// readColumn decodes rows [lo, hi) of column c of row group g into dst.
func (r *Reader) readColumn(g, c int, pages parquet.Pages, lo, hi int64, dst *columnar.Column) error {
	cm := &r.cols[c]
	if r.fillFromSeries(g, cm, lo, hi, dst) {
		return nil
	}
	if r.cache != nil {
		if _, oi, ok := r.chunkIndex(g, cm.leaf); ok {
			return r.readColumnCached(g, cm, oi.PageLocations, pages, lo, hi, dst)
		}
	}
	if r.fastChunk(g, cm) {
		_, oi, _ := r.chunkIndex(g, cm.leaf)
		if err := r.readFast(g, cm, oi.PageLocations, lo, hi, dst); err != errNotFast {
			return err
		}
	}
	if err := pages.SeekToRow(lo); err != nil {
		return fmt.Errorf("%w: seeking column %q of row group %d to row %d: %v", ErrCorrupt, cm.info.Name, g, lo, err)
	}
	for need := hi - lo; need > 0; {
		page, err := pages.ReadPage()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%w: reading column %q of row group %d: %v", ErrCorrupt, cm.info.Name, g, err)
		}
		take := min(page.NumRows(), need)
		err = r.appendPage(g, cm, page, int(take), dst)
		parquet.Release(page)
		if err != nil {
			return fmt.Errorf("%w: decoding column %q of row group %d: %v", ErrCorrupt, cm.info.Name, g, err)
		}
		if take <= 0 {
			return fmt.Errorf("%w: column %q of row group %d: empty page", ErrCorrupt, cm.info.Name, g)
		}
		need -= take
	}
	return nil
}

// readColumnCached is readColumn through the page cache: each page the
// rows touch is taken from the cache, or decoded whole (whatever part of it
// is asked for) and cached, and then the asked rows are copied out.
func (r *Reader) readColumnCached(g int, cm *colMeta, locs []format.PageLocation, pages parquet.Pages, lo, hi int64, dst *columnar.Column) error {
	p := sort.Search(len(locs), func(i int) bool { return locs[i].FirstRowIndex > lo }) - 1
	pos := int64(-1) // the row pages is positioned at; -1 = unknown
	for ; lo < hi; p++ {
		if p < 0 || p >= len(locs) {
			return fmt.Errorf("%w: column %q of row group %d: row %d is in no page", ErrCorrupt, cm.info.Name, g, lo)
		}
		plo, phi := locs[p].FirstRowIndex, r.rgRows[g]
		if p+1 < len(locs) {
			phi = locs[p+1].FirstRowIndex
		}
		key := pageKey{id: r.cacheID, rg: int32(g), leaf: int32(cm.leaf), page: int32(p)}
		col, ok := r.cache.get(key)
		if !ok && r.fastChunk(g, cm) {
			c := columnar.NewColumn(cm.info.Type, int(phi-plo))
			switch err := r.readFast(g, cm, locs, plo, phi, c); err {
			case nil:
				col, ok = c, true
				r.cache.put(key, col)
			case errNotFast:
			default:
				return err
			}
		}
		if !ok {
			if pos != plo {
				if err := pages.SeekToRow(plo); err != nil {
					return fmt.Errorf("%w: seeking column %q of row group %d to row %d: %v", ErrCorrupt, cm.info.Name, g, plo, err)
				}
			}
			pos = -1
			page, err := pages.ReadPage()
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("%w: reading column %q of row group %d: %v", ErrCorrupt, cm.info.Name, g, err)
			}
			if page.NumRows() != phi-plo {
				parquet.Release(page)
				return fmt.Errorf("%w: column %q of row group %d: page %d has %d rows, the offset index says %d", ErrCorrupt, cm.info.Name, g, p, page.NumRows(), phi-plo)
			}
			col = columnar.NewColumn(cm.info.Type, int(phi-plo))
			err = r.appendPage(g, cm, page, int(phi-plo), col)
			parquet.Release(page)
			if err != nil {
				return fmt.Errorf("%w: decoding column %q of row group %d: %v", ErrCorrupt, cm.info.Name, g, err)
			}
			r.cache.put(key, col)
			pos = phi
		}
		z := min(hi, phi)
		appendRows(dst, col, int(lo-plo), int(z-plo))
		lo = z
	}
	return nil
}

// appendPage appends the first n rows of page to dst.
func (r *Reader) appendPage(g int, cm *colMeta, page parquet.Page, n int, dst *columnar.Column) error {
	var levels []byte
	nn := n // non-NULL values among the n rows
	if cm.optional {
		levels = page.DefinitionLevels()
		if len(levels) < n {
			return fmt.Errorf("page has %d levels for %d rows", len(levels), n)
		}
		levels = levels[:n]
		nn = 0
		for _, l := range levels {
			nn += int(l)
		}
		if nn == n {
			levels = nil
		}
	}
	if cm.kind == parquet.Boolean {
		return appendBools(page, n, dst)
	}
	data := page.Data()
	switch cm.kind {
	case parquet.Int64:
		v := data.Int64()
		if len(v) < nn {
			return fmt.Errorf("page has %d values, want %d", len(v), nn)
		}
		v = v[:nn]
		if cm.info.Decimal {
			start := len(dst.Floats)
			dst.Floats = enc.AppendFloats(dst.Floats, v, cm.info.Scale)
			dst.SpreadLevels(levels, start, nn)
			return nil
		}
		start := len(dst.Ints)
		dst.Ints = append(dst.Ints, v...)
		dst.SpreadLevels(levels, start, nn)
	case parquet.Double:
		v := data.Double()
		if len(v) < nn {
			return fmt.Errorf("page has %d values, want %d", len(v), nn)
		}
		start := len(dst.Floats)
		dst.Floats = append(dst.Floats, v[:nn]...)
		dst.SpreadLevels(levels, start, nn)
	case parquet.ByteArray:
		start := len(dst.Strs)
		if d := page.Dictionary(); d != nil {
			dict := r.dictionary(g, cm.leaf, d)
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
			for k := range nn {
				a, z := offs[k], offs[k+1]
				if a > z || int(z) > len(b) {
					return fmt.Errorf("bad byte array offsets")
				}
				dst.Strs = append(dst.Strs, string(b[a:z]))
			}
		}
		dst.SpreadLevels(levels, start, nn)
	default:
		return fmt.Errorf("unexpected physical type %v", cm.kind)
	}
	return nil
}

func appendBools(page parquet.Page, n int, dst *columnar.Column) error {
	vr := page.Values()
	buf := make([]parquet.Value, 256)
	for n > 0 {
		k, err := vr.ReadValues(buf[:min(n, len(buf))])
		for _, v := range buf[:k] {
			if v.IsNull() {
				dst.AppendNull()
			} else {
				dst.AppendBool(v.Boolean())
			}
		}
		n -= k
		if err != nil {
			if err == io.EOF && n == 0 {
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

// fillFromSeries appends rows [lo, hi) of row group g of a measure_name or
// dimension column from the series statistics instead of decoding pages:
// both are constant within a series, and their pages are coarse (up to
// 8 × PageRows rows, see write.go), which a one-series read would decode
// whole. It reports false when the part has no statistics or the column is
// another.
func (r *Reader) fillFromSeries(g int, cm *colMeta, lo, hi int64, dst *columnar.Column) bool {
	if r.noFast || !(cm.info.Dim || cm.info.Name == ColMeasureName) || cm.info.Type != columnar.String {
		return false
	}
	stats, err := r.Series()
	if err != nil || stats == nil {
		return false
	}
	j := slices.Index(r.meta.Dims, cm.info.Name) // -1 for measure_name
	row, end := r.rgStart[g]+lo, r.rgStart[g]+hi
	if last := &stats[len(stats)-1]; end > last.Start+last.Rows {
		return false // cannot happen: the statistics cover every row
	}
	k := sort.Search(len(stats), func(i int) bool { return stats[i].Start+stats[i].Rows > row })
	for ; row < end; k++ {
		st := &stats[k]
		n := min(end, st.Start+st.Rows) - row
		switch {
		case j < 0:
			for range n {
				dst.AppendString(st.Measure)
			}
		case st.Nulls != nil && st.Nulls[j]:
			for range n {
				dst.AppendNull()
			}
		default:
			for range n {
				dst.AppendString(st.Dims[j])
			}
		}
		row += n
	}
	return true
}
