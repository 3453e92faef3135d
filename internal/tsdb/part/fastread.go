package part

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// The scan's hot path: INT64 columns in DELTA_BINARY_PACKED (time,
// version, BIGINT, TIMESTAMP and decimal DOUBLE values) are read without
// parquet-go. Pages are located through the offset index, their bytes read
// in one ReadAt per range, the Thrift page header parsed here, zstd
// decompressed with a reused decoder and the deltas decoded straight into
// the column vector (decimal mantissas converted to float64 on the way).
// Anything else (another codec or encoding, DATA_PAGE v1, dictionary pages,
// repeated columns) goes through parquet-go as before: errNotFast before
// anything is appended, or the caller undoes what was appended.

// errNotFast: this chunk or page needs parquet-go's reader.
var errNotFast = errors.New("part: page needs the generic reader")

// fastScratch holds one reading goroutine's buffers; Readers keep them in a
// sync.Pool.
type fastScratch struct {
	raw    []byte // page bytes as stored, several pages at a time
	data   []byte // decompressed values section
	levels []byte
	dec    *zstd.Decoder
	hdr    pageHeader
}

func (r *Reader) getScratch() *fastScratch {
	if s, ok := r.scratch.Get().(*fastScratch); ok {
		return s
	}
	return &fastScratch{}
}

func (r *Reader) putScratch(s *fastScratch) {
	if cap(s.raw) > 8<<20 {
		s.raw = nil // do not pin a huge buffer
	}
	r.scratch.Put(s)
}

// maxPageBytes bounds a page's uncompressed values section (parquet-go
// refuses pages above 2 GiB; a part never writes more than a few MB).
const maxPageBytes = 1 << 28

// fastChunk reports whether column c of row group g can be read by
// readFast: INT64 physical type, DELTA_BINARY_PACKED (definition levels in
// RLE), zstd or uncompressed, no dictionary page, and a page index.
func (r *Reader) fastChunk(g int, cm *colMeta) bool {
	if r.noFast || r.ra == nil || !r.hasIndex || cm.kind != parquet.Int64 {
		return false
	}
	md := &r.pf.Metadata().RowGroups[g].Columns[cm.leaf].MetaData
	if md.DictionaryPageOffset != 0 || (md.Codec != format.Zstd && md.Codec != format.Uncompressed) {
		return false
	}
	for _, e := range md.Encoding {
		if e != format.DeltaBinaryPacked && e != format.RLE {
			return false
		}
	}
	return true
}

// mark remembers a column's length so that a failed fast read can be
// undone before the generic reader starts over.
type mark struct {
	n, nulls int
	hadNulls bool
}

func markOf(c *columnar.Column) mark {
	return mark{n: c.Len(), nulls: len(c.Nulls), hadNulls: c.Nulls != nil}
}

func (m mark) restore(c *columnar.Column) {
	c.Ints = c.Ints[:min(len(c.Ints), m.n)]
	c.Floats = c.Floats[:min(len(c.Floats), m.n)]
	if !m.hadNulls {
		c.Nulls = nil
	} else {
		c.Nulls = c.Nulls[:m.nulls]
	}
}

// readFast appends rows [lo, hi) of column chunk (g, cm) to dst. locs is
// the chunk's offset index. It returns errNotFast, having appended
// nothing, when a page turns out to need the generic reader.
func (r *Reader) readFast(g int, cm *colMeta, locs []format.PageLocation, lo, hi int64, dst *columnar.Column) error {
	s := r.getScratch()
	defer r.putScratch(s)
	m := markOf(dst)
	err := r.readFastPages(g, cm, locs, lo, hi, s, func(plo int64, body []byte) error {
		a, z := max(lo, plo)-plo, min(hi, plo+int64(s.hdr.numRows))-plo
		return r.decodePage(cm, body, int(a), int(z), dst, s)
	})
	if err != nil {
		m.restore(dst)
	}
	return err
}

// readFastPages reads the pages of chunk (g, cm) that hold rows [lo, hi)
// with one ReadAt and calls fn with each page's first row and body (the
// bytes after its header), after parsing the header into s.hdr.
func (r *Reader) readFastPages(g int, cm *colMeta, locs []format.PageLocation, lo, hi int64, s *fastScratch, fn func(plo int64, body []byte) error) error {
	if lo >= hi {
		return nil
	}
	p0 := pageOf(locs, lo)
	p1 := pageOf(locs, hi-1) + 1
	if p0 < 0 {
		return fmt.Errorf("%w: column %q of row group %d: row %d is in no page", ErrCorrupt, cm.info.Name, g, lo)
	}
	start := locs[p0].Offset
	end := locs[p1-1].Offset + int64(locs[p1-1].CompressedPageSize)
	if start < 4 || end <= start || end > r.meta.Bytes || end-start > 1<<30 {
		return fmt.Errorf("%w: column %q of row group %d: pages at bytes %d..%d", ErrCorrupt, cm.info.Name, g, start, end)
	}
	if int64(cap(s.raw)) < end-start+8 {
		s.raw = make([]byte, end-start+8) // slack for unpackDeltas' loads
	}
	raw := s.raw[:end-start]
	if _, err := r.ra.ReadAt(raw, start); err != nil {
		return fmt.Errorf("%w: reading column %q of row group %d: %v", ErrCorrupt, cm.info.Name, g, err)
	}
	for p := p0; p < p1; p++ {
		off := locs[p].Offset - start
		size := int64(locs[p].CompressedPageSize)
		if off < 0 || size <= 0 || off+size > int64(len(raw)) {
			return fmt.Errorf("%w: column %q of row group %d: page %d outside its chunk", ErrCorrupt, cm.info.Name, g, p)
		}
		page := raw[off : off+size]
		plo, phi := locs[p].FirstRowIndex, r.rgRows[g]
		if p+1 < len(locs) {
			phi = locs[p+1].FirstRowIndex
		}
		n, err := s.hdr.parse(page)
		if err != nil {
			return fmt.Errorf("%w: column %q of row group %d page %d: %v", ErrCorrupt, cm.info.Name, g, p, err)
		}
		if !s.hdr.fast() {
			return errNotFast
		}
		if int64(s.hdr.numRows) != phi-plo || s.hdr.numValues != s.hdr.numRows || int64(n)+int64(s.hdr.compressed) != size ||
			s.hdr.defLen < 0 || s.hdr.defLen > s.hdr.compressed || (!cm.optional && s.hdr.defLen != 0) {
			return fmt.Errorf("%w: column %q of row group %d page %d: header disagrees with the offset index", ErrCorrupt, cm.info.Name, g, p)
		}
		if err := fn(plo, page[n:]); err != nil {
			return err
		}
		r.fastPages.Add(1)
	}
	return nil
}

// pageOf returns the page holding row (by FirstRowIndex), -1 if none.
func pageOf(locs []format.PageLocation, row int64) int {
	lo, hi := 0, len(locs) // first page with FirstRowIndex > row
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if locs[m].FirstRowIndex > row {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo - 1
}

// decodePage appends rows [a, z) of a page (body: the bytes after its
// header, described by s.hdr) to dst.
func (r *Reader) decodePage(cm *colMeta, body []byte, a, z int, dst *columnar.Column, s *fastScratch) error {
	h := &s.hdr
	if h.defLen < 0 || int(h.defLen) > len(body) || h.numRows < 0 || a < 0 || a > z || z > int(h.numRows) {
		return fmt.Errorf("%w: column %q: page header does not fit its page", ErrCorrupt, cm.info.Name)
	}
	levels := body[:h.defLen]
	data := body[h.defLen:]
	if h.isCompressed && r.codec(cm) == format.Zstd {
		size := int(h.uncompressed) - int(h.defLen)
		if size < 0 || size > maxPageBytes {
			return fmt.Errorf("%w: column %q: page of %d bytes", ErrCorrupt, cm.info.Name, size)
		}
		if s.dec == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxPageBytes))
			if err != nil {
				return fmt.Errorf("part: zstd decoder: %w", err)
			}
			s.dec = d
		}
		if cap(s.data) < size+8 {
			s.data = make([]byte, 0, size+8) // slack for unpackDeltas' loads
		}
		out, err := s.dec.DecodeAll(data, s.data[:0])
		if err != nil || len(out) != size {
			return fmt.Errorf("%w: column %q: zstd: %v (%d bytes, header says %d)", ErrCorrupt, cm.info.Name, err, len(out), size)
		}
		s.data = out
		data = out
	}
	n := int(h.numRows)
	nn := n - int(h.numNulls)
	var lv []byte // nil: no NULLs
	if cm.optional && nn == n && allOnes(levels, n) {
		// The common page: no NULLs, one RLE run of 1s.
	} else if cm.optional {
		var err error
		if lv, err = decodeLevels(s.levels[:0], levels, n); err != nil {
			return fmt.Errorf("%w: column %q: definition levels: %v", ErrCorrupt, cm.info.Name, err)
		}
		s.levels = lv
		k := 0
		for _, l := range lv {
			k += int(l)
		}
		if k != nn {
			return fmt.Errorf("%w: column %q: %d values by the levels, %d by the header", ErrCorrupt, cm.info.Name, k, nn)
		}
		if nn == n {
			lv = nil
		}
	} else if nn != n {
		return fmt.Errorf("%w: column %q: NULLs in a required column", ErrCorrupt, cm.info.Name)
	}
	dh, rest, err := readDBPHeader(data)
	if err != nil || dh.count != nn {
		return fmt.Errorf("%w: column %q: %v (%d values, want %d)", ErrCorrupt, cm.info.Name, err, dh.count, nn)
	}
	// Values to decode: with NULLs all of them (rows and values are not
	// aligned), else rows [a, z), the ones before a summed, not stored.
	// They are decoded straight into dst.
	from, to := 0, nn
	if lv == nil {
		from, to = a, z
	}
	start := dst.Len()
	if want := to - from; want > 0 {
		if cm.info.Decimal {
			dst.Floats = slices.Grow(dst.Floats, want)[:start+want]
			out := dst.Floats[start:]
			if from == 0 {
				out[0] = enc.FromMantissa(dh.first, cm.info.Scale)
				err = decodeDBPFloats(out[1:], dh, rest, dh.first, cm.info.Scale, 0)
			} else {
				err = decodeDBPFloats(out, dh, rest, dh.first, cm.info.Scale, from-1)
			}
		} else {
			dst.Ints = slices.Grow(dst.Ints, want)[:start+want]
			out := dst.Ints[start:]
			if from == 0 {
				out[0] = dh.first
				_, err = decodeDBPBlocks(out[1:], dh, rest, dh.first, 0)
			} else {
				_, err = decodeDBPBlocks(out, dh, rest, dh.first, from-1)
			}
		}
		if err != nil {
			return fmt.Errorf("%w: column %q: %v", ErrCorrupt, cm.info.Name, err)
		}
	}
	if lv != nil {
		dst.SpreadLevels(lv, start, nn)
		if a > 0 || z < n {
			keepRows(dst, start, a, z)
		}
		return nil
	}
	if dst.Nulls != nil {
		dst.SpreadLevels(nil, start, z-a)
	}
	return nil
}

// keepRows drops the rows of dst from start other than start+a..start+z.
func keepRows(c *columnar.Column, start, a, z int) {
	switch c.Type {
	case columnar.Float64:
		c.Floats = append(c.Floats[:start], c.Floats[start+a:start+z]...)
	default:
		c.Ints = append(c.Ints[:start], c.Ints[start+a:start+z]...)
	}
	c.Nulls = append(c.Nulls[:start], c.Nulls[start+a:start+z]...)
}

func (r *Reader) codec(cm *colMeta) format.CompressionCodec {
	// Every chunk of a column has the same codec in a part (fastChunk
	// checked it for this chunk).
	return r.pf.Metadata().RowGroups[0].Columns[cm.leaf].MetaData.Codec
}

// allOnes reports whether levels are n 1s in RLE runs only (parquet-go
// writes one run, or several for long pages).
func allOnes(levels []byte, n int) bool {
	for n > 0 {
		h, k := binary.Uvarint(levels)
		if k <= 0 || h&1 != 0 || h>>1 > uint64(n) || len(levels) < k+1 || levels[k] != 1 {
			return false
		}
		n -= int(h >> 1)
		levels = levels[k+1:]
	}
	return len(levels) == 0
}

// decodeLevels decodes n definition levels (max level 1: bit width 1) in
// Parquet's RLE/bit-packed hybrid, appending them to dst.
func decodeLevels(dst, src []byte, n int) ([]byte, error) {
	for len(dst) < n {
		h, k := binary.Uvarint(src)
		if k <= 0 {
			return dst, errors.New("truncated run header")
		}
		src = src[k:]
		if h&1 == 0 { // RLE run: count, then the value in one byte
			count := h >> 1
			if len(src) < 1 || count == 0 || count > uint64(n-len(dst)) || src[0] > 1 {
				return dst, errors.New("bad RLE run")
			}
			v := src[0]
			src = src[1:]
			start := len(dst)
			dst = slices.Grow(dst, int(count))[:start+int(count)]
			for i := range dst[start:] {
				dst[start+i] = v
			}
			continue
		}
		groups := h >> 1 // bit-packed: groups of 8 values, one byte each
		if groups == 0 || groups > uint64(len(src)) {
			return dst, errors.New("bad bit-packed run")
		}
		for _, b := range src[:groups] {
			for i := 0; i < 8 && len(dst) < n; i++ {
				dst = append(dst, b>>i&1)
			}
		}
		src = src[groups:]
	}
	return dst, nil
}

// pageHeader is the part of Parquet's Thrift PageHeader the fast path
// uses.
type pageHeader struct {
	typ                 int32
	uncompressed        int32
	compressed          int32
	hasV2               bool
	numValues, numNulls int32
	numRows, encoding   int32
	defLen, repLen      int32
	isCompressed        bool
	otherPage           bool
}

// fast reports whether the page is one readFast decodes.
func (h *pageHeader) fast() bool {
	return h.typ == int32(format.DataPageV2) && h.hasV2 && !h.otherPage && h.encoding == int32(format.DeltaBinaryPacked) && h.repLen == 0
}

// parse decodes a Thrift compact PageHeader at the start of b and returns
// its length. Fields it does not use (CRC, statistics, other page types'
// headers) are skipped.
func (h *pageHeader) parse(b []byte) (int, error) {
	*h = pageHeader{isCompressed: true}
	t := thriftReader{b: b}
	t.structFields(func(id int16, typ byte) {
		switch {
		case id == 1 && typ == tI32:
			h.typ = t.i32()
		case id == 2 && typ == tI32:
			h.uncompressed = t.i32()
		case id == 3 && typ == tI32:
			h.compressed = t.i32()
		case id == 8 && typ == tStruct:
			h.hasV2 = true
			t.structFields(func(id int16, typ byte) {
				switch {
				case id >= 1 && id <= 6 && typ == tI32:
					v := t.i32()
					switch id {
					case 1:
						h.numValues = v
					case 2:
						h.numNulls = v
					case 3:
						h.numRows = v
					case 4:
						h.encoding = v
					case 5:
						h.defLen = v
					case 6:
						h.repLen = v
					}
				case id == 7 && (typ == tTrue || typ == tFalse):
					h.isCompressed = typ == tTrue
				default:
					t.skip(typ)
				}
			})
		case id == 5 || id == 6 || id == 7:
			h.otherPage = true
			t.skip(typ)
		default:
			t.skip(typ)
		}
	})
	if t.err != nil {
		return 0, t.err
	}
	if h.uncompressed < 0 || h.compressed < 0 || h.numValues < 0 || h.numNulls < 0 || h.numNulls > h.numValues || h.numRows < 0 {
		return 0, errors.New("negative sizes in page header")
	}
	return t.pos, nil
}

// Thrift compact protocol type codes.
const (
	tTrue   = 1
	tFalse  = 2
	tByte   = 3
	tI16    = 4
	tI32    = 5
	tI64    = 6
	tDouble = 7
	tBinary = 8
	tList   = 9
	tSet    = 10
	tMap    = 11
	tStruct = 12
)

// thriftReader reads the Thrift compact protocol; the first error sticks
// and makes every later read return zero.
type thriftReader struct {
	b     []byte
	pos   int
	err   error
	depth int
}

func (t *thriftReader) fail(msg string) {
	if t.err == nil {
		t.err = errors.New("thrift: " + msg)
	}
	t.pos = len(t.b)
}

func (t *thriftReader) byte() byte {
	if t.pos >= len(t.b) {
		t.fail("truncated")
		return 0
	}
	c := t.b[t.pos]
	t.pos++
	return c
}

func (t *thriftReader) uvarint() uint64 {
	v, n := binary.Uvarint(t.b[t.pos:])
	if n <= 0 {
		t.fail("bad varint")
		return 0
	}
	t.pos += n
	return v
}

func (t *thriftReader) i64() int64 {
	u := t.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (t *thriftReader) i32() int32 {
	v := t.i64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		t.fail("i32 out of range")
		return 0
	}
	return int32(v)
}

// structFields calls fn for each field of a struct (fn must consume the
// field's value), until the stop byte.
func (t *thriftReader) structFields(fn func(id int16, typ byte)) {
	t.depth++
	if t.depth > 16 {
		t.fail("nested too deep")
	}
	defer func() { t.depth-- }()
	var last int16
	for t.err == nil {
		c := t.byte()
		if c == 0 || t.err != nil {
			return
		}
		typ := c & 0x0f
		id := last + int16(c>>4)
		if c>>4 == 0 {
			id = int16(t.i64())
		}
		last = id
		fn(id, typ)
	}
}

// skip consumes a value of type typ.
func (t *thriftReader) skip(typ byte) {
	switch typ {
	case tTrue, tFalse:
	case tByte:
		t.byte()
	case tI16, tI32, tI64:
		t.uvarint()
	case tDouble:
		if t.pos+8 > len(t.b) {
			t.fail("truncated")
			return
		}
		t.pos += 8
	case tBinary:
		n := t.uvarint()
		if n > uint64(len(t.b)-t.pos) {
			t.fail("truncated")
			return
		}
		t.pos += int(n)
	case tList, tSet:
		c := t.byte()
		n := uint64(c >> 4)
		if n == 15 {
			n = t.uvarint()
		}
		if n > uint64(len(t.b)) {
			t.fail("list too long")
			return
		}
		for range n {
			if t.err != nil {
				return
			}
			if e := c & 0x0f; e == tTrue || e == tFalse {
				t.byte() // a bool element is a byte
			} else {
				t.skip(e)
			}
		}
	case tMap:
		n := t.uvarint()
		if n == 0 {
			return
		}
		kv := t.byte()
		if n > uint64(len(t.b)) {
			t.fail("map too long")
			return
		}
		for range n {
			if t.err != nil {
				return
			}
			t.skip(kv >> 4)
			t.skip(kv & 0x0f)
		}
	case tStruct:
		t.structFields(func(_ int16, typ byte) { t.skip(typ) })
	default:
		t.fail("unknown type")
	}
}
