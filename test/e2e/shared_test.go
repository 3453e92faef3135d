package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// startNATS runs a standalone NATS server with JetStream on a random
// loopback port, as an operator's external server would be.
func startNATS(t *testing.T) string {
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
		t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats server not ready within 30s")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv.ClientURL()
}

// TestProcessorsShareConsumer runs two servers against one external NATS
// JetStream server: both ingest into the same stream and consume it as the
// same durable consumer ("tsdb"), each into its own store (two servers
// cannot share a data dir: the tsdb's WAL is one process's). Every event
// must be in exactly one of the two stores. Midway, server A shuts down
// gracefully while senders keep going to B; A's processor must hand back
// nothing it did not store.
func TestProcessorsShareConsumer(t *testing.T) {
	url := startNATS(t)
	newCfg := func() (cfg config.Config) {
		cfg = testConfig(t)
		cfg.NATSURL = url
		cfg.MQTTAddr = ""
		cfg.Processors = 2 // four members of one durable consumer in all
		return cfg
	}
	cfgA, cfgB := newCfg(), newCfg()
	a := apptest.Start(t, cfgA)
	b := apptest.Start(t, cfgB)
	ctx := context.Background()

	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	want := map[seriesKey]float64{}
	var mu sync.Mutex
	// send posts events n0..n1 of sender s to addr in batches.
	send := func(addr string, s, n0, n1 int) error {
		for n := n0; n < n1; n += 50 {
			var events [][]byte
			for i := n; i < min(n+50, n1); i++ {
				dev, ts, v := crashEvent(base, s, i)
				events = append(events, makeEvent(dev, ts, v))
				mu.Lock()
				for j, m := range measures {
					want[seriesKey{dev, m, ts}] = v[j]
				}
				mu.Unlock()
			}
			status, res, err := postNDJSON(ctx, httpClient, addr, events)
			if err != nil || status != 200 || res.Accepted != len(events) {
				return fmt.Errorf("POST to %s: status %d, %+v, %v", addr, status, res, err)
			}
		}
		return nil
	}
	// Phase 1: both servers ingest and process.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for s, addr := range []string{a.HTTPAddr(), b.HTTPAddr(), a.HTTPAddr(), b.HTTPAddr()} {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- send(addr, s, 0, 1500) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Let both servers' processors take part before A leaves: the stream
	// hands each message to whichever member asks first, so keep sending
	// (bounded) until A's store holds something.
	storedAll := func(db *tsdb.DB, other map[seriesKey]*storedRow) (bool, int) {
		got, err := scanTelemetry(ctx, db)
		if err != nil {
			return false, 0
		}
		mu.Lock()
		defer mu.Unlock()
		for k := range want {
			if got[k] == nil && other[k] == nil {
				return false, len(got)
			}
		}
		return true, len(got)
	}
	for round := 0; ; round++ {
		var rowsA int
		waitFor(t, "phase 1 to be stored", 60*time.Second, func() (bool, string) {
			gotB, err := scanTelemetry(ctx, b.DB())
			if err != nil {
				return false, err.Error()
			}
			ok, n := storedAll(a.DB(), gotB)
			rowsA = n
			return ok, fmt.Sprintf("A %d rows, B %d rows, %d wanted", n, len(gotB), len(want))
		})
		if rowsA > 0 {
			break
		}
		if round == 20 {
			t.Fatal("A's processor got no message in 20 rounds: the durable consumer is not shared")
		}
		if err := send(a.HTTPAddr(), 5+round, 0, 200); err != nil {
			t.Fatal(err)
		}
	}

	// Phase 2: A shuts down gracefully while a sender keeps posting to B.
	phase2 := make(chan error, 1)
	go func() { phase2 <- send(b.HTTPAddr(), 4, 0, 3000) }() // sender 4: phase 2 only
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatalf("A's Shutdown: %v", err)
	}
	if err := <-phase2; err != nil {
		t.Fatal(err)
	}

	// A's store, reopened after its shutdown, and B's live store.
	dbA, err := tsdb.Open(filepath.Join(cfgA.DataDir, "tsdb"), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dbA.Close()
	gotA, err := scanTelemetry(ctx, dbA)
	if err != nil {
		t.Fatal(err)
	}
	var union map[seriesKey]*storedRow
	waitFor(t, "the union of both stores to hold every event", 90*time.Second, func() (bool, string) {
		union = map[seriesKey]*storedRow{}
		for k, r := range gotA {
			c := *r
			union[k] = &c
		}
		if _, err := scanTelemetryInto(ctx, b.DB(), union); err != nil {
			return false, err.Error()
		}
		missing := 0
		for k := range want {
			if union[k] == nil {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d keys missing", missing, len(want))
	})
	// checkStored counts a key found in both stores as stored twice.
	if problems := checkStored(union, want, 20); len(problems) > 0 {
		t.Errorf("the two processors did not store each event exactly once in total:\n%s", strings.Join(problems, "\n"))
	}
	if len(union) != len(want) {
		t.Errorf("%d distinct rows in the two stores, want %d", len(union), len(want))
	}
	gotB, err := scanTelemetry(ctx, b.DB())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows: %d in A's store, %d in B's", len(want), len(gotA), len(gotB))
	if err := b.Shutdown(sctx); err != nil {
		t.Errorf("B's Shutdown: %v", err)
	}
}
