package part

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
)

// Reader reads one part file. See the package comment for concurrency.
type Reader struct {
	// Set in open, read-only afterwards.
	file     *os.File // nil when built by NewReader
	ra       io.ReaderAt
	pf       *parquet.File
	meta     Meta
	cols     []colMeta // parallel to meta.Columns
	byName   map[string]int
	timeCol  int // index into cols
	mnCol    int
	rgRows   []int64
	rgStart  []int64    // first row (of the part) of each row group
	hasIndex bool       // offset indexes present for every chunk
	colIndex []bool     // per chunk (row group × leaf): has a column index
	cache    *PageCache // nil: no page cache
	cacheID  uint64     // this Reader's identity in cache

	mu    sync.Mutex          // guards dicts
	dicts map[[2]int][]string // (row group, leaf column) → decoded dictionary

	seriesOnce sync.Once // decodes KeySeries on first use
	series     []SeriesStat
	seriesErr  error

	minutesOnce sync.Once // decodes KeyMinutes on first use
	minutes     *Minutes
	minutesErr  error

	scratch   sync.Pool    // *fastScratch
	noFast    bool         // tests: always use parquet-go's page reader
	fastPages atomic.Int64 // pages decoded by the fast reader, for tests
}

type colMeta struct {
	info     ColumnInfo
	leaf     int
	optional bool
	kind     parquet.Kind
}

// Open opens the part file at path and validates its footer and metadata.
// A file that is not a readable part gives an error wrapping ErrCorrupt; a
// part of a newer format gives one wrapping ErrFormatVersion.
func Open(path string, opts ...OpenOption) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("part: opening %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("part: stat %s: %w", path, err)
	}
	r, err := open(f, st.Size(), opts)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("part: opening %s: %w", path, err)
	}
	r.file = f
	return r, nil
}

// NewReader reads a part from r, which holds size bytes and must stay
// readable until the Reader is no longer used. Close does not close r.
func NewReader(r io.ReaderAt, size int64, opts ...OpenOption) (*Reader, error) {
	return open(r, size, opts)
}

// OpenOption configures a Reader.
type OpenOption func(*Reader)

// WithPageCache makes the Reader keep the pages it decodes in c, shared
// with the other Readers given c. A nil c means no cache.
func WithPageCache(c *PageCache) OpenOption {
	return func(r *Reader) {
		if c != nil {
			r.cache, r.cacheID = c, c.newID()
		}
	}
}

func open(ra io.ReaderAt, size int64, opts []OpenOption) (r *Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("%w: parquet-go panicked reading the footer: %v", ErrCorrupt, p)
		}
	}()
	if size < 12 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a Parquet file", ErrCorrupt, size)
	}
	// Check the frame before parquet-go sees it: it trusts the footer
	// length and would allocate up to 4 GiB for a garbage one.
	var head, tail [8]byte
	if _, err := ra.ReadAt(head[:4], 0); err != nil {
		return nil, fmt.Errorf("%w: reading header: %v", ErrCorrupt, err)
	}
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("%w: reading trailer: %v", ErrCorrupt, err)
	}
	if string(head[:4]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return nil, fmt.Errorf("%w: no Parquet magic (encrypted or not Parquet)", ErrCorrupt)
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 || footer == 0 {
		return nil, fmt.Errorf("%w: footer length %d does not fit in %d bytes", ErrCorrupt, footer, size)
	}
	pf, err := parquet.OpenFile(ra, size,
		parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(16<<10),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	vs, ok := pf.Lookup(KeyFormatVersion)
	if !ok {
		return nil, fmt.Errorf("%w: no %s key: not a sluice part", ErrCorrupt, KeyFormatVersion)
	}
	v, err := strconv.Atoi(vs)
	if err != nil || v < 1 {
		return nil, fmt.Errorf("%w: bad %s %q", ErrCorrupt, KeyFormatVersion, vs)
	}
	if v > FormatVersion {
		return nil, fmt.Errorf("%w: part has format %d, this sluice reads up to %d", ErrFormatVersion, v, FormatVersion)
	}
	ms, ok := pf.Lookup(KeyMeta)
	if !ok {
		return nil, fmt.Errorf("%w: no %s key", ErrCorrupt, KeyMeta)
	}
	r = &Reader{pf: pf, ra: ra, byName: map[string]int{}, dicts: map[[2]int][]string{}}
	if err := json.Unmarshal([]byte(ms), &r.meta); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, KeyMeta, err)
	}
	r.meta.Bytes = size
	if err := r.check(v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// check cross-validates Meta, the Parquet schema and the row groups, so that
// Scan can index them without further bounds checks.
func (r *Reader) check(version int) error {
	m := &r.meta
	if m.FormatVersion != version {
		return fmt.Errorf("meta format %d, footer says %d", m.FormatVersion, version)
	}
	if m.Rows != r.pf.NumRows() || m.Rows <= 0 {
		return fmt.Errorf("meta has %d rows, file %d", m.Rows, r.pf.NumRows())
	}
	if m.MinTime > m.MaxTime {
		return fmt.Errorf("min time %d after max time %d", m.MinTime, m.MaxTime)
	}
	schema := r.pf.Schema()
	nLeaves := len(schema.Columns())
	if nLeaves != len(m.Columns) {
		return fmt.Errorf("schema has %d columns, meta %d", nLeaves, len(m.Columns))
	}
	isDim := map[string]bool{}
	for _, d := range m.Dims {
		isDim[d] = true
	}
	for i, info := range m.Columns {
		if _, dup := r.byName[info.Name]; dup {
			return fmt.Errorf("column %q twice in meta", info.Name)
		}
		lc, ok := schema.Lookup(info.Name)
		if !ok || len(lc.Path) != 1 || lc.MaxRepetitionLevel != 0 {
			return fmt.Errorf("column %q missing from schema", info.Name)
		}
		kind := lc.Node.Type().Kind()
		want := parquet.Kind(-1)
		switch info.Type {
		case columnar.Int64, columnar.Timestamp:
			want = parquet.Int64
		case columnar.Float64:
			want = parquet.Double
			if info.Decimal {
				want = parquet.Int64
				if info.Scale < 0 || info.Scale > enc.MaxScale {
					return fmt.Errorf("column %q scale %d", info.Name, info.Scale)
				}
			}
		case columnar.String:
			want = parquet.ByteArray
		case columnar.Bool:
			want = parquet.Boolean
		}
		if kind != want {
			return fmt.Errorf("column %q is %v in the schema, meta says %v", info.Name, kind, info.Type)
		}
		if info.Dim != isDim[info.Name] || (info.Dim && info.Type != columnar.String) {
			return fmt.Errorf("column %q dimension flag disagrees with dims", info.Name)
		}
		r.byName[info.Name] = i
		r.cols = append(r.cols, colMeta{info: info, leaf: lc.ColumnIndex, optional: lc.MaxDefinitionLevel > 0, kind: kind})
	}
	for _, d := range m.Dims {
		if _, ok := r.byName[d]; !ok {
			return fmt.Errorf("dimension %q has no column", d)
		}
	}
	for _, req := range []struct {
		name string
		t    columnar.Type
		dst  *int
	}{{ColTime, columnar.Timestamp, &r.timeCol}, {ColVersion, columnar.Int64, nil}, {ColMeasureName, columnar.String, &r.mnCol}} {
		i, ok := r.byName[req.name]
		if !ok || r.cols[i].info.Type != req.t || r.cols[i].optional {
			return fmt.Errorf("required column %q missing or mistyped", req.name)
		}
		if req.dst != nil {
			*req.dst = i
		}
	}
	md := r.pf.Metadata()
	if m.RowGroups != len(md.RowGroups) {
		return fmt.Errorf("meta has %d row groups, file %d", m.RowGroups, len(md.RowGroups))
	}
	var total int64
	for g, rg := range md.RowGroups {
		if rg.NumRows <= 0 || len(rg.Columns) != nLeaves {
			return fmt.Errorf("row group %d malformed", g)
		}
		for c, cc := range rg.Columns {
			end := cc.MetaData.DataPageOffset + cc.MetaData.TotalCompressedSize
			if cc.MetaData.DataPageOffset < 4 || cc.MetaData.TotalCompressedSize < 0 || end > m.Bytes {
				return fmt.Errorf("row group %d column %d lies outside the file", g, c)
			}
		}
		r.rgRows = append(r.rgRows, rg.NumRows)
		r.rgStart = append(r.rgStart, total)
		total += rg.NumRows
	}
	if total != m.Rows {
		return fmt.Errorf("row groups hold %d rows, meta %d", total, m.Rows)
	}
	ci, oi := r.pf.ColumnIndexes(), r.pf.OffsetIndexes()
	// Offset indexes locate pages: all or none. Column indexes (page
	// bounds) are per chunk: format 2 keeps only those scans prune with.
	r.hasIndex = len(oi) == len(md.RowGroups)*nLeaves
	if r.hasIndex {
		r.colIndex = make([]bool, len(oi))
		for g := range md.RowGroups {
			for c := range nLeaves {
				k := g*nLeaves + c
				locs := oi[k].PageLocations
				np := len(locs)
				if np == 0 {
					r.hasIndex = false
					return nil
				}
				for p, l := range locs {
					if l.FirstRowIndex < 0 || l.FirstRowIndex >= md.RowGroups[g].NumRows || (p == 0) != (l.FirstRowIndex == 0) ||
						(p > 0 && l.FirstRowIndex <= locs[p-1].FirstRowIndex) {
						return fmt.Errorf("offset index of row group %d column %d is malformed", g, c)
					}
				}
				r.colIndex[k] = k < len(ci) && len(ci[k].MinValues) == np && len(ci[k].MaxValues) == np && len(ci[k].NullPages) == np
			}
		}
	}
	return nil
}

// Meta returns the part's metadata. The slices are shared; do not modify.
func (r *Reader) Meta() Meta { return r.meta }

// Close releases the file. A Reader from NewReader does not close its
// io.ReaderAt.
func (r *Reader) Close() error {
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	return err
}

// chunkIndex returns the column and offset index of a column chunk, or
// false when the file has no usable offset index. The column index is nil
// when the chunk has none.
func (r *Reader) chunkIndex(rg, leaf int) (*format.ColumnIndex, *format.OffsetIndex, bool) {
	if !r.hasIndex {
		return nil, nil, false
	}
	k := rg*len(r.cols) + leaf
	var ci *format.ColumnIndex
	if r.colIndex[k] {
		ci = &r.pf.ColumnIndexes()[k]
	}
	return ci, &r.pf.OffsetIndexes()[k], true
}

// dictionary returns the decoded strings of a dictionary, cached per chunk:
// dimension dictionaries are re-used by every Scan, and converting them once
// keeps per-row string allocations out of the read path.
func (r *Reader) dictionary(rg, leaf int, d parquet.Dictionary) []string {
	key := [2]int{rg, leaf}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.dicts[key]; ok && len(s) == d.Len() {
		return s
	}
	s := make([]string, d.Len())
	for i := range s {
		s[i] = string(d.Index(int32(i)).ByteArray())
	}
	r.dicts[key] = s
	return s
}
