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
	snap := db.capture(t, &capReq)
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
	for _, p := range partitions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.partition(ctx, p); err != nil {
			return err
		}
	}
	if len(c.acc) == 0 {
		return nil
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
		c.times = c.times[:0]
		var measure string
		var dims []Dimension
		for _, ps := range src.parts {
			start := len(c.times)
			var err error
			if c.times, err = ps.r.AppendTimes(ctx, c.times, ps.st.Start, ps.st.Start+ps.st.Rows); err != nil {
				return err
			}
			c.times = append(c.times[:start], inRange(c.times[start:], c.req.MinTime, c.req.MaxTime)...)
			measure = ps.st.Measure
		}
		for _, m := range src.mem {
			c.times = append(c.times, m.times...)
			measure, dims = m.s.measure, m.s.dims
		}
		if dims == nil {
			dims = identityDims(src.parts[0])
		}
		slices.Sort(c.times)
		c.times = slices.Compact(c.times)
		if len(c.times) > 0 {
			c.add([]byte(key), measure, dims, int64(len(c.times)), c.times[0], c.times[len(c.times)-1])
		}
	}
	return nil
}

// countPart counts series st of part r; c.key is its order key, dims its
// dimensions.
func (c *counter) countPart(ctx context.Context, r *part.Reader, st *part.SeriesStat, dims []Dimension) error {
	if st.MinTime >= c.req.MinTime && st.MaxTime <= c.req.MaxTime {
		c.add(c.key, st.Measure, dims, st.Rows, st.MinTime, st.MaxTime)
		return nil
	}
	// The series straddles a bound: read its times.
	var err error
	if c.times, err = r.AppendTimes(ctx, c.times[:0], st.Start, st.Start+st.Rows); err != nil {
		return err
	}
	in := inRange(c.times, c.req.MinTime, c.req.MaxTime)
	if len(in) > 0 {
		c.add(c.key, st.Measure, dims, int64(len(in)), in[0], in[len(in)-1])
	}
	return nil
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
