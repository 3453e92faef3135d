package tsdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestManifestUnsynced: when the MANIFEST's rename succeeds but its
// directory cannot be synced, a flush, a compaction or a retention drop
// reports the error but neither undoes the new manifest nor deletes what
// the old one needs. Both states a restart can meet are then complete:
// the new manifest (a plain restart) and the old one (a power cut that
// lost the rename), each with every point exactly once.
func TestManifestUnsynced(t *testing.T) {
	for _, op := range []string{"flush", "compact", "retention"} {
		t.Run(op, func(t *testing.T) { testManifestUnsynced(t, op) })
	}
}

func testManifestUnsynced(t *testing.T, op string) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)
	clock := now
	dir := t.TempDir()
	opts := Options{MaintenanceInterval: -1, Now: func() time.Time { return clock }}
	db, err := Open(dir, opts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{Retention: Retention{Memory: 24 * time.Hour, Magnetic: 48 * time.Hour}}); err != nil {
		t.Fatal(err)
	}
	write := func(from time.Time, n int, dev string) {
		t.Helper()
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Dimensions: []Dimension{{Name: "device", Value: dev}}, MeasureName: "temp",
				Time: from.Add(time.Duration(i) * time.Second).UnixNano(), Value: Double(float64(200+i%50) / 10)}
		}
		if rej, err := db.Write(ctx, "iot", "tel", recs); err != nil || len(rej) > 0 {
			t.Fatalf("write: %v, %d rejects", err, len(rej))
		}
	}
	hour := now.Truncate(time.Hour)
	write(hour.Add(-time.Hour), 500, "a")
	if op != "flush" {
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		write(hour.Add(-time.Hour+10*time.Minute), 500, "a") // a second part, overlapping in series
	}
	if op == "retention" {
		write(hour.Add(-40*time.Hour), 100, "old") // expires when the clock moves on
	}
	if op != "flush" {
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := scanAllT(db)
	if op == "retention" {
		want = slices.DeleteFunc(want, func(s string) bool { return s[len(s)-3:] == "old" })
	}
	if op == "retention" {
		clock = now.Add(20 * time.Hour)
	}
	oldManifest, err := os.ReadFile(filepath.Join(dir, "MANIFEST"))
	if errors.Is(err, os.ErrNotExist) {
		oldManifest = nil // before the first flush there is none
	} else if err != nil {
		t.Fatal(err)
	}
	filesBefore := partFiles(t, dir)

	failing := errors.New("injected directory fsync failure")
	db.syncDir = func(d string) error {
		if filepath.Clean(d) == filepath.Clean(dir) {
			return failing
		}
		return syncDir(d)
	}
	switch op {
	case "flush":
		err = db.Flush(ctx)
	case "compact":
		err = db.Compact(ctx)
	case "retention":
		err = db.applyRetentionLocked()
	}
	if !errors.Is(err, errUnsynced) || !errors.Is(err, failing) {
		t.Fatalf("%s: error %v, want one wrapping errUnsynced and the fsync error", op, err)
	}
	if got := scanAllT(db); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("after the failed %s: %d rows, want %d", op, len(got), len(want))
	}
	for _, f := range filesBefore {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("part %s of the old manifest is gone: %v", f, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The power cut's image: the old manifest is back.
	lost := t.TempDir()
	copyDir(t, dir, lost)
	if oldManifest == nil {
		err = os.Remove(filepath.Join(lost, "MANIFEST"))
	} else {
		err = os.WriteFile(filepath.Join(lost, "MANIFEST"), oldManifest, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]string{"restart": dir, "power cut": lost} {
		db2, err := Open(d, opts, nil, nil)
		if err != nil {
			t.Fatalf("%s: open: %v", name, err)
		}
		got := scanAllT(db2)
		if op == "retention" && name == "power cut" {
			// The old manifest still names the expired partition until
			// retention runs again.
			if err := db2.applyRetentionLocked(); err != nil {
				t.Fatal(err)
			}
			got = scanAllT(db2)
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("%s after the failed %s: %d rows, want %d", name, op, len(got), len(want))
		}
		if err := db2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func (db *DB) applyRetentionLocked() error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	return db.applyRetention()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, "tables"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if d.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", from, err))
	}
}
