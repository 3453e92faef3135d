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

// schemaState is the writer's inferred schema, grown by every object.
type schemaState struct {
	types map[string]colType
}

func newSchemaState() *schemaState { return &schemaState{types: map[string]colType{}} }

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

// observe folds the types of the events in lines (one JSON object per
// line, validated) into the schema.
func (s *schemaState) observe(lines []byte) {
	forEachLine(lines, func(line []byte) {
		_ = scanObject(line, func(key []byte, keyEsc bool, kind valueKind, _ []byte, _ bool) {
			t := typeOf(kind)
			if keyEsc {
				k := keyString(key, true)
				s.types[k] = merge(s.types[k], t)
				return
			}
			cur, ok := s.types[string(key)] // no allocation for the lookup
			if !ok || merge(cur, t) != cur {
				s.types[string(key)] = merge(cur, t)
			}
		})
	})
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
			n = parquet.String()
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

// rowChunk is how many rows are converted before each WriteRows call.
const rowChunk = 1024

// writeParquet converts the events in lines (one validated JSON object per
// line) to a Parquet object on w, after folding their types into state.
// meta is stored as key/value metadata of the file.
func writeParquet(w io.Writer, lines []byte, state *schemaState, meta map[string]string) error {
	state.observe(lines)
	schema := state.parquetSchema()
	cols := schema.Columns()
	index := make(map[string]int, len(cols))
	types := make([]colType, len(cols))
	for i, path := range cols {
		index[path[0]] = i
		types[i] = state.types[path[0]]
	}
	opts := []parquet.WriterOption{schema, parquet.Compression(&parquet.Snappy), parquet.CreatedBy("sluice", "", "")}
	for k, v := range meta {
		opts = append(opts, parquet.KeyValueMetadata(k, v))
	}
	pw := parquet.NewWriter(w, opts...)
	ncol := len(cols)
	slab := make([]parquet.Value, rowChunk*ncol)
	rows := make([]parquet.Row, 0, rowChunk)
	var err error
	flush := func() {
		if err == nil && len(rows) > 0 {
			_, err = pw.WriteRows(rows)
		}
		rows = rows[:0]
	}
	forEachLine(lines, func(line []byte) {
		if err != nil {
			return
		}
		if len(rows) == rowChunk {
			flush()
		}
		n := len(rows)
		row := parquet.Row(slab[n*ncol : (n+1)*ncol : (n+1)*ncol])
		for i := range row {
			row[i] = parquet.NullValue().Level(0, 0, i)
		}
		_ = scanObject(line, func(key []byte, keyEsc bool, kind valueKind, val []byte, valEsc bool) {
			var c int
			var ok bool
			if keyEsc || !utf8.Valid(key) {
				c, ok = index[keyString(key, keyEsc)]
			} else {
				c, ok = index[string(key)]
			}
			if !ok {
				return // cannot happen: observe saw every key
			}
			row[c] = cellValue(types[c], kind, val, valEsc).Level(0, 1, c)
			if kind == kindNull {
				row[c] = parquet.NullValue().Level(0, 0, c)
			}
		})
		rows = append(rows, row)
	})
	flush()
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
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
		f, _ := strconv.ParseFloat(string(val), 64) // validated; ±Inf beyond range
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
