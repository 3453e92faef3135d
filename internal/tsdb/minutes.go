package tsdb

import (
	"context"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// Names of the columns MinuteAggregates adds after the series' identity.
// As with SeriesCounts, callers that may meet a dimension of the same name
// take them by position (the last five columns).
const (
	MinuteColumn = "$minute" // TIMESTAMP: start of an epoch minute
	// CountColumn (BIGINT): non-NULL values of the column in the rows
	SumColumn = "$sum" // DOUBLE: their sum, NULL when there are none
	MinColumn = "$min" // DOUBLE: their minimum, NULL when there are none
	MaxColumn = "$max" // DOUBLE: their maximum, NULL when there are none
)

// MinuteAggregates calls fn with batches of partial aggregates of DOUBLE
// column of the rows that match req: measure_name (unless req.Columns
// leaves it out), the projected dimensions, MinuteColumn, CountColumn,
// SumColumn, MinColumn and MaxColumn. Each row covers some of the rows of
// one series within one epoch minute; a series and minute may come in
// several rows, which add up (counts and sums add, minima and maxima
// combine) to what a Scan of the same request holds, and every (series,
// minute) the Scan has rows for comes at least once (with a count of 0
// when the values are all NULL). Sums are of the same values in another
// grouping, so they may differ from a Scan's in the last bits.
//
// A series with one source in a partition (as SeriesCounts decides it) is
// answered from its part's per-minute pre-aggregates (part.Minutes) for
// the minutes wholly inside [MinTime, MaxTime], and from its rows for a
// minute that straddles a bound. Other series (several sources, the hot
// tier, parts without pre-aggregates) are scanned, one output row per row.
func (db *DB) MinuteAggregates(ctx context.Context, req ScanRequest, column string, fn func(*columnar.Batch) error) error {
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
	capReq := req
	capReq.Columns = append(onlyNames(req.Columns, t), column)
	snap := db.capture(t, &capReq)
	defer snap.release()

	m := &minuteAgg{db: db, req: &req, snap: snap, column: column, fn: fn}
	m.b = &columnar.Batch{}
	if req.Columns == nil || slices.Contains(req.Columns, "measure_name") {
		m.mn = m.b.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	}
	for _, d := range snap.dims {
		m.dims = append(m.dims, m.b.Add(d, columnar.NewColumn(columnar.String, 0)))
	}
	m.minute = m.b.Add(MinuteColumn, columnar.NewColumn(columnar.Timestamp, 0))
	m.count = m.b.Add(CountColumn, columnar.NewColumn(columnar.Int64, 0))
	m.sum = m.b.Add(SumColumn, columnar.NewColumn(columnar.Float64, 0))
	m.min = m.b.Add(MinColumn, columnar.NewColumn(columnar.Float64, 0))
	m.max = m.b.Add(MaxColumn, columnar.NewColumn(columnar.Float64, 0))

	var partitions []int64
	for p := range snap.mem {
		partitions = append(partitions, p)
	}
	for p := range snap.parts {
		if _, ok := snap.mem[p]; !ok {
			partitions = append(partitions, p)
		}
	}
	slices.Sort(partitions)
	for _, p := range partitions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.partition(ctx, p); err != nil {
			return err
		}
	}
	return m.emit()
}

type minuteAgg struct {
	db     *DB
	req    *ScanRequest
	snap   *snapshot
	column string
	fn     func(*columnar.Batch) error

	b             *columnar.Batch
	mn            *columnar.Column
	dims          []*columnar.Column // parallel to snap.dims
	minute, count *columnar.Column
	sum, min, max *columnar.Column
	sdims         []Dimension
	times         []int64
	vals          *columnar.Column
}

func (m *minuteAgg) emit() error {
	if m.b.Len() == 0 {
		return nil
	}
	err := m.fn(m.b)
	for _, c := range m.b.Cols {
		c.Reset()
	}
	return err
}

// add appends one partial aggregate of series (measure, dims) in minute.
func (m *minuteAgg) add(measure string, dims []Dimension, minute int64, a part.ValueAgg) error {
	if m.mn != nil {
		m.mn.AppendString(measure)
	}
	for i, d := range m.snap.dims {
		if v, ok := dimValue(dims, d); ok {
			m.dims[i].AppendString(v)
		} else {
			m.dims[i].AppendNull()
		}
	}
	m.minute.AppendInt(minute * part.Minute)
	m.count.AppendInt(a.Count)
	if a.Count == 0 {
		m.sum.AppendNull()
		m.min.AppendNull()
		m.max.AppendNull()
	} else {
		m.sum.AppendFloat(a.Sum)
		m.min.AppendFloat(a.Min)
		m.max.AppendFloat(a.Max)
	}
	if m.b.Len() >= scanBatchRows {
		return m.emit()
	}
	return nil
}

// partition emits the aggregates of partition p.
func (m *minuteAgg) partition(ctx context.Context, p int64) error {
	parts := m.snap.parts[p]
	if m.snap.memSrc[p] > 0 || !disjointMeasures(parts) {
		// Several sources may hold a series. Flushes cut series by time,
		// so usually they do not overlap, and each source's aggregates
		// add up; only where they may overlap are rows merged.
		ok, err := m.disjointSources(p)
		if err != nil {
			return err
		}
		if !ok {
			return m.scan(ctx, p)
		}
	}
	all := make([]*part.Minutes, len(parts))
	for i, pr := range parts {
		mins, err := pr.r.Minutes()
		if err != nil {
			return err
		}
		if mins == nil {
			return m.scan(ctx, p)
		}
		meta := pr.r.Meta()
		if _, ok := meta.Column(m.column); ok && mins.Column(m.column) < 0 {
			return m.scan(ctx, p) // not a DOUBLE column here
		}
		all[i] = mins
	}
	// Minutes wholly inside the range come from the footer; those that
	// straddle a bound are read from rows afterwards, on all cores (each
	// costs a page decode per column), and emitted in the same order.
	type edge struct {
		r       *part.Reader
		hasCol  bool
		lo, hi  int64
		measure string
		dims    []Dimension
		minute  int64
		n       int
		agg     part.ValueAgg
	}
	var edges []edge
	for i, pr := range parts {
		stats, err := pr.r.Series()
		if err != nil {
			return err
		}
		col := all[i].Column(m.column)
		dimNames := pr.r.Meta().Dims
		err = m.eachSeries(stats, dimNames, func(k int, st *part.SeriesStat) error {
			for _, ms := range all[i].Series[k] {
				if ms.MaxTime < m.req.MinTime || ms.MinTime > m.req.MaxTime {
					continue
				}
				if ms.MinTime < m.req.MinTime || ms.MaxTime > m.req.MaxTime {
					edges = append(edges, edge{r: pr.r, hasCol: col >= 0, lo: ms.Start, hi: ms.Start + ms.Rows,
						measure: st.Measure, dims: slices.Clone(m.sdims), minute: ms.Minute})
					continue
				}
				var a part.ValueAgg
				if col >= 0 {
					a = ms.Values[col]
				}
				if err := m.add(st.Measure, m.sdims, ms.Minute, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := m.memRows(p); err != nil {
		return err
	}
	if len(edges) == 0 {
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), (len(edges)+15)/16)
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		work := func() {
			defer wg.Done()
			r := &minuteAgg{req: m.req, column: m.column}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(edges) || ctx.Err() != nil {
					return
				}
				e := &edges[i]
				if e.n, errs[w] = r.rows(ctx, e.r, e.hasCol, e.lo, e.hi, &e.agg); errs[w] != nil {
					next.Store(int64(len(edges))) // stop the others
					return
				}
			}
		}
		if workers == 1 {
			work() // a few series (one device's): no goroutine
		} else {
			go work()
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range edges {
		e := &edges[i]
		if e.n == 0 {
			continue
		}
		if err := m.add(e.measure, e.dims, e.minute, e.agg); err != nil {
			return err
		}
	}
	return nil
}

// disjointSources reports whether, in partition p, no series that may
// match has points of the same time in two sources (parts, memtables),
// judged by each source's time span of the series within the request.
func (m *minuteAgg) disjointSources(p int64) (bool, error) {
	spans := map[string][][2]int64{} // by orderKey
	var key []byte
	clamp := func(lo, hi int64) [2]int64 { return [2]int64{max(lo, m.req.MinTime), min(hi, m.req.MaxTime)} }
	for _, pr := range m.snap.parts[p] {
		stats, err := pr.r.Series()
		if err != nil || stats == nil {
			return false, err
		}
		dimNames := pr.r.Meta().Dims
		err = m.eachSeries(stats, dimNames, func(_ int, st *part.SeriesStat) error {
			key = orderKey(key[:0], st.Measure, m.sdims, m.snap.allDims)
			spans[string(key)] = append(spans[string(key)], clamp(st.MinTime, st.MaxTime))
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	for _, ms := range m.snap.mem[p] {
		key = orderKey(key[:0], ms.s.measure, ms.s.dims, m.snap.allDims)
		spans[string(key)] = append(spans[string(key)], clamp(ms.times[0], ms.times[len(ms.times)-1]))
	}
	for _, sp := range spans {
		if len(sp) > 1 && !disjointSpans(sp) {
			return false, nil
		}
	}
	return true, nil
}

// memRows adds the aggregates of partition p's hot-tier points, a run per
// series and minute.
func (m *minuteAgg) memRows(p int64) error {
	for k := range m.snap.mem[p] {
		ms := &m.snap.mem[p][k]
		var vals *columnar.Column
		for _, f := range ms.fields {
			if f.name == m.column && f.col.Type == columnar.Float64 {
				vals = f.col
			}
		}
		for i := 0; i < len(ms.times); {
			minute := ms.times[i] / part.Minute
			if ms.times[i]%part.Minute < 0 {
				minute--
			}
			end := (minute + 1) * part.Minute
			var a part.ValueAgg
			for ; i < len(ms.times) && ms.times[i] < end; i++ {
				if vals != nil && !vals.IsNull(i) {
					a.Add(vals.Floats[i])
				}
			}
			if err := m.add(ms.s.measure, ms.s.dims, minute, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// eachSeries calls fn with each series of a part (its statistics, index k)
// that has points in the request's time range and matches its filters,
// with m.sdims set to the series' dimensions, sorted by name.
func (m *minuteAgg) eachSeries(stats []part.SeriesStat, dimNames []string, fn func(k int, st *part.SeriesStat) error) error {
	for _, rg := range candidateSeries(stats, dimNames, m.req) {
		for k := rg[0]; k < rg[1]; k++ {
			st := &stats[k]
			if st.MaxTime < m.req.MinTime || st.MinTime > m.req.MaxTime {
				continue
			}
			m.sdims = m.sdims[:0]
			for j, name := range dimNames {
				if st.Nulls == nil || !st.Nulls[j] {
					m.sdims = append(m.sdims, Dimension{name, st.Dims[j]})
				}
			}
			slices.SortFunc(m.sdims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
			if !m.req.matchIdentity(st.Measure, m.sdims) {
				continue
			}
			if err := fn(k, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// candidateSeries returns the index ranges of stats (a part's series, in
// the part's order: measure name, then each of dims with NULL first) that
// can hold series matching req: the measure names' runs, and within
// them, when req pins the part's first dimension to values, those values'
// runs, found by binary search. One series of the thousands in a part is
// then found without looking at the others; callers still check each
// candidate against req.
func candidateSeries(stats []part.SeriesStat, dims []string, req *ScanRequest) [][2]int {
	var vals []string
	if len(dims) > 0 {
		for _, f := range req.Dims {
			if f.Name == dims[0] && len(f.Values) > 0 {
				vals = slices.Clone(f.Values)
				break
			}
		}
	}
	if len(stats) == 0 {
		return nil
	}
	if req.MeasureNames == nil && vals == nil {
		return [][2]int{{0, len(stats)}}
	}
	// The runs of one measure name each: those asked for, or all of them
	// (the first dimension is sorted only within a run).
	var all [][2]int
	run := func(lo int) int {
		name := stats[lo].Measure
		return lo + sort.Search(len(stats)-lo, func(i int) bool { return stats[lo+i].Measure > name })
	}
	if req.MeasureNames != nil {
		names := slices.Clone(req.MeasureNames)
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			lo := sort.Search(len(stats), func(i int) bool { return stats[i].Measure >= name })
			if lo < len(stats) && stats[lo].Measure == name {
				all = append(all, [2]int{lo, run(lo)})
			}
		}
	} else {
		for lo := 0; lo < len(stats); {
			hi := run(lo)
			all = append(all, [2]int{lo, hi})
			lo = hi
		}
	}
	if vals == nil {
		return all
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	// Within one measure, NULLs of the first dimension come first, then
	// its values ascending.
	first := func(k int) (string, bool) {
		st := &stats[k]
		return st.Dims[0], st.Nulls == nil || !st.Nulls[0]
	}
	var out [][2]int
	for _, r := range all {
		n := r[1] - r[0]
		for _, v := range vals {
			lo := r[0] + sort.Search(n, func(i int) bool { d, ok := first(r[0] + i); return ok && d >= v })
			hi := r[0] + sort.Search(n, func(i int) bool { d, ok := first(r[0] + i); return ok && d > v })
			if lo < hi {
				out = append(out, [2]int{lo, hi})
			}
		}
	}
	return out
}

// rows aggregates the values of part rows [lo, hi) whose times are in the
// request's range into a and returns how many rows are.
func (m *minuteAgg) rows(ctx context.Context, r *part.Reader, hasCol bool, lo, hi int64, a *part.ValueAgg) (int, error) {
	var err error
	if m.times, err = r.AppendTimes(ctx, m.times[:0], lo, hi); err != nil {
		return 0, err
	}
	if hasCol {
		if m.vals == nil {
			m.vals = columnar.NewColumn(columnar.Float64, 0)
		}
		m.vals.Reset()
		if err := r.AppendFloats(ctx, m.vals, m.column, lo, hi); err != nil {
			return 0, err
		}
	}
	n := 0
	for i, t := range m.times {
		if t < m.req.MinTime || t > m.req.MaxTime {
			continue
		}
		n++
		if hasCol && !m.vals.IsNull(i) {
			a.Add(m.vals.Floats[i])
		}
	}
	return n, nil
}

// scan emits one aggregate per row of partition p, read as Scan reads it
// (the highest version of each point where sources overlap).
func (m *minuteAgg) scan(ctx context.Context, p int64) error {
	snap := *m.snap
	snap.dims = m.snap.allDims
	snap.fields = map[string]columnar.Type{}
	if typ, ok := m.snap.fields[m.column]; ok {
		snap.fields[m.column] = typ
	}
	req := *m.req
	req.Columns = append([]string{"time", "measure_name", m.column}, snap.allDims...)
	req.OnlyColumns = false
	out := newBatchBuilder(snap.dims, snap.fields, false)
	// Rows come by series, then time: consecutive rows of one series and
	// minute fold into one aggregate, and a series' identity is worked
	// out once per run of its rows.
	var (
		cur     part.ValueAgg
		curMin  int64
		open    bool
		measure string
		dims    []Dimension
		key     []string // measure, then each dimension's value
		nulls   []bool   // per dimension
		rowKey  []string
		rowNull []bool
	)
	flush := func() error {
		if !open {
			return nil
		}
		open = false
		return m.add(measure, dims, curMin, cur)
	}
	each := func(b *columnar.Batch) error {
		rows := newRowReader(b, snap.allDims)
		vals := b.Col(m.column)
		if vals != nil && vals.Type != columnar.Float64 {
			vals = nil
		}
		for i := 0; i < b.Len(); i++ {
			rowKey, rowNull = append(rowKey[:0], rows.measure.Strs[i]), rowNull[:0]
			for _, c := range rows.dims {
				rowKey = append(rowKey, c.Strs[i])
				rowNull = append(rowNull, c.IsNull(i))
			}
			t := rows.time.Ints[i]
			minute := t / part.Minute
			if t%part.Minute < 0 {
				minute--
			}
			same := open && slices.Equal(rowKey, key) && slices.Equal(rowNull, nulls)
			if !same || minute != curMin {
				if err := flush(); err != nil {
					return err
				}
				if !same {
					key, nulls = append(key[:0], rowKey...), append(nulls[:0], rowNull...)
					_, dims = rows.key(nil, i)
					measure = rows.measure.Strs[i]
				}
				open, cur, curMin = true, part.ValueAgg{}, minute
			}
			if vals != nil && !vals.IsNull(i) {
				cur.Add(vals.Floats[i])
			}
		}
		return nil
	}
	emit := func() error {
		if out.b.Len() == 0 {
			return nil
		}
		err := each(out.b)
		out.reset()
		return err
	}
	if err := m.db.scanPartition(ctx, &req, &snap, p, out, emit, each); err != nil {
		return err
	}
	if err := emit(); err != nil {
		return err
	}
	return flush()
}
