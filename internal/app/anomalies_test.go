package app

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/stream"
)

func testConfig(t *testing.T) config.Config {
	c := config.Default()
	c.DataDir = t.TempDir()
	c.HTTPAddr, c.PGAddr, c.MQTTAddr = "", "", ""
	c.Lake = false
	c.StreamSync, c.WALSync = "interval", "relaxed"
	c.FlushInterval = 20 * time.Millisecond
	return c
}

func startApp(t *testing.T, c config.Config) *App {
	t.Helper()
	a, err := New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// feed publishes one event per second of [from, from+n) for devices d1
// and d2 (temperature around 20), with d1's temperature plus bump at spike.
func feed(t *testing.T, a *App, start time.Time, from, n, spike int, bump float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(from)))
	var recs []stream.Record
	for i := from; i < from+n; i++ {
		for _, dev := range []string{"d1", "d2"} {
			v := 20 + rng.NormFloat64()*0.2
			if dev == "d1" && i == spike {
				v += bump
			}
			recs = append(recs, stream.Record{Key: dev, Data: fmt.Appendf(nil, `{"DeviceID":%q,"time":%d,"temperature_measure":%.3f}`,
				dev, start.Add(time.Duration(i)*time.Second).UnixMilli(), v)})
		}
	}
	if _, err := a.Broker().Publish(context.Background(), a.cfg.Stream, stream.AppendFrame(nil, recs)); err != nil {
		t.Fatal(err)
	}
}

func waitObserved(t *testing.T, a *App, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for a.Detector().Stats().Observed < n {
		if time.Now().After(deadline) {
			t.Fatalf("detector observed %d points after 20s, want %d", a.Detector().Stats().Observed, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func anomalyTimes(t *testing.T, a *App) []int64 {
	t.Helper()
	res, err := a.Engine().Query(context.Background(), "SELECT time FROM sluice.anomalies WHERE DeviceID = 'd1' AND measure = 'temperature' ORDER BY time", nil)
	if err != nil {
		t.Fatal(err)
	}
	return append([]int64(nil), res.Rows.Cols[0].Ints...)
}

// TestDetectorSurvivesRestart: baselines learnt before a shutdown flag a
// spike right after the restart, with no warm-up.
func TestDetectorSurvivesRestart(t *testing.T) {
	c := testConfig(t)
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	a := startApp(t, c)
	feed(t, a, start, 0, 300, -1, 0)
	waitObserved(t, a, 600)
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "insights", "detector.state")); err != nil {
		t.Fatalf("no saved state: %v", err)
	}

	a = startApp(t, c)
	defer a.Shutdown(context.Background())
	if st := a.Detector().Stats(); st.Series != 2 || st.Observed != 0 {
		t.Fatalf("after restart: stats %+v, want 2 series restored", st)
	}
	// The first point after the restart is a spike: only a restored
	// baseline can flag it (a new series flags nothing while it warms up).
	feed(t, a, start, 300, 1, 300, 5)
	waitObserved(t, a, 2)
	want := start.Add(300 * time.Second).UnixNano()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := anomalyTimes(t, a)
		if len(got) == 1 && got[0] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("anomalies at %v, want [%d]", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDetectorStateCorrupt: an unreadable state costs the baselines, not
// the start.
func TestDetectorStateCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state []byte
	}{
		{"garbage", []byte("not a snapshot at all")},
		{"empty", nil},
		{"truncated", []byte("SLAD\x01\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			path := filepath.Join(c.DataDir, "insights", "detector.state")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.state, 0o644); err != nil {
				t.Fatal(err)
			}
			a := startApp(t, c)
			if st := a.Detector().Stats(); st.Series != 0 {
				t.Errorf("stats %+v", st)
			}
			if err := a.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Shutdown replaced it with a valid (empty) state.
			b, err := os.ReadFile(path)
			if err != nil || len(b) < 4 || string(b[:4]) != "SLAD" {
				t.Errorf("state after shutdown: %q, %v", b, err)
			}
		})
	}
}

func TestAnomaliesOff(t *testing.T) {
	c := testConfig(t)
	c.Anomalies = false
	a := startApp(t, c)
	defer a.Shutdown(context.Background())
	if a.Detector() != nil {
		t.Error("a detector with anomalies off")
	}
	if got := anomalyTimes(t, a); len(got) != 0 {
		t.Errorf("anomalies %v", got)
	}
}
