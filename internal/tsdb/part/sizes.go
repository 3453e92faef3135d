package part

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// SizeReport says where the bytes of a part file go: per column, its pages
// (headers, levels, values) and page-index entries, and the footer by
// component. The parts add up to Total. It is a diagnostic for whoever
// works on the encodings (bench storage prints it); it reads the file's
// bytes without parquet-go's page machinery, so it also sees the page
// headers.
type SizeReport struct {
	Total   int64
	Magic   int64 // "PAR1" twice, the footer length
	Columns []ColumnSizes
	// Footer is the Thrift FileMetaData: Schema + RowGroups + KeyValue +
	// FooterOther add up to it.
	Footer      int64
	Schema      int64
	RowGroups   int64            // row group and column chunk metadata
	KeyValue    map[string]int64 // per key: key + value + Thrift framing
	FooterOther int64
	Other       int64 // bytes not accounted for (gaps between sections)
}

// ColumnSizes is one column's share of a part, summed over row groups.
type ColumnSizes struct {
	Name        string
	Pages       int   // data pages
	DictPages   int   // dictionary pages
	Headers     int64 // Thrift page headers
	Levels      int64 // DATA_PAGE_V2 definition and repetition levels
	Values      int64 // values as stored (compressed when compressed)
	Dict        int64 // dictionary page bodies
	Uncompr     int64 // the value sections uncompressed (page header figure)
	ColumnIndex int64
	OffsetIndex int64
}

// Total is the column's bytes including its page-index entries.
func (c *ColumnSizes) Total() int64 {
	return c.Headers + c.Levels + c.Values + c.Dict + c.ColumnIndex + c.OffsetIndex
}

// Sizes reads the part file at path and reports where its bytes go. It
// needs only a well-formed Parquet file, not a sluice part.
func Sizes(path string) (SizeReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return SizeReport{}, fmt.Errorf("part: sizes of %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SizeReport{}, fmt.Errorf("part: sizes of %s: %w", path, err)
	}
	rep, err := sizes(f, st.Size())
	if err != nil {
		return rep, fmt.Errorf("part: sizes of %s: %w", path, err)
	}
	return rep, nil
}

func sizes(ra io.ReaderAt, size int64) (rep SizeReport, err error) {
	rep = SizeReport{Total: size, Magic: 12, KeyValue: map[string]int64{}}
	if size < 12 {
		return rep, fmt.Errorf("%w: too short", ErrCorrupt)
	}
	var tail [8]byte
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return rep, err
	}
	flen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if flen > size-12 {
		return rep, fmt.Errorf("%w: footer length %d", ErrCorrupt, flen)
	}
	footer := make([]byte, flen)
	if _, err := ra.ReadAt(footer, size-8-flen); err != nil {
		return rep, err
	}
	var md format.FileMetaData
	proto := &thrift.CompactProtocol{}
	if err := thrift.Unmarshal(proto, footer, &md); err != nil {
		return rep, fmt.Errorf("%w: footer: %v", ErrCorrupt, err)
	}
	rep.Footer = flen
	measure := func(v any) int64 {
		b, err := thrift.Marshal(proto, v)
		if err != nil {
			return 0
		}
		return int64(len(b))
	}
	for i := range md.Schema {
		rep.Schema += measure(&md.Schema[i])
	}
	for i := range md.RowGroups {
		rep.RowGroups += measure(&md.RowGroups[i])
	}
	for _, kv := range md.KeyValueMetadata {
		rep.KeyValue[kv.Key] += measure(&kv)
	}
	rep.FooterOther = rep.Footer - rep.Schema - rep.RowGroups
	for _, n := range rep.KeyValue {
		rep.FooterOther -= n
	}

	byName := map[string]int{}
	accounted := rep.Magic + rep.Footer
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			name := strings.Join(cc.MetaData.PathInSchema, ".")
			k, ok := byName[name]
			if !ok {
				k = len(rep.Columns)
				byName[name] = k
				rep.Columns = append(rep.Columns, ColumnSizes{Name: name})
			}
			cs := &rep.Columns[k]
			cs.ColumnIndex += int64(cc.ColumnIndexLength)
			cs.OffsetIndex += int64(cc.OffsetIndexLength)
			start := cc.MetaData.DataPageOffset
			if d := cc.MetaData.DictionaryPageOffset; d > 0 && d < start {
				start = d
			}
			n := cc.MetaData.TotalCompressedSize
			if start < 4 || n < 0 || start+n > size {
				return rep, fmt.Errorf("%w: column chunk %s outside the file", ErrCorrupt, name)
			}
			chunk := make([]byte, n)
			if _, err := ra.ReadAt(chunk, start); err != nil {
				return rep, err
			}
			if err := chunkSizes(chunk, cs); err != nil {
				return rep, fmt.Errorf("column %s: %w", name, err)
			}
			accounted += n + int64(cc.ColumnIndexLength) + int64(cc.OffsetIndexLength)
		}
	}
	rep.Other = size - accounted
	return rep, nil
}

// chunkSizes walks the pages of one column chunk.
func chunkSizes(chunk []byte, cs *ColumnSizes) error {
	for len(chunk) > 0 {
		var h format.PageHeader
		n, err := decodePageHeader(chunk, &h)
		if err != nil {
			return err
		}
		body := int64(h.CompressedPageSize)
		if body < 0 || int64(n)+body > int64(len(chunk)) {
			return fmt.Errorf("%w: page of %d bytes overruns its chunk", ErrCorrupt, body)
		}
		cs.Headers += int64(n)
		switch h.Type {
		case format.DictionaryPage:
			cs.DictPages++
			cs.Dict += body
		case format.DataPageV2:
			cs.Pages++
			lv := int64(h.DataPageHeaderV2.V.DefinitionLevelsByteLength) + int64(h.DataPageHeaderV2.V.RepetitionLevelsByteLength)
			cs.Levels += lv
			cs.Values += body - lv
			cs.Uncompr += int64(h.UncompressedPageSize) - lv
		default:
			cs.Pages++
			cs.Values += body
			cs.Uncompr += int64(h.UncompressedPageSize)
		}
		chunk = chunk[int64(n)+body:]
	}
	return nil
}

// decodePageHeader decodes the Thrift page header at the start of b and
// returns its length.
func decodePageHeader(b []byte, h *format.PageHeader) (int, error) {
	proto := &thrift.CompactProtocol{}
	r := proto.NewReaderFromBytes(b)
	if err := thrift.NewDecoder(r).Decode(h); err != nil {
		return 0, fmt.Errorf("%w: page header: %v", ErrCorrupt, err)
	}
	br, ok := r.(interface{ BytesRead() int })
	if !ok {
		return 0, fmt.Errorf("thrift reader does not count bytes")
	}
	return br.BytesRead(), nil
}
