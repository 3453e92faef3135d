package part

import (
	"sync"
	"sync/atomic"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// PageCache is a bounded cache of decoded pages, shared by the Readers of
// one store (pass it to Open with WithPageCache). Dashboards re-run the same
// small queries every few seconds, and without it every run pays zstd
// decompression and DELTA_BINARY_PACKED decoding of the same pages.
//
// Entries are keyed by (Reader, row group, leaf column, page). Every Reader
// gets a fresh id from the cache when opened, so a part file deleted and
// replaced by another at the same path can never be served stale pages:
// the old Reader's entries simply age out. An entry holds a whole page in
// sluice's representation (what appendPage produces, before any row
// filtering) and is immutable once inserted: readers copy rows out of it.
//
// Eviction is LRU by bytes, per shard; a PageCache is safe for concurrent
// use. A nil *PageCache is a valid, disabled cache.
type PageCache struct {
	shards []cacheShard
	nextID atomic.Uint64
}

// PageCacheStats are a PageCache's counters.
type PageCacheStats struct {
	Hits, Misses int64
	Bytes        int64 // estimated bytes held
	Entries      int64
}

type pageKey struct {
	id             uint64
	rg, leaf, page int32
}

type cacheEntry struct {
	key        pageKey
	col        *columnar.Column
	size       int64
	prev, next *cacheEntry
}

type cacheShard struct {
	mu           sync.Mutex
	m            map[pageKey]*cacheEntry
	lru          cacheEntry // sentinel: lru.next is the most recently used
	bytes, max   int64
	hits, misses int64
	_            [64]byte // keep shards' locks off each other's cache lines
}

// entryOverhead approximates the map slot, entry and column headers.
const entryOverhead = 200

// NewPageCache returns a cache holding up to about maxBytes of decoded
// pages, or nil (no cache) when maxBytes <= 0.
func NewPageCache(maxBytes int64) *PageCache {
	if maxBytes <= 0 {
		return nil
	}
	// Shards of at least 4 MiB, so that a small budget still holds whole
	// pages, and at most 16: locks are held for a map lookup only.
	n := int(min(max(maxBytes/(4<<20), 1), 16))
	c := &PageCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		s := &c.shards[i]
		s.m = map[pageKey]*cacheEntry{}
		s.lru.next, s.lru.prev = &s.lru, &s.lru
		s.max = maxBytes / int64(n)
	}
	return c
}

// newID returns a fresh part identity for a Reader.
func (c *PageCache) newID() uint64 { return c.nextID.Add(1) }

func (c *PageCache) shard(k pageKey) *cacheShard {
	h := k.id*0x9e3779b97f4a7c15 ^ uint64(k.rg)*0xbf58476d1ce4e5b9 ^ uint64(k.leaf)*0x94d049bb133111eb ^ uint64(k.page)
	h ^= h >> 29
	return &c.shards[h%uint64(len(c.shards))]
}

// get returns the cached page for k. The column must not be modified.
func (c *PageCache) get(k pageKey) (*columnar.Column, bool) {
	s := c.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	if !ok {
		s.misses++
		s.mu.Unlock()
		return nil, false
	}
	s.hits++
	if s.lru.next != e {
		unlink(e)
		s.pushFront(e)
	}
	s.mu.Unlock()
	return e.col, true
}

// put inserts a decoded page, which the caller must not modify afterwards.
func (c *PageCache) put(k pageKey, col *columnar.Column) {
	size := columnBytes(col)
	s := c.shard(k)
	if size > s.max {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return // decoded concurrently by another scan
	}
	e := &cacheEntry{key: k, col: col, size: size}
	s.m[k] = e
	s.pushFront(e)
	s.bytes += size
	for s.bytes > s.max {
		old := s.lru.prev
		unlink(old)
		delete(s.m, old.key)
		s.bytes -= old.size
	}
}

// Stats returns the cache's counters; zero for a nil cache.
func (c *PageCache) Stats() PageCacheStats {
	var st PageCacheStats
	if c == nil {
		return st
	}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.Misses += s.misses
		st.Bytes += s.bytes
		st.Entries += int64(len(s.m))
		s.mu.Unlock()
	}
	return st
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

func unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// columnBytes estimates the memory a decoded page holds. Strings count in
// full although dictionary strings are shared with the Reader: an
// overestimate keeps the budget a bound.
func columnBytes(c *columnar.Column) int64 {
	n := int64(entryOverhead + len(c.Bools) + 8*len(c.Ints) + 8*len(c.Floats) + len(c.Nulls) + 16*len(c.Strs))
	for _, s := range c.Strs {
		n += int64(len(s))
	}
	return n
}

// appendRows appends rows [a, z) of src to dst.
func appendRows(dst, src *columnar.Column, a, z int) {
	if src.Nulls != nil && dst.Nulls == nil {
		dst.Nulls = make([]bool, dst.Len(), dst.Len()+z-a)
	}
	switch src.Type {
	case columnar.Bool:
		dst.Bools = append(dst.Bools, src.Bools[a:z]...)
	case columnar.Int64, columnar.Timestamp:
		dst.Ints = append(dst.Ints, src.Ints[a:z]...)
	case columnar.Float64:
		dst.Floats = append(dst.Floats, src.Floats[a:z]...)
	case columnar.String:
		dst.Strs = append(dst.Strs, src.Strs[a:z]...)
	}
	switch {
	case src.Nulls != nil:
		dst.Nulls = append(dst.Nulls, src.Nulls[a:z]...)
	case dst.Nulls != nil:
		for range z - a {
			dst.Nulls = append(dst.Nulls, false)
		}
	}
}
