// Package csvio reads series from `timestamp,value` CSV and writes insight
// rows (time, value, expected, lower, upper, score, is_anomaly) as CSV, for
// the `sluice insights` and `sluice plot` commands and anyone else moving
// series in and out of files.
//
// Input: one row per point; an optional header row (recognised when its
// first field is not a time). With a header, the columns named time,
// timestamp or ts and value (any case) are used, so the CLI's own output
// reads back; otherwise the first two columns. Blank lines and lines
// starting with # are skipped, and so are rows whose value is empty, NaN
// or null (the forecast rows of the CLI's output). Rows may come in any
// order; ReadSeries sorts them by time.
//
// Times (ParseTime): RFC 3339 with or without fractional seconds
// ("2026-11-25T18:00:00Z", "2026-11-25T19:00:00.5+01:00"), the same with
// a space for the T and without a zone (read as UTC), or an epoch number
// whose unit is told by its magnitude:
//
//	|n| < 1e11  seconds       (up to the year 5138)
//	|n| < 1e14  milliseconds  (1e11 ms is 1973-03-03)
//	|n| < 1e17  microseconds
//	otherwise   nanoseconds
//
// so milliseconds before March 1973 would be read as seconds. Epoch
// numbers may have a fraction ("1764093600.25").
//
// Everything here is stateless or owned by one caller: a Writer is not
// safe for concurrent use; the functions are.
package csvio

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
)

// Header is the output's header row.
var Header = []string{"time", "value", "expected", "lower", "upper", "score", "is_anomaly"}

// ReadSeries reads a series from timestamp,value CSV (see the package
// comment). Errors name the line and the field.
func ReadSeries(r io.Reader) (insights.Series, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var s insights.Series
	ti, vi := 0, 1
	first := true
	sorted := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return insights.Series{}, fmt.Errorf("csvio: reading CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if first {
			first = false
			if _, err := ParseTime(rec[0]); err != nil {
				ti, vi, err = headerColumns(rec)
				if err != nil {
					return insights.Series{}, fmt.Errorf("csvio: line %d: %w", line, err)
				}
				continue
			}
		}
		if ti >= len(rec) || vi >= len(rec) {
			return insights.Series{}, fmt.Errorf("csvio: line %d: %d fields, want a time in field %d and a value in field %d", line, len(rec), ti+1, vi+1)
		}
		vs := strings.TrimSpace(rec[vi])
		if missing(vs) {
			continue
		}
		t, err := ParseTime(rec[ti])
		if err != nil {
			return insights.Series{}, fmt.Errorf("csvio: line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil || math.IsInf(v, 0) {
			return insights.Series{}, fmt.Errorf("csvio: line %d: value %q is not a finite number", line, clip(vs))
		}
		if n := len(s.Times); n > 0 && t < s.Times[n-1] {
			sorted = false
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, v)
	}
	if !sorted {
		sort.Stable(byTime(s))
	}
	return s, nil
}

type byTime insights.Series

func (b byTime) Len() int           { return len(b.Times) }
func (b byTime) Less(i, j int) bool { return b.Times[i] < b.Times[j] }
func (b byTime) Swap(i, j int) {
	b.Times[i], b.Times[j] = b.Times[j], b.Times[i]
	b.Values[i], b.Values[j] = b.Values[j], b.Values[i]
}

func missing(v string) bool {
	return v == "" || strings.EqualFold(v, "nan") || strings.EqualFold(v, "null")
}

// headerColumns finds the time and value columns of a header row.
func headerColumns(rec []string) (ti, vi int, err error) {
	ti, vi = -1, -1
	for i, h := range rec {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "time", "timestamp", "ts":
			if ti < 0 {
				ti = i
			}
		case "value", "measure_value", "measure_value::double", "y":
			if vi < 0 {
				vi = i
			}
		}
	}
	if ti < 0 && vi < 0 {
		if len(rec) < 2 {
			return 0, 0, fmt.Errorf("%q is neither a time nor a header with a time and a value column", clip(strings.Join(rec, ",")))
		}
		if _, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64); err == nil {
			// A number in the value column: a data row with a bad time.
			_, err := ParseTime(rec[0])
			return 0, 0, err
		}
		return 0, 1, nil // unnamed header: the first two columns
	}
	if ti < 0 || vi < 0 || ti == vi {
		return 0, 0, fmt.Errorf("header %q: want columns named time (or timestamp) and value", clip(strings.Join(rec, ",")))
	}
	return ti, vi, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Epoch magnitude limits (see the package comment).
const (
	maxSeconds = 1e11
	maxMillis  = 1e14
	maxMicros  = 1e17
)

// The range of int64 Unix nanoseconds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// ParseTime parses a timestamp (see the package comment) into Unix
// nanoseconds. Times outside what int64 nanoseconds hold (1677-09-21..2262-04-11) are
// errors.
func ParseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty time")
	}
	if c := s[0]; c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9') {
		if !strings.ContainsAny(s, ":T") && !(len(s) == 10 && s[4] == '-' && s[7] == '-') {
			return parseEpoch(s)
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(minTime) || t.After(maxTime) {
				return 0, fmt.Errorf("time %q is outside 1677-09-21..2262-04-11", clip(s))
			}
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("time %q is neither RFC 3339 nor an epoch number", clip(s))
}

// parseEpoch reads an epoch number exactly: integer and fraction digits are
// kept as integers so that nanosecond epochs do not lose precision.
func parseEpoch(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, fmt.Errorf("time %q is neither RFC 3339 nor an epoch number", clip(s))
	}
	neg := false
	body := s
	if body[0] == '-' || body[0] == '+' {
		neg = body[0] == '-'
		body = body[1:]
	}
	ip, fp, _ := strings.Cut(body, ".")
	if ip == "" && fp == "" {
		return bad()
	}
	for _, part := range []string{ip, fp} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return bad()
			}
		}
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > 19 {
		return 0, fmt.Errorf("time %q: epoch number too large", clip(s))
	}
	var whole uint64
	if ip != "" {
		var err error
		whole, err = strconv.ParseUint(ip, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("time %q: epoch number too large", clip(s))
		}
	}
	// Unit by magnitude: nanoseconds per unit.
	var perUnit uint64
	switch {
	case whole < maxSeconds:
		perUnit = 1e9
	case whole < maxMillis:
		perUnit = 1e6
	case whole < maxMicros:
		perUnit = 1e3
	default:
		perUnit = 1
	}
	if whole > math.MaxInt64/perUnit {
		return 0, fmt.Errorf("time %q is outside 1677-09-21..2262-04-11", clip(s))
	}
	ns := whole * perUnit
	// The fraction, to whole nanoseconds (truncated).
	var frac uint64
	scale := perUnit
	for i := 0; i < len(fp) && scale > 1; i++ {
		scale /= 10
		frac += uint64(fp[i]-'0') * scale
	}
	if ns > math.MaxInt64-frac {
		return 0, fmt.Errorf("time %q is outside 1677-09-21..2262-04-11", clip(s))
	}
	v := int64(ns + frac)
	if neg {
		v = -v
	}
	return v, nil
}

// Writer writes insight rows under Header.
type Writer struct {
	cw     *csv.Writer
	scored bool
	wrote  bool
	rec    []string
}

// NewWriter returns a Writer to w. When scored is false (forecasts) the
// score and is_anomaly columns are left empty: they do not apply.
func NewWriter(w io.Writer, scored bool) *Writer {
	return &Writer{cw: csv.NewWriter(w), scored: scored, rec: make([]string, len(Header))}
}

// Write writes one row, after the header on the first call.
func (w *Writer) Write(p insights.Point) error {
	if !w.wrote {
		w.wrote = true
		if err := w.cw.Write(Header); err != nil {
			return fmt.Errorf("csvio: writing header: %w", err)
		}
	}
	w.rec[0] = time.Unix(0, p.Time).UTC().Format(time.RFC3339Nano)
	w.rec[1] = FormatFloat(p.Value)
	w.rec[2] = FormatFloat(p.Expected)
	w.rec[3] = FormatFloat(p.Lower)
	w.rec[4] = FormatFloat(p.Upper)
	if w.scored {
		w.rec[5] = FormatFloat(p.Score)
		w.rec[6] = strconv.FormatBool(p.IsAnomaly)
	} else {
		w.rec[5], w.rec[6] = "", ""
	}
	if err := w.cw.Write(w.rec); err != nil {
		return fmt.Errorf("csvio: writing row: %w", err)
	}
	return nil
}

// Flush writes the header if no row was written, flushes, and reports
// any write error.
func (w *Writer) Flush() error {
	if !w.wrote {
		w.wrote = true
		if err := w.cw.Write(Header); err != nil {
			return fmt.Errorf("csvio: writing header: %w", err)
		}
	}
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return fmt.Errorf("csvio: writing CSV: %w", err)
	}
	return nil
}

// FormatFloat prints v for the CSV: empty for NaN (not applicable), plain
// decimals for ordinary magnitudes, exponent form for tiny or huge ones.
func FormatFloat(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return ""
	case a == 0:
		return "0"
	case a >= 1e-6 && a < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
}
