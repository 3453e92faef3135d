package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
)

// TestMaxInFlight fills the publish slots and checks that one more
// Publish fails fast with ErrBackpressure instead of queueing.
func TestMaxInFlight(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, Options{DataDir: t.TempDir(), MaxInFlight: 2}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStream(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	b.inflight <- struct{}{}
	b.inflight <- struct{}{}
	start := time.Now()
	_, err = b.Publish(ctx, "events", []byte("x"))
	if !errors.Is(err, stream.ErrBackpressure) {
		t.Fatalf("Publish with all slots taken: %v, want ErrBackpressure", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("refusal took %v", d)
	}
	<-b.inflight
	if _, err := b.Publish(ctx, "events", []byte("x")); err != nil {
		t.Fatalf("Publish with a free slot: %v", err)
	}
	<-b.inflight
}

// TestEmbeddedSyncConfig checks that the sync mode reaches the embedded
// server's JetStream configuration, which the file store reads for every
// stream (nats-server stream.go: fsCfg.SyncAlways = opts.SyncAlways).
func TestEmbeddedSyncConfig(t *testing.T) {
	for _, tc := range []struct {
		opts       Options
		wantAlways bool
		wantEvery  time.Duration
	}{
		{Options{}, true, 0},
		{Options{Sync: SyncInterval}, false, time.Second},
		{Options{Sync: SyncInterval, SyncEvery: 250 * time.Millisecond}, false, 250 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("sync=%s/every=%v", tc.opts.Sync, tc.opts.SyncEvery), func(t *testing.T) {
			tc.opts.DataDir = t.TempDir()
			b, err := Open(context.Background(), tc.opts, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			cfg := b.srv.JetStreamConfig()
			if cfg.SyncAlways != tc.wantAlways {
				t.Errorf("SyncAlways = %v, want %v", cfg.SyncAlways, tc.wantAlways)
			}
			if !tc.wantAlways && cfg.SyncInterval != tc.wantEvery {
				t.Errorf("SyncInterval = %v, want %v", cfg.SyncInterval, tc.wantEvery)
			}
			if got := b.nc.MaxPayload(); got != DefaultMaxPayload {
				t.Errorf("MaxPayload = %d, want %d", got, DefaultMaxPayload)
			}
		})
	}
}
