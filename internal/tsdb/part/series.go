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

// seriesEncoding is the version byte of KeySeries' binary layout: 2 is
// layout 1 (below) after the byte compressed as one zstd frame; the
// reader also takes 1 (parts of format 1).
const seriesEncoding = 2

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

// appendSeriesStats encodes the series of a validated plan:
//
//	byte    seriesEncoding
//	uvarint number of strings, then each as uvarint length + bytes
//	uvarint number of series, then per series:
//	  uvarint string index of the measure name
//	  per dimension of Meta.Dims: uvarint string index + 1, 0 = NULL
//	  uvarint rows, uvarint MinTime - Meta.MinTime, uvarint MaxTime - MinTime
//
// Strings are numbered in order of first use, so a device id shared by
// four measures is stored once.
func appendSeriesStats(dst []byte, meta *Meta, mn *columnar.Column, dims []*columnar.Column, times []int64, starts []int) []byte {
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
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(starts)))
	for k, start := range starts {
		end := len(times)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		body = binary.AppendUvarint(body, id(mn.Strs[start]))
		for _, d := range dims {
			if d.IsNull(start) {
				body = append(body, 0)
			} else {
				body = binary.AppendUvarint(body, id(d.Strs[start])+1)
			}
		}
		body = binary.AppendUvarint(body, uint64(end-start))
		body = binary.AppendUvarint(body, uint64(times[start]-meta.MinTime))
		body = binary.AppendUvarint(body, uint64(times[end-1]-times[start]))
	}
	var plain []byte
	plain = binary.AppendUvarint(plain, uint64(len(strs)))
	for _, s := range strs {
		plain = binary.AppendUvarint(plain, uint64(len(s)))
		plain = append(plain, s...)
	}
	plain = append(plain, body...)
	zw, err := newFooterEncoder()
	if err != nil {
		panic(err) // only for invalid options
	}
	defer zw.Close()
	dst = append(dst, seriesEncoding)
	return zw.EncodeAll(plain, dst)
}

// decodeSeriesStats decodes and validates KeySeries against meta.
func decodeSeriesStats(b []byte, meta *Meta) ([]SeriesStat, error) {
	if len(b) == 0 || (b[0] != 1 && b[0] != 2) {
		return nil, fmt.Errorf("unknown series statistics encoding")
	}
	if b[0] == 2 {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxSeriesBody))
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		if b, err = dec.DecodeAll(b[1:], nil); err != nil {
			return nil, fmt.Errorf("series statistics: %v", err)
		}
	} else {
		b = b[1:]
	}
	bad := fmt.Errorf("truncated series statistics")
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	ns, ok := uv()
	if !ok || ns > uint64(len(b)) {
		return nil, bad
	}
	strs := make([]string, ns)
	for i := range strs {
		l, ok := uv()
		if !ok || l > uint64(len(b)) {
			return nil, bad
		}
		strs[i] = string(b[:l])
		b = b[l:]
	}
	n, ok := uv()
	if !ok || n != uint64(meta.Series) || n > uint64(len(b)) {
		return nil, fmt.Errorf("series statistics list %d series, meta %d", n, meta.Series)
	}
	nd := len(meta.Dims)
	out := make([]SeriesStat, n)
	// One backing array for every series' dims.
	dimVals := make([]string, int(n)*nd)
	var start int64
	span := uint64(meta.MaxTime - meta.MinTime)
	for i := range out {
		s := &out[i]
		m, ok := uv()
		if !ok || m >= ns {
			return nil, bad
		}
		s.Measure = strs[m]
		s.Dims = dimVals[i*nd : (i+1)*nd : (i+1)*nd]
		for j := range nd {
			v, ok := uv()
			if !ok || v > ns {
				return nil, bad
			}
			if v == 0 {
				if s.Nulls == nil {
					s.Nulls = make([]bool, nd)
				}
				s.Nulls[j] = true
				continue
			}
			s.Dims[j] = strs[v-1]
		}
		rows, ok1 := uv()
		lo, ok2 := uv()
		width, ok3 := uv()
		if !ok1 || !ok2 || !ok3 || rows == 0 || rows > uint64(meta.Rows-start) || lo > span || width > span-lo {
			return nil, bad
		}
		s.Start, s.Rows = start, int64(rows)
		s.MinTime = meta.MinTime + int64(lo)
		s.MaxTime = s.MinTime + int64(width)
		start += int64(rows)
	}
	if start != meta.Rows || len(b) != 0 {
		return nil, fmt.Errorf("series statistics cover %d rows, meta %d", start, meta.Rows)
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
