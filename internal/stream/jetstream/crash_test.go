package jetstream_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// crashRoundsEnv sets how many kill/reopen rounds TestCrashSIGKILL runs
// (default 2; soak with e.g. SLUICE_CRASH_ROUNDS=50).
const crashRoundsEnv = "SLUICE_CRASH_ROUNDS"

// runCrashChild is the child side of TestCrashSIGKILL: it publishes
// numbered messages from several goroutines into an embedded broker on dir
// and prints "ack <number> <seq>" for each acknowledged one, until killed.
func runCrashChild(dir string) int {
	ctx := context.Background()
	// Never outlive a parent that failed to kill us.
	time.AfterFunc(60*time.Second, func() { os.Exit(3) })
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: dir}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	if err := b.EnsureStream(ctx, stream.Config{Name: "events"}); err != nil {
		fmt.Fprintln(os.Stderr, "child ensure:", err)
		return 2
	}
	base, _ := strconv.ParseInt(os.Getenv(crashDirEnv+"_BASE"), 10, 64)
	var next atomic.Int64
	next.Store(base)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(base)))
			for {
				n := next.Add(1)
				// Varying sizes cross block boundaries at varying places.
				data := fmt.Appendf(nil, "n=%d;", n)
				data = append(data, bytes.Repeat([]byte{'p'}, rng.IntN(8000))...)
				ack, err := b.Publish(ctx, "events", data)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child publish:", err)
					continue
				}
				mu.Lock()
				// One write per line, flushed before the next publish, so
				// the parent sees every ack the child saw.
				fmt.Fprintf(out, "ack %d %d\n", n, ack.Seq)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

// TestCrashSIGKILL kills a publishing child process at a random moment and
// checks that every message it saw acknowledged is in the reopened stream.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	t.Parallel()
	rounds := 2
	if s := os.Getenv(crashRoundsEnv); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with SLUICE_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	acked := make(map[int64]uint64) // number -> seq, over all rounds
	for round := 0; round < rounds; round++ {
		delay := time.Duration(50+rng.IntN(700)) * time.Millisecond
		got := runChildAndKill(t, dir, int64(round)*1_000_000_000, delay)
		t.Logf("round %d: killed after %v with %d acked messages", round, delay, len(got))
		for n, seq := range got {
			acked[n] = seq
		}
		checkAcked(t, dir, acked)
		if t.Failed() {
			return
		}
	}
}

func runChildAndKill(t *testing.T, dir string, base int64, delay time.Duration) map[int64]uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashDirEnv+"_BASE="+strconv.FormatInt(base, 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	acked := make(map[int64]uint64)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ack" {
				continue // a torn last line is not an ack
			}
			n, err1 := strconv.ParseInt(f[1], 10, 64)
			seq, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 == nil && err2 == nil {
				acked[n] = seq
			}
		}
	}()
	select {
	case <-ready:
	case <-exited:
		cmd.Wait()
		t.Fatalf("child exited before ready; stderr:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child not ready; stderr:\n%s", stderr.String())
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-readDone
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; stderr:\n%s", err, stderr.String())
	}
	if len(acked) == 0 {
		t.Fatalf("child acknowledged nothing in %v; stderr:\n%s", delay, stderr.String())
	}
	return acked
}

// checkAcked reopens dir and checks that each acknowledged number is
// stored at the sequence its ack reported.
func checkAcked(t *testing.T, dir string, acked map[int64]uint64) {
	t.Helper()
	b := openBroker(t, jetstream.Options{DataDir: dir})
	defer b.Close()
	ctx := context.Background()
	for n, seq := range acked {
		m, err := b.Get(ctx, "events", seq)
		if err != nil {
			t.Errorf("acked message %d (seq %d) lost: %v", n, seq, err)
			continue
		}
		want := fmt.Sprintf("n=%d;", n)
		if !bytes.HasPrefix(m.Data, []byte(want)) {
			t.Errorf("seq %d holds %.20q, want prefix %q", seq, m.Data, want)
		}
	}
	infos, err := b.Streams(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("Streams after crash: %v, %v", infos, err)
	}
	t.Logf("stream after crash: %d messages, seq %d..%d", infos[0].Msgs, infos[0].FirstSeq, infos[0].LastSeq)
}
