package tsdb

import (
	"encoding/json"

	"errors"
	"fmt"
	"github.com/sluice-dev/sluice/internal/columnar"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Catalog errors; callers map them to protocol errors (404, 409, ...).
var (
	ErrNotFound = errors.New("tsdb: not found")
	ErrExists   = errors.New("tsdb: already exists")
	ErrInvalid  = errors.New("tsdb: invalid argument")
)

// Retention bounds follow Timestream's RetentionProperties.
const (
	MinMemoryRetention   = time.Hour
	MaxMemoryRetention   = 8766 * time.Hour
	MinMagneticRetention = 24 * time.Hour
	MaxMagneticRetention = 73000 * 24 * time.Hour

	DefaultMemoryRetention   = 6 * time.Hour
	DefaultMagneticRetention = 73000 * 24 * time.Hour
	maxNameLen               = 256
)

// Retention is a table's retention: data older than Memory leaves the hot
// tier; data older than Magnetic is deleted.
type Retention struct {
	Memory   time.Duration `json:"memory"`
	Magnetic time.Duration `json:"magnetic"`
}

// DatabaseInfo describes a database.
type DatabaseInfo struct {
	Name       string    `json:"name"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	TableCount int       `json:"-"`
}

// TableInfo describes a table.
type TableInfo struct {
	Database            string           `json:"database"`
	Name                string           `json:"name"`
	Retention           Retention        `json:"retention"`
	MagneticStoreWrites bool             `json:"magnetic_store_writes"`
	Created             time.Time        `json:"created"`
	Updated             time.Time        `json:"updated"`
	System              bool             `json:"system,omitempty"`
	Declared            []DeclaredColumn `json:"declared,omitempty"`
	ID                  uint32           `json:"id"` // stable, names the table's directory
}

// TableOptions are the settable properties of a table; zero fields mean
// defaults on create and "unchanged" on update.
type TableOptions struct {
	Retention           Retention
	MagneticStoreWrites *bool
	// System marks sluice's own tables (dead letters, clock corrections):
	// they take times of any age inside retention and any future time,
	// because they record what devices claimed.
	System bool
	// Declared columns exist (as NULL) before anything is written, so
	// queries of an empty table bind. Kinds are "dimension" or "measure".
	Declared []DeclaredColumn
}

// DeclaredColumn is a column a table has from its creation.
type DeclaredColumn struct {
	Name string        `json:"name"`
	Kind string        `json:"kind"` // "dimension" or "measure"
	Type columnar.Type `json:"type"`
}

// ValidateName checks a database or table name against Timestream's rules.
func ValidateName(kind, name string) error {
	if len(name) < 3 || len(name) > maxNameLen {
		return fmt.Errorf("%w: %s name %q must be 3 to %d bytes long", ErrInvalid, kind, name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: %s name %q has %q at byte %d; allowed are letters, digits, '_', '.' and '-'", ErrInvalid, kind, name, c, i)
		}
	}
	return nil
}

// ValidateRetention checks retention bounds; zero fields are filled with defaults.
func ValidateRetention(r Retention) (Retention, error) {
	if r.Memory == 0 {
		r.Memory = DefaultMemoryRetention
	}
	if r.Magnetic == 0 {
		r.Magnetic = DefaultMagneticRetention
	}
	if r.Memory < MinMemoryRetention || r.Memory > MaxMemoryRetention {
		return r, fmt.Errorf("%w: memory store retention %v must be between 1 and 8766 hours", ErrInvalid, r.Memory)
	}
	if r.Magnetic < MinMagneticRetention || r.Magnetic > MaxMagneticRetention {
		return r, fmt.Errorf("%w: magnetic store retention %v must be between 1 and 73000 days", ErrInvalid, r.Magnetic)
	}
	return r, nil
}

// catalogFile is the persisted form of the catalog.
type catalogFile struct {
	Version   int             `json:"version"`
	NextTable uint32          `json:"next_table"`
	Databases []*DatabaseInfo `json:"databases"`
	Tables    []*TableInfo    `json:"tables"`
}

const catalogVersion = 1

func loadCatalog(path string) (*catalogFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &catalogFile{Version: catalogVersion, NextTable: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tsdb: read catalog: %w", err)
	}
	var c catalogFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: catalog %s: %v", ErrCorruption, path, err)
	}
	if c.Version > catalogVersion {
		return nil, fmt.Errorf("tsdb: catalog %s has format version %d, this build reads up to %d", path, c.Version, catalogVersion)
	}
	return &c, nil
}

func (c *catalogFile) save(path string) error {
	sort.Slice(c.Databases, func(i, j int) bool { return c.Databases[i].Name < c.Databases[j].Name })
	sort.Slice(c.Tables, func(i, j int) bool {
		a, b := c.Tables[i], c.Tables[j]
		if a.Database != b.Database {
			return a.Database < b.Database
		}
		return a.Name < b.Name
	})
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// errUnsynced marks a replacement whose rename happened but whose directory
// fsync failed: the directory shows the new file now, but a power cut may
// bring the old one back. A caller must then neither undo what the new file
// records (it is what a restart without a power cut reads) nor delete what
// the old one needs.
var errUnsynced = errors.New("the file was replaced but its directory could not be synced")

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte) error {
	return replaceFile(path, data, syncDir)
}

// replaceFile is writeFileAtomic with the directory fsync given (a test
// makes it fail). An error after the rename wraps errUnsynced.
func replaceFile(path string, data []byte, syncDir func(string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tsdb: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tsdb: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tsdb: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tsdb: close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tsdb: rename %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("tsdb: replace %s: %w: %w", path, errUnsynced, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tsdb: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("tsdb: sync dir %s: %w", dir, err)
	}
	return nil
}
