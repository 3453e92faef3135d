package lake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
)

// benchMessages builds n stream messages of per seed-shaped events.
func benchMessages(n, per int) ([]*stream.Message, int64) {
	var msgs []*stream.Message
	var size int64
	k := 0
	for i := range n {
		recs := make([]stream.Record, per)
		for j := range recs {
			ev := fmt.Appendf(nil, `{"Time":%d.%03d,"DeviceID":"device-%05d","temperature_measure":%d.%d,"humidity_measure":%d.5,"voltage_measure":%d.25,"watt_measure":%d.125}`,
				1764000000000+k, k%1000, k%10000, 15+k%20, k%10, 40+k%50, 220+k%10, k%3000)
			recs[j] = stream.Record{Key: "k", Data: ev}
			size += int64(len(ev))
			k++
		}
		ack := func() error { return nil }
		msgs = append(msgs, stream.NewMessage("events", uint64(i+1), t0, stream.AppendFrame(nil, recs), 1, ack, func(time.Duration) error { return nil }, ack))
	}
	return msgs, size
}

// go test ./internal/lake -run XXX -bench BenchmarkWriter -benchtime 5x
func BenchmarkWriter(b *testing.B) {
	msgs, size := benchMessages(100, 500) // 50,000 events, about 8 MB
	for _, f := range []struct{ name, format, compression string }{
		{"jsonl", FormatJSONL, CompressionNone},
		{"jsonl_gzip", FormatJSONL, CompressionGzip},
		{"parquet", FormatParquet, CompressionNone},
	} {
		b.Run("format="+f.name, func(b *testing.B) {
			w, err := NewWriter(Options{Dir: b.TempDir(), Format: f.format, Compression: f.compression, BufferBytes: 1 << 30, BufferInterval: time.Hour, MaxMessages: 1 << 20, NoSync: true}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				for j, m := range msgs {
					// New sequences each round, as a live stream.
					m.Seq = uint64(i*len(msgs) + j + 1)
					if err := w.Add(m); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*50000/b.Elapsed().Seconds(), "events/s")
		})
	}
}
