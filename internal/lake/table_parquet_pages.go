package lake

// The fast path of Parquet scans: a flat column chunk (no repetition, at
// most one definition level) of DOUBLE, INT64, INT32 or BYTE_ARRAY values
// read into a sluice column of the matching type is read with one ReadAt
// and decoded page by page straight into the column's slice: no
// parquet.Page or parquet.Value, no per-page allocation in the steady
// state. Strings of dictionary-coded chunks become the column's
// columnar.Dict and codes. Everything else (nested or encrypted columns,
// other type pairs, an encoding parquet-go does not know) goes the
// parquet-go way (readChunk).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// errNotFast reports a chunk the fast path does not handle; the caller
// resets the column and reads the chunk with parquet-go instead.
var errNotFast = errors.New("lake: not a fast-path Parquet chunk")

// chunkReader holds a decoder's buffers for fast-path chunks.
type chunkReader struct {
	buf    []byte // the chunk as stored
	page   []byte // a decompressed page
	levels []byte
	idx    []int32
	floats []float64
	ints   []int64
	ints32 []int32
	bytes  []byte
	offs   []uint32
	hdr    format.PageHeader
	br     bytes.Reader
	proto  thrift.CompactProtocol
}

// dictMemo is a scan worker's memory of the string dictionaries it read
// (it lives as long as one scan):
//
//   - the last one of each column, reused when the column's next chunk
//     has a dictionary page of the same bytes (files of a steady fleet's
//     device ids do, the lake writer sorting dictionaries): no new
//     strings, and readers that remember facts per dictionary (GROUP BY)
//     find them again;
//   - every distinct string of them, numbered in a columnar.DictSpace
//     that all workers of the scan share (dictNumbering): each
//     dictionary's entries carry their strings' ids, so readers carry
//     facts from one dictionary to the next, and from one worker's to
//     another's, by id (an array index), and entries seen before share
//     the earlier string (no copy). Device ids repeat in every file, in
//     whatever order the file's writer put them, so without ids every
//     reader would hash every entry of every dictionary again. A column
//     whose dictionaries are mostly new strings (a high-cardinality
//     column: numbering them would only cost) stops being numbered, and
//     the numbering stops growing at maxInternStrings or maxInternBytes;
//     later dictionaries then have no ids.
//
// A sorted dictionary that differs from the column's last one (a device
// more or less) is matched against the last one, when that was sorted
// too, by a merge walk: entries both hold take the last one's ids by a
// string comparison, and only the others are looked up in the numbering.
type dictMemo struct {
	last []lastDict     // by scan column
	num  *dictNumbering // shared by the scan's workers; made on first use when nil
	miss []int32        // scratch: entries not numbered yet
	ents []string       // scratch: the page's entries (views of the page)
}

// dictNumbering is the numbering of strings that the dictionaries of one
// scan share (see dictMemo); safe for concurrent use.
type dictNumbering struct {
	mu    sync.Mutex
	space *columnar.DictSpace
	ids   map[string]int32
	strs  []string // by id
	bytes int      // of strs
	full  bool     // stopped numbering
}

func newDictNumbering() *dictNumbering {
	return &dictNumbering{space: columnar.NewDictSpace(), ids: make(map[string]int32)}
}

// lastDict is the last dictionary of a column.
type lastDict struct {
	page   []byte // its page (a copy)
	dict   *columnar.Dict
	view   dictView // of dict
	plain  bool     // the column's dictionaries are not numbered
	sorted bool     // its entries ascend strictly (a merge walk may match them)
}

// Bounds of a scan's string numbering (see dictMemo).
const (
	maxInternStrings = 1 << 18
	maxInternBytes   = 16 << 20
)

// fastChunk reports whether the fast path reads leaf l into a column of
// type t.
func fastChunk(l *pqLeaf, cc *format.ColumnChunk, t columnar.Type) bool {
	if l.maxDef > 1 || cc.FilePath != "" || cc.CryptoMetadata.Value != nil || len(cc.EncryptedColumnMetadata) > 0 {
		return false
	}
	switch l.kind {
	case parquet.Double:
		return t == columnar.Float64
	case parquet.Int64:
		return t == columnar.Int64 || t == columnar.Timestamp
	case parquet.Int32:
		return t == columnar.Int64 || (t == columnar.Date && l.date)
	case parquet.ByteArray:
		return t == columnar.String
	}
	return false
}

// read decodes the n rows of the chunk described by cc from fh (size
// bytes long) into the empty column dst; *codes receives the dictionary
// codes of a VARCHAR column whose pages are all dictionary-coded (then
// attached to dst). With codesOnly, such a column's Strs are left empty
// strings (see Table.ScanCodesOnly); a column that turns out to have
// other pages too gets its strings. *blank is how many leading entries of
// dst.Strs' storage are known to be empty strings (kept up to date).
func (r *chunkReader) read(fh io.ReaderAt, size int64, cc *format.ColumnChunk, l *pqLeaf, n int, dst *columnar.Column, codes *[]int32, memo *dictMemo, col int, codesOnly bool, blank *int) error {
	md := &cc.MetaData
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	if start < 4 || md.TotalCompressedSize <= 0 || start+md.TotalCompressedSize > size-8 || start+md.TotalCompressedSize < start {
		return fmt.Errorf("column chunk at %d+%d does not fit in %d bytes", start, md.TotalCompressedSize, size)
	}
	r.buf = grow(r.buf, int(md.TotalCompressedSize))
	if _, err := fh.ReadAt(r.buf, start); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	codec := parquet.LookupCompressionCodec(md.Codec)
	compressed := md.Codec != format.Uncompressed
	var (
		dv        dictView // of dict, for the rows
		dict      *columnar.Dict
		dictVals  pageVals // dictionary of a fixed-width column
		haveDict  bool
		coded     = dst.Type == columnar.String
		noStrs    = coded && codesOnly // rows' strings not written (yet)
		rest      = r.buf
		levelsEnc = rle.Encoding{BitWidth: 1}
	)
	*codes = (*codes)[:0]
	if !noStrs {
		*blank = 0 // strings are written
	}
	for dst.Len() < n {
		if len(rest) == 0 {
			return fmt.Errorf("column chunk ends after %d of %d rows", dst.Len(), n)
		}
		r.hdr = format.PageHeader{}
		r.br.Reset(rest)
		if err := thrift.NewDecoder(r.proto.NewReader(&r.br)).Decode(&r.hdr); err != nil {
			return fmt.Errorf("page header: %w", err)
		}
		hl := len(rest) - r.br.Len()
		cs := int(r.hdr.CompressedPageSize)
		if cs < 0 || cs > len(rest)-hl {
			return fmt.Errorf("page of %d bytes does not fit in the chunk's %d", cs, len(rest)-hl)
		}
		raw := rest[hl : hl+cs]
		rest = rest[hl+cs:]
		switch r.hdr.Type {
		case format.DictionaryPage:
			if haveDict {
				return errNotFast // a second dictionary: leave it to parquet-go
			}
			haveDict = true
			h, _ := r.hdr.DictionaryPageHeader.Get()
			if h.Encoding != format.Plain && h.Encoding != format.PlainDictionary {
				return errNotFast
			}
			data, err := r.decompress(codec, compressed, raw, int(r.hdr.UncompressedPageSize))
			if err != nil {
				return err
			}
			if h.NumValues < 0 {
				return fmt.Errorf("dictionary of %d values", h.NumValues)
			}
			if dst.Type == columnar.String {
				if dict, dv, err = stringDict(data, int(h.NumValues), memo, col); err != nil {
					return err
				}
			} else if dictVals, err = r.plainVals(l.kind, data, int(h.NumValues)); err != nil {
				return err
			} else {
				// Keep the dictionary apart from the scratch the data
				// pages decode into.
				dictVals = dictVals.clone()
			}
		case format.DataPage, format.DataPageV2:
			var (
				numValues  int
				enc        format.Encoding
				levelBytes []byte
				values     []byte
			)
			if r.hdr.Type == format.DataPage {
				h, _ := r.hdr.DataPageHeader.Get()
				numValues, enc = int(h.NumValues), h.Encoding
				data, err := r.decompress(codec, compressed, raw, int(r.hdr.UncompressedPageSize))
				if err != nil {
					return err
				}
				if l.maxDef > 0 {
					if h.DefinitionLevelEncoding != format.RLE {
						return errNotFast
					}
					if len(data) < 4 {
						return errors.New("data page too short for its levels")
					}
					ln := int(binary.LittleEndian.Uint32(data))
					if ln < 0 || ln > len(data)-4 {
						return fmt.Errorf("levels of %d bytes in a page of %d", ln, len(data))
					}
					levelBytes, data = data[4:4+ln], data[4+ln:]
				}
				values = data
			} else {
				h, _ := r.hdr.DataPageHeaderV2.Get()
				numValues, enc = int(h.NumValues), h.Encoding
				rl, dl := int(h.RepetitionLevelsByteLength), int(h.DefinitionLevelsByteLength)
				if rl != 0 || dl < 0 || dl > len(raw) {
					return fmt.Errorf("v2 page with %d+%d level bytes of %d", rl, dl, len(raw))
				}
				levelBytes, values = raw[:dl], raw[dl:]
				if isc, ok := h.IsCompressed.Get(); compressed && (!ok || isc) {
					var err error
					if values, err = r.decompress(codec, true, values, int(r.hdr.UncompressedPageSize)-dl); err != nil {
						return err
					}
				}
			}
			take := min(numValues, n-dst.Len())
			if numValues <= 0 {
				return fmt.Errorf("data page of %d values", numValues)
			}
			var levels []byte
			nn := take
			if l.maxDef > 0 && !allDefined(levelBytes, take) {
				var err error
				if r.levels, err = levelsEnc.DecodeLevels(r.levels[:0], levelBytes); err != nil {
					return fmt.Errorf("definition levels: %w", err)
				}
				if len(r.levels) < take {
					return fmt.Errorf("page has %d levels for %d rows", len(r.levels), take)
				}
				levels = r.levels[:take]
				nn = 0
				for _, v := range levels {
					nn += int(v & 1)
				}
				if nn == take {
					levels = nil
				} else {
					for _, v := range levels {
						if v > 1 {
							return fmt.Errorf("definition level %d in a flat column", v)
						}
					}
				}
			}
			start := dst.Len()
			var err error
			switch {
			case enc == format.RLEDictionary || enc == format.PlainDictionary:
				if !haveDict {
					return errors.New("dictionary-coded page without a dictionary")
				}
				if r.idx, err = decodeIndexes(r.idx[:0], values); err != nil {
					return err
				}
				if len(r.idx) < nn {
					return fmt.Errorf("page has %d values, want %d", len(r.idx), nn)
				}
				idx := r.idx[:nn]
				if dst.Type == columnar.String {
					var out []string
					m := len(dst.Strs)
					dst.Strs, out = extend(dst.Strs, len(idx))
					if noStrs {
						if err := dv.check(idx); err != nil {
							return err
						}
						// Recycled storage: no stale strings.
						if end := len(dst.Strs); end > *blank {
							clear(dst.Strs[max(m, *blank):end])
							*blank = end
						}
					} else if err := dv.strings(out, idx); err != nil {
						return err
					}
					if coded {
						*codes = appendPageCodes(*codes, idx, levels)
					}
				} else if err = dictVals.gather(idx, l, dst); err != nil {
					return err
				}
			default:
				if noStrs {
					// Not all dictionary-coded after all: the rows so far
					// get their strings.
					*blank = 0
					dv.fill(dst, *codes)
					noStrs = false
				}
				coded = false
				if err = r.appendValues(l, enc, values, nn, dst); err != nil {
					return err
				}
			}
			dst.SpreadLevels(levels, start, nn)
		}
	}
	if coded && dict != nil && dict.Len() > 0 && len(*codes) == dst.Len() {
		dst.SetCodes(*codes, dict)
	} else if noStrs {
		*blank = 0
		dv.fill(dst, *codes)
	}
	return nil
}

// decompress returns the page body, decompressed into r.page if the
// chunk is compressed.
func (r *chunkReader) decompress(codec interface {
	Decode(dst, src []byte) ([]byte, error)
}, compressed bool, raw []byte, size int) ([]byte, error) {
	if !compressed {
		return raw, nil
	}
	if size < 0 || size > 1<<30 {
		return nil, fmt.Errorf("page of %d bytes uncompressed", size)
	}
	out, err := codec.Decode(grow(r.page, size)[:0], raw)
	if err != nil {
		return nil, fmt.Errorf("decompressing a page: %w", err)
	}
	r.page = out
	return out, nil
}

// dictView is how a reader of a string dictionary finds entry code:
// strs[code] (for a numbered dictionary, its strings by code, resolved
// once per dictionary rather than through the ids once per row).
type dictView struct {
	strs []string
}

// strings sets out[k] to entry idx[k].
func (v dictView) strings(out []string, idx []int32) error {
	strs := v.strs
	out = out[:len(idx)]
	for k, i := range idx {
		if uint(i) >= uint(len(strs)) {
			return fmt.Errorf("dictionary index %d out of %d", i, len(strs))
		}
		out[k] = strs[i]
	}
	return nil
}

// check reports an error for an entry of idx out of range (strings
// without writing them).
func (v dictView) check(idx []int32) error {
	n := uint32(len(v.strs))
	for _, i := range idx {
		if uint32(i) >= n {
			return fmt.Errorf("dictionary index %d out of %d", i, n)
		}
	}
	return nil
}

// fill writes the strings of the non-NULL rows of dst that codes (one per
// row, checked) cover.
func (v dictView) fill(dst *columnar.Column, codes []int32) {
	for i, code := range codes[:min(len(codes), len(dst.Strs))] {
		if dst.Nulls == nil || !dst.Nulls[i] {
			dst.Strs[i] = v.strs[code]
		}
	}
}

// stringDict decodes a PLAIN dictionary page of n byte arrays of scan
// column col into a dictionary: a page identical to the column's last one
// gives its dictionary back; otherwise the entries are matched with the
// last dictionary's (both sorted) or looked up in the scan's numbering
// (see dictMemo), and the strings not seen before are copied into one new
// string.
func stringDict(data []byte, n int, memo *dictMemo, col int) (*columnar.Dict, dictView, error) {
	if col >= len(memo.last) {
		memo.last = append(memo.last, make([]lastDict, col+1-len(memo.last))...)
	}
	last := &memo.last[col]
	if last.dict != nil && last.dict.Len() == n && bytes.Equal(data, last.page) {
		return last.dict, last.view, nil
	}
	if last.plain {
		last.page, last.dict = append(last.page[:0], data...), nil
		return plainStringDict(data, n, last)
	}
	// The entries, as views of the page (no copy yet), and whether they
	// ascend.
	ents := slices.Grow(memo.ents[:0], n)
	sorted := true
	p := 0
	for i := range n {
		if len(data)-p < 4 {
			return nil, dictView{}, fmt.Errorf("dictionary page ends at entry %d of %d", i, n)
		}
		ln := int(binary.LittleEndian.Uint32(data[p:]))
		p += 4
		if ln < 0 || ln > len(data)-p {
			return nil, dictView{}, fmt.Errorf("dictionary entry %d of %d bytes past the page end", i, ln)
		}
		e := unsafe.String(unsafe.SliceData(data[p:]), ln)
		if i > 0 && sorted && e <= ents[i-1] {
			sorted = false
		}
		ents = append(ents, e)
		p += ln
	}
	memo.ents = ents
	if memo.num == nil {
		memo.num = newDictNumbering()
	}
	num := memo.num
	var prevIDs []int32
	var prevSpace *columnar.DictSpace
	if last.dict != nil {
		prevIDs, prevSpace = last.dict.IDs()
	}
	ids := make([]int32, n)
	memo.miss = memo.miss[:0]
	if sorted && last.sorted && prevSpace == num.space {
		// Sorted like the last one: the entries both hold take its ids.
		prev := last.view.strs
		j := 0
		for i, e := range ents {
			for j < len(prev) && prev[j] < e {
				j++
			}
			if j < len(prev) && prev[j] == e {
				ids[i] = prevIDs[j]
				j++
				continue
			}
			memo.miss = append(memo.miss, int32(i))
		}
	} else {
		for i := range ents {
			memo.miss = append(memo.miss, int32(i))
		}
	}
	// Numbered before: a column whose next dictionary is mostly new
	// strings is not numbered from then on.
	numbered := prevSpace != nil
	// No dictionary goes with the remembered page until it is made.
	last.page, last.dict, last.sorted = append(last.page[:0], data...), nil, false
	num.mu.Lock()
	defer num.mu.Unlock()
	if !num.full && (len(num.strs)+len(memo.miss) > maxInternStrings || num.bytes+len(data) > maxInternBytes) {
		num.full = true
	}
	if num.full {
		return plainStringDict(data, n, last)
	}
	if len(num.strs) == 0 {
		// The first dictionary hints at how many strings to expect.
		num.ids = make(map[string]int32, len(memo.miss))
		num.strs = make([]string, 0, len(memo.miss))
	}
	// Look the rest up; the strings new to the numbering stay in miss.
	k, missBytes := 0, 0
	for _, i := range memo.miss {
		if id, ok := num.ids[ents[i]]; ok { // no allocation for the lookup
			ids[i] = id
			continue
		}
		memo.miss[k] = i
		k++
		missBytes += len(ents[i])
	}
	memo.miss = memo.miss[:k]
	if numbered && 2*len(memo.miss) > n {
		last.plain = true
	}
	if len(memo.miss) > 0 {
		// One allocation for the new strings (buf is not written again).
		buf := make([]byte, 0, missBytes)
		for _, i := range memo.miss {
			buf = append(buf, ents[i]...)
		}
		all := unsafe.String(unsafe.SliceData(buf), len(buf))
		q := 0
		for _, i := range memo.miss {
			ln := len(ents[i])
			str := all[q : q+ln]
			q += ln
			// A page may repeat an entry (parquet-go never writes one,
			// others might): the first copy numbers it.
			id, ok := num.ids[str]
			if !ok {
				id = int32(len(num.strs))
				num.ids[str] = id
				num.strs = append(num.strs, str)
				num.bytes += ln
			}
			ids[i] = id
		}
	}
	// The dictionary keeps the strings numbered so far: later appends to
	// num.strs (by any worker) do not touch them.
	byID := num.strs[:len(num.strs):len(num.strs)]
	d := columnar.NewDictIDs(byID, ids, num.space)
	if d == nil { // cannot happen: every id was just given
		return nil, dictView{}, errors.New("dictionary ids out of range")
	}
	strs := make([]string, n)
	for i, id := range ids {
		strs[i] = byID[id]
	}
	last.dict, last.view, last.sorted = d, dictView{strs: strs}, sorted
	return d, last.view, nil
}

// plainStringDict is stringDict without the numbering: one string holding
// the page, entries slicing it.
func plainStringDict(data []byte, n int, last *lastDict) (*columnar.Dict, dictView, error) {
	all := string(data)
	strs := make([]string, n)
	p := 0
	for i := range strs {
		if len(all)-p < 4 {
			return nil, dictView{}, fmt.Errorf("dictionary page ends at entry %d of %d", i, n)
		}
		ln := int(binary.LittleEndian.Uint32(data[p:]))
		p += 4
		if ln < 0 || ln > len(all)-p {
			return nil, dictView{}, fmt.Errorf("dictionary entry %d of %d bytes past the page end", i, ln)
		}
		strs[i] = all[p : p+ln]
		p += ln
	}
	last.dict, last.view, last.sorted = columnar.NewDict(strs), dictView{strs: strs}, false
	return last.dict, last.view, nil
}

// pageVals is a decoded run of fixed-width values (one slice used).
type pageVals struct {
	floats []float64
	ints   []int64
	ints32 []int32
}

func (v pageVals) clone() pageVals {
	return pageVals{floats: append([]float64(nil), v.floats...), ints: append([]int64(nil), v.ints...), ints32: append([]int32(nil), v.ints32...)}
}

// plainVals decodes n PLAIN values of a fixed-width kind into r's scratch.
func (r *chunkReader) plainVals(kind parquet.Kind, data []byte, n int) (pageVals, error) {
	var err error
	var v pageVals
	enc := parquet.LookupEncoding(format.Plain)
	switch kind {
	case parquet.Double:
		r.floats, err = enc.DecodeDouble(r.floats[:0], data)
		v.floats = r.floats
	case parquet.Int64:
		r.ints, err = enc.DecodeInt64(r.ints[:0], data)
		v.ints = r.ints
	case parquet.Int32:
		r.ints32, err = enc.DecodeInt32(r.ints32[:0], data)
		v.ints32 = r.ints32
	default:
		return v, errNotFast
	}
	if err != nil {
		return v, err
	}
	if max(len(v.floats), len(v.ints), len(v.ints32)) < n {
		return v, fmt.Errorf("dictionary page has fewer than %d values", n)
	}
	return v, nil
}

// gather appends the dictionary values idx to dst, converted.
func (v pageVals) gather(idx []int32, l *pqLeaf, dst *columnar.Column) error {
	m := max(len(v.floats), len(v.ints), len(v.ints32))
	for _, i := range idx {
		if uint(i) >= uint(m) {
			return fmt.Errorf("dictionary index %d out of %d", i, m)
		}
	}
	switch {
	case v.floats != nil:
		for _, i := range idx {
			dst.Floats = append(dst.Floats, v.floats[i])
		}
	case v.ints != nil:
		unit := int64(1)
		if dst.Type == columnar.Timestamp {
			unit = l.tsUnit
		}
		for _, i := range idx {
			dst.Ints = append(dst.Ints, v.ints[i]*unit)
		}
	case v.ints32 != nil:
		for _, i := range idx {
			dst.Ints = append(dst.Ints, int64(v.ints32[i]))
		}
	}
	return nil
}

// appendValues appends nn values of a page that is not dictionary-coded.
func (r *chunkReader) appendValues(l *pqLeaf, enc format.Encoding, values []byte, nn int, dst *columnar.Column) error {
	short := func(have int) error { return fmt.Errorf("page has %d values, want %d", have, nn) }
	if enc == format.Plain {
		// The common case, without a scratch copy.
		switch l.kind {
		case parquet.Double:
			if len(values) < 8*nn {
				return short(len(values) / 8)
			}
			var out []float64
			dst.Floats, out = extend(dst.Floats, nn)
			for i := range out {
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(values[8*i:]))
			}
			return nil
		case parquet.Int64:
			if len(values) < 8*nn {
				return short(len(values) / 8)
			}
			unit := int64(1)
			if dst.Type == columnar.Timestamp {
				unit = l.tsUnit
			}
			var out []int64
			dst.Ints, out = extend(dst.Ints, nn)
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(values[8*i:])) * unit
			}
			return nil
		case parquet.Int32:
			if len(values) < 4*nn {
				return short(len(values) / 4)
			}
			var out []int64
			dst.Ints, out = extend(dst.Ints, nn)
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(values[4*i:])))
			}
			return nil
		}
	}
	e := parquet.LookupEncoding(enc)
	var err error
	switch l.kind {
	case parquet.Double:
		if r.floats, err = e.DecodeDouble(r.floats[:0], values); err == nil && len(r.floats) < nn {
			err = short(len(r.floats))
		}
		if err == nil {
			dst.Floats = append(dst.Floats, r.floats[:nn]...)
		}
	case parquet.Int64:
		if r.ints, err = e.DecodeInt64(r.ints[:0], values); err == nil && len(r.ints) < nn {
			err = short(len(r.ints))
		}
		if err == nil {
			pageVals{ints: r.ints}.appendInts(nn, l, dst)
		}
	case parquet.Int32:
		if r.ints32, err = e.DecodeInt32(r.ints32[:0], values); err == nil && len(r.ints32) < nn {
			err = short(len(r.ints32))
		}
		if err == nil {
			for _, x := range r.ints32[:nn] {
				dst.Ints = append(dst.Ints, int64(x))
			}
		}
	case parquet.ByteArray:
		if r.bytes, r.offs, err = e.DecodeByteArray(r.bytes[:0], values, r.offs[:0]); err == nil && len(r.offs) < nn+1 {
			err = short(max(len(r.offs)-1, 0))
		}
		if err == nil {
			all := string(r.bytes[r.offs[0]:r.offs[nn]])
			base := r.offs[0]
			for k := range nn {
				dst.Strs = append(dst.Strs, all[r.offs[k]-base:r.offs[k+1]-base])
			}
		}
	default:
		return errNotFast
	}
	if errors.Is(err, errNotFast) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s page: %w", enc, err)
	}
	return nil
}

func (v pageVals) appendInts(nn int, l *pqLeaf, dst *columnar.Column) {
	unit := int64(1)
	if dst.Type == columnar.Timestamp {
		unit = l.tsUnit
	}
	for _, x := range v.ints[:nn] {
		dst.Ints = append(dst.Ints, x*unit)
	}
}

// allDefined reports whether the definition levels of a flat optional
// column (RLE/bit-packed hybrid, bit width 1) start with a run of at least
// n ones: the page has no NULL among its first n rows, and they need not
// be decoded and counted. (Writers encode a page without NULLs as one
// such run.)
func allDefined(levels []byte, n int) bool {
	h, k := binary.Uvarint(levels)
	return k > 0 && h&1 == 0 && h>>1 >= uint64(n) && len(levels) > k && levels[k] == 1
}

// decodeIndexes decodes an RLE_DICTIONARY page body (bit width, then
// RLE/bit-packed indexes).
func decodeIndexes(dst []int32, values []byte) ([]int32, error) {
	if len(values) == 0 {
		return dst, nil
	}
	if values[0] > 32 {
		return dst, fmt.Errorf("dictionary index bit width %d", values[0])
	}
	var enc rle.DictionaryEncoding
	out, err := enc.DecodeInt32(dst, values)
	if err != nil {
		return dst, fmt.Errorf("dictionary indexes: %w", err)
	}
	return out, nil
}

// appendPageCodes appends a page's codes: idx for the non-NULL rows, 0 for
// NULL ones (levels nil: none).
func appendPageCodes(codes, idx []int32, levels []byte) []int32 {
	if levels == nil {
		return append(codes, idx...)
	}
	j := 0
	for _, v := range levels {
		if v == 0 {
			codes = append(codes, 0)
		} else {
			codes = append(codes, idx[j])
			j++
		}
	}
	return codes
}

// extend lengthens s by n elements and returns it and the new part.
func extend[T any](s []T, n int) ([]T, []T) {
	s = slices.Grow(s, n)
	m := len(s)
	s = s[:m+n]
	return s, s[m:]
}

// grow returns b with length n, reusing its memory when it can.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
