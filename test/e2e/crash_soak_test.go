//go:build soak

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
)

// TestCrashDuringIngestSoak is TestCrashDuringIngest with many kills:
//
//	go test -tags soak -run Soak -timeout 60m -v ./test/e2e/
//
// SLUICE_E2E_ITERATIONS sets the number of crashes (default 24), done in
// rounds of 4 whose catch-up waits overlap; SLUICE_E2E_SEED replays a run.
func TestCrashDuringIngestSoak(t *testing.T) {
	iterations := 24
	if s := os.Getenv("SLUICE_E2E_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SLUICE_E2E_ITERATIONS=%q: want a positive integer", s)
		}
		iterations = n
	}
	bin := sluiceBinary(t)
	seed := crashSeed(t)
	t.Logf("soak: %d crashes from seed %d", iterations, seed)
	for round := 0; round*4 < iterations; round++ {
		t.Run(fmt.Sprintf("round=%d", round), func(t *testing.T) {
			var runs []*crashRun
			for i := round * 4; i < min(iterations, (round+1)*4); i++ {
				runs = append(runs, crash(t, bin, seed+uint64(i)))
			}
			var wg sync.WaitGroup
			for i, r := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t.Run(fmt.Sprintf("crash=%d", round*4+i), r.verify)
				}()
			}
			wg.Wait()
		})
		if t.Failed() {
			return
		}
	}
}
