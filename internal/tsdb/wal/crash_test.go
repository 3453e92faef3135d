package wal_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// The crash child: the test binary re-executed with these variables set opens
// the log, appends numbered records from several goroutines and prints each
// number once Append has acknowledged it, until it is killed.
const (
	envCrashDir    = "SLUICE_WAL_CRASH_DIR"
	envCrashBase   = "SLUICE_WAL_CRASH_BASE"
	envCrashNoSync = "SLUICE_WAL_CRASH_NOSYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashRecord is self-checking: number, then a body derived from it whose
// length varies from tiny to several hundred KiB (large writes are the ones
// a kill can tear), then a CRC32 (IEEE, unlike the log's) of both.
func crashRecord(n uint64) []byte {
	size := int(n*7919%4096) + 16
	if n%23 == 0 {
		size = 200<<10 + int(n%1000)
	}
	if n%101 == 0 {
		size = 3<<20 + int(n%1000)
	}
	b := make([]byte, 8+size+4)
	binary.LittleEndian.PutUint64(b, n)
	for i := 8; i < 8+size; i++ {
		b[i] = byte(n) ^ byte(i) ^ byte(i>>9)
	}
	binary.LittleEndian.PutUint32(b[8+size:], crc32.ChecksumIEEE(b[:8+size]))
	return b
}

func checkCrashRecord(b []byte) (uint64, error) {
	if len(b) < 12 {
		return 0, fmt.Errorf("record of %d bytes", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if want := crashRecord(n); string(want) != string(b) {
		return n, fmt.Errorf("record %d is damaged (%d bytes, want %d)", n, len(b), len(want))
	}
	return n, nil
}

func crashChild(dir string) int {
	base, _ := strconv.ParseUint(os.Getenv(envCrashBase), 10, 64)
	opts := wal.Options{SegmentSize: 1 << 20, NoSync: os.Getenv(envCrashNoSync) == "1"}
	l, err := wal.Open(dir, opts, nil)
	if err == nil {
		err = l.Replay(func(int, []byte) error { return nil })
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready") // the parent's kill timer starts now, after replay
	out.Flush()
	const writers = 4
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := uint64(0); ; i++ {
				n := base + i*writers + uint64(g)
				if _, err := l.Append(crashRecord(n)); err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "%d\n", n)
				out.Flush() // one write per acknowledgement, so a kill never tears a line
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashSIGKILL kills a child appender at random moments and checks that
// every acknowledged record survives, intact, with no half record anywhere.
func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_WAL_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (rerun with SLUICE_WAL_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	acked := map[uint64]bool{}
	defer func() {
		if len(acked) == 0 && !t.Failed() {
			t.Fatal("the children acknowledged nothing: the test checked nothing")
		}
	}()
	const rounds = 5
	for round := range rounds {
		noSync := round%2 == 1
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(),
			envCrashDir+"="+dir,
			envCrashBase+"="+strconv.Itoa((round+1)*1_000_000_000),
			envCrashNoSync+"="+map[bool]string{true: "1", false: "0"}[noSync])
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []uint64, 1)
		ready := make(chan struct{})
		go func() {
			var got []uint64
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
					continue
				}
				if n, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
					got = append(got, n)
				}
			}
			lines <- got
		}()
		delay := time.Duration(rng.IntN(300)) * time.Millisecond
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: child never became ready", round)
		}
		time.Sleep(delay)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		got := <-lines
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die by SIGKILL: %v", round, cmd.ProcessState)
		}
		for _, n := range got {
			acked[n] = true
		}

		l, recs, w := openReplay(t, dir, wal.Options{SegmentSize: 1 << 20})
		seen := map[uint64]bool{}
		for _, r := range recs {
			n, err := checkCrashRecord(r.data)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if seen[n] {
				t.Fatalf("round %d: record %d replayed twice", round, n)
			}
			seen[n] = true
		}
		for n := range acked {
			if !seen[n] {
				t.Fatalf("round %d: acknowledged record %d lost", round, n)
			}
		}
		first, last := l.Segments()
		t.Logf("round %d: killed after %v (nosync=%v): %d acked this round, %d records on disk in segments %d..%d, repairs %d",
			round, delay, noSync, len(got), len(recs), first, last, len(w.all()))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
