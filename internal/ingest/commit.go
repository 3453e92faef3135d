package ingest

// Group commit.
//
// A sender (HTTP request, MQTT publish, Publish call) encodes its events
// with stream.AppendRecord into its own buffer, cut into chunks of at most
// GroupCommitBytes, reserves the buffer's size from the queue limit, hands
// the chunks to the stream's committer and waits. Each committer has up to
// MaxInflight workers; a worker takes as many queued chunks as fit into one
// frame, prefixes the frame header, publishes the frame with one
// Broker.Publish call and then tells every chunk's waiter the outcome.
// While a worker's publish is in flight, new chunks pile up in the queue and
// go out together in the next frame, so the number of publishes (and
// fsyncs) per second stays small however many senders there are.
//
// Encoding happens in the senders' goroutines (in parallel); the committer
// only copies bytes. A frame buffer is reused only after a successful
// publish: after an error or timeout the broker's client might still hold
// it, and reusing it could put altered bytes into the stream.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/stream"
)

// maxFrameHeader is the largest frame header: version byte + uvarint count.
const maxFrameHeader = 1 + 10

// chunk is a run of encoded records (no frame header) from one sender.
type chunk struct {
	data  []byte
	n     int
	first int // index of the chunk's first record among the sender's
	w     *waiter
}

// waiter collects the outcome of all chunks of one sender.
type waiter struct {
	mu   sync.Mutex
	left int   // guarded by mu
	err  error // first error; guarded by mu
	done chan struct{}
	// pos, when not nil, gets the position of every record the committer
	// published (written before finish, read after done).
	pos []stream.Position
}

func newWaiter() *waiter { return &waiter{done: make(chan struct{}, 1)} }

func (w *waiter) arm(n int) {
	w.mu.Lock()
	w.left, w.err = n, nil
	w.mu.Unlock()
}

func (w *waiter) finish(err error) {
	w.mu.Lock()
	if err != nil && w.err == nil {
		w.err = err
	}
	w.left--
	last := w.left == 0
	w.mu.Unlock()
	if last {
		w.done <- struct{}{}
	}
}

// result is valid after done has been received from.
func (w *waiter) result() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// queueLimit bounds the bytes waiting for the stream, across all streams.
type queueLimit struct {
	max   int64
	gauge prometheus.Gauge // set in New

	mu    sync.Mutex
	used  int64         // guarded by mu
	freed chan struct{} // closed when bytes are released and someone waits; guarded by mu
}

func newQueueLimit(max int64) *queueLimit { return &queueLimit{max: max} }

// full reports whether nothing more fits; used to refuse before reading a body.
func (q *queueLimit) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used >= q.max
}

// tryReserve takes n more bytes for a sender that already holds own bytes,
// if they fit. A queue holding nothing but the sender's own bytes takes
// anything, so that a sender larger than the limit still makes progress
// (its size is bounded by MaxBodyBytes anyway).
func (q *queueLimit) tryReserve(n, own int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used > own && q.used+n > q.max {
		return false
	}
	q.used += n
	q.gauge.Set(float64(q.used))
	return true
}

// reserve waits until n bytes fit, ctx ends or stop reports true.
func (q *queueLimit) reserve(ctx context.Context, n int64, stop func() bool) error {
	for {
		q.mu.Lock()
		if q.used == 0 || q.used+n <= q.max {
			q.used += n
			q.gauge.Set(float64(q.used))
			q.mu.Unlock()
			return nil
		}
		if q.freed == nil {
			q.freed = make(chan struct{})
		}
		ch := q.freed
		q.mu.Unlock()
		if stop() {
			return ErrShuttingDown
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ingest: waiting for queue space: %w (%w)", stream.ErrBackpressure, ctx.Err())
		}
	}
}

func (q *queueLimit) release(n int64) {
	q.mu.Lock()
	q.used -= n
	q.gauge.Set(float64(q.used))
	if q.freed != nil {
		close(q.freed)
		q.freed = nil
	}
	q.mu.Unlock()
}

// wakeAll wakes every reserve so it can notice shutdown.
func (q *queueLimit) wakeAll() { q.release(0) }

// committer packs the chunks queued for one stream into frames.
type committer struct {
	s    *Service
	name string
	wake chan struct{} // cap 1: "the queue may be non-empty"
	quit chan struct{} // closed by stop

	mu      sync.Mutex
	queue   []chunk // guarded by mu
	stopped bool    // guarded by mu
}

// committerFor returns the stream's committer, starting it on first use.
// A stream is only given a committer once the broker knows it, so that
// names from the network cannot grow the map without bound.
func (s *Service) committerFor(ctx context.Context, name string) (*committer, error) {
	s.mu.Lock()
	c := s.committers[name]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	ok, err := s.streamExists(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("ingest: stream %q: %w", name, stream.ErrNoStream)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.committers[name]; c != nil {
		return c, nil
	}
	c = &committer{s: s, name: name, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	for i := 0; i < s.opts.MaxInflight; i++ {
		if !s.goroutine("commit/"+name, c.work) {
			// Only possible after every sender has left; close what started.
			c.stop()
			return nil, ErrShuttingDown
		}
	}
	s.committers[name] = c
	return c, nil
}

// streamExists reports whether the broker has the stream. Known names are
// cached; a miss lists the broker's streams again, but concurrent misses
// share one listing that started after they arrived, so a flood of
// requests for unknown streams costs one broker call at a time.
func (s *Service) streamExists(ctx context.Context, name string) (bool, error) {
	arrived := time.Now()
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	s.mu.Lock()
	ok, fresh := s.known[name], s.knownAt.After(arrived)
	s.mu.Unlock()
	if ok || fresh {
		return ok, nil
	}
	started := time.Now()
	infos, err := s.broker.Streams(ctx)
	if err != nil {
		return false, fmt.Errorf("ingest: listing streams: %w", err)
	}
	known := make(map[string]bool, len(infos))
	for _, in := range infos {
		known[in.Config.Name] = true
	}
	s.mu.Lock()
	s.known, s.knownAt = known, started
	s.mu.Unlock()
	return known[name], nil
}

func (c *committer) enqueue(chunks []chunk) error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return ErrShuttingDown
	}
	c.queue = append(c.queue, chunks...)
	c.mu.Unlock()
	c.signal()
	return nil
}

func (c *committer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// stop makes the workers exit once the queue is empty.
func (c *committer) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		close(c.quit)
	}
}

func (c *committer) work() {
	var (
		batch []chunk
		frame []byte
	)
	limit := int(c.s.opts.GroupCommitBytes) - maxFrameHeader
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			if c.stopped {
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.quit:
			}
			c.mu.Lock()
		}
		// Take the longest prefix of the queue that fits; the first chunk
		// always goes, even if a lone oversized record makes it too big.
		size, k := 0, 0
		for k < len(c.queue) && (k == 0 || size+len(c.queue[k].data) <= limit) {
			size += len(c.queue[k].data)
			k++
		}
		batch = append(batch[:0], c.queue[:k]...)
		rest := copy(c.queue, c.queue[k:])
		clear(c.queue[rest:])
		c.queue = c.queue[:rest]
		c.mu.Unlock()
		if rest > 0 {
			c.signal() // let another worker start the next frame now
		}
		frame = c.commit(frame, batch)
		clear(batch) // drop references to senders' buffers
	}
}

// commit publishes batch as one frame and reports the outcome to its
// senders. It returns the frame buffer to reuse, or nil if it must not be.
func (c *committer) commit(frame []byte, batch []chunk) []byte {
	s := c.s
	n, size := 0, 0
	for _, ch := range batch {
		n += ch.n
		size += len(ch.data)
	}
	frame = stream.AppendFrameHeader(frame[:0], n)
	for _, ch := range batch {
		frame = append(frame, ch.data...)
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, s.opts.PublishTimeout)
	start := time.Now()
	ack, err := s.broker.Publish(ctx, c.name, frame)
	cancel()
	s.m.publishSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.publishErrors.Inc()
		s.log.Warn("ingest: publish failed", "stream", c.name, "events", n, "bytes", len(frame), "err", err)
		err = fmt.Errorf("ingest: publishing %d events to stream %q: %w", n, c.name, err)
		frame = nil
	} else {
		s.m.commitEvents.Observe(float64(n))
		s.m.commitBytes.Observe(float64(len(frame)))
	}
	s.limit.release(int64(size))
	idx := 0
	for _, ch := range batch {
		if err == nil && ch.w.pos != nil {
			for j := range ch.n {
				ch.w.pos[ch.first+j] = stream.Position{Seq: ack.Seq, Index: idx + j}
			}
		}
		idx += ch.n
		ch.w.finish(err)
	}
	return frame
}

// submit queues chunks, whose reserved bytes in s.limit the committer
// releases, and waits for their outcome. w must not be in use; on return it
// can be reused. The caller must be inside enter/leave, so the committer
// cannot have stopped.
func (s *Service) submit(c *committer, chunks []chunk, w *waiter) error {
	w.arm(len(chunks))
	for i := range chunks {
		chunks[i].w = w
	}
	if err := c.enqueue(chunks); err != nil {
		size := 0
		for _, ch := range chunks {
			size += len(ch.data)
		}
		s.limit.release(int64(size))
		return err
	}
	<-w.done
	return w.result()
}

// Publish appends recs to the stream through the group committer and
// returns when they are durable. Records over MaxRecordBytes fail the whole
// call with ErrRecordTooLarge; a full queue gives stream.ErrBackpressure; an
// unknown stream stream.ErrNoStream. If ctx ends first, Publish returns its
// error while the records may still be written (at-least-once).
func (s *Service) Publish(ctx context.Context, streamName string, recs []stream.Record) error {
	return s.PublishAt(ctx, streamName, recs, nil)
}

// PublishAt is Publish that also reports where the records went: pos, if
// not nil, must have len(recs) entries, and pos[i] gets record i's stream
// message sequence and index in that message, or stays zero (Seq 0) if the
// record's frame failed. Records of one call may go out in several frames
// when the group committer splits them; on an error some may be durable,
// and pos says which.
func (s *Service) PublishAt(ctx context.Context, streamName string, recs []stream.Record, pos []stream.Position) error {
	if pos != nil && len(pos) != len(recs) {
		return fmt.Errorf("ingest: %d positions for %d records", len(pos), len(recs))
	}
	clear(pos)
	if len(recs) == 0 {
		return nil
	}
	if !s.enter() {
		return ErrShuttingDown
	}
	defer s.leave()
	for i, r := range recs {
		if int64(len(r.Data)) > s.opts.MaxRecordBytes {
			return fmt.Errorf("%w (%w): record %d has %d bytes, limit %d", ErrRecordTooLarge, stream.ErrTooLarge, i, len(r.Data), s.opts.MaxRecordBytes)
		}
	}
	c, err := s.committerFor(ctx, streamName)
	if err != nil {
		return err
	}
	var b encoder
	b.reset(s.opts.GroupCommitBytes)
	for _, r := range recs {
		// Publish does not check events, so it vouches for none (the lake
		// trusts the mark).
		r.JSONLine = false
		b.add(r)
	}
	chunks := b.finish()
	if !s.limit.tryReserve(int64(len(b.buf)), 0) {
		return fmt.Errorf("ingest: %d bytes already queued for the stream: %w", s.opts.QueueBytes, stream.ErrBackpressure)
	}
	w := newWaiter()
	w.arm(len(chunks))
	if pos != nil {
		// The committer writes its own copy: if ctx ends first, it may
		// still be writing after we return.
		w.pos = make([]stream.Position, len(pos))
	}
	for i := range chunks {
		chunks[i].w = w
	}
	if err := c.enqueue(chunks); err != nil {
		s.limit.release(int64(len(b.buf)))
		return err
	}
	select {
	case <-w.done:
		copy(pos, w.pos)
		if err := w.result(); err != nil {
			return err
		}
		size := 0
		for _, r := range recs {
			size += len(r.Data)
		}
		s.m.accepted[sourcePublish].Add(float64(len(recs)))
		s.m.bytes[sourcePublish].Add(float64(size))
		return nil
	case <-ctx.Done():
		// The committer still owns b's buffer; it is not pooled, so that is fine.
		return fmt.Errorf("ingest: waiting for publish: %w", ctx.Err())
	}
}

// encoder encodes records into one buffer cut into chunks that each fit in
// a frame. Reused through reset.
type encoder struct {
	buf    []byte
	cuts   []int // start offsets of chunks after the first
	counts []int // records per chunk
	chunks []chunk
	limit  int
	start  int // offset of the current chunk
	n      int // records in the current chunk
}

func (e *encoder) reset(groupCommitBytes int64) {
	e.buf = e.buf[:0]
	e.cuts = e.cuts[:0]
	e.counts = e.counts[:0]
	clear(e.chunks)
	e.chunks = e.chunks[:0]
	e.limit = int(groupCommitBytes) - maxFrameHeader
	e.start, e.n = 0, 0
}

func (e *encoder) add(r stream.Record) {
	off := len(e.buf)
	e.buf = stream.AppendRecord(e.buf, r)
	if e.n > 0 && len(e.buf)-e.start > e.limit {
		e.counts = append(e.counts, e.n)
		e.cuts = append(e.cuts, off)
		e.start, e.n = off, 0
	}
	e.n++
}

// finish returns the chunks; they alias e.buf until the next reset.
func (e *encoder) finish() []chunk {
	if e.n == 0 {
		return e.chunks[:0]
	}
	e.counts = append(e.counts, e.n)
	start, first := 0, 0
	for i, cnt := range e.counts {
		end := len(e.buf)
		if i < len(e.cuts) {
			end = e.cuts[i]
		}
		e.chunks = append(e.chunks, chunk{data: e.buf[start:end:end], n: cnt, first: first})
		start, first = end, first+cnt
	}
	e.n = 0
	return e.chunks
}

var errNoRecords = errors.New("ingest: no records in body")
