package tsdb

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Limits from Timestream's quotas (aws-compat.md §1.7).
const (
	maxDimensions    = 128
	maxDimNameLen    = 60
	maxMeasureLen    = 256
	maxValueLen      = 2048
	maxMultiMeasures = 256
)

// Reject reasons are counted by these kinds in metrics.
const (
	rejectInvalid  = "invalid"
	rejectTime     = "time_range"
	rejectVersion  = "version_conflict"
	rejectType     = "type_conflict"
	rejectNotFound = "no_table"
)

// prepared is a validated record ready for the locked phase.
type prepared struct {
	measure string
	dims    []Dimension
	h       uint64  // dimsHash(dims)
	s       *series // the series, once found (series are never removed)
	multi   bool
	p       point
	reason  string
	kind    string
}

// writeScratch is one Write's working memory. Tables keep used ones in a
// pool, so that a batch allocates nothing in proportion to its size once
// the pool is warm. Nothing in it may be referenced after the Write
// returns: the memtable, the latest-point cache and the WAL entry copy
// what they keep.
type writeScratch struct {
	preps   []prepared
	recs    []Record      // the Write's records
	one     [1]fieldValue // the value of the single-measure record being applied (see applyLocked)
	multi   []fieldValue  // arena of multi-measure values
	enc     entryEncoder
	entry   []byte // the encoded WAL entry
	touched uint64 // what touch read (unused; so the loads are not dropped)
}

// defGen is a WAL generation as series.defGen keeps it: 32 bits, never 0
// (a new series' defGen), so a series would be wrongly taken as defined
// only after 2^32-1 WAL cuts without a write to it.
func defGen(g uint64) uint32 { return uint32(g%(1<<32-1)) + 1 }

// maxPooledRecords bounds the scratch kept for reuse: one huge batch
// should not pin its memory for good.
const maxPooledRecords = 1 << 16

func (t *table) getScratch(n int) *writeScratch {
	sc, _ := t.scratch.Get().(*writeScratch)
	if sc == nil {
		sc = &writeScratch{}
	}
	if cap(sc.preps) < n {
		sc.preps = make([]prepared, n)
	}
	sc.preps, sc.multi = sc.preps[:n], sc.multi[:0]
	sc.enc.reset()
	return sc
}

func (t *table) putScratch(sc *writeScratch) {
	sc.recs = nil // the caller's
	if cap(sc.preps) <= maxPooledRecords {
		t.scratch.Put(sc)
	}
}

// dimsMemo remembers the checks and hash of the last Dimensions slice a
// Write prepared: the records of one event share one slice (package event
// guarantees it), so most records reuse the previous answer.
type dimsMemo struct {
	ptr          *Dimension
	n            int
	dims         []Dimension // sorted
	h            uint64
	kind, reason string
	names        stringMemo // hashes of dimension names (see dimsHashMemo)
	measures     stringMemo // measure names found valid
}

// stringMemo remembers a few strings by their bytes' address and length,
// each with a value: the same address and length is the same string (Go
// strings are immutable), so a batch that repeats strings, as a batch of
// one fleet's records repeats its measure and dimension names, has them
// checked or hashed once. A string not found is just computed again.
type stringMemo struct {
	keys [8]struct {
		p *byte
		n int
		v uint64
	}
	next int
}

func (m *stringMemo) get(s string) (uint64, bool) {
	p := unsafe.StringData(s)
	if p == nil {
		return 0, false
	}
	for i := range m.keys {
		if k := &m.keys[i]; k.p == p && k.n == len(s) {
			return k.v, true
		}
	}
	return 0, false
}

func (m *stringMemo) put(s string, v uint64) {
	k := &m.keys[m.next%len(m.keys)]
	k.p, k.n, k.v = unsafe.StringData(s), len(s), v
	m.next++
}

// dimsHashMemo is dimsHash(seed, dims), with the names' hashes from m.
func dimsHashMemo(seed maphash.Seed, dims []Dimension, m *stringMemo) uint64 {
	h := uint64(len(dims))
	for _, d := range dims {
		nh, ok := m.get(d.Name)
		if !ok {
			nh = maphash.String(seed, d.Name)
			m.put(d.Name, nh)
		}
		h = mixHash(h, nh)
		h = mixHash(h, maphash.String(seed, d.Value))
	}
	return h
}

// Write stores a batch of records in a table and returns the records it
// rejected, each with its index and reason; all others are stored (or were
// already stored with the same value). It returns once the stored records
// are durable. An error means nothing of this call may be assumed durable.
//
// Upsert rules, per (dimensions, measure name, time), applied in batch
// order: a new key is inserted; the same value again is a no-op unless its
// version is higher, which bumps the version; a different value replaces
// the stored one only with a higher version and is rejected otherwise, with
// the stored version in the Reject.
func (db *DB) Write(ctx context.Context, dbName, tableName string, recs []Record) ([]Reject, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, err := db.table(dbName, tableName)
	if err != nil {
		return nil, err
	}
	db.mu.RLock()
	retention, system := t.info.Retention, t.info.System
	db.mu.RUnlock()

	now := db.now()
	oldest := now - int64(retention.Magnetic)
	newest := now + int64(db.opts.FutureLimit)
	if system {
		newest = maxTime
	}
	sc := t.getScratch(len(recs))
	sc.recs = recs
	preps := sc.preps
	var memo dimsMemo
	lo, hi := int64(maxTime), int64(minTime) // times of the valid records
	for i := range recs {
		preps[i] = prepared{}
		db.prepare(t, sc, i, &recs[i], oldest, newest, &memo)
		if pr := &preps[i]; pr.reason == "" {
			lo, hi = min(lo, pr.p.t), max(hi, pr.p.t)
		}
	}

	// Most writes bring new points, after everything in the parts: if no
	// record falls inside the time range of the table's parts, none needs
	// them, and the series of each run of records are found just before
	// the run is applied (where what finding them loaded is still cached).
	// Otherwise find every record's series under the write lock first,
	// and if none needs a look at the parts after all, decide right away.
	t.mu.Lock()
	find := false
	if clo, chi := t.coldRange(); lo > hi || hi < clo || lo > chi {
		find = true
	} else if t.locate(sc) {
		t.mu.Unlock()
		return db.writeCold(ctx, t, sc, dbName, tableName)
	}
	rejects, err := db.applyLocked(t, sc, nil, find)
	if err != nil {
		return nil, fmt.Errorf("tsdb: write to %s.%s: %w", dbName, tableName, err)
	}
	t.putScratch(sc)
	return rejects, nil
}

// writeCold applies the records of a Write some of which fall inside
// their series' cold bounds: it looks their stored points up in the parts
// without the table lock, then applies under it, and looks again if a
// flush moved points to parts meanwhile.
func (db *DB) writeCold(ctx context.Context, t *table, sc *writeScratch, dbName, tableName string) ([]Reject, error) {
	for {
		cold, epoch, err := db.coldLookups(ctx, t, sc.preps)
		if err != nil {
			return nil, fmt.Errorf("tsdb: write to %s.%s: look up stored points: %w", dbName, tableName, err)
		}
		t.mu.Lock()
		if t.flushEpoch != epoch {
			t.mu.Unlock() // a flush moved points to parts meanwhile: look again
			continue
		}
		rejects, err := db.applyLocked(t, sc, cold, false)
		if err != nil {
			// sc is not reused: after a WAL failure the commit goroutine
			// may still hold the entry.
			return nil, fmt.Errorf("tsdb: write to %s.%s: %w", dbName, tableName, err)
		}
		t.putScratch(sc)
		return rejects, nil
	}
}

// applyLocked applies prepared records to t, which the caller has locked;
// it unlocks t and waits for durability. With find, the records' series
// are not looked up yet (pr.s is nil): each run of records finds them just
// before it is applied (else locate or coldLookups did).
func (db *DB) applyLocked(t *table, sc *writeScratch, cold map[int]*point, find bool) ([]Reject, error) {
	var rejects []Reject
	if t.deleted {
		t.mu.Unlock()
		return nil, ErrNotFound
	}
	gen := defGen(db.walGenAtomic.Load())
	enc := &sc.enc
	preps := sc.preps
	enc.reserve(len(preps))
	var touched uint64
	for i0 := 0; i0 < len(preps); i0 += applyRun {
		run := preps[i0:min(i0+applyRun, len(preps))]
		if find {
			touched += t.findSeries(run)
		}
		touched += touchRun(run, sc.recs[i0:i0+len(run)])
		for k := range run {
			pr := &run[k]
			i := i0 + k
			if pr.reason == "" {
				var c *point
				if cold != nil {
					c = cold[i]
				}
				var v *Value
				if !pr.multi {
					v = &sc.recs[i].Value
				}
				t.apply(pr, v, &sc.one, c, gen, enc)
			}
			if pr.reason != "" {
				rejects = append(rejects, Reject{Index: i, Reason: pr.reason, ExistingVersion: existingVersion(pr)})
				db.metrics.rejects.WithLabelValues(pr.kind).Inc()
			}
		}
	}
	sc.touched += touched // keeps the loads
	var seq uint64
	if enc.npoints > 0 {
		sc.entry = enc.appendEntry(sc.entry[:0], t.id)
		seq = db.commit.enqueue(sc.entry)
	} else {
		seq = db.commit.last()
	}
	t.mu.Unlock()
	if err := db.commit.wait(seq); err != nil {
		return nil, err
	}
	db.metrics.pointsWritten.Add(float64(enc.npoints))
	return rejects, nil
}

// existingVersion is stashed in p.v of a rejected prepared record.
func existingVersion(pr *prepared) int64 {
	if pr.kind == rejectVersion {
		return pr.p.v
	}
	return 0
}

// prepare validates r and fills pr (which is zero); pr.reason is set when r
// is invalid.
func (db *DB) prepare(t *table, sc *writeScratch, i int, r *Record, oldest, newest int64, memo *dimsMemo) {
	pr := &sc.preps[i]
	reject := func(kind, format string, args ...any) {
		pr.kind = kind
		pr.reason = fmt.Sprintf(format, args...)
	}
	if _, ok := memo.measures.get(r.MeasureName); !ok {
		if r.MeasureName == "" {
			reject(rejectInvalid, "MeasureName is empty")
			return
		}
		if len(r.MeasureName) > maxMeasureLen {
			reject(rejectInvalid, "MeasureName is %d bytes long; the limit is %d", len(r.MeasureName), maxMeasureLen)
			return
		}
		if reservedName(r.MeasureName) {
			reject(rejectInvalid, "MeasureName %q is reserved", r.MeasureName)
			return
		}
		memo.measures.put(r.MeasureName, 1)
	}
	if p := unsafe.SliceData(r.Dimensions); p != memo.ptr || len(r.Dimensions) != memo.n || p == nil {
		memo.ptr, memo.n = p, len(r.Dimensions)
		memo.dims, memo.kind, memo.reason = checkDims(r.Dimensions)
		if memo.reason == "" {
			memo.h = dimsHashMemo(t.seed, memo.dims, &memo.names)
		}
	}
	if memo.reason != "" {
		pr.kind, pr.reason = memo.kind, memo.reason
		return
	}
	dims := memo.dims
	pr.dims = dims
	pr.h = memo.h
	pr.p.t = r.Time
	if r.Time < oldest || r.Time > newest {
		reject(rejectTime, "The record timestamp %s is outside the time range [%s, %s] of the data ingestion window (table retention and the future limit).",
			fmtTime(r.Time), fmtTime(oldest), fmtTime(newest))
		return
	}
	pr.p.v = r.Version
	if pr.p.v == 0 {
		pr.p.v = 1
	}
	if pr.p.v < 0 {
		reject(rejectInvalid, "Version %d is negative; versions start at 1", r.Version)
		return
	}
	if r.Multi == nil {
		if reason := checkValue(r.MeasureName, r.Value); reason != "" {
			reject(rejectInvalid, "%s", reason)
			return
		}
		// pr.p.fields stays nil: applyLocked sets it to the value just
		// before apply (a copy per record here would be as much memory
		// again as preps, written and read back out of the caches).
	} else {
		pr.multi = true
		if len(r.Multi) == 0 || len(r.Multi) > maxMultiMeasures {
			reject(rejectInvalid, "a multi-measure record needs 1 to %d measure values, it has %d", maxMultiMeasures, len(r.Multi))
			return
		}
		start := len(sc.multi)
		for _, mv := range r.Multi {
			switch {
			case mv.Name == "":
				reject(rejectInvalid, "a measure value has an empty name")
			case len(mv.Name) > maxMeasureLen:
				reject(rejectInvalid, "measure value name %q is too long", mv.Name)
			case reservedName(mv.Name):
				reject(rejectInvalid, "measure value name %q is reserved", mv.Name)
			default:
				if reason := checkValue(mv.Name, mv.Value); reason != "" {
					reject(rejectInvalid, "%s", reason)
				}
			}
			for _, f := range sc.multi[start:] {
				if f.name == mv.Name {
					reject(rejectInvalid, "measure value %q appears more than once", mv.Name)
				}
			}
			for _, d := range dims {
				if d.Name == mv.Name {
					reject(rejectInvalid, "measure value %q has the name of a dimension", mv.Name)
				}
			}
			if pr.reason != "" {
				return
			}
			sc.multi = append(sc.multi, fieldValue{mv.Name, mv.Value})
		}
		// The arena may move as it grows; slices taken before keep
		// pointing at the old array, which stays valid.
		pr.p.fields = sc.multi[start:len(sc.multi):len(sc.multi)]
		slices.SortFunc(pr.p.fields, func(a, b fieldValue) int { return strings.Compare(a.name, b.name) })
	}
	pr.measure = r.MeasureName
}

// checkDims validates a record's dimensions and returns them sorted by name
// (a sorted copy if they were not), or the reason they are invalid.
func checkDims(dims []Dimension) (sorted []Dimension, kind, reason string) {
	if len(dims) > maxDimensions {
		return nil, rejectInvalid, fmt.Sprintf("record has %d dimensions; the limit is %d", len(dims), maxDimensions)
	}
	byName := func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(dims, byName) {
		dims = slices.Clone(dims)
		slices.SortFunc(dims, byName)
	}
	for i, d := range dims {
		switch {
		case d.Name == "":
			reason = "a dimension has an empty name"
		case len(d.Name) > maxDimNameLen:
			reason = fmt.Sprintf("dimension name %q is %d bytes long; the limit is %d", d.Name, len(d.Name), maxDimNameLen)
		case reservedName(d.Name):
			reason = fmt.Sprintf("dimension name %q is reserved", d.Name)
		case len(d.Value) > maxValueLen:
			reason = fmt.Sprintf("dimension %q value is %d bytes long; the limit is %d", d.Name, len(d.Value), maxValueLen)
		case i > 0 && dims[i-1].Name == d.Name:
			reason = fmt.Sprintf("dimension %q appears more than once", d.Name)
		}
		if reason != "" {
			return nil, rejectInvalid, reason
		}
	}
	return dims, "", ""
}

func checkValue(name string, v Value) string {
	switch v.Type {
	case columnar.Float64:
		if math.IsNaN(v.F) || math.IsInf(v.F, 0) {
			return fmt.Sprintf("measure %q is %v; NaN and Infinity cannot be stored", name, v.F)
		}
	case columnar.String:
		if len(v.S) > maxValueLen {
			return fmt.Sprintf("measure %q value is %d bytes long; the limit is %d", name, len(v.S), maxValueLen)
		}
	case columnar.Int64, columnar.Bool, columnar.Timestamp:
	default:
		return fmt.Sprintf("measure %q has no valid type", name)
	}
	return ""
}

// reservedName reports names Timestream reserves for its own columns.
func reservedName(n string) bool {
	return n == "measure_value" || n == "ts_non_existent_col" || n == "time" ||
		strings.HasPrefix(n, "ts_") || strings.HasPrefix(n, "measure_name")
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// apply takes the upsert decision for one record and, if it stores
// anything, applies it to the active memtable and adds it to enc. It runs
// with t.mu held. On rejection it sets pr.reason (and pr.p.v to the stored
// version for conflicts).
//
// v is the value of a single-measure record (nil for a multi-measure one,
// whose pr.p.fields are set): the append fast path takes it from there,
// and the paths that need pr.p.fields have them set to it through one
// (what they keep of the value, they copy, so one slot serves every
// record).
func (t *table) apply(pr *prepared, v *Value, one *[1]fieldValue, cold *point, gen uint32, enc *entryEncoder) {
	s := pr.s
	if s == nil {
		// Not there before the lock (coldLookups looked), but another
		// write, or an earlier record of this one, may have created it.
		s = t.lookupSeries(pr.h, pr.measure, pr.dims)
	}
	// A single-measure series that took this type before passes the type
	// checks again: once valid, a column stays valid. (prepare rejected
	// values of no valid type, so typ is never Unknown for one.)
	typ := columnar.Unknown
	if v != nil {
		typ = v.Type
	}
	known := s != nil && v != nil && s.okType == typ
	if !known {
		setSingle(pr, v, one)
		if !t.checkTypes(pr) {
			return
		}
	}
	if s == nil {
		s = t.createSeries(pr.h, pr.measure, pr.dims)
		pr.s = s
	}
	ms := s.act
	if ms == nil || s.actGen != t.active.gen {
		ms = t.active.series[s.id]
		s.act, s.actGen, s.actFast = ms, t.active.gen, columnar.Unknown
		if ms != nil {
			s.actFast = ms.fast
		}
	}
	// The common case: a new point of a single-measure series after its
	// newest, nothing in the flushing memtable or the parts to compare
	// with. (A point after the series' latest is after all its points in
	// the flushing memtable: latest is the newest point ever stored.)
	if ms != nil && v != nil && s.actFast == typ && cold == nil && (t.flushing == nil || (s.latestSet && pr.p.t > s.latest.t)) {
		if n := len(ms.times); n > 0 && pr.p.t > ms.times[n-1] {
			ms.times = append(grow(ms.times), pr.p.t)
			ms.appendVersion(pr.p.v)
			switch typ {
			case columnar.Float64:
				ms.col0.Floats = append(grow(ms.col0.Floats), v.F)
			case columnar.Int64, columnar.Timestamp:
				ms.col0.Ints = append(grow(ms.col0.Ints), v.I)
			case columnar.String:
				ms.col0.Strs = append(grow(ms.col0.Strs), v.S)
			case columnar.Bool:
				ms.col0.Bools = append(grow(ms.col0.Bools), v.B)
			}
			t.active.points++
			t.updateLatestValue(s, pr.p.t, pr.p.v, v)
			if s.defGen != gen {
				enc.addSeries(s)
				s.defGen = gen
			}
			enc.addSingle(s, pr.p.t, pr.p.v, v)
			return
		}
	}
	setSingle(pr, v, one)
	t.applySlow(s, ms, pr, cold, gen, enc)
}

// setSingle sets pr.p.fields of a single-measure record (v != nil) to its
// value, through one.
func setSingle(pr *prepared, v *Value, one *[1]fieldValue) {
	if v != nil {
		one[0] = fieldValue{singleField(v.Type), *v}
		pr.p.fields = one[:]
	}
}

// applyRun is how many records applyLocked takes a level at a time
// (finding their series, touching what apply will use) before applying
// them: enough to keep the core's outstanding cache misses busy, few
// enough that what was loaded is still cached when applied.
const applyRun = 32

// locate sets pr.s of every valid record whose series exists and reports
// whether any of them falls inside its series' cold bounds, where the
// upsert decision needs the parts (coldLookups; the test here is the
// one coldLookups makes to choose what it looks up). t.mu must be held for
// writing.
func (t *table) locate(sc *writeScratch) (cold bool) {
	preps := sc.preps
	var x uint64
	for i0 := 0; i0 < len(preps); i0 += applyRun {
		run := preps[i0:min(i0+applyRun, len(preps))]
		x += t.findSeries(run)
		for i := range run {
			if s := run[i].s; s != nil {
				x += uint64(s.coldMax)
			}
		}
		for i := range run {
			if s := run[i].s; s != nil && run[i].p.t >= s.coldMin && run[i].p.t <= s.coldMax {
				cold = true
			}
		}
	}
	sc.touched += x
	return cold
}

// coldRange returns the range of times of the table's parts (lo > hi: no
// parts): a record outside it has no stored point in them, whatever its
// series. It is kept between calls until flushEpoch changes, which every
// change of t.partitions that may widen it makes (flush, compaction; open
// adds parts before any write). t.mu must be held for writing.
func (t *table) coldRange() (lo, hi int64) {
	if !t.coldKnown || t.coldEpoch != t.flushEpoch {
		lo, hi = maxTime, minTime
		for _, ps := range t.partitions {
			for _, p := range ps {
				lo, hi = min(lo, p.entry.MinTime), max(hi, p.entry.MaxTime)
			}
		}
		t.coldLo, t.coldHi, t.coldEpoch, t.coldKnown = lo, hi, t.flushEpoch, true
	}
	return t.coldLo, t.coldHi
}

// findSeries sets pr.s of every valid record of run (at most applyRun
// long) whose series exists, and returns a value made from what it read.
//
// It goes one level of the lookup at a time for the whole run (index
// slots, dimension sets, their arrays, the series), so that the cache
// misses of a run's records are in flight together instead of one after
// another. The records of one event share their Dimensions slice (package
// event makes them so), and so the same pr.dims: a run of records with
// the same pr.dims (pointer and length) looks its dimension set up once.
func (t *table) findSeries(run []prepared) uint64 {
	var x uint64
	var heads [applyRun]int32 // the records that start a run of the same pr.dims
	var slots [applyRun]**dimSet
	var dss [applyRun]*dimSet
	n := 0
	var last *Dimension
	lastN := -1
	for i := range run {
		pr := &run[i]
		if pr.reason != "" {
			continue
		}
		if p := unsafe.SliceData(pr.dims); p != last || len(pr.dims) != lastN || p == nil {
			last, lastN = p, len(pr.dims)
			heads[n] = int32(i)
			n++
		}
	}
	for j := range n {
		x += t.byDims.touch(run[heads[j]].h)
	}
	for j := range n {
		sl := t.byDims.slot(run[heads[j]].h)
		slots[j] = sl
		if sl != nil && *sl != nil {
			x += uint64(len((*sl).dims) + len((*sl).measures))
		}
	}
	for j := range n {
		if sl := slots[j]; sl != nil && *sl != nil && len((*sl).measures) > 0 && len((*sl).dims) > 0 {
			ds := *sl
			x += uint64(len(ds.measures[0])+len(ds.dims[0].Value)+len(ds.dims[len(ds.dims)-1].Value)) + uint64(uintptr(unsafe.Pointer(ds.series[0])))
		}
	}
	// The dimension values the comparison reads (those of another event's
	// records are other strings with the same bytes).
	for j := range n {
		if sl := slots[j]; sl != nil && *sl != nil {
			for _, d := range (*sl).dims {
				if d.Value != "" {
					x += uint64(d.Value[0])
				}
			}
		}
	}
	for j := range n {
		pr := &run[heads[j]]
		dss[j] = t.lookupDims(pr.h, pr.dims)
	}
	j := -1
	for i := range run {
		pr := &run[i]
		if pr.reason != "" {
			continue
		}
		if j+1 < n && int(heads[j+1]) == i {
			j++
		}
		if ds := dss[j]; ds != nil {
			pr.s = ds.find(pr.measure)
		}
	}
	return x
}

// touchRun reads the memory that apply of run's records will use (their
// series, memSeries, the ends of its slices, and the records' values, read
// long before by prepare) a level at a time, and returns a value made
// from it. Each record's loads are a chain of
// dependent ones, but the records' chains are independent: this has the
// cache misses of a whole level of them in flight at once, where apply
// alone would wait for them one record at a time.
func touchRun(run []prepared, recs []Record) uint64 {
	var x uint64
	var mss [applyRun]*memSeries
	for i := range run {
		mss[i] = nil
		x += uint64(recs[i].Value.Type)
		if s := run[i].s; s != nil && run[i].reason == "" {
			x += uint64(s.latest.t) + uint64(s.latest1[0].val.I)
			mss[i] = s.act
		}
	}
	for i := range run {
		if ms := mss[i]; ms != nil {
			x += uint64(len(ms.times) + cap(ms.times) + len(ms.col0.Floats) + cap(ms.col0.Floats))
		}
	}
	for i := range run {
		if ms := mss[i]; ms != nil {
			if n := len(ms.times); n < cap(ms.times) {
				x += uint64(ms.times[:n+1][n])
			}
			if n := len(ms.col0.Floats); n < cap(ms.col0.Floats) {
				x += math.Float64bits(ms.col0.Floats[:n+1][n])
			}
		}
	}
	return x
}

// checkTypes enforces the table's column rules; false means pr is rejected.
func (t *table) checkTypes(pr *prepared) bool {
	measure := pr.measure
	// Types are fixed per column once written.
	if !pr.multi {
		typ := pr.p.fields[0].val.Type
		if have, ok := t.measureTypes[measure]; ok && have != typ {
			pr.kind, pr.reason = rejectType, fmt.Sprintf("measure %q was written as %v before; it cannot take a %v value", measure, have, typ)
			return false
		}
	}
	for _, f := range pr.p.fields {
		if have, ok := t.fieldTypes[f.name]; ok && have != f.val.Type {
			pr.kind, pr.reason = rejectType, fmt.Sprintf("column %q has type %v; it cannot take a %v value", f.name, have, f.val.Type)
			return false
		}
		if _, ok := t.dims[f.name]; ok {
			pr.kind, pr.reason = rejectType, fmt.Sprintf("measure %q has the name of a dimension of this table", f.name)
			return false
		}
	}
	for _, d := range pr.dims {
		if _, ok := t.fieldTypes[d.Name]; ok {
			pr.kind, pr.reason = rejectType, fmt.Sprintf("dimension %q has the name of a measure of this table", d.Name)
			return false
		}
	}
	return true
}

func (t *table) applySlow(s *series, ms *memSeries, pr *prepared, cold *point, gen uint32, enc *entryEncoder) {
	ex, found := t.active.get(s, pr.p.t)
	if !found {
		ex, found = t.flushing.get(s, pr.p.t)
	}
	if !found && cold != nil {
		ex, found = *cold, true
	}
	if found {
		same := sameValues(ex.fields, pr.p.fields)
		if pr.p.v <= ex.v {
			if same {
				return // idempotent repeat
			}
			pr.kind = rejectVersion
			if pr.p.v == ex.v {
				pr.reason = "A record already exists with the same time, dimensions, measure name, and record version. A higher record version must be specified in order to update the measure value."
			} else {
				pr.reason = fmt.Sprintf("The record version %d is lower than the existing version %d. A higher version is required to update the measure value.", pr.p.v, ex.v)
			}
			pr.p.v = ex.v
			return
		}
	}
	t.registerTypes(s, pr.p, pr.multi)
	if !pr.multi {
		s.okType = pr.p.fields[0].val.Type
	}
	s.act, s.actGen = t.active.put(s, pr.p), t.active.gen
	s.actFast = s.act.fast
	t.updateLatest(s, pr.p)
	if s.defGen != gen {
		enc.addSeries(s)
		s.defGen = gen
	}
	enc.addPoint(s, pr.p, pr.multi)
}
