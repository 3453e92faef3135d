package simulate

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if goroutines started here (runs, sinks, the
// MQTT client) outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(2 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "internal/simulate.TestMain") {
				continue
			}
			if strings.Contains(g, "sluice/internal/simulate.") || strings.Contains(g, "eclipse/paho.golang") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAppendFixed(t *testing.T) {
	f := func(v int64, decimals int, want string) {
		t.Helper()
		prefix := []byte("x:")
		if got := appendFixed(prefix, v, decimals); string(got) != "x:"+want {
			t.Errorf("appendFixed(%d, %d) = %q, want %q", v, decimals, got[2:], want)
		}
	}
	f(2134, 1, "213.4")
	f(2130, 1, "213.0")
	f(-3, 1, "-0.3")
	f(0, 1, "0.0")
	f(4512, 2, "45.12")
	f(4510, 2, "45.1")
	f(77700, 2, "777.0")
	f(-5, 2, "-0.05")
	f(7, 0, "7")
	// Text parses back to the value it stands for.
	for v := int64(-2000); v <= 2000; v++ {
		for d := 1; d <= 2; d++ {
			got, err := strconv.ParseFloat(string(appendFixed(nil, v, d)), 64)
			if err != nil || got != float64(v)/pow10[d] {
				t.Fatalf("%d/%d: %v %v", v, d, got, err)
			}
		}
	}
}

func TestAppendMillis(t *testing.T) {
	f := func(us int64, want string) {
		t.Helper()
		if got := appendMillis(nil, us); string(got) != want {
			t.Errorf("appendMillis(%d) = %q, want %q", us, got, want)
		}
	}
	f(1609757175225499, "1609757175225.499")
	f(1609757175225490, "1609757175225.49")
	f(1609757175225400, "1609757175225.4")
	f(1609757175225000, "1609757175225")
	f(1609757175225001, "1609757175225.001")
	f(0, "0")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", -1},
		{"3", 3 * time.Second},
		{" 0 ", 0},
		{"0.25", 250 * time.Millisecond},
		{"-1", -1},
		{"soon", -1},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "0.5", "Wed, 21 Oct 2015 07:28:00 GMT", "1e400", "NaN", "-0"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, now); d < -1 || (d > 1e6*time.Second && !strings.Contains(s, ",")) {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

func FuzzDeviceIDOf(f *testing.F) {
	f.Add([]byte(`{"Time":1,"DeviceID":"abc","x_measure":1}`))
	f.Add([]byte(`{"DeviceID":""}`))
	f.Add([]byte(`"DeviceID":"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id := deviceIDOf(b)
		if id == nil {
			return
		}
		if len(id) == 0 || bytes.IndexByte(id, '"') >= 0 || !bytes.Contains(b, append(append([]byte(`"DeviceID":"`), id...), '"')) {
			t.Fatalf("deviceIDOf(%q) = %q", b, id)
		}
	})
}

func TestGeometricMean(t *testing.T) {
	g, err := NewGenerator(Options{Seed: 1, Start: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	const p, n = 0.01, 20000
	var sum float64
	for range n {
		sum += float64(g.geometric(p))
	}
	if mean, want := sum/n, (1-p)/p; math.Abs(mean-want) > 0.05*want {
		t.Errorf("geometric(%v) mean %v, want about %v", p, mean, want)
	}
}
