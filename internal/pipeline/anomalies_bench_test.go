//go:build unix

package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// seedEvents returns n events of the seed's shape (a device, two more
// dimensions, four numeric measures), devices round-robin, one event a
// second per device, ending about start + n/devices seconds.
func seedEvents(start time.Time, n, devices int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		dev, step := i%devices, i/devices
		ms := start.Add(time.Duration(step) * time.Second).UnixMilli()
		out[i] = fmt.Appendf(nil, `{"DeviceID":"dev-%05d","region":"eu","model":"m%d","time":%d,"temperature_measure":%.2f,"humidity_measure":%.1f,"pressure_measure":%.1f,"power_measure":%d}`,
			dev, dev%7, ms, 20+float64(step%13)*0.1, 50+float64(step%7), 1013+float64(step%5)*0.2, 100+step%11)
	}
	return out
}

// BenchmarkProcessorCPU: the whole processor (fetch from the embedded NATS
// server, decode, map, write to the store, ack) over a backlog of b.N seed
// events (4 measures each) of 1,000 or 10,000 devices, with and without
// streaming anomaly scoring. cpu-ns/point is the process's CPU time
// (user+system, every goroutine: the NATS server, the store, the workers)
// per measure value.
//
//	go test ./internal/pipeline -run '^$' -bench ProcessorCPU -benchtime 200000x -count 3
func BenchmarkProcessorCPU(b *testing.B) {
	for _, devices := range []int{1000, 10000} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("devices=%d/anomalies=%v", devices, on), func(b *testing.B) {
				var det *insights.Detector
				if on {
					var err error
					if det, err = insights.NewDetector(insights.DetectorOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				r := newRig(b, event.Single, det)
				// Stop the rig's processor: the backlog is published first,
				// then a fresh processor drains it under the clock.
				if err := r.p.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				start := time.Now().Add(-2 * time.Hour)
				events := seedEvents(start, b.N, devices)
				r.publish(events, 500)
				p, err := NewProcessor(context.Background(), r.b, r.db, Options{FlushInterval: 20 * time.Millisecond, Anomalies: det}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cputime.Now()
				if err := p.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				r.p = p // wait counts the messages this processor acks
				r.wait()
				cpu := cputime.Now() - cpu0
				b.StopTimer()
				p.Shutdown(context.Background())
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(4*b.N), "cpu-ns/point")
				if det != nil {
					if st := det.Stats(); st.Observed != uint64(4*b.N) {
						b.Fatalf("detector observed %d points, want %d", st.Observed, 4*b.N)
					}
				}
			})
		}
	}
}

// BenchmarkScore: the scoring step alone, over batches of 10,000 records
// (2,500 seed events) of 1,000 or 10,000 devices (4,000 or 40,000 series:
// the latter's detector state is tens of MB, mostly cache misses), per
// measure value.
//
//	go test ./internal/pipeline -run '^$' -bench Score -benchmem -count 5
func BenchmarkScore(b *testing.B) {
	for _, devices := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			det, err := insights.NewDetector(insights.DetectorOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m, err := event.NewMapper(event.Options{})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now().Add(-2 * time.Hour)
			// Batches of 2,500 events cover the devices in turn, one
			// second per device per round, as live data does.
			const perBatch = 2500
			events := seedEvents(start, max(devices, perBatch), devices)
			batches := make([][]tsdb.Record, len(events)/perBatch)
			for i := range batches {
				for _, e := range events[i*perBatch : (i+1)*perBatch] {
					if batches[i], _, err = m.Map(batches[i], e, time.Now(), nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			w := &worker{p: &Processor{opts: Options{Anomalies: det}, metrics: newMetrics(nil, "bench")}}
			span := int64(time.Duration(len(events)/devices) * time.Second) // a round moves every device on
			// Every series exists before the clock starts.
			for _, recs := range batches {
				w.score(recs, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Now()
			points := 0
			for i := 0; b.Loop(); i++ {
				recs := batches[i%len(batches)]
				w.score(recs, nil)
				points += len(recs)
				for k := range recs {
					recs[k].Time += span
				}
				w.sc.anomalies = w.sc.anomalies[:0]
			}
			cpu := cputime.Now() - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(points), "ns/point")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(points), "cpu-ns/point")
		})
	}
}
