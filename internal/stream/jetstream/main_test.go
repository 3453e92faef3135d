package jetstream_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// crashDirEnv makes the test binary run as the crash-test child
// (crash_test.go) instead of running tests.
const crashDirEnv = "SLUICE_JETSTREAM_CRASH_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(runCrashChild(dir))
	}
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines after all tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks waits until no goroutine of the NATS server or client is
// left, and returns the stacks of those still running after timeout.
func waitNoLeaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "nats-io/") || strings.Contains(g, "sluice/internal/stream") {
				if !strings.Contains(g, "waitNoLeaks") {
					leaked = append(leaked, g)
				}
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
	if testing.Verbose() && os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	_ = t
	return slog.New(slog.DiscardHandler)
}

// startExternal runs a standalone nats-server with JetStream on a random
// loopback port and its own store dir, as an operator's server would be.
func startExternal(t testing.TB) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("external server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("external server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv.ClientURL()
}

// modes runs body against an embedded in-process broker and against an
// external server reached through Options.URL: one test body, two real
// implementations.
func modes(t *testing.T, opts jetstream.Options, body func(t *testing.T, open func() *jetstream.Broker)) {
	t.Run("mode=embedded", func(t *testing.T) {
		t.Parallel()
		o := opts
		o.DataDir = t.TempDir()
		body(t, func() *jetstream.Broker { return openBroker(t, o) })
	})
	t.Run("mode=external", func(t *testing.T) {
		t.Parallel()
		o := opts
		o.URL = startExternal(t)
		body(t, func() *jetstream.Broker { return openBroker(t, o) })
	})
}

func openBroker(t testing.TB, o jetstream.Options) *jetstream.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := jetstream.Open(ctx, o, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func ensure(t testing.TB, b *jetstream.Broker, cfg stream.Config) {
	t.Helper()
	if err := b.EnsureStream(context.Background(), cfg); err != nil {
		t.Fatalf("EnsureStream(%+v): %v", cfg, err)
	}
}

func publish(t testing.TB, b *jetstream.Broker, name string, data []byte) stream.PubAck {
	t.Helper()
	ack, err := b.Publish(context.Background(), name, data)
	if err != nil {
		t.Fatalf("Publish(%s): %v", name, err)
	}
	return ack
}
