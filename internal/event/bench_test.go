package event_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/cputime"
	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

var benchEvents = []struct{ name, data string }{
	{"seed", seedEvent},
	{"rfc3339", `{"time": "2021-01-04T10:46:15.225499Z", "DeviceID": "12345678-9012-3456-7890-123456789012", "temperature_measure": 11.2, "humidity_measure": 33.4, "voltage_measure": 55.6, "watt_measure": 777.8}`},
	{"strings", `{"Time": "1609757175225", "TimeUnit": "MILLISECONDS", "DeviceID": "12345678-9012-3456-7890-123456789012", "site": "b\u00e9rlin-3", "fw": 42, "temperature_measure": "11.2", "status_measure": "ok", "online_measure": true}`},
}

// BenchmarkMap measures decoding and mapping one event, records appended
// to a reused slice as the processor does.
//
//	go test ./internal/event -run '^$' -bench BenchmarkMap -benchmem -count 10 | tee new.txt; benchstat old.txt new.txt
func BenchmarkMap(b *testing.B) {
	arrival := time.Unix(0, 1609757175225499000)
	for _, mode := range []event.Mode{event.Single, event.Multi} {
		for _, ev := range benchEvents {
			for _, extra := range []int{0, 1} {
				var attrs []stream.Attr
				if extra > 0 {
					attrs = []stream.Attr{{Name: "DeviceID", Value: "topic-id"}, {Name: "gateway", Value: "gw-1"}}
				}
				b.Run(fmt.Sprintf("mode=%s/event=%s/extra=%d", mode, ev.name, extra), func(b *testing.B) {
					m, err := event.NewMapper(event.Options{Mode: mode})
					if err != nil {
						b.Fatal(err)
					}
					data := []byte(ev.data)
					dst := make([]tsdb.Record, 0, 64)
					b.SetBytes(int64(len(data)))
					b.ReportAllocs()
					cpu0 := cputime.Now()
					for b.Loop() {
						dst, _, err = m.Map(dst[:0], data, arrival, attrs)
						if err != nil {
							b.Fatal(err)
						}
					}
					reportCPU(b, cpu0)
				})
			}
		}
	}
}

// BenchmarkMapInto is BenchmarkMap's seed event as the processor maps
// it: dimensions appended to a reused arena, records to a reused slice.
//
//	go test ./internal/event -run '^$' -bench BenchmarkMapInto -benchmem -count 10
func BenchmarkMapInto(b *testing.B) {
	arrival := time.Unix(0, 1609757175225499000)
	for _, mode := range []event.Mode{event.Single, event.Multi} {
		b.Run("mode="+mode.String(), func(b *testing.B) {
			m, err := event.NewMapper(event.Options{Mode: mode})
			if err != nil {
				b.Fatal(err)
			}
			data := []byte(seedEvent)
			dst := make([]tsdb.Record, 0, 64)
			arena := make([]tsdb.Dimension, 0, 64)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := cputime.Now()
			for b.Loop() {
				dst, arena, _, err = m.MapInto(dst[:0], arena[:0], data, arrival, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// simEvents returns n events as the simulator and the pipeline bench send
// them: UUID device ids of devices devices round-robin, times in
// milliseconds with a fraction, four measures.
func simEvents(n, devices int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		dev, step := i%devices, i/devices
		h := uint64(dev)*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
		out[i] = fmt.Appendf(nil, `{"Time":%d.%03d,"DeviceID":"%08x-%04x-%04x-%04x-%012x","temperature_measure":%.1f,"humidity_measure":%.2f,"voltage_measure":%.1f,"watt_measure":%.2f}`,
			1795732035000+int64(step)*1000+int64(dev%997), (dev*7+step)%1000,
			uint32(h), uint16(h>>32), uint16(h>>48), uint16(h>>20), h>>16&0xffffffffffff,
			15+float64((dev+step)%100)*0.1, 40+float64((dev*3+step)%2000)*0.01, 225+float64((dev+step*3)%100)*0.1, 100+float64((dev*13+step)%150000)*0.01)
	}
	return out
}

// BenchmarkMapIntoDevices is BenchmarkMapInto over events of many
// devices, as the pipeline maps them: a different device id (and time and
// values) every event, batches of 2,500 events (10,000 records) sharing an
// arena that is reused after each batch.
//
//	go test ./internal/event -run '^$' -bench BenchmarkMapIntoDevices -benchmem -count 10
func BenchmarkMapIntoDevices(b *testing.B) {
	arrival := time.Unix(0, 1795732035000000000)
	for _, devices := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			m, err := event.NewMapper(event.Options{})
			if err != nil {
				b.Fatal(err)
			}
			events := simEvents(4*devices, devices)
			const perBatch = 2500
			dst := make([]tsdb.Record, 0, 4*perBatch)
			arena := make([]tsdb.Dimension, 0, perBatch)
			var size int64
			for _, e := range events {
				size += int64(len(e))
			}
			b.SetBytes(size / int64(len(events)))
			b.ReportAllocs()
			cpu0 := cputime.Now()
			i := 0
			for b.Loop() {
				if i%perBatch == 0 {
					dst, arena = dst[:0], arena[:0]
				}
				dst, arena, _, err = m.MapInto(dst, arena, events[i%len(events)], arrival, nil)
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportCPU(b, cpu0)
		})
	}
}

// reportCPU reports the process's CPU time per op since cpu0: on a shared
// machine a steadier figure than ns/op.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := cputime.Now() - cpu0; cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkDecode measures the scanner alone.
//
//	go test ./internal/event -run '^$' -bench BenchmarkDecode -benchmem -count 10
func BenchmarkDecode(b *testing.B) {
	for _, ev := range benchEvents {
		b.Run("event="+ev.name, func(b *testing.B) {
			var d event.Decoder
			data := []byte(ev.data)
			fields := make([]event.Field, 0, 16)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if fields, err = d.Decode(fields[:0], data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
