package lake

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// buildOldLake fills dir with n small objects of the stream life created at
// created, perPart to an hour partition, the newest partition holding t0,
// as a writer that has run for weeks leaves them. It returns the last
// sequence written.
func buildOldLake(b *testing.B, dir string, created time.Time, n, perPart int) uint64 {
	b.Helper()
	w, err := NewWriter(Options{Dir: dir, StreamCreated: created, NoSync: true}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	parts := (n + perPart - 1) / perPart
	const perObject = 100 // sequences in an object
	seq := uint64(1)
	line := []byte(`{"i":1}` + "\n")
	for i := range n {
		at := t0.Add(-time.Duration(parts-1-i/perPart) * time.Hour)
		key := w.prefixes[outEvents].Eval(at, w.errType) + w.objectName(outEvents, seq, seq+perObject-1)
		p := filepath.Join(dir, filepath.FromSlash(key))
		if i%perPart == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, line, 0o644); err != nil {
			b.Fatal(err)
		}
		seq += perObject
	}
	return seq - 1
}

// BenchmarkWriterOpen measures a restart on a lake that has run for weeks:
// opening the writer, then the first two messages the stream delivers (one
// already in the newest object, redelivered after a crash, whose events
// must not be written again; one new). open=restart opens a lake the writer has opened
// before; open=first one no writer of this version has opened (no layout
// file: the whole lake is read once).
//
// go test ./internal/lake -run XXX -bench BenchmarkWriterOpen -benchtime 10x -count 5
func BenchmarkWriterOpen(b *testing.B) {
	created := t0.Add(-90 * 24 * time.Hour)
	for _, n := range []int{50000} {
		dir := b.TempDir()
		last := buildOldLake(b, dir, created, n, 50) // 1000 hour partitions, about 6 weeks
		state := b.TempDir()
		opts := Options{Dir: dir, StreamCreated: created, BufferInterval: time.Hour, NoSync: true, StateDir: state}
		for _, open := range []string{"restart", "first"} {
			b.Run(fmt.Sprintf("objects=%d/open=%s", n, open), func(b *testing.B) {
				// A first open, as the writer's last run did.
				w, err := NewWriter(opts, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				w.Close()
				b.ReportAllocs()
				for b.Loop() {
					if open == "first" {
						b.StopTimer()
						removeFiles(b, state)
						b.StartTimer()
					}
					w, err := NewWriter(opts, nil, nil)
					if err != nil {
						b.Fatal(err)
					}
					old := newMsg(last, t0, `{"i":1}`)
					if err := w.Add(old.Message); err != nil {
						b.Fatal(err)
					}
					if _, bytes := w.Buffered(); bytes != 0 {
						// (It is acknowledged by the next Flush: it has
						// no error events, and no error object says so.)
						b.Fatalf("the events of a message already in the lake were buffered again")
					}
					if err := w.Add(newMsg(last+1, t0.Add(time.Minute), `{"i":2}`).Message); err != nil {
						b.Fatal(err)
					}
					if _, bytes := w.Buffered(); bytes == 0 {
						b.Fatalf("the events of a new message were not buffered")
					}
					w.Close()
				}
			})
		}
	}
}

// removeFiles removes the files in dir (the writer's layout file).
func removeFiles(b *testing.B, dir string) {
	b.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			b.Fatal(err)
		}
	}
}
