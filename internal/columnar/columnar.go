// Package columnar holds typed column vectors and batches of them. It is the
// currency between the storage engine's scans and the SQL executor.
//
// A Column stores one concrete Go slice for its type; the others stay nil.
// Nulls is nil when the column has no NULLs, otherwise it has one entry per
// row. Columns and Batches are not safe for concurrent mutation; a Batch
// handed to a reader is not modified by its producer afterwards (unless
// the producer says otherwise, as lake scans do: see Hold), and readers do
// not modify what they are handed.
//
// Two optional annotations ride along with a column without changing what
// its slices hold (dict.go, hold.go): a VARCHAR column may carry dictionary
// codes (Codes) that readers who understand them use instead of the
// strings, and a column may be reference-counted by its producer (Retain)
// so that a reader can keep it past its callback without copying it.
// Neither survives a change of the column: appending changes its length,
// which codes are checked against, and Reset and SpreadLevels drop both.
package columnar

import (
	"fmt"
	"strings"
)

// Type is the logical type of a column. The names follow Timestream's.
type Type uint8

const (
	Unknown   Type = iota
	Bool           // BOOLEAN, in Bools
	Int64          // BIGINT, in Ints
	Float64        // DOUBLE, in Floats
	String         // VARCHAR, in Strs
	Timestamp      // TIMESTAMP, nanoseconds since the Unix epoch (UTC), in Ints
	Date           // DATE, days since the Unix epoch, in Ints
	Interval       // INTERVAL (day to second), nanoseconds, in Ints
)

var typeNames = [...]string{Unknown: "UNKNOWN", Bool: "BOOLEAN", Int64: "BIGINT", Float64: "DOUBLE", String: "VARCHAR", Timestamp: "TIMESTAMP", Date: "DATE", Interval: "INTERVAL"}

// UsesInts reports whether values of t live in Column.Ints.
func (t Type) UsesInts() bool { return t == Int64 || t == Timestamp || t == Date || t == Interval }

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType maps a Timestream type name (any case) to a Type.
func ParseType(s string) (Type, error) {
	for t, name := range typeNames {
		if t != int(Unknown) && strings.EqualFold(s, name) {
			return Type(t), nil
		}
	}
	return Unknown, fmt.Errorf("columnar: unknown type %q (want BOOLEAN, BIGINT, DOUBLE, VARCHAR or TIMESTAMP)", s)
}

// Column is a vector of values of one Type.
type Column struct {
	Type   Type
	Bools  []bool
	Ints   []int64
	Floats []float64
	Strs   []string
	Nulls  []bool // nil: no NULLs; else Nulls[i] reports whether row i is NULL

	// ann is what the producer told readers about the storage (codes,
	// hold); nil for most columns. It is never modified once attached, so
	// copies of a Column may share it: setters attach a new one.
	ann *annotations
}

// annotations of a column's storage. One pointer in Column rather than
// fields of their own: columns are embedded in per-series memtable
// entries, where every byte counts per series.
type annotations struct {
	// dictionary codes of Strs (see SetCodes); valid only while Strs
	// still starts at strs0 and has len(codes) rows.
	codes []int32
	dict  *Dict
	strs0 *string
	// hold reference-counts the storage for its producer (see Retain).
	hold *Hold
}

// annotate attaches a copy of c's annotations changed by f, or none if
// the result holds nothing.
func (c *Column) annotate(f func(a *annotations)) {
	var a annotations
	if c.ann != nil {
		a = *c.ann
	}
	f(&a)
	if a.dict == nil && a.hold == nil {
		c.ann = nil
		return
	}
	c.ann = &a
}

// NewColumn returns an empty column of type t with room for n rows.
func NewColumn(t Type, n int) *Column {
	c := &Column{Type: t}
	switch t {
	case Bool:
		c.Bools = make([]bool, 0, n)
	case Int64, Timestamp, Date, Interval:
		c.Ints = make([]int64, 0, n)
	case Float64:
		c.Floats = make([]float64, 0, n)
	case String:
		c.Strs = make([]string, 0, n)
	}
	return c
}

// Len reports the number of rows.
func (c *Column) Len() int {
	switch c.Type {
	case Bool:
		return len(c.Bools)
	case Int64, Timestamp, Date, Interval:
		return len(c.Ints)
	case Float64:
		return len(c.Floats)
	case String:
		return len(c.Strs)
	}
	return len(c.Nulls)
}

// IsNull reports whether row i is NULL.
func (c *Column) IsNull(i int) bool { return c.Nulls != nil && c.Nulls[i] }

// Reset truncates the column to zero rows, keeping its memory.
func (c *Column) Reset() {
	c.dropAnnotations()
	c.Bools = c.Bools[:0]
	c.Ints = c.Ints[:0]
	c.Floats = c.Floats[:0]
	c.Strs = c.Strs[:0]
	c.Nulls = nil
}

// AppendNull appends a NULL row (with the zero value in the data slice).
func (c *Column) AppendNull() {
	n := c.Len()
	if c.Nulls == nil {
		c.Nulls = make([]bool, n, n+16)
	}
	c.Nulls = append(c.Nulls, true)
	switch c.Type {
	case Bool:
		c.Bools = append(c.Bools, false)
	case Int64, Timestamp, Date, Interval:
		c.Ints = append(c.Ints, 0)
	case Float64:
		c.Floats = append(c.Floats, 0)
	case String:
		c.Strs = append(c.Strs, "")
	}
}

// markValid keeps Nulls in step after a non-NULL append.
func (c *Column) markValid() {
	if c.Nulls != nil {
		c.Nulls = append(c.Nulls, false)
	}
}

// AppendBool appends a BOOLEAN value.
func (c *Column) AppendBool(v bool) { c.Bools = append(c.Bools, v); c.markValid() }

// AppendInt appends a BIGINT or TIMESTAMP value.
func (c *Column) AppendInt(v int64) { c.Ints = append(c.Ints, v); c.markValid() }

// AppendFloat appends a DOUBLE value.
func (c *Column) AppendFloat(v float64) { c.Floats = append(c.Floats, v); c.markValid() }

// AppendString appends a VARCHAR value.
func (c *Column) AppendString(v string) { c.Strs = append(c.Strs, v); c.markValid() }

// AppendFrom appends row i of src, which must have the same Type.
func (c *Column) AppendFrom(src *Column, i int) {
	if src.IsNull(i) {
		c.AppendNull()
		return
	}
	switch c.Type {
	case Bool:
		c.AppendBool(src.Bools[i])
	case Int64, Timestamp, Date, Interval:
		c.AppendInt(src.Ints[i])
	case Float64:
		c.AppendFloat(src.Floats[i])
	case String:
		c.AppendString(src.Strs[i])
	}
}

// Value returns row i as an interface value: nil for NULL, else bool, int64,
// float64 or string (timestamps as int64 nanoseconds). It is for tests and
// slow paths; hot paths read the typed slices.
func (c *Column) Value(i int) any {
	if c.IsNull(i) {
		return nil
	}
	switch c.Type {
	case Bool:
		return c.Bools[i]
	case Int64, Timestamp, Date, Interval:
		return c.Ints[i]
	case Float64:
		return c.Floats[i]
	case String:
		return c.Strs[i]
	}
	return nil
}

// Batch is a set of equally long named columns.
type Batch struct {
	Names []string
	Cols  []*Column
}

// Len reports the number of rows.
func (b *Batch) Len() int {
	if b == nil || len(b.Cols) == 0 {
		return 0
	}
	return b.Cols[0].Len()
}

// Col returns the column with the given name, or nil.
func (b *Batch) Col(name string) *Column {
	for i, n := range b.Names {
		if n == name {
			return b.Cols[i]
		}
	}
	return nil
}

// Add appends a column to the batch and returns it.
func (b *Batch) Add(name string, c *Column) *Column {
	b.Names = append(b.Names, name)
	b.Cols = append(b.Cols, c)
	return c
}

// Validate checks that all columns have the same length.
func (b *Batch) Validate() error {
	n := b.Len()
	for i, c := range b.Cols {
		if c.Len() != n {
			return fmt.Errorf("columnar: column %q has %d rows, want %d", b.Names[i], c.Len(), n)
		}
		if c.Nulls != nil && len(c.Nulls) != n {
			return fmt.Errorf("columnar: column %q has %d null flags, want %d", b.Names[i], len(c.Nulls), n)
		}
	}
	return nil
}

// SpreadLevels turns the nn dense (non-NULL) values appended to c at row
// start into len(levels) rows, inserting NULLs where levels[i] is 0: the
// shape Parquet's definition levels give a page of an optional column.
// levels == nil means the nn values hold no NULLs. It works in place,
// moving values from the back.
func (c *Column) SpreadLevels(levels []byte, start, nn int) {
	c.dropAnnotations()
	if levels == nil {
		if c.Nulls != nil {
			for range nn {
				c.Nulls = append(c.Nulls, false)
			}
		}
		return
	}
	if c.Nulls == nil {
		c.Nulls = make([]bool, start, start+len(levels))
	}
	switch {
	case c.Type == Bool:
		c.Bools = spreadSlice(c.Bools, levels, start, nn)
	case c.Type.UsesInts():
		c.Ints = spreadSlice(c.Ints, levels, start, nn)
	case c.Type == Float64:
		c.Floats = spreadSlice(c.Floats, levels, start, nn)
	case c.Type == String:
		c.Strs = spreadSlice(c.Strs, levels, start, nn)
	}
	for _, l := range levels {
		c.Nulls = append(c.Nulls, l == 0)
	}
}

func spreadSlice[T any](s []T, levels []byte, start, nn int) []T {
	var zero T
	n := len(levels)
	s = append(s, make([]T, n-nn)...)
	j := start + nn - 1
	for i := n - 1; i >= 0; i-- {
		if levels[i] == 0 {
			s[start+i] = zero
		} else {
			s[start+i] = s[j]
			j--
		}
	}
	return s
}
