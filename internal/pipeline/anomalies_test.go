package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluice-dev/sluice/internal/event"
	"github.com/sluice-dev/sluice/internal/insights"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/stream"
	"github.com/sluice-dev/sluice/internal/stream/jetstream"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// rig is a processor on a real embedded NATS server and a real store.
type rig struct {
	t   testing.TB
	b   *jetstream.Broker
	db  *tsdb.DB
	p   *Processor
	det *insights.Detector
	reg *prometheus.Registry
	pub int // messages published
}

func newRig(t testing.TB, mode event.Mode, det *insights.Detector) *rig {
	t.Helper()
	ctx := context.Background()
	b, err := jetstream.Open(ctx, jetstream.Options{DataDir: t.TempDir(), Sync: jetstream.SyncInterval}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.EnsureStream(ctx, stream.Config{Name: "events"}); err != nil {
		t.Fatal(err)
	}
	db, err := tsdb.Open(t.TempDir(), tsdb.Options{NoSync: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	p, err := NewProcessor(ctx, b, db, Options{FlushInterval: 20 * time.Millisecond, Mapping: event.Options{Mode: mode}, Anomalies: det}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	return &rig{t: t, b: b, db: db, p: p, det: det, reg: reg}
}

// publish sends events (JSON objects) in messages of per events each.
func (r *rig) publish(events [][]byte, per int) {
	r.t.Helper()
	for i := 0; i < len(events); i += per {
		var recs []stream.Record
		for _, e := range events[i:min(i+per, len(events))] {
			recs = append(recs, stream.Record{Key: "d", Data: e})
		}
		if _, err := r.b.Publish(context.Background(), "events", stream.AppendFrame(nil, recs)); err != nil {
			r.t.Fatal(err)
		}
		r.pub++
	}
}

// wait returns once every published message is acknowledged.
func (r *rig) wait() {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for counterValue(r.p.metrics.messages) < float64(r.pub) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%v of %d messages acknowledged after 20s", counterValue(r.p.metrics.messages), r.pub)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counterValue reads a counter's value.
func counterValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

type anomalyRow struct {
	device, measure string
	time            int64
	value, score    float64
}

func (r *rig) anomalies() []anomalyRow {
	r.t.Helper()
	e := sluicesql.New(r.db, sluicesql.Options{DefaultDatabase: "iot"})
	res, err := e.Query(context.Background(), "SELECT DeviceID, measure, time, value, expected, lower, upper, score FROM sluice.anomalies ORDER BY time, measure", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []anomalyRow
	b := res.Rows
	for i := 0; i < b.Len(); i++ {
		out = append(out, anomalyRow{device: b.Cols[0].Strs[i], measure: b.Cols[1].Strs[i], time: b.Cols[2].Ints[i], value: b.Cols[3].Floats[i], score: b.Cols[7].Floats[i]})
		if lo, hi, v := b.Cols[5].Floats[i], b.Cols[6].Floats[i], b.Cols[3].Floats[i]; v >= lo && v <= hi {
			r.t.Errorf("anomaly row %d: value %v inside [%v, %v]", i, v, lo, hi)
		}
	}
	return out
}

// telemetry returns n events of two devices, one a second ending a minute
// ago, temperature around 20 and humidity around 50 with a little noise;
// the temperature of device d1 spikes at index spike.
func telemetry(start time.Time, from, n, spike int) [][]byte {
	rng := rand.New(rand.NewPCG(1, uint64(from)))
	var out [][]byte
	for i := from; i < from+n; i++ {
		ms := start.Add(time.Duration(i) * time.Second).UnixMilli()
		for _, dev := range []string{"d1", "d2"} {
			temp := 20 + rng.NormFloat64()*0.2
			if dev == "d1" && i == spike {
				temp += 6
			}
			out = append(out, fmt.Appendf(nil, `{"DeviceID":%q,"site":"s","time":%d,"temperature_measure":%.3f,"humidity_measure":%d,"note":"x"}`,
				dev, ms, temp, 50+rng.IntN(2)))
		}
	}
	return out
}

func TestProcessorAnomalies(t *testing.T) {
	for _, mode := range []event.Mode{event.Single, event.Multi} {
		t.Run("mode="+mode.String(), func(t *testing.T) {
			det, err := insights.NewDetector(insights.DetectorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRig(t, mode, det)
			start := time.Now().Add(-time.Hour).Truncate(time.Second)
			const n, spike = 600, 400
			r.publish(telemetry(start, 0, n, spike), 50)
			r.wait()
			spikeTime := start.Add(spike * time.Second).UnixNano()
			got := r.anomalies()
			if len(got) != 1 || got[0].device != "d1" || got[0].measure != "temperature" || got[0].time != spikeTime || got[0].score <= insights.DefaultSensitivity {
				t.Fatalf("anomalies %+v, want d1's temperature at %d", got, spikeTime)
			}
			// Two devices × two numeric measures; the VARCHAR "note" is not scored.
			st := det.Stats()
			if st.Series != 4 || st.Observed != 4*n || st.Anomalies != 1 {
				t.Errorf("detector stats %+v", st)
			}
			if v := counterValue(r.p.metrics.anomalies.WithLabelValues("temperature")); v != 1 {
				t.Errorf("sluice_anomalies_total{measure=temperature} = %v", v)
			}
			mfs, err := r.reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]float64{}
			for _, mf := range mfs {
				for _, m := range mf.GetMetric() {
					found[mf.GetName()] += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
			if found["sluice_anomaly_series"] != 4 || found["sluice_anomalies_total"] != 1 || found["sluice_anomaly_points_scored_total"] != 4*n {
				t.Errorf("metrics %v", found)
			}

			// One newer point per series, then the whole series again, as
			// a redelivery would bring it: the store and the table are
			// unchanged and the detector learns nothing from it.
			r.publish(telemetry(start, n, 1, -1), 50)
			r.wait()
			var before bytes.Buffer
			if err := det.Snapshot(&before); err != nil {
				t.Fatal(err)
			}
			r.publish(telemetry(start, 0, n, spike), 50)
			r.wait()
			var after bytes.Buffer
			if err := det.Snapshot(&after); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before.Bytes(), after.Bytes()) {
				t.Error("the redelivered points changed the detector's state")
			}
			if again := r.anomalies(); len(again) != 1 || again[0] != got[0] {
				t.Errorf("after redelivery: anomalies %+v, want %+v", again, got)
			}
		})
	}
}

func TestSeriesKey(t *testing.T) {
	d := func(kv ...string) []tsdb.Dimension {
		var out []tsdb.Dimension
		for i := 0; i < len(kv); i += 2 {
			out = append(out, tsdb.Dimension{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	key := func(dims []tsdb.Dimension, measure, value string) string {
		var s scorer
		s.setDims(dims)
		return string(appendString(appendString(s.keys[s.k0:s.k1], measure), value))
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"order of dimensions", key(d("a", "1", "b", "2"), "m", ""), key(d("b", "2", "a", "1"), "m", ""), true},
		{"value moved between name and value", key(d("ab", "c"), "m", ""), key(d("a", "bc"), "m", ""), false},
		{"dimension vs measure", key(d("m", ""), "", ""), key(nil, "m", ""), false},
		{"measure vs multi value", key(nil, "ab", ""), key(nil, "a", "b"), false},
		{"different measure", key(d("a", "1"), "x", ""), key(d("a", "1"), "y", ""), false},
	}
	for _, tc := range tests {
		if (tc.a == tc.b) != tc.same {
			t.Errorf("%s: %q vs %q, same = %v", tc.name, tc.a, tc.b, tc.a == tc.b)
		}
	}
}

// TestScoreReusesDims checks the prefix cache: records sharing a
// Dimensions slice, then a record with other dimensions of the same length.
func TestScoreReusesDims(t *testing.T) {
	det, err := insights.NewDetector(insights.DetectorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := &worker{p: &Processor{opts: Options{Anomalies: det}, metrics: newMetrics(nil, "t")}}
	d1 := []tsdb.Dimension{{Name: "DeviceID", Value: "a"}}
	d2 := []tsdb.Dimension{{Name: "DeviceID", Value: "b"}}
	recs := []tsdb.Record{
		{Dimensions: d1, MeasureName: "x", Time: 1, Value: tsdb.Double(1)},
		{Dimensions: d1, MeasureName: "y", Time: 1, Value: tsdb.Bigint(1)},
		{Dimensions: d2, MeasureName: "x", Time: 1, Value: tsdb.Double(1)},
		{Dimensions: nil, MeasureName: "x", Time: 1, Value: tsdb.Double(1)},
		{Dimensions: d2, MeasureName: "x", Time: 2, Value: tsdb.Varchar("no")},
		{Dimensions: d2, MeasureName: "z", Time: 2, Value: tsdb.Double(1)}, // rejected by the store
	}
	w.score(recs, []tsdb.Reject{{Index: 5}})
	if st := det.Stats(); st.Series != 4 || st.Observed != 4 {
		t.Errorf("stats %+v, want 4 series of one point", st)
	}
	w.score(recs[3:4], nil) // the next batch starts with no dimensions
	if st := det.Stats(); st.Series != 4 {
		t.Errorf("stats %+v, want 4 series", st)
	}
}

// TestScorerNames: the cached encoded names are those of the whole series
// key's tail (appendString of the measure, then of the value), in any order
// of lookups, past the cache's bound, and for equal names in new strings.
func TestScorerNames(t *testing.T) {
	var s scorer
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5 * maxNames {
		m := fmt.Sprintf("m%d", rng.IntN(maxNames+maxNames/2))
		v := ""
		if i%3 == 0 {
			v = fmt.Sprintf("v%d", rng.IntN(3))
		}
		want := string(appendString(appendString(nil, m), v))
		if got := s.name(strings.Clone(m), v); got != want {
			t.Fatalf("lookup %d: name(%q, %q) = %q, want %q", i, m, v, got, want)
		}
		if len(s.names) > maxNames || s.nameAt > len(s.names) {
			t.Fatalf("lookup %d: %d names, next at %d", i, len(s.names), s.nameAt)
		}
	}
}
