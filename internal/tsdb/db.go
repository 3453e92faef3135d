// Package tsdb is sluice's storage engine: Timestream's data model (databases,
// tables, records with dimensions, measures, nanosecond times and versions)
// kept in a hot tier in memory, protected by a write-ahead log, and a cold
// tier of immutable Parquet part files per time partition.
//
// Invariants:
//   - A Write returns only after every record it accepted is in the WAL and
//     fsynced (unless Options.NoSync). Records are visible to scans as soon
//     as they are applied, which is just before they are durable; a crash in
//     that window loses only writes that were never acknowledged.
//   - WAL order is decision order: a write's upsert decisions are taken and
//     its log entry is queued under the table lock, so a later write that
//     depends on an earlier one (a no-op duplicate, say) is never durable
//     before it. See commit.go.
//   - For one (series, time), the point with the highest version wins when
//     the tiers are merged on read; the upsert rules in head_append.go make
//     sure a different value never arrives with a version that is not higher.
//   - Part files are immutable; the manifest names the live ones and is
//     replaced atomically. Files not named by the manifest are deleted on
//     open. Scans pin the parts they read by reference count.
//
// Lock order: DB.flushMu, then DB.mu, then table.mu (tables in id order).
// DB is safe for concurrent use.
package tsdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/flock"
	"github.com/sluice-dev/sluice/internal/tsdb/part"
	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// ErrCorruption is wrapped by errors about damaged files.
var ErrCorruption = errors.New("tsdb: corruption")

// ErrClosed is returned by operations on a closed DB.
var ErrClosed = errors.New("tsdb: closed")

// Options configure a DB. Zero fields mean defaults.
type Options struct {
	// NoSync skips the fsync before a write is acknowledged (relaxed mode):
	// an OS crash or power cut can lose the last acknowledged writes.
	NoSync bool
	// WALSegmentSize is the size at which WAL segments roll; 0 = 64 MiB.
	WALSegmentSize int64
	// PartitionDuration is the time span of one partition of the cold tier;
	// 0 = 1 h. Fixed for a data directory once data exists.
	PartitionDuration time.Duration
	// HeadMaxPoints triggers a flush of the hot tier when it holds more
	// points than this (memory pressure); 0 = 4,000,000 (~100 MB).
	HeadMaxPoints int
	// FutureLimit rejects records more than this ahead of now; 0 = 15 min.
	FutureLimit time.Duration
	// MaintenanceInterval is how often flush, compaction and retention are
	// checked in the background; 0 = 10 s; negative disables the loop
	// (tests drive Flush and Compact by hand).
	MaintenanceInterval time.Duration
	// PageCacheBytes bounds the cache of decoded part pages shared by all
	// scans (dashboards re-run the same queries, and decompressing and
	// decoding pages dominates small queries); 0 = 64 MiB, negative = off.
	PageCacheBytes int64
	// PartRowGroupRows overrides the part writer's row group size (tests).
	PartRowGroupRows int
	// partNoSeriesStats writes parts without series statistics, as sluice
	// did before they existed (tests of the fallback).
	partNoSeriesStats bool
	// Now returns the current time; nil = time.Now.
	Now func() time.Time
}

func (o *Options) ensureDefaults() {
	if o.PartitionDuration <= 0 {
		o.PartitionDuration = time.Hour
	}
	if o.HeadMaxPoints <= 0 {
		o.HeadMaxPoints = 4_000_000
	}
	if o.FutureLimit <= 0 {
		o.FutureLimit = 15 * time.Minute
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PageCacheBytes == 0 {
		o.PageCacheBytes = 64 << 20
	}
}

// DB is an open storage engine.
type DB struct {
	// Set in Open, never changed.
	dir     string
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	wal     *wal.Log
	lock    *flock.Lock
	commit  *commitQueue
	pages   *part.PageCache        // nil when Options.PageCacheBytes < 0
	syncDir func(dir string) error // fsyncs a directory; tests make it fail
	stop    chan struct{}
	wg      sync.WaitGroup // the commit goroutine
	maintWG sync.WaitGroup // the maintenance loop

	flushMu sync.Mutex // one flush or compaction at a time

	timesPool sync.Pool // of *[]int64: scanSeries' scratch

	mu       sync.RWMutex // guards the fields below
	closed   bool
	catalog  *catalogFile
	tables   map[tableName]*table
	manifest *manifest

	// walGenAtomic is bumped at every WAL cut. It changes only while every
	// table lock is held, so a reader holding one table lock sees it stable.
	walGenAtomic atomic.Uint64
}

type tableName struct{ db, table string }

// Open opens or creates a DB in dir, replaying its WAL.
func Open(dir string, opts Options, logger *slog.Logger, reg prometheus.Registerer) (*DB, error) {
	opts.ensureDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tables"), 0o755); err != nil {
		return nil, fmt.Errorf("tsdb: create %s: %w", dir, err)
	}
	lock, err := flock.Acquire(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("tsdb: open %s: %w", dir, err)
	}
	db := &DB{
		lock:    lock,
		dir:     dir,
		opts:    opts,
		logger:  logger,
		tables:  map[tableName]*table{},
		stop:    make(chan struct{}),
		pages:   part.NewPageCache(opts.PageCacheBytes),
		syncDir: syncDir,
	}
	db.timesPool.New = func() any { return new([]int64) }
	db.walGenAtomic.Store(1)
	if err := db.open(reg); err != nil {
		lock.Release()
		return nil, err
	}
	db.commit = newCommitQueue(db.wal)
	db.wg.Add(1)
	go func() { defer db.wg.Done(); db.commit.run() }()
	if opts.MaintenanceInterval > 0 {
		db.maintWG.Add(1)
		go func() { defer db.maintWG.Done(); db.maintain() }()
	}
	return db, nil
}

// open loads the catalog, the manifest, the parts and the WAL.
func (db *DB) open(reg prometheus.Registerer) error {
	db.metrics = newMetrics(db, reg)
	if reg != nil && db.pages != nil {
		pc := db.pages
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_tsdb_page_cache_hits_total", Help: "Part pages served decoded from the page cache."},
				func() float64 { return float64(pc.Stats().Hits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_tsdb_page_cache_misses_total", Help: "Part pages decoded because the page cache did not hold them."},
				func() float64 { return float64(pc.Stats().Misses) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_tsdb_page_cache_bytes", Help: "Estimated bytes of decoded pages in the page cache."},
				func() float64 { return float64(pc.Stats().Bytes) }),
		)
	}
	var err error
	if db.catalog, err = loadCatalog(filepath.Join(db.dir, "catalog.json")); err != nil {
		return err
	}
	if db.manifest, err = loadManifest(filepath.Join(db.dir, "MANIFEST")); err != nil {
		return err
	}
	for _, ti := range db.catalog.Tables {
		db.tables[tableName{ti.Database, ti.Name}] = newTable(ti)
	}
	if err := db.openParts(); err != nil {
		return err
	}
	db.wal, err = wal.Open(filepath.Join(db.dir, "wal"), wal.Options{SegmentSize: db.opts.WALSegmentSize, NoSync: db.opts.NoSync}, db.logger)
	if err != nil {
		db.closeParts()
		return fmt.Errorf("tsdb: open wal: %w", err)
	}
	if err := db.replayWAL(); err != nil {
		db.wal.Close()
		db.closeParts()
		return err
	}
	return nil
}

// Close flushes nothing (the WAL holds the hot tier), stops background work
// and closes files. It is idempotent.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	close(db.stop)
	// The maintenance loop takes flushMu itself: wait for it before taking
	// flushMu here, or a tick queued behind a long compaction deadlocks.
	db.maintWG.Wait()
	db.flushMu.Lock() // wait for a flush or compaction a caller started
	db.commit.close()
	db.wg.Wait()
	err := db.wal.Close()
	db.closeParts()
	db.flushMu.Unlock()
	if lerr := db.lock.Release(); err == nil {
		err = lerr
	}
	return err
}

func (db *DB) now() int64 { return db.opts.Now().UnixNano() }

// partitionOf returns the start of the partition holding t.
func (db *DB) partitionOf(t int64) int64 {
	d := int64(db.opts.PartitionDuration)
	p := t / d * d
	if t < 0 && t%d != 0 {
		p -= d
	}
	return p
}

// table returns an open table or ErrNotFound.
func (db *DB) table(dbName, name string) (*table, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	t := db.tables[tableName{dbName, name}]
	if t == nil {
		if db.findDatabase(dbName) == nil {
			return nil, fmt.Errorf("%w: database %q", ErrNotFound, dbName)
		}
		return nil, fmt.Errorf("%w: table %q in database %q", ErrNotFound, name, dbName)
	}
	return t, nil
}

func (db *DB) findDatabase(name string) *DatabaseInfo {
	for _, d := range db.catalog.Databases {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// CreateDatabase creates a database.
func (db *DB) CreateDatabase(ctx context.Context, name string) (DatabaseInfo, error) {
	if err := ValidateName("database", name); err != nil {
		return DatabaseInfo{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return DatabaseInfo{}, ErrClosed
	}
	if db.findDatabase(name) != nil {
		return DatabaseInfo{}, fmt.Errorf("%w: database %q", ErrExists, name)
	}
	now := db.opts.Now().UTC()
	d := &DatabaseInfo{Name: name, Created: now, Updated: now}
	db.catalog.Databases = append(db.catalog.Databases, d)
	if err := db.catalog.save(filepath.Join(db.dir, "catalog.json")); err != nil {
		db.catalog.Databases = db.catalog.Databases[:len(db.catalog.Databases)-1]
		return DatabaseInfo{}, err
	}
	return *d, nil
}

// Databases lists databases by name.
func (db *DB) Databases(ctx context.Context) []DatabaseInfo {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]DatabaseInfo, 0, len(db.catalog.Databases))
	for _, d := range db.catalog.Databases {
		di := *d
		for _, t := range db.catalog.Tables {
			if t.Database == d.Name {
				di.TableCount++
			}
		}
		out = append(out, di)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Database describes one database.
func (db *DB) Database(ctx context.Context, name string) (DatabaseInfo, error) {
	for _, d := range db.Databases(ctx) {
		if d.Name == name {
			return d, nil
		}
	}
	return DatabaseInfo{}, fmt.Errorf("%w: database %q", ErrNotFound, name)
}

// DeleteDatabase deletes an empty database (Timestream refuses to delete a
// database that still has tables).
func (db *DB) DeleteDatabase(ctx context.Context, name string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.findDatabase(name) == nil {
		return fmt.Errorf("%w: database %q", ErrNotFound, name)
	}
	for _, t := range db.catalog.Tables {
		if t.Database == name {
			return fmt.Errorf("%w: database %q still has table %q; delete its tables first", ErrInvalid, name, t.Name)
		}
	}
	dbs := db.catalog.Databases[:0:0]
	for _, d := range db.catalog.Databases {
		if d.Name != name {
			dbs = append(dbs, d)
		}
	}
	old := db.catalog.Databases
	db.catalog.Databases = dbs
	if err := db.catalog.save(filepath.Join(db.dir, "catalog.json")); err != nil {
		db.catalog.Databases = old
		return err
	}
	return nil
}

// CreateTable creates a table in an existing database.
func (db *DB) CreateTable(ctx context.Context, dbName, name string, opts TableOptions) (TableInfo, error) {
	if err := ValidateName("table", name); err != nil {
		return TableInfo{}, err
	}
	ret, err := ValidateRetention(opts.Retention)
	if err != nil {
		return TableInfo{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return TableInfo{}, ErrClosed
	}
	if db.findDatabase(dbName) == nil {
		return TableInfo{}, fmt.Errorf("%w: database %q", ErrNotFound, dbName)
	}
	if db.tables[tableName{dbName, name}] != nil {
		return TableInfo{}, fmt.Errorf("%w: table %q in database %q", ErrExists, name, dbName)
	}
	now := db.opts.Now().UTC()
	ti := &TableInfo{Database: dbName, Name: name, Retention: ret, Created: now, Updated: now, ID: db.catalog.NextTable, System: opts.System, Declared: opts.Declared}
	if opts.MagneticStoreWrites != nil {
		ti.MagneticStoreWrites = *opts.MagneticStoreWrites
	}
	db.catalog.NextTable++
	db.catalog.Tables = append(db.catalog.Tables, ti)
	if err := db.catalog.save(filepath.Join(db.dir, "catalog.json")); err != nil {
		db.catalog.Tables = db.catalog.Tables[:len(db.catalog.Tables)-1]
		return TableInfo{}, err
	}
	db.tables[tableName{dbName, name}] = newTable(ti)
	return *ti, nil
}

// EnsureTable creates the database and table if they do not exist.
func (db *DB) EnsureTable(ctx context.Context, dbName, name string, opts TableOptions) error {
	if _, err := db.CreateDatabase(ctx, dbName); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	if _, err := db.CreateTable(ctx, dbName, name, opts); err != nil && !errors.Is(err, ErrExists) {
		return err
	}
	return nil
}

// Tables lists the tables of a database ("" = all databases).
func (db *DB) Tables(ctx context.Context, dbName string) ([]TableInfo, error) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if dbName != "" && db.findDatabase(dbName) == nil {
		return nil, fmt.Errorf("%w: database %q", ErrNotFound, dbName)
	}
	var out []TableInfo
	for _, t := range db.catalog.Tables {
		if dbName == "" || t.Database == dbName {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Table describes one table.
func (db *DB) Table(ctx context.Context, dbName, name string) (TableInfo, error) {
	t, err := db.table(dbName, name)
	if err != nil {
		return TableInfo{}, err
	}
	db.mu.RLock()
	defer db.mu.RUnlock()
	return *t.info, nil
}

// UpdateTable changes retention or magnetic store writes.
func (db *DB) UpdateTable(ctx context.Context, dbName, name string, opts TableOptions) (TableInfo, error) {
	t, err := db.table(dbName, name)
	if err != nil {
		return TableInfo{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	old := *t.info
	r := t.info.Retention
	if opts.Retention.Memory != 0 {
		r.Memory = opts.Retention.Memory
	}
	if opts.Retention.Magnetic != 0 {
		r.Magnetic = opts.Retention.Magnetic
	}
	if r, err = ValidateRetention(r); err != nil {
		return TableInfo{}, err
	}
	t.info.Retention = r
	if opts.MagneticStoreWrites != nil {
		t.info.MagneticStoreWrites = *opts.MagneticStoreWrites
	}
	t.info.Updated = db.opts.Now().UTC()
	if err := db.catalog.save(filepath.Join(db.dir, "catalog.json")); err != nil {
		*t.info = old
		return TableInfo{}, err
	}
	return *t.info, nil
}

// DeleteTable deletes a table and all its data.
func (db *DB) DeleteTable(ctx context.Context, dbName, name string) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return ErrClosed
	}
	t := db.tables[tableName{dbName, name}]
	if t == nil {
		db.mu.Unlock()
		return fmt.Errorf("%w: table %q in database %q", ErrNotFound, name, dbName)
	}
	tables := db.catalog.Tables[:0:0]
	for _, ti := range db.catalog.Tables {
		if ti != t.info {
			tables = append(tables, ti)
		}
	}
	old := db.catalog.Tables
	db.catalog.Tables = tables
	if err := db.catalog.save(filepath.Join(db.dir, "catalog.json")); err != nil {
		db.catalog.Tables = old
		db.mu.Unlock()
		return err
	}
	delete(db.tables, tableName{dbName, name})
	// Parts leave the manifest; their files go when the last scan lets go.
	var keep []partEntry
	for _, p := range db.manifest.Parts {
		if p.Table != t.info.ID {
			keep = append(keep, p)
		}
	}
	db.manifest.Parts = keep
	err := db.saveManifest()
	db.mu.Unlock()
	t.mu.Lock()
	t.deleted = true
	for _, ps := range t.partitions {
		for _, p := range ps {
			p.obsolete()
		}
	}
	t.partitions = map[int64][]*partRef{}
	t.mu.Unlock()
	if err != nil {
		return err
	}
	// The table's WAL entries are ignored on replay because the table is gone
	// from the catalog.
	return nil
}

// minTime and maxTime are open bounds of time ranges.
const (
	minTime = math.MinInt64
	maxTime = math.MaxInt64
)
