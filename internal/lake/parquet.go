package lake

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// Parquet objects hold one row per event and one optional column per
// top-level key, inferred from the events (the Glue crawler's job done at
// write time). The rule, per key:
//
//   - JSON numbers → DOUBLE, booleans → BOOLEAN, strings → STRING (UTF-8
//     byte array); nested objects and arrays → STRING holding their JSON
//     text; null or a missing key → NULL.
//   - A key whose values have had two different types (in this object or
//     any earlier object of the same writer) is a STRING from then on, and
//     every value is written as its JSON text (numbers exactly as sent,
//     booleans as true/false, strings unquoted).
//   - The schema only grows: each object has every column of the objects
//     the writer wrote before (NULL where absent), plus the keys new in its
//     events. A key seen only with null values is a STRING column.
//
// So readers that merge the schemas of several objects (Athena, DuckDB,
// the lake tables) see columns appear over time and, for a key that once
// changed type, DOUBLE or BOOLEAN in older objects and STRING in newer
// ones. Keys are case-sensitive, as in the JSON.

// colType is an inferred column type.
type colType uint8

const (
	colNone colType = iota // only nulls so far
	colDouble
	colBool
	colString
)

// schemaState is the writer's inferred schema, grown by every object,
// the resolution of keys to columns, and the scratch space of
// writeParquet, reused from object to object.
type schemaState struct {
	types map[string]colType
	scan  pqScan
	vals  []parquet.Value
	// scratch of sortedDistinct
	seed   maphash.Seed
	hashes []uint64
	keyed  []keyedValue
}

func newSchemaState() *schemaState {
	s := &schemaState{types: map[string]colType{}}
	s.scan.index = map[string]int{}
	s.scan.state = s
	s.scan.memberFn = s.scan.member
	return s
}

func typeOf(k valueKind) colType {
	switch k {
	case kindNull:
		return colNone
	case kindNumber:
		return colDouble
	case kindBool:
		return colBool
	default:
		return colString
	}
}

// merge returns the column type after seeing a value of type t.
func merge(cur, t colType) colType {
	switch {
	case t == colNone:
		return cur
	case cur == colNone || cur == t:
		return t
	default:
		return colString
	}
}

// keyString returns a member key as a Go string (unescaped).
func keyString(key []byte, esc bool) string {
	if esc || !utf8.Valid(key) {
		return string(unescape(key))
	}
	return string(key)
}

// parquetSchema builds the Parquet schema of the current state; dicts,
// if not nil, holds the sorted dictionary of STRING columns by name
// (see sortedDict).
func (s *schemaState) parquetSchema(dicts map[string][]parquet.Value) *parquet.Schema {
	g := parquet.Group{}
	for k, t := range s.types {
		var n parquet.Node
		switch t {
		case colDouble:
			n = parquet.Leaf(parquet.DoubleType)
		case colBool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.String()
			if d := dicts[k]; len(d) > 0 {
				n = parquet.Leaf(sortedDict{Type: n.Type(), entries: d})
			}
			n = parquet.Encoded(n, &parquet.RLEDictionary)
		}
		g[k] = parquet.Optional(n)
	}
	return parquet.NewSchema("event", g)
}

// sortedDict is a STRING type whose dictionaries start with entries (the
// column's distinct values, in byte order): parquet-go numbers values in
// the order it first meets them, so without this an object's dictionary
// lists device ids in the order the devices happened to report. Sorted,
// the dictionaries of two objects holding the same ids are identical
// (scans reuse the decoded dictionary and what they found out about it),
// and a dictionary can be binary-searched.
type sortedDict struct {
	parquet.Type
	entries []parquet.Value
}

func (t sortedDict) NewDictionary(columnIndex, numValues int, data encoding.Values) parquet.Dictionary {
	d := t.Type.NewDictionary(columnIndex, numValues, data)
	if d.Len() == 0 {
		d.Insert(make([]int32, len(t.entries)), t.entries)
	}
	return d
}

// sortedDistinct returns the distinct non-NULL values of col in byte
// order, or nil when their dictionary would outgrow pqDictMaxBytes (the
// column then falls back to PLAIN anyway). The values alias col's bytes.
//
// It costs about a tenth of writing the column: values are told apart by
// a 64-bit hash in a flat table (a map of strings costed a third of the
// object's write: a lookup follows each key into memory, an insert
// copies it), and sorted by their first 8 bytes, then by all of them.
// Two values whose hashes collided would count as one, and parquet-go
// would append the other to the dictionary, unsorted: still a correct
// object, and about one in 10^11 for 10,000 distinct strings.
func (s *schemaState) sortedDistinct(col []parquet.Value) []parquet.Value {
	if s.hashes == nil {
		s.seed = maphash.MakeSeed()
		s.hashes = make([]uint64, 1<<10)
	}
	clear(s.hashes)
	keyed := s.keyed[:0]
	size := 0
	mask := uint64(len(s.hashes) - 1)
	for _, v := range col {
		if v.IsNull() {
			continue
		}
		b := v.ByteArray()
		h := maphash.Bytes(s.seed, b) | 1 // 0 marks a free slot
		i := h & mask
		for s.hashes[i] != 0 && s.hashes[i] != h {
			i = (i + 1) & mask
		}
		if s.hashes[i] == h {
			continue
		}
		if size += 4 + len(b); size > pqDictMaxBytes {
			clear(keyed)
			s.keyed = keyed[:0]
			return nil
		}
		s.hashes[i] = h
		var pre [8]byte
		copy(pre[:], b)
		keyed = append(keyed, keyedValue{binary.BigEndian.Uint64(pre[:]), v})
		if 2*len(keyed) > len(s.hashes) { // keep the table at most half full
			s.hashes = make([]uint64, 2*len(s.hashes))
			mask = uint64(len(s.hashes) - 1)
			for _, kv := range keyed {
				h := maphash.Bytes(s.seed, kv.v.ByteArray()) | 1
				i := h & mask
				for s.hashes[i] != 0 {
					i = (i + 1) & mask
				}
				s.hashes[i] = h
			}
		}
	}
	slices.SortFunc(keyed, func(a, b keyedValue) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return bytes.Compare(a.v.ByteArray(), b.v.ByteArray())
	})
	out := make([]parquet.Value, len(keyed))
	for i, kv := range keyed {
		out[i] = kv.v
	}
	clear(keyed) // they point into the events
	s.keyed = keyed[:0]
	return out
}

// keyedValue is a value with its first 8 bytes, big-endian (zero-padded),
// which order it as its bytes do unless they are equal.
type keyedValue struct {
	prefix uint64
	v      parquet.Value
}

// Tuning of the objects, chosen for scans (see BENCHMARKS.md):
//
//   - Strings are dictionary-encoded (RLE_DICTIONARY): device ids and other
//     low-cardinality strings become small integer codes, which are what
//     makes a GROUP BY device id cheap to read. A column whose dictionary
//     outgrows pqDictMaxBytes falls back to PLAIN for the rest of the
//     object, so unique-per-event strings do not pay for a useless
//     dictionary.
//   - No compression codec. Dictionaries and the PLAIN encoding of
//     numbers already make objects about 3x smaller than the JSON Lines;
//     Snappy would take them from ~54 to ~33 bytes per seed event, but
//     decompressing was the largest cost of a scan (+40% CPU per row for
//     a filter and aggregates over three columns, +50% for a GROUP BY
//     device) and compressing a quarter of the writer's CPU time, and
//     sensor readings' mantissas gain only 1.7-3.5x from it.
//   - One row group per object (objects are a few MB), pages of up to
//     pqPageBytes.
//   - Dictionaries sorted (sortedDict): objects holding the same set of
//     strings (a steady fleet's device ids) have identical dictionaries.
const (
	pqDictMaxBytes = 1 << 20
	pqPageBytes    = 256 << 10
	pqWriteChunk   = 8192 // values handed to a column writer at a time
)

// pqSpan is one top-level member of an event of a run: its column, its
// row (the event's index in the run), its value's kind and the position
// of its raw bytes in the run's lines.
type pqSpan struct {
	col  int32
	row  int32
	off  int
	n    int32
	kind valueKind
	esc  bool
}

// pqCol is a key the writer has met.
type pqCol struct {
	name  string
	t     colType // state.types[name], when typed
	typed bool    // name is in state.types
}

// pqScan resolves the members of events to columns while Add validates
// them, so each event is scanned once: writeParquet works from the spans.
// Columns are kept for the writer's life (the schema only grows).
type pqScan struct {
	state    *schemaState
	cols     []*pqCol
	index    map[string]int
	memberFn memberFunc // member, bound once
	// byPos caches the column of the key at each member position of the
	// previous event: events of one source repeat their keys in the same
	// order, so a string compare replaces the map lookup.
	byPos []int
	pos   int
	// The event being scanned: its run, its bytes, and where they will
	// start in the run's lines.
	r    *run
	src  []byte
	base int
}

func (p *pqScan) column(key []byte, esc bool) int {
	if !esc && p.pos < len(p.byPos) {
		if c := p.byPos[p.pos]; p.cols[c].name == string(key) {
			return c
		}
	}
	var name string
	c, ok := 0, false
	if esc || !utf8.Valid(key) {
		name = keyString(key, esc)
		c, ok = p.index[name]
	} else {
		c, ok = p.index[string(key)] // no allocation for the lookup
	}
	if !ok {
		if name == "" {
			name = string(key)
		}
		c = len(p.cols)
		t, typed := p.state.types[name]
		p.cols = append(p.cols, &pqCol{name: name, t: t, typed: typed})
		p.index[name] = c
	}
	if !esc {
		if p.pos < len(p.byPos) {
			p.byPos[p.pos] = c
		} else if p.pos == len(p.byPos) {
			p.byPos = append(p.byPos, c)
		}
	}
	return c
}

func (p *pqScan) member(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool) {
	c := p.column(key, keyEsc)
	p.pos++
	off := p.base
	if val != nil {
		// val is a sub-slice of src sharing the end of its capacity.
		off += cap(p.src) - cap(val)
	}
	p.r.spans = append(p.r.spans, pqSpan{col: int32(c), row: int32(p.r.events), off: off, n: int32(len(val)), kind: kind, esc: valEsc})
}

// addEvent classifies an event as classify does and, when it is a valid
// line, records its members in r.spans for the row it will be in r (the
// caller appends it to r.lines and counts it).
func (s *schemaState) addEvent(r *run, b []byte) (code, msg string) {
	p := &s.scan
	mark := len(r.spans)
	p.r, p.src, p.base, p.pos = r, b, len(r.lines), 0
	code, msg = classifyWith(b, p.memberFn)
	p.r, p.src = nil, nil
	if code != "" {
		r.spans = r.spans[:mark]
	}
	return code, msg
}

// writeParquet converts the events of a run (lines: one validated JSON
// object per line, nrows of them; spans: their members, from addEvent) to
// a Parquet object on w, after folding their types into state. meta is
// stored as key/value metadata of the file.
func writeParquet(w io.Writer, lines []byte, spans []pqSpan, nrows int, state *schemaState, meta map[string]string) error {
	sc := &state.scan
	for i := range spans {
		c := sc.cols[spans[i].col]
		if t := merge(c.t, typeOf(spans[i].kind)); !c.typed || t != c.t {
			c.t, c.typed = t, true
			state.types[c.name] = t
		}
	}
	schema := state.parquetSchema(nil)
	leaves := schema.Columns()
	if need := len(leaves) * nrows; cap(state.vals) < need {
		state.vals = make([]parquet.Value, need)
	}
	vals := state.vals[:len(leaves)*nrows]
	defer clear(vals) // they point into lines
	leafOf := make([]int32, len(sc.cols))
	for i := range leafOf {
		leafOf[i] = -1
	}
	types := make([]colType, len(leaves))
	for leaf, path := range leaves {
		if c, ok := sc.index[path[0]]; ok {
			leafOf[c] = int32(leaf)
		}
		types[leaf] = state.types[path[0]]
		null := parquet.NullValue().Level(0, 0, leaf)
		col := vals[leaf*nrows : (leaf+1)*nrows]
		for i := range col {
			col[i] = null
		}
	}
	for _, sp := range spans {
		leaf := int(leafOf[sp.col])
		if leaf < 0 || int(sp.row) >= nrows {
			continue // cannot happen: every span's column was typed above
		}
		if sp.kind == kindNull {
			vals[leaf*nrows+int(sp.row)] = parquet.NullValue().Level(0, 0, leaf)
			continue
		}
		vals[leaf*nrows+int(sp.row)] = cellValue(types[leaf], sp.kind, lines[sp.off:sp.off+int(sp.n)], sp.esc).Level(0, 1, leaf)
	}
	// The same schema (same leaves, in the same order) with each STRING
	// column's dictionary sorted.
	var dicts map[string][]parquet.Value
	for leaf, path := range leaves {
		if types[leaf] != colString && types[leaf] != colNone {
			continue
		}
		if d := state.sortedDistinct(vals[leaf*nrows : (leaf+1)*nrows]); len(d) > 0 {
			if dicts == nil {
				dicts = map[string][]parquet.Value{}
			}
			dicts[path[0]] = d
		}
	}
	if dicts != nil {
		schema = state.parquetSchema(dicts)
	}
	opts := []parquet.WriterOption{schema, parquet.Compression(&parquet.Uncompressed), parquet.CreatedBy("sluice", "", ""),
		parquet.DictionaryMaxBytes(pqDictMaxBytes), parquet.PageBufferSize(pqPageBytes)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	pw := parquet.NewWriter(w, opts...)
	writers := pw.ColumnWriters()
	for leaf, path := range leaves {
		col := vals[leaf*nrows : (leaf+1)*nrows]
		for lo := 0; lo < nrows; lo += pqWriteChunk {
			if _, err := writers[leaf].WriteRowValues(col[lo:min(nrows, lo+pqWriteChunk)]); err != nil {
				return fmt.Errorf("write parquet column %q: %w", path[0], err)
			}
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("finish parquet object: %w", err)
	}
	return nil
}

// cellValue converts one JSON value for a column of type t.
func cellValue(t colType, kind valueKind, val []byte, esc bool) parquet.Value {
	switch {
	case kind == kindNull:
		return parquet.NullValue()
	case t == colDouble:
		f, ok := lakeParseFloat(val)
		if !ok { // validated, so cannot happen; ±Inf beyond range either way
			f, _ = strconv.ParseFloat(string(val), 64)
		}
		return parquet.DoubleValue(f)
	case t == colBool:
		return parquet.BooleanValue(val[0] == 't')
	case kind == kindString && (esc || !utf8.Valid(val)):
		return parquet.ByteArrayValue(unescape(val))
	default:
		// Strings as they are; numbers, booleans, objects and arrays in a
		// STRING column as their JSON text.
		return parquet.ByteArrayValue(val)
	}
}
