package tsdb

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// The crash test re-runs the test binary as a child that writes batches and
// prints "ack N" after each Write returns; the parent SIGKILLs it at a
// random moment and checks the store.
const crashChildEnv = "SLUICE_TSDB_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

const crashBatch = 200

// crashRecords returns batch i. Batches 7, 17, 27, ... rewrite batch i-5
// with version 2 and new values (upsert batches).
func isUpsertBatch(i int) bool { return i%10 == 7 }

func crashRecords(base int64, i int) []Record {
	if isUpsertBatch(i) {
		recs := crashRecords(base, i-5)
		for k := range recs {
			recs[k].Version = 2
			recs[k].Value = Double(recs[k].Value.F + 0.5)
		}
		return recs
	}
	recs := make([]Record, crashBatch)
	for k := range recs {
		recs[k] = Record{
			Dimensions:  []Dimension{{"device", fmt.Sprintf("d%d", k%10)}},
			MeasureName: fmt.Sprintf("m%d", k%4),
			Time:        base + int64(i)*int64(200*time.Millisecond) + int64(k)*int64(time.Millisecond),
			Value:       Double(float64(i*1000+k) / 10),
		}
	}
	return recs
}

func crashChild(dir string) {
	base, _ := strconv.ParseInt(os.Getenv("SLUICE_TSDB_CRASH_BASE"), 10, 64)
	next, _ := strconv.Atoi(os.Getenv("SLUICE_TSDB_CRASH_NEXT"))
	// A small hot tier and a fast maintenance loop, so flushes and
	// compactions run while the child is killed.
	db, err := Open(dir, Options{HeadMaxPoints: 3000, MaintenanceInterval: 20 * time.Millisecond}, nil, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	if err := db.EnsureTable(ctx, "iot", "tel", TableOptions{}); err != nil {
		fmt.Println("table:", err)
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := next; ; i++ {
		rej, err := db.Write(ctx, "iot", "tel", crashRecords(base, i))
		if err != nil || len(rej) > 0 {
			fmt.Fprintf(w, "error batch %d: %v; %d rejects\n", i, err, len(rej))
			if len(rej) > 0 {
				fmt.Fprintf(w, "first reject: %+v\n", rej[0])
			}
			w.Flush()
			os.Exit(1)
		}
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
}

func TestCrashRecovery(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 2
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UnixNano()
	acked := -1 // highest batch acknowledged so far, over all rounds
	next := 0
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir,
			"SLUICE_TSDB_CRASH_BASE="+strconv.FormatInt(base, 10),
			"SLUICE_TSDB_CRASH_NEXT="+strconv.Itoa(next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := time.Duration(300+rng.Intn(1200)) * time.Millisecond
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				acked, _ = strconv.Atoi(n)
				continue
			}
			t.Errorf("child: %s", line)
		}
		cmd.Wait()
		timer.Stop()
		t.Logf("round %d: killed after %v, %d batches acknowledged", round, killAfter, acked+1)
		next = verifyCrash(t, dir, base, acked)
	}
}

// verifyCrash opens the store as the child left it and checks that every
// acknowledged batch is there with the right values and versions, and that
// the one batch that may have been in flight is there entirely or not at
// all. It returns the next batch number to write.
func verifyCrash(t *testing.T, dir string, base int64, acked int) int {
	t.Helper()
	db, err := Open(dir, Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer db.Close()
	type key struct {
		series string
		t      int64
	}
	type val struct {
		v float64
	}
	got := map[key]float64{}
	err = db.Scan(context.Background(), ScanRequest{Database: "iot", Table: "tel", MinTime: math.MinInt64, MaxTime: math.MaxInt64}, func(b *columnar.Batch) error {
		for i := 0; i < b.Len(); i++ {
			k := key{b.Col("device").Strs[i] + "/" + b.Col("measure_name").Strs[i], b.Col("time").Ints[i]}
			if _, dup := got[k]; dup {
				return fmt.Errorf("row %v appears twice", k)
			}
			got[k] = b.Col("measure_value::double").Floats[i]
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan after crash: %v", err)
	}
	// Which batches are present? The in-flight one (acked+1) may be.
	present := func(i int) bool {
		for _, r := range crashRecords(base, i) {
			v, ok := got[key{r.Dimensions[0].Value + "/" + r.MeasureName, r.Time}]
			if !ok || v != r.Value.F {
				return false
			}
		}
		return true
	}
	inflight := acked + 1
	inflightPresent := present(inflight)
	if !inflightPresent && isUpsertBatch(inflight) {
		// An upsert batch that did not land must have left no trace.
		for _, r := range crashRecords(base, inflight) {
			if v := got[key{r.Dimensions[0].Value + "/" + r.MeasureName, r.Time}]; v == r.Value.F {
				t.Fatalf("upsert batch %d is half applied", inflight)
			}
		}
	}
	last := acked
	if inflightPresent {
		last = inflight
	}
	want := map[key]float64{}
	for i := 0; i <= last; i++ {
		for _, r := range crashRecords(base, i) {
			want[key{r.Dimensions[0].Value + "/" + r.MeasureName, r.Time}] = r.Value.F
		}
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("acknowledged point %v is missing after the crash", k)
		}
		if g != v {
			t.Fatalf("point %v = %v after the crash, want %v", k, g, v)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d points after the crash, want %d (a batch that was never acknowledged left a part of itself?)", len(got), len(want))
	}
	return last + 1
}
