package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/stream"
)

// benchEvent is a device event shaped like the seed's (about 230 bytes).
func benchEvent(dev, i int) string {
	return fmt.Sprintf(`{"DeviceID":"12345678-9012-3456-7890-%012d","Time":%d,"TimeUnit":"MILLISECONDS",`+
		`"Temperature_measure":21.5,"Humidity_measure":40.2,"Voltage_measure":229.8,"Watt_measure":1500.25,"Location":"kitchen"}`,
		dev, 1609757175225+int64(i))
}

func ndjsonBody(dev, n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString(benchEvent(dev, i))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkHTTPIngest drives POST /v1/streams/events/records over real HTTP
// into a real embedded JetStream broker that fsyncs every message, from 64
// concurrent clients; each op is one request.
//
//	go test ./internal/ingest -run '^$' -bench BenchmarkHTTPIngest -benchtime 3s -count 10 | tee new.txt; benchstat old.txt new.txt
func BenchmarkHTTPIngest(b *testing.B) {
	for _, bc := range []struct {
		broker                   string
		batch, clients, inflight int
	}{
		{"jetstream", 1, 64, 1}, {"jetstream", 1, 64, 2}, {"jetstream", 500, 64, 1}, {"jetstream", 500, 64, 2},
		// The same HTTP load without a store: the ceiling set by HTTP and parsing alone.
		{"mem", 1, 64, 1}, {"mem", 500, 64, 1},
	} {
		b.Run(fmt.Sprintf("broker=%s/batch=%d/clients=%d/inflight=%d", bc.broker, bc.batch, bc.clients, bc.inflight), func(b *testing.B) {
			var js stream.Broker = newMemBroker("events")
			if bc.broker == "jetstream" {
				js = openJetStream(b, "events")
			}
			s := newService(b, js, Options{MaxInflight: bc.inflight})
			srv := serve(b, s)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: bc.clients, MaxConnsPerHost: bc.clients}}
			defer client.CloseIdleConnections()
			bodies := make([][]byte, bc.clients)
			for c := range bodies {
				bodies[c] = ndjsonBody(c, bc.batch)
			}
			url := srv.URL + "/v1/streams/events/records"
			var next atomic.Int64
			var failed atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.SetBytes(int64(len(bodies[0])))
			b.ResetTimer()
			start := time.Now()
			for c := 0; c < bc.clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						resp, err := client.Post(url, "application/x-ndjson", bytes.NewReader(bodies[c]))
						if err != nil {
							failed.Add(1)
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							failed.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d requests failed", n, b.N)
			}
			infos, err := js.Streams(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			events := float64(b.N * bc.batch)
			b.ReportMetric(events/elapsed.Seconds(), "events/s")
			for _, in := range infos {
				if in.Config.Name == "events" && in.Msgs > 0 {
					b.ReportMetric(events/float64(in.Msgs), "events/msg")
				}
			}
		})
	}
}

// BenchmarkParseEncode measures splitting, validating and encoding an
// NDJSON body of 500 events into frame chunks (the request's CPU work).
//
//	go test ./internal/ingest -run '^$' -bench BenchmarkParseEncode -count 10
func BenchmarkParseEncode(b *testing.B) {
	body := ndjsonBody(1, 500)
	st := getReqState()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	st.body = body
	for b.Loop() {
		if n, _ := st.encodeEvents(DefaultGroupCommitBytes, DefaultMaxRecordBytes); n != 500 {
			b.Fatal(n, st.errs)
		}
		if chunks := st.enc.finish(); len(chunks) != 1 {
			b.Fatal(len(chunks))
		}
	}
}

// BenchmarkBrokerPublish is the floor under group commit: one sequential
// publish (fsync included) of a frame of the given size, without ingest.
//
//	go test ./internal/ingest -run '^$' -bench BenchmarkBrokerPublish -count 10
func BenchmarkBrokerPublish(b *testing.B) {
	for _, size := range []int{256, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			js := openJetStream(b, "events")
			data := bytes.Repeat([]byte("x"), size)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := js.Publish(ctx, "events", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
