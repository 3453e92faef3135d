package tsdb

import (
	"context"
	"sort"
	"unsafe"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// coldLookups finds, for records that fall inside a series' cold-tier time
// bounds, the stored point in the part files (highest version across
// parts), so the upsert rules can be applied to late data and to
// redeliveries of data that was already flushed. It reads files without the
// table lock; the caller re-checks flushEpoch under the lock and calls again
// if a flush moved data meanwhile. The result is indexed like preps.
func (db *DB) coldLookups(ctx context.Context, t *table, preps []prepared) (map[int]*point, uint64, error) {
	type want struct {
		idx int
		key string
		t   int64
	}
	t.mu.RLock()
	epoch := t.flushEpoch
	byPartition := map[int64][]want{}
	// Records of one event share their Dimensions slice: look its
	// dimension set up once.
	var lastDims *Dimension
	var lastN int
	var ds *dimSet
	var key []byte
	looked := false
	for i := range preps {
		pr := &preps[i]
		if pr.reason != "" {
			continue
		}
		if p := unsafe.SliceData(pr.dims); p != lastDims || len(pr.dims) != lastN || !looked {
			lastDims, lastN, looked = p, len(pr.dims), true
			ds = t.lookupDims(pr.h, pr.dims)
		}
		var s *series
		if ds != nil {
			s = ds.find(pr.measure)
		}
		pr.s = s // nil: apply looks again under the write lock
		if s == nil || pr.p.t < s.coldMin || pr.p.t > s.coldMax {
			continue
		}
		p := db.partitionOf(pr.p.t)
		// Series keep no key string (memory per series): build it here,
		// where the parts are about to be read anyway.
		key = seriesKey(key[:0], s.measure, s.dims)
		byPartition[p] = append(byPartition[p], want{i, string(key), pr.p.t})
	}
	if len(byPartition) == 0 {
		t.mu.RUnlock()
		return nil, epoch, nil
	}
	parts := map[int64][]*partRef{}
	for p := range byPartition {
		for _, pr := range t.partitions[p] {
			pr.acquire()
			parts[p] = append(parts[p], pr)
		}
	}
	allDims, _ := t.columns(nil)
	t.mu.RUnlock()
	defer func() {
		for _, ps := range parts {
			for _, p := range ps {
				p.release()
			}
		}
	}()

	out := map[int]*point{}
	type pk struct {
		key string
		t   int64
	}
	key = key[:0]
	for p, wants := range byPartition {
		idx := map[pk][]int{}
		lo, hi := wants[0].t, wants[0].t
		measures := map[string]bool{}
		for _, w := range wants {
			idx[pk{w.key, w.t}] = append(idx[pk{w.key, w.t}], w.idx)
			lo, hi = min(lo, w.t), max(hi, w.t)
			measures[preps[w.idx].measure] = true
		}
		f := part.Filter{MinTime: lo, MaxTime: hi}
		for m := range measures {
			f.MeasureNames = append(f.MeasureNames, m)
		}
		sort.Strings(f.MeasureNames)
		for _, pr := range parts[p] {
			err := pr.r.Scan(ctx, f, func(b *columnar.Batch) error {
				rows := newRowReader(b, allDims)
				for i := 0; i < b.Len(); i++ {
					key, _ = rows.key(key[:0], i)
					ids, ok := idx[pk{string(key), rows.time.Ints[i]}]
					if !ok {
						continue
					}
					pt := rows.point(i)
					for _, id := range ids {
						if cur := out[id]; cur == nil || pt.v > cur.v {
							cp := pt
							out[id] = &cp
						}
					}
				}
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
		}
	}
	return out, epoch, nil
}
