package awsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// kinesisMeta is the durable Kinesis metadata of sluice streams (shard
// count, creation time), kept in <catalog>/kinesis.json. Streams without an
// entry (made by sluice itself) have Options.DefaultShards shards.
type kinesisMeta struct {
	path string
	mu   sync.Mutex
	f    metaFile // guarded by mu
}

type metaFile struct {
	Version int                    `json:"version"`
	Streams map[string]*streamMeta `json:"streams"`
}

type streamMeta struct {
	Shards  int               `json:"shards"`
	Created time.Time         `json:"created"`
	Tags    map[string]string `json:"tags,omitempty"`
}

func openKinesisMeta(dir string) (*kinesisMeta, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("awsapi: create catalog dir: %w", err)
	}
	m := &kinesisMeta{path: filepath.Join(dir, "kinesis.json"), f: metaFile{Version: 1, Streams: map[string]*streamMeta{}}}
	b, err := os.ReadFile(m.path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("awsapi: read %s: %w", m.path, err)
	}
	if err := json.Unmarshal(b, &m.f); err != nil {
		return nil, fmt.Errorf("awsapi: %s is damaged: %w", m.path, err)
	}
	if m.f.Version > 1 {
		return nil, fmt.Errorf("awsapi: %s has format version %d, this build reads 1", m.path, m.f.Version)
	}
	if m.f.Streams == nil {
		m.f.Streams = map[string]*streamMeta{}
	}
	return m, nil
}

// get returns a copy of the stream's entry, if any.
func (m *kinesisMeta) get(name string) (streamMeta, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sm, ok := m.f.Streams[name]
	if !ok {
		return streamMeta{}, false
	}
	return *sm, true
}

// set stores (or with nil removes) a stream's entry durably.
func (m *kinesisMeta) set(name string, sm *streamMeta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, had := m.f.Streams[name]
	if sm == nil {
		delete(m.f.Streams, name)
	} else {
		m.f.Streams[name] = sm
	}
	if err := m.saveLocked(); err != nil {
		if had {
			m.f.Streams[name] = old
		} else {
			delete(m.f.Streams, name)
		}
		return err
	}
	return nil
}

// saveLocked replaces the file: temp file, fsync, rename, fsync dir.
func (m *kinesisMeta) saveLocked() error {
	b, err := json.MarshalIndent(&m.f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(m.path)
	f, err := os.CreateTemp(dir, "kinesis.json.tmp*")
	if err != nil {
		return fmt.Errorf("awsapi: write %s: %w", m.path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("awsapi: write %s: %w", m.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("awsapi: sync %s: %w", m.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("awsapi: close %s: %w", m.path, err)
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return fmt.Errorf("awsapi: rename %s: %w", m.path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("awsapi: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("awsapi: sync %s: %w", dir, err)
	}
	return nil
}
