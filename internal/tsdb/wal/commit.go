package wal

import (
	"fmt"
	"hash/crc32"
)

// Group commit (leader/follower, no background goroutine).
//
// Invariants:
//  1. At most one leader exists (mu.leading). Only the leader takes the
//     pending batch, so log order is the order in which callers queued.
//  2. A batch is written with one write syscall and made durable with one
//     fsync, always into one segment (the roll decision is made per batch),
//     so the records of one Append are contiguous and in one segment.
//  3. A caller returns only after the batch holding its records was synced
//     (or failed).
//
// Algorithm. Append frames its records into mu.pending under mu. If no leader
// is active, the caller becomes leader: it swaps pending for the spare batch,
// drops mu, writes and fsyncs, retakes mu, and wakes every follower of that
// batch with the result. If callers queued meanwhile, the leader hands
// leadership to the first of them (which leads the next batch, its own
// records included) instead of looping itself, so no caller waits for more
// than the fsync in flight plus its own. Otherwise leading turns false.
// Callers arriving while a leader runs just queue and sleep: that is where
// batching comes from, and it grows with fsync latency by itself, without a
// timer.
//
// Simpler approach considered: a dedicated writer goroutine fed by a channel.
// It costs two goroutine switches per Append even with one caller, and a
// goroutine to start and stop; the leader scheme writes from the caller.
//
// Allocation: framing appends into two batch buffers that alternate and are
// reused; waiters come from a per-Log sync.Pool and their channels are reused.
// A batch buffer that grew past maxRetainedBuf is dropped after use so one
// burst of huge records does not pin memory forever.

const maxRetainedBuf = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batch is one group commit: framed records and the callers waiting on them.
type batch struct {
	buf     []byte
	records int
	appends int
	waiters []*waiter
}

func (b *batch) reset() {
	clear(b.waiters)
	b.waiters = b.waiters[:0]
	if cap(b.buf) > maxRetainedBuf {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	b.records, b.appends = 0, 0
}

// waiter is a follower parked until its batch is written.
type waiter struct {
	done chan struct{} // capacity 1; one send per wake-up
	lead bool          // woken to lead the next batch rather than with a result
	seg  int
	err  error
}

// crcStack is how many record checksums Append computes before taking mu;
// more records than that are checksummed under mu.
const crcStack = 16

// Append writes recs, each as one framed record, and returns once they are
// durable (unless Options.NoSync), with the number of the segment that holds
// them. All records of one call land in that segment, contiguous and in
// order. Append does not keep recs after it returns. With no records it
// writes nothing and returns the current segment.
//
// An error from a failed write or fsync is sticky: the records may or may not
// be on disk, and every later Append returns the same error. Close and
// reopen the log to recover.
func (l *Log) Append(recs ...[]byte) (seg int, err error) {
	var crcs [crcStack]uint32
	for i, r := range recs {
		if len(r) > MaxRecordSize {
			return 0, fmt.Errorf("wal: append: record %d is %d bytes, above the %d limit", i, len(r), MaxRecordSize)
		}
		if i < crcStack {
			crcs[i] = recordCRC(r)
		}
	}

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return 0, ErrClosed
	case !l.replayed:
		l.mu.Unlock()
		return 0, ErrNotReplayed
	case l.err != nil:
		err := l.err
		l.mu.Unlock()
		return 0, err
	case len(recs) == 0:
		l.mu.Unlock()
		return int(l.last.Load()), nil
	}
	p := l.pending
	for i, r := range recs {
		var c uint32
		if i < crcStack {
			c = crcs[i]
		} else {
			c = recordCRC(r)
		}
		p.buf = appendFrame(p.buf, r, c)
	}
	p.records += len(recs)
	p.appends++

	if !l.leading {
		l.leading = true
		return l.lead()
	}
	w := l.waiters.Get().(*waiter)
	p.waiters = append(p.waiters, w)
	l.mu.Unlock()

	<-w.done
	lead, seg, err := w.lead, w.seg, w.err
	*w = waiter{done: w.done}
	l.waiters.Put(w)
	if lead {
		l.mu.Lock()
		return l.lead()
	}
	return seg, err
}

// lead writes the pending batch, which holds the caller's own records, then
// wakes its followers and passes leadership on. Called with mu held and
// leading set; returns with mu released.
func (l *Log) lead() (int, error) {
	b := l.pending
	l.pending, l.spare = l.spare, nil
	err := l.err
	var seg int
	if err == nil {
		l.mu.Unlock()
		seg, err = l.writeBatch(b)
		l.mu.Lock()
		if err != nil && l.err == nil {
			l.err = err
		}
	}
	for _, w := range b.waiters {
		w.seg, w.err = seg, err
		w.done <- struct{}{}
	}
	b.reset()
	l.spare = b

	if next := l.pending.waiters; len(next) > 0 {
		// Hand over: the first queued caller leads the batch it is in.
		w := next[0]
		copy(next, next[1:])
		next[len(next)-1] = nil
		l.pending.waiters = next[:len(next)-1]
		w.lead = true
		w.done <- struct{}{}
	} else {
		l.leading = false
		l.idle.Broadcast()
	}
	l.mu.Unlock()
	return seg, err
}

// writeBatch writes b with one write call into the current segment, rolling
// first if b would overflow a non-empty segment, then fsyncs.
func (l *Log) writeBatch(b *batch) (int, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.f == nil {
		return 0, ErrClosed
	}
	if l.segSize > headerSize && l.segSize+int64(len(b.buf)) > l.opts.SegmentSize {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(b.buf)
	l.segSize += int64(n)
	l.size.Add(int64(n))
	l.stats.bytes.Add(uint64(n))
	if err != nil {
		return 0, fmt.Errorf("wal: write segment %s: %w", segmentName(l.seg), err)
	}
	if !l.opts.NoSync {
		if err := fdatasync(l.f); err != nil {
			return 0, fmt.Errorf("wal: sync segment %s: %w", segmentName(l.seg), err)
		}
		l.stats.fsyncs.Add(1)
	}
	l.stats.batches.Add(1)
	l.stats.records.Add(uint64(b.records))
	l.stats.appends.Add(uint64(b.appends))
	return l.seg, nil
}
