package columnar

import "sync/atomic"

// Hold reference-counts column storage that its producer reuses (a lake
// scan decodes the next row group into the buffers of an earlier one).
// The producer creates it holding one reference, attaches it to the
// columns it hands out (SetHold) and drops its reference when its own
// contract says the reader is done (e.g. after the reader's callback
// returns); readers that want the columns longer take references with
// Retain. The storage is reused (the release function runs) only when
// every reference has been dropped. Hold is safe for concurrent use.
type Hold struct {
	refs    atomic.Int64
	release func()
}

// NewHold returns a hold with one reference (the producer's); release
// runs, on whichever goroutine drops the last reference, once all are
// dropped.
func NewHold(release func()) *Hold {
	h := &Hold{release: release}
	h.refs.Store(1)
	return h
}

// Release drops one reference. Each reference must be dropped exactly
// once; extra calls are ignored rather than run release twice.
func (h *Hold) Release() {
	if h.refs.Add(-1) == 0 && h.release != nil {
		h.release()
	}
}

// SetHold attaches h to c: c's storage is not reused while h has
// references. Reset and SpreadLevels drop it (the rows are rewritten).
func (c *Column) SetHold(h *Hold) { c.annotate(func(a *annotations) { a.hold = h }) }

// Retain takes a reference on the hold of c's storage and returns it, or
// returns nil when c has none (its storage then belongs to its producer
// as before: copy what you keep). A reader that received c in a callback
// and calls Retain before the callback returns may read c until it calls
// Release on the returned hold, exactly once.
func (c *Column) Retain() *Hold {
	if c.ann == nil {
		return nil
	}
	h := c.ann.hold
	if h == nil {
		return nil
	}
	if h.refs.Add(1) <= 1 {
		// Already released by everyone: the storage may be reused.
		h.refs.Add(-1)
		return nil
	}
	return h
}
