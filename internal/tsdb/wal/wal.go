// Package wal is the write-ahead log of sluice's storage engine: it frames
// opaque byte records into numbered segment files with CRC32C checksums,
// makes them durable with group commit, and replays and repairs them after a
// crash. It knows nothing of what the bytes mean (that is package tsdb's
// business); the on-disk format is drawn in ../docs/format/wal.md.
//
// Usage contract (enforced with errors, not trusted):
//   - Open, then Replay exactly once, then Append/Cut/TruncateBefore, then Close.
//     Append and Cut before a successful Replay return ErrNotReplayed; after
//     Close they return ErrClosed.
//   - Replay reads every segment oldest first. A torn or corrupt tail of the
//     last segment (or of a segment followed only by empty segments) is cut
//     off and logged; corruption anywhere else is returned as a
//     *CorruptionError wrapping ErrCorruption and nothing is changed on disk.
//   - Once a write or fsync has failed, the Log refuses every later write with
//     that error (after a failed fsync the page cache can no longer be trusted).
//     Close it and Open it again: Replay repairs whatever was half written.
//
// Concurrency: every method is safe for concurrent use. Concurrent Appends are
// group-committed (see commit.go): one write and one fsync cover every caller
// that queued while the previous fsync ran.
//
// Invariants:
//   - Segment numbers on disk are contiguous; the last one is the only one
//     written to. A number is never reused, even if its segment was empty.
//   - Every byte before the current end of a segment except a torn tail of the
//     last segment is a sequence of complete, checksummed records.
//   - In durable mode (NoSync false) Append returns only after the records, and
//     the directory entry of any segment created for them, are fsynced.
//   - Every segment except the last was fsynced before the next was created, in
//     NoSync mode too, so a lost tail can only ever be at the end of the log.
//   - Records of one Append are contiguous, in order, in one segment. They are
//     not atomic across a crash: if the process dies before Append returns, a
//     prefix of its records may survive.
package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
const DefaultSegmentSize = 64 << 20

// MaxRecordSize is the largest record Append accepts. Replay treats a length
// field above it as corruption, which keeps a flipped bit in a length from
// asking for gigabytes of memory.
const MaxRecordSize = 256 << 20

var (
	// ErrCorruption is wrapped by every error that reports damaged log data.
	ErrCorruption = errors.New("wal: corruption")
	// ErrClosed is returned by operations on a closed Log.
	ErrClosed = errors.New("wal: log closed")
	// ErrNotReplayed is returned by Append and Cut before Replay has succeeded.
	ErrNotReplayed = errors.New("wal: Replay must complete before writing")
)

// CorruptionError locates damaged log data. It matches ErrCorruption with
// errors.Is.
type CorruptionError struct {
	Segment int    // segment number
	Offset  int64  // byte offset in the segment file of the first bad byte
	Reason  string // what was wrong there
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corruption in segment %s at offset %d: %s", segmentName(e.Segment), e.Offset, e.Reason)
}

// Is reports whether target is ErrCorruption.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorruption }

// Options configure a Log. The zero value is durable with 64 MiB segments.
type Options struct {
	// SegmentSize is how many bytes a segment may hold before Append rolls
	// to a new one; 0 means DefaultSegmentSize. A single Append larger than
	// this still goes into one segment, which then exceeds it.
	SegmentSize int64
	// NoSync skips the fsync before Append returns. Records then survive a
	// crash of the process (they are in the page cache) but NOT a crash of
	// the OS or a power cut: the last writes before one are lost, and Replay
	// cuts them off as a torn tail. Segment boundaries and Close still fsync.
	NoSync bool
}

// Stats are counters since Open. FSyncs counts data and directory fsyncs.
type Stats struct {
	Appends      uint64 // Append calls that succeeded
	Records      uint64 // records written
	Batches      uint64 // group commits (one write syscall each)
	FSyncs       uint64 // fsync/fdatasync calls on segment files and the directory
	BytesWritten uint64 // bytes written, framing included
}

// Log is a write-ahead log in one directory. See the package comment for
// its contract.
type Log struct {
	// Set in Open, never changed.
	dir    string
	opts   Options
	logger *slog.Logger

	// Readable without a lock.
	first, last atomic.Int64 // segment range on disk
	size        atomic.Int64 // bytes on disk across segments
	stats       struct{ appends, records, batches, fsyncs, bytes atomic.Uint64 }

	// writeMu serializes everything that touches segment files: the commit
	// leader's write+fsync, Cut, TruncateBefore, Replay and Close.
	// Lock order: writeMu before mu.
	writeMu sync.Mutex
	f       *os.File // current (last) segment; nil before Replay and after Close
	seg     int      // number of f
	segSize int64    // bytes in f

	// mu guards the lifecycle state and the commit queue (commit.go). It is
	// never held across I/O.
	mu            sync.Mutex
	idle          sync.Cond // broadcast when leading turns false
	replayStarted bool
	replayed      bool
	closed        bool
	err           error // sticky: first write/fsync failure
	leading       bool  // a commit leader is active
	pending       *batch
	spare         *batch
	waiters       sync.Pool // of *waiter
}

// Open opens the log in dir, creating dir and a first segment if needed.
// Replay must be called next. A nil logger discards messages.
func Open(dir string, opts Options, logger *slog.Logger) (*Log, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal: open %s: negative SegmentSize %d", dir, opts.SegmentSize)
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	l := &Log{dir: dir, opts: opts, logger: logger}
	l.idle.L = &l.mu
	l.pending, l.spare = &batch{}, &batch{}
	l.waiters.New = func() any { return &waiter{done: make(chan struct{}, 1)} }

	segs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	if len(segs) == 0 {
		f, err := createSegment(dir, 1)
		if err != nil {
			return nil, fmt.Errorf("wal: open: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("wal: open: close new segment: %w", err)
		}
		l.stats.fsyncs.Add(2)
		segs = []int{1}
	}
	if err := l.refreshRange(segs); err != nil {
		return nil, fmt.Errorf("wal: open: %w", err)
	}
	return l, nil
}

// refreshRange sets first, last and size from the segments on disk.
func (l *Log) refreshRange(segs []int) error {
	var total int64
	for _, s := range segs {
		fi, err := os.Stat(segmentPath(l.dir, s))
		if err != nil {
			return err
		}
		total += fi.Size()
	}
	l.first.Store(int64(segs[0]))
	l.last.Store(int64(segs[len(segs)-1]))
	l.size.Store(total)
	return nil
}

// Segments returns the range of segment numbers on disk, both inclusive.
func (l *Log) Segments() (first, last int) {
	return int(l.first.Load()), int(l.last.Load())
}

// Size returns the bytes on disk across all segments.
func (l *Log) Size() int64 { return l.size.Load() }

// Dir returns the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// Stats returns counters since Open.
func (l *Log) Stats() Stats {
	return Stats{
		Appends:      l.stats.appends.Load(),
		Records:      l.stats.records.Load(),
		Batches:      l.stats.batches.Load(),
		FSyncs:       l.stats.fsyncs.Load(),
		BytesWritten: l.stats.bytes.Load(),
	}
}

// Cut finishes the current segment and starts a new one, so that records
// acknowledged before Cut are in segments below the returned number and
// records appended after it returns are in it or later. It always creates a
// segment, even if the current one is empty.
func (l *Log) Cut() (seg int, err error) {
	if err := l.checkWritable(); err != nil {
		return 0, err
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.f == nil {
		return 0, ErrClosed
	}
	if err := l.rollLocked(); err != nil {
		l.fail(err)
		return 0, err
	}
	return l.seg, nil
}

// checkWritable reports why the log cannot be written to, if it cannot.
func (l *Log) checkWritable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return ErrClosed
	case !l.replayed:
		return ErrNotReplayed
	}
	return l.err
}

// fail records the first write failure; every later write returns it.
func (l *Log) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// rollLocked makes the current segment durable, closes it and opens the next.
// The caller holds writeMu.
func (l *Log) rollLocked() error {
	if l.opts.NoSync {
		// Durable mode already synced every batch; NoSync syncs here so that
		// only the last segment can ever have a lost tail.
		if err := fdatasync(l.f); err != nil {
			return fmt.Errorf("wal: sync segment %s before roll: %w", segmentName(l.seg), err)
		}
		l.stats.fsyncs.Add(1)
	}
	next := l.seg + 1
	nf, err := createSegment(l.dir, next)
	if err != nil {
		return fmt.Errorf("wal: roll: %w", err)
	}
	l.stats.fsyncs.Add(2)
	if err := l.f.Close(); err != nil {
		nf.Close()
		return fmt.Errorf("wal: close segment %s: %w", segmentName(l.seg), err)
	}
	l.f, l.seg, l.segSize = nf, next, headerSize
	l.size.Add(headerSize)
	l.last.Store(int64(next))
	return nil
}

// TruncateBefore deletes the segments numbered below seg, oldest first, so a
// crash part way leaves a contiguous range. The last segment is never
// deleted: seg above it is an error (Cut first).
func (l *Log) TruncateBefore(seg int) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	first, last := l.Segments()
	if seg > last {
		return fmt.Errorf("wal: truncate before %d: the last segment is %d and cannot be deleted; Cut first", seg, last)
	}
	if seg <= first {
		return nil
	}
	for s := first; s < seg; s++ {
		p := segmentPath(l.dir, s)
		fi, err := os.Stat(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: truncate before %d: %w", seg, err)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: truncate before %d: %w", seg, err)
		}
		if fi != nil {
			l.size.Add(-fi.Size())
		}
		l.first.Store(int64(s + 1))
	}
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("wal: truncate before %d: %w", seg, err)
	}
	l.stats.fsyncs.Add(1)
	return nil
}

// Close waits for queued Appends to finish, syncs the current segment (in
// NoSync mode) and closes it. It is idempotent; later calls return nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	for l.leading {
		l.idle.Wait()
	}
	sticky := l.err
	l.mu.Unlock()

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.f == nil {
		return nil
	}
	var err error
	if l.opts.NoSync && sticky == nil {
		if err = fdatasync(l.f); err != nil {
			err = fmt.Errorf("wal: close: sync segment %s: %w", segmentName(l.seg), err)
		} else {
			l.stats.fsyncs.Add(1)
		}
	}
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("wal: close segment %s: %w", segmentName(l.seg), cerr)
	}
	l.f = nil
	return err
}
