package tsdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// manifest names the live part files and the first WAL segment not yet
// flushed into them. It is replaced atomically (writeFileAtomic) after the
// parts it names are durable, and before the WAL segments it makes obsolete
// are deleted. See docs/format/manifest.md.
type manifest struct {
	Version  int         `json:"version"`
	NextPart uint64      `json:"next_part"`
	WALStart int         `json:"wal_start"`
	Parts    []partEntry `json:"parts"`
}

// partEntry describes one part file.
type partEntry struct {
	Table     uint32 `json:"table"`
	Partition int64  `json:"partition"` // partition start, ns
	File      string `json:"file"`      // relative to the DB directory
	MinTime   int64  `json:"min_time"`
	MaxTime   int64  `json:"max_time"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
	Level     int    `json:"level"` // 0 = flushed from the head; +1 per compaction
	// Measures lists the part's measure names (sorted); nil means unknown
	// (parts written before it was recorded). Scans skip parts without a
	// wanted measure and stream parts with disjoint measures unmerged.
	Measures []string `json:"measures,omitempty"`
}

const manifestVersion = 1

func loadManifest(path string) (*manifest, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &manifest{Version: manifestVersion, NextPart: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tsdb: read manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest %s is not valid: %v", ErrCorruption, path, err)
	}
	if m.Version > manifestVersion || m.Version < 1 {
		return nil, fmt.Errorf("%w: manifest %s has format version %d; this build reads version %d", ErrCorruption, path, m.Version, manifestVersion)
	}
	for _, p := range m.Parts {
		if p.File == "" || p.MinTime > p.MaxTime {
			return nil, fmt.Errorf("%w: manifest %s has an invalid part entry %+v", ErrCorruption, path, p)
		}
	}
	return &m, nil
}

func (m *manifest) save(path string, syncDir func(string) error) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	return replaceFile(path, b, syncDir)
}

// saveManifest replaces the MANIFEST file with db.manifest; db.mu must be
// held for writing. An error that wraps errUnsynced means the new manifest
// is in place but perhaps not durable: see errUnsynced.
func (db *DB) saveManifest() error {
	return db.manifest.save(filepath.Join(db.dir, "MANIFEST"), db.syncDir)
}
