package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// On-disk layout (docs/format/wal.md draws it):
//
//	segment := header record*
//	header  := magic "SLWL" (4 bytes) | version (1 byte = 1) | 3 zero bytes
//	record  := length (uint32 LE) | crc (uint32 LE) | payload (length bytes)
//	crc     := CRC32C(length bytes ‖ payload)
//
// The CRC covers the length so that a zero-filled header (length 0, crc 0)
// never checks out: CRC32C of four zero bytes is not zero.
const (
	headerSize      = 8
	frameHeaderSize = 8
	formatVersion   = 1
	segmentDigits   = 8
)

var segmentMagic = [4]byte{'S', 'L', 'W', 'L'}

func segmentHeader() [headerSize]byte {
	var h [headerSize]byte
	copy(h[:], segmentMagic[:])
	h[4] = formatVersion
	return h
}

// segmentName is the file name of segment n: zero-padded decimal.
func segmentName(n int) string { return fmt.Sprintf("%0*d", segmentDigits, n) }

func segmentPath(dir string, n int) string { return filepath.Join(dir, segmentName(n)) }

// parseSegmentName returns the number of a segment file name; other names
// (temporary files, checkpoints kept by a caller) are not segments.
func parseSegmentName(name string) (int, bool) {
	if len(name) < segmentDigits {
		return 0, false
	}
	for _, c := range []byte(name) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(name)
	return n, err == nil
}

// listSegments returns the segment numbers in dir, ascending.
func listSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var segs []int
	for _, e := range ents {
		if n, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// recordCRC is the checksum stored in a record's frame header.
func recordCRC(rec []byte) uint32 {
	return crc32.Update(lengthCRC(uint32(len(rec))), castagnoli, rec)
}

// lengthCRC is CRC32C of the four little-endian length bytes, computed byte
// by byte from the table: handing crc32.Update a slice of a local array would
// move the array to the heap on every record.
func lengthCRC(n uint32) uint32 {
	crc := ^uint32(0)
	for range 4 {
		crc = castagnoli[byte(crc)^byte(n)] ^ crc>>8
		n >>= 8
	}
	return ^crc
}

// appendFrame appends rec framed with its precomputed crc to dst.
func appendFrame(dst, rec []byte, crc uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(rec)))
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return append(dst, rec...)
}

// createSegment creates segment n with its header and makes both the file
// and its directory entry durable before returning it open for appending.
func createSegment(dir string, n int) (*os.File, error) {
	p := segmentPath(dir, n)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	h := segmentHeader()
	if _, err := f.Write(h[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: write header: %w", p, err)
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: sync: %w", p, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment %s: %w", p, err)
	}
	return f, nil
}

// syncDir fsyncs a directory so that entries created or removed in it survive
// a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
