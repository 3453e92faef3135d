package simulate_test

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/simulate"
)

var t0 = time.Date(2021, 1, 4, 10, 46, 15, 225_499_000, time.UTC)

// faulty turns every fault on, often enough to see each in a short run.
func faulty(seed int64) simulate.Options {
	return simulate.Options{
		Devices: 8, Rate: 1, Duration: 2 * time.Hour, Seed: seed, Start: t0,
		AnomalyProb: 0.005, SkewProb: 0.0005, OfflineProb: 0.0005, BurstProb: 0.01,
		SkewDuration: 2 * time.Minute, OfflineDuration: 3 * time.Minute, ShiftDuration: 5 * time.Minute,
	}
}

type genEvent struct {
	raw []byte
	ev  simulate.Event
}

// all runs a generator to its end, copying every event and its labels.
func all(t *testing.T, o simulate.Options) ([]genEvent, []simulate.Label) {
	t.Helper()
	g, err := simulate.NewGenerator(o)
	if err != nil {
		t.Fatal(err)
	}
	var evs []genEvent
	var labels []simulate.Label
	for {
		b, ev, ok := g.Next(nil)
		if !ok {
			break
		}
		labels = append(labels, ev.Labels...)
		ev.Labels = append([]simulate.Label(nil), ev.Labels...)
		evs = append(evs, genEvent{b, ev})
	}
	return evs, labels
}

func TestDeterminism(t *testing.T) {
	digest := func(o simulate.Options) []byte {
		g, err := simulate.NewGenerator(o)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for {
			var ok bool
			if out, _, ok = g.Next(out); !ok {
				return out
			}
			out = append(out, '\n')
		}
	}
	a, b := digest(faulty(1)), digest(faulty(1))
	if !bytes.Equal(a, b) {
		t.Fatal("same seed and start gave different bytes")
	}
	for _, tc := range []struct {
		name   string
		change func(*simulate.Options)
	}{
		{"seed", func(o *simulate.Options) { o.Seed = 2 }},
		{"start", func(o *simulate.Options) { o.Start = o.Start.Add(time.Second) }},
		{"anomalies", func(o *simulate.Options) { o.AnomalyProb = 0.05 }},
	} {
		o := faulty(1)
		tc.change(&o)
		if bytes.Equal(a, digest(o)) {
			t.Errorf("changing %s did not change the events", tc.name)
		}
	}

	// Device i keeps its id whatever the fleet size, and ids differ.
	g5, _ := simulate.NewGenerator(simulate.Options{Devices: 5, Seed: 7, Start: t0})
	g50, _ := simulate.NewGenerator(simulate.Options{Devices: 50, Seed: 7, Start: t0})
	ids5, ids50 := g5.DeviceIDs(), g50.DeviceIDs()
	seen := map[string]bool{}
	for i, id := range ids50 {
		if i < 5 && ids5[i] != id {
			t.Errorf("device %d: id %s with 5 devices, %s with 50", i, ids5[i], id)
		}
		if id != simulate.DeviceID(7, i) {
			t.Errorf("device %d: id %s, DeviceID says %s", i, id, simulate.DeviceID(7, i))
		}
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

var (
	idRE    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	numRE   = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,2})?$`)
	timeRE  = regexp.MustCompile(`^[0-9]{13}(\.[0-9]{1,3})?$`)
	seedKey = []string{"Time", "DeviceID", "temperature_measure", "humidity_measure", "voltage_measure", "watt_measure"}
)

func TestEventsAreFlatSeedObjects(t *testing.T) {
	evs, _ := all(t, faulty(3))
	if len(evs) < 50_000 {
		t.Fatalf("only %d events", len(evs))
	}
	measures := simulate.Measures()
	for i, e := range evs {
		dec := json.NewDecoder(bytes.NewReader(e.raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("event %d %s: %v", i, e.raw, err)
		}
		if len(m) != len(seedKey) {
			t.Fatalf("event %d has keys %v", i, m)
		}
		for _, k := range seedKey {
			if _, ok := m[k]; !ok {
				t.Fatalf("event %d lacks %s: %s", i, k, e.raw)
			}
		}
		id, _ := m["DeviceID"].(string)
		if !idRE.MatchString(id) || id != e.ev.DeviceID {
			t.Fatalf("event %d: DeviceID %q (meta %q)", i, id, e.ev.DeviceID)
		}
		ts, _ := m["Time"].(json.Number)
		if !timeRE.MatchString(string(ts)) {
			t.Fatalf("event %d: Time %q", i, ts)
		}
		f, _ := ts.Float64()
		if got := time.UnixMicro(int64(math.Round(f * 1000))); !got.Equal(e.ev.EventTime) {
			t.Fatalf("event %d: Time %s is %v, meta says %v", i, ts, got, e.ev.EventTime)
		}
		for j, name := range measures {
			n, _ := m[name+"_measure"].(json.Number)
			if !numRE.MatchString(string(n)) {
				t.Fatalf("event %d: %s = %q has more than two decimals or is not a number", i, name, n)
			}
			if v, _ := n.Float64(); v != e.ev.Values[j] {
				t.Fatalf("event %d: %s = %v, meta says %v", i, name, v, e.ev.Values[j])
			}
		}
	}
}

func TestDeviceOrder(t *testing.T) {
	evs, _ := all(t, faulty(4))
	last := map[int]time.Time{}
	for i, e := range evs {
		if p, ok := last[e.ev.Device]; ok && !e.ev.Time.After(p) {
			t.Fatalf("event %d: device %d sampled at %v after %v", i, e.ev.Device, e.ev.Time, p)
		}
		last[e.ev.Device] = e.ev.Time
		if e.ev.Delivery.Before(e.ev.Time) {
			t.Fatalf("event %d delivered at %v before it was sampled at %v", i, e.ev.Delivery, e.ev.Time)
		}
	}
}

func TestDailySeasonality(t *testing.T) {
	evs, _ := all(t, simulate.Options{Devices: 20, Rate: 1.0 / 60, Duration: 48 * time.Hour, Seed: 5, Start: t0})
	var sum, n [24][4]float64
	for _, e := range evs {
		h := e.ev.Time.Hour()
		for m, v := range e.ev.Values {
			sum[h][m] += v
			n[h][m]++
		}
	}
	mean := func(h, m int) float64 { return sum[h][m] / n[h][m] }
	for _, tc := range []struct {
		measure      int
		peak, trough int
		minDiff      float64
		name         string
	}{
		{simulate.Temperature, 15, 3, 3, "temperature"},
		{simulate.Humidity, 4, 16, 6, "humidity"},
		{simulate.Watt, 19, 7, 200, "watt"},
	} {
		p, q := mean(tc.peak, tc.measure), mean(tc.trough, tc.measure)
		if p-q < tc.minDiff {
			t.Errorf("%s: mean %.2f at %02d:00, %.2f at %02d:00; want a difference ≥ %v", tc.name, p, tc.peak, q, tc.trough, tc.minDiff)
		}
	}
}

func TestNoiseIsSmooth(t *testing.T) {
	evs, _ := all(t, simulate.Options{Devices: 4, Duration: time.Hour, Seed: 6, Start: t0})
	prev := map[int][4]float64{}
	var big int
	for _, e := range evs {
		if p, ok := prev[e.ev.Device]; ok && math.Abs(e.ev.Values[simulate.Temperature]-p[simulate.Temperature]) > 0.5 {
			big++
		}
		prev[e.ev.Device] = e.ev.Values
	}
	if big > 0 {
		t.Errorf("%d consecutive temperature steps above 0.5 without anomalies", big)
	}
}

// far is how far from its neighbours an anomaly must be, per measure.
func far(m int, expected float64) float64 {
	return [...]float64{3, 8, 8, 0.2 * expected}[m]
}

func TestAnomalyLabelsMatchEvents(t *testing.T) {
	o := faulty(7)
	o.SkewProb, o.OfflineProb, o.BurstProb = 0, 0, 0
	evs, labels := all(t, o)
	type key struct {
		dev string
		t   time.Time
	}
	byDev := map[string][]genEvent{}
	pos := map[key]int{}
	for _, e := range evs {
		pos[key{e.ev.DeviceID, e.ev.Time}] = len(byDev[e.ev.DeviceID])
		byDev[e.ev.DeviceID] = append(byDev[e.ev.DeviceID], e)
	}
	mIndex := map[string]int{}
	for i, name := range simulate.Measures() {
		mIndex[name] = i
	}
	counts := map[string]int{}
	for _, l := range labels {
		counts[l.Kind]++
		i, ok := pos[key{l.DeviceID, l.Time}]
		if !ok {
			t.Fatalf("label %+v names no event", l)
		}
		series := byDev[l.DeviceID]
		m := mIndex[l.Measure]
		v := series[i].ev.Values[m]
		if v != l.Value {
			t.Fatalf("label %+v: event has %v", l, v)
		}
		if i == 0 || i == len(series)-1 {
			continue
		}
		prev, next := series[i-1].ev.Values[m], series[i+1].ev.Values[m]
		d := far(m, l.Expected)
		switch l.Kind {
		case simulate.KindSpike, simulate.KindDip:
			sign := 1.0
			if l.Kind == simulate.KindDip {
				sign = -1
			}
			if sign*(v-l.Expected) < d || sign*(v-prev) < d || sign*(v-next) < d {
				t.Errorf("%s %+v: neighbours %v, %v are not far (%v)", l.Kind, l, prev, next, d)
			}
		case simulate.KindLevelShift:
			delta := l.Value - l.Expected
			if math.Abs(delta) < d || math.Abs((v-prev)-delta) > 0.3*math.Abs(delta) {
				t.Errorf("shift %+v: previous point %v, step %v", l, prev, v-prev)
			}
			if !l.End.After(l.Time) {
				t.Errorf("shift %+v ends before it starts", l)
			}
			// Inside the shift the level holds; after End it is back.
			for j := i + 1; j < len(series) && series[j].ev.Time.Before(l.End); j++ {
				if w := series[j].ev.Values[m]; math.Abs(w-l.Expected) < 0.5*math.Abs(delta) && len(series[j].ev.Labels) == 0 {
					t.Errorf("shift %+v: point %d at %v is back to %v before the end", l, j, series[j].ev.Time, w)
					break
				}
			}
		default:
			t.Errorf("unexpected label kind %q", l.Kind)
		}
	}
	for _, k := range []string{simulate.KindSpike, simulate.KindDip, simulate.KindLevelShift} {
		if counts[k] < 5 {
			t.Errorf("only %d %s labels in %d events", counts[k], k, len(evs))
		}
	}
}

func TestSkewedClocks(t *testing.T) {
	o := faulty(8)
	o.SkewOffset = time.Hour
	evs, labels := all(t, o)
	var skewed int
	for i, e := range evs {
		d := e.ev.EventTime.Sub(e.ev.Time)
		var lab *simulate.Label
		for j := range e.ev.Labels {
			if e.ev.Labels[j].Kind == simulate.KindSkew {
				lab = &e.ev.Labels[j]
			}
		}
		switch {
		case e.ev.Skewed:
			skewed++
			if d != time.Hour {
				t.Fatalf("event %d skewed by %v", i, d)
			}
			if lab == nil || !lab.Time.Equal(e.ev.Time) || !lab.Skewed.Equal(e.ev.EventTime) {
				t.Fatalf("event %d: skew label %+v", i, lab)
			}
		case d != 0 || lab != nil:
			t.Fatalf("event %d: not skewed but time off by %v, label %+v", i, d, lab)
		}
	}
	var n int
	for _, l := range labels {
		if l.Kind == simulate.KindSkew {
			n++
		}
	}
	if skewed < 100 || n != skewed {
		t.Errorf("%d skewed events, %d skew labels", skewed, n)
	}
}

func TestOfflineDeliversLateInBulk(t *testing.T) {
	o := faulty(9)
	o.AnomalyProb, o.SkewProb = 0, 0
	evs, labels := all(t, o)
	var periods, late int
	for i := 0; i < len(evs); i++ {
		e := evs[i]
		if !e.ev.Late {
			continue
		}
		var lab *simulate.Label
		for j := range e.ev.Labels {
			if e.ev.Labels[j].Kind == simulate.KindOffline {
				lab = &e.ev.Labels[j]
			}
		}
		if lab == nil {
			t.Fatalf("event %d starts a late run without an offline label", i)
		}
		periods++
		if !lab.Time.Equal(e.ev.Time) || !lab.End.Equal(e.ev.Delivery) || lab.Count < 1 {
			t.Fatalf("offline label %+v for event at %v delivered %v", lab, e.ev.Time, e.ev.Delivery)
		}
		// The next Count events are this device's buffered ones, in sampling
		// order, all delivered at End, all sampled during the outage.
		for j := range lab.Count {
			b := evs[i+j]
			if !b.ev.Late || b.ev.DeviceID != lab.DeviceID || !b.ev.Delivery.Equal(lab.End) ||
				b.ev.Time.Before(lab.Time) || !b.ev.Time.Before(lab.End) {
				t.Fatalf("buffered event %d of %+v: %+v", j, lab, b.ev)
			}
			if j > 0 && !b.ev.Time.After(evs[i+j-1].ev.Time) {
				t.Fatalf("buffered events out of order")
			}
		}
		late += lab.Count
		// Delivered late: other devices' events sampled after the first
		// buffered one went out before it.
		if lab.End.Sub(lab.Time) > 10*time.Second {
			var before bool
			for k := i - 1; k >= 0 && k > i-1000; k-- {
				if evs[k].ev.DeviceID != lab.DeviceID && evs[k].ev.Time.After(lab.Time.Add(5*time.Second)) {
					before = true
					break
				}
			}
			if !before {
				t.Errorf("offline period %+v: no later event of another device was sent before its bulk", lab)
			}
		}
		i += lab.Count - 1
	}
	var nLabels, nLate int
	for _, l := range labels {
		if l.Kind == simulate.KindOffline {
			nLabels++
		}
	}
	for _, e := range evs {
		if e.ev.Late {
			nLate++
		}
	}
	if periods < 5 || periods != nLabels || late != nLate {
		t.Errorf("%d periods, %d offline labels, %d late events in periods, %d late events in all", periods, nLabels, late, nLate)
	}
}

func TestBursts(t *testing.T) {
	o := faulty(10)
	o.AnomalyProb, o.SkewProb, o.OfflineProb = 0, 0, 0
	evs, _ := all(t, o)
	var burst int
	for _, e := range evs {
		if e.ev.Burst {
			burst++
		}
	}
	plain := int(o.Duration/time.Second) * o.Devices
	if burst < 100 || len(evs) <= plain {
		t.Errorf("%d events (%d without bursts), %d in bursts", len(evs), plain, burst)
	}
}

func TestMaxEventsAndTake(t *testing.T) {
	o := faulty(11)
	o.MaxEvents = 1234
	g, err := simulate.NewGenerator(o)
	if err != nil {
		t.Fatal(err)
	}
	evs, labels := g.Take(2000)
	if len(evs) != 1234 {
		t.Fatalf("took %d events, want 1234", len(evs))
	}
	all, allLabels := all(t, o)
	for i := range evs {
		if !bytes.Equal(evs[i], all[i].raw) {
			t.Fatalf("event %d differs between Take and Next", i)
		}
	}
	if len(labels) != len(allLabels) {
		t.Fatalf("Take gave %d labels, Next %d", len(labels), len(allLabels))
	}
}

func TestLabelJSON(t *testing.T) {
	_, labels := all(t, faulty(12))
	kinds := map[string]bool{}
	for _, l := range labels {
		kinds[l.Kind] = true
		line := l.AppendJSON(nil)
		std, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var a, b simulate.Label
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if err := json.Unmarshal(std, &b); err != nil {
			t.Fatal(err)
		}
		if !a.Time.Equal(b.Time) || !a.End.Equal(b.End) || !a.Skewed.Equal(b.Skewed) {
			t.Fatalf("times differ: %s vs %s", line, std)
		}
		a.Time, a.End, a.Skewed, b.Time, b.End, b.Skewed = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if a != b {
			t.Fatalf("AppendJSON %s, encoding/json %s", line, std)
		}
	}
	for _, k := range []string{"spike", "dip", "level_shift", "skew", "offline"} {
		if !kinds[k] {
			t.Errorf("no %s label", k)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    simulate.Options
		want string
	}{
		{"negative devices", simulate.Options{Devices: -1}, "devices"},
		{"NaN rate", simulate.Options{Rate: math.NaN()}, "rate"},
		{"probability above one", simulate.Options{AnomalyProb: 1.5}, "anomaly probability"},
		{"several at once", simulate.Options{SkewProb: -1, BurstSize: 1}, "burst size"},
		{"before 1970", simulate.Options{Start: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)}, "start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := simulate.NewGenerator(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
		})
	}
	g, err := simulate.NewGenerator(simulate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := g.Options()
	if o.Devices != 10 || o.Rate != 1 || o.SkewOffset != time.Hour || time.Since(o.Start) > time.Minute {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := simulate.NewGenerator(simulate.DemoOptions()); err != nil {
		t.Errorf("demo options: %v", err)
	}
}

func TestHighRate(t *testing.T) {
	// At 100k events/s per device the tick is 10µs; times must still rise.
	o := simulate.Options{Devices: 3, Rate: 100_000, Duration: 50 * time.Millisecond, Seed: 1, Start: t0, BurstProb: 0.5, AnomalyProb: 0.01}
	evs, _ := all(t, o)
	if len(evs) < 3*5000 {
		t.Fatalf("%d events", len(evs))
	}
	last := map[int]time.Time{}
	for _, e := range evs {
		if p, ok := last[e.ev.Device]; ok && !e.ev.Time.After(p) {
			t.Fatalf("device %d: %v after %v", e.ev.Device, e.ev.Time, p)
		}
		last[e.ev.Device] = e.ev.Time
	}
}
