package tsdb

import (
	"encoding/binary"
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// table is one table's in-memory state: its series, its hot tier and the
// list of its parts.
type table struct {
	info *TableInfo // guarded by DB.mu
	id   uint32     // set in newTable

	scratch sync.Pool // of *writeScratch, for Write

	mu sync.RWMutex // guards everything below
	// byDims holds every distinct dimension set by dimsHash (sets with the
	// same hash are chained), each with its series: it is how a series is
	// found by identity, one probe for all the records of an event (they
	// share their dimensions). postings lists the series of each dimension
	// value, byMeasure those of each measure name (together, every series:
	// there is no map by key, nor a key string per series, which cost
	// about 100 bytes a series). Series are never removed while the table
	// is open; nseries counts them.
	nseries   int
	byDims    dimIndex
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
	// partitions maps partition start to its live parts, in no meaningful
	// order (a compaction appends its output after newer flushed parts):
	// readers never depend on it, because a point's highest version is
	// unique (see compactPartition). The slices are replaced, never
	// modified in place, so scans may keep them.
	partitions map[int64][]*partRef
	// flushEpoch changes whenever head data moves to parts, so a writer that
	// looked up cold points without the lock can tell its answer is stale.
	flushEpoch uint64
	// coldLo and coldHi cache coldRange as of flushEpoch coldEpoch (if
	// coldKnown).
	coldLo, coldHi int64
	coldEpoch      uint64
	coldKnown      bool
	deleted        bool
}

func newTable(ti *TableInfo) *table {
	t := &table{
		info:         ti,
		id:           ti.ID,
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
//
// Layout: an append of a point touches only the first 128 bytes (a pair
// of cache lines, the unit the hardware fetches); finding the series and
// checking its cold bounds mostly what follows. With tens of thousands of
// series most writes miss the caches, so lines not touched are misses
// saved. The struct is not padded to 256 bytes to align the pairs: that
// cost 48 bytes per series (memory per series is a target, ≤ 1 KiB) for
// no write-speed difference measurable here.
type series struct {
	// First pair: what an append uses.
	// act is this series' memSeries in the active memtable if actGen is
	// the active memtable's gen; else (or nil) look in the memtable's map.
	// It never points further back than the flushing memtable: a flush
	// that completes, and one that starts over after a failure, clear
	// what would, so the two generations are told apart by gen alone.
	act *memSeries
	// latest is the newest point (by time, then version) for the
	// latest-point fast path; latestSet reports whether it is valid.
	// latest.fields of a single-measure point is latest1[:] (no allocation
	// of its own).
	latest point
	id     uint64
	defGen uint32 // WAL generation (see defGen) in which this series' definition was last logged
	// okType is the single-measure type this series was last written with
	// (Unknown: none); a single-measure write of the same type passes the
	// type checks again.
	okType    columnar.Type
	latestSet bool
	actGen    uint8 // see act
	// actFast is act.fast whenever act is the active memtable's (actGen):
	// the append fast path reads it here, where the series' other fields
	// are, rather than in a cache line of act it would not read otherwise
	// (see memSeries). Whatever sets act or changes its fast sets it.
	actFast columnar.Type
	latest1 [1]fieldValue

	// Second pair: what finding it uses.
	measure string
	// coldMin/coldMax bound the times of this series' points in parts; a
	// write outside them needs no part lookup. coldMin > coldMax: none.
	coldMin, coldMax int64
	dims             []Dimension // sorted by name; shared with the series' dimSet
	lastLen          int         // points in the series' last flushed memtable (capacity hint)
}

// dimSet is one distinct set of dimensions and its series, one per measure
// name; guarded by table.mu.
type dimSet struct {
	h         uint64 // dimsHash(dims): here rather than in the index's slots, which it halves
	dims      []Dimension
	measures  []string           // the measure name of each of series, so find reads no series
	series    []*series          // in creation order
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
	for i, m := range ds.measures {
		if m == measure {
			return ds.series[i]
		}
	}
	return nil
}

func (ds *dimSet) add(s *series) {
	ds.series = append(ds.series, s)
	ds.measures = append(ds.measures, s.measure)
	if ds.byMeasure != nil {
		ds.byMeasure[s.measure] = s
	} else if len(ds.series) > manyMeasures {
		ds.byMeasure = make(map[string]*series, len(ds.series))
		for _, x := range ds.series {
			ds.byMeasure[x.measure] = x
		}
	}
}

// dimIndex finds dimension sets by dimsHash: open addressing with linear
// probing over a power-of-two array of slots, each a set (whose h is its
// hash: 8 bytes a slot, some 20 bytes a series less than slots holding
// the hash); sets of equal hash are chained through dimSet.next. Nothing is ever removed (series
// live as long as the table). It is its own table rather than a Go map so
// that the write path can touch the slots of many records before it reads
// them (see table.locate).
type dimIndex struct {
	slots []*dimSet // nil: empty
	n     int       // slots in use
}

// slot returns the slot holding the chain of hash h, or the empty slot
// where it would go; nil if the index has no slots yet.
func (x *dimIndex) slot(h uint64) **dimSet {
	if len(x.slots) == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if sl := &x.slots[i]; *sl == nil || (*sl).h == h {
			return sl
		}
	}
}

// get returns the first set of the chain of hash h, or nil.
func (x *dimIndex) get(h uint64) *dimSet {
	if sl := x.slot(h); sl != nil {
		return *sl
	}
	return nil
}

// put makes ds (whose h is set) the first set of its hash's chain
// (ds.next must be the previous first, get(ds.h)).
func (x *dimIndex) put(ds *dimSet) {
	if 2*(x.n+1) > len(x.slots) { // at most half full: probes stay short
		old := x.slots
		x.slots = make([]*dimSet, max(2*len(old), 64))
		for _, o := range old {
			if o != nil {
				*x.slot(o.h) = o
			}
		}
	}
	sl := x.slot(ds.h)
	if *sl == nil {
		x.n++
	}
	*sl = ds
}

// touch reads the home slot of hash h (see table.locate).
func (x *dimIndex) touch(h uint64) uint64 {
	if len(x.slots) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(x.slots[h&uint64(len(x.slots)-1)])))
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
	for ds := t.byDims.get(h); ds != nil; ds = ds.next {
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

// getOrCreateSeries finds or adds the series of measure and dims (sorted
// by name). t.mu must be held for writing.
func (t *table) getOrCreateSeries(measure string, dims []Dimension) *series {
	h := dimsHash(t.seed, dims)
	if s := t.lookupSeries(h, measure, dims); s != nil {
		return s
	}
	return t.createSeries(h, measure, dims)
}

// createSeries adds a series that lookupSeries did not find; h is
// dimsHash(dims). t.mu must be held for writing.
func (t *table) createSeries(h uint64, measure string, dims []Dimension) *series {
	ds := t.lookupDims(h, dims)
	if ds == nil {
		ds = &dimSet{h: h, dims: append([]Dimension(nil), dims...), next: t.byDims.get(h)}
		t.byDims.put(ds)
	}
	s := &series{
		id:      seriesIDs.Add(1),
		measure: measure,
		dims:    ds.dims,
		coldMin: maxTime,
		coldMax: minTime,
	}
	ds.add(s)
	t.nseries++
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
	gen    uint8 // one more than the memtable it took over from (see series.act)
}

func newMemtable() *memtable {
	return &memtable{series: map[uint64]*memSeries{}, minT: maxTime}
}

// memSeries holds one series' points of one memtable, sorted by time.
// Appends past the end never disturb a reader that captured a prefix; any
// other change copies the slices first when shared is set, so scans can read
// captured slices without the lock.
//
// The first value column lives inside the struct (col0, fc0, field0), so
// a series with one value column, which is every single-measure series, is
// one allocation, and an append touches neighbouring cache lines rather
// than following pointers to three more objects.
//
// It is 256 bytes, a size class of its own: with one point, most of what a
// new series costs. (Its memtable and the series' newest time in the
// flushing memtable, which it held once, cost 32 bytes in the 288-byte
// class; the series' act, actGen and latest tell the write path as much.)
type memSeries struct {
	// What an append of a DOUBLE, BIGINT, TIMESTAMP or BOOLEAN point
	// reads and writes (times, versions and col0 up to its Floats) is in
	// the first 128 bytes, a pair of cache lines, the unit the hardware
	// fetches: with tens of thousands of series most appends miss the
	// caches, and a second pair would be a second miss.
	times    []int64
	versions []int64
	col0     columnar.Column
	// fast is the type of the series' only value column when that column
	// is the single-measure column of the type (measure_value::<type>),
	// lives in col0 and has no NULLs; Unknown otherwise. A point of that
	// type after the newest appends to times, versions and col0 directly.
	// put keeps it up to date (see setFast); series.actFast mirrors it.
	fast   columnar.Type
	shared atomic.Bool
	fc0    fieldCol
	field0 [1]*fieldCol
	fields []*fieldCol
	s      *series
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
	var f *fieldCol
	if len(ms.fields) == 0 {
		// The inline column.
		ms.col0 = columnar.Column{Type: typ}
		reserveCol(&ms.col0, cap(ms.times))
		ms.fc0 = fieldCol{name: name, col: &ms.col0}
		ms.field0[0] = &ms.fc0
		f = &ms.fc0
		ms.fields = ms.field0[:1:1]
	} else {
		f = &fieldCol{name: name, col: columnar.NewColumn(typ, cap(ms.times))}
		ms.fields = append(ms.fields, f)
	}
	for range ms.times {
		f.col.AppendNull()
	}
	return f
}

// ones backs the versions of memSeries whose points all have version 1,
// nearly all of them: such a series' versions slice is ones[:n:n] and
// costs neither memory nor a cache line per point. It is never written:
// the capacity of a slice of it is its length, so an append copies it
// first, and in-place writes go through ownVersions.
var ones = func() *[1 << 14]int64 {
	var a [1 << 14]int64
	for i := range a {
		a[i] = 1
	}
	return &a
}()

// onesVersions reports whether vs is a slice of ones (an empty slice
// counts as one).
func onesVersions(vs []int64) bool {
	return len(vs) == 0 || unsafe.SliceData(vs) == &ones[0]
}

// appendVersion appends v to ms.versions.
func (ms *memSeries) appendVersion(v int64) {
	n := len(ms.versions)
	if v == 1 && n < len(ones) && onesVersions(ms.versions) {
		ms.versions = ones[: n+1 : n+1]
		return
	}
	ms.versions = append(grow(ms.versions), v)
}

// ownVersions gives ms a versions array of its own before a write in
// place.
func (ms *memSeries) ownVersions() {
	if len(ms.versions) > 0 && onesVersions(ms.versions) {
		ms.versions = append(make([]int64, 0, cap(ms.times)), ms.versions...)
	}
}

// reserveCol gives an empty column's data slice room for n values.
func reserveCol(c *columnar.Column, n int) {
	switch c.Type {
	case columnar.Bool:
		c.Bools = make([]bool, 0, n)
	case columnar.Float64:
		c.Floats = make([]float64, 0, n)
	case columnar.String:
		c.Strs = make([]string, 0, n)
	default:
		c.Ints = make([]int64, 0, n)
	}
}

// setFast recomputes ms.fast after a change other than a fast append.
func (ms *memSeries) setFast() {
	ms.fast = columnar.Unknown
	if len(ms.fields) == 1 && ms.fields[0] == &ms.fc0 && ms.col0.Nulls == nil && ms.fc0.name == singleField(ms.col0.Type) {
		ms.fast = ms.col0.Type
	}
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
	if !onesVersions(ms.versions) { // else never written in place
		ms.versions = append([]int64(nil), ms.versions...)
	}
	for i, f := range ms.fields {
		c := columnar.NewColumn(f.col.Type, f.col.Len())
		for j := 0; j < f.col.Len(); j++ {
			c.AppendFrom(f.col, j)
		}
		if f == &ms.fc0 {
			// Scans copy column headers, so the inline column can take
			// the new arrays in place.
			ms.col0 = *c
			continue
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

// appendValue appends non-NULL v to c, growing small columns as grow does.
func appendValue(c *columnar.Column, v Value) {
	switch c.Type {
	case columnar.Float64:
		c.Floats = append(grow(c.Floats), v.F)
	case columnar.Int64, columnar.Timestamp:
		c.Ints = append(grow(c.Ints), v.I)
	case columnar.String:
		c.Strs = append(grow(c.Strs), v.S)
	case columnar.Bool:
		c.Bools = append(grow(c.Bools), v.B)
	}
	if c.Nulls != nil {
		c.Nulls = append(c.Nulls, false)
	}
}

// minGrow is the capacity a full memtable slice of one to minGrow-1
// elements grows to. A series that takes a second point usually takes many
// (devices report steadily), and append's doublings (2, 4, 8) would cost
// an allocation and a copy each, for each of a series' slices; a series
// with one point (dead letters, the first point of a new series) keeps
// room for one, so that it costs no more memory than it holds.
const minGrow = 8

// grow returns s with room for one more element: as append would, except
// that a short non-empty slice grows straight to minGrow.
func grow[T any](s []T) []T {
	if len(s) < cap(s) || len(s) == 0 || len(s) >= minGrow {
		return s // append doubles from here
	}
	n := make([]T, len(s), minGrow)
	copy(n, s)
	return n
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
		ms = &memSeries{s: s, times: make([]int64, 0, hint)}
		m.series[s.id] = ms
	}
	m.putIn(ms, p)
	ms.setFast()
	return ms
}

func (m *memtable) putIn(ms *memSeries, p point) {
	if p.t < m.minT {
		m.minT = p.t
	}
	i, found := ms.find(p.t)
	if found {
		ms.unshare()
		ms.ownVersions()
		ms.versions[i] = p.v
		for _, f := range ms.fields {
			setValue(f.col, i, Value{}, true)
		}
		for _, fv := range p.fields {
			setValue(ms.field(fv.name, fv.val.Type).col, i, fv.val, false)
		}
		return
	}
	m.points++
	if i == len(ms.times) {
		// Columns the series lacks first (NULL for its older rows), then
		// one value or NULL per column: a NULL-then-set would give every
		// column a null bitmap it does not need.
		for _, fv := range p.fields {
			ms.field(fv.name, fv.val.Type)
		}
		ms.times = append(grow(ms.times), p.t)
		ms.appendVersion(p.v)
		for _, f := range ms.fields {
			if v, ok := fieldOf(p.fields, f.name); ok {
				appendValue(f.col, v)
			} else {
				f.col.AppendNull()
			}
		}
		return
	}
	ms.unshare()
	ms.times = append(ms.times, 0)
	copy(ms.times[i+1:], ms.times[i:])
	ms.times[i] = p.t
	if p.v == 1 && onesVersions(ms.versions) {
		ms.appendVersion(1) // all ones still
	} else {
		ms.ownVersions()
		ms.versions = append(ms.versions, 0)
		copy(ms.versions[i+1:], ms.versions[i:])
		ms.versions[i] = p.v
	}
	for _, f := range ms.fields {
		insertValue(f.col, i, Value{}, true)
	}
	for _, fv := range p.fields {
		setValue(ms.field(fv.name, fv.val.Type).col, i, fv.val, false)
	}
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
