// Package simulate is sluice's device simulator (DESIGN.md §4.4): a fleet of
// smart meters / home sensors emitting the seed's events
//
//	{"Time":1609757175225.499,"DeviceID":"…","temperature_measure":21.3,
//	 "humidity_measure":45.12,"voltage_measure":229.8,"watt_measure":777.88}
//
// with daily seasonality, noise, bursts, offline periods delivered late in
// bulk, injected anomalies (spikes, dips, level shifts) and skewed clocks. It
// backs `sluice simulate`, `sluice demo`, `sluice bench` and tests.
//
// The package has three layers:
//   - Generator: a deterministic, allocation-free event source. The same
//     Options (Seed and Start included) always yield the same bytes in the same
//     order, so a run can be replayed and what was sent compared with what
//     was stored (Generator.Take).
//   - Sink: where events go. HTTPSink posts NDJSON to the native API,
//     MQTTSink publishes each event on its device's topic.
//   - Run: drives a Generator into a Sink, paced by the wall clock or as fast
//     as possible, with a progress line and labels as JSON Lines.
//
// Concurrency: a Generator is not safe for concurrent use (it is a sequence).
// HTTPSink and MQTTSink are safe for concurrent Send calls. Run starts its
// own goroutines and waits for all of them before it returns.
//
// Invariants: every event is a flat JSON object with exactly the seed's six
// keys; measure values carry at most two decimals (temperature and voltage
// one, humidity and watt two); times are whole microseconds; a device's
// events are delivered in the order of their sampling times (late, buffered
// events included) and its sampling times strictly increase; every injected
// anomaly, skewed event and offline period that is delivered carries a Label
// on the event that shows it, and nothing else does.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Measure indexes, in the order the measures appear in an event.
const (
	Temperature = iota
	Humidity
	Voltage
	Watt
	numMeasures
)

// Measures returns the measure names (without the "_measure" suffix) in the
// order of the Temperature…Watt indexes and of Event.Values.
func Measures() [4]string {
	return [4]string{"temperature", "humidity", "voltage", "watt"}
}

// Label kinds.
const (
	KindSpike      = "spike"
	KindDip        = "dip"
	KindLevelShift = "level_shift"
	KindSkew       = "skew"
	KindOffline    = "offline"
)

// Options configure a Generator and Run. A zero field means its default,
// except the fault probabilities, where zero means "never".
type Options struct {
	// Devices is the number of simulated devices (default 10). Device i has
	// the same id in every run with the same Seed.
	Devices int
	// Rate is the sampling rate of one device in events per second
	// (default 1). Bursts add events on top of it.
	Rate float64
	// Duration is the span of simulated time to cover, from Start: every
	// device samples once per 1/Rate in [Start, Start+Duration) (its last
	// sample may fall up to 1.1/Rate past the end). Zero means no end: the
	// generator never runs dry and Run stops when its context ends (or after
	// MaxEvents). Repeated runs on a schedule are the caller's loop.
	Duration time.Duration
	// MaxEvents stops the run after this many events (0 = no limit).
	MaxEvents int64
	// Seed selects the fleet (ids, levels, phases) and every random choice.
	Seed int64
	// Start is the simulated time of the first sample (zero = now, truncated
	// to the microsecond). Fix it to reproduce a run byte for byte. A fast
	// (not RealTime) run from now produces times ahead of the wall clock;
	// to keep skew the only source of future times, start it Duration ago.
	Start time.Time

	// AnomalyProb is the probability, per event, that the event starts an
	// anomaly on one of its measures (chosen uniformly): a spike (one point
	// far above the baseline), a dip (one point far below) or a level shift
	// (the baseline steps up or down for about ShiftDuration), in equal parts.
	AnomalyProb float64
	// SkewProb is the probability, per device and second, that a device's
	// clock jumps SkewOffset ahead. The episode lasts about SkewDuration; the
	// device's event times are then in the future by SkewOffset.
	SkewProb float64
	// OfflineProb is the probability, per device and second, that a device
	// goes offline for about OfflineDuration. It keeps sampling into a buffer
	// and, once back, sends the buffered events in bulk with their original
	// sampling times.
	OfflineProb float64
	// BurstProb is the probability, per device and second, that a device
	// sends a burst: 2..BurstSize events at once, sampled quickly during the
	// interval before the send.
	BurstProb float64

	// SkewOffset is how far ahead a skewed clock runs (default 1h).
	SkewOffset time.Duration
	// SkewDuration is the mean length of a skew episode (default 10m).
	SkewDuration time.Duration
	// OfflineDuration is the mean length of an offline period (default 5m).
	// A device buffers at most MaxBuffered events; the period is cut short
	// so the buffer never overflows.
	OfflineDuration time.Duration
	// ShiftDuration is the mean length of a level shift (default 10m).
	ShiftDuration time.Duration
	// BurstSize is the largest burst (default 10, at least 2).
	BurstSize int

	// RealTime paces Run with the wall clock: an event is sent when the
	// wall clock has advanced as far from the run's start as its delivery
	// time has from Start (demo, load tests). Otherwise Run sends as fast as
	// the sink takes events (bench, tests), in simulated time.
	RealTime bool
	// Batch is the number of events per Sink.Send call in Run (default 500).
	Batch int
	// Workers is the number of concurrent Send calls in Run (default 1, which
	// keeps the delivery order). More workers reorder whole batches.
	Workers int
	// FlushInterval bounds how long a RealTime event waits for its batch to
	// fill (default 100ms).
	FlushInterval time.Duration
}

// MaxBuffered is the most events a device holds while offline.
const MaxBuffered = 4096

// DemoOptions returns options for a lively demo: 20 devices at 1 event/s in
// real time, with a few anomalies, skewed clocks, offline periods and bursts
// every minute or so across the fleet.
func DemoOptions() Options {
	return Options{
		Devices:     20,
		Rate:        1,
		RealTime:    true,
		AnomalyProb: 0.002,
		SkewProb:    0.0002,
		OfflineProb: 0.0005,
		BurstProb:   0.002,
		Batch:       100,
	}
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Devices == 0 {
		o.Devices = 10
	}
	if o.Devices < 0 || o.Devices > 10_000_000 {
		errs = append(errs, fmt.Errorf("devices %d out of range 1..10000000", o.Devices))
	}
	if o.Rate == 0 {
		o.Rate = 1
	}
	if !(o.Rate > 0 && o.Rate <= 1e6) { // also rejects NaN
		errs = append(errs, fmt.Errorf("rate %v out of range (0, 1e6] events/s per device", o.Rate))
	}
	if o.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v is negative", o.Duration))
	}
	if o.MaxEvents < 0 {
		errs = append(errs, fmt.Errorf("max events %d is negative", o.MaxEvents))
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	o.Start = o.Start.Truncate(time.Microsecond)
	if o.Start.Before(time.Unix(0, 0)) || o.Start.Year() > 2200 {
		errs = append(errs, fmt.Errorf("start %v out of range 1970..2200", o.Start))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"anomaly", o.AnomalyProb}, {"skew", o.SkewProb}, {"offline", o.OfflineProb}, {"burst", o.BurstProb}} {
		if !(p.v >= 0 && p.v <= 1) {
			errs = append(errs, fmt.Errorf("%s probability %v out of range [0, 1]", p.name, p.v))
		}
	}
	def := func(d *time.Duration, v time.Duration, name string) {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", name, *d))
		}
	}
	def(&o.SkewOffset, time.Hour, "skew offset")
	def(&o.SkewDuration, 10*time.Minute, "skew duration")
	def(&o.OfflineDuration, 5*time.Minute, "offline duration")
	def(&o.ShiftDuration, 10*time.Minute, "shift duration")
	def(&o.FlushInterval, 100*time.Millisecond, "flush interval")
	o.SkewOffset = o.SkewOffset.Truncate(time.Microsecond)
	if o.BurstSize == 0 {
		o.BurstSize = 10
	}
	if o.BurstSize < 2 || o.BurstSize > 1000 {
		errs = append(errs, fmt.Errorf("burst size %d out of range 2..1000", o.BurstSize))
	}
	if o.Batch == 0 {
		o.Batch = 500
	}
	if o.Batch < 0 {
		errs = append(errs, fmt.Errorf("batch %d is negative", o.Batch))
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.Workers < 0 || o.Workers > 1024 {
		errs = append(errs, fmt.Errorf("workers %d out of range 1..1024", o.Workers))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("simulate: invalid options: %w", err)
	}
	return o, nil
}

// Sink receives batches of events, each one complete JSON object. Send may
// keep no reference to the slices after it returns. It returns nil when
// every event was accepted, a *RejectError when the receiver refused some
// of them individually (the others were accepted), and any other error
// when the batch as a whole was not delivered.
type Sink interface {
	Send(ctx context.Context, events [][]byte) error
}

// RecordError is one event a receiver refused. Index is its position in
// the slice given to Send.
type RecordError struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// RejectError reports events refused individually by the receiver; every
// event of the batch not listed was accepted.
type RejectError struct {
	Rejected int
	Records  []RecordError // may be shorter than Rejected if the receiver listed fewer
}

func (e *RejectError) Error() string {
	if len(e.Records) > 0 {
		return fmt.Sprintf("%d events rejected (first: #%d: %s)", e.Rejected, e.Records[0].Index, e.Records[0].Reason)
	}
	return fmt.Sprintf("%d events rejected", e.Rejected)
}
