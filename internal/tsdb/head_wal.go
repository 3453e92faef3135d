package tsdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// WAL entry format (the payload of one wal record; wal frames and checksums
// it). See docs/format/wal.md for the framing below this.
//
//	entry    := type(1 byte = 1) tableID(uvarint) defCount(uvarint) def* pointCount(uvarint) point*
//	def      := seriesID(uvarint) measure(str) dimCount(uvarint) (name(str) value(str))*
//	point    := seriesID(uvarint) timeDelta(varint, from the previous point) version(uvarint) kind(1 byte) fields
//	fields   := kind 0: type(1 byte) value           — one single-measure value, column measure_value::<type>
//	          | kind 1: n(uvarint) (name(str) type(1 byte) value)*   — multi-measure values
//	value    := DOUBLE: 8 bytes little-endian IEEE 754 | BIGINT, TIMESTAMP: varint | VARCHAR: str | BOOLEAN: 1 byte
//	str      := len(uvarint) bytes
//
// A series is defined in the first entry that uses it in each WAL
// generation (generations change at every cut), so every live segment is
// self-contained: replay never needs a segment that a flush truncated.
// Series ids are only names inside the log; replay maps them to series by
// key, so ids from before a restart cannot clash with new ones.
const entryPoints = 1

// singleField returns the column name of a single-measure value.
func singleField(t columnar.Type) string {
	switch t {
	case columnar.Float64:
		return "measure_value::double"
	case columnar.Int64:
		return "measure_value::bigint"
	case columnar.String:
		return "measure_value::varchar"
	case columnar.Bool:
		return "measure_value::boolean"
	case columnar.Timestamp:
		return "measure_value::timestamp"
	}
	return "measure_value::unknown"
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendVal(dst []byte, v Value) []byte {
	dst = append(dst, byte(v.Type))
	switch v.Type {
	case columnar.Float64:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.F))
	case columnar.Int64, columnar.Timestamp:
		dst = binary.AppendVarint(dst, v.I)
	case columnar.String:
		dst = appendStr(dst, v.S)
	case columnar.Bool:
		if v.B {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	}
	return dst
}

// entryEncoder builds one WAL entry.
type entryEncoder struct {
	defs    []byte
	ndefs   int
	points  []byte
	npoints int
	prevT   int64
}

func (e *entryEncoder) reset() {
	e.defs, e.points = e.defs[:0], e.points[:0]
	e.ndefs, e.npoints, e.prevT = 0, 0, 0
}

func (e *entryEncoder) addSeries(s *series) {
	e.ndefs++
	e.defs = binary.AppendUvarint(e.defs, s.id)
	e.defs = appendStr(e.defs, s.measure)
	e.defs = binary.AppendUvarint(e.defs, uint64(len(s.dims)))
	for _, d := range s.dims {
		e.defs = appendStr(e.defs, d.Name)
		e.defs = appendStr(e.defs, d.Value)
	}
}

// reserve makes room for n more points of the common kind (one value), so
// that addPoint rarely grows the buffer.
func (e *entryEncoder) reserve(n int) {
	e.points = slices.Grow(e.points, n*maxSinglePoint)
}

// maxSinglePoint bounds the encoding of a point with one fixed-size value:
// id, time delta, version, kind, type, 8 bytes.
const maxSinglePoint = 3*binary.MaxVarintLen64 + 2 + 8

func (e *entryEncoder) addPoint(s *series, p point, multi bool) {
	if !multi {
		e.addSingle(s, p.t, p.v, &p.fields[0].val)
		return
	}
	e.npoints++
	delta := p.t - e.prevT
	e.prevT = p.t
	e.points = binary.AppendUvarint(e.points, s.id)
	e.points = binary.AppendVarint(e.points, delta)
	e.points = binary.AppendUvarint(e.points, uint64(p.v))
	e.points = append(e.points, 1)
	e.points = binary.AppendUvarint(e.points, uint64(len(p.fields)))
	for _, f := range p.fields {
		e.points = appendStr(e.points, f.name)
		e.points = appendVal(e.points, f.val)
	}
}

// addSingle adds a single-measure point: time t, version ver, value v.
func (e *entryEncoder) addSingle(s *series, t, ver int64, v *Value) {
	e.npoints++
	delta := t - e.prevT
	e.prevT = t
	if v.Type == columnar.Float64 {
		// The common point, written in one go.
		b := slices.Grow(e.points, maxSinglePoint)
		b = binary.AppendUvarint(b, s.id)
		b = binary.AppendVarint(b, delta)
		b = binary.AppendUvarint(b, uint64(ver))
		b = append(b, 0, byte(columnar.Float64))
		e.points = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.F))
		return
	}
	e.points = binary.AppendUvarint(e.points, s.id)
	e.points = binary.AppendVarint(e.points, delta)
	e.points = binary.AppendUvarint(e.points, uint64(ver))
	e.points = append(e.points, 0)
	e.points = appendVal(e.points, *v)
}

// appendEntry appends the entry to buf (callers reuse buffers).
func (e *entryEncoder) appendEntry(buf []byte, tableID uint32) []byte {
	buf = slices.Grow(buf, 1+3*binary.MaxVarintLen64+len(e.defs)+len(e.points))
	buf = append(buf, entryPoints)
	buf = binary.AppendUvarint(buf, uint64(tableID))
	buf = binary.AppendUvarint(buf, uint64(e.ndefs))
	buf = append(buf, e.defs...)
	buf = binary.AppendUvarint(buf, uint64(e.npoints))
	return append(buf, e.points...)
}

// entryDecoder reads an entry; errors are sticky.
type entryDecoder struct {
	b   []byte
	err error
}

var errShortEntry = errors.New("entry truncated")

func (d *entryDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *entryDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShortEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *entryDecoder) byte1() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errShortEntry
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *entryDecoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errShortEntry
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *entryDecoder) value() Value {
	t := columnar.Type(d.byte1())
	switch t {
	case columnar.Float64:
		if d.err != nil || len(d.b) < 8 {
			d.err = errShortEntry
			return Value{}
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
		return Double(f)
	case columnar.Int64:
		return Bigint(d.varint())
	case columnar.Timestamp:
		return TimestampValue(d.varint())
	case columnar.String:
		return Varchar(d.str())
	case columnar.Bool:
		return Boolean(d.byte1() != 0)
	}
	if d.err == nil {
		d.err = fmt.Errorf("unknown value type %d", t)
	}
	return Value{}
}

// replayWAL rebuilds the hot tier from the log segments not yet flushed.
func (db *DB) replayWAL() error {
	byTableID := map[uint32]*table{}
	for _, t := range db.tables {
		byTableID[t.id] = t
	}
	ids := map[uint64]*series{}
	var entries, points int
	err := db.wal.Replay(func(seg int, rec []byte) error {
		if seg < db.manifest.WALStart {
			return nil // already in parts
		}
		d := entryDecoder{b: rec}
		if d.byte1() != entryPoints {
			return fmt.Errorf("%w: wal segment %d: unknown entry type", ErrCorruption, seg)
		}
		t := byTableID[uint32(d.uvarint())]
		ndefs := d.uvarint()
		for i := uint64(0); i < ndefs && d.err == nil; i++ {
			id := d.uvarint()
			measure := d.str()
			nd := d.uvarint()
			if nd > uint64(len(d.b)) {
				d.err = errShortEntry
				break
			}
			dims := make([]Dimension, nd)
			for j := range dims {
				dims[j] = Dimension{d.str(), d.str()}
			}
			if t != nil && d.err == nil {
				ids[id] = t.getOrCreateSeries(measure, dims)
			}
		}
		np := d.uvarint()
		var prevT int64
		for i := uint64(0); i < np && d.err == nil; i++ {
			id := d.uvarint()
			p := point{t: prevT + d.varint()}
			prevT = p.t
			p.v = int64(d.uvarint())
			multi := d.byte1() == 1
			if !multi {
				v := d.value()
				p.fields = []fieldValue{{singleField(v.Type), v}}
			} else {
				n := d.uvarint()
				if n > uint64(len(d.b)) {
					d.err = errShortEntry
					break
				}
				for j := uint64(0); j < n && d.err == nil; j++ {
					name := d.str()
					p.fields = append(p.fields, fieldValue{name, d.value()})
				}
			}
			if d.err != nil || t == nil {
				continue // t == nil: the table was deleted after this entry
			}
			s := ids[id]
			if s == nil {
				return fmt.Errorf("%w: wal segment %d: point of undefined series %d", ErrCorruption, seg, id)
			}
			t.registerTypes(s, p, multi)
			t.active.put(s, p)
			t.updateLatest(s, p)
			points++
		}
		if d.err != nil {
			return fmt.Errorf("%w: wal segment %d: %v", ErrCorruption, seg, d.err)
		}
		entries++
		return nil
	})
	if err != nil {
		return fmt.Errorf("tsdb: replay wal: %w", err)
	}
	if entries > 0 {
		db.logger.Info("tsdb: replayed write-ahead log", "entries", entries, "points", points)
	}
	return nil
}

// registerTypes records the column types a point introduces; callers have
// already checked them for conflicts.
func (t *table) registerTypes(s *series, p point, multi bool) {
	if !multi && len(p.fields) == 1 {
		if _, ok := t.measureTypes[s.measure]; !ok {
			t.measureTypes[s.measure] = p.fields[0].val.Type
		}
	}
	for _, f := range p.fields {
		if _, ok := t.fieldTypes[f.name]; !ok {
			t.fieldTypes[f.name] = f.val.Type
		}
	}
}

// updateLatestValue is updateLatest of a single-measure point: time tm,
// version ver, value v.
func (t *table) updateLatestValue(s *series, tm, ver int64, v *Value) {
	if !s.latestSet || tm > s.latest.t || (tm == s.latest.t && ver >= s.latest.v) {
		s.latest.t, s.latest.v = tm, ver
		if cap(s.latest.fields) <= 1 {
			// nil or latest1 (see updateLatest): set only when nil, which
			// spares a pointer store (and its write barrier).
			s.latest1[0] = fieldValue{singleField(v.Type), *v}
			if cap(s.latest.fields) == 0 {
				s.latest.fields = s.latest1[:]
			}
		} else {
			s.latest.fields = append(s.latest.fields[:0], fieldValue{singleField(v.Type), *v})
		}
		s.latestSet = true
	}
}

// updateLatest keeps the latest-point cache: the newest time wins; at the
// same time a higher version wins.
func (t *table) updateLatest(s *series, p point) {
	if !s.latestSet || p.t > s.latest.t || (p.t == s.latest.t && p.v >= s.latest.v) {
		// Copy the values: p.fields may live in a write batch's arena.
		s.latest.t, s.latest.v = p.t, p.v
		if len(p.fields) == 1 && cap(s.latest.fields) <= 1 {
			// nil or latest1: the common single value needs no array of
			// its own.
			s.latest1[0] = p.fields[0]
			s.latest.fields = s.latest1[:]
		} else {
			s.latest.fields = append(s.latest.fields[:0], p.fields...)
		}
		s.latestSet = true
	}
}
