package tsdb

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// DimFilter restricts a dimension: equal to one of Values (if any) and
// starting with Prefix (if set). A series without the dimension never
// matches a filter on it.
type DimFilter struct {
	Name   string
	Values []string
	Prefix string
}

func (f DimFilter) match(v string) bool {
	if len(f.Values) > 0 && !slices.Contains(f.Values, v) {
		return false
	}
	return strings.HasPrefix(v, f.Prefix)
}

// ScanRequest selects rows of a table. MinTime and MaxTime are inclusive;
// use math.MinInt64 and math.MaxInt64 for open bounds. Nil MeasureNames
// means all measures; nil Columns means all columns (time and measure_name
// always come back).
type ScanRequest struct {
	Database, Table  string
	MinTime, MaxTime int64
	MeasureNames     []string
	Dims             []DimFilter
	Columns          []string
	// OnlyColumns lets batches leave out time and measure_name when
	// Columns does not list them. Batches may still carry them (rows that
	// need merging do), so readers look columns up by name; what it saves
	// is decoding them from parts that need no merge.
	OnlyColumns bool
}

// ColumnInfo describes one column of a table.
type ColumnInfo struct {
	Name string
	Type columnar.Type
	Kind string // "time", "measure_name", "dimension" or "measure"
}

const scanBatchRows = 8192

// Schema returns a table's columns: time, measure_name, the dimensions and
// the value columns, each group sorted by name.
func (db *DB) Schema(ctx context.Context, dbName, tableName string) ([]ColumnInfo, error) {
	t, err := db.table(dbName, tableName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	dims, fields := t.columns(nil)
	out := []ColumnInfo{{"time", columnar.Timestamp, "time"}, {"measure_name", columnar.String, "measure_name"}}
	for _, d := range dims {
		out = append(out, ColumnInfo{d, columnar.String, "dimension"})
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, ColumnInfo{n, fields[n], "measure"})
	}
	return out, nil
}

// MeasureNames returns the table's measure names with their value types
// (MULTI measures report the type "MULTI" as a nil type list).
func (db *DB) MeasureNames(ctx context.Context, dbName, tableName string) (map[string]columnar.Type, error) {
	t, err := db.table(dbName, tableName)
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := map[string]columnar.Type{}
	for m, list := range t.byMeasure {
		if len(list) > 0 {
			out[m] = t.measureTypes[m] // Unknown for multi-measure
		}
	}
	return out, nil
}

// columns returns the projected dimension names and value columns; t.mu held.
func (t *table) columns(proj []string) ([]string, map[string]columnar.Type) {
	want := func(n string) bool { return proj == nil || slices.Contains(proj, n) }
	var dims []string
	for d := range t.dims {
		if want(d) {
			dims = append(dims, d)
		}
	}
	sort.Strings(dims)
	fields := map[string]columnar.Type{}
	for f, typ := range t.fieldTypes {
		if want(f) {
			fields[f] = typ
		}
	}
	return dims, fields
}

// matchSeries reports whether s passes the request's measure and dimension filters.
func (req *ScanRequest) matchSeries(s *series) bool {
	return req.matchIdentity(s.measure, s.dims)
}

// matchIdentity is matchSeries for a series given by measure and dims.
func (req *ScanRequest) matchIdentity(measure string, dims []Dimension) bool {
	if req.MeasureNames != nil && !slices.Contains(req.MeasureNames, measure) {
		return false
	}
	for _, f := range req.Dims {
		v, ok := dimValue(dims, f.Name)
		if !ok || !f.match(v) {
			return false
		}
	}
	return true
}

// memSnap is a captured, read-only range of one series' hot-tier points.
type memSnap struct {
	s        *series
	times    []int64
	versions []int64
	fields   []*fieldCol
}

// captureMem captures the points of ms in [lo, hi]; timesOnly leaves the
// value columns out.
func captureMem(ms *memSeries, lo, hi int64, timesOnly bool) (memSnap, bool) {
	i, j := 0, len(ms.times)
	if j == 0 {
		return memSnap{}, false
	}
	// The usual query bounds hold the whole series: check its ends
	// before searching.
	if ms.times[0] < lo {
		i = sort.Search(len(ms.times), func(i int) bool { return ms.times[i] >= lo })
	}
	if ms.times[j-1] > hi {
		j = sort.Search(len(ms.times), func(i int) bool { return ms.times[i] > hi })
	}
	if i >= j {
		return memSnap{}, false
	}
	ms.shared.Store(true)
	snap := memSnap{s: ms.s, times: ms.times[i:j:j], versions: ms.versions[i:j:j]}
	if timesOnly {
		return snap, true
	}
	for _, f := range ms.fields {
		c := *f.col // copy the slice headers; appends cannot reach [i:j]
		c.Bools, c.Ints, c.Floats, c.Strs = sub(c.Bools, i, j), sub(c.Ints, i, j), sub(c.Floats, i, j), sub(c.Strs, i, j)
		if c.Nulls != nil {
			c.Nulls = c.Nulls[i:j:j]
		}
		snap.fields = append(snap.fields, &fieldCol{name: f.name, col: &c})
	}
	return snap, true
}

func sub[T any](s []T, i, j int) []T {
	if s == nil {
		return nil
	}
	return s[i:j:j]
}

// snapshot is everything a scan reads, captured under the table lock.
type snapshot struct {
	dims    []string // projected dimensions
	allDims []string // every dimension (series identity, for merging)
	fields  map[string]columnar.Type
	mem     map[int64][]memSnap // by partition
	memSrc  map[int64]int       // number of memtables with data per partition
	parts   map[int64][]*partRef
	t       *table
	// series, when direct, are the few series that can match the
	// request (every series that may have rows in a source), in
	// compareSeries order: Scan then reads them from each source by
	// series instead of scanning the sources with a filter.
	series []*series
	direct bool
}

// directSeriesMax bounds the series a Scan reads series by series (see
// snapshot.series): a dashboard's query of one device's measure or a few.
const directSeriesMax = 64

func (s *snapshot) release() {
	for _, ps := range s.parts {
		for _, p := range ps {
			p.release()
		}
	}
}

func (db *DB) capture(t *table, req *ScanRequest) *snapshot {
	return db.captureTimes(t, req, false)
}

// captureTimes is capture; timesOnly leaves the hot tier's value columns
// out of the snapshot (for callers that read only times: SeriesCounts).
func (db *DB) captureTimes(t *table, req *ScanRequest, timesOnly bool) *snapshot {
	t.mu.RLock()
	defer t.mu.RUnlock()
	snap := &snapshot{mem: map[int64][]memSnap{}, memSrc: map[int64]int{}, parts: map[int64][]*partRef{}, t: t}
	snap.dims, snap.fields = t.columns(req.Columns)
	snap.allDims, _ = t.columns(nil)
	candidates, selective := t.candidates(req)
	if selective && len(candidates) <= directSeriesMax {
		snap.direct = true
		for _, s := range candidates {
			if req.matchSeries(s) {
				snap.series = append(snap.series, s)
			}
		}
		slices.SortFunc(snap.series, func(a, b *series) int { return compareSeries(a, b, snap.allDims) })
	}
	filtered := req.MeasureNames != nil || len(req.Dims) > 0
	for _, m := range []*memtable{t.active, t.flushing} {
		if m == nil {
			continue
		}
		var list []*memSeries
		if selective {
			// A few series of many: size the list by them, not by m.
			list = make([]*memSeries, 0, min(len(candidates), len(m.series)))
			for _, s := range candidates {
				if ms := m.series[s.id]; ms != nil {
					list = append(list, ms)
				}
			}
		} else {
			list = make([]*memSeries, 0, len(m.series))
			for _, ms := range m.series {
				list = append(list, ms)
			}
		}
		// m's snapshots by partition, gathered here and stored in
		// snap.mem after: a series' points often span two partitions,
		// so a map look-up per series and partition would cost more
		// than the capture itself.
		type byPartition struct {
			p    int64
			list []memSnap
		}
		var parts []byPartition
		last := 0
		put := func(p int64, ms memSnap) {
			if last >= len(parts) || parts[last].p != p {
				// Each series' points come in time order, so the
				// next partition, or the first again, is the
				// likely one.
				switch {
				case last+1 < len(parts) && parts[last+1].p == p:
					last++
				case len(parts) > 0 && parts[0].p == p:
					last = 0
				default:
					last = slices.IndexFunc(parts, func(x byPartition) bool { return x.p == p })
				}
				if last < 0 {
					last = len(parts)
					parts = append(parts, byPartition{p, snap.mem[p]})
				}
			}
			parts[last].list = append(parts[last].list, ms)
		}
		for _, ms := range list {
			if filtered && !req.matchSeries(ms.s) {
				continue
			}
			snapAll, ok := captureMem(ms, req.MinTime, req.MaxTime, timesOnly)
			if !ok {
				continue
			}
			// Split by partition.
			i := 0
			for i < len(snapAll.times) {
				p := db.partitionOf(snapAll.times[i])
				end := p + int64(db.opts.PartitionDuration)
				j := len(snapAll.times)
				if snapAll.times[j-1] >= end {
					j = i + sort.Search(len(snapAll.times)-i, func(k int) bool { return snapAll.times[i+k] >= end })
				}
				if i == 0 && j == len(snapAll.times) {
					put(p, snapAll)
				} else {
					put(p, sliceSnap(snapAll, i, j))
				}
				i = j
			}
		}
		for _, x := range parts {
			snap.mem[x.p] = x.list
			snap.memSrc[x.p]++
		}
	}
	lo := db.partitionOf(req.MinTime)
	for p, ps := range t.partitions {
		if p < lo || p > req.MaxTime {
			continue
		}
		var keep []*partRef
		for _, pr := range ps {
			if pr.entry.MaxTime < req.MinTime || pr.entry.MinTime > req.MaxTime {
				continue
			}
			if pr.entry.Measures != nil && req.MeasureNames != nil && !anyIn(req.MeasureNames, pr.entry.Measures) {
				continue
			}
			pr.acquire()
			keep = append(keep, pr)
		}
		if len(keep) > 0 {
			snap.parts[p] = keep
		}
	}
	return snap
}

func sliceSnap(s memSnap, i, j int) memSnap {
	out := memSnap{s: s.s, times: s.times[i:j:j], versions: s.versions[i:j:j]}
	for _, f := range s.fields {
		c := *f.col
		c.Bools, c.Ints, c.Floats, c.Strs = sub(c.Bools, i, j), sub(c.Ints, i, j), sub(c.Floats, i, j), sub(c.Strs, i, j)
		if c.Nulls != nil {
			c.Nulls = c.Nulls[i:j:j]
		}
		out.fields = append(out.fields, &fieldCol{name: f.name, col: &c})
	}
	return out
}

// Scan calls fn with batches of the rows that match req, read from a
// consistent snapshot of both tiers while writes go on. Where a (series,
// time) exists in several places, the highest version wins. Rows come
// partition by partition; within one, by series and time. fn must not keep
// the batch after it returns.
func (db *DB) Scan(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error {
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
	snap := db.capture(t, &req)
	defer snap.release()

	var partitions []int64
	for p := range snap.mem {
		partitions = append(partitions, p)
	}
	for p := range snap.parts {
		if _, ok := snap.mem[p]; !ok {
			partitions = append(partitions, p)
		}
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	out := newBatchBuilder(snap.dims, snap.fields, false)
	if req.OnlyColumns && len(req.Columns) > 0 {
		out.keepOnly(req.Columns)
	}
	emit := func() error {
		if out.b.Len() == 0 {
			return nil
		}
		err := fn(out.b)
		out.reset()
		return err
	}
	for _, p := range partitions {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := db.scanPartition(ctx, &req, snap, p, out, emit, fn); err != nil {
			return err
		}
	}
	return emit()
}

// scanPartition emits the rows of partition p of snap (see Scan): straight
// from the parts when they cannot share a series, from the one memtable
// when it is the only source, merged otherwise. Batches go to fn directly
// or through out and emit.
func (db *DB) scanPartition(ctx context.Context, req *ScanRequest, snap *snapshot, p int64, out *batchBuilder, emit func() error, fn func(*columnar.Batch) error) (err error) {
	parts, mem := snap.parts[p], snap.mem[p]
	sources := len(parts) + snap.memSrc[p]
	switch {
	case len(parts) == sources && disjointMeasures(parts):
		// Parts that cannot hold the same series need no merge.
		if err := emit(); err != nil {
			return err
		}
		if snap.direct {
			// A few series: read each where the part's index puts it.
			var ok bool
			if ok, err = db.scanSeries(ctx, req, snap, p, out, emit); ok || err != nil {
				if err == nil {
					err = emit()
				}
				return err
			}
		}
		like := out.b
		only := req.OnlyColumns && len(req.Columns) > 0
		if only {
			like = project(out.b, req.Columns)
			only = len(like.Names) > 0
		}
		for _, pr := range parts {
			f, ok := partFilter(pr, req, snap.dims, snap.fields)
			if !ok {
				continue
			}
			if only {
				f.ProjectOnly = true
				for _, c := range []string{"time", "measure_name"} {
					if slices.Contains(req.Columns, c) {
						f.Columns = append(f.Columns, c)
					}
				}
				if len(f.Columns) == 0 {
					// The part has none of the columns, but its rows
					// still count: read the cheapest, conform turns
					// the rest into NULLs.
					f.Columns = append(f.Columns, "time")
				}
			}
			if err = pr.r.Scan(ctx, f, func(b *columnar.Batch) error {
				return fn(conform(b, like))
			}); err != nil {
				return err
			}
		}
	case sources == 1:
		sort.Slice(mem, func(i, j int) bool { return compareSeries(mem[i].s, mem[j].s, snap.allDims) < 0 })
		for _, m := range mem {
			out.appendMem(m.s, m.times, m.versions, m.fields, 0, len(m.times))
			if out.b.Len() >= scanBatchRows {
				if err = emit(); err != nil {
					return err
				}
			}
		}
	default:
		if snap.direct {
			// A few series: read each from its sources (when they
			// allow it) rather than scanning every source.
			var ok bool
			if ok, err = db.scanSeries(ctx, req, snap, p, out, emit); ok || err != nil {
				return err
			}
		}
		err = db.mergePartition(ctx, req, snap, parts, mem, out, emit)
	}
	return err
}

// partFilter translates a request into a filter for part p, projecting the
// dims and fields p has. ok is false when p cannot hold a matching row (a
// dimension filter on a dimension p lacks).
func partFilter(p *partRef, req *ScanRequest, dims []string, fields map[string]columnar.Type) (f part.Filter, ok bool) {
	has := map[string]bool{}
	for _, c := range p.r.Meta().Columns {
		has[c.Name] = true
	}
	f = part.Filter{MinTime: req.MinTime, MaxTime: req.MaxTime, MeasureNames: req.MeasureNames, Columns: []string{}}
	for _, d := range req.Dims {
		if !has[d.Name] {
			return f, false
		}
		f.Dims = append(f.Dims, part.DimFilter{Name: d.Name, Values: d.Values, Prefix: d.Prefix})
	}
	for _, d := range dims {
		if has[d] {
			f.Columns = append(f.Columns, d)
		}
	}
	for n := range fields {
		if has[n] {
			f.Columns = append(f.Columns, n)
		}
	}
	return f, true
}

// project returns a batch header with the columns of b named in names, in
// b's order.
func project(b *columnar.Batch, names []string) *columnar.Batch {
	out := &columnar.Batch{}
	for i, n := range b.Names {
		if slices.Contains(names, n) {
			out.Add(n, b.Cols[i])
		}
	}
	return out
}

// conform returns b with exactly the columns of like, in like's order;
// columns b lacks become NULL, columns of another type too.
func conform(b, like *columnar.Batch) *columnar.Batch {
	out := &columnar.Batch{Names: like.Names, Cols: make([]*columnar.Column, len(like.Names))}
	n := b.Len()
	for i, name := range like.Names {
		c := b.Col(name)
		if c == nil || c.Type != like.Cols[i].Type {
			c = nullColumn(like.Cols[i].Type, n)
		}
		out.Cols[i] = c
	}
	return out
}

// Latest calls fn with one batch holding, for each series that matches req,
// its newest point (newest time, then highest version) if that point lies
// in [MinTime, MaxTime]. It reads only memory.
func (db *DB) Latest(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error {
	t, err := db.table(req.Database, req.Table)
	if err != nil {
		return err
	}
	t.mu.RLock()
	dims, fields := t.columns(req.Columns)
	allDims, _ := t.columns(nil)
	out := newBatchBuilder(dims, fields, false)
	var list []*series
	candidates, selective := t.candidates(&req)
	if !selective {
		candidates = make([]*series, 0, t.nseries)
		for _, list := range t.byMeasure {
			candidates = append(candidates, list...)
		}
	}
	for _, s := range candidates {
		if s.latestSet && s.latest.t >= req.MinTime && s.latest.t <= req.MaxTime && req.matchSeries(s) {
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool { return compareSeries(list[i], list[j], allDims) < 0 })
	for _, s := range list {
		p := s.latest
		fcs := make([]*fieldCol, 0, len(p.fields))
		for _, f := range p.fields {
			c := columnar.NewColumn(f.val.Type, 1)
			appendValue(c, f.val)
			fcs = append(fcs, &fieldCol{name: f.name, col: c})
		}
		out.appendMem(s, []int64{p.t}, []int64{p.v}, fcs, 0, 1)
	}
	t.mu.RUnlock()
	if out.b.Len() == 0 {
		return nil
	}
	return fn(out.b)
}

// orderKey encodes a series identity so that byte order is part order
// (measure name, then each of allDims with a missing one first). Strings
// are escaped (0x00 -> 0x00 0xFF) and end with 0x00 0x01, so a prefix
// sorts first.
func orderKey(dst []byte, measure string, dims []Dimension, allDims []string) []byte {
	dst = appendOrdered(dst, measure)
	for _, name := range allDims {
		if v, ok := dimValue(dims, name); ok {
			dst = append(dst, 2)
			dst = appendOrdered(dst, v)
		} else {
			dst = append(dst, 1)
		}
	}
	return dst
}

func appendOrdered(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
		if s[i] == 0 {
			dst = append(dst, 0xFF)
		}
	}
	return append(dst, 0, 1)
}

// candidates returns, when the request names dimension values or measure
// names, the smallest list of series that can match (from the postings);
// selective is false when every series must be considered. t.mu is held.
func (t *table) candidates(req *ScanRequest) (list []*series, selective bool) {
	best := -1
	consider := func(l []*series) {
		if best < 0 || len(l) < best {
			best, list, selective = len(l), l, true
		}
	}
	for _, f := range req.Dims {
		if len(f.Values) == 0 {
			continue
		}
		vals := t.postings[f.Name]
		var l []*series
		for _, v := range f.Values {
			l = append(l, vals[v]...)
		}
		consider(l)
	}
	if req.MeasureNames != nil {
		var l []*series
		for _, m := range req.MeasureNames {
			l = append(l, t.byMeasure[m]...)
		}
		consider(l)
	}
	if selective && len(list) > 0 {
		// A filter may name a value twice (IN ('a', 'a')): keep each
		// series once, or its rows would come back twice.
		seen := make(map[uint64]struct{}, len(list))
		out := make([]*series, 0, len(list))
		for _, s := range list {
			if _, dup := seen[s.id]; !dup {
				seen[s.id] = struct{}{}
				out = append(out, s)
			}
		}
		list = out
	}
	return list, selective
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// disjointMeasures reports whether no two parts share a measure name (and
// so a series). A single part is trivially disjoint; unknown lists are not.
func disjointMeasures(parts []*partRef) bool {
	if len(parts) == 1 {
		return true
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if p.entry.Measures == nil {
			return false
		}
		for _, m := range p.entry.Measures {
			if seen[m] {
				return false
			}
			seen[m] = true
		}
	}
	return true
}
