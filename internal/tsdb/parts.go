package tsdb

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
)

// partRef is a live part file shared by the manifest and running scans.
// The manifest holds one reference; each scan or lookup holds one while it
// reads. The file is closed when the count drops to zero, and deleted too
// if it was made obsolete (by compaction, retention or a table deletion).
type partRef struct {
	entry partEntry
	path  string
	r     *part.Reader
	refs  atomic.Int32
	dead  atomic.Bool // the file goes with the last reference
	// dropped: the manifest's reference is gone (obsolete or abandon).
	dropped atomic.Bool
	// written is when this process wrote the part (DB clock, ns); 0 for
	// parts found at open. Compaction waits for a partition to be quiet
	// before merging it whole.
	written int64

	idxOnce sync.Once
	idx     *seriesIndex // see index
	idxErr  error
}

// seriesIndex is a part's series statistics with, for each, the table's
// series of that identity: queries that merge a partition's sources
// (SeriesCounts, Scan of a few series) match them by pointer and order
// them by compareSeries instead of keying every series of every part by
// a string on every query. Parts are immutable and a table never forgets
// a series, so the index holds for the part's life.
type seriesIndex struct {
	stats []part.SeriesStat // file order, which is compareSeries order
	ser   []*series         // parallel to stats
}

// find returns the position of s in the index, or -1; dims is the
// table's dimension list (compareSeries order).
func (ix *seriesIndex) find(s *series, dims []string) int {
	i, ok := slices.BinarySearchFunc(ix.ser, s, func(x, s *series) int {
		if x == s {
			return 0
		}
		return compareSeries(x, s, dims)
	})
	if !ok || ix.ser[i] != s {
		return -1
	}
	return i
}

// index returns the part's series index of table t, built on first use;
// nil (and no error) when the part cannot have one: it predates series
// statistics, or names a series t does not know or out of order (which
// the write paths never do). Callers then take the general paths. t.mu
// must not be held.
func (p *partRef) index(t *table) (*seriesIndex, error) {
	p.idxOnce.Do(func() { p.idx, p.idxErr = buildSeriesIndex(t, p.r) })
	return p.idx, p.idxErr
}

func buildSeriesIndex(t *table, r *part.Reader) (*seriesIndex, error) {
	stats, err := r.Series()
	if err != nil || stats == nil {
		return nil, err
	}
	names := r.Meta().Dims
	ix := &seriesIndex{stats: stats, ser: make([]*series, len(stats))}
	var dims []Dimension
	t.mu.RLock()
	allDims, _ := t.columns(nil)
	for i := range stats {
		st := &stats[i]
		dims = dims[:0]
		for j, name := range names {
			if st.Nulls == nil || !st.Nulls[j] {
				dims = append(dims, Dimension{name, st.Dims[j]})
			}
		}
		if !slices.IsSortedFunc(dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) }) {
			slices.SortFunc(dims, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
		}
		s := t.lookupSeries(dimsHash(t.seed, dims), st.Measure, dims)
		if s == nil {
			t.mu.RUnlock()
			return nil, nil
		}
		ix.ser[i] = s
	}
	t.mu.RUnlock()
	for i := 1; i < len(ix.ser); i++ {
		if compareSeries(ix.ser[i-1], ix.ser[i], allDims) >= 0 {
			return nil, nil
		}
	}
	return ix, nil
}

func (p *partRef) acquire() { p.refs.Add(1) }

func (p *partRef) release() {
	if p.refs.Add(-1) != 0 {
		return
	}
	p.r.Close()
	if p.dead.Load() {
		os.Remove(p.path)
	}
}

// obsolete drops the manifest's reference; the file goes with the last reader.
func (p *partRef) obsolete() {
	if p.dropped.CompareAndSwap(false, true) {
		p.dead.Store(true)
		p.release()
	}
}

// abandon drops the manifest's reference but keeps the file, for a part
// that a manifest which may come back after a power cut still names (see
// errUnsynced). Open deletes it once no manifest does.
func (p *partRef) abandon() {
	if p.dropped.CompareAndSwap(false, true) {
		p.release()
	}
}

func openPartRef(dir string, e partEntry, pages *part.PageCache) (*partRef, error) {
	path := filepath.Join(dir, e.File)
	r, err := part.Open(path, part.WithPageCache(pages))
	if err != nil {
		return nil, fmt.Errorf("tsdb: open part %s: %w", path, err)
	}
	p := &partRef{entry: e, path: path, r: r}
	p.refs.Store(1)
	return p, nil
}

// openParts opens every part of the manifest, rebuilds series and cold-tier
// bounds from them, and deletes files the manifest does not name (left by a
// flush or compaction that crashed before its manifest was written).
func (db *DB) openParts() error {
	byID := map[uint32]*table{}
	for _, t := range db.tables {
		byID[t.id] = t
	}
	live := map[string]bool{}
	for _, e := range db.manifest.Parts {
		t := byID[e.Table]
		if t == nil {
			continue // table deleted; the file is removed below
		}
		p, err := openPartRef(db.dir, e, db.pages)
		if err != nil {
			db.closeParts()
			return err
		}
		live[filepath.Clean(e.File)] = true
		t.partitions[e.Partition] = append(t.partitions[e.Partition], p)
		if err := t.learnPart(context.Background(), p); err != nil {
			db.closeParts()
			return fmt.Errorf("tsdb: read part %s: %w", p.path, err)
		}
	}
	root := filepath.Join(db.dir, "tables")
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(db.dir, path)
		if !live[rel] {
			db.logger.Info("tsdb: removing part file not in the manifest", "file", path)
			return os.Remove(path)
		}
		return nil
	})
}

func (db *DB) closeParts() {
	for _, t := range db.tables {
		// Under t.mu: a scan that got its table before Close may be in
		// capture; it either pinned its parts already or finds none.
		t.mu.Lock()
		for _, ps := range t.partitions {
			for _, p := range ps {
				p.release()
			}
		}
		t.partitions = map[int64][]*partRef{}
		t.mu.Unlock()
	}
}

// learnPart registers the series, column types and cold bounds of a part.
func (t *table) learnPart(ctx context.Context, p *partRef) error {
	meta := p.r.Meta()
	var dimNames []string
	for _, c := range meta.Columns {
		switch {
		case c.Dim:
			dimNames = append(dimNames, c.Name)
			t.dims[c.Name] = struct{}{}
		case c.Name == "time" || c.Name == "version" || c.Name == "measure_name":
		default:
			if _, ok := t.fieldTypes[c.Name]; !ok {
				t.fieldTypes[c.Name] = c.Type
			}
		}
	}
	var key []byte
	var cur *series
	return p.r.Scan(ctx, part.Filter{MinTime: minTime, MaxTime: maxTime}, func(b *columnar.Batch) error {
		rows := newRowReader(b, dimNames)
		for i := 0; i < b.Len(); i++ {
			if cur == nil || !rows.sameSeries(i, cur) {
				var dims []Dimension
				key, dims = rows.key(key[:0], i)
				cur = t.getOrCreateSeries(rows.measure.Strs[i], dims)
			}
			tm := rows.time.Ints[i]
			if tm < cur.coldMin {
				cur.coldMin = tm
			}
			if tm > cur.coldMax {
				cur.coldMax = tm
			}
			if !cur.latestSet || tm >= cur.latest.t {
				pt := rows.point(i)
				t.updateLatest(cur, pt)
				if len(pt.fields) == 1 && strings.HasPrefix(pt.fields[0].name, "measure_value::") {
					if _, ok := t.measureTypes[cur.measure]; !ok {
						t.measureTypes[cur.measure] = pt.fields[0].val.Type
					}
				}
			}
		}
		return nil
	})
}

// rowReader reads series identity and points from a part batch.
type rowReader struct {
	time, version, measure *columnar.Column
	dimNames               []string
	dims                   []*columnar.Column
	fieldNames             []string
	fields                 []*columnar.Column
}

func newRowReader(b *columnar.Batch, dimNames []string) *rowReader {
	r := &rowReader{time: b.Col("time"), version: b.Col("version"), measure: b.Col("measure_name")}
	isDim := map[string]bool{}
	for _, d := range dimNames {
		isDim[d] = true
		if c := b.Col(d); c != nil {
			r.dimNames = append(r.dimNames, d)
			r.dims = append(r.dims, c)
		}
	}
	for i, n := range b.Names {
		if n == "time" || n == "version" || n == "measure_name" || isDim[n] {
			continue
		}
		r.fieldNames = append(r.fieldNames, n)
		r.fields = append(r.fields, b.Cols[i])
	}
	return r
}

// key returns the series key and dimensions of row i.
func (r *rowReader) key(dst []byte, i int) ([]byte, []Dimension) {
	var dims []Dimension
	for j, c := range r.dims {
		if !c.IsNull(i) {
			dims = append(dims, Dimension{r.dimNames[j], c.Strs[i]})
		}
	}
	sort.Slice(dims, func(a, b int) bool { return dims[a].Name < dims[b].Name })
	return seriesKey(dst, r.measure.Strs[i], dims), dims
}

// sameSeries reports whether row i belongs to series s.
func (r *rowReader) sameSeries(i int, s *series) bool {
	if r.measure.Strs[i] != s.measure {
		return false
	}
	n := 0
	for j, c := range r.dims {
		if c.IsNull(i) {
			continue
		}
		n++
		found := false
		for _, d := range s.dims {
			if d.Name == r.dimNames[j] {
				found = d.Value == c.Strs[i]
				break
			}
		}
		if !found {
			return false
		}
	}
	return n == len(s.dims)
}

func (r *rowReader) point(i int) point {
	p := point{t: r.time.Ints[i], v: r.version.Ints[i]}
	for j, c := range r.fields {
		if !c.IsNull(i) {
			p.fields = append(p.fields, fieldValue{r.fieldNames[j], valueAt(c, i)})
		}
	}
	return p
}
