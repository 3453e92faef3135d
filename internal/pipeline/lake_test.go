package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/lake"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// lakeEvents reads every event line of the JSON Lines objects under dir
// (plain line scanning and encoding/json) and counts each event.
func lakeEvents(t *testing.T, dir string) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".errors.jsonl") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				return fmt.Errorf("%s: %q: %w", p, sc.Text(), err)
			}
			got[sc.Text()]++
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLakeWriterFlushAndShutdown(t *testing.T) {
	ctx := context.Background()
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: t.TempDir(), Sync: jetstream.SyncInterval}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStream(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			frame := stream.AppendFrame(nil, []stream.Record{
				{Key: "d", Data: fmt.Appendf(nil, `{"DeviceID":"d%d","i":%d,"a":1}`, i%3, i)},
				{Key: "d", Data: fmt.Appendf(nil, `{"DeviceID":"d%d","i":%d,"a":2}`, i%3, i)},
			})
			if _, err := b.Publish(ctx, "events", frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	lw, err := NewLakeWriter(ctx, b, LakeOptions{Lake: lake.Options{Dir: dir, BufferInterval: time.Hour}}, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	publish(0, 300) // a backlog before the start
	if err := lw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !lw.Ready() {
		t.Error("not ready after Start")
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := lw.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	// Flush delivers everything published before it.
	got := lakeEvents(t, dir)
	if len(got) != 600 {
		t.Fatalf("after Flush: %d events in the lake, want 600", len(got))
	}
	if lag, err := lw.Lag(ctx); err != nil || lag != 0 {
		t.Errorf("lag after Flush: %d, %v", lag, err)
	}
	publish(300, 50)
	// Wait until the writer holds them, then shut down: Shutdown writes them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := lw.Writer().Buffered(); n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("messages not fetched within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := lw.Shutdown(fctx); err != nil {
		t.Fatal(err)
	}
	got = lakeEvents(t, dir)
	if len(got) != 700 {
		t.Errorf("after Shutdown: %d events, want 700", len(got))
	}
	for ev, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", ev, n)
		}
	}
	c, err := b.Consumer(ctx, stream.ConsumerConfig{Stream: "events", Durable: "lake", AckWait: 21 * time.Second, MaxPending: 40000})
	if err != nil {
		t.Fatal(err)
	}
	if lag, err := c.Pending(ctx); err != nil || lag != 0 {
		t.Errorf("lag after Shutdown: %d, %v", lag, err)
	}
}
