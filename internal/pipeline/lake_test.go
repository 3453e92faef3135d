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

// TestLakeWriterRedeliveryWithState crashes a lake writer between writing
// its objects and acknowledging their messages (the objects are written
// from the fetched messages with their acks left out), then starts a
// LakeWriter with the same StateDir: it opens without reading the lake,
// and the messages the stream redelivers (with the arrival times it
// stored, which name their partition) must be found in it, not written
// again.
func TestLakeWriterRedeliveryWithState(t *testing.T) {
	ctx := context.Background()
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: t.TempDir(), Sync: jetstream.SyncInterval}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStream(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		frame := stream.AppendFrame(nil, []stream.Record{{Key: "d", Data: fmt.Appendf(nil, `{"DeviceID":"d%d","i":%d}`, i%3, i)}})
		if _, err := b.Publish(ctx, "events", frame); err != nil {
			t.Fatal(err)
		}
	}
	dir, state := t.TempDir(), t.TempDir()
	infos, err := b.Streams(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("streams %v, %v", infos, err)
	}
	lopts := lake.Options{Dir: dir, StateDir: state, BufferInterval: 200 * time.Millisecond, StreamCreated: infos[0].Created}
	const ackWait = time.Second

	// The crashed writer: its objects are durable, its acks never sent.
	c, err := b.Consumer(ctx, stream.ConsumerConfig{Stream: "events", Durable: "lake", AckWait: ackWait, MaxPending: 40000})
	if err != nil {
		t.Fatal(err)
	}
	w, err := lake.NewWriter(lopts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	noAck := func() error { return nil }
	for fetched := 0; fetched < 200; {
		msgs, err := c.Fetch(ctx, 200, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			lost := stream.NewMessage(m.Stream, m.Seq, m.Time, m.Data, m.Delivered, noAck, func(time.Duration) error { return nil }, noAck)
			if err := w.Add(lost); err != nil {
				t.Fatal(err)
			}
			if m.Seq%50 == 0 {
				// Objects of 50 messages: a redelivery fetched in other
				// batches would name its objects differently.
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		fetched += len(msgs)
	}
	w.Close()
	c.Close()
	objects := lakeObjects(t, dir)

	reg := prometheus.NewRegistry()
	lw, err := NewLakeWriter(ctx, b, LakeOptions{Lake: lopts, AckWait: ackWait}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if lag, err := lw.Lag(ctx); err == nil && lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redelivered messages not acknowledged within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := lw.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if got := lakeObjects(t, dir); strings.Join(got, "\n") != strings.Join(objects, "\n") {
		t.Errorf("objects after redelivery\n%q\nwant those before\n%q", got, objects)
	}
	got := lakeEvents(t, dir)
	if len(got) != 200 {
		t.Errorf("%d events in the lake, want 200", len(got))
	}
	for ev, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", ev, n)
		}
	}
}

// lakeObjects lists the files under dir.
func lakeObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
