package tsdb

import (
	"encoding/binary"
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// table is one table's in-memory state: its series, its hot tier and the
// list of its parts.
type table struct {
	info *TableInfo // guarded by DB.mu
	id   uint32     // set in newTable

	scratch sync.Pool // of *writeScratch, for Write

	mu sync.RWMutex // guards everything below
	// series by key (seriesKey); byDims holds every distinct dimension
	// set by dimsHash (sets with the same hash are chained), each with its
	// series; postings lists the series of each dimension value, byMeasure
	// those of each measure name. Series are never removed while the table
	// is open. The write path finds series through byDims: one probe for
	// all the records of an event (they share their dimensions), and no
	// key string built for a series that exists.
	series    map[string]*series
	byDims    map[uint64]*dimSet
	seed      maphash.Seed // of dimsHash; set in newTable
	postings  map[string]map[string][]*series
	byMeasure map[string][]*series
	active    *memtable // takes writes
	flushing  *memtable // being written to parts; read-only; nil if none
	// measureTypes fixes the type of each single-measure measure name;
	// fieldTypes fixes the type of each value column (multi measures and
	// measure_value::<type>); dims is the set of dimension names.
	measureTypes map[string]columnar.Type
	fieldTypes   map[string]columnar.Type
	dims         map[string]struct{}
	// partitions maps partition start to its live parts, oldest first. The
	// slices are replaced, never modified in place, so scans may keep them.
	partitions map[int64][]*partRef
	// flushEpoch changes whenever head data moves to parts, so a writer that
	// looked up cold points without the lock can tell its answer is stale.
	flushEpoch uint64
	deleted    bool
}

func newTable(ti *TableInfo) *table {
	t := &table{
		info:         ti,
		id:           ti.ID,
		series:       map[string]*series{},
		byDims:       map[uint64]*dimSet{},
		seed:         maphash.MakeSeed(),
		postings:     map[string]map[string][]*series{},
		byMeasure:    map[string][]*series{},
		active:       newMemtable(),
		measureTypes: map[string]columnar.Type{},
		fieldTypes:   map[string]columnar.Type{},
		dims:         map[string]struct{}{},
		partitions:   map[int64][]*partRef{},
	}
	for _, c := range ti.Declared {
		if c.Kind == "dimension" {
			t.dims[c.Name] = struct{}{}
		} else {
			t.fieldTypes[c.Name] = c.Type
		}
	}
	return t
}

// series is one series' identity and what is known about it across tiers.
// Fields other than id, key, measure and dims are guarded by table.mu.
type series struct {
	// The fields a write touches come first, so that they share cache
	// lines.
	measure string
	// act is this series' memSeries in the active memtable, or nil (then
	// look in the memtable's map). Flush clears it when the active
	// memtable is replaced, so it never points into an older generation.
	act *memSeries
	// okField and okType are the single-measure column and type this series
	// was last written with; a write of the same passes the type checks.
	okField string
	okType  columnar.Type
	defGen  uint64 // WAL generation in which this series' definition was last logged
	// coldMin/coldMax bound the times of this series' points in parts; a
	// write outside them needs no part lookup. coldMin > coldMax: none.
	coldMin, coldMax int64
	// latest is the newest point (by time, then version) for the
	// latest-point fast path; latestSet reports whether it is valid.
	// latest.fields of a single-measure point is latest1[:] (no allocation
	// of its own).
	latest    point
	latestSet bool
	id        uint64
	latest1   [1]fieldValue

	key     string
	dims    []Dimension // sorted by name; shared with the series' dimSet
	lastLen int         // points in the series' last flushed memtable (capacity hint)
}

// dimSet is one distinct set of dimensions and its series, one per measure
// name; guarded by table.mu.
type dimSet struct {
	dims      []Dimension
	series    []*series
	byMeasure map[string]*series // once series is long
	next      *dimSet            // the next set with the same dimsHash
}

// manyMeasures is the number of series of a dimSet from which it looks
// them up through a map.
const manyMeasures = 16

func (ds *dimSet) find(measure string) *series {
	if ds.byMeasure != nil {
		return ds.byMeasure[measure]
	}
	for _, s := range ds.series {
		if s.measure == measure {
			return s
		}
	}
	return nil
}

func (ds *dimSet) add(s *series) {
	ds.series = append(ds.series, s)
	if ds.byMeasure != nil {
		ds.byMeasure[s.measure] = s
	} else if len(ds.series) > manyMeasures {
		ds.byMeasure = make(map[string]*series, len(ds.series))
		for _, x := range ds.series {
			ds.byMeasure[x.measure] = x
		}
	}
}

// point is one point's data outside a memSeries (latest cache, lookups).
type point struct {
	t, v   int64
	fields []fieldValue
}

type fieldValue struct {
	name string
	val  Value
}

var seriesIDs atomic.Uint64

// seriesKey encodes a series identity unambiguously: length-prefixed measure
// name, then each dimension's name and value, dimensions sorted by name.
func seriesKey(dst []byte, measure string, dims []Dimension) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(measure)))
	dst = append(dst, measure...)
	for _, d := range dims {
		dst = binary.AppendUvarint(dst, uint64(len(d.Name)))
		dst = append(dst, d.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(d.Value)))
		dst = append(dst, d.Value...)
	}
	return dst
}

// dimsHash hashes sorted dimensions; every name and value is hashed on its
// own, so no two different lists of strings are confused by concatenation.
// Equal sets hash equally; unequal ones may collide, so lookups compare
// the dimensions too. Writes compute it once per distinct Dimensions slice.
func dimsHash(seed maphash.Seed, dims []Dimension) uint64 {
	h := uint64(len(dims))
	for _, d := range dims {
		h = mixHash(h, maphash.String(seed, d.Name))
		h = mixHash(h, maphash.String(seed, d.Value))
	}
	return h
}

func mixHash(h, x uint64) uint64 {
	h = (h ^ x) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// lookupDims finds a dimension set by its dimsHash h; nil if absent. It
// needs t.mu held (for reading at least).
func (t *table) lookupDims(h uint64, dims []Dimension) *dimSet {
	for ds := t.byDims[h]; ds != nil; ds = ds.next {
		if sameDims(ds.dims, dims) {
			return ds
		}
	}
	return nil
}

// lookupSeries finds a series by identity; h is dimsHash(dims). Nil if
// absent. It needs t.mu held (for reading at least).
func (t *table) lookupSeries(h uint64, measure string, dims []Dimension) *series {
	if ds := t.lookupDims(h, dims); ds != nil {
		return ds.find(measure)
	}
	return nil
}

func sameDims(a, b []Dimension) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// createSeries adds a series that lookupSeries did not find; h is
// dimsHash(dims). t.mu must be held for writing.
func (t *table) createSeries(h uint64, measure string, dims []Dimension) *series {
	return t.addSeries(h, seriesKey(nil, measure, dims), measure, dims)
}

// getOrCreateSeries must be called with t.mu held for writing.
func (t *table) getOrCreateSeries(key []byte, measure string, dims []Dimension) *series {
	if s := t.series[string(key)]; s != nil {
		return s
	}
	return t.addSeries(dimsHash(t.seed, dims), key, measure, dims)
}

func (t *table) addSeries(h uint64, key []byte, measure string, dims []Dimension) *series {
	ds := t.lookupDims(h, dims)
	if ds == nil {
		ds = &dimSet{dims: append([]Dimension(nil), dims...), next: t.byDims[h]}
		t.byDims[h] = ds
	}
	s := &series{
		id:      seriesIDs.Add(1),
		key:     string(key),
		measure: measure,
		dims:    ds.dims,
		coldMin: maxTime,
		coldMax: minTime,
	}
	ds.add(s)
	t.series[s.key] = s
	t.byMeasure[measure] = append(t.byMeasure[measure], s)
	for _, d := range s.dims {
		t.dims[d.Name] = struct{}{}
		vals := t.postings[d.Name]
		if vals == nil {
			vals = map[string][]*series{}
			t.postings[d.Name] = vals
		}
		vals[d.Value] = append(vals[d.Value], s)
	}
	return s
}

// memtable is a generation of the hot tier.
type memtable struct {
	series map[uint64]*memSeries
	points int
	minT   int64
}

func newMemtable() *memtable {
	return &memtable{series: map[uint64]*memSeries{}, minT: maxTime}
}

// memSeries holds one series' points of one memtable, sorted by time.
// Appends past the end never disturb a reader that captured a prefix; any
// other change copies the slices first when shared is set, so scans can read
// captured slices without the lock.
type memSeries struct {
	s        *series
	mt       *memtable // the memtable holding it
	times    []int64
	versions []int64
	fields   []*fieldCol
	shared   atomic.Bool
}

// fieldCol is one value column of a memSeries, aligned with times.
type fieldCol struct {
	name string
	col  *columnar.Column
}

func (ms *memSeries) field(name string, typ columnar.Type) *fieldCol {
	for _, f := range ms.fields {
		if f.name == name {
			return f
		}
	}
	f := &fieldCol{name: name, col: columnar.NewColumn(typ, cap(ms.times))}
	for range ms.times {
		f.col.AppendNull()
	}
	ms.fields = append(ms.fields, f)
	return f
}

func fieldOf(fs []fieldValue, name string) (Value, bool) {
	for _, f := range fs {
		if f.name == name {
			return f.val, true
		}
	}
	return Value{}, false
}

// find returns the index of time t and whether it is present.
func (ms *memSeries) find(t int64) (int, bool) {
	n := len(ms.times)
	if n == 0 || t > ms.times[n-1] {
		return n, false
	}
	i := sort.Search(n, func(i int) bool { return ms.times[i] >= t })
	return i, i < n && ms.times[i] == t
}

// unshare copies the slices if a scan may be reading them.
func (ms *memSeries) unshare() {
	if !ms.shared.Load() {
		return
	}
	ms.times = append([]int64(nil), ms.times...)
	ms.versions = append([]int64(nil), ms.versions...)
	for i, f := range ms.fields {
		c := columnar.NewColumn(f.col.Type, f.col.Len())
		for j := 0; j < f.col.Len(); j++ {
			c.AppendFrom(f.col, j)
		}
		ms.fields[i] = &fieldCol{name: f.name, col: c}
	}
	ms.shared.Store(false)
}

// pointAt returns the point at index i.
func (ms *memSeries) pointAt(i int) point {
	p := point{t: ms.times[i], v: ms.versions[i]}
	for _, f := range ms.fields {
		if !f.col.IsNull(i) {
			p.fields = append(p.fields, fieldValue{f.name, valueAt(f.col, i)})
		}
	}
	return p
}

func valueAt(c *columnar.Column, i int) Value {
	switch c.Type {
	case columnar.Float64:
		return Double(c.Floats[i])
	case columnar.Int64:
		return Bigint(c.Ints[i])
	case columnar.Timestamp:
		return TimestampValue(c.Ints[i])
	case columnar.String:
		return Varchar(c.Strs[i])
	case columnar.Bool:
		return Boolean(c.Bools[i])
	}
	return Value{}
}

func appendValue(c *columnar.Column, v Value) {
	switch c.Type {
	case columnar.Float64:
		c.AppendFloat(v.F)
	case columnar.Int64, columnar.Timestamp:
		c.AppendInt(v.I)
	case columnar.String:
		c.AppendString(v.S)
	case columnar.Bool:
		c.AppendBool(v.B)
	}
}

func setValue(c *columnar.Column, i int, v Value, null bool) {
	if null {
		if c.Nulls == nil {
			c.Nulls = make([]bool, c.Len())
		}
		c.Nulls[i] = true
		return
	}
	if c.Nulls != nil {
		c.Nulls[i] = false
	}
	switch c.Type {
	case columnar.Float64:
		c.Floats[i] = v.F
	case columnar.Int64, columnar.Timestamp:
		c.Ints[i] = v.I
	case columnar.String:
		c.Strs[i] = v.S
	case columnar.Bool:
		c.Bools[i] = v.B
	}
}

// insertValue inserts v (or NULL) at row i of c.
func insertValue(c *columnar.Column, i int, v Value, null bool) {
	if null {
		c.AppendNull()
	} else {
		appendValue(c, v)
	}
	n := c.Len() - 1
	if i == n {
		return
	}
	switch c.Type {
	case columnar.Float64:
		copy(c.Floats[i+1:], c.Floats[i:n])
	case columnar.Int64, columnar.Timestamp:
		copy(c.Ints[i+1:], c.Ints[i:n])
	case columnar.String:
		copy(c.Strs[i+1:], c.Strs[i:n])
	case columnar.Bool:
		copy(c.Bools[i+1:], c.Bools[i:n])
	}
	if c.Nulls != nil {
		copy(c.Nulls[i+1:], c.Nulls[i:n])
	}
	setValue(c, i, v, null)
}

// put stores point p in the memtable, replacing a point with the same time,
// and returns the series' memSeries. It must be called with the table lock
// held for writing.
func (m *memtable) put(s *series, p point) *memSeries {
	ms := m.series[s.id]
	if ms == nil {
		// Size the slices for what the series held in its last memtable, so
		// steady appends do not keep reallocating.
		// (None for a series never flushed: many series hold one point.)
		hint := s.lastLen
		ms = &memSeries{s: s, mt: m, times: make([]int64, 0, hint), versions: make([]int64, 0, hint)}
		m.series[s.id] = ms
	}
	if p.t < m.minT {
		m.minT = p.t
	}
	i, found := ms.find(p.t)
	if found {
		ms.unshare()
		ms.versions[i] = p.v
		for _, f := range ms.fields {
			setValue(f.col, i, Value{}, true)
		}
		for _, fv := range p.fields {
			setValue(ms.field(fv.name, fv.val.Type).col, i, fv.val, false)
		}
		return ms
	}
	m.points++
	if i == len(ms.times) {
		// Columns the series lacks first (NULL for its older rows), then
		// one value or NULL per column: a NULL-then-set would give every
		// column a null bitmap it does not need.
		for _, fv := range p.fields {
			ms.field(fv.name, fv.val.Type)
		}
		ms.times = append(ms.times, p.t)
		ms.versions = append(ms.versions, p.v)
		for _, f := range ms.fields {
			if v, ok := fieldOf(p.fields, f.name); ok {
				appendValue(f.col, v)
			} else {
				f.col.AppendNull()
			}
		}
		return ms
	}
	ms.unshare()
	ms.times = append(ms.times, 0)
	copy(ms.times[i+1:], ms.times[i:])
	ms.times[i] = p.t
	ms.versions = append(ms.versions, 0)
	copy(ms.versions[i+1:], ms.versions[i:])
	ms.versions[i] = p.v
	for _, f := range ms.fields {
		insertValue(f.col, i, Value{}, true)
	}
	for _, fv := range p.fields {
		setValue(ms.field(fv.name, fv.val.Type).col, i, fv.val, false)
	}
	return ms
}

// before reports whether every point of s in this memtable is older than t
// (true for a nil memtable).
func (m *memtable) before(s *series, t int64) bool {
	if m == nil {
		return true
	}
	ms := m.series[s.id]
	return ms == nil || len(ms.times) == 0 || ms.times[len(ms.times)-1] < t
}

// get returns the point of series s at time t in this memtable.
func (m *memtable) get(s *series, t int64) (point, bool) {
	if m == nil {
		return point{}, false
	}
	ms := m.series[s.id]
	if ms == nil {
		return point{}, false
	}
	i, found := ms.find(t)
	if !found {
		return point{}, false
	}
	return ms.pointAt(i), true
}

// sameValues reports whether two points carry the same set of values.
func sameValues(a, b []fieldValue) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.name == y.name {
				if !x.val.Equal(y.val) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
