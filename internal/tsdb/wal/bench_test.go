package wal_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-dev/sluice/internal/tsdb/wal"
)

// BenchmarkAppend measures Append throughput with concurrent appenders. One
// op is one Append of one record; fsyncs/op shows how well group commit
// batches (1 means no batching; durable mode with many appenders should be
// well below 1).
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 2000x -count 10 ./internal/tsdb/wal/ | tee new.txt
//	benchstat old.txt new.txt
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{true, false} {
		for _, appenders := range []int{1, 8, 64} {
			for _, size := range []int{100, 64 << 10, 1 << 20} {
				name := fmt.Sprintf("sync=%v/appenders=%d/size=%s", sync, appenders, sizeName(size))
				b.Run(name, func(b *testing.B) { benchAppend(b, !sync, appenders, size) })
			}
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func benchAppend(b *testing.B, noSync bool, appenders, size int) {
	l, err := wal.Open(b.TempDir(), wal.Options{NoSync: noSync}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.Replay(func(int, []byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, size)
	for i := range rec {
		rec[i] = byte(i)
	}
	// Old segments are dropped as the benchmark goes so disk use stays flat.
	var truncMu sync.Mutex
	trim := func() {
		if !truncMu.TryLock() {
			return
		}
		defer truncMu.Unlock()
		if _, last := l.Segments(); last > 2 {
			if err := l.TruncateBefore(last - 1); err != nil {
				b.Error(err)
			}
		}
	}
	before := l.Stats()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := l.Append(rec); err != nil {
					b.Error(err)
					return
				}
				if l.Size() > 256<<20 {
					trim()
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	after := l.Stats()
	b.ReportMetric(float64(after.FSyncs-before.FSyncs)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(after.Records-before.Records)/float64(after.Batches-before.Batches), "records/batch")
}
