package lake

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
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
// and the scratch space of writeParquet, reused from object to object.
type schemaState struct {
	types map[string]colType
	scan  pqScan
	vals  []parquet.Value
}

func newSchemaState() *schemaState {
	s := &schemaState{types: map[string]colType{}}
	s.scan.index = map[string]int{}
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

// parquetSchema builds the Parquet schema of the current state.
func (s *schemaState) parquetSchema() *parquet.Schema {
	g := parquet.Group{}
	for k, t := range s.types {
		var n parquet.Node
		switch t {
		case colDouble:
			n = parquet.Leaf(parquet.DoubleType)
		case colBool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		}
		g[k] = parquet.Optional(n)
	}
	return parquet.NewSchema("event", g)
}

func forEachLine(lines []byte, fn func(line []byte)) {
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		if i < 0 {
			fn(lines)
			return
		}
		fn(lines[:i])
		lines = lines[i+1:]
	}
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
const (
	pqDictMaxBytes = 1 << 20
	pqPageBytes    = 256 << 10
	pqWriteChunk   = 8192 // values handed to a column writer at a time
)

// pqSpan is one top-level member of an event, as positions in the lines
// the object is written from: its value's kind and raw bytes.
type pqSpan struct {
	row      int32
	kind     valueKind
	esc      bool
	off, end int
}

// pqCol collects the members of one key.
type pqCol struct {
	name  string
	t     colType // as in schemaState.types
	spans []pqSpan
}

// pqScan is the single pass over an object's events: every member is
// located once and filed under its column, and the column types are
// folded into the writer's schema at the same time. Columns are kept from
// object to object (the schema only grows); their spans are reset.
type pqScan struct {
	lines []byte
	state *schemaState
	cols  []*pqCol
	index map[string]int
	// byPos caches the column of the key at each member position of the
	// previous event: events of one source repeat their keys in the same
	// order, so a byte compare replaces the map lookup.
	byPos []pqPos
	row   int32
	pos   int
	nrows int // expected rows, to size new columns' spans
}

type pqPos struct {
	key []byte
	col int
}

func (p *pqScan) column(key []byte, esc bool) int {
	if !esc && p.pos < len(p.byPos) && string(p.byPos[p.pos].key) == string(key) {
		return p.byPos[p.pos].col
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
		p.cols = append(p.cols, &pqCol{name: name, t: p.state.types[name], spans: make([]pqSpan, 0, p.nrows)})
		p.index[name] = c
		if _, seen := p.state.types[name]; !seen {
			p.state.types[name] = colNone
		}
	}
	if !esc {
		if p.pos < len(p.byPos) {
			p.byPos[p.pos] = pqPos{key, c}
		} else if p.pos == len(p.byPos) {
			p.byPos = append(p.byPos, pqPos{key, c})
		}
	}
	return c
}

func (p *pqScan) member(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool) {
	c := p.column(key, keyEsc)
	p.pos++
	col := p.cols[c]
	if t := merge(col.t, typeOf(kind)); t != col.t {
		col.t = t
		p.state.types[col.name] = t
	}
	off := 0
	if val != nil {
		// val is a sub-slice of p.lines reaching to its capacity's end
		// (forEachLine and scanObject only cut from the front and the
		// length), so the capacities give its offset.
		off = cap(p.lines) - cap(val)
	}
	col.spans = append(col.spans, pqSpan{row: p.row, kind: kind, esc: valEsc, off: off, end: off + len(val)})
}

// writeParquet converts the events in lines (one validated JSON object per
// line) to a Parquet object on w, after folding their types into state.
// meta is stored as key/value metadata of the file.
func writeParquet(w io.Writer, lines []byte, state *schemaState, meta map[string]string) error {
	sc := &state.scan
	sc.lines, sc.state, sc.row = lines, state, 0
	sc.nrows = bytes.Count(lines, []byte{'\n'}) + 1
	for _, c := range sc.cols {
		c.spans = c.spans[:0]
	}
	defer func() {
		// Do not keep the lines alive through the cache.
		sc.lines = nil
		clear(sc.byPos)
		sc.byPos = sc.byPos[:0]
	}()
	member := sc.member
	forEachLine(lines, func(line []byte) {
		sc.pos = 0
		_ = scanObject(line, member)
		sc.row++
	})
	nrows := int(sc.row)
	schema := state.parquetSchema()
	opts := []parquet.WriterOption{schema, parquet.Compression(&parquet.Uncompressed), parquet.CreatedBy("sluice", "", ""),
		parquet.DictionaryMaxBytes(pqDictMaxBytes), parquet.PageBufferSize(pqPageBytes)}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	pw := parquet.NewWriter(w, opts...)
	writers := pw.ColumnWriters()
	if cap(state.vals) < nrows {
		state.vals = make([]parquet.Value, nrows)
	}
	vals := state.vals[:nrows]
	defer clear(vals) // they point into lines
	for leaf, path := range schema.Columns() {
		name := path[0]
		t := state.types[name]
		null := parquet.NullValue().Level(0, 0, leaf)
		for i := range vals {
			vals[i] = null
		}
		if c, ok := sc.index[name]; ok {
			for _, sp := range sc.cols[c].spans {
				if sp.kind == kindNull {
					vals[sp.row] = null
					continue
				}
				vals[sp.row] = cellValue(t, sp.kind, lines[sp.off:sp.end], sp.esc).Level(0, 1, leaf)
			}
		}
		for lo := 0; lo < nrows; lo += pqWriteChunk {
			if _, err := writers[leaf].WriteRowValues(vals[lo:min(nrows, lo+pqWriteChunk)]); err != nil {
				return fmt.Errorf("write parquet column %q: %w", name, err)
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
