package part

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// KeyMinutes holds the part's per-minute pre-aggregates (see MinuteStat
// and docs/format/part.md): for each series, in the order of KeySeries,
// and each minute of the Unix epoch in which it has rows, the rows' range
// and time bounds and, per DOUBLE value column, the count, sum, min and max
// of its non-NULL values. A time-bucketed aggregate whose buckets are whole
// minutes then reads these instead of the rows. Written with KeySeries;
// parts without it have none and are scanned.
const KeyMinutes = "sluice.minutes"

// minutesEncoding is the version byte of KeyMinutes' binary layout. 3
// codes a series-minute's time offsets as the change from the series'
// previous minute (0 for regular readings: ~0.004 byte per point less on
// the seed data); 2, read too (format-1 parts), codes them as they are. A
// reader treats any other version as if the key were absent (the rows are
// scanned): version 1, written for a few hours before layout 2 and never
// released, is dropped that way.
const minutesEncoding = 3

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
// Sum, Min and Max are 0 when Count is 0. Add sums in row order; in
// KeyMinutes, a column stored as DECIMAL(18, s) has the exact sum of its
// values rounded once instead (see docs/format/part.md).
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

// timeExp returns the largest k <= 9 such that 10^k divides every time.
func timeExp(times []int64) int {
	i := 0
	for exp := 9; exp > 0; exp-- {
		// Constant divisors: a multiplication, not a division, per row.
		switch exp {
		case 9:
			for i < len(times) && times[i]%1e9 == 0 {
				i++
			}
		case 6:
			for i < len(times) && times[i]%1e6 == 0 {
				i++
			}
		case 3:
			for i < len(times) && times[i]%1e3 == 0 {
				i++
			}
		default:
			for i < len(times) && times[i]%pow10[exp] == 0 {
				i++
			}
		}
		if i == len(times) {
			return exp
		}
	}
	return 0
}

// pow10[k] is 10^k, for the time unit of KeyMinutes.
var pow10 = [10]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// A column's sum/min/max in KeyMinutes are float64 bits (kindFloat) or,
// for a DOUBLE column the part stores as DECIMAL(18, s), the integer
// mantissas at scale s (kindDecimal+s): exact, and small deltas where the
// float bits look random.
const (
	kindFloat   = 0
	kindDecimal = 1
)

// colAggs is one column's aggregates over every series-minute of a part.
type colAggs struct {
	scale  int // -1: float64 (fsum...), else mantissas at this scale (isum...)
	counts []int64
	isum   []int64
	imin   []int64
	imax   []int64
	fsum   []float64
	fmin   []float64
	fmax   []float64
}

// aggregate folds col over the series-minutes [bounds[j], bounds[j+1]).
// A decimal column keeps integer mantissas unless a minute's sum of
// mantissas overflows int64 (it cannot for fewer than 9 values per minute,
// whatever they are, and does not for ordinary readings); then the whole
// column falls back to float64 for this part. The values of a decimal
// column round-trip at its scale (newPlan checked every one), so each
// mantissa is what enc.Mantissa would return, without its check.
func aggregate(info ColumnInfo, col *columnar.Column, bounds []int) *colAggs {
	n := len(bounds) - 1
	a := &colAggs{scale: -1, counts: make([]int64, n)}
	if info.Decimal {
		a.scale = info.Scale
		a.isum, a.imin, a.imax = make([]int64, n), make([]int64, n), make([]int64, n)
		p := enc.Pow10(info.Scale)
	integer:
		for j := range n {
			var cnt, sum, lo, hi int64
			for i := bounds[j]; i < bounds[j+1]; i++ {
				if col.Nulls != nil && col.Nulls[i] {
					continue
				}
				m := int64(math.Round(col.Floats[i] * p))
				s := sum + m
				if (m > 0 && s < sum) || (m < 0 && s > sum) {
					a.scale = -1
					break integer
				}
				sum = s
				if cnt == 0 || m < lo {
					lo = m
				}
				if cnt == 0 || m > hi {
					hi = m
				}
				cnt++
			}
			a.counts[j], a.isum[j], a.imin[j], a.imax[j] = cnt, sum, lo, hi
		}
		if a.scale >= 0 {
			return a
		}
	}
	a.isum, a.imin, a.imax = nil, nil, nil
	a.fsum, a.fmin, a.fmax = make([]float64, n), make([]float64, n), make([]float64, n)
	for j := range n {
		var v ValueAgg
		for i := bounds[j]; i < bounds[j+1]; i++ {
			if col.Nulls == nil || !col.Nulls[i] {
				v.Add(col.Floats[i])
			}
		}
		a.counts[j], a.fsum[j], a.fmin[j], a.fmax[j] = v.Count, v.Sum, v.Min, v.Max
	}
	return a
}

// zigzag maps small signed integers to small unsigned ones.
func zigzag(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// sumPrediction is what a minute's sum of mantissas is coded against: the
// count times the minute's midrange. Arithmetic wraps; encoder and decoder
// compute the same value, so the residual decodes exactly whatever it is.
func sumPrediction(count, lo, hi int64) int64 {
	return count*lo + int64(uint64(count)*uint64(hi-lo)/2)
}

// appendMinutes encodes the pre-aggregates of a validated plan's batch
// (cols parallel to meta.Columns); see docs/format/part.md for the layout.
// Every field is a stream over all series-minutes of the part (series in
// KeySeries order, minutes ascending), so that zstd sees runs of alike
// numbers: the counts are nearly all equal, the time offsets nearly all 0,
// and the value columns are deltas between a series' consecutive minutes.
// zw (from newFooterEncoder) compresses them.
func appendMinutes(dst []byte, zw *zstd.Encoder, meta *Meta, cols []*columnar.Column, times []int64, starts []int) []byte {
	var infos []ColumnInfo
	var vcols []*columnar.Column
	for i, info := range meta.Columns {
		if info.Type != columnar.Float64 || info.Name == ColTime || info.Name == ColVersion || info.Name == ColMeasureName {
			continue
		}
		infos = append(infos, info)
		vcols = append(vcols, cols[i])
	}
	exp := timeExp(times)
	unit := pow10[exp]
	// bounds: the first row of each series-minute, then len(times). A
	// series' times ascend: a minute starts at the first row at or past
	// the end of the one before.
	var bounds []int
	nmin := make([]int, len(starts))
	const lastMinute = maxInt64 / Minute // no minute after it: (lastMinute+1)·Minute overflows
	for k, start := range starts {
		end := len(times)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		next, last := int64(0), false
		for i := start; i < end; i++ {
			if i == start || (times[i] >= next && !last) {
				bounds = append(bounds, i)
				nmin[k]++
				m := minuteOf(times[i])
				next, last = (m+1)*Minute, m == lastMinute
			}
		}
	}
	bounds = append(bounds, len(times))
	// eachSeries calls fn for every series-minute j, with first true for
	// the first minute of a series (where delta coding restarts).
	eachSeries := func(fn func(j int, first bool)) {
		j := 0
		for _, n := range nmin {
			for x := range n {
				fn(j, x == 0)
				j++
			}
		}
	}

	body := []byte{byte(exp)}
	body = binary.AppendUvarint(body, uint64(len(infos)))
	for _, info := range infos {
		body = binary.AppendUvarint(body, uint64(len(info.Name)))
		body = append(body, info.Name...)
	}
	body = binary.AppendUvarint(body, uint64(len(starts)))
	for _, n := range nmin {
		body = binary.AppendUvarint(body, uint64(n))
	}
	var prev int64
	eachSeries(func(j int, first bool) {
		if first {
			prev = minuteOf(meta.MinTime)
		}
		m := minuteOf(times[bounds[j]])
		body = binary.AppendVarint(body, m-prev)
		prev = m
	})
	for j := range len(bounds) - 1 {
		body = binary.AppendUvarint(body, uint64(bounds[j+1]-bounds[j]))
	}
	var po int64
	eachSeries(func(j int, first bool) {
		if first {
			po = 0
		}
		t := times[bounds[j]]
		off := (t - minuteOf(t)*Minute) / unit
		body = binary.AppendVarint(body, off-po)
		po = off
	})
	eachSeries(func(j int, first bool) {
		if first {
			po = 0
		}
		t := times[bounds[j+1]-1]
		off := ((minuteOf(t)+1)*Minute - unit - t) / unit
		body = binary.AppendVarint(body, off-po)
		po = off
	})
	for c, info := range infos {
		a := aggregate(info, vcols[c], bounds)
		if a.scale < 0 {
			body = append(body, kindFloat)
		} else {
			body = append(body, byte(kindDecimal+a.scale))
		}
		for j, cnt := range a.counts {
			body = binary.AppendUvarint(body, uint64(int64(bounds[j+1]-bounds[j])-cnt))
		}
		if a.scale >= 0 {
			var p int64
			eachSeries(func(j int, first bool) {
				if first {
					p = 0
				}
				if a.counts[j] > 0 {
					body = binary.AppendUvarint(body, zigzag(a.imin[j]-p))
					p = a.imin[j]
				}
			})
			for j, cnt := range a.counts {
				if cnt > 0 {
					body = binary.AppendUvarint(body, uint64(a.imax[j]-a.imin[j]))
				}
			}
			for j, cnt := range a.counts {
				if cnt > 0 {
					body = binary.AppendUvarint(body, zigzag(a.isum[j]-sumPrediction(cnt, a.imin[j], a.imax[j])))
				}
			}
			continue
		}
		for _, vals := range [3][]float64{a.fsum, a.fmin, a.fmax} {
			var p uint64
			eachSeries(func(j int, first bool) {
				if first {
					p = 0
				}
				if a.counts[j] > 0 {
					b := math.Float64bits(vals[j])
					body = binary.AppendUvarint(body, bits.ReverseBytes64(b^p))
					p = b
				}
			})
		}
	}
	dst = append(dst, minutesEncoding)
	return zw.EncodeAll(body, dst)
}

var errMinutes = errors.New("malformed")

// maxMinutesBody bounds the decompressed KeyMinutes (a corrupt frame must
// not allocate without limit).
const maxMinutesBody = 1 << 30

// varints reads a KeyMinutes body; a read past the end or a bad varint
// sets bad and returns 0 from then on.
type varints struct {
	b   []byte
	bad bool
}

func (r *varints) u() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *varints) s() int64 { return unzigzag(r.u()) }

// decodeMinutes decodes KeyMinutes and checks it against the series. An
// encoding other than minutesEncoding gives nil, nil: the part is then
// read as one without pre-aggregates.
func decodeMinutes(raw []byte, meta *Meta, series []SeriesStat) (*Minutes, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty", errMinutes)
	}
	if raw[0] != 2 && raw[0] != 3 {
		return nil, nil
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
	return decodeMinutesBody(b, meta, series, raw[0])
}

// decodeMinutesBody decodes KeyMinutes' decompressed body of encoding
// version (2 or 3).
func decodeMinutesBody(b []byte, meta *Meta, series []SeriesStat, version byte) (*Minutes, error) {
	if len(b) == 0 || b[0] > 9 {
		return nil, fmt.Errorf("%w: time unit", errMinutes)
	}
	unit := pow10[b[0]]
	perMinute := uint64(Minute / unit)
	r := &varints{b: b[1:]}
	ncols := r.u()
	if ncols > uint64(len(meta.Columns)) {
		return nil, fmt.Errorf("%w: %d columns", errMinutes, ncols)
	}
	m := &Minutes{}
	for range ncols {
		l := r.u()
		if l > uint64(len(r.b)) {
			return nil, fmt.Errorf("%w: column name", errMinutes)
		}
		name := string(r.b[:l])
		r.b = r.b[l:]
		if c, ok := meta.Column(name); !ok || c.Type != columnar.Float64 {
			return nil, fmt.Errorf("%w: column %q is not a DOUBLE column of the part", errMinutes, name)
		}
		m.Columns = append(m.Columns, name)
	}
	if r.u() != uint64(len(series)) {
		return nil, fmt.Errorf("%w: series count differs from %s", errMinutes, KeySeries)
	}
	nmin := make([]int, len(series))
	total := 0
	for k := range series {
		n := r.u()
		if n > uint64(series[k].Rows) || n > uint64(meta.Rows-int64(total)) {
			return nil, fmt.Errorf("%w: series %d has %d minutes in %d rows", errMinutes, k, n, series[k].Rows)
		}
		nmin[k] = int(n)
		total += int(n)
	}
	if r.bad {
		return nil, fmt.Errorf("%w: truncated", errMinutes)
	}
	stats := make([]MinuteStat, total)
	nc := len(m.Columns)
	vals := make([]ValueAgg, total*nc)
	m.Series = make([][]MinuteStat, len(series))
	j := 0
	for k, n := range nmin {
		m.Series[k] = stats[j : j+n : j+n]
		j += n
	}
	// eachSeries calls fn for every series-minute, in stream order.
	eachSeries := func(fn func(k int, s *MinuteStat, first bool)) {
		j := 0
		for k, n := range nmin {
			for x := range n {
				fn(k, &stats[j], x == 0)
				j++
			}
		}
	}
	var prev int64
	eachSeries(func(k int, s *MinuteStat, first bool) {
		st := &series[k]
		if first {
			prev = minuteOf(meta.MinTime)
		}
		d := r.s()
		s.Minute = prev + d
		// Bounded before it is multiplied, so that a bad delta cannot wrap.
		if d < 0 && !first || d > minuteOf(st.MaxTime)-prev || s.Minute < minuteOf(st.MinTime) {
			r.bad = true
		}
		prev = s.Minute
	})
	eachSeries(func(k int, s *MinuteStat, first bool) {
		st := &series[k]
		if first {
			prev = st.Start
		}
		s.Start = prev
		n := r.u()
		if n == 0 || n > uint64(st.Start+st.Rows-prev) {
			r.bad = true
			n = 0
		}
		s.Rows = int64(n)
		prev += s.Rows
	})
	// offset reads a time offset: as it is (version 2) or as the change
	// from the series' previous minute (3).
	var po uint64
	offset := func(first bool) uint64 {
		if version == 2 {
			return r.u()
		}
		if first {
			po = 0
		}
		po += uint64(r.s())
		return po
	}
	eachSeries(func(k int, s *MinuteStat, first bool) {
		off := offset(first)
		if off >= perMinute {
			r.bad = true
		}
		s.MinTime = s.Minute*Minute + int64(off)*unit
	})
	eachSeries(func(k int, s *MinuteStat, first bool) {
		off := offset(first)
		if off >= perMinute {
			r.bad = true
		}
		s.MaxTime = (s.Minute+1)*Minute - unit - int64(off)*unit
		st := &series[k]
		if s.MaxTime < s.MinTime || s.MinTime < st.MinTime || s.MaxTime > st.MaxTime {
			r.bad = true
		}
	})
	if r.bad {
		return nil, fmt.Errorf("%w: minutes of the series", errMinutes)
	}
	for k, ms := range m.Series {
		if len(ms) > 0 {
			if l := ms[len(ms)-1]; l.Start+l.Rows != series[k].Start+series[k].Rows {
				return nil, fmt.Errorf("%w: series %d: minutes hold %d rows, the series %d", errMinutes, k, l.Start+l.Rows-series[k].Start, series[k].Rows)
			}
		} else if series[k].Rows > 0 {
			return nil, fmt.Errorf("%w: series %d has no minutes", errMinutes, k)
		}
	}
	for j := range stats {
		stats[j].Values = vals[j*nc : (j+1)*nc : (j+1)*nc]
	}
	for c := range nc {
		if len(r.b) == 0 {
			return nil, fmt.Errorf("%w: truncated", errMinutes)
		}
		kind := int(r.b[0])
		r.b = r.b[1:]
		if kind > kindDecimal+enc.MaxScale {
			return nil, fmt.Errorf("%w: column %q kind %d", errMinutes, m.Columns[c], kind)
		}
		eachSeries(func(k int, s *MinuteStat, first bool) {
			d := r.u()
			if d > uint64(s.Rows) {
				r.bad = true
				d = 0
			}
			s.Values[c].Count = s.Rows - int64(d)
		})
		if kind == kindFloat {
			for x := range 3 {
				var p uint64
				eachSeries(func(k int, s *MinuteStat, first bool) {
					if first {
						p = 0
					}
					a := &s.Values[c]
					if a.Count == 0 {
						return
					}
					p ^= bits.ReverseBytes64(r.u())
					*[3]*float64{&a.Sum, &a.Min, &a.Max}[x] = math.Float64frombits(p)
				})
			}
		} else {
			scale := kind - kindDecimal
			lo := make([]int64, total)
			hi := make([]int64, total)
			var p int64
			j := 0
			eachSeries(func(k int, s *MinuteStat, first bool) {
				if first {
					p = 0
				}
				if s.Values[c].Count > 0 {
					p += r.s()
					lo[j] = p
				}
				j++
			})
			for j := range stats {
				if stats[j].Values[c].Count > 0 {
					hi[j] = lo[j] + int64(r.u())
				}
			}
			for j := range stats {
				a := &stats[j].Values[c]
				if a.Count == 0 {
					continue
				}
				sum := sumPrediction(a.Count, lo[j], hi[j]) + r.s()
				if lo[j] < -enc.MaxMantissa || hi[j] > enc.MaxMantissa || lo[j] > hi[j] {
					r.bad = true
				}
				a.Sum = enc.FromMantissa(sum, scale)
				a.Min = enc.FromMantissa(lo[j], scale)
				a.Max = enc.FromMantissa(hi[j], scale)
			}
		}
		if r.bad {
			return nil, fmt.Errorf("%w: column %q", errMinutes, m.Columns[c])
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMinutes, len(r.b))
	}
	return m, nil
}

// Minutes returns the part's per-minute pre-aggregates, or nil when the
// part has none (written before them, without series statistics, or in
// another encoding version of KeyMinutes).
// They are decoded on first use and shared: do not modify.
func (r *Reader) Minutes() (*Minutes, error) {
	r.minutesOnce.Do(func() {
		raw, ok, err := r.footerBytes(KeyMinutes)
		if !ok {
			return
		}
		series, serr := r.Series()
		if serr != nil || series == nil {
			r.minutesErr = serr
			return
		}
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
