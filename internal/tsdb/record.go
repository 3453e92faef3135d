package tsdb

import (
	"math"
	"strconv"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Dimension is one name/value pair of a record's series identity.
type Dimension struct {
	Name  string
	Value string
}

// Value is one typed measure value. F holds DOUBLE, I holds BIGINT and
// TIMESTAMP (nanoseconds), S holds VARCHAR, B holds BOOLEAN.
type Value struct {
	Type columnar.Type
	F    float64
	I    int64
	S    string
	B    bool
}

// Double, Bigint, Varchar, Boolean and TimestampValue build Values.
func Double(f float64) Value        { return Value{Type: columnar.Float64, F: f} }
func Bigint(i int64) Value          { return Value{Type: columnar.Int64, I: i} }
func Varchar(s string) Value        { return Value{Type: columnar.String, S: s} }
func Boolean(b bool) Value          { return Value{Type: columnar.Bool, B: b} }
func TimestampValue(ns int64) Value { return Value{Type: columnar.Timestamp, I: ns} }

// Equal reports whether two values are the same for upsert purposes. DOUBLEs
// compare by bits, so that a rewrite of the same reading is a no-op.
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	switch v.Type {
	case columnar.Float64:
		return math.Float64bits(v.F) == math.Float64bits(o.F)
	case columnar.Int64, columnar.Timestamp:
		return v.I == o.I
	case columnar.String:
		return v.S == o.S
	case columnar.Bool:
		return v.B == o.B
	}
	return true
}

// String renders the value the way Timestream's MeasureValue strings do.
func (v Value) String() string {
	switch v.Type {
	case columnar.Float64:
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case columnar.Int64, columnar.Timestamp:
		return strconv.FormatInt(v.I, 10)
	case columnar.String:
		return v.S
	case columnar.Bool:
		return strconv.FormatBool(v.B)
	}
	return ""
}

// MeasureValue is one named value of a multi-measure record.
type MeasureValue struct {
	Name  string
	Value Value
}

// Record is one data point as Timestream models it. A single-measure record
// has Multi == nil and its value in Value; a multi-measure record has its
// values in Multi (and Value unused). Time is in nanoseconds since the Unix
// epoch. Version 0 means the default, 1.
type Record struct {
	Dimensions  []Dimension
	MeasureName string
	Time        int64
	Version     int64
	Value       Value
	Multi       []MeasureValue
}

// Reject reports why one record of a write was not stored. ExistingVersion
// is set (non-zero) when the reason is a conflict with a stored version.
type Reject struct {
	Index           int
	Reason          string
	ExistingVersion int64
}
