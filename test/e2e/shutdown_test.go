package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/config"
)

// shutdownCycles starts a server on cfg (an external NATS in cfg.NATSURL,
// so that the consumer can be inspected between servers) cycles times,
// shuts it down gracefully while HTTP senders are busy, and reports after
// each shutdown how many stream messages the durable consumer "tsdb" had
// delivered but not seen acknowledged. It returns every acknowledged event.
func shutdownCycles(t *testing.T, cfg config.Config, cycles int, ackPending func(cycle int, n int)) map[seriesKey]float64 {
	t.Helper()
	nc, err := nats.Connect(cfg.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[seriesKey]float64{}
	for cycle := range cycles {
		a := apptest.Start(t, cfg)
		// Distinct times per cycle: sender numbers repeat.
		load := &crashLoad{base: time.Now().Add(-time.Hour + time.Duration(cycle)*time.Minute).Truncate(time.Millisecond), acked: map[int][]int{}, sent: map[int]int{}}
		ctx, cancel := context.WithCancel(context.Background())
		firstAck := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); load.run(ctx, a.HTTPAddr(), 4, 50, firstAck) }()
		select {
		case <-firstAck:
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("no request acknowledged within 60s")
		}
		time.Sleep(time.Duration(cycle%4) * 60 * time.Millisecond) // vary the moment; not a correctness condition
		sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := a.Shutdown(sctx)
		scancel()
		cancel()
		<-done
		if err != nil {
			t.Fatalf("cycle %d: Shutdown during ingest: %v", cycle, err)
		}
		for s, ns := range load.acked {
			for _, n := range ns {
				dev, ts, v := crashEvent(load.base, s, n)
				for i, m := range measures {
					want[seriesKey{dev, m, ts}] = v[i]
				}
			}
		}
		c, err := js.Consumer(context.Background(), "events", "tsdb")
		if err != nil {
			t.Fatalf("cycle %d: consumer info: %v", cycle, err)
		}
		info, err := c.Info(context.Background())
		if err != nil {
			t.Fatalf("cycle %d: consumer info: %v", cycle, err)
		}
		ackPending(cycle, info.NumAckPending)
	}
	return want
}

// TestShutdownDuringIngest shuts servers down gracefully while HTTP senders
// are busy, several times on one data dir, then starts one more and checks
// that every acknowledged event is stored exactly once.
//
// It also reports messages a graceful shutdown left delivered but
// unacknowledged: the processor's Shutdown cancels a Fetch that is reading
// a batch, and what the server had already sent to that pull request is
// dropped with the subscription, so it comes back only after AckWait (30 s).
// That is a bug (see TestGracefulShutdownSoak, which fails on it) but
// loses nothing, so here it is only logged: it happens in about one
// shutdown in 20-30.
func TestShutdownDuringIngest(t *testing.T) {
	cfg := testConfig(t)
	cfg.MQTTAddr = ""
	cfg.NATSURL = startNATS(t)
	cfg.Processors = 2
	want := shutdownCycles(t, cfg, 3, func(cycle, n int) {
		if n > 0 {
			t.Logf("BUG: cycle %d: a graceful shutdown left %d stream messages delivered but unacknowledged", cycle, n)
		}
	})
	b := apptest.Start(t, cfg)
	start := time.Now()
	var got map[seriesKey]*storedRow
	waitFor(t, "every acknowledged event in the store", 120*time.Second, func() (bool, string) {
		var err error
		got, err = scanTelemetry(context.Background(), b.DB())
		missing := 0
		for k := range want {
			if got[k] == nil {
				missing++
			}
		}
		return err == nil && missing == 0, fmt.Sprintf("%d of %d rows missing, err %v", missing, len(want), err)
	})
	t.Logf("%d acknowledged events; the last server had them all after %v", len(want)/4, time.Since(start).Round(time.Millisecond))
	if problems := checkStored(got, want, 20); len(problems) > 0 {
		t.Errorf("after graceful shutdowns during ingest:\n%s", strings.Join(problems, "\n"))
	}
}
