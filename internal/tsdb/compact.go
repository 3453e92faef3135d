package tsdb

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"
)

// Compact merges the parts of every partition whose parts overlap (see
// needsCompaction), resolving versions (highest wins), and applies
// retention. It runs to completion.
func (db *DB) Compact(ctx context.Context) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	return db.compactLocked(ctx, func(p int64, n int) bool { return true })
}

// compactLocked compacts the partitions for which pick says so. flushMu is
// held, so the set of parts changes only here.
func (db *DB) compactLocked(ctx context.Context, pick func(partition int64, parts int) bool) error {
	if err := db.applyRetention(); err != nil {
		return err
	}
	for _, t := range db.sortedTables() {
		t.mu.RLock()
		var todo []int64
		for p, ps := range t.partitions {
			if needsCompaction(ps) && pick(p, len(ps)) {
				todo = append(todo, p)
			}
		}
		t.mu.RUnlock()
		sort.Slice(todo, func(i, j int) bool { return todo[i] < todo[j] })
		for _, p := range todo {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := db.compactPartition(ctx, t, p); err != nil {
				db.metrics.compactionErrors.Inc()
				return fmt.Errorf("tsdb: compact table %d partition %s: %w", t.id, fmtTime(p), err)
			}
		}
	}
	return nil
}

func (db *DB) compactPartition(ctx context.Context, t *table, p int64) error {
	start := time.Now()
	req := ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}
	t.mu.RLock()
	parts := append([]*partRef(nil), t.partitions[p]...)
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
	if err := db.manifest.save(filepath.Join(db.dir, "MANIFEST")); err != nil {
		db.manifest.Parts = prev
		db.mu.Unlock()
		for _, m := range made {
			m.obsolete()
		}
		return err
	}
	db.mu.Unlock()
	t.mu.Lock()
	t.partitions[p] = made
	t.flushEpoch++
	t.mu.Unlock()
	for _, pr := range parts {
		pr.obsolete()
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
		if err := db.manifest.save(filepath.Join(db.dir, "MANIFEST")); err != nil {
			db.manifest.Parts = prev
			db.mu.Unlock()
			return fmt.Errorf("tsdb: retention: %w", err)
		}
		db.mu.Unlock()
		t.mu.Lock()
		for _, p := range expired {
			for _, pr := range t.partitions[p] {
				pr.obsolete()
			}
			delete(t.partitions, p)
		}
		t.flushEpoch++
		t.mu.Unlock()
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
	return db.compactLocked(ctx, func(p int64, n int) bool { return p < current || n >= 8 })
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
		key := -2 // no measure_value::double column
		meta := p.r.Meta()
		if c, ok := meta.Column("measure_value::double"); ok {
			key = -1 // stored as DOUBLE
			if c.Decimal {
				key = c.Scale
			}
		}
		if seen[key] {
			return true
		}
		seen[key] = true
	}
	return false
}
