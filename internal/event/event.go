// Package event decodes device events and maps them to tsdb records
// (DESIGN.md §4.1), correcting timestamps from clocks that run ahead
// (§4.2).
//
// An event is one flat JSON object such as the seed's
//
//	{"Time": 1609757175225.499, "DeviceID": "1234…", "temperature_measure": 11.2, "humidity_measure": 33.4}
//
// Keys ending in _measure are measures, time and timeunit give the
// timestamp, every other key is a dimension. The exact rules are on Map.
//
// Concurrency: the package has no global state. Decode and the Options are
// safe to use from any goroutine; a Mapper and a Decoder keep scratch
// buffers and must be used by one goroutine at a time (use one per worker).
//
// Invariants of what Map returns: dimensions and multi-measure values are
// sorted by name (byte order) with no duplicate names, so equal series
// compare equal element by element; all records of one event share one time
// and one Dimensions slice, which callers must treat as read-only; nothing
// returned aliases the input bytes or the Mapper's scratch space (MapInto's
// dimensions live in the arena its caller passes). Every
// event that cannot be mapped gives an *Error whose message tells an
// operator what was wrong (it becomes the dead letter's reason).
package event

import (
	"fmt"
	"hash/maphash"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// Limits (Timestream's, reference/aws-compat.md §1.7), enforced per event.
const (
	MaxDimensions       = 128
	MaxDimensionName    = 60   // bytes
	MaxMeasureName      = 256  // bytes
	MaxValueLen         = 2048 // bytes, dimension values and VARCHAR measures
	MaxMeasures         = 256
	DefaultMultiMeasure = "metrics"
	DefaultFuture       = 15 * time.Minute
)

const measureSuffix = "_measure"

// Mode says how an event's measures become records.
type Mode uint8

const (
	// Single makes one record per measure, named after it (the seed's mapping).
	Single Mode = iota
	// Multi makes one multi-measure record per event holding all measures.
	Multi
)

// ParseMode parses "single" or "multi" (any case); "" is Single.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "", "single":
		return Single, nil
	case "multi":
		return Multi, nil
	}
	return 0, fmt.Errorf("event: unknown record mode %q, want single or multi", s)
}

// String returns "single" or "multi".
func (m Mode) String() string {
	switch m {
	case Single:
		return "single"
	case Multi:
		return "multi"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Options configure a Mapper. Zero fields mean defaults.
type Options struct {
	Mode Mode
	// MultiMeasureName is the measure name of multi-measure records
	// (default "metrics"); unused in Single mode.
	MultiMeasureName string
	// FutureThreshold is how far ahead of its arrival an event's time may be
	// before it is replaced by the arrival time (default 15 minutes).
	FutureThreshold time.Duration
}

// Error is why an event could not be mapped. Field is the event's key the
// problem is with (possibly shortened), empty when it concerns the whole
// event.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "event: " + e.Reason
	}
	return "event: key " + strconv.Quote(e.Field) + ": " + e.Reason
}

// Correction reports an event whose time was replaced by its arrival time
// because it lay more than the future threshold ahead (DESIGN.md §4.2).
// Dimensions is the event's (shared with its records, read-only).
type Correction struct {
	Dimensions []tsdb.Dimension
	Original   int64 // ns since the epoch, as the device sent it
	Corrected  int64 // ns since the epoch, the arrival time
}

// Mapper maps events to records. It keeps scratch buffers and interned
// names between calls, so it is not safe for concurrent use: use one per
// goroutine.
type Mapper struct {
	// Set in NewMapper.
	mode      Mode
	multiName string
	future    int64 // ns

	// Scratch, reused by every Map call.
	dec    Decoder
	fields []Field
	dims   []tsdb.Dimension
	meas   []tsdb.MeasureValue
	names  interner // dimension and measure names
	values interner // short dimension and VARCHAR measure values
	// The name and value strings seen at each field position of the
	// previous events: devices send the same keys in the same order, so a
	// byte comparison usually finds the string without hashing.
	posNames, posValues []string
	// Where each of dims and meas came from: a field's index, or
	// len(fields)+k for extra attribute k. Sorted along with them.
	dimPos, measPos []int32
	shape           shape
}

// shape is what the last event mapped without a problem in its keys
// taught: its keys (and extra attribute names) in order, what each key is,
// and the order of its dimensions and measures by name. Devices send the
// same keys in the same order event after event, and an event with exactly
// these keys needs none of the per-key work again (classifying, checking
// names, interning them, sorting, looking for duplicates and clashes): all
// of it depends on the keys alone. Its values are still checked one by
// one; any problem with one sends the event down the full path, which
// gives the error.
type shape struct {
	ok        bool
	keys      []string // the fields' keys
	names     []string // per field: the measure or dimension name ("" for time and timeunit)
	extra     []string // the extra attributes' names
	dimOrder  []int32  // dimensions by name: field index, or len(keys)+k for extra k
	measOrder []int32  // measures by name: field index
	timeIdx   int      // -1: none
	unitIdx   int      // -1: none
	plain     bool     // every key is sent as it is (see Decoder.decodeKeys)
}

// keyIsMeasure reports a measure's key.
func keyIsMeasure(k []byte) bool { return hasSuffixFold(k, measureSuffix) }

// Interning bounds: device ids and names repeat from event to event, so
// sharing their strings saves an allocation per value and memory in every
// consumer that keeps them. The tables are cleared when full so that a
// stream of unique values cannot grow them without bound (≈1 MiB each).
const (
	maxInternNames  = 4096
	maxInternValues = 16384
	maxInternLen    = 64
)

// NewMapper checks opts and returns a Mapper.
func NewMapper(opts Options) (*Mapper, error) {
	if opts.Mode != Single && opts.Mode != Multi {
		return nil, fmt.Errorf("event: unknown record mode %d", opts.Mode)
	}
	if opts.FutureThreshold < 0 {
		return nil, fmt.Errorf("event: future threshold %v is negative", opts.FutureThreshold)
	}
	if opts.FutureThreshold == 0 {
		opts.FutureThreshold = DefaultFuture
	}
	if opts.MultiMeasureName == "" {
		opts.MultiMeasureName = DefaultMultiMeasure
	}
	if opts.Mode == Multi {
		if len(opts.MultiMeasureName) > MaxMeasureName {
			return nil, fmt.Errorf("event: multi-measure name is %d bytes, limit is %d", len(opts.MultiMeasureName), MaxMeasureName)
		}
		if reserved([]byte(opts.MultiMeasureName)) {
			return nil, fmt.Errorf("event: multi-measure name %q is reserved", opts.MultiMeasureName)
		}
	}
	return &Mapper{
		mode:      opts.Mode,
		multiName: opts.MultiMeasureName,
		future:    int64(opts.FutureThreshold),
		names:     interner{max: maxInternNames},
		values:    interner{max: maxInternValues},
	}, nil
}

// Map decodes one event and appends its records to dst; on error dst is
// returned unchanged. arrival is when the stream stored the event; extra
// are dimensions learned outside the payload (the MQTT topic).
//
// Rules (ASCII letters compare case-insensitively where "any case" is said):
//   - A key ending in _measure (any case) is a measure named by the rest of
//     the key, whose case is kept. Values: number → DOUBLE (finite), true or
//     false → BOOLEAN, numeric string → DOUBLE, other string → VARCHAR;
//     null is an error.
//   - time (any case) is the timestamp in timeunit (key and value any case:
//     MILLISECONDS (default) or ms, SECONDS or s, MICROSECONDS or us,
//     NANOSECONDS or ns), as a number or numeric string, fractions and
//     exponents kept exactly (digits below a nanosecond are dropped), or an
//     RFC 3339 string (timeunit ignored). It must lie in 1970-01-01 ..
//     2262-04-11. Without it the record time is the arrival time.
//   - Every other key is a dimension whose value is the string, the number
//     literal as sent, or true/false; null is an error. An extra attribute
//     is added unless the event has a dimension of that name (any case).
//   - Errors: nested objects or arrays, duplicate keys (time and timeunit
//     in any case), two keys naming one measure, no measures, reserved
//     names (time, measure_value*, measure_name*, ts_*, any case), and the
//     limits above.
//
// Single mode appends one record per measure, in measure name order; Multi
// mode one record holding all measures. A time more than the future
// threshold ahead of arrival is replaced by arrival and reported in corr.
func (m *Mapper) Map(dst []tsdb.Record, data []byte, arrival time.Time, extra []stream.Attr) (recs []tsdb.Record, corr *Correction, err error) {
	recs, _, corr, err = m.MapInto(dst, nil, data, arrival, extra)
	return recs, corr, err
}

// MapInto is Map with the records' dimensions appended to dims, an arena
// the caller owns and reuses, instead of a new slice per event: the
// event's records (and its Correction) share the part of the arena they
// use, so the caller may reuse the arena (dims[:0]) once it is done with
// every record made into it. It returns the records and the arena; on
// error both are returned unchanged.
func (m *Mapper) MapInto(dst []tsdb.Record, dims []tsdb.Dimension, data []byte, arrival time.Time, extra []stream.Attr) (recs []tsdb.Record, arena []tsdb.Dimension, corr *Correction, err error) {
	sh := &m.shape
	var fields []Field
	same := false
	if sh.ok && sh.plain && m.sameExtra(extra) {
		fields, same = m.dec.decodeKeys(m.fields[:0], data, sh.keys)
	}
	if !same {
		fields, err = m.dec.Decode(m.fields[:0], data)
		m.fields = fields[:0]
		if err != nil {
			return dst, dims, nil, err
		}
		same = m.sameShape(fields, extra)
	}
	m.fields = fields[:0]
	if !same {
		if err := m.mapKeys(fields, extra); err != nil {
			return dst, dims, nil, err
		}
	} else if !m.mapValues(fields, extra) {
		// A value the shape's path does not take: the full path says
		// what is wrong with it.
		if err := m.mapKeys(fields, extra); err != nil {
			return dst, dims, nil, err
		}
	}

	// Time.
	unit := 6 // milliseconds: the scale from the unit to nanoseconds
	if sh.unitIdx >= 0 {
		if unit, err = parseUnit(&fields[sh.unitIdx]); err != nil {
			return dst, dims, nil, err
		}
	}
	arr, ok := unixNano(arrival)
	if !ok {
		return dst, dims, nil, &Error{Reason: fmt.Sprintf("arrival time %v is outside 1970-01-01 .. 2262-04-11", arrival)}
	}
	t := arr
	if sh.timeIdx >= 0 {
		if t, err = parseTime(&fields[sh.timeIdx], unit); err != nil {
			return dst, dims, nil, err
		}
	}

	var ds []tsdb.Dimension
	if len(m.dims) > 0 {
		start := len(dims)
		dims = append(dims, m.dims...)
		ds = dims[start:len(dims):len(dims)]
	}
	if t-arr > m.future { // both ≥ 0, so no overflow
		corr = &Correction{Dimensions: ds, Original: t, Corrected: arr}
		t = arr
	}
	if m.mode == Multi {
		multi := make([]tsdb.MeasureValue, len(m.meas))
		copy(multi, m.meas)
		dst = append(dst, tsdb.Record{Dimensions: ds, MeasureName: m.multiName, Time: t, Multi: multi})
	} else {
		for _, mv := range m.meas {
			dst = append(dst, tsdb.Record{Dimensions: ds, MeasureName: mv.Name, Time: t, Value: mv.Value})
		}
	}
	return dst, dims, corr, nil
}

// sameShape reports whether the event's keys and extra attribute names
// are exactly those of m.shape.
func (m *Mapper) sameShape(fields []Field, extra []stream.Attr) bool {
	sh := &m.shape
	if !sh.ok || len(fields) != len(sh.keys) || len(extra) != len(sh.extra) {
		return false
	}
	for i := range fields {
		if string(fields[i].Key) != sh.keys[i] { // no allocation for the comparison
			return false
		}
	}
	return m.sameExtra(extra)
}

// sameExtra reports whether the extra attributes' names are m.shape's.
func (m *Mapper) sameExtra(extra []stream.Attr) bool {
	sh := &m.shape
	if len(extra) != len(sh.extra) {
		return false
	}
	for k := range extra {
		if extra[k].Name != sh.extra[k] {
			return false
		}
	}
	return true
}

// mapValues fills m.dims and m.meas, sorted, for an event of m.shape's
// keys. It reports false, leaving the error to mapKeys, if a value is not
// one it takes.
func (m *Mapper) mapValues(fields []Field, extra []stream.Attr) bool {
	sh := &m.shape
	n := len(fields)
	m.dims, m.meas = m.dims[:0], m.meas[:0]
	for _, p := range sh.dimOrder {
		if int(p) >= n {
			a := &extra[int(p)-n]
			if len(a.Value) > MaxValueLen {
				return false
			}
			m.dims = append(m.dims, tsdb.Dimension{Name: a.Name, Value: a.Value})
			continue
		}
		f := &fields[p]
		if f.Kind == KindNull || len(f.Value) > MaxValueLen {
			return false
		}
		m.dims = append(m.dims, tsdb.Dimension{Name: sh.names[p], Value: cached(m.posValues, int(p), f.Value, &m.values)})
	}
	for _, p := range sh.measOrder {
		v, err := m.measureValue(int(p), &fields[p])
		if err != nil {
			return false
		}
		m.meas = append(m.meas, tsdb.MeasureValue{Name: sh.names[p], Value: v})
	}
	return true
}

// mapKeys is the full path: it classifies and checks every key, fills
// m.dims and m.meas, sorted, and on success makes the event's keys
// m.shape.
func (m *Mapper) mapKeys(fields []Field, extra []stream.Attr) error {
	m.shape.ok = false
	// At most MaxDimensions+MaxMeasures+2 positions are used before a
	// limit error, which bounds these caches.
	for len(m.posNames) < len(fields) && len(m.posNames) < MaxDimensions+MaxMeasures+2 {
		m.posNames = append(m.posNames, "")
		m.posValues = append(m.posValues, "")
	}
	m.dims, m.meas = m.dims[:0], m.meas[:0]
	m.dimPos, m.measPos = m.dimPos[:0], m.measPos[:0]
	timeIdx, unitIdx := -1, -1
	for i := range fields {
		f := &fields[i]
		k := f.Key
		switch {
		case keyIsMeasure(k):
			if err := m.addMeasure(i, f); err != nil {
				return err
			}
		case equalFold(k, "time"):
			if timeIdx >= 0 {
				return &Error{Field: fieldName(k), Reason: fmt.Sprintf("duplicate time key (also %q)", fieldName(fields[timeIdx].Key))}
			}
			timeIdx = i
		case equalFold(k, "timeunit"):
			if unitIdx >= 0 {
				return &Error{Field: fieldName(k), Reason: fmt.Sprintf("duplicate timeunit key (also %q)", fieldName(fields[unitIdx].Key))}
			}
			unitIdx = i
		default:
			if err := m.addDimension(i, f); err != nil {
				return err
			}
		}
	}
	if len(m.meas) == 0 {
		return &Error{Reason: "no measures: keys ending in _measure"}
	}

	// Extra attributes fill in dimensions the event lacks.
	nEvent := len(m.dims)
	for k, a := range extra {
		if m.hasDimensionFold(a.Name) {
			continue
		}
		if err := checkDimension([]byte(a.Name), len(a.Value)); err != nil {
			err.Reason += " (attribute from outside the payload)"
			return err
		}
		m.dims = append(m.dims, tsdb.Dimension{Name: a.Name, Value: a.Value})
		m.dimPos = append(m.dimPos, int32(len(fields)+k))
	}
	if len(m.dims) > MaxDimensions {
		return &Error{Reason: fmt.Sprintf("%d dimensions (%d in the event), limit is %d", len(m.dims), nEvent, MaxDimensions)}
	}

	sortDims(m.dims, m.dimPos)
	for i := 1; i < len(m.dims); i++ {
		if m.dims[i].Name == m.dims[i-1].Name {
			return &Error{Field: fieldName([]byte(m.dims[i].Name)), Reason: "duplicate key"}
		}
	}
	sortMeasures(m.meas, m.measPos)
	for i := 1; i < len(m.meas); i++ {
		if m.meas[i].Name == m.meas[i-1].Name {
			return &Error{Reason: fmt.Sprintf("two keys name the measure %q (keys ending in _measure must differ in more than the suffix's case)", fieldName([]byte(m.meas[i].Name)))}
		}
	}
	if m.mode == Multi {
		// Multi-measure values and dimensions are both columns.
		for i, j := 0, 0; i < len(m.dims) && j < len(m.meas); {
			switch c := strings.Compare(m.dims[i].Name, m.meas[j].Name); {
			case c < 0:
				i++
			case c > 0:
				j++
			default:
				return &Error{Field: fieldName([]byte(m.dims[i].Name)), Reason: "a dimension and a measure have the same name, which multi-measure records do not allow"}
			}
		}
	}

	// The keys are good: remember them.
	sh := &m.shape
	sh.keys, sh.names, sh.extra = sh.keys[:0], sh.names[:0], sh.extra[:0]
	sh.plain = true
	for i := range fields {
		sh.keys = append(sh.keys, m.names.get(fields[i].Key))
		sh.names = append(sh.names, "")
		for _, c := range fields[i].Key {
			sh.plain = sh.plain && plainByte[c]
		}
	}
	for _, a := range extra {
		sh.extra = append(sh.extra, a.Name)
	}
	for i, p := range m.dimPos {
		if int(p) < len(fields) {
			sh.names[p] = m.dims[i].Name
		}
	}
	for i, p := range m.measPos {
		sh.names[p] = m.meas[i].Name
	}
	sh.dimOrder = append(sh.dimOrder[:0], m.dimPos...)
	sh.measOrder = append(sh.measOrder[:0], m.measPos...)
	sh.timeIdx, sh.unitIdx = timeIdx, unitIdx
	sh.ok = true
	return nil
}

func (m *Mapper) addMeasure(pos int, f *Field) error {
	name := f.Key[:len(f.Key)-len(measureSuffix)]
	switch {
	case len(name) == 0:
		return &Error{Field: fieldName(f.Key), Reason: "empty measure name (the key is only the _measure suffix)"}
	case len(name) > MaxMeasureName:
		return &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("measure name is %d bytes, limit is %d", len(name), MaxMeasureName)}
	case reserved(name):
		return &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("measure name %q is reserved", fieldName(name))}
	case len(m.meas) == MaxMeasures:
		return &Error{Reason: fmt.Sprintf("more than %d measures", MaxMeasures)}
	}
	v, err := m.measureValue(pos, f)
	if err != nil {
		return err
	}
	m.meas = append(m.meas, tsdb.MeasureValue{Name: cached(m.posNames, pos, name, &m.names), Value: v})
	m.measPos = append(m.measPos, int32(pos))
	return nil
}

// measureValue converts the value of measure field f, at position pos.
func (m *Mapper) measureValue(pos int, f *Field) (tsdb.Value, error) {
	switch f.Kind {
	case KindNumber:
		x, ok := fastFloat(f.Value)
		var err error
		if !ok {
			x, err = strconv.ParseFloat(unsafeString(f.Value), 64)
		}
		if err != nil || math.IsInf(x, 0) {
			return tsdb.Value{}, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("measure value %s is out of the range of a double", fieldName(f.Value))}
		}
		return tsdb.Value{Type: columnar.Float64, F: x}, nil
	case KindBool:
		return tsdb.Value{Type: columnar.Bool, B: f.Value[0] == 't'}, nil
	case KindNull:
		return tsdb.Value{}, &Error{Field: fieldName(f.Key), Reason: "measure value is null"}
	}
	if _, ok := parseDecimal(f.Value); ok {
		x, ok := fastFloat(f.Value)
		var err error
		if !ok {
			x, err = strconv.ParseFloat(unsafeString(f.Value), 64)
		}
		if err != nil || math.IsInf(x, 0) {
			return tsdb.Value{}, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("measure value %q is out of the range of a double", fieldName(f.Value))}
		}
		return tsdb.Value{Type: columnar.Float64, F: x}, nil
	}
	if len(f.Value) > MaxValueLen {
		return tsdb.Value{}, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("measure value is %d bytes, limit is %d", len(f.Value), MaxValueLen)}
	}
	return tsdb.Value{Type: columnar.String, S: cached(m.posValues, pos, f.Value, &m.values)}, nil
}

func (m *Mapper) addDimension(pos int, f *Field) error {
	if f.Kind == KindNull {
		return &Error{Field: fieldName(f.Key), Reason: "dimension value is null"}
	}
	if err := checkDimension(f.Key, len(f.Value)); err != nil {
		return err
	}
	if len(m.dims) == MaxDimensions {
		return &Error{Reason: fmt.Sprintf("more than %d dimensions", MaxDimensions)}
	}
	// Strings, number literals and true/false all render as their bytes.
	m.dims = append(m.dims, tsdb.Dimension{
		Name:  cached(m.posNames, pos, f.Key, &m.names),
		Value: cached(m.posValues, pos, f.Value, &m.values),
	})
	m.dimPos = append(m.dimPos, int32(pos))
	return nil
}

func checkDimension(name []byte, valueLen int) *Error {
	switch {
	case len(name) == 0:
		return &Error{Reason: "empty dimension name"}
	case len(name) > MaxDimensionName:
		return &Error{Field: fieldName(name), Reason: fmt.Sprintf("dimension name is %d bytes, limit is %d", len(name), MaxDimensionName)}
	case reserved(name):
		return &Error{Field: fieldName(name), Reason: "dimension name is reserved"}
	case valueLen > MaxValueLen:
		return &Error{Field: fieldName(name), Reason: fmt.Sprintf("dimension value is %d bytes, limit is %d", valueLen, MaxValueLen)}
	}
	return nil
}

func (m *Mapper) hasDimensionFold(name string) bool {
	for i := range m.dims {
		if equalFoldString(m.dims[i].Name, name) {
			return true
		}
	}
	return false
}

// parseUnit returns the power of ten from the unit to nanoseconds.
func parseUnit(f *Field) (int, error) {
	if f.Kind == KindString {
		switch v := f.Value; {
		case equalFold(v, "milliseconds"), equalFold(v, "ms"):
			return 6, nil
		case equalFold(v, "seconds"), equalFold(v, "s"):
			return 9, nil
		case equalFold(v, "microseconds"), equalFold(v, "us"):
			return 3, nil
		case equalFold(v, "nanoseconds"), equalFold(v, "ns"):
			return 0, nil
		}
	}
	return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("unknown time unit %s, want MILLISECONDS, SECONDS, MICROSECONDS or NANOSECONDS", renderValue(f))}
}

// parseTime converts the time field to ns since the epoch; scale is the
// unit's power of ten.
func parseTime(f *Field, scale int) (int64, error) {
	switch f.Kind {
	case KindNumber, KindString:
		if ns, ok := wholeTime(f.Value, scale); ok {
			return ns, nil
		}
		if d, ok := parseDecimal(f.Value); ok {
			ns, st := d.nanos(scale)
			switch st {
			case timeNegative:
				return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("time %s is negative", renderValue(f))}
			case timeOverflow:
				return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("time %s is past 2262-04-11, the end of the nanosecond range", renderValue(f))}
			}
			return ns, nil
		}
		if f.Kind == KindString {
			t, err := time.Parse(time.RFC3339Nano, string(f.Value))
			if err != nil {
				return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("time %s is neither a number nor an RFC 3339 timestamp", renderValue(f))}
			}
			ns, ok := unixNano(t)
			if !ok {
				return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("time %s is outside 1970-01-01 .. 2262-04-11", renderValue(f))}
			}
			return ns, nil
		}
	}
	return 0, &Error{Field: fieldName(f.Key), Reason: fmt.Sprintf("time is %s, want a number or a string", f.Kind)}
}

// pow10i holds the powers of ten a time unit scales by.
var pow10i = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// wholeTime converts the common times, plain digits with or without a
// fraction ("1609757175225" or "1609757175225.499"), to nanoseconds: the
// whole units times the scale plus the fraction's first scale digits (the
// digits below a nanosecond are dropped, as the decimal path drops them).
// Anything else (an exponent, a sign, a point without digits after it, a
// value out of range) reports false and is left to the decimal path, which
// gives the same result for what this takes.
func wholeTime(b []byte, scale int) (int64, bool) {
	var v uint64
	i := 0
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	if i == 0 || i > 18 { // < 10^18: no overflow above
		return 0, false
	}
	var f uint64 // the fraction's first scale digits, in nanoseconds
	if i < len(b) {
		if b[i] != '.' || i+1 == len(b) {
			return 0, false
		}
		n := 0
		for _, c := range b[i+1:] {
			if c < '0' || c > '9' {
				return 0, false
			}
			if n < scale {
				f = f*10 + uint64(c-'0')
				n++
			}
		}
		f *= uint64(pow10i[scale-n])
	}
	p := uint64(pow10i[scale])
	if v > (math.MaxInt64-f)/p {
		return 0, false
	}
	return int64(v*p + f), true
}

// unixNano returns t in ns since the epoch if that is in [0, MaxInt64].
func unixNano(t time.Time) (int64, bool) {
	const maxSec = math.MaxInt64 / 1_000_000_000 // 9223372036
	s, ns := t.Unix(), int64(t.Nanosecond())
	if s < 0 || s > maxSec || (s == maxSec && ns > math.MaxInt64%1_000_000_000) {
		return 0, false
	}
	return s*1e9 + ns, true
}

// reserved reports names Timestream reserves (aws-compat.md §1.7) or that
// would collide with sluice's columns: time, measure_value and
// measure_value::type, measure_name*, ts_*. It compares in any case because
// sluice SQL matches unquoted identifiers case-insensitively.
func reserved(name []byte) bool {
	return equalFold(name, "time") ||
		hasPrefixFold(name, "measure_value") ||
		hasPrefixFold(name, "measure_name") ||
		hasPrefixFold(name, "ts_")
}

// renderValue shows a value in an error message as JSON would (strings
// quoted), shortened.
func renderValue(f *Field) string {
	if f.Kind == KindString {
		return strconv.Quote(fieldName(f.Value))
	}
	return fieldName(f.Value)
}

// maxFieldName bounds keys and values quoted in errors, which travel with
// dead letters.
const maxFieldName = 128

func fieldName(b []byte) string {
	if len(b) > maxFieldName {
		return string(b[:maxFieldName]) + "…"
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares b with the lower-case ASCII string s, ignoring the
// case of ASCII letters in b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[len(b)-len(s):], s)
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

func equalFoldString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// sortDims and sortMeasures sort by name, moving pos along; events are
// small, so insertion sort beats the generic sort and allocates nothing.
func sortDims(d []tsdb.Dimension, pos []int32) {
	if len(d) > 12 {
		sort.Sort(dimSorter{d, pos})
		return
	}
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].Name < d[j-1].Name; j-- {
			d[j], d[j-1] = d[j-1], d[j]
			pos[j], pos[j-1] = pos[j-1], pos[j]
		}
	}
}

func sortMeasures(d []tsdb.MeasureValue, pos []int32) {
	if len(d) > 12 {
		sort.Sort(measSorter{d, pos})
		return
	}
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].Name < d[j-1].Name; j-- {
			d[j], d[j-1] = d[j-1], d[j]
			pos[j], pos[j-1] = pos[j-1], pos[j]
		}
	}
}

type dimSorter struct {
	d   []tsdb.Dimension
	pos []int32
}

func (s dimSorter) Len() int           { return len(s.d) }
func (s dimSorter) Less(i, j int) bool { return s.d[i].Name < s.d[j].Name }
func (s dimSorter) Swap(i, j int) {
	s.d[i], s.d[j] = s.d[j], s.d[i]
	s.pos[i], s.pos[j] = s.pos[j], s.pos[i]
}

type measSorter struct {
	d   []tsdb.MeasureValue
	pos []int32
}

func (s measSorter) Len() int           { return len(s.d) }
func (s measSorter) Less(i, j int) bool { return s.d[i].Name < s.d[j].Name }
func (s measSorter) Swap(i, j int) {
	s.d[i], s.d[j] = s.d[j], s.d[i]
	s.pos[i], s.pos[j] = s.pos[j], s.pos[i]
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat parses the common short decimals ("11.2", "-3", "777.88")
// without strconv: with at most 15 digits the mantissa and the power of ten
// are exact in a float64, so one division rounds correctly (the fast path
// of Clinger's algorithm, which strconv also takes). Anything else (an
// exponent, more digits) reports false.
func fastFloat(b []byte) (float64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	var mant uint64
	digits, frac := 0, -1
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	x := float64(mant)
	if frac > 0 {
		x /= pow10[frac]
	}
	if neg {
		x = -x
	}
	return x, true
}

// unsafeString views b as a string for a call that does not keep it
// (strconv copies the input into any error it returns).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// cached returns the string for b, from pos[i] if it holds the same bytes,
// else from the interner (and remembers it at pos[i]).
func cached(pos []string, i int, b []byte, in *interner) string {
	if i >= len(pos) || len(b) > maxInternLen {
		return in.get(b)
	}
	if pos[i] == string(b) { // no allocation for the comparison
		return pos[i]
	}
	s := in.get(b)
	pos[i] = s
	return s
}

// interner shares strings between events. It is bounded: when full it is
// emptied and refilled, so unique values cost an allocation each, as
// without it, but never unbounded memory.
//
// It is an open-addressing table (linear probing, at most half full) whose
// slots are one cache line each and hold a copy of the string's first
// bytes beside it: a device id looked up after thousands of other events
// costs one cache miss, where a map costs three (its control word, the
// slot, the string's bytes).
type interner struct {
	slots []internSlot
	n     int // strings held
	max   int
	seed  maphash.Seed
}

// internInline is how many bytes of a string its slot holds: strings up
// to this long compare without reading the string itself.
const internInline = 40

// internSlot is 64 bytes: a cache line (the array of a large table is
// page-aligned).
type internSlot struct {
	s    string
	hash uint32 // the hash's high bits, never 0 in a used slot
	n    uint32 // len(s)
	b    [internInline]byte
}

func (in *interner) get(b []byte) string {
	if len(b) > maxInternLen {
		return string(b)
	}
	if in.slots == nil {
		in.seed = maphash.MakeSeed()
		in.slots = make([]internSlot, 64)
	}
	h := maphash.Bytes(in.seed, b)
	tag := uint32(h>>32) | 1
	mask := uint64(len(in.slots) - 1)
	for pos := h & mask; ; pos = (pos + 1) & mask {
		sl := &in.slots[pos]
		if sl.hash == 0 {
			break
		}
		if sl.hash == tag && int(sl.n) == len(b) {
			if len(b) <= internInline {
				if string(sl.b[:len(b)]) == string(b) { // no allocation for the comparison
					return sl.s
				}
			} else if sl.s == string(b) {
				return sl.s
			}
		}
	}
	if in.n >= in.max {
		clear(in.slots)
		in.n = 0
	} else if 2*(in.n+1) > len(in.slots) {
		in.grow()
	}
	s := string(b)
	mask = uint64(len(in.slots) - 1)
	pos := h & mask
	for in.slots[pos].hash != 0 {
		pos = (pos + 1) & mask
	}
	sl := &in.slots[pos]
	sl.s, sl.hash, sl.n = s, tag, uint32(len(s))
	copy(sl.b[:], s)
	in.n++
	return s
}

// grow doubles the table, placing the strings by their hashes again.
func (in *interner) grow() {
	old := in.slots
	in.slots = make([]internSlot, 2*len(old))
	mask := uint64(len(in.slots) - 1)
	for i := range old {
		if old[i].hash == 0 {
			continue
		}
		pos := maphash.String(in.seed, old[i].s) & mask
		for in.slots[pos].hash != 0 {
			pos = (pos + 1) & mask
		}
		in.slots[pos] = old[i]
	}
}
