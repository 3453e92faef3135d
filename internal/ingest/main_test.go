package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines after all tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks waits until no goroutine started by this package (or by the
// MQTT broker or NATS it runs) is left, and returns the stacks of those
// still running after timeout.
func waitNoLeaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if (strings.Contains(g, "sluice/internal/ingest.") || strings.Contains(g, "mochi-mqtt/") ||
				strings.Contains(g, "nats-io/") || strings.Contains(g, "paho.golang")) &&
				!strings.Contains(g, "waitNoLeaks") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// openJetStream starts a real embedded JetStream broker (fsync on every
// publish) with the given streams.
func openJetStream(t testing.TB, streams ...string) *jetstream.Broker {
	t.Helper()
	ctx := context.Background()
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: t.TempDir()}, testLogger(t))
	if err != nil {
		t.Fatalf("opening JetStream: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for _, name := range streams {
		if err := b.EnsureStream(ctx, stream.Config{Name: name}); err != nil {
			t.Fatalf("creating stream %s: %v", name, err)
		}
	}
	return b
}

// newService builds a Service over broker and shuts it down at cleanup.
func newService(t testing.TB, broker stream.Broker, opts Options) *Service {
	t.Helper()
	s, err := New(broker, opts, testLogger(t), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// readStream returns every record in the stream, in order, and the number
// of stream messages that held them.
func readStream(t testing.TB, b stream.Broker, name string) (recs []stream.Record, msgs int) {
	t.Helper()
	ctx := context.Background()
	for seq := uint64(1); ; seq++ {
		m, err := b.Get(ctx, name, seq)
		if errors.Is(err, stream.ErrNoMessage) {
			return recs, msgs
		}
		if err != nil {
			t.Fatalf("Get %s #%d: %v", name, seq, err)
		}
		msgs++
		err = stream.DecodeFrame(m.Data, func(_ int, r stream.Record) error {
			r.Data = append([]byte(nil), r.Data...)
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			t.Fatalf("decoding %s #%d: %v", name, seq, err)
		}
	}
}

// slowBroker wraps a broker: Publish first waits for the gate (if set) and
// the delay, and fails with failErr (if set) instead of publishing.
type slowBroker struct {
	stream.Broker
	delay    time.Duration
	gate     chan struct{} // closed to let publishes through; nil = open
	waiting  atomic.Int32  // publishes waiting at the gate
	mu       sync.Mutex
	failErr  error // guarded by mu
	publishN atomic.Int32
}

func (b *slowBroker) setFail(err error) {
	b.mu.Lock()
	b.failErr = err
	b.mu.Unlock()
}

func (b *slowBroker) Publish(ctx context.Context, name string, data []byte) (stream.PubAck, error) {
	b.publishN.Add(1)
	if b.gate != nil {
		b.waiting.Add(1)
		select {
		case <-b.gate:
		case <-ctx.Done():
			b.waiting.Add(-1)
			return stream.PubAck{}, ctx.Err()
		}
		b.waiting.Add(-1)
	}
	if b.delay > 0 {
		time.Sleep(b.delay)
	}
	b.mu.Lock()
	err := b.failErr
	b.mu.Unlock()
	if err != nil {
		return stream.PubAck{}, err
	}
	return b.Broker.Publish(ctx, name, data)
}

// memBroker is a minimal in-memory stream.Broker for edge cases that need
// no real store (parsing, limits); integration tests use JetStream.
type memBroker struct {
	mu      sync.Mutex
	streams map[string][][]byte
}

func newMemBroker(names ...string) *memBroker {
	b := &memBroker{streams: map[string][][]byte{}}
	for _, n := range names {
		b.streams[n] = nil
	}
	return b
}

func (b *memBroker) EnsureStream(_ context.Context, cfg stream.Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.streams[cfg.Name]; !ok {
		b.streams[cfg.Name] = nil
	}
	return nil
}

func (b *memBroker) DeleteStream(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.streams, name)
	return nil
}

func (b *memBroker) Streams(context.Context) ([]stream.StreamInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []stream.StreamInfo
	for n, msgs := range b.streams {
		out = append(out, stream.StreamInfo{Config: stream.Config{Name: n}, Msgs: uint64(len(msgs)), LastSeq: uint64(len(msgs))})
	}
	return out, nil
}

func (b *memBroker) Publish(_ context.Context, name string, data []byte) (stream.PubAck, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs, ok := b.streams[name]
	if !ok {
		return stream.PubAck{}, stream.ErrNoStream
	}
	b.streams[name] = append(msgs, append([]byte(nil), data...))
	return stream.PubAck{Stream: name, Seq: uint64(len(msgs) + 1)}, nil
}

func (b *memBroker) Consumer(context.Context, stream.ConsumerConfig) (stream.Consumer, error) {
	return nil, errors.New("memBroker: no consumers")
}

func (b *memBroker) Get(_ context.Context, name string, seq uint64) (*stream.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs, ok := b.streams[name]
	if !ok {
		return nil, stream.ErrNoStream
	}
	if seq == 0 || seq > uint64(len(msgs)) {
		return nil, stream.ErrNoMessage
	}
	return stream.NewMessage(name, seq, time.Time{}, msgs[seq-1], 0, nil, nil, nil), nil
}

func (b *memBroker) Close() error { return nil }
