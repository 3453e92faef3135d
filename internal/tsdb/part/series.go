package part

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/sluice-dev/sluice/internal/columnar"
)

// KeySeries holds the part's series statistics (see SeriesStat and
// docs/format/part.md): one entry per series in file order, so that a
// count of points per series, or a series' row range, needs no page read.
// Parts written before it existed lack the key; Series then reports none
// and callers scan instead.
const KeySeries = "sluice.series"

// seriesEncoding is the version byte of KeySeries' binary layout (see
// appendSeriesStats); the reader also takes 1, the layout of format-1
// parts. Other encodings read as absent: such parts are scanned.
const seriesEncoding = 3

// maxSeriesBody bounds the decompressed KeySeries.
const maxSeriesBody = 1 << 30

// SeriesStat is what a part's footer records about one of its series. Rows
// are sorted by series, so the series holds rows [Start, Start+Rows) of the
// part (row numbers across row groups), at times MinTime..MaxTime
// (inclusive, ascending within the series).
type SeriesStat struct {
	Measure string
	// Dims is parallel to Meta.Dims; Nulls (nil when no dimension is
	// NULL) reports the dimensions the series lacks.
	Dims             []string
	Nulls            []bool
	Start, Rows      int64
	MinTime, MaxTime int64
}

// appendSeriesStats encodes the series of a validated plan (zw, from
// newFooterEncoder, compresses them):
//
//	byte    seriesEncoding (3)
//	zstd frame of:
//	  uvarint number of strings, then each as uvarint length + bytes
//	  uvarint N, the number of series
//	  byte    k: times below are in units of 10^k ns (the largest k <= 9
//	          dividing every time difference below)
//	  then streams of N values each, series in file order:
//	    uvarint string number of the measure name
//	    per dimension of Meta.Dims: varint (string number + 1, 0 = NULL)
//	            minus the previous series' (0 for the first)
//	    uvarint rows
//	    uvarint (MinTime - Meta.MinTime) / 10^k
//	    uvarint (MaxTime - MinTime) / 10^k
//
// Strings are numbered in order of first use, so a device id shared by
// four measures is stored once. Field-by-field streams let zstd see what
// repeats: consecutive device numbers, equal row counts and spans, and each
// device's start offset once per measure.
func appendSeriesStats(dst []byte, zw *zstd.Encoder, meta *Meta, mn *columnar.Column, dims []*columnar.Column, times []int64, starts []int) []byte {
	ids := map[string]uint64{}
	var strs []string
	id := func(s string) uint64 {
		if i, ok := ids[s]; ok {
			return i
		}
		ids[s] = uint64(len(strs))
		strs = append(strs, s)
		return uint64(len(strs) - 1)
	}
	n := len(starts)
	end := func(k int) int {
		if k+1 < n {
			return starts[k+1]
		}
		return len(times)
	}
	mids := make([]uint64, n)
	dimIDs := make([]uint64, n*len(dims)) // series-major
	for k, start := range starts {
		mids[k] = id(mn.Strs[start])
		for j, d := range dims {
			if !d.IsNull(start) {
				dimIDs[k*len(dims)+j] = id(d.Strs[start]) + 1
			}
		}
	}
	exp := 9
	for k, start := range starts {
		for _, d := range [2]int64{times[start] - meta.MinTime, times[end(k)-1] - times[start]} {
			for exp > 0 && d%pow10[exp] != 0 {
				exp--
			}
		}
	}
	unit := pow10[exp]
	var plain []byte
	plain = binary.AppendUvarint(plain, uint64(len(strs)))
	for _, s := range strs {
		plain = binary.AppendUvarint(plain, uint64(len(s)))
		plain = append(plain, s...)
	}
	plain = binary.AppendUvarint(plain, uint64(n))
	plain = append(plain, byte(exp))
	for _, m := range mids {
		plain = binary.AppendUvarint(plain, m)
	}
	for j := range dims {
		var prev uint64
		for k := range n {
			v := dimIDs[k*len(dims)+j]
			plain = binary.AppendVarint(plain, int64(v-prev))
			prev = v
		}
	}
	for k, start := range starts {
		plain = binary.AppendUvarint(plain, uint64(end(k)-start))
	}
	for _, start := range starts {
		plain = binary.AppendUvarint(plain, uint64((times[start]-meta.MinTime)/unit))
	}
	for k, start := range starts {
		plain = binary.AppendUvarint(plain, uint64((times[end(k)-1]-times[start])/unit))
	}
	dst = append(dst, seriesEncoding)
	return zw.EncodeAll(plain, dst)
}

// decodeSeriesStats decodes and validates KeySeries against meta; an
// unknown encoding gives nil, nil.
func decodeSeriesStats(b []byte, meta *Meta) ([]SeriesStat, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty series statistics")
	}
	switch b[0] {
	case 1:
		return decodeSeriesRows(b[1:], meta)
	case 3:
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxSeriesBody))
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		body, err := dec.DecodeAll(b[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("series statistics: %v", err)
		}
		return decodeSeriesStreams(body, meta)
	}
	return nil, nil
}

var errSeries = fmt.Errorf("truncated or inconsistent series statistics")

// seriesStrings reads the string table at the start of both layouts.
func seriesStrings(r *varints) ([]string, bool) {
	ns := r.u()
	if r.bad || ns > uint64(len(r.b)) {
		return nil, false
	}
	strs := make([]string, ns)
	for i := range strs {
		l := r.u()
		if r.bad || l > uint64(len(r.b)) {
			return nil, false
		}
		strs[i] = string(r.b[:l])
		r.b = r.b[l:]
	}
	return strs, true
}

// newSeries allocates n SeriesStats sharing one backing array of dims.
func newSeries(n, nd int) []SeriesStat {
	out := make([]SeriesStat, n)
	dimVals := make([]string, n*nd)
	for i := range out {
		out[i].Dims = dimVals[i*nd : (i+1)*nd : (i+1)*nd]
	}
	return out
}

// setDim sets dimension j of s from a string number + 1 (0 = NULL).
func setDim(s *SeriesStat, j, nd int, v uint64, strs []string) bool {
	if v > uint64(len(strs)) {
		return false
	}
	if v == 0 {
		if s.Nulls == nil {
			s.Nulls = make([]bool, nd)
		}
		s.Nulls[j] = true
		return true
	}
	s.Dims[j] = strs[v-1]
	return true
}

// finishSeries checks rows and times of decoded series and fills Start.
func finishSeries(out []SeriesStat, meta *Meta, rows, lo, width []uint64, unit int64) error {
	var start int64
	span := uint64(meta.MaxTime - meta.MinTime)
	for i := range out {
		s := &out[i]
		if rows[i] == 0 || rows[i] > uint64(meta.Rows-start) || lo[i] > span/uint64(unit) || width[i] > (span-lo[i]*uint64(unit))/uint64(unit) {
			return errSeries
		}
		s.Start, s.Rows = start, int64(rows[i])
		s.MinTime = meta.MinTime + int64(lo[i])*unit
		s.MaxTime = s.MinTime + int64(width[i])*unit
		start += int64(rows[i])
	}
	if start != meta.Rows {
		return fmt.Errorf("series statistics cover %d rows, meta %d", start, meta.Rows)
	}
	return nil
}

// decodeSeriesStreams decodes encoding 3's body.
func decodeSeriesStreams(b []byte, meta *Meta) ([]SeriesStat, error) {
	r := &varints{b: b}
	strs, ok := seriesStrings(r)
	if !ok {
		return nil, errSeries
	}
	n := r.u()
	if r.bad || n != uint64(meta.Series) || n > uint64(len(r.b)) || len(r.b) < 1 || r.b[0] > 9 {
		return nil, fmt.Errorf("series statistics list %d series, meta %d", n, meta.Series)
	}
	unit := pow10[r.b[0]]
	r.b = r.b[1:]
	nd := len(meta.Dims)
	out := newSeries(int(n), nd)
	for i := range out {
		m := r.u()
		if r.bad || m >= uint64(len(strs)) {
			return nil, errSeries
		}
		out[i].Measure = strs[m]
	}
	for j := range nd {
		var v uint64
		for i := range out {
			v += uint64(r.s())
			if r.bad || !setDim(&out[i], j, nd, v, strs) {
				return nil, errSeries
			}
		}
	}
	cols := make([]uint64, 3*n)
	for i := range cols {
		cols[i] = r.u()
	}
	if r.bad || len(r.b) != 0 {
		return nil, errSeries
	}
	if err := finishSeries(out, meta, cols[:n], cols[n:2*n], cols[2*n:], unit); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeSeriesRows decodes encoding 1's body (series one after another).
func decodeSeriesRows(b []byte, meta *Meta) ([]SeriesStat, error) {
	r := &varints{b: b}
	strs, ok := seriesStrings(r)
	if !ok {
		return nil, errSeries
	}
	n := r.u()
	if r.bad || n != uint64(meta.Series) || n > uint64(len(r.b)) {
		return nil, fmt.Errorf("series statistics list %d series, meta %d", n, meta.Series)
	}
	nd := len(meta.Dims)
	out := newSeries(int(n), nd)
	rows, lo, width := make([]uint64, n), make([]uint64, n), make([]uint64, n)
	for i := range out {
		m := r.u()
		if r.bad || m >= uint64(len(strs)) {
			return nil, errSeries
		}
		out[i].Measure = strs[m]
		for j := range nd {
			if v := r.u(); r.bad || !setDim(&out[i], j, nd, v, strs) {
				return nil, errSeries
			}
		}
		rows[i], lo[i], width[i] = r.u(), r.u(), r.u()
	}
	if r.bad || len(r.b) != 0 {
		return nil, errSeries
	}
	if err := finishSeries(out, meta, rows, lo, width, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// Series returns the part's series statistics in file order, or nil when
// the part predates them (then only a Scan can tell). They are decoded on
// first use and shared: do not modify.
func (r *Reader) Series() ([]SeriesStat, error) {
	r.seriesOnce.Do(func() {
		raw, ok, err := r.footerBytes(KeySeries)
		if !ok {
			return
		}
		if err != nil {
			r.seriesErr = fmt.Errorf("%w: %s: %v", ErrCorrupt, KeySeries, err)
			return
		}
		r.series, r.seriesErr = decodeSeriesStats(raw, &r.meta)
		if r.seriesErr != nil {
			r.seriesErr = fmt.Errorf("%w: %s: %v", ErrCorrupt, KeySeries, r.seriesErr)
		}
	})
	return r.series, r.seriesErr
}

// AppendTimes appends the time column of rows [lo, hi) of the part (row
// numbers across row groups, as in SeriesStat) to dst, decoding only the
// pages that hold them.
func (r *Reader) AppendTimes(ctx context.Context, dst []int64, lo, hi int64) (out []int64, err error) {
	if lo < 0 || hi > r.meta.Rows || lo > hi {
		return dst, fmt.Errorf("%w: rows [%d, %d) of a part of %d", ErrInvalid, lo, hi, r.meta.Rows)
	}
	defer func() {
		if p := recover(); p != nil {
			out, err = dst, fmt.Errorf("%w: parquet-go panicked reading times: %v", ErrCorrupt, p)
		}
	}()
	col := &columnar.Column{Type: columnar.Timestamp, Ints: dst}
	var first int64
	rgs := r.pf.RowGroups()
	for g, n := range r.rgRows {
		glo, ghi := max(lo, first)-first, min(hi, first+n)-first
		first += n
		if glo >= ghi {
			continue
		}
		if err := ctx.Err(); err != nil {
			return col.Ints, err
		}
		pages := rgs[g].ColumnChunks()[r.cols[r.timeCol].leaf].Pages()
		err := r.readColumn(g, r.timeCol, pages, glo, ghi, col)
		pages.Close()
		if err != nil {
			return col.Ints, err
		}
	}
	return col.Ints, nil
}
