package tsdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Compact merges the parts of every partition whose parts overlap (see
// needsCompaction), resolving versions (highest wins), and applies
// retention. It runs to completion.
func (db *DB) Compact(ctx context.Context) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	return db.compactLocked(ctx, func(_ int64, ps []*partRef) []*partRef {
		if needsCompaction(ps) {
			return ps
		}
		return nil
	})
}

// compactLocked merges, in each partition, the parts pick chooses (none,
// or at least two). flushMu is held, so the set of parts changes only
// here.
func (db *DB) compactLocked(ctx context.Context, pick func(partition int64, parts []*partRef) []*partRef) error {
	if err := db.applyRetention(); err != nil {
		return err
	}
	for _, t := range db.sortedTables() {
		t.mu.RLock()
		todo := map[int64][]*partRef{}
		for p, ps := range t.partitions {
			if merge := pick(p, ps); len(merge) >= 2 {
				todo[p] = merge
			}
		}
		t.mu.RUnlock()
		for _, p := range slices.Sorted(maps.Keys(todo)) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := db.compactPartition(ctx, t, p, todo[p]); err != nil {
				db.metrics.compactionErrors.Inc()
				return fmt.Errorf("tsdb: compact table %d partition %s: %w", t.id, fmtTime(p), err)
			}
		}
	}
	return nil
}

// compactPartition merges parts, some or all of partition p's, into one
// part per decimal scale. Versions resolve the same whatever parts are
// merged together: the write path rejects a second value with the same
// version (it looks at the parts too), so the highest version of a point
// is unique.
func (db *DB) compactPartition(ctx context.Context, t *table, p int64, parts []*partRef) error {
	start := time.Now()
	req := ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	t.mu.RLock()
	for _, pr := range parts {
		pr.acquire()
	}
	dims, fields := t.columns(nil)
	t.mu.RUnlock()
	defer func() {
		for _, pr := range parts {
			pr.release()
		}
	}()
	snap := &snapshot{dims: dims, allDims: dims, fields: fields}
	out := newBatchBuilder(dims, fields, true)
	if err := db.mergePartition(ctx, &req, snap, parts, nil, out, func() error { return nil }); err != nil {
		return err
	}
	level := 0
	for _, pr := range parts {
		level = max(level, pr.entry.Level+1)
	}
	var made []*partRef
	for _, sub := range splitByScale(out.b) {
		np, err := db.writePart(t, p, sub, dims, level)
		if err != nil {
			for _, m := range made {
				m.obsolete()
			}
			return err
		}
		made = append(made, np)
	}
	old := map[string]bool{}
	for _, pr := range parts {
		old[pr.entry.File] = true
	}
	db.mu.Lock()
	prev := db.manifest.Parts
	var keep []partEntry
	for _, e := range db.manifest.Parts {
		if !old[e.File] {
			keep = append(keep, e)
		}
	}
	for _, m := range made {
		keep = append(keep, m.entry)
	}
	db.manifest.Parts = keep
	// unsynced: the new manifest is in place but a power cut may bring
	// back the old one, which names the merged parts: they leave the
	// table but their files stay (Open deletes them once no manifest
	// names them).
	err := db.saveManifest()
	unsynced := errors.Is(err, errUnsynced)
	if err != nil && !unsynced {
		db.manifest.Parts = prev
		db.mu.Unlock()
		for _, m := range made {
			m.obsolete()
		}
		return err
	}
	db.mu.Unlock()
	t.mu.Lock()
	rest := slices.DeleteFunc(slices.Clone(t.partitions[p]), func(pr *partRef) bool { return old[pr.entry.File] })
	t.partitions[p] = append(rest, made...)
	t.flushEpoch++
	t.mu.Unlock()
	for _, pr := range parts {
		if unsynced {
			pr.abandon()
		} else {
			pr.obsolete()
		}
	}
	if unsynced {
		return fmt.Errorf("tsdb: compaction: the merged parts' files are kept until a restart: %w", err)
	}
	db.metrics.compactions.Inc()
	db.logger.Debug("tsdb: compacted partition", "table", t.id, "partition", fmtTime(p), "parts", len(parts), "rows", out.b.Len(), "took", time.Since(start))
	return nil
}

// applyRetention drops whole partitions that ended before the table's
// retention. flushMu must be held.
func (db *DB) applyRetention() error {
	now := db.now()
	for _, t := range db.sortedTables() {
		db.mu.RLock()
		oldest := now - int64(t.info.Retention.Magnetic)
		db.mu.RUnlock()
		t.mu.RLock()
		var expired []int64
		for p := range t.partitions {
			if p+int64(db.opts.PartitionDuration) <= oldest {
				expired = append(expired, p)
			}
		}
		t.mu.RUnlock()
		if len(expired) == 0 {
			continue
		}
		drop := map[int64]bool{}
		for _, p := range expired {
			drop[p] = true
		}
		db.mu.Lock()
		prev := db.manifest.Parts
		var keep []partEntry
		for _, e := range db.manifest.Parts {
			if !(e.Table == t.id && drop[e.Partition]) {
				keep = append(keep, e)
			}
		}
		db.manifest.Parts = keep
		// unsynced: as in compaction, the dropped parts' files stay.
		err := db.saveManifest()
		unsynced := errors.Is(err, errUnsynced)
		if err != nil && !unsynced {
			db.manifest.Parts = prev
			db.mu.Unlock()
			return fmt.Errorf("tsdb: retention: %w", err)
		}
		db.mu.Unlock()
		t.mu.Lock()
		for _, p := range expired {
			for _, pr := range t.partitions[p] {
				if unsynced {
					pr.abandon()
				} else {
					pr.obsolete()
				}
			}
			delete(t.partitions, p)
		}
		t.flushEpoch++
		t.mu.Unlock()
		if unsynced {
			return fmt.Errorf("tsdb: retention: the dropped parts' files are kept until a restart: %w", err)
		}
		db.metrics.retentionDrops.Add(float64(len(expired)))
	}
	return nil
}

// maintain flushes under memory pressure or when the hot tier holds data
// older than a table's memory retention, compacts, and applies retention.
func (db *DB) maintain() {
	tick := time.NewTicker(db.opts.MaintenanceInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-tick.C:
		}
		if err := db.maintainOnce(context.Background()); err != nil {
			db.logger.Error("tsdb: background maintenance failed", "err", err)
		}
	}
}

func (db *DB) maintainOnce(ctx context.Context) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	now := db.now()
	points, old := 0, false
	for _, t := range db.sortedTables() {
		db.mu.RLock()
		mem := t.info.Retention.Memory
		db.mu.RUnlock()
		t.mu.RLock()
		points += t.active.points
		if t.active.points > 0 && t.active.minT < now-int64(mem) {
			old = true
		}
		t.mu.RUnlock()
	}
	if points > db.opts.HeadMaxPoints || old {
		if err := db.flushLocked(ctx); err != nil {
			return err
		}
	}
	current := db.partitionOf(now)
	return db.compactLocked(ctx, func(p int64, ps []*partRef) []*partRef {
		if p >= current {
			return pickTiered(ps, 4) // the partition being written: fewer, larger merges
		}
		if quiet(ps, now) && needsCompaction(ps) {
			// Scans read a partition of one part per kind without
			// merging; once late data has stopped coming, one rewrite
			// buys that for good.
			return ps
		}
		return pickTiered(ps, 2)
	})
}

// quietAfter is how long a past partition must go without new parts
// before the background compaction merges it whole.
const quietAfter = 5 * time.Minute

// quiet reports whether no part of ps was written in the last quietAfter.
func quiet(ps []*partRef, now int64) bool {
	for _, p := range ps {
		if p.written > now-int64(quietAfter) {
			return false
		}
	}
	return true
}

// pickTiered chooses the parts the background compaction merges in a
// partition. Within each kind of part (see needsCompaction), in order of
// size, it looks for a run of at least minParts parts in which each is at
// most twice the size of those before it together, starting from the
// smallest, and merges the first such run. A merge makes a part at least
// 1.5 times the largest one merged, so a row is rewritten O(log n) times
// as a partition grows by n flushes, and a partition holds O(log n) parts
// of each kind. Merging everything on every flush instead (what Compact
// does) rewrites a busy partition again and again, and rewrites a whole
// old partition for each late point.
func pickTiered(ps []*partRef, minParts int) []*partRef {
	kinds := map[int][]*partRef{}
	for _, p := range ps {
		k := partKind(p)
		kinds[k] = append(kinds[k], p)
	}
	var out []*partRef
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		same := kinds[k]
		slices.SortStableFunc(same, func(a, b *partRef) int { return cmp.Compare(a.entry.Rows, b.entry.Rows) })
		rows := make([]int64, len(same))
		for i, p := range same {
			rows[i] = p.entry.Rows
		}
		if i, n := tierRun(rows, minParts); n > 0 {
			out = append(out, same[i:i+n]...)
		}
	}
	return out
}

// tierRun returns the first run rows[i:i+n] of at least minParts parts,
// whose row counts are given in ascending order, in which each is at most
// twice the sum of those before it; n is 0 if there is none.
func tierRun(rows []int64, minParts int) (i, n int) {
	for i < len(rows) {
		n, sum := 1, rows[i]
		for i+n < len(rows) && rows[i+n] <= 2*sum {
			sum += rows[i+n]
			n++
		}
		if n >= minParts {
			return i, n
		}
		i += n
	}
	return 0, 0
}

// needsCompaction reports whether a partition's parts should be merged:
// when two of them hold the same kind of rows. A flush or a compaction
// writes one part per decimal scale of measure_value::double (see
// splitByScale), so parts with different scales are already as merged as
// they get; two parts with the same scale overlap in what they cover and
// are merged (resolving versions) into one.
func needsCompaction(ps []*partRef) bool {
	if len(ps) <= 1 {
		return false
	}
	seen := map[int]bool{}
	for _, p := range ps {
		key := partKind(p)
		if seen[key] {
			return true
		}
		seen[key] = true
	}
	return false
}

// partKind is the decimal scale of a part's measure_value::double column,
// -1 if it holds raw DOUBLEs, -2 if it has no such column.
func partKind(p *partRef) int {
	meta := p.r.Meta()
	c, ok := meta.Column("measure_value::double")
	switch {
	case !ok:
		return -2
	case !c.Decimal:
		return -1
	}
	return c.Scale
}
