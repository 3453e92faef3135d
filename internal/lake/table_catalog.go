package lake

// The lake catalog: databases and external table definitions, the part of
// a Glue Data Catalog Athena needs. It is kept in memory and persisted as
// one JSON file, <dir>/lake.json, replaced atomically (temporary file,
// fsync, rename, fsync of the directory) on every change, so a crash leaves
// either the old or the new catalog. Names are stored in lower case, as
// Hive stores them. A Catalog is safe for concurrent use.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is wrapped by lookups of unknown lake databases and tables.
var ErrNotFound = errors.New("not found")

// ErrExists is wrapped when creating a database or table that exists.
var ErrExists = errors.New("already exists")

const catalogFile = "lake.json"

// Catalog holds lake databases and tables.
type Catalog struct {
	dir, root string
	parallel  int
	stats     *statCounters
	bufs      *scanBufs // shared by the tables it opens
	now       func() time.Time

	mu  sync.RWMutex
	dbs map[string]*catalogDB // by lower-case name
}

type catalogDB struct {
	Name    string               `json:"name"`
	Created time.Time            `json:"created"`
	Tables  map[string]*TableDef `json:"tables"`
}

type catalogFileV1 struct {
	Version   int          `json:"version"`
	Databases []*catalogDB `json:"databases"`
}

// CatalogOptions configure a Catalog.
type CatalogOptions struct {
	Dir         string // where lake.json lives (<data-dir>/catalog); "" keeps the catalog in memory only
	Root        string // the lake root: relative and s3:// locations resolve under it
	Parallelism int    // files a scan decodes at once; 0 = GOMAXPROCS
	Now         func() time.Time
}

// OpenCatalog loads the catalog from opts.Dir (an absent file is an empty
// catalog).
func OpenCatalog(opts CatalogOptions) (*Catalog, error) {
	c := &Catalog{dir: opts.Dir, root: opts.Root, parallel: opts.Parallelism, stats: &statCounters{}, bufs: &scanBufs{}, now: opts.Now, dbs: map[string]*catalogDB{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.dir == "" {
		return c, nil
	}
	b, err := os.ReadFile(filepath.Join(c.dir, catalogFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lake: reading catalog: %w", err)
	}
	var f catalogFileV1
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("lake: catalog %s is corrupt: %w", filepath.Join(c.dir, catalogFile), err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("lake: catalog version %d is not supported", f.Version)
	}
	for _, db := range f.Databases {
		if db == nil || db.Name == "" {
			continue
		}
		if db.Tables == nil {
			db.Tables = map[string]*TableDef{}
		}
		c.dbs[strings.ToLower(db.Name)] = db
	}
	return c, nil
}

// Root returns the lake root.
func (c *Catalog) Root() string { return c.root }

// Stats returns the counters of all scans of tables this catalog opened.
func (c *Catalog) Stats() ScanStats { return c.stats.snapshot() }

// save writes the catalog; c.mu must be held.
func (c *Catalog) save() error {
	if c.dir == "" {
		return nil
	}
	f := catalogFileV1{Version: 1}
	for _, db := range c.dbs {
		f.Databases = append(f.Databases, db)
	}
	sort.Slice(f.Databases, func(i, j int) bool { return f.Databases[i].Name < f.Databases[j].Name })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("lake: encoding catalog: %w", err)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("lake: creating catalog directory: %w", err)
	}
	tmp, err := os.CreateTemp(c.dir, ".lake.json.tmp-*")
	if err != nil {
		return fmt.Errorf("lake: writing catalog: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, catalogFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("lake: writing catalog: %w", err)
	}
	if d, err := os.Open(c.dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("lake: syncing catalog directory: %w", err)
		}
	}
	return nil
}

// Databases lists database names.
func (c *Catalog) Databases() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.dbs))
	for _, db := range c.dbs {
		out = append(out, db.Name)
	}
	sort.Strings(out)
	return out
}

// HasDatabase reports whether a lake database exists (case-insensitively).
func (c *Catalog) HasDatabase(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.dbs[strings.ToLower(name)]
	return ok
}

// CreateDatabase creates a database; with ifNotExists an existing one is
// no error.
func (c *Catalog) CreateDatabase(ctx context.Context, name string, ifNotExists bool) error {
	key := strings.ToLower(name)
	if err := checkName("database", key); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.dbs[key]; ok {
		if ifNotExists {
			return nil
		}
		return fmt.Errorf("lake: database %q: %w", key, ErrExists)
	}
	c.dbs[key] = &catalogDB{Name: key, Created: c.now().UTC(), Tables: map[string]*TableDef{}}
	if err := c.save(); err != nil {
		delete(c.dbs, key)
		return err
	}
	return nil
}

// DropDatabase removes a database; without cascade it must be empty. The
// files under table locations are never touched (tables are external).
func (c *Catalog) DropDatabase(ctx context.Context, name string, ifExists, cascade bool) error {
	key := strings.ToLower(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	db, ok := c.dbs[key]
	if !ok {
		if ifExists {
			return nil
		}
		return fmt.Errorf("lake: database %q does not exist: %w", key, ErrNotFound)
	}
	if len(db.Tables) > 0 && !cascade {
		return fmt.Errorf("lake: database %q is not empty (%d tables); use CASCADE", key, len(db.Tables))
	}
	delete(c.dbs, key)
	if err := c.save(); err != nil {
		c.dbs[key] = db
		return err
	}
	return nil
}

func checkName(what, name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("lake: bad %s name %q", what, name)
	}
	return nil
}

// CreateTable adds a table. The database must exist unless createDB is
// set (the SQL layer sets it when the database exists in the tsdb). With
// ifNotExists an existing table is no error.
func (c *Catalog) CreateTable(ctx context.Context, def TableDef, ifNotExists, createDB bool) error {
	def.Database = strings.ToLower(def.Database)
	def.Name = strings.ToLower(def.Name)
	for i := range def.Columns {
		def.Columns[i].Name = strings.ToLower(def.Columns[i].Name)
	}
	for i := range def.PartitionBy {
		def.PartitionBy[i].Name = strings.ToLower(def.PartitionBy[i].Name)
	}
	if err := checkName("table", def.Name); err != nil {
		return err
	}
	if err := def.Validate(); err != nil {
		return err
	}
	if _, err := ResolveLocation(c.root, def.Location); err != nil {
		return err
	}
	if def.Created.IsZero() {
		def.Created = c.now().UTC()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	db, ok := c.dbs[def.Database]
	newDB := false
	if !ok {
		if !createDB {
			return fmt.Errorf("lake: database %q does not exist (CREATE DATABASE %s first): %w", def.Database, def.Database, ErrNotFound)
		}
		db = &catalogDB{Name: def.Database, Created: c.now().UTC(), Tables: map[string]*TableDef{}}
		c.dbs[def.Database] = db
		newDB = true
	}
	if _, ok := db.Tables[def.Name]; ok {
		if ifNotExists {
			return nil
		}
		return fmt.Errorf("lake: table %s.%s: %w", def.Database, def.Name, ErrExists)
	}
	d := def
	db.Tables[def.Name] = &d
	if err := c.save(); err != nil {
		delete(db.Tables, def.Name)
		if newDB {
			delete(c.dbs, def.Database)
		}
		return err
	}
	return nil
}

// DropTable removes a table definition (its files stay).
func (c *Catalog) DropTable(ctx context.Context, database, name string, ifExists bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	db, ok := c.dbs[strings.ToLower(database)]
	var def *TableDef
	if ok {
		def = db.Tables[strings.ToLower(name)]
	}
	if def == nil {
		if ifExists {
			return nil
		}
		return fmt.Errorf("lake: table %s.%s does not exist: %w", database, name, ErrNotFound)
	}
	delete(db.Tables, def.Name)
	if err := c.save(); err != nil {
		db.Tables[def.Name] = def
		return err
	}
	return nil
}

// Tables lists the table names of a database.
func (c *Catalog) Tables(database string) ([]string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	db, ok := c.dbs[strings.ToLower(database)]
	if !ok {
		return nil, fmt.Errorf("lake: database %q does not exist: %w", database, ErrNotFound)
	}
	out := make([]string, 0, len(db.Tables))
	for n := range db.Tables {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Def returns a table's definition (names match case-insensitively: lake
// names are all lower case).
func (c *Catalog) Def(database, name string) (TableDef, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	db, ok := c.dbs[strings.ToLower(database)]
	if !ok {
		return TableDef{}, false
	}
	d, ok := db.Tables[strings.ToLower(name)]
	if !ok {
		return TableDef{}, false
	}
	def := *d
	def.Columns = append([]TableColumn(nil), d.Columns...)
	def.PartitionBy = append([]TableColumn(nil), d.PartitionBy...)
	return def, true
}

// Table opens a table for scanning.
func (c *Catalog) Table(database, name string) (*Table, error) {
	def, ok := c.Def(database, name)
	if !ok {
		return nil, fmt.Errorf("lake: table %s.%s does not exist: %w", database, name, ErrNotFound)
	}
	return openTable(def, TableOptions{Root: c.root, Parallelism: c.parallel}, c.stats, c.bufs)
}
