package tsdb

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

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
	key     []byte
	dims    []Dimension
	multi   bool
	p       point
	reason  string
	kind    string
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
	preps := make([]prepared, len(recs))
	// One allocation for every single-measure value and one for every key
	// of the batch, instead of two per record.
	singles := make([]fieldValue, len(recs))
	var keys []byte
	offs := make([]int, len(recs)+1)
	for i := range recs {
		db.prepare(&preps[i], &recs[i], oldest, newest, singles[i:i+1:i+1])
		if preps[i].reason == "" {
			keys = seriesKey(keys, recs[i].MeasureName, preps[i].dims)
		}
		offs[i+1] = len(keys)
	}
	for i := range preps {
		if preps[i].reason == "" {
			preps[i].key = keys[offs[i]:offs[i+1]:offs[i+1]]
		}
	}

	var rejects []Reject
	for {
		cold, epoch, err := db.coldLookups(ctx, t, preps)
		if err != nil {
			return nil, fmt.Errorf("tsdb: write to %s.%s: look up stored points: %w", dbName, tableName, err)
		}
		t.mu.Lock()
		if t.flushEpoch != epoch {
			t.mu.Unlock() // a flush moved points to parts meanwhile: look again
			continue
		}
		rejects, err = db.applyLocked(t, preps, cold)
		if err != nil {
			return nil, fmt.Errorf("tsdb: write to %s.%s: %w", dbName, tableName, err)
		}
		return rejects, nil
	}
}

// applyLocked applies prepared records to t, which the caller has locked;
// it unlocks t and waits for durability.
func (db *DB) applyLocked(t *table, preps []prepared, cold map[int]*point) ([]Reject, error) {
	var rejects []Reject
	if t.deleted {
		t.mu.Unlock()
		return nil, ErrNotFound
	}
	gen := db.walGenAtomic.Load()
	var enc entryEncoder
	for i := range preps {
		pr := &preps[i]
		if pr.reason == "" {
			t.apply(pr, cold[i], gen, &enc)
		}
		if pr.reason != "" {
			rejects = append(rejects, Reject{Index: i, Reason: pr.reason, ExistingVersion: existingVersion(pr)})
			db.metrics.rejects.WithLabelValues(pr.kind).Inc()
		}
	}
	var seq uint64
	if enc.npoints > 0 {
		seq = db.commit.enqueue(enc.bytes(t.id))
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

// prepare validates r and fills pr; pr.reason is set when r is invalid.
func (db *DB) prepare(pr *prepared, r *Record, oldest, newest int64, single []fieldValue) {
	reject := func(kind, format string, args ...any) {
		pr.kind = kind
		pr.reason = fmt.Sprintf(format, args...)
	}
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
	if len(r.Dimensions) > maxDimensions {
		reject(rejectInvalid, "record has %d dimensions; the limit is %d", len(r.Dimensions), maxDimensions)
		return
	}
	dims := r.Dimensions
	if !sort.SliceIsSorted(dims, func(i, j int) bool { return dims[i].Name < dims[j].Name }) {
		dims = append([]Dimension(nil), dims...)
		sort.Slice(dims, func(i, j int) bool { return dims[i].Name < dims[j].Name })
	}
	for i, d := range dims {
		switch {
		case d.Name == "":
			reject(rejectInvalid, "a dimension has an empty name")
		case len(d.Name) > maxDimNameLen:
			reject(rejectInvalid, "dimension name %q is %d bytes long; the limit is %d", d.Name, len(d.Name), maxDimNameLen)
		case reservedName(d.Name):
			reject(rejectInvalid, "dimension name %q is reserved", d.Name)
		case len(d.Value) > maxValueLen:
			reject(rejectInvalid, "dimension %q value is %d bytes long; the limit is %d", d.Name, len(d.Value), maxValueLen)
		case i > 0 && dims[i-1].Name == d.Name:
			reject(rejectInvalid, "dimension %q appears more than once", d.Name)
		}
		if pr.reason != "" {
			return
		}
	}
	pr.dims = dims
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
		single[0] = fieldValue{singleField(r.Value.Type), r.Value}
		pr.p.fields = single
	} else {
		pr.multi = true
		if len(r.Multi) == 0 || len(r.Multi) > maxMultiMeasures {
			reject(rejectInvalid, "a multi-measure record needs 1 to %d measure values, it has %d", maxMultiMeasures, len(r.Multi))
			return
		}
		pr.p.fields = make([]fieldValue, 0, len(r.Multi))
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
			for _, f := range pr.p.fields {
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
			pr.p.fields = append(pr.p.fields, fieldValue{mv.Name, mv.Value})
		}
		sort.Slice(pr.p.fields, func(i, j int) bool { return pr.p.fields[i].name < pr.p.fields[j].name })
	}
	pr.measure = r.MeasureName
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
func (t *table) apply(pr *prepared, cold *point, gen uint64, enc *entryEncoder) {
	measure := pr.measure
	s := t.series[string(pr.key)]
	// A single-measure series that took this column and type before passes
	// the type checks again: once valid, a column stays valid.
	known := s != nil && !pr.multi && s.okField == pr.p.fields[0].name && s.okType == pr.p.fields[0].val.Type
	if !known && !t.checkTypes(pr) {
		return
	}
	if s == nil {
		s = t.getOrCreateSeries(pr.key, measure, pr.dims)
	}
	// The common case: a new point after the newest of its series, nothing
	// in the flushing memtable or the parts to compare with.
	if ms := t.active.series[s.id]; ms != nil && cold == nil && t.flushing.before(s, pr.p.t) {
		if n := len(ms.times); n > 0 && pr.p.t > ms.times[n-1] && !pr.multi && len(ms.fields) == 1 && ms.fields[0].name == pr.p.fields[0].name && ms.fields[0].col.Nulls == nil {
			ms.times = append(ms.times, pr.p.t)
			ms.versions = append(ms.versions, pr.p.v)
			appendValue(ms.fields[0].col, pr.p.fields[0].val)
			t.active.points++
			t.updateLatest(s, pr.p)
			if s.defGen != gen {
				enc.addSeries(s)
				s.defGen = gen
			}
			enc.addPoint(s, pr.p, false)
			return
		}
	}
	t.applySlow(s, pr, cold, gen, enc)
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

func (t *table) applySlow(s *series, pr *prepared, cold *point, gen uint64, enc *entryEncoder) {
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
		s.okField, s.okType = pr.p.fields[0].name, pr.p.fields[0].val.Type
	}
	t.active.put(s, pr.p)
	t.updateLatest(s, pr.p)
	if s.defGen != gen {
		enc.addSeries(s)
		s.defGen = gen
	}
	enc.addPoint(s, pr.p, pr.multi)
}
