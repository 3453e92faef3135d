package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluice-dev/sluice/internal/simulate"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// fleet is the seed's data shape, generated ahead of a timed phase so that
// generating costs nothing while writes are timed: devices send temperature,
// humidity, voltage and watt once a second, with one or two decimals and
// slowly varying values (internal/simulate's generator, faults off).
type fleet struct {
	devices, ticks int
	ids            []string
	dims           [][]tsdb.Dimension // per device, shared by its records (read-only)
	times          []int64            // ns, [tick*devices + device]
	vals           []float64          // [(tick*devices + device)*4 + measure]
}

var measureNames = simulate.Measures()

// genFleet generates ticks seconds of data for devices devices from start.
func genFleet(ctx context.Context, p *progress, seed int64, devices, ticks int, start time.Time) (*fleet, error) {
	g, err := simulate.NewGenerator(simulate.Options{
		Devices:  devices,
		Rate:     1,
		Seed:     seed,
		Start:    start,
		Duration: time.Duration(ticks) * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("generate data: %w", err)
	}
	f := &fleet{
		devices: devices,
		ticks:   ticks,
		ids:     g.DeviceIDs(),
		times:   make([]int64, devices*ticks),
		vals:    make([]float64, devices*ticks*4),
	}
	f.dims = make([][]tsdb.Dimension, devices)
	for i, id := range f.ids {
		f.dims[i] = []tsdb.Dimension{{Name: "DeviceID", Value: id}}
	}
	total := float64(devices * ticks)
	var n int
	var shown atomic.Int64 // n, for the progress line
	stop := p.start(fmt.Sprintf("generate %d devices × %d s", devices, ticks), func(el time.Duration) string {
		return countStatus(float64(shown.Load()), total, "events", el)
	})
	defer stop()
	count := make([]int, devices)
	var buf []byte
	for {
		if n%65536 == 0 {
			shown.Store(int64(n))
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var ev simulate.Event
		var ok bool
		buf, ev, ok = g.Next(buf[:0])
		if !ok {
			break
		}
		k := count[ev.Device]
		if k >= ticks {
			continue
		}
		count[ev.Device]++
		i := k*devices + ev.Device
		f.times[i] = ev.Time.UnixNano()
		copy(f.vals[i*4:i*4+4], ev.Values[:])
		n++
	}
	shown.Store(int64(n))
	for d, c := range count {
		if c < ticks {
			return nil, fmt.Errorf("generate data: device %d has %d samples, want %d", d, c, ticks)
		}
	}
	return f, nil
}

// regularize drops the sampling jitter: device d samples at exactly
// first + k seconds, where first is its first sample's time.
func (f *fleet) regularize() {
	for d := range f.devices {
		first := f.times[d]
		for k := range f.ticks {
			f.times[k*f.devices+d] = first + int64(k)*int64(time.Second)
		}
	}
}

// appendRecords appends the four single-measure records of one device at
// one tick (the seed's mapping).
func (f *fleet) appendRecords(dst []tsdb.Record, tick, dev int) []tsdb.Record {
	i := tick*f.devices + dev
	t := f.times[i]
	for m := range 4 {
		dst = append(dst, tsdb.Record{
			Dimensions:  f.dims[dev],
			MeasureName: measureNames[m],
			Time:        t,
			Value:       tsdb.Double(f.vals[i*4+m]),
		})
	}
	return dst
}
