package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/tsdb"
)

// The binary is built once per test process, into a directory removed by
// TestMain.
var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// sluiceBinary builds cmd/sluice once and returns its path.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		if buildDir, err = os.MkdirTemp("", "sluice-e2e-"); err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(buildDir, "sluice")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/sluice")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// child is a `sluice server` process.
type child struct {
	cmd    *exec.Cmd
	addr   string // bound HTTP address
	log    string // stderr file
	exited chan struct{}
	err    error // Wait's result, set before exited is closed
}

var addrLine = regexp.MustCompile(`HTTP on http://([^,\s]+)`)

// startChild runs `sluice server` on dataDir with ephemeral ports and waits
// until it answers /readyz.
func startChild(t *testing.T, bin, dataDir, logName string) *child {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(dataDir), logName)
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0",
		"--mqtt-addr", "", "--pg-addr", "", "--log-level", "warn")
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, log: logPath, exited: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		// Read the address, then drain stdout so the child never blocks.
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil && !sent {
				addrc <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = cmd.Process.Kill()
			<-c.exited
		}
	})
	select {
	case c.addr = <-addrc:
	case <-c.exited:
		t.Fatalf("sluice server exited before printing its address: %v\n%s", c.err, c.logTail())
	case <-time.After(60 * time.Second):
		t.Fatalf("sluice server printed no address within 60s\n%s", c.logTail())
	}
	waitFor(t, "the child's /readyz to answer 200", 60*time.Second, func() (bool, string) {
		status, body, err := getBody("http://" + c.addr + "/readyz")
		return status == http.StatusOK, fmt.Sprintf("%d %q %v", status, body, err)
	})
	return c
}

// logTail returns the end of the child's stderr.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("child did not die within 30s of SIGKILL")
	}
}

// stop sends SIGTERM and requires a clean exit.
func (c *child) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-c.exited:
		if c.err != nil {
			t.Fatalf("sluice server exited with %v after SIGTERM\n%s", c.err, c.logTail())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("sluice server did not stop within 90s of SIGTERM\n%s", c.logTail())
	}
}

// crashEvent identifies one event of the crash test: sender s's n-th event.
// Its device and time are unique, so it is found in the store by key.
func crashEvent(base time.Time, s, n int) (device string, timeNs int64, v [4]float64) {
	device = "crash-s" + strconv.Itoa(s) + "-d" + strconv.Itoa(n%8)
	// One event per device per millisecond step, with a fraction so that
	// the sub-millisecond path is exercised too.
	timeNs = base.UnixNano() + int64(n/8)*1_000_000 + int64(s)*1000 + 250
	v = [4]float64{float64(n%1000) / 10, float64(n%100) + 0.25, 220 + float64(n%200)/10, float64(n) + 0.5}
	return
}

// crashLoad runs senders posting NDJSON batches until ctx ends and records
// the events of every request answered 200 with all of it accepted.
type crashLoad struct {
	base    time.Time
	mu      sync.Mutex
	acked   map[int][]int // sender → event numbers acknowledged
	sent    map[int]int   // sender → events sent (answered or not)
	refused int           // requests answered with an error status
}

func (l *crashLoad) run(ctx context.Context, addr string, senders, batch int, firstAck chan<- struct{}) {
	var wg sync.WaitGroup
	var once sync.Once
	client := &http.Client{Timeout: 30 * time.Second}
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for ctx.Err() == nil {
				events := make([][]byte, batch)
				for i := range events {
					dev, ts, v := crashEvent(l.base, s, n+i)
					events[i] = makeEvent(dev, ts, v)
				}
				l.mu.Lock()
				l.sent[s] = n + batch
				l.mu.Unlock()
				status, res, err := postNDJSON(ctx, client, addr, events)
				switch {
				case err == nil && status == http.StatusOK && res.Accepted == batch:
					l.mu.Lock()
					for i := range batch {
						l.acked[s] = append(l.acked[s], n+i)
					}
					l.mu.Unlock()
					once.Do(func() { close(firstAck) })
				case err == nil:
					l.mu.Lock()
					l.refused++
					l.mu.Unlock()
					time.Sleep(10 * time.Millisecond) // 429/503: back off a little
				default:
					// Connection refused or cut: the server is dead; these
					// events are in doubt and not required.
					time.Sleep(10 * time.Millisecond)
				}
				n += batch
			}
		}()
	}
	wg.Wait()
}

// crashRun is one crash: a child that was SIGKILLed during ingest and
// restarted on the same data dir, and what was acknowledged before.
type crashRun struct {
	seed      uint64
	dataDir   string
	c         *child // the restarted child
	restarted time.Time
	load      *crashLoad
	acked     int
}

// crash ingests into a child, kills it at a random moment drawn from seed
// and restarts it. The restarted child runs until verify or the end of t.
func crash(t *testing.T, bin string, seed uint64) *crashRun {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x51c3))
	// Kill within a second of the first acknowledged request: the load is
	// sustained by then, and the volume to check stays moderate.
	killAfter := 100*time.Millisecond + time.Duration(rng.Int64N(int64(900*time.Millisecond)))
	senders := 2 + rng.IntN(3)
	batch := 20 + rng.IntN(80)
	t.Logf("seed %d: %d senders, %d events per request, SIGKILL %v after the first acknowledged request (SLUICE_E2E_SEED=%d replays)",
		seed, senders, batch, killAfter, seed)

	r := &crashRun{seed: seed, dataDir: filepath.Join(t.TempDir(), "data")}
	c := startChild(t, bin, r.dataDir, "first.log")
	r.load = &crashLoad{base: time.Now().Add(-time.Hour).Truncate(time.Millisecond), acked: map[int][]int{}, sent: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	firstAck := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); r.load.run(ctx, c.addr, senders, batch, firstAck) }()
	select {
	case <-firstAck:
	case <-time.After(60 * time.Second):
		cancel()
		<-done
		t.Fatalf("no request acknowledged within 60s\n%s", c.logTail())
	}
	time.Sleep(killAfter) // the random kill moment; not a correctness condition
	c.kill(t)
	cancel()
	<-done
	for _, a := range r.load.acked {
		r.acked += len(a)
	}
	t.Logf("seed %d: killed with %d events acknowledged (%d refused requests)", seed, r.acked, r.load.refused)
	r.c = startChild(t, bin, r.dataDir, "second.log")
	r.restarted = time.Now()
	return r
}

// verify waits until the restarted processor has caught up, stops the
// child cleanly and checks that every acknowledged event is stored once.
func (r *crashRun) verify(t *testing.T) {
	// The consumer lag must read 0 on polls 1.5 s apart (the gauge is
	// updated every second), after the gauge had time for its first update.
	// Messages the killed process had fetched but not acknowledged come
	// back only after the consumer's AckWait (30 s).
	zeroSince := time.Time{}
	waitFor(t, "the restarted processor to catch up (lag 0)", 120*time.Second, func() (bool, string) {
		_, text, err := getBody("http://" + r.c.addr + "/metrics")
		lag, ok := metricSum(text, "sluice_stream_consumer_lag")
		if err != nil || !ok || lag != 0 || time.Since(r.restarted) < 2*time.Second {
			zeroSince = time.Time{}
			return false, fmt.Sprintf("lag %v (found %v), err %v", lag, ok, err)
		}
		if zeroSince.IsZero() {
			zeroSince = time.Now()
		}
		return time.Since(zeroSince) >= 1500*time.Millisecond, "lag 0, confirming"
	})
	t.Logf("caught up %v after the restart", time.Since(r.restarted).Round(time.Millisecond))
	r.c.stop(t)

	// Read the store directly, after the clean shutdown.
	db, err := tsdb.Open(filepath.Join(r.dataDir, "tsdb"), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer db.Close()
	got, err := scanTelemetry(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[seriesKey]float64{}
	for s, ns := range r.load.acked {
		for _, n := range ns {
			dev, ts, v := crashEvent(r.load.base, s, n)
			for i, m := range measures {
				want[seriesKey{dev, m, ts}] = v[i]
			}
		}
	}
	if problems := checkStored(got, want, 20); len(problems) > 0 {
		t.Errorf("after SIGKILL and restart, acknowledged events are not stored exactly once (seed %d):\n%s", r.seed, strings.Join(problems, "\n"))
	}
	// Rows beyond the acknowledged ones may only be events in doubt (sent,
	// answer lost), each stored once.
	extra := 0
	for k, row := range got {
		if _, ok := want[k]; ok {
			continue
		}
		extra++
		if row.Count != 1 || !strings.HasPrefix(k.Device, "crash-s") {
			t.Errorf("unexpected row %s: %+v", k, row)
		}
	}
	t.Logf("store: %d rows for %d acknowledged events, %d rows of events in doubt", len(got), r.acked, extra)
	dl, err := scanSystem(context.Background(), db, "dead_letters")
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) > 0 {
		t.Errorf("%d dead letters after a crash of valid events, first: %+v", len(dl), dl[0])
	}
}

// crashSeed returns SLUICE_E2E_SEED if set, else a fresh seed.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("SLUICE_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_E2E_SEED: %v", err)
		}
		return v
	}
	return rand.Uint64()
}

// TestCrashDuringIngest kills the server binary at random moments during
// sustained HTTP ingest, restarts it and checks every acknowledged event.
// The crashes run one after the other; the waits for the restarted
// processors to catch up (dominated by the 30 s AckWait) overlap.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := sluiceBinary(t)
	seed := crashSeed(t)
	var runs []*crashRun
	for i := range 3 {
		runs = append(runs, crash(t, bin, seed+uint64(i)))
	}
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Subtests would be limited by -parallel (GOMAXPROCS); these
			// goroutines only wait and then read a store.
			t.Run(fmt.Sprintf("crash=%d", i), r.verify)
		}()
	}
	wg.Wait()
}
