package part

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"slices"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// The Parquet file is written by this package, not by parquet-go's
// Writer: every column chunk is encoded straight from the batch's typed
// slices, a page at a time. parquet-go's Writer takes rows of
// []parquet.Value, which cost ~250 ns per point to build, level and
// buffer (most of a flush's CPU) while the encodings themselves (delta
// packing, dictionary runs, zstd) cost a fraction of that.
//
// What is written is what parquet-go wrote for the same schema and
// options, with these differences (all standard Parquet, read by
// parquet-go's generic reader and by fastread.go):
//   - definition levels and dictionary indices use RLE runs wherever a run
//     has 8 or more values (parquet-go bit-packed short pages);
//   - a data page whose values zstd does not shrink is stored
//     uncompressed (DATA_PAGE_V2 is_compressed = false): the coarse pages
//     of constant columns are a few bytes that a zstd frame would grow;
//   - no size statistics (level histograms) in chunk metadata or column
//     indexes, and no empty statistics struct in page headers;
//   - column indexes are written only for the chunks that keep one (see
//     pageindex.go), instead of written for all and pruned afterwards,
//     and their boundary order is unordered where they have NULL pages;
//   - DOUBLE min/max leave NaN out, and give a zero min as -0.0 and a zero
//     max as +0.0, as Parquet asks (parquet-go kept NaN).
//
// Measure names and dimensions are constant within a series (they are its
// identity), so their dictionary indices are produced per series, not per
// row.

// pqWriter writes one part file: pages, then the page index and footer.
type pqWriter struct {
	out *bufio.Writer
	off int64 // bytes written so far
	err error // the first error; later writes do nothing

	zenc *zstd.Encoder

	// Per-page scratch, reused.
	hdr    []byte
	levels []byte
	vals   []byte
	comp   []byte
	ints   []int64
	mants  []int64
	floats []float64
	bools  []bool
	runs   []strRun
	prun   []strRun
	pend   []uint32
}

func newPQWriter(out *bufio.Writer, level int) (*pqWriter, error) {
	// The options parquet-go's zstd codec uses, so pages compress as before.
	zenc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &pqWriter{out: out, zenc: zenc}, nil
}

// maxPageSize bounds a page: Parquet's page sizes are int32.
const maxPageSize = math.MaxInt32 - 1<<20

func (w *pqWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *pqWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.out.Write(b)
	w.off += int64(n)
	w.err = err
}

// chunk is the metadata of one column chunk being written.
type chunk struct {
	md    format.ColumnMetaData
	oi    format.OffsetIndex
	ci    *format.ColumnIndex // nil: the chunk keeps no column index
	start int64               // file offset of its first page
	data  int32               // data pages written
	nulls int64
}

// strRun is a run of n equal dictionary indices (id), or of NULLs (id -1).
type strRun struct {
	id int32
	n  int32
}

// dataPage writes one DATA_PAGE_V2: levels (definition levels, RLE hybrid,
// empty for REQUIRED columns) and vals (the encoded values, compressed
// here unless zstd would not make them smaller).
func (w *pqWriter) dataPage(ch *chunk, levels, vals []byte, rows, nulls int, firstRow int64, enc format.Encoding) {
	if len(levels)+len(vals) > maxPageSize {
		w.fail(fmt.Errorf("page of %d bytes: over Parquet's 2 GiB (make PageRows smaller)", len(levels)+len(vals)))
		return
	}
	body := vals
	compressed := false
	if len(vals) > 0 {
		w.comp = w.zenc.EncodeAll(vals, w.comp[:0])
		if len(w.comp) < len(vals) {
			body, compressed = w.comp, true
		}
	}
	crc := crc32.Update(crc32.Update(0, crc32.IEEETable, levels), crc32.IEEETable, body)
	t := thriftWriter{b: w.hdr[:0]}
	t.i32(1, int32(format.DataPageV2))
	t.i32(2, int32(len(levels)+len(vals)))
	t.i32(3, int32(len(levels)+len(body)))
	t.i32(4, int32(crc))
	t.begin(8)
	t.i32(1, int32(rows))
	t.i32(2, int32(nulls))
	t.i32(3, int32(rows))
	t.i32(4, int32(enc))
	t.i32(5, int32(len(levels)))
	t.i32(6, 0)
	t.bool(7, compressed)
	t.end()
	t.b = append(t.b, 0) // end of PageHeader
	w.hdr = t.b
	size := len(w.hdr) + len(levels) + len(body)
	ch.oi.PageLocations = append(ch.oi.PageLocations, format.PageLocation{Offset: w.off, CompressedPageSize: int32(size), FirstRowIndex: firstRow})
	if ch.data == 0 {
		ch.md.DataPageOffset = w.off
	}
	ch.data++
	ch.md.TotalCompressedSize += int64(size)
	ch.md.TotalUncompressedSize += int64(len(w.hdr) + len(levels) + len(vals))
	ch.md.NumValues += int64(rows)
	ch.nulls += int64(nulls)
	w.write(w.hdr)
	w.write(levels)
	w.write(body)
}

// dictPage writes a DICTIONARY_PAGE of count PLAIN values (always
// compressed: a dictionary page has no is_compressed flag).
func (w *pqWriter) dictPage(ch *chunk, vals []byte, count int) {
	if len(vals) > maxPageSize {
		w.fail(fmt.Errorf("dictionary page of %d bytes: over Parquet's 2 GiB (make RowGroupRows smaller)", len(vals)))
		return
	}
	w.comp = w.zenc.EncodeAll(vals, w.comp[:0])
	t := thriftWriter{b: w.hdr[:0]}
	t.i32(1, int32(format.DictionaryPage))
	t.i32(2, int32(len(vals)))
	t.i32(3, int32(len(w.comp)))
	t.i32(4, int32(crc32.ChecksumIEEE(w.comp)))
	t.begin(7)
	t.i32(1, int32(count))
	t.i32(2, int32(format.Plain))
	t.bool(3, false)
	t.end()
	t.b = append(t.b, 0)
	w.hdr = t.b
	ch.md.DictionaryPageOffset = w.off
	ch.md.TotalCompressedSize += int64(len(w.hdr) + len(w.comp))
	ch.md.TotalUncompressedSize += int64(len(w.hdr) + len(vals))
	w.write(w.hdr)
	w.write(w.comp)
}

// thriftWriter appends Thrift compact protocol fields (what page headers
// need: i32, bool, nested structs).
type thriftWriter struct {
	b     []byte
	last  [4]int16
	depth int
}

func (t *thriftWriter) field(id int16, typ byte) {
	if d := id - t.last[t.depth]; d > 0 && d <= 15 {
		t.b = append(t.b, byte(d)<<4|typ)
	} else {
		t.b = append(t.b, typ)
		t.b = binary.AppendVarint(t.b, int64(id))
	}
	t.last[t.depth] = id
}

func (t *thriftWriter) i32(id int16, v int32) {
	t.field(id, tI32)
	t.b = binary.AppendVarint(t.b, int64(v)) // zigzag, as compact Thrift
}

func (t *thriftWriter) bool(id int16, v bool) {
	if v {
		t.field(id, tTrue)
	} else {
		t.field(id, tFalse)
	}
}

func (t *thriftWriter) begin(id int16) {
	t.field(id, tStruct)
	t.depth++
	t.last[t.depth] = 0
}

func (t *thriftWriter) end() {
	t.b = append(t.b, 0)
	t.depth--
}

// hybrid appends Parquet's RLE / bit-packing hybrid encoding of a stream
// of values of width bits, given as runs: runs of 8 or more become RLE
// runs, shorter ones are gathered into bit-packed runs (whole groups of
// 8; a bit-packed run ends where the next RLE run starts, borrowing up to
// 7 of its values to fill its last group).
type hybrid struct {
	dst   []byte
	width uint
	cur   uint32
	curN  int
	pend  []uint32 // values waiting for a bit-packed run
}

func (h *hybrid) put(v uint32, n int) {
	if n <= 0 {
		return
	}
	if h.curN > 0 && v == h.cur {
		h.curN += n
		return
	}
	h.commit()
	h.cur, h.curN = v, n
}

func (h *hybrid) commit() {
	v, n := h.cur, h.curN
	h.curN = 0
	if n < 8 {
		for range n {
			h.pend = append(h.pend, v)
		}
		return
	}
	if k := len(h.pend) % 8; k != 0 {
		for range 8 - k {
			h.pend = append(h.pend, v)
		}
		n -= 8 - k
	}
	h.flushPacked()
	if n < 8 {
		for range n {
			h.pend = append(h.pend, v)
		}
		return
	}
	h.dst = binary.AppendUvarint(h.dst, uint64(n)<<1)
	for b := uint(0); b < h.width; b += 8 {
		h.dst = append(h.dst, byte(v>>b))
	}
}

// flushPacked writes the pending values as bit-packed runs of at most 63
// groups (a one-byte run header), the last group padded with zeros.
func (h *hybrid) flushPacked() {
	p := h.pend
	for len(p) > 0 {
		k := min(len(p), 63*8)
		groups := (k + 7) / 8
		h.dst = binary.AppendUvarint(h.dst, uint64(groups)<<1|1)
		var acc uint64
		var nb uint
		for i := range groups * 8 {
			var x uint32
			if i < k {
				x = p[i]
			}
			acc |= uint64(x) << nb
			nb += h.width
			for nb >= 8 {
				h.dst = append(h.dst, byte(acc))
				acc >>= 8
				nb -= 8
			}
		}
		p = p[k:]
	}
	h.pend = h.pend[:0]
}

func (h *hybrid) finish() []byte {
	h.commit()
	h.flushPacked()
	return h.dst
}

// appendPresent appends the definition levels of n present values: one
// RLE run of 1s.
func appendPresent(dst []byte, n int) []byte {
	return append(binary.AppendUvarint(dst, uint64(n)<<1), 1)
}

// appendNullLevels appends the definition levels (bit width 1) of rows
// whose NULL flags are nulls.
func (w *pqWriter) appendNullLevels(dst []byte, nulls []bool) []byte {
	h := hybrid{dst: dst, width: 1, pend: w.pend[:0]}
	for i := 0; i < len(nulls); {
		j := i + 1
		for j < len(nulls) && nulls[j] == nulls[i] {
			j++
		}
		var l uint32
		if !nulls[i] {
			l = 1
		}
		h.put(l, j-i)
		i = j
	}
	dst = h.finish()
	w.pend = h.pend
	return dst
}

// countNulls counts the true entries of nulls.
func countNulls(nulls []bool) int {
	if len(nulls) == 0 {
		return 0
	}
	// A bool is one byte holding 0 or 1.
	return bytes.Count(unsafe.Slice((*byte)(unsafe.Pointer(&nulls[0])), len(nulls)), []byte{1})
}

// chunkSpec says how to write the chunks of one column.
type chunkSpec struct {
	col      *columnar.Column
	info     ColumnInfo
	leaf     int
	optional bool
	coarse   bool
	series   bool // constant within a series: measure_name and dimensions
	phys     format.Type
	enc      format.Encoding
	ints     []int64 // INT64 physical values (Ints, or decimal mantissas)
	minis    int     // DELTA_BINARY_PACKED miniblocks per block
	nibble   bool
}

// pageBounds returns the pages of column spec in row group g: the first
// row of each (absolute), then the end of the group. Coarse columns merge
// consecutive pages up to coarsePageFactor × PageRows rows.
func (p *plan) pageBounds(dst []int, g int, coarse bool, pageRows int) []int {
	dst = append(dst[:0], p.pages[p.groups[g]])
	for pg := p.groups[g]; pg < p.groups[g+1]; pg++ {
		if coarse && pg+1 < p.groups[g+1] && p.pages[pg+2]-dst[len(dst)-1] <= coarsePageFactor*pageRows {
			continue
		}
		dst = append(dst, p.pages[pg+1])
	}
	return dst
}

// int64Bounds is a running min/max of INT64 values.
type int64Bounds struct {
	lo, hi int64
	ok     bool
}

func (b *int64Bounds) merge(o int64Bounds) {
	switch {
	case !o.ok:
	case !b.ok:
		*b = o
	default:
		b.lo, b.hi = min(b.lo, o.lo), max(b.hi, o.hi)
	}
}

func (b *int64Bounds) bytes() (lo, hi []byte) {
	return binary.LittleEndian.AppendUint64(nil, uint64(b.lo)), binary.LittleEndian.AppendUint64(nil, uint64(b.hi))
}

// float64Bounds is a running min/max of DOUBLE values without NaN, with
// -0.0 as the min and +0.0 as the max of zeros (as Parquet asks).
type float64Bounds struct {
	lo, hi float64
	ok     bool
}

func (b *float64Bounds) add(vals []float64) {
	for _, v := range vals {
		if v != v {
			continue
		}
		if !b.ok {
			b.lo, b.hi, b.ok = v, v, true
			continue
		}
		b.lo, b.hi = min(b.lo, v), max(b.hi, v)
	}
}

func (b *float64Bounds) bytes() (lo, hi []byte) {
	l, h := b.lo, b.hi
	if l == 0 {
		l = math.Copysign(0, -1)
	}
	if h == 0 {
		h = 0
	}
	return binary.LittleEndian.AppendUint64(nil, math.Float64bits(l)), binary.LittleEndian.AppendUint64(nil, math.Float64bits(h))
}

// indexPage appends one page's entry to a column index.
func indexPage(ci *format.ColumnIndex, rows, nulls int, lo, hi []byte) {
	ci.NullPages = append(ci.NullPages, rows == nulls)
	ci.NullCounts = append(ci.NullCounts, int64(nulls))
	if rows == nulls {
		lo, hi = []byte{}, []byte{}
	}
	ci.MinValues = append(ci.MinValues, lo)
	ci.MaxValues = append(ci.MaxValues, hi)
}

// writeChunk writes rows [bounds[0], bounds[len-1]) of one column as a
// column chunk, a page per bounds interval.
// starts are the first rows of the part's series.
func (w *pqWriter) writeChunk(s *chunkSpec, bounds []int, ch *chunk, starts []int) {
	rg0 := bounds[0]
	ch.start = w.off
	c := s.col
	if s.phys == format.ByteArray {
		w.writeStrings(s, bounds, ch, starts)
		return
	}
	var (
		ib int64Bounds
		fb float64Bounds
		bf [2]bool // a false, a true seen
	)
	for k := 0; k+1 < len(bounds); k++ {
		lo, hi := bounds[k], bounds[k+1]
		var nulls []bool
		if c.Nulls != nil {
			nulls = c.Nulls[lo:hi]
		}
		nn := countNulls(nulls)
		w.levels = w.levels[:0]
		if s.optional {
			if nn == 0 {
				w.levels = appendPresent(w.levels, hi-lo)
			} else {
				w.levels = w.appendNullLevels(w.levels, nulls)
			}
		}
		var pageLo, pageHi []byte
		switch s.phys {
		case format.Int64:
			var vals []int64
			if s.info.Decimal {
				// NULLs are left out here already.
				w.mants = appendMantissas(w.mants[:0], c.Floats[lo:hi], nulls, s.info.Scale)
				vals = w.mants
			} else if vals = s.ints[lo:hi]; nn > 0 {
				w.ints = w.ints[:0]
				for i, v := range vals {
					if !nulls[i] {
						w.ints = append(w.ints, v)
					}
				}
				vals = w.ints
			}
			var pb int64Bounds
			w.vals, pb = appendDBPBounds(w.vals[:0], vals, s.minis, s.nibble)
			if pb.ok {
				ib.merge(pb)
				if ch.ci != nil {
					pageLo, pageHi = pb.bytes()
				}
			}
		case format.Double:
			vals := c.Floats[lo:hi]
			if nn > 0 {
				w.floats = w.floats[:0]
				for i, v := range vals {
					if !nulls[i] {
						w.floats = append(w.floats, v)
					}
				}
				vals = w.floats
			}
			var pb float64Bounds
			pb.add(vals)
			if pb.ok {
				fb.add([]float64{pb.lo, pb.hi})
				if ch.ci != nil {
					pageLo, pageHi = pb.bytes()
				}
			}
			w.vals = appendBSS(w.vals[:0], vals)
		case format.Boolean:
			vals := c.Bools[lo:hi]
			if nn > 0 {
				w.bools = w.bools[:0]
				for i, v := range vals {
					if !nulls[i] {
						w.bools = append(w.bools, v)
					}
				}
				vals = w.bools
			}
			var pf [2]bool
			for _, v := range vals {
				if v {
					pf[1] = true
				} else {
					pf[0] = true
				}
			}
			bf[0], bf[1] = bf[0] || pf[0], bf[1] || pf[1]
			if ch.ci != nil && len(vals) > 0 {
				pageLo, pageHi = boolBytes(!pf[0]), boolBytes(pf[1])
			}
			w.vals = appendBoolPlain(w.vals[:0], vals)
		}
		if ch.ci != nil {
			indexPage(ch.ci, hi-lo, nn, pageLo, pageHi)
		}
		w.dataPage(ch, w.levels, w.vals, hi-lo, nn, int64(lo-rg0), s.enc)
	}
	st := &ch.md.Statistics
	st.NullCount = ch.nulls
	switch {
	case ib.ok:
		st.MinValue, st.MaxValue = ib.bytes()
	case fb.ok:
		st.MinValue, st.MaxValue = fb.bytes()
	case bf[0] || bf[1]:
		st.MinValue, st.MaxValue = boolBytes(!bf[0]), boolBytes(bf[1])
	}
}

func boolBytes(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// appendBSS appends the BYTE_STREAM_SPLIT encoding of vals: byte k of
// every value, for k = 0..7.
func appendBSS(dst []byte, vals []float64) []byte {
	n := len(vals)
	base := len(dst)
	dst = slices.Grow(dst, 8*n)[:base+8*n]
	out := dst[base:]
	for i, v := range vals {
		u := math.Float64bits(v)
		out[i] = byte(u)
		out[n+i] = byte(u >> 8)
		out[2*n+i] = byte(u >> 16)
		out[3*n+i] = byte(u >> 24)
		out[4*n+i] = byte(u >> 32)
		out[5*n+i] = byte(u >> 40)
		out[6*n+i] = byte(u >> 48)
		out[7*n+i] = byte(u >> 56)
	}
	return dst
}

// appendBoolPlain appends PLAIN BOOLEANs: bit-packed, LSB first.
func appendBoolPlain(dst []byte, vals []bool) []byte {
	for i := 0; i < len(vals); i += 8 {
		var b byte
		for j, v := range vals[i:min(i+8, len(vals))] {
			if v {
				b |= 1 << j
			}
		}
		dst = append(dst, b)
	}
	return dst
}

// writeStrings writes a BYTE_ARRAY chunk: a PLAIN dictionary page of the
// chunk's distinct strings in order of first use, then RLE_DICTIONARY
// data pages.
func (w *pqWriter) writeStrings(s *chunkSpec, bounds []int, ch *chunk, starts []int) {
	c := s.col
	rlo, rhi := bounds[0], bounds[len(bounds)-1]
	ids := map[string]int32{}
	var dict []string
	id := func(v string) int32 {
		k, ok := ids[v]
		if !ok {
			k = int32(len(dict))
			ids[v] = k
			dict = append(dict, v)
		}
		return k
	}
	runs := w.runs[:0]
	push := func(r int32, n int) {
		if len(runs) > 0 && runs[len(runs)-1].id == r {
			runs[len(runs)-1].n += int32(n)
			return
		}
		runs = append(runs, strRun{r, int32(n)})
	}
	if s.series {
		// One lookup per series: the value is the same on all its rows.
		k, _ := slices.BinarySearch(starts, rlo+1)
		for k--; k < len(starts) && starts[k] < rhi; k++ {
			lo, hi := max(starts[k], rlo), rhi
			if k+1 < len(starts) {
				hi = min(hi, starts[k+1])
			}
			r := int32(-1)
			if !c.IsNull(starts[k]) {
				r = id(c.Strs[starts[k]])
			}
			push(r, hi-lo)
		}
	} else {
		prev, pid := "", int32(-1)
		for i := rlo; i < rhi; i++ {
			r := int32(-1)
			if !c.IsNull(i) {
				if v := c.Strs[i]; pid >= 0 && v == prev {
					r = pid
				} else {
					r = id(v)
					prev, pid = v, r
				}
			}
			push(r, 1)
		}
	}
	w.runs = runs
	// Dictionary page.
	w.vals = w.vals[:0]
	var lo, hi string
	for i, v := range dict {
		w.vals = binary.LittleEndian.AppendUint32(w.vals, uint32(len(v)))
		w.vals = append(w.vals, v...)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	w.dictPage(ch, w.vals, len(dict))
	width := uint(0)
	if len(dict) > 1 {
		width = uint(bits.Len32(uint32(len(dict) - 1)))
	}
	// Data pages, consuming the runs.
	ri, used := 0, int32(0) // current run, rows of it already written
	for k := 0; k+1 < len(bounds); k++ {
		plo, phi := bounds[k], bounds[k+1]
		pr := w.prun[:0]
		for left := int32(phi - plo); left > 0; {
			r := runs[ri]
			n := min(r.n-used, left)
			pr = append(pr, strRun{r.id, n})
			left -= n
			used += n
			if used == r.n {
				ri, used = ri+1, 0
			}
		}
		w.prun = pr
		nn := 0
		for _, r := range pr {
			if r.id < 0 {
				nn += int(r.n)
			}
		}
		w.levels = w.levels[:0]
		if s.optional {
			if nn == 0 {
				w.levels = appendPresent(w.levels, phi-plo)
			} else {
				h := hybrid{dst: w.levels, width: 1, pend: w.pend[:0]}
				for _, r := range pr {
					h.put(uint32(min(r.id+1, 1)), int(r.n))
				}
				w.levels = h.finish()
				w.pend = h.pend
			}
		}
		h := hybrid{dst: append(w.vals[:0], byte(width)), width: width, pend: w.pend[:0]}
		var plo2, phi2 string
		seen := false
		for _, r := range pr {
			if r.id < 0 {
				continue
			}
			h.put(uint32(r.id), int(r.n))
			if ch.ci != nil {
				v := dict[r.id]
				if !seen || v < plo2 {
					plo2 = v
				}
				if !seen || v > phi2 {
					phi2 = v
				}
				seen = true
			}
		}
		w.vals = h.finish()
		w.pend = h.pend
		if ch.ci != nil {
			var a, b []byte
			if seen {
				a, b = truncMin(plo2), truncMax(phi2)
			}
			indexPage(ch.ci, phi-plo, nn, a, b)
		}
		w.dataPage(ch, w.levels, w.vals, phi-plo, nn, int64(plo-rlo), format.RLEDictionary)
	}
	ch.md.Statistics.NullCount = ch.nulls
	if len(dict) > 0 {
		ch.md.Statistics.MinValue, ch.md.Statistics.MaxValue = []byte(lo), []byte(hi)
	}
}

// truncMin and truncMax shorten column-index bounds to
// columnIndexSizeLimit bytes as parquet-go did: a min is cut, a max is cut
// and its last byte incremented (readers treat a max of that length as
// unbounded anyway).
func truncMin(s string) []byte {
	if len(s) > columnIndexSizeLimit {
		s = s[:columnIndexSizeLimit]
	}
	return []byte(s)
}

func truncMax(s string) []byte {
	if len(s) <= columnIndexSizeLimit {
		return []byte(s)
	}
	b := []byte(s[:columnIndexSizeLimit])
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return b
		}
	}
	for i := range b {
		b[i] = 0xff
	}
	return b
}

// boundaryOrder is the BoundaryOrder of a column index: ascending when
// the pages' mins and maxes both never decrease, descending when both
// never increase, else unordered. Unordered, too, with NULL pages, whose
// bounds readers may or may not skip in a binary search.
func boundaryOrder(ci *format.ColumnIndex, phys format.Type) format.BoundaryOrder {
	if len(ci.NullPages) < 2 || slices.Contains(ci.NullPages, true) {
		return format.Unordered
	}
	cmp := func(a, b []byte) int {
		switch phys {
		case format.Int64:
			x, y := int64(binary.LittleEndian.Uint64(a)), int64(binary.LittleEndian.Uint64(b))
			return compareOrdered(x, y)
		case format.Double:
			x, y := math.Float64frombits(binary.LittleEndian.Uint64(a)), math.Float64frombits(binary.LittleEndian.Uint64(b))
			return compareOrdered(x, y)
		default:
			return strings.Compare(string(a), string(b))
		}
	}
	asc, desc := true, true
	for i := 1; i < len(ci.MinValues); i++ {
		a, b := cmp(ci.MinValues[i-1], ci.MinValues[i]), cmp(ci.MaxValues[i-1], ci.MaxValues[i])
		asc = asc && a <= 0 && b <= 0
		desc = desc && a >= 0 && b >= 0
	}
	switch {
	case asc:
		return format.Ascending
	case desc:
		return format.Descending
	}
	return format.Unordered
}

func compareOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// finish writes the page index (the kept column indexes, then every
// chunk's offset index) and the footer.
func (w *pqWriter) finish(md *format.FileMetaData, chunks [][]chunk) error {
	proto := &thrift.CompactProtocol{}
	for g := range chunks {
		for j := range chunks[g] {
			ch := &chunks[g][j]
			if ch.ci == nil {
				continue
			}
			b, err := thrift.Marshal(proto, ch.ci)
			if err != nil {
				return fmt.Errorf("column index: %w", err)
			}
			cc := &md.RowGroups[g].Columns[j]
			cc.ColumnIndexOffset, cc.ColumnIndexLength = w.off, int32(len(b))
			w.write(b)
		}
	}
	for g := range chunks {
		for j := range chunks[g] {
			b, err := thrift.Marshal(proto, &chunks[g][j].oi)
			if err != nil {
				return fmt.Errorf("offset index: %w", err)
			}
			cc := &md.RowGroups[g].Columns[j]
			cc.OffsetIndexOffset, cc.OffsetIndexLength = w.off, int32(len(b))
			w.write(b)
		}
	}
	b, err := thrift.Marshal(proto, md)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	w.write(b)
	w.write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
	w.write([]byte("PAR1"))
	if w.err != nil {
		return w.err
	}
	return w.out.Flush()
}

// appendMantissas appends the decimal mantissas at scale of the non-NULL
// values of vals. Every one round-trips (newPlan's decimalScale checked
// them all at this scale), so enc.Mantissa's check is not repeated: m is
// the value it would return.
func appendMantissas(dst []int64, vals []float64, nulls []bool, scale int) []int64 {
	p := enc.Pow10(scale)
	if nulls == nil {
		base := len(dst)
		dst = slices.Grow(dst, len(vals))[:base+len(vals)]
		for i, v := range vals {
			dst[base+i] = int64(math.Round(v * p))
		}
		return dst
	}
	for i, v := range vals {
		if !nulls[i] {
			dst = append(dst, int64(math.Round(v*p)))
		}
	}
	return dst
}
