package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
)

// Clock correction (DESIGN.md §4.2) replaces a time more than 15 minutes
// ahead with the event's stream arrival time. Taken literally, that makes a
// skewed event's key (DeviceID, measure, time) depend on its delivery, which
// broke "every accepted event's measures are stored exactly once" in two
// common cases, fixed in internal/pipeline (commit 4ec1554, after these
// tests showed it):
//
//   - several skewed events of one device in one request (or one group
//     commit) shared one arrival time, so all but the first collided and
//     were rejected by the store (kept only as dead letters);
//   - a skewed event delivered twice (a device retry) got two arrival
//     times and was stored twice, while sluice.clock_corrections, keyed by
//     the original time, silently kept only the first correction.

// sendSkewedAndWait posts each request (NDJSON lines) in turn to a new
// server, waits until the processor has written every delivery's records,
// and returns the telemetry rows and the dead letters.
func sendSkewedAndWait(t *testing.T, requests [][][]byte) (map[seriesKey]*storedRow, []systemRow) {
	t.Helper()
	a := apptest.Start(t, testConfig(t))
	ctx := context.Background()
	for _, req := range requests {
		status, res, err := postNDJSON(ctx, httpClient, a.HTTPAddr(), req)
		if err != nil || status != http.StatusOK || res.Accepted != len(req) {
			t.Fatalf("POST: status %d, %+v, %v", status, res, err)
		}
	}
	// Every delivery's records must have been written (stored, no-op or
	// rejected) before the store is read.
	delivered := 0
	for _, req := range requests {
		delivered += len(req)
	}
	waitFor(t, "the processor to write every delivery's records", 60*time.Second, func() (bool, string) {
		n := counterValue(t, a, "sluice_processor_records_total")
		return n >= float64(4*delivered), fmt.Sprintf("%v records written, want %d", n, 4*delivered)
	})
	got, err := scanTelemetry(ctx, a.DB())
	if err != nil {
		t.Fatal(err)
	}
	var dead []systemRow
	waitFor(t, "the dead letters of store rejects", 60*time.Second, func() (bool, string) {
		dead, err = scanSystem(ctx, a.DB(), "dead_letters")
		n := counterValue(t, a, "sluice_processor_store_rejects_total")
		return err == nil && float64(len(dead)) >= n, fmt.Sprintf("%d dead letters, %v store rejects, err %v", len(dead), n, err)
	})
	return got, dead
}

// checkOnce requires each event's four values stored exactly once for
// its device (at whatever time clock correction chose).
func checkOnce(t *testing.T, got map[seriesKey]*storedRow, dead []systemRow, sent []sentEvent) {
	t.Helper()
	for _, ev := range sent {
		for i, m := range measures {
			found := 0
			for k, r := range got {
				if k.Device == ev.Device && k.Measure == m && r.Value == ev.Values[i] {
					found++
				}
			}
			if found != 1 {
				t.Errorf("skewed event %s: %s = %v stored %d times, want once", ev.Raw, m, ev.Values[i], found)
			}
		}
	}
	rejects := 0
	for _, d := range dead {
		if r, _ := d.Fields["reason"].(string); strings.Contains(r, "rejected by the store") {
			rejects++
		}
	}
	if rejects > 0 {
		t.Errorf("%d records of skewed events were rejected by the store (dead letters), first: %v", rejects, dead[0].Fields)
	}
}

// counterValue reads a counter from the app's registry (0 if absent).
func counterValue(t *testing.T, a *app.App, name string) float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func skewedEvents(t *testing.T, device string, n int) ([][]byte, []sentEvent) {
	var raws [][]byte
	var sent []sentEvent
	start := time.Now()
	for i := range n {
		ts := start.Add(time.Hour + time.Duration(i)*time.Second).Truncate(time.Microsecond).UnixNano()
		raw := makeEvent(device, ts, [4]float64{20 + float64(i), 50 + float64(i), 230 + float64(i), 600 + float64(i)})
		ev, err := parseEvent(raw)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
		sent = append(sent, ev)
	}
	return raws, sent
}

// TestSkewedEventsInOneRequest: a device back online with a clock an hour
// ahead delivers its buffer in one request (the simulator's offline + skew).
func TestSkewedEventsInOneRequest(t *testing.T) {
	raws, sent := skewedEvents(t, "skew-burst", 3)
	got, dead := sendSkewedAndWait(t, [][][]byte{raws})
	checkOnce(t, got, dead, sent)
}

// TestSkewedEventDeliveredTwice: a device retries a skewed event (its first
// answer was lost); the duplicate must be a no-op like any other.
func TestSkewedEventDeliveredTwice(t *testing.T) {
	raws, sent := skewedEvents(t, "skew-retry", 1)
	got, dead := sendSkewedAndWait(t, [][][]byte{raws, raws})
	checkOnce(t, got, dead, sent)
}
