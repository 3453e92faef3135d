package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// TestLakeCrashDuringDelivery SIGKILLs the server binary several times
// while the lake writer delivers (a 200 ms buffer interval, so objects are
// being written all the time), restarts it on the same data directory, and
// checks that every event of the stream is in the lake exactly once: the
// lake's event lines, read with a plain line scanner, are compared with the
// events in the stream's messages, read back from the stream itself.
func TestLakeCrashDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := sluiceBinary(t)
	seed := crashSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0x1a4e))
	t.Logf("seed %d (SLUICE_E2E_SEED=%d replays the kill moments)", seed, seed)
	t.Setenv("SLUICE_LAKE_BUFFER_INTERVAL", "200ms")
	dataDir := filepath.Join(t.TempDir(), "data")
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	acked := 0
	for i := range 3 {
		c := startChild(t, bin, dataDir, fmt.Sprintf("run%d.log", i))
		// Each run sends its own events (sender numbers differ per run).
		load := &crashLoad{base: base.Add(time.Duration(i) * time.Minute), acked: map[int][]int{}, sent: map[int]int{}}
		ctx, cancel := context.WithCancel(context.Background())
		firstAck := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); load.run(ctx, c.addr, 2, 20+rng.IntN(60), firstAck) }()
		select {
		case <-firstAck:
		case <-time.After(60 * time.Second):
			cancel()
			<-done
			t.Fatalf("no request acknowledged within 60s\n%s", c.logTail())
		}
		// Past a few buffer intervals, so that objects are being written.
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(700*time.Millisecond))))
		c.kill(t)
		cancel()
		<-done
		for _, a := range load.acked {
			acked += len(a)
		}
	}
	c := startChild(t, bin, dataDir, "final.log")
	restarted := time.Now()
	// Messages the killed servers held come back after the lake consumer's
	// AckWait (2×200 ms + 10 s); the lag counts them until they are written.
	zeroSince := time.Time{}
	waitFor(t, "the lake writer to catch up (lag 0)", 90*time.Second, func() (bool, string) {
		_, text, err := getBody("http://" + c.addr + "/metrics")
		lag, ok := metricSum(text, "sluice_lake_consumer_lag")
		if err != nil || !ok || lag != 0 || time.Since(restarted) < 2*time.Second {
			zeroSince = time.Time{}
			return false, fmt.Sprintf("lag %v (found %v), err %v", lag, ok, err)
		}
		if zeroSince.IsZero() {
			zeroSince = time.Now()
		}
		return time.Since(zeroSince) >= 1500*time.Millisecond, "lag 0, confirming"
	})
	t.Logf("lake caught up %v after the last restart", time.Since(restarted).Round(time.Millisecond))
	if _, text, err := getBody("http://" + c.addr + "/metrics"); err == nil {
		// Messages already in objects when the stream redelivered them
		// (killed between rename and acknowledgement): not a requirement,
		// but shows which crash points the run hit.
		skipped, _ := metricSum(text, "sluice_lake_redelivered_skipped_total")
		t.Logf("the last server skipped %v redelivered messages already in the lake", skipped)
	}
	c.stop(t)

	inStream := streamEvents(t, filepath.Join(dataDir, "stream"))
	inLake, problems := lakeEventLines(t, filepath.Join(dataDir, "lake"))
	for _, p := range problems {
		t.Error(p)
	}
	if len(inStream) < acked {
		t.Fatalf("the stream holds %d events, fewer than the %d acknowledged", len(inStream), acked)
	}
	var bad []string
	for ev, n := range inStream {
		if got := inLake[ev]; got != n {
			bad = append(bad, fmt.Sprintf("%s: %d times in the stream, %d in the lake", ev, n, got))
		}
	}
	for ev, n := range inLake {
		if _, ok := inStream[ev]; !ok {
			bad = append(bad, fmt.Sprintf("%s: %d times in the lake, not in the stream", ev, n))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d events not in the lake exactly as often as in the stream (seed %d), first ones:\n%s", len(bad), seed, strings.Join(bad[:min(len(bad), 20)], "\n"))
	}
	t.Logf("%d events acknowledged to senders, %d in the stream, %d distinct in the lake", acked, len(inStream), len(inLake))
}

// streamEvents reads every message of the events stream from its files
// (an embedded server opened in this process) and counts each event.
func streamEvents(t *testing.T, dir string) map[string]int {
	t.Helper()
	ctx := context.Background()
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: dir}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	infos, err := b.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, info := range infos {
		if info.Config.Name != "events" {
			continue
		}
		for seq := info.FirstSeq; seq <= info.LastSeq; seq++ {
			m, err := b.Get(ctx, "events", seq)
			if errors.Is(err, stream.ErrNoMessage) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.DecodeFrame(m.Data, func(_ int, r stream.Record) error {
				out[string(r.Data)]++
				return nil
			}); err != nil {
				t.Fatalf("message %d: %v", seq, err)
			}
		}
	}
	return out
}

// lakeName matches object names: stream, the stream's life (its creation
// time in base 36), sequence range.
var lakeName = regexp.MustCompile(`^events-([0-9a-z]{1,13})-(\d{20})-(\d{20})(\.errors)?\.jsonl$`)

// lakeEventLines reads the lake's JSON Lines objects with a line scanner
// and encoding/json, counts each event line, and reports leftovers of
// interrupted writes, error records (all events sent were valid) and
// objects whose sequence ranges overlap or that name different lives of
// the stream (it is created once).
func lakeEventLines(t *testing.T, dir string) (map[string]int, []string) {
	t.Helper()
	out := map[string]int{}
	var problems []string
	var ranges [][2]uint64
	lives := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m := lakeName.FindStringSubmatch(d.Name())
		if m == nil {
			problems = append(problems, "unexpected file in the lake: "+p)
			return nil
		}
		if m[4] != "" {
			problems = append(problems, "error object for valid events: "+p)
			return nil
		}
		if lives[m[1]] = true; len(lives) > 1 {
			problems = append(problems, "objects of different lives of one stream: "+p)
		}
		first, _ := strconv.ParseUint(m[2], 10, 64)
		last, _ := strconv.ParseUint(m[3], 10, 64)
		ranges = append(ranges, [2]uint64{first, last})
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				problems = append(problems, fmt.Sprintf("%s: line %q: %v", p, sc.Text(), err))
				continue
			}
			out[sc.Text()]++
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i][0] < ranges[j][0] })
	for i := 1; i < len(ranges); i++ {
		if ranges[i][0] <= ranges[i-1][1] {
			problems = append(problems, fmt.Sprintf("objects with overlapping sequence ranges %v and %v", ranges[i-1], ranges[i]))
		}
	}
	return out, problems
}
