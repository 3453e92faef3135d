package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
)

// BenchmarkPublish measures acknowledged publishes into an embedded broker
// (file store in a temp dir), by payload size, sync mode and number of
// concurrent publishers.
//
//	go test -run '^$' -bench Publish -benchtime 2s -count 10 ./internal/stream/jetstream/ | tee new.txt; benchstat new.txt
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, sync := range []jetstream.SyncMode{jetstream.SyncAlways, jetstream.SyncInterval} {
			for _, pubs := range []int{1, 16} {
				name := fmt.Sprintf("size=%dKiB/sync=%s/publishers=%d", size>>10, sync, pubs)
				b.Run(name, func(b *testing.B) {
					br := openBroker(b, jetstream.Options{DataDir: b.TempDir(), Sync: sync})
					ensure(b, br, stream.Config{Name: "events"})
					data := make([]byte, size)
					b.SetBytes(int64(size))
					b.ReportAllocs()
					publishN(b, br, data, pubs, b.N)
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
				})
			}
		}
	}
}

// publishN publishes n messages from pubs goroutines; the timer runs only
// over the publishing.
func publishN(b *testing.B, br *jetstream.Broker, data []byte, pubs, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for p := 0; p < pubs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := br.Publish(context.Background(), "events", data); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}

// BenchmarkFetchAck measures consuming: Fetch batches of 100 and Ack each
// message (with server confirmation), from a stream filled beforehand.
//
//	go test -run '^$' -bench FetchAck -benchtime 2s -count 10 ./internal/stream/jetstream/ | tee new.txt; benchstat new.txt
func BenchmarkFetchAck(b *testing.B) {
	for _, size := range []int{1 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB/batch=100", size>>10), func(b *testing.B) {
			br := openBroker(b, jetstream.Options{DataDir: b.TempDir(), Sync: jetstream.SyncInterval})
			ensure(b, br, stream.Config{Name: "events"})
			publishN(b, br, make([]byte, size), 16, b.N)
			c, err := br.Consumer(context.Background(), stream.ConsumerConfig{Stream: "events", Durable: "bench", AckWait: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			b.StartTimer() // publishN left it stopped
			for got := 0; got < b.N; {
				msgs, err := c.Fetch(context.Background(), 100, time.Second)
				if err != nil {
					b.Fatal(err)
				}
				if len(msgs) == 0 {
					b.Fatalf("stream ran dry after %d of %d", got, b.N)
				}
				for _, m := range msgs {
					if err := m.Ack(); err != nil {
						b.Fatal(err)
					}
				}
				got += len(msgs)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
