package tsdb

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// Names of the columns SeriesCounts adds after the series' identity. A
// dimension of the same name would be shadowed in Batch.Col lookups, so
// callers that may meet one look the counts up by position (the last three
// columns).
const (
	CountColumn   = "$count"    // BIGINT: points of the series in the range
	MinTimeColumn = "$min_time" // TIMESTAMP: its oldest point in the range
	MaxTimeColumn = "$max_time" // TIMESTAMP: its newest point in the range
)

// SeriesCounts calls fn with batches holding one row per series that
// matches req and has points in [MinTime, MaxTime]: measure_name (unless
// req.Columns leaves it out), the projected dimensions, then CountColumn,
// MinTimeColumn and MaxTimeColumn. Rows come in series order.
//
// It is what Scan would count, without decoding rows where it can avoid
// it: a series that has one source in a partition (one part, or one
// memtable) is counted from the part's series statistics or the memtable's
// length, and only series whose points may overlap (several sources in one
// partition: late data, a flush in progress, parts not yet compacted) or
// that straddle a time bound have their times read. Parts written before
// series statistics existed are scanned.
//
// A partition whose parts all have a series index (see partRef.index) is
// counted by merging its sources in series order (counter.merged), the
// series matched by pointer; otherwise by keying each series by its
// order key (counter.partition). Both give the same rows.
func (db *DB) SeriesCounts(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error {
	t, err := db.table(req.Database, req.Table)
	if err != nil {
		return err
	}
	db.mu.RLock()
	oldest := db.now() - int64(t.info.Retention.Magnetic)
	db.mu.RUnlock()
	if req.MinTime < oldest {
		req.MinTime = oldest
	}
	if req.MinTime > req.MaxTime {
		return nil
	}
	// capture uses Columns only to project dims and fields; counts need
	// no fields.
	capReq := req
	capReq.Columns = onlyNames(req.Columns, t)
	snap := db.captureTimes(t, &capReq, true)
	defer snap.release()

	c := &counter{db: db, req: &req, snap: snap, acc: map[string]*seriesCount{}}
	var partitions []int64
	for p := range snap.mem {
		partitions = append(partitions, p)
	}
	for p := range snap.parts {
		if _, ok := snap.mem[p]; !ok {
			partitions = append(partitions, p)
		}
	}
	var rows, spare []countRow // the merged path's counts, in series order
	for _, p := range partitions {
		if err := ctx.Err(); err != nil {
			return err
		}
		prows, ok, err := c.merged(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			// Partitions hold disjoint times: counts add.
			rows, spare = mergeCountRows(spare[:0], rows, prows, snap.allDims), rows
			continue
		}
		if err := c.partition(ctx, p); err != nil {
			return err
		}
	}
	if len(c.acc) == 0 {
		return c.emitRows(rows, fn)
	}
	for _, r := range rows {
		c.key = orderKey(c.key[:0], r.s.measure, r.s.dims, snap.allDims)
		c.add(c.key, r.s.measure, r.s.dims, r.n, r.min, r.max)
	}
	keys := make([]string, 0, len(c.acc))
	for k := range c.acc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := &columnar.Batch{}
	var mn *columnar.Column
	if req.Columns == nil || slices.Contains(req.Columns, "measure_name") {
		mn = b.Add("measure_name", columnar.NewColumn(columnar.String, len(keys)))
	}
	dims := make([]*columnar.Column, len(snap.dims))
	for i, d := range snap.dims {
		dims[i] = b.Add(d, columnar.NewColumn(columnar.String, len(keys)))
	}
	cnt := b.Add(CountColumn, columnar.NewColumn(columnar.Int64, len(keys)))
	lo := b.Add(MinTimeColumn, columnar.NewColumn(columnar.Timestamp, len(keys)))
	hi := b.Add(MaxTimeColumn, columnar.NewColumn(columnar.Timestamp, len(keys)))
	for _, k := range keys {
		s := c.acc[k]
		if mn != nil {
			mn.AppendString(s.measure)
		}
		for i, d := range snap.dims {
			if v, ok := dimValue(s.dims, d); ok {
				dims[i].AppendString(v)
			} else {
				dims[i].AppendNull()
			}
		}
		cnt.AppendInt(s.n)
		lo.AppendInt(s.min)
		hi.AppendInt(s.max)
	}
	return fn(b)
}

// onlyNames keeps the names of cols that are table columns other than
// time; nil stays nil (all).
func onlyNames(cols []string, t *table) []string {
	if cols == nil {
		return nil
	}
	out := []string{}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, c := range cols {
		if _, ok := t.dims[c]; ok || c == "measure_name" {
			out = append(out, c)
		}
	}
	return out
}

// seriesCount accumulates one series' count across partitions (which hold
// disjoint times, so counts add).
type seriesCount struct {
	measure  string
	dims     []Dimension
	n        int64
	min, max int64
}

type counter struct {
	db    *DB
	req   *ScanRequest
	snap  *snapshot
	acc   map[string]*seriesCount // by orderKey
	key   []byte
	dims  []Dimension
	times []int64
}

func (c *counter) add(key []byte, measure string, dims []Dimension, n, lo, hi int64) {
	if n == 0 {
		return
	}
	s := c.acc[string(key)]
	if s == nil {
		s = &seriesCount{measure: measure, dims: slices.Clone(dims), min: lo, max: hi}
		c.acc[string(key)] = s
	}
	s.n += n
	s.min, s.max = min(s.min, lo), max(s.max, hi)
}

// sources are the places one series' points are in a partition.
type sources struct {
	parts []partSeries
	mem   []*memSnap
}

// disjoint reports whether no two of the sources can hold points of the
// same time.
func (src *sources) disjoint() bool {
	spans := make([][2]int64, 0, len(src.parts)+len(src.mem))
	for _, ps := range src.parts {
		spans = append(spans, [2]int64{ps.st.MinTime, ps.st.MaxTime})
	}
	for _, m := range src.mem {
		spans = append(spans, [2]int64{m.times[0], m.times[len(m.times)-1]})
	}
	return disjointSpans(spans)
}

// disjointSpans reports whether no two of the closed time ranges overlap;
// it sorts spans.
func disjointSpans(spans [][2]int64) bool {
	slices.SortFunc(spans, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	for i := 1; i < len(spans); i++ {
		if spans[i][0] <= spans[i-1][1] {
			return false
		}
	}
	return true
}

// partSeries is one series of one part that may match.
type partSeries struct {
	r  *part.Reader
	st *part.SeriesStat
}

// partition counts the matching series of partition p.
func (c *counter) partition(ctx context.Context, p int64) error {
	parts, mem := c.snap.parts[p], c.snap.mem[p]
	stats := make([][]part.SeriesStat, len(parts))
	for i, pr := range parts {
		s, err := pr.r.Series()
		if err != nil {
			return err
		}
		if s == nil {
			return c.scan(ctx, p)
		}
		stats[i] = s
	}
	// When no two sources can hold the same series (as Scan decides it),
	// each series is counted where it is found.
	single := c.snap.memSrc[p] == 0 && disjointMeasures(parts) || len(parts) == 0 && c.snap.memSrc[p] == 1
	var multi map[string]*sources
	if !single {
		multi = map[string]*sources{}
	}
	for i, pr := range parts {
		dimNames := pr.r.Meta().Dims
		for k := range stats[i] {
			st := &stats[i][k]
			if st.MaxTime < c.req.MinTime || st.MinTime > c.req.MaxTime {
				continue
			}
			c.dims = c.dims[:0]
			for j, name := range dimNames {
				if st.Nulls == nil || !st.Nulls[j] {
					c.dims = append(c.dims, Dimension{name, st.Dims[j]})
				}
			}
			if !slices.IsSortedFunc(c.dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) }) {
				slices.SortFunc(c.dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
			}
			if !c.req.matchIdentity(st.Measure, c.dims) {
				continue
			}
			c.key = orderKey(c.key[:0], st.Measure, c.dims, c.snap.allDims)
			if single {
				if err := c.countPart(ctx, pr.r, st, c.dims); err != nil {
					return err
				}
				continue
			}
			src := multi[string(c.key)]
			if src == nil {
				src = &sources{}
				multi[string(c.key)] = src
			}
			src.parts = append(src.parts, partSeries{pr.r, st})
		}
	}
	for k := range mem {
		m := &mem[k]
		c.key = orderKey(c.key[:0], m.s.measure, m.s.dims, c.snap.allDims)
		if single {
			c.add(c.key, m.s.measure, m.s.dims, int64(len(m.times)), m.times[0], m.times[len(m.times)-1])
			continue
		}
		src := multi[string(c.key)]
		if src == nil {
			src = &sources{}
			multi[string(c.key)] = src
		}
		src.mem = append(src.mem, m)
	}
	for key, src := range multi {
		switch {
		case len(src.parts) == 1 && len(src.mem) == 0:
			c.key = append(c.key[:0], key...)
			if err := c.countPart(ctx, src.parts[0].r, src.parts[0].st, identityDims(src.parts[0])); err != nil {
				return err
			}
			continue
		case len(src.parts) == 0 && len(src.mem) == 1:
			m := src.mem[0]
			c.add([]byte(key), m.s.measure, m.s.dims, int64(len(m.times)), m.times[0], m.times[len(m.times)-1])
			continue
		}
		if src.disjoint() {
			// Flushes cut a series by time: where its sources do not
			// overlap (the usual case), its counts add up.
			for _, ps := range src.parts {
				c.key = append(c.key[:0], key...)
				if err := c.countPart(ctx, ps.r, ps.st, identityDims(ps)); err != nil {
					return err
				}
			}
			for _, m := range src.mem {
				c.add([]byte(key), m.s.measure, m.s.dims, int64(len(m.times)), m.times[0], m.times[len(m.times)-1])
			}
			continue
		}
		// Overlapping sources: the series' points are the union of their
		// times (a point in two places is one row, whatever its versions).
		var measure string
		var dims []Dimension
		for _, ps := range src.parts {
			measure = ps.st.Measure
		}
		for _, m := range src.mem {
			measure, dims = m.s.measure, m.s.dims
		}
		if dims == nil {
			dims = identityDims(src.parts[0])
		}
		if err := c.unionTimes(ctx, src.parts, src.mem); err != nil {
			return err
		}
		if len(c.times) > 0 {
			c.add([]byte(key), measure, dims, int64(len(c.times)), c.times[0], c.times[len(c.times)-1])
		}
	}
	return nil
}

// countPart counts series st of part r; c.key is its order key, dims its
// dimensions.
func (c *counter) countPart(ctx context.Context, r *part.Reader, st *part.SeriesStat, dims []Dimension) error {
	n, lo, hi, err := c.partCount(ctx, r, st)
	if err != nil {
		return err
	}
	c.add(c.key, st.Measure, dims, n, lo, hi)
	return nil
}

// partCount returns the points of series st of part r in the request's
// range, and their time bounds.
func (c *counter) partCount(ctx context.Context, r *part.Reader, st *part.SeriesStat) (n, lo, hi int64, err error) {
	if st.MinTime >= c.req.MinTime && st.MaxTime <= c.req.MaxTime {
		return st.Rows, st.MinTime, st.MaxTime, nil
	}
	// The series straddles a bound: read its times.
	if c.times, err = r.AppendTimes(ctx, c.times[:0], st.Start, st.Start+st.Rows); err != nil {
		return 0, 0, 0, err
	}
	in := inRange(c.times, c.req.MinTime, c.req.MaxTime)
	if len(in) == 0 {
		return 0, 0, 0, nil
	}
	return int64(len(in)), in[0], in[len(in)-1], nil
}

// countRow is one series' count in SeriesCounts' merged path.
type countRow struct {
	s        *series
	n        int64
	min, max int64
}

// merged counts the matching series of partition p by merging its
// sources in series order: each part's series statistics (whose series
// the part's index resolves once per part) and the hot tier's snapshots,
// sorted here. A series is found in every source by pointer, its sources'
// counts add where their times are disjoint, and the rows come out in
// series order, so no series is keyed by a string or looked up in a map.
// ok is false, with nothing counted, when a part has no index: then
// partition counts p.
func (c *counter) merged(ctx context.Context, p int64) (rows []countRow, ok bool, err error) {
	parts, mem := c.snap.parts[p], c.snap.mem[p]
	idx := make([]*seriesIndex, len(parts))
	for k, pr := range parts {
		if idx[k], err = pr.index(c.snap.t); idx[k] == nil || err != nil {
			return nil, false, err
		}
	}
	dims := c.snap.allDims
	// The hot tier's series are found by pointer as the merge of the
	// parts meets them (a series may have a snapshot in each of two
	// memtables: next chains them); those no part holds are sorted and
	// counted after.
	memAt := make(map[*series]int32, len(mem))
	next := make([]int32, len(mem))
	for i := range mem {
		next[i] = -1
		if j, ok := memAt[mem[i].s]; ok {
			next[i] = j
		}
		memAt[mem[i].s] = int32(i)
	}
	used := make([]bool, len(mem))
	allDisjoint := c.disjointSources(parts, mem, p)
	filtered := c.req.MeasureNames != nil || len(c.req.Dims) > 0
	pos := make([]int, len(parts))
	var group []partSeries
	var groupMem []*memSnap
	var spans [][2]int64
	for {
		var cur *series
		for k, ix := range idx {
			if i := pos[k]; i < len(ix.ser) {
				if h := ix.ser[i]; cur == nil || h != cur && compareSeries(h, cur, dims) < 0 {
					cur = h
				}
			}
		}
		if cur == nil {
			break
		}
		group, groupMem = group[:0], groupMem[:0]
		for k, ix := range idx {
			if i := pos[k]; i < len(ix.ser) && ix.ser[i] == cur {
				pos[k]++
				if st := &ix.stats[i]; st.MaxTime >= c.req.MinTime && st.MinTime <= c.req.MaxTime {
					group = append(group, partSeries{parts[k].r, st})
				}
			}
		}
		if len(mem) > 0 {
			if j, ok := memAt[cur]; ok {
				for ; j >= 0; j = next[j] {
					used[j] = true
					groupMem = append(groupMem, &mem[j]) // capture applied the filters
				}
			}
		}
		if len(group) == 0 && len(groupMem) == 0 || len(group) > 0 && filtered && !c.req.matchSeries(cur) {
			continue
		}
		row := countRow{s: cur}
		disjoint := allDisjoint || len(group)+len(groupMem) == 1
		if !disjoint {
			spans = spans[:0]
			for _, ps := range group {
				spans = append(spans, [2]int64{ps.st.MinTime, ps.st.MaxTime})
			}
			for _, m := range groupMem {
				spans = append(spans, [2]int64{m.times[0], m.times[len(m.times)-1]})
			}
			disjoint = disjointSpans(spans)
		}
		if disjoint {
			for _, ps := range group {
				n, lo, hi, err := c.partCount(ctx, ps.r, ps.st)
				if err != nil {
					return nil, false, err
				}
				row.add(n, lo, hi)
			}
			for _, m := range groupMem {
				row.add(int64(len(m.times)), m.times[0], m.times[len(m.times)-1])
			}
		} else {
			// Overlapping sources: the series' points are the union of
			// their times (a point in two places is one row).
			if err := c.unionTimes(ctx, group, groupMem); err != nil {
				return nil, false, err
			}
			if len(c.times) > 0 {
				row.add(int64(len(c.times)), c.times[0], c.times[len(c.times)-1])
			}
		}
		if row.n > 0 {
			rows = append(rows, row)
		}
	}
	// Series of the hot tier alone (new since the last flush).
	var only []*memSnap
	for i := range mem {
		if !used[i] {
			only = append(only, &mem[i])
		}
	}
	if len(only) == 0 {
		return rows, true, nil
	}
	slices.SortFunc(only, func(a, b *memSnap) int {
		if a.s == b.s {
			return 0
		}
		return compareSeries(a.s, b.s, dims)
	})
	var memRows []countRow
	for i := 0; i < len(only); {
		j := i + 1
		for j < len(only) && only[j].s == only[i].s {
			j++
		}
		row := countRow{s: only[i].s}
		if j-i == 1 {
			m := only[i]
			row.add(int64(len(m.times)), m.times[0], m.times[len(m.times)-1])
		} else {
			// Both memtables hold the series.
			if err := c.unionTimes(ctx, nil, only[i:j]); err != nil {
				return nil, false, err
			}
			row.add(int64(len(c.times)), c.times[0], c.times[len(c.times)-1])
		}
		memRows = append(memRows, row)
		i = j
	}
	return mergeCountRows(make([]countRow, 0, len(rows)+len(memRows)), rows, memRows, dims), true, nil
}

// disjointSources reports whether no series can have points of
// overlapping times in two of partition p's sources: no two sources
// overlap in time unless they are parts of disjoint measures (a flush
// writes a part per decimal scale, each of its own measures, over one
// time span). Then each series' counts add without a look at its spans.
func (c *counter) disjointSources(parts []*partRef, mem []memSnap, p int64) bool {
	if c.snap.memSrc[p] > 1 {
		return false // the flushing and the active memtable may overlap
	}
	for i, a := range parts {
		for _, b := range parts[:i] {
			if a.entry.MinTime <= b.entry.MaxTime && b.entry.MinTime <= a.entry.MaxTime &&
				(a.entry.Measures == nil || b.entry.Measures == nil || anyIn(a.entry.Measures, b.entry.Measures)) {
				return false
			}
		}
	}
	if len(mem) == 0 {
		return true
	}
	lo, hi := mem[0].times[0], mem[0].times[len(mem[0].times)-1]
	for i := range mem {
		lo, hi = min(lo, mem[i].times[0]), max(hi, mem[i].times[len(mem[i].times)-1])
	}
	for _, a := range parts {
		if a.entry.MinTime <= hi && lo <= a.entry.MaxTime {
			return false
		}
	}
	return true
}

func (r *countRow) add(n, lo, hi int64) {
	if n == 0 {
		return
	}
	if r.n == 0 {
		r.min, r.max = lo, hi
	}
	r.n += n
	r.min, r.max = min(r.min, lo), max(r.max, hi)
}

// unionTimes sets c.times to the distinct times, in range and ascending, of
// a series' sources.
func (c *counter) unionTimes(ctx context.Context, parts []partSeries, mem []*memSnap) error {
	c.times = c.times[:0]
	for _, ps := range parts {
		start := len(c.times)
		var err error
		if c.times, err = ps.r.AppendTimes(ctx, c.times, ps.st.Start, ps.st.Start+ps.st.Rows); err != nil {
			return err
		}
		c.times = append(c.times[:start], inRange(c.times[start:], c.req.MinTime, c.req.MaxTime)...)
	}
	for _, m := range mem {
		c.times = append(c.times, m.times...)
	}
	slices.Sort(c.times)
	c.times = slices.Compact(c.times)
	return nil
}

// mergeCountRows appends to dst the rows of a and b (each in series
// order) in series order, adding up the counts of a series in both.
func mergeCountRows(dst, a, b []countRow, dims []string) []countRow {
	if len(a) == 0 {
		return append(dst, b...)
	}
	for len(a) > 0 && len(b) > 0 {
		x, y := &a[0], &b[0]
		switch c := 0; {
		case x.s == y.s:
			r := *x
			r.add(y.n, y.min, y.max)
			dst = append(dst, r)
			a, b = a[1:], b[1:]
		default:
			if c = compareSeries(x.s, y.s, dims); c < 0 {
				dst = append(dst, *x)
				a = a[1:]
			} else {
				dst = append(dst, *y)
				b = b[1:]
			}
		}
	}
	dst = append(dst, a...)
	return append(dst, b...)
}

// emitRows calls fn with the merged path's rows (see SeriesCounts).
func (c *counter) emitRows(rows []countRow, fn func(*columnar.Batch) error) error {
	if len(rows) == 0 {
		return nil
	}
	b := &columnar.Batch{}
	var mn *columnar.Column
	if c.req.Columns == nil || slices.Contains(c.req.Columns, "measure_name") {
		mn = b.Add("measure_name", columnar.NewColumn(columnar.String, len(rows)))
	}
	dims := make([]*columnar.Column, len(c.snap.dims))
	for i, d := range c.snap.dims {
		dims[i] = b.Add(d, columnar.NewColumn(columnar.String, len(rows)))
	}
	cnt := b.Add(CountColumn, columnar.NewColumn(columnar.Int64, len(rows)))
	lo := b.Add(MinTimeColumn, columnar.NewColumn(columnar.Timestamp, len(rows)))
	hi := b.Add(MaxTimeColumn, columnar.NewColumn(columnar.Timestamp, len(rows)))
	for _, r := range rows {
		if mn != nil {
			mn.AppendString(r.s.measure)
		}
		for i, d := range c.snap.dims {
			if v, ok := dimValue(r.s.dims, d); ok {
				dims[i].AppendString(v)
			} else {
				dims[i].AppendNull()
			}
		}
		cnt.AppendInt(r.n)
		lo.AppendInt(r.min)
		hi.AppendInt(r.max)
	}
	return fn(b)
}

// identityDims returns a part series' dimensions as the tsdb names them.
func identityDims(ps partSeries) []Dimension {
	names := ps.r.Meta().Dims
	var dims []Dimension
	for j, name := range names {
		if ps.st.Nulls == nil || !ps.st.Nulls[j] {
			dims = append(dims, Dimension{name, ps.st.Dims[j]})
		}
	}
	slices.SortFunc(dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	return dims
}

// inRange returns the sub-slice of ascending ts within [lo, hi].
func inRange(ts []int64, lo, hi int64) []int64 {
	i, _ := slices.BinarySearch(ts, lo)
	j, found := slices.BinarySearch(ts, hi)
	if found {
		j++
	}
	if i >= j {
		return ts[:0]
	}
	return ts[i:j]
}

// scan counts partition p by scanning it, for parts without series
// statistics.
func (c *counter) scan(ctx context.Context, p int64) error {
	snap := *c.snap
	snap.dims, snap.fields = c.snap.allDims, map[string]columnar.Type{}
	req := *c.req
	req.Columns = append([]string{"time", "measure_name"}, snap.allDims...)
	req.OnlyColumns = false
	out := newBatchBuilder(snap.dims, snap.fields, false)
	var prev []byte
	var cur *seriesCount
	count := func(b *columnar.Batch) error {
		rows := newRowReader(b, snap.allDims)
		for i := 0; i < b.Len(); i++ {
			_, dims := rows.key(c.key[:0], i)
			c.key = orderKey(c.key[:0], rows.measure.Strs[i], dims, snap.allDims)
			tm := rows.time.Ints[i]
			if cur == nil || string(prev) != string(c.key) {
				prev = append(prev[:0], c.key...)
				c.add(c.key, rows.measure.Strs[i], dims, 1, tm, tm)
				cur = c.acc[string(c.key)]
				continue
			}
			cur.n++
			cur.min, cur.max = min(cur.min, tm), max(cur.max, tm)
		}
		return nil
	}
	emit := func() error {
		if out.b.Len() == 0 {
			return nil
		}
		err := count(out.b)
		out.reset()
		return err
	}
	if err := c.db.scanPartition(ctx, &req, &snap, p, out, emit, count); err != nil {
		return err
	}
	return emit()
}
