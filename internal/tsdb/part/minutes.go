package part

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// KeyMinutes holds the part's per-minute pre-aggregates (see MinuteStat
// and docs/format/part.md): for each series, in the order of KeySeries,
// and each minute of the Unix epoch in which it has rows, the rows' range
// and time bounds and, per DOUBLE value column, the count, sum, min and max
// of its non-NULL values. A time-bucketed aggregate whose buckets are whole
// minutes then reads these instead of the rows. Written with KeySeries;
// parts without it have none and are scanned.
const KeyMinutes = "sluice.minutes"

// minutesEncoding is the version byte of KeyMinutes' binary layout.
const minutesEncoding = 1

// Minute is the pre-aggregates' bucket width: minutes of the Unix epoch.
const Minute = int64(60e9)

// MinuteStat is one series' rows in one minute of the Unix epoch: rows
// [Start, Start+Rows) of the part (row numbers across row groups) at times
// MinTime..MaxTime (inclusive), within [Minute*60s, (Minute+1)*60s).
type MinuteStat struct {
	Minute           int64
	Start, Rows      int64
	MinTime, MaxTime int64
	// Values is parallel to Minutes.Columns.
	Values []ValueAgg
}

// ValueAgg aggregates the non-NULL values of one column over some rows;
// Sum, Min and Max are 0 when Count is 0. Sum adds in row order.
type ValueAgg struct {
	Count         int64
	Sum, Min, Max float64
}

// Add folds v into a. NaN orders after every other value, as in SQL's
// min and max.
func (a *ValueAgg) Add(v float64) {
	switch {
	case a.Count == 0:
		a.Min, a.Max = v, v
	case v < a.Min || (a.Min != a.Min && v == v):
		a.Min = v
	case v > a.Max || (v != v && a.Max == a.Max):
		a.Max = v
	}
	a.Count++
	a.Sum += v
}

// Minutes is a part's decoded KeyMinutes.
type Minutes struct {
	Columns []string       // the DOUBLE value columns, in Meta.Columns order
	Series  [][]MinuteStat // parallel to Reader.Series(), minutes ascending
}

// Column returns the index of name in m.Columns, or -1.
func (m *Minutes) Column(name string) int {
	for i, c := range m.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// minuteOf returns the epoch minute of t (rounded towards minus infinity).
func minuteOf(t int64) int64 {
	q := t / Minute
	if t%Minute < 0 {
		q--
	}
	return q
}

// pow10[k] is 10^k, for the time unit of KeyMinutes.
var pow10 = [10]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// appendMinutes encodes the pre-aggregates of a validated plan's batch:
//
//	byte    minutesEncoding
//	then a zstd frame of:
//	byte    k: times below are in units of 10^k ns (the largest unit up to
//	        a second that divides every time of the part)
//	uvarint number of columns, then each name as uvarint length + bytes
//	uvarint number of series, then per series:
//	  uvarint number of minutes, then per minute:
//	    varint  minute - previous minute (the first: minute of Meta.MinTime)
//	    uvarint rows, uvarint (MinTime - minute start)/unit,
//	    uvarint (MaxTime - MinTime)/unit
//	    per column: uvarint count, then when count > 0 the float64 bits of
//	      sum, min and max, each XORed with the previous minute's of the
//	      series (0 for the first), as uvarints of their byte-reversed bits
//
// A minute's Start follows from the rows before it in the series.
func appendMinutes(dst []byte, meta *Meta, b *columnar.Batch, times []int64, starts []int) []byte {
	var names []string
	var cols []*columnar.Column
	for i, name := range b.Names {
		c := b.Cols[i]
		if c.Type != columnar.Float64 || name == "time" || name == "version" || name == "measure_name" {
			continue
		}
		names = append(names, name)
		cols = append(cols, c)
	}
	exp := 9
	for _, t := range times {
		for exp > 0 && t%pow10[exp] != 0 {
			exp--
		}
		if exp == 0 {
			break
		}
	}
	unit := pow10[exp]
	body := []byte{byte(exp)}
	body = binary.AppendUvarint(body, uint64(len(names)))
	for _, n := range names {
		body = binary.AppendUvarint(body, uint64(len(n)))
		body = append(body, n...)
	}
	body = binary.AppendUvarint(body, uint64(len(starts)))
	aggs := make([]ValueAgg, len(cols))
	prevBits := make([][3]uint64, len(cols))
	var mins []int // first row of each minute of the series, then its end
	for k, start := range starts {
		end := len(times)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		mins = mins[:0]
		for i := start; i < end; i++ {
			if i == start || minuteOf(times[i]) != minuteOf(times[i-1]) {
				mins = append(mins, i)
			}
		}
		mins = append(mins, end)
		body = binary.AppendUvarint(body, uint64(len(mins)-1))
		prev := minuteOf(meta.MinTime)
		clear(prevBits)
		for j := 0; j+1 < len(mins); j++ {
			lo, hi := mins[j], mins[j+1]
			m := minuteOf(times[lo])
			body = binary.AppendVarint(body, m-prev)
			prev = m
			body = binary.AppendUvarint(body, uint64(hi-lo))
			body = binary.AppendUvarint(body, uint64((times[lo]-m*Minute)/unit))
			body = binary.AppendUvarint(body, uint64((times[hi-1]-times[lo])/unit))
			for c, col := range cols {
				aggs[c] = ValueAgg{}
				for i := lo; i < hi; i++ {
					if col.Nulls == nil || !col.Nulls[i] {
						aggs[c].Add(col.Floats[i])
					}
				}
				a := aggs[c]
				body = binary.AppendUvarint(body, uint64(a.Count))
				if a.Count > 0 {
					for x, v := range [3]float64{a.Sum, a.Min, a.Max} {
						bits := math.Float64bits(v)
						body = binary.AppendUvarint(body, bitsReverse(bits^prevBits[c][x]))
						prevBits[c][x] = bits
					}
				}
			}
		}
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err) // only for invalid options
	}
	defer enc.Close()
	dst = append(dst, minutesEncoding)
	return enc.EncodeAll(body, dst)
}

// bitsReverse reverses the bytes of x: XORs of similar doubles differ in
// their low mantissa bytes, which then become the varint's small end.
func bitsReverse(x uint64) uint64 { return bits.ReverseBytes64(x) }

var errMinutes = errors.New("malformed")

// maxMinutesBody bounds the decompressed KeyMinutes (a corrupt frame must
// not allocate without limit).
const maxMinutesBody = 1 << 30

// decodeMinutes decodes KeyMinutes and checks it against the series.
func decodeMinutes(raw []byte, meta *Meta, series []SeriesStat) (*Minutes, error) {
	if len(raw) == 0 || raw[0] != minutesEncoding {
		return nil, fmt.Errorf("%w: unknown encoding", errMinutes)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxMinutesBody))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	b, err := dec.DecodeAll(raw[1:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMinutes, err)
	}
	if len(b) == 0 || b[0] > 9 {
		return nil, fmt.Errorf("%w: time unit", errMinutes)
	}
	unit := pow10[b[0]]
	b = b[1:]
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	ncols := uv()
	if ncols > uint64(len(meta.Columns)) {
		return nil, fmt.Errorf("%w: %d columns", errMinutes, ncols)
	}
	m := &Minutes{}
	for range ncols {
		l := uv()
		if l > uint64(len(b)) {
			return nil, fmt.Errorf("%w: column name", errMinutes)
		}
		name := string(b[:l])
		b = b[l:]
		if c, ok := meta.Column(name); !ok || c.Type != columnar.Float64 {
			return nil, fmt.Errorf("%w: column %q is not a DOUBLE column of the part", errMinutes, name)
		}
		m.Columns = append(m.Columns, name)
	}
	if uv() != uint64(len(series)) {
		return nil, fmt.Errorf("%w: series count differs from %s", errMinutes, KeySeries)
	}
	m.Series = make([][]MinuteStat, len(series))
	prevBits := make([][3]uint64, len(m.Columns))
	for k := range series {
		st := &series[k]
		nm := uv()
		if nm > uint64(st.Rows) {
			return nil, fmt.Errorf("%w: series %d has %d minutes in %d rows", errMinutes, k, nm, st.Rows)
		}
		stats := make([]MinuteStat, nm)
		vals := make([]ValueAgg, int(nm)*len(m.Columns))
		prev := minuteOf(meta.MinTime)
		row := st.Start
		clear(prevBits)
		for j := range stats {
			d, n := binary.Varint(b)
			if n <= 0 {
				return nil, fmt.Errorf("%w: truncated", errMinutes)
			}
			b = b[n:]
			s := &stats[j]
			s.Minute = prev + d
			prev = s.Minute
			s.Start = row
			s.Rows = int64(uv())
			s.MinTime = s.Minute*Minute + int64(uv())*unit
			s.MaxTime = s.MinTime + int64(uv())*unit
			row += s.Rows
			s.Values = vals[j*len(m.Columns) : (j+1)*len(m.Columns) : (j+1)*len(m.Columns)]
			for c := range s.Values {
				a := &s.Values[c]
				a.Count = int64(uv())
				if a.Count > 0 {
					var f [3]float64
					for x := range f {
						bits := bitsReverse(uv()) ^ prevBits[c][x]
						prevBits[c][x] = bits
						f[x] = math.Float64frombits(bits)
					}
					a.Sum, a.Min, a.Max = f[0], f[1], f[2]
				}
				if a.Count > s.Rows {
					return nil, fmt.Errorf("%w: more values than rows", errMinutes)
				}
			}
			if b == nil || s.Rows <= 0 || s.MaxTime >= (s.Minute+1)*Minute || s.MinTime < st.MinTime || s.MaxTime > st.MaxTime {
				return nil, fmt.Errorf("%w: series %d minute %d", errMinutes, k, j)
			}
		}
		if row != st.Start+st.Rows {
			return nil, fmt.Errorf("%w: series %d: minutes hold %d rows, the series %d", errMinutes, k, row-st.Start, st.Rows)
		}
		m.Series[k] = stats
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMinutes, len(b))
	}
	return m, nil
}

// Minutes returns the part's per-minute pre-aggregates, or nil when the
// part has none (written before them, or without series statistics).
// They are decoded on first use and shared: do not modify.
func (r *Reader) Minutes() (*Minutes, error) {
	r.minutesOnce.Do(func() {
		s, ok := r.pf.Lookup(KeyMinutes)
		if !ok {
			return
		}
		series, err := r.Series()
		if err != nil || series == nil {
			r.minutesErr = err
			return
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			r.minutesErr = fmt.Errorf("%w: %s: %v", ErrCorrupt, KeyMinutes, err)
			return
		}
		r.minutes, r.minutesErr = decodeMinutes(raw, &r.meta, series)
		if r.minutesErr != nil {
			r.minutesErr = fmt.Errorf("%w: %s: %v", ErrCorrupt, KeyMinutes, r.minutesErr)
		}
	})
	return r.minutes, r.minutesErr
}

// AppendFloats appends DOUBLE column name of rows [lo, hi) of the part to
// dst (NULLs included), decoding only the pages that hold them.
func (r *Reader) AppendFloats(ctx context.Context, dst *columnar.Column, name string, lo, hi int64) (err error) {
	c, ok := r.byName[name]
	if !ok || r.cols[c].info.Type != columnar.Float64 || dst.Type != columnar.Float64 {
		return fmt.Errorf("%w: %q is not a DOUBLE column of the part", ErrInvalid, name)
	}
	if lo < 0 || hi > r.meta.Rows || lo > hi {
		return fmt.Errorf("%w: rows [%d, %d) of a part of %d", ErrInvalid, lo, hi, r.meta.Rows)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: parquet-go panicked reading %s: %v", ErrCorrupt, name, p)
		}
	}()
	var first int64
	rgs := r.pf.RowGroups()
	for g, n := range r.rgRows {
		glo, ghi := max(lo, first)-first, min(hi, first+n)-first
		first += n
		if glo >= ghi {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		pages := rgs[g].ColumnChunks()[r.cols[c].leaf].Pages()
		err := r.readColumn(g, c, pages, glo, ghi, dst)
		pages.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
