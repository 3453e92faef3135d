package tsdb

import (
	"errors"
	"sync"

	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// commitQueue orders WAL entries and makes them durable in groups.
//
// Writers enqueue their encoded entry while holding their table's lock,
// which fixes WAL order to decision order; they then release the lock and
// wait until the entry is durable. One goroutine drains the queue: all
// entries that arrived while the previous fsync ran go to the WAL in one
// Append (one write, one fsync), which is what makes many small concurrent
// writes cheap. A writer whose records were all no-ops waits for the last
// enqueued entry instead, because its answer depended on it.
//
// A cut (flush rotation) is an entry too, so it lands between the entries
// of the old and the new memtable generation.
type commitQueue struct {
	wal *wal.Log

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []commitItem
	enqueued uint64 // sequence of the last entry queued
	durable  uint64 // sequence of the last entry on disk
	cutSegs  map[uint64]int
	err      error // sticky: the WAL failed, nothing more is durable
	closed   bool
}

type commitItem struct {
	seq uint64
	buf []byte
	cut bool
}

var errCommitClosed = errors.New("tsdb: commit queue closed")

func newCommitQueue(w *wal.Log) *commitQueue {
	q := &commitQueue{wal: w, cutSegs: map[uint64]int{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// enqueue queues buf and returns its sequence.
func (q *commitQueue) enqueue(buf []byte) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueued++
	q.queue = append(q.queue, commitItem{seq: q.enqueued, buf: buf})
	q.cond.Broadcast()
	return q.enqueued
}

// enqueueCut queues a WAL cut; waitCut returns the new segment.
func (q *commitQueue) enqueueCut() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueued++
	q.queue = append(q.queue, commitItem{seq: q.enqueued, cut: true})
	q.cond.Broadcast()
	return q.enqueued
}

// last returns the sequence of the newest queued entry.
func (q *commitQueue) last() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.enqueued
}

// wait blocks until entry seq is durable.
func (q *commitQueue) wait(seq uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.durable < seq && q.err == nil {
		q.cond.Wait()
	}
	if q.durable >= seq {
		return nil
	}
	return q.err
}

func (q *commitQueue) waitCut(seq uint64) (int, error) {
	if err := q.wait(seq); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	seg := q.cutSegs[seq]
	delete(q.cutSegs, seq)
	return seg, nil
}

func (q *commitQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// run drains the queue until close; entries queued before close are still
// written.
func (q *commitQueue) run() {
	var bufs [][]byte
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.queue) == 0 && q.closed {
			if q.err == nil {
				q.err = errCommitClosed
			}
			q.cond.Broadcast()
			q.mu.Unlock()
			return
		}
		items := q.queue
		q.queue = nil
		q.mu.Unlock()

		var err error
		var lastSeq uint64
		cuts := map[uint64]int{}
		bufs = bufs[:0]
		flush := func() {
			if err == nil && len(bufs) > 0 {
				_, err = q.wal.Append(bufs...)
			}
			bufs = bufs[:0]
		}
		for _, it := range items {
			if it.cut {
				flush()
				if err == nil {
					var seg int
					seg, err = q.wal.Cut()
					cuts[it.seq] = seg
				}
			} else {
				bufs = append(bufs, it.buf)
			}
			lastSeq = it.seq
		}
		flush()
		for i := range bufs {
			bufs[i] = nil
		}

		q.mu.Lock()
		if err != nil {
			q.err = err
		} else {
			q.durable = lastSeq
			for k, v := range cuts {
				q.cutSegs[k] = v
			}
		}
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}
