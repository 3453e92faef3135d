package simulate_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/simulate"
)

// go test -run '^$' -bench Generator -count 10 ./internal/simulate/ | tee new.txt && benchstat old.txt new.txt
func BenchmarkGenerator(b *testing.B) {
	for _, tc := range []struct {
		name string
		o    simulate.Options
	}{
		{"faults=none", simulate.Options{}},
		{"faults=all", simulate.Options{AnomalyProb: 0.001, SkewProb: 0.0002, OfflineProb: 0.0005, BurstProb: 0.002}},
	} {
		for _, devices := range []int{10, 10_000} {
			b.Run(fmt.Sprintf("%s/devices=%d", tc.name, devices), func(b *testing.B) {
				o := tc.o
				o.Devices, o.Seed, o.Start = devices, 1, time.Unix(1_600_000_000, 0)
				g, err := simulate.NewGenerator(o)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 0, 4096)
				var n int64
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					var ok bool
					buf, _, ok = g.Next(buf[:0])
					if !ok {
						b.Fatal("generator ran dry")
					}
					n += int64(len(buf))
				}
				b.SetBytes(n / int64(b.N))
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

type discard struct{}

func (discard) Send(context.Context, [][]byte) error { return nil }

// go test -run '^$' -bench Run -count 10 ./internal/simulate/ | tee new.txt && benchstat old.txt new.txt
func BenchmarkRun(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			o := simulate.Options{Devices: 1000, Seed: 1, Start: time.Unix(1_600_000_000, 0), MaxEvents: int64(b.N), Batch: batch, Workers: 2,
				AnomalyProb: 0.001, SkewProb: 0.0002, OfflineProb: 0.0005, BurstProb: 0.002}
			b.ReportAllocs()
			b.ResetTimer()
			st, err := simulate.Run(context.Background(), o, discard{}, nil, io.Discard)
			if err != nil || st.Sent != int64(b.N) {
				b.Fatalf("%v %+v", err, st)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
