// Package timestream holds the JSON shapes of Timestream's WriteRecords
// request (Record, Dimension, MeasureValue, CommonAttributes) and their
// conversion to tsdb records, shared by the native write endpoint and the
// AWS-compatible API. It is pure: no I/O, safe for concurrent use.
package timestream

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// MaxRecords is Timestream's limit of records per WriteRecords call.
const MaxRecords = 100

// WriteRequest is the body of WriteRecords (database and table names are
// optional here because the native endpoint takes them from the path).
type WriteRequest struct {
	DatabaseName     string  `json:"DatabaseName,omitempty"`
	TableName        string  `json:"TableName,omitempty"`
	CommonAttributes *Record `json:"CommonAttributes,omitempty"`
	Records          []Record
}

// Record is Timestream's Record shape.
type Record struct {
	Dimensions       []Dimension    `json:"Dimensions,omitempty"`
	MeasureName      string         `json:"MeasureName,omitempty"`
	MeasureValue     *string        `json:"MeasureValue,omitempty"`
	MeasureValueType string         `json:"MeasureValueType,omitempty"`
	MeasureValues    []MeasureValue `json:"MeasureValues,omitempty"`
	Time             string         `json:"Time,omitempty"`
	TimeUnit         string         `json:"TimeUnit,omitempty"`
	Version          *int64         `json:"Version,omitempty"`
}

// Dimension is Timestream's Dimension shape.
type Dimension struct {
	Name               string
	Value              string
	DimensionValueType string `json:"DimensionValueType,omitempty"`
}

// MeasureValue is one value of a MULTI record.
type MeasureValue struct {
	Name  string
	Value string
	Type  string
}

// RejectedRecord is one entry of RejectedRecordsException.
type RejectedRecord struct {
	RecordIndex     int
	Reason          string
	ExistingVersion *int64 `json:"ExistingVersion,omitempty"`
}

// Convert merges CommonAttributes into each record and converts them. A
// record that cannot be converted is reported in rejected (by its index) and
// left out of recs; idx maps each converted record back to its index.
func Convert(req *WriteRequest) (recs []tsdb.Record, idx []int, rejected []RejectedRecord) {
	for i := range req.Records {
		r, err := convert(req.CommonAttributes, &req.Records[i])
		if err != nil {
			rejected = append(rejected, RejectedRecord{RecordIndex: i, Reason: err.Error()})
			continue
		}
		recs = append(recs, r)
		idx = append(idx, i)
	}
	return recs, idx, rejected
}

func convert(common, r *Record) (tsdb.Record, error) {
	var out tsdb.Record
	m := *r
	if common != nil {
		m.Dimensions = append(append([]Dimension(nil), common.Dimensions...), r.Dimensions...)
		if m.MeasureName == "" {
			m.MeasureName = common.MeasureName
		}
		if m.MeasureValue == nil {
			m.MeasureValue = common.MeasureValue
		}
		if m.MeasureValueType == "" {
			m.MeasureValueType = common.MeasureValueType
		}
		if m.MeasureValues == nil {
			m.MeasureValues = common.MeasureValues
		}
		if m.Time == "" {
			m.Time = common.Time
		}
		if m.TimeUnit == "" {
			m.TimeUnit = common.TimeUnit
		}
		if m.Version == nil {
			m.Version = common.Version
		}
	}
	seen := map[string]bool{}
	for _, d := range m.Dimensions {
		if d.DimensionValueType != "" && !strings.EqualFold(d.DimensionValueType, "VARCHAR") {
			return out, fmt.Errorf("dimension %q has DimensionValueType %q; only VARCHAR is supported", d.Name, d.DimensionValueType)
		}
		if seen[d.Name] {
			return out, fmt.Errorf("dimension %q appears more than once (in the record and CommonAttributes?)", d.Name)
		}
		seen[d.Name] = true
		out.Dimensions = append(out.Dimensions, tsdb.Dimension{Name: d.Name, Value: d.Value})
	}
	out.MeasureName = m.MeasureName
	if m.Time == "" {
		return out, fmt.Errorf("time is missing")
	}
	t, err := ParseTime(m.Time, m.TimeUnit)
	if err != nil {
		return out, err
	}
	out.Time = t
	if m.Version != nil {
		if *m.Version < 1 {
			return out, fmt.Errorf("version %d is invalid; versions start at 1", *m.Version)
		}
		out.Version = *m.Version
	}
	typ := strings.ToUpper(m.MeasureValueType)
	if typ == "" {
		typ = "DOUBLE"
	}
	if typ == "MULTI" {
		if m.MeasureValue != nil {
			return out, fmt.Errorf("a MULTI record takes MeasureValues, not MeasureValue")
		}
		if len(m.MeasureValues) == 0 {
			return out, fmt.Errorf("a MULTI record needs MeasureValues")
		}
		for _, mv := range m.MeasureValues {
			v, err := ParseValue(mv.Value, mv.Type)
			if err != nil {
				return out, fmt.Errorf("measure value %q: %w", mv.Name, err)
			}
			out.Multi = append(out.Multi, tsdb.MeasureValue{Name: mv.Name, Value: v})
		}
		return out, nil
	}
	if len(m.MeasureValues) > 0 {
		return out, fmt.Errorf("MeasureValues are only allowed with MeasureValueType MULTI")
	}
	if m.MeasureValue == nil {
		return out, fmt.Errorf("MeasureValue is missing")
	}
	if out.Value, err = ParseValue(*m.MeasureValue, typ); err != nil {
		return out, fmt.Errorf("measure %q: %w", m.MeasureName, err)
	}
	return out, nil
}

// ParseValue parses a measure value string of a Timestream type.
func ParseValue(s, typ string) (tsdb.Value, error) {
	t, err := columnar.ParseType(typ)
	if err != nil {
		return tsdb.Value{}, fmt.Errorf("unknown MeasureValueType %q", typ)
	}
	switch t {
	case columnar.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return tsdb.Value{}, fmt.Errorf("value %q is not a finite DOUBLE", s)
		}
		return tsdb.Double(f), nil
	case columnar.Int64:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return tsdb.Value{}, fmt.Errorf("value %q is not a BIGINT", s)
		}
		return tsdb.Bigint(i), nil
	case columnar.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return tsdb.Value{}, fmt.Errorf("value %q is not a BOOLEAN", s)
		}
		return tsdb.Boolean(b), nil
	case columnar.Timestamp:
		// Timestream's TIMESTAMP measure values are epoch milliseconds.
		ns, err := ParseTime(s, "MILLISECONDS")
		if err != nil {
			return tsdb.Value{}, fmt.Errorf("value %q is not a TIMESTAMP: %w", s, err)
		}
		return tsdb.TimestampValue(ns), nil
	default:
		return tsdb.Varchar(s), nil
	}
}

// ParseTime parses a Time string (an integer count of unit since the epoch)
// into nanoseconds.
func ParseTime(s, unit string) (int64, error) {
	mult := int64(1e6)
	switch strings.ToUpper(unit) {
	case "", "MILLISECONDS":
	case "SECONDS":
		mult = 1e9
	case "MICROSECONDS":
		mult = 1e3
	case "NANOSECONDS":
		mult = 1
	default:
		return 0, fmt.Errorf("TimeUnit %q is not one of MILLISECONDS, SECONDS, MICROSECONDS, NANOSECONDS", unit)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return 0, fmt.Errorf("time %q is not an integer", s)
	}
	n.Mul(n, big.NewInt(mult))
	if !n.IsInt64() || n.Sign() < 0 {
		return 0, fmt.Errorf("time %q %s is out of range", s, unit)
	}
	return n.Int64(), nil
}
