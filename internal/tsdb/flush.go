package tsdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/enc"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// Flush writes the hot tier of every table to part files and truncates the
// WAL. It returns when the parts and the manifest naming them are durable.
//
// Steps: (1) with every table locked, the active memtables become the
// flushing ones, fresh memtables take new writes, and a WAL cut is queued,
// so the log splits exactly between the generations; (2) without locks, the
// flushing memtables are written as parts, one per table and partition;
// (3) the manifest names the new parts and the first WAL segment after the
// cut; (4) the parts join the tables and the flushing memtables are dropped;
// (5) WAL segments before the cut are deleted. A crash before (3) leaves
// orphan files that Open deletes and a WAL that still holds everything.
func (db *DB) Flush(ctx context.Context) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	return db.flushLocked(ctx)
}

func (db *DB) sortedTables() []*table {
	db.mu.RLock()
	defer db.mu.RUnlock()
	ts := make([]*table, 0, len(db.tables))
	for _, t := range db.tables {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	return ts
}

func (db *DB) flushLocked(ctx context.Context) error {
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	start := time.Now()
	// db.mu is held for writing across the rotation so that no table is
	// created between listing the tables and the WAL cut: such a table's
	// writes could land before the cut without being flushed, and the
	// truncation after the flush would delete them.
	db.mu.Lock()
	tables := make([]*table, 0, len(db.tables))
	for _, t := range db.tables {
		tables = append(tables, t)
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].id < tables[j].id })
	for _, t := range tables {
		t.mu.Lock()
	}
	var flushing []*table
	for _, t := range tables {
		if t.rotate() {
			flushing = append(flushing, t)
		}
	}
	if len(flushing) == 0 {
		for _, t := range tables {
			t.mu.Unlock()
		}
		db.mu.Unlock()
		return nil
	}
	db.walGenAtomic.Add(1)
	cut := db.commit.enqueueCut()
	for _, t := range tables {
		t.mu.Unlock()
	}
	db.mu.Unlock()
	seg, err := db.commit.waitCut(cut)
	if err != nil {
		return fmt.Errorf("tsdb: flush: cut wal: %w", err)
	}

	now := db.now()
	var added []*partRef
	var points int
	fail := func(err error) error {
		for _, p := range added {
			p.obsolete()
		}
		db.metrics.flushErrors.Inc()
		return fmt.Errorf("tsdb: flush: %w", err)
	}
	for _, t := range flushing {
		db.mu.RLock()
		oldest := now - int64(t.info.Retention.Magnetic)
		db.mu.RUnlock()
		for _, pb := range db.partitionBatches(t, t.flushing, oldest) {
			p, err := db.writePart(t, pb.partition, pb.batch, pb.dims, 0)
			if err != nil {
				return fail(err)
			}
			added = append(added, p)
			points += pb.batch.Len()
		}
	}

	db.mu.Lock()
	old := db.manifest.Parts
	oldStart := db.manifest.WALStart
	for _, p := range added {
		db.manifest.Parts = append(db.manifest.Parts, p.entry)
	}
	db.manifest.WALStart = seg
	// unsynced: the new manifest is in place but a power cut may bring
	// the old one back. The flush then completes in memory (the parts are
	// what a plain restart finds), but the WAL is kept, so that the old
	// manifest, if it comes back, still finds every point in it; Open
	// deletes the parts it does not name. The next manifest write that
	// syncs makes the flush durable and the next flush truncates the WAL.
	err = db.saveManifest()
	unsynced := errors.Is(err, errUnsynced)
	if err != nil && !unsynced {
		db.manifest.Parts, db.manifest.WALStart = old, oldStart
		db.mu.Unlock()
		return fail(err)
	}
	db.mu.Unlock()

	byTable := map[uint32][]*partRef{}
	for _, p := range added {
		byTable[p.entry.Table] = append(byTable[p.entry.Table], p)
	}
	for _, t := range flushing {
		t.mu.Lock()
		for _, p := range byTable[t.id] {
			t.addPart(p)
		}
		for _, ms := range t.flushing.series {
			ms.s.lastLen = len(ms.times)
			if ms.s.actGen != t.active.gen {
				ms.s.act = nil // let the flushed memtable go
			}
			if n := len(ms.times); n > 0 {
				s := ms.s
				s.coldMin = min(s.coldMin, ms.times[0])
				s.coldMax = max(s.coldMax, ms.times[n-1])
			}
		}
		t.flushing = nil
		t.flushEpoch++
		t.mu.Unlock()
	}
	if unsynced {
		db.metrics.flushErrors.Inc()
		return fmt.Errorf("tsdb: flush: the wal is kept: %w", err)
	}
	if err := db.wal.TruncateBefore(seg); err != nil {
		db.logger.Warn("tsdb: truncating the wal after a flush failed; it will be retried", "err", err)
	}
	db.metrics.flushes.Inc()
	db.metrics.flushDuration.Observe(time.Since(start).Seconds())
	db.logger.Debug("tsdb: flushed hot tier", "points", points, "parts", len(added), "took", time.Since(start))
	return nil
}

// rotate sets the active memtable aside as the flushing one, with a new
// empty active one, and reports whether there is anything to flush. t.mu
// must be held for writing.
func (t *table) rotate() bool {
	next := newMemtable()
	next.gen = t.active.gen + 1
	if t.flushing != nil {
		// A previous flush failed: its memtable is still here. The active
		// one is newer, so its points win. No series' act may point into
		// either afterwards (see series.act).
		mergeInto(t.flushing, t.active)
		for _, m := range []*memtable{t.flushing, t.active} {
			for _, ms := range m.series {
				ms.s.act = nil
			}
		}
		t.active = next
		return true
	}
	if t.active.points == 0 {
		return false
	}
	t.flushing, t.active = t.active, next
	return true
}

// addPart adds p to its partition; t.mu must be held for writing.
func (t *table) addPart(p *partRef) {
	ps := t.partitions[p.entry.Partition]
	n := make([]*partRef, 0, len(ps)+1)
	n = append(n, ps...)
	t.partitions[p.entry.Partition] = append(n, p)
}

// mergeInto puts every point of src into dst (src wins on equal times).
func mergeInto(dst, src *memtable) {
	for _, ms := range src.series {
		for i := range ms.times {
			dst.put(ms.s, ms.pointAt(i))
		}
	}
}

// partitionBatch is the rows of one part to write: one partition's points
// whose DOUBLE values share one decimal scale (see splitByScale).
type partitionBatch struct {
	partition int64
	batch     *columnar.Batch
	dims      []string
}

// partitionBatches turns a memtable into sorted batches, one per partition
// and decimal scale, leaving out points older than oldest (expired by
// retention). The memtable must not change while this runs (it is the
// flushing one). The batches are what splitByScale would make of one
// batch per partition, built without that copy: a measure's scale is
// found from its series' points before any row is copied.
func (db *DB) partitionBatches(t *table, m *memtable, oldest int64) []partitionBatch {
	t.mu.RLock()
	dimSet := map[string]bool{}
	fieldSet := map[string]columnar.Type{}
	list := make([]*memSeries, 0, len(m.series))
	for _, ms := range m.series {
		list = append(list, ms)
		for _, d := range ms.s.dims {
			dimSet[d.Name] = true
		}
		for _, f := range ms.fields {
			fieldSet[f.name] = f.col.Type
		}
	}
	t.mu.RUnlock()
	dims := make([]string, 0, len(dimSet))
	for d := range dimSet {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	sort.Slice(list, func(i, j int) bool { return compareSeries(list[i].s, list[j].s, dims) < 0 })

	// Runs of each series' points by partition. A partition's runs are in
	// sort order, so each measure's runs follow one another.
	type run struct {
		ms   *memSeries
		p    int64
		i, j int
		key  int // index into keys: partition and measure
	}
	type measureKey struct {
		p       int64
		measure string
	}
	runs := make([]run, 0, len(list))
	var keys []measureKey
	var scalers []enc.Scaler
	keyOf := map[measureKey]int{}
	_, split := fieldSet[splitColumn]
	for _, ms := range list {
		var vals *columnar.Column
		if split {
			for _, f := range ms.fields {
				if f.name == splitColumn {
					vals = f.col
				}
			}
		}
		i := 0
		for i < len(ms.times) {
			if ms.times[i] < oldest {
				i++
				continue
			}
			p := db.partitionOf(ms.times[i])
			j := i + 1
			for j < len(ms.times) && ms.times[j] < p+int64(db.opts.PartitionDuration) {
				j++
			}
			mk := measureKey{p, ms.s.measure}
			k, ok := keyOf[mk]
			if !ok {
				k = len(keys)
				keyOf[mk] = k
				keys = append(keys, mk)
				scalers = append(scalers, enc.Scaler{})
			}
			if vals != nil {
				var nulls []bool
				if vals.Nulls != nil {
					nulls = vals.Nulls[i:j]
				}
				scalers[k].Add(vals.Floats[i:j], nulls)
			}
			runs = append(runs, run{ms, p, i, j, k})
			i = j
		}
	}
	// Each (partition, measure) gets its part: one per partition and
	// scale, in the order the scales first appear in the partition's
	// sorted rows (measure names ascending), as splitByScale orders them.
	type batchKey struct {
		p     int64
		scale int
	}
	into := make([]batchKey, len(keys))
	for k, mk := range keys {
		scale := 0
		if split {
			var ok bool
			if scale, ok = scalers[k].Scale(); !ok {
				scale = -1
			}
		}
		into[k] = batchKey{mk.p, scale}
	}
	rows := map[batchKey]int{}
	for _, r := range runs {
		rows[into[r.key]] += r.j - r.i
	}
	byKey := map[batchKey]*batchBuilder{}
	var order []batchKey
	for _, r := range runs {
		bk := into[r.key]
		bb := byKey[bk]
		if bb == nil {
			bb = newBatchBuilder(dims, fieldSet, true)
			bb.reserve(rows[bk])
			byKey[bk] = bb
			order = append(order, bk)
		}
		bb.appendMem(r.ms.s, r.ms.times, r.ms.versions, r.ms.fields, r.i, r.j)
	}
	// Partitions ascending; within one, the scales' first appearances
	// keep their order (a partition's runs come in sort order).
	sort.SliceStable(order, func(i, j int) bool { return order[i].p < order[j].p })
	out := make([]partitionBatch, 0, len(order))
	for _, bk := range order {
		out = append(out, partitionBatch{partition: bk.p, batch: byKey[bk].b, dims: dims})
	}
	return out
}

// compareSeries orders series as part files are sorted: measure name, then
// each dimension in dims order with a missing dimension (NULL) first.
func compareSeries(a, b *series, dims []string) int {
	if a.measure != b.measure {
		if a.measure < b.measure {
			return -1
		}
		return 1
	}
	for _, d := range dims {
		av, aok := dimValue(a.dims, d)
		bv, bok := dimValue(b.dims, d)
		switch {
		case aok != bok:
			if !aok {
				return -1
			}
			return 1
		case av != bv:
			if av < bv {
				return -1
			}
			return 1
		}
	}
	return 0
}

func dimValue(dims []Dimension, name string) (string, bool) {
	for _, d := range dims {
		if d.Name == name {
			return d.Value, true
		}
	}
	return "", false
}

// writePart writes one part file and returns its reference (one ref held
// for the manifest).
func (db *DB) writePart(t *table, partition int64, b *columnar.Batch, dims []string, level int) (*partRef, error) {
	db.mu.Lock()
	seq := db.manifest.NextPart
	db.manifest.NextPart++
	db.mu.Unlock()
	rel := filepath.Join("tables", fmt.Sprint(t.id), fmt.Sprint(partition), fmt.Sprintf("%08d.parquet", seq))
	path := filepath.Join(db.dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Join(db.dir, "tables")); err != nil {
		return nil, err
	}
	wo := part.WriterOptions{RowGroupRows: db.opts.PartRowGroupRows, NoSeriesStats: db.opts.partNoSeriesStats, Minutes: true}
	if level > 0 {
		// Compacted parts live long and are written in the background:
		// spend the CPU on zstd's best level for their size.
		wo.CompressionLevel = 4
	}
	meta, err := part.Write(path, b, dims, wo)
	if err != nil {
		return nil, fmt.Errorf("write part %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(filepath.Dir(path))); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	e := partEntry{Table: t.id, Partition: partition, File: rel, MinTime: meta.MinTime, MaxTime: meta.MaxTime, Rows: meta.Rows, Bytes: st.Size(), Level: level,
		Measures: measureNames(b)}
	pr, err := openPartRef(db.dir, e, db.pages)
	if err != nil {
		return nil, err
	}
	pr.written = db.now()
	return pr, nil
}

// measureNames returns the distinct measure names of a sorted batch.
func measureNames(b *columnar.Batch) []string {
	mn := b.Col("measure_name")
	out := []string{}
	for i, m := range mn.Strs {
		if i == 0 || m != mn.Strs[i-1] {
			out = append(out, m)
		}
	}
	return out
}
