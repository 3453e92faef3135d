package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestShutdownDuringIngest shuts a server down gracefully while HTTP
// senders are busy, starts a new one on the same data dir and checks that
// every acknowledged event is stored exactly once. A graceful shutdown
// acknowledges what its processor stored, so the new server must catch up
// without waiting for the stream's redelivery timeout (AckWait, 30 s).
func TestShutdownDuringIngest(t *testing.T) {
	cfg := testConfig(t)
	cfg.MQTTAddr = ""
	a := startApp(t, cfg)
	load := &crashLoad{base: time.Now().Add(-time.Hour).Truncate(time.Millisecond), acked: map[int][]int{}, sent: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	firstAck := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); load.run(ctx, a.HTTPAddr(), 4, 50, firstAck) }()
	select {
	case <-firstAck:
	case <-time.After(60 * time.Second):
		t.Fatal("no request acknowledged within 60s")
	}
	time.Sleep(300 * time.Millisecond) // ingest under way; not a correctness condition
	sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer scancel()
	if err := a.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown during ingest: %v", err)
	}
	cancel()
	<-done
	want := map[seriesKey]float64{}
	for s, ns := range load.acked {
		for _, n := range ns {
			dev, ts, v := crashEvent(load.base, s, n)
			for i, m := range measures {
				want[seriesKey{dev, m, ts}] = v[i]
			}
		}
	}
	t.Logf("shut down with %d events acknowledged, %d requests refused", len(want)/4, load.refused)

	b := startApp(t, cfg)
	start := time.Now()
	var got map[seriesKey]*storedRow
	waitFor(t, "every acknowledged event in the store of the restarted server", 90*time.Second, func() (bool, string) {
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
	caughtUp := time.Since(start)
	t.Logf("restarted server had everything after %v", caughtUp.Round(time.Millisecond))
	if problems := checkStored(got, want, 20); len(problems) > 0 {
		t.Errorf("after a graceful shutdown during ingest:\n%s", strings.Join(problems, "\n"))
	}
	if caughtUp > 20*time.Second {
		t.Errorf("the restarted server needed %v to store what the first had acknowledged: the graceful shutdown left stream messages unacknowledged (redelivered only after AckWait)", caughtUp)
	}
}
