package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Replay calls fn for every record, in log order, oldest segment first. rec
// is only valid during the call; fn must copy what it keeps. It must be
// called exactly once, after Open and before any write. An error from fn
// stops the replay and is returned wrapped; the log then stays unwritable.
//
// Damage is handled by where it is:
//   - in the last segment, or in a segment followed only by empty segments:
//     the file is truncated to the end of its last good record (the header
//     rewritten if the header itself was torn), fsynced, and a warning names
//     segment, offset, bytes dropped and why. Records before it are kept.
//   - anywhere else: Replay returns a *CorruptionError (wrapping
//     ErrCorruption) naming segment and offset, after calling fn for every
//     good record before it, and changes nothing on disk.
//
// A missing segment number between first and last is corruption too. A
// segment written by a newer format version is an error that is not
// ErrCorruption: it is never repaired.
func (l *Log) Replay(fn func(seg int, rec []byte) error) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.replayStarted:
		l.mu.Unlock()
		return errors.New("wal: Replay called twice")
	}
	l.replayStarted = true
	l.mu.Unlock()

	l.writeMu.Lock()
	defer l.writeMu.Unlock()

	segs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("wal: replay: %w", err)
	}
	if len(segs) == 0 {
		// Deleted behind our back after Open; start afresh rather than fail.
		f, err := createSegment(l.dir, int(l.last.Load())+1)
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		f.Close()
		segs = []int{int(l.last.Load()) + 1}
	}
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[i-1]+1 {
			return &CorruptionError{Segment: segs[i-1] + 1, Offset: 0,
				Reason: fmt.Sprintf("segment missing between %s and %s", segmentName(segs[i-1]), segmentName(segs[i]))}
		}
	}

	r := segmentReader{br: bufio.NewReaderSize(nil, 256<<10)}
	for i, s := range segs {
		cerr, err := r.replay(l.dir, s, fn)
		if err != nil {
			return err
		}
		if cerr == nil {
			continue
		}
		tail, err := onlyEmptyAfter(l.dir, segs[i+1:])
		if err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		if !tail {
			return cerr
		}
		if err := l.repair(cerr, r.size); err != nil {
			return err
		}
	}

	last := segs[len(segs)-1]
	f, err := os.OpenFile(segmentPath(l.dir, last), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("wal: replay: open last segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: replay: %w", err)
	}
	if err := l.refreshRange(segs); err != nil {
		f.Close()
		return fmt.Errorf("wal: replay: %w", err)
	}
	l.f, l.seg, l.segSize = f, last, fi.Size()

	l.mu.Lock()
	l.replayed = true
	l.mu.Unlock()
	return nil
}

// onlyEmptyAfter reports whether every segment in segs holds no record.
func onlyEmptyAfter(dir string, segs []int) (bool, error) {
	for _, s := range segs {
		fi, err := os.Stat(segmentPath(dir, s))
		if err != nil {
			return false, err
		}
		if fi.Size() > headerSize {
			return false, nil
		}
	}
	return true, nil
}

// repair cuts segment c.Segment at c.Offset (rewriting the header if it was
// torn) and makes the cut durable.
func (l *Log) repair(c *CorruptionError, size int64) error {
	p := segmentPath(l.dir, c.Segment)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: repair: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(c.Offset); err != nil {
		return fmt.Errorf("wal: repair %s: truncate: %w", p, err)
	}
	if c.Offset < headerSize {
		h := segmentHeader()
		if _, err := f.WriteAt(h[:], 0); err != nil {
			return fmt.Errorf("wal: repair %s: rewrite header: %w", p, err)
		}
	}
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("wal: repair %s: sync: %w", p, err)
	}
	l.stats.fsyncs.Add(1)
	l.logger.Warn("wal: cut off torn or corrupt tail",
		"segment", c.Segment, "offset", c.Offset, "bytes_dropped", size-c.Offset,
		"reason", c.Reason, "file", p)
	return nil
}

// segmentReader reads one segment at a time, reusing its buffers.
type segmentReader struct {
	br   *bufio.Reader
	rec  []byte
	size int64 // size of the segment last read
}

// replay feeds the good records of segment s to fn. It returns a
// CorruptionError at the first bad byte, or err for I/O and fn failures.
func (r *segmentReader) replay(dir string, s int, fn func(int, []byte) error) (*CorruptionError, error) {
	p := segmentPath(dir, s)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("wal: replay: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("wal: replay: %w", err)
	}
	r.size = fi.Size()
	r.br.Reset(f)
	return scanSegment(r.br, r.size, s, &r.rec, fn)
}

// scanSegment parses a segment of size bytes from br. buf is reused for
// payloads. I/O errors other than a short file are returned as err.
func scanSegment(br io.Reader, size int64, s int, buf *[]byte, fn func(int, []byte) error) (*CorruptionError, error) {
	corrupt := func(off int64, format string, args ...any) (*CorruptionError, error) {
		return &CorruptionError{Segment: s, Offset: off, Reason: fmt.Sprintf(format, args...)}, nil
	}
	readErr := func(off int64, err error) error {
		return fmt.Errorf("wal: replay: read segment %s at offset %d: %w", segmentName(s), off, err)
	}

	var h [headerSize]byte
	if size < headerSize {
		return corrupt(0, "torn segment header (%d bytes)", size)
	}
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, readErr(0, err)
	}
	if !bytes.Equal(h[:4], segmentMagic[:]) {
		if h == ([headerSize]byte{}) {
			return corrupt(0, "zero-filled segment header")
		}
		return corrupt(0, "bad segment magic %x", h[:4])
	}
	if h[4] != formatVersion {
		return nil, fmt.Errorf("wal: replay: segment %s has format version %d, this build reads %d", segmentName(s), h[4], formatVersion)
	}

	off := int64(headerSize)
	var fh [frameHeaderSize]byte
	for off < size {
		left := size - off
		if left < frameHeaderSize {
			return corrupt(off, "truncated record header (%d bytes left)", left)
		}
		if _, err := io.ReadFull(br, fh[:]); err != nil {
			return nil, readErr(off, err)
		}
		n := int64(binary.LittleEndian.Uint32(fh[0:4]))
		crc := binary.LittleEndian.Uint32(fh[4:8])
		switch {
		case fh == ([frameHeaderSize]byte{}):
			return corrupt(off, "zero-filled record header")
		case n > MaxRecordSize:
			return corrupt(off, "record length %d above the %d limit", n, MaxRecordSize)
		case n > left-frameHeaderSize:
			return corrupt(off, "truncated record: length %d, %d bytes left", n, left-frameHeaderSize)
		}
		if int64(cap(*buf)) < n {
			*buf = make([]byte, n)
		}
		rec := (*buf)[:n]
		if _, err := io.ReadFull(br, rec); err != nil {
			return nil, readErr(off, err)
		}
		if got := crc32.Update(lengthCRC(uint32(n)), castagnoli, rec); got != crc {
			return corrupt(off, "checksum mismatch: stored %08x, computed %08x", crc, got)
		}
		if err := fn(s, rec); err != nil {
			return nil, fmt.Errorf("wal: replay: segment %s offset %d: %w", segmentName(s), off, err)
		}
		off += frameHeaderSize + n
	}
	return nil, nil
}
