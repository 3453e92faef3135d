package part

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// A part keeps the column index (per-page min/max) only of the columns a
// scan prunes pages with: time, and measure_name and the dimensions when
// the part has no series statistics (with them, a series' rows come from
// the statistics, not from page bounds). Value and version columns are
// never filtered on, and dimension bounds are long strings (~80 bytes a
// page for a device id pair), so theirs cost ~0.035 byte per point for
// nothing. Every column keeps its offset index, which locates pages.
//
// parquet-go writes a column index for every chunk, so the writer drops
// the unwanted ones afterwards: it rewrites the file's tail (column
// indexes, offset indexes, footer), which follows the last data page.
// parquet-go's reader finds the column indexes from the first chunk's
// offset and reads them as one contiguous run, so the first chunk of the
// first row group keeps its column index whatever its column, and kept
// indexes are laid out contiguously in chunk order; so are the offset
// indexes after them.

// fileRW is what pruneColumnIndexes needs of the file being written.
type fileRW interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
}

// pruneColumnIndexes drops the column index of every chunk whose leaf
// column keep rejects (but chunk 0 of row group 0), given the file's size,
// and returns the new size.
func pruneColumnIndexes(f fileRW, size int64, keep func(leaf int) bool) (int64, error) {
	var tail [8]byte
	if size < 12 {
		return 0, fmt.Errorf("%d bytes", size)
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return 0, err
	}
	flen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if string(tail[4:]) != "PAR1" || flen > size-12 {
		return 0, fmt.Errorf("no footer")
	}
	footer := make([]byte, flen)
	if _, err := f.ReadAt(footer, size-8-flen); err != nil {
		return 0, err
	}
	var md format.FileMetaData
	proto := &thrift.CompactProtocol{}
	if err := thrift.Unmarshal(proto, footer, &md); err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	// The index region: from the first index to the footer.
	start := size - 8 - flen
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			if cc.ColumnIndexOffset <= 0 || cc.OffsetIndexOffset <= 0 {
				return 0, fmt.Errorf("chunk without page index")
			}
			start = min(start, cc.ColumnIndexOffset, cc.OffsetIndexOffset)
		}
	}
	region := make([]byte, size-8-flen-start)
	if _, err := f.ReadAt(region, start); err != nil {
		return 0, err
	}
	slice := func(off int64, n int32) ([]byte, error) {
		a := off - start
		if a < 0 || n < 0 || a+int64(n) > int64(len(region)) {
			return nil, fmt.Errorf("page index at %d+%d outside its region", off, n)
		}
		return region[a : a+int64(n)], nil
	}
	out := make([]byte, 0, len(region))
	pos := start
	for g := range md.RowGroups {
		for c := range md.RowGroups[g].Columns {
			cc := &md.RowGroups[g].Columns[c]
			if (g > 0 || c > 0) && !keep(c) {
				cc.ColumnIndexOffset, cc.ColumnIndexLength = 0, 0
				continue
			}
			b, err := slice(cc.ColumnIndexOffset, cc.ColumnIndexLength)
			if err != nil {
				return 0, err
			}
			out = append(out, b...)
			cc.ColumnIndexOffset = pos
			pos += int64(len(b))
		}
	}
	for g := range md.RowGroups {
		for c := range md.RowGroups[g].Columns {
			cc := &md.RowGroups[g].Columns[c]
			b, err := slice(cc.OffsetIndexOffset, cc.OffsetIndexLength)
			if err != nil {
				return 0, err
			}
			out = append(out, b...)
			cc.OffsetIndexOffset = pos
			pos += int64(len(b))
		}
	}
	nf, err := thrift.Marshal(proto, &md)
	if err != nil {
		return 0, fmt.Errorf("footer: %w", err)
	}
	out = append(out, nf...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(nf)))
	out = append(out, "PAR1"...)
	if _, err := f.WriteAt(out, start); err != nil {
		return 0, err
	}
	end := start + int64(len(out))
	if err := f.Truncate(end); err != nil {
		return 0, err
	}
	return end, nil
}
