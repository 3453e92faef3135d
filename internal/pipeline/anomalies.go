package pipeline

// Streaming anomaly detection in the processor: after a batch's records are
// durable in the tsdb, every numeric measure value is scored by the
// insights.Detector, and the flagged points become rows of sluice.anomalies,
// written in the same flush (with its own done-flag, like the clock
// corrections) before the batch's messages are acknowledged.
//
// Redelivery: a redelivered batch is scored again, but the Detector does not
// learn from a point not newer than its series' latest, so a batch it has seen
// teaches it nothing twice; the anomaly rows are keyed by the device's
// dimensions, the measure and the point's time, so a rewrite lands on the
// same key (a no-op, or a reject the processor ignores when the baseline has
// moved since and the expected value differs: the first row stays).

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// AnomaliesTable is the system table of streamed anomalies (database
// "sluice"): the device's dimensions, a "measure" dimension (the measure,
// or the value's name in a multi-measure record), measure_name "anomaly",
// the point's time, and the DOUBLE measures value, expected, lower, upper
// and score.
const AnomaliesTable = "anomalies"

// AnomalyMeasureDim is the dimension of sluice.anomalies that names the
// measure a row is about.
const AnomalyMeasureDim = "measure"

var anomalyColumns = []tsdb.DeclaredColumn{
	{Name: "DeviceID", Kind: "dimension"}, {Name: AnomalyMeasureDim, Kind: "dimension"},
	{Name: "value", Kind: "measure", Type: columnar.Float64}, {Name: "expected", Kind: "measure", Type: columnar.Float64},
	{Name: "lower", Kind: "measure", Type: columnar.Float64}, {Name: "upper", Kind: "measure", Type: columnar.Float64},
	{Name: "score", Kind: "measure", Type: columnar.Float64},
}

// scorer is a worker's scratch space for scoring, reused across batches so
// that a point costs no allocation (except a series the Detector meets for
// the first time, and a flagged point's row).
//
// A point's series is named, for the Detector, by its device's dimensions
// (the key, shared by the device's measures: the Detector looks it up once
// for a run of them) and its measure (the name). Key+name is the whole key
// of the detector before groups, so that its snapshots find their series.
type scorer struct {
	keys      []byte           // the batch's keys and names, one after the other
	k0, k1    int              // keys[k0:k1] encodes dimsOf
	dimsOf    *tsdb.Dimension  // first element of the Dimensions slice encoded in keys[k0:k1]
	dimsLen   int              // and its length
	dimsOK    bool             // keys[k0:k1] is valid
	sorted    []tsdb.Dimension // scratch for dimensions that are not sorted by name
	spans     []keySpan        // per point: where its key and name are in keys
	obs       []insights.Obs   // the batch's points
	from      []obsSource      // and where each came from
	pts       []insights.Point // their scores
	anomalies []tsdb.Record    // rows for sluice.anomalies of the pending batch
}

// keySpan locates a point's key (keys[k0:k1]) and name (keys[n0:n1]).
type keySpan struct{ k0, k1, n0, n1 int }

// obsSource is the record (index in the batch) and the measure label of a
// scored point.
type obsSource struct {
	rec   int
	label string
}

// score runs the batch's numeric measure values through the Detector,
// skipping records the store rejected, and keeps a row per anomaly. The
// whole batch goes to the Detector in one ObserveBatch call.
func (w *worker) score(recs []tsdb.Record, rejects []tsdb.Reject) {
	d := w.p.opts.Anomalies
	if d == nil {
		return
	}
	s := &w.sc
	s.dimsOK = false // the backing arrays of the last batch may be reused
	if !slices.IsSortedFunc(rejects, func(a, b tsdb.Reject) int { return a.Index - b.Index }) {
		slices.SortFunc(rejects, func(a, b tsdb.Reject) int { return a.Index - b.Index })
	}
	s.keys, s.spans, s.obs, s.from = s.keys[:0], s.spans[:0], s.obs[:0], s.from[:0]
	next := 0 // index into rejects
	for i := range recs {
		for next < len(rejects) && rejects[next].Index < i {
			next++
		}
		if next < len(rejects) && rejects[next].Index == i {
			continue
		}
		r := &recs[i]
		if r.Multi == nil {
			if v, ok := numeric(r.Value); ok {
				s.add(i, r, r.MeasureName, "", r.MeasureName, v)
			}
			continue
		}
		for j := range r.Multi {
			if v, ok := numeric(r.Multi[j].Value); ok {
				s.add(i, r, r.MeasureName, r.Multi[j].Name, r.Multi[j].Name, v)
			}
		}
	}
	if len(s.obs) == 0 {
		return
	}
	// The keys and names are views of s.keys, which no longer grows; the
	// points of a device's event share one view of their key.
	// ObserveBatch copies a key or name it keeps (a new series).
	for k, sp := range s.spans {
		s.obs[k].Key = view(s.keys[sp.k0:sp.k1])
		s.obs[k].Name = view(s.keys[sp.n0:sp.n1])
	}
	s.pts = d.ObserveBatch(s.pts[:0], s.obs)
	for k := range s.obs {
		s.obs[k].Key, s.obs[k].Name = "", "" // keep no view of the scratch
	}
	for k := range s.pts {
		if s.pts[k].IsAnomaly {
			w.flag(&recs[s.from[k].rec], s.from[k].label, &s.pts[k])
		}
	}
}

func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func numeric(v tsdb.Value) (float64, bool) {
	switch v.Type {
	case columnar.Float64:
		return v.F, true
	case columnar.Int64:
		return float64(v.I), true
	}
	return 0, false
}

// add appends the point of record i (r) with the value named value of
// measure (value "" for a single-measure record) to the batch.
func (s *scorer) add(i int, r *tsdb.Record, measure, value, label string, v float64) {
	s.setDims(r.Dimensions)
	n0 := len(s.keys)
	s.keys = appendString(appendString(s.keys, measure), value)
	s.spans = append(s.spans, keySpan{k0: s.k0, k1: s.k1, n0: n0, n1: len(s.keys)})
	s.obs = append(s.obs, insights.Obs{T: r.Time, V: v})
	s.from = append(s.from, obsSource{rec: i, label: label})
}

// flag keeps the row of an anomaly the Detector found in record r.
func (w *worker) flag(r *tsdb.Record, label string, pt *insights.Point) {
	s := &w.sc
	w.p.metrics.anomalies.WithLabelValues(label).Inc()
	if slices.ContainsFunc(r.Dimensions, func(dm tsdb.Dimension) bool { return dm.Name == AnomalyMeasureDim }) {
		// The device has a dimension of that name: the row cannot carry
		// both. Counted, not stored.
		return
	}
	dims := make([]tsdb.Dimension, 0, len(r.Dimensions)+1)
	dims = append(append(dims, r.Dimensions...), tsdb.Dimension{Name: AnomalyMeasureDim, Value: label})
	s.anomalies = append(s.anomalies, tsdb.Record{
		Dimensions:  dims,
		MeasureName: "anomaly",
		Time:        r.Time,
		Multi: []tsdb.MeasureValue{
			{Name: "value", Value: tsdb.Double(pt.Value)},
			{Name: "expected", Value: tsdb.Double(pt.Expected)},
			{Name: "lower", Value: tsdb.Double(pt.Lower)},
			{Name: "upper", Value: tsdb.Double(pt.Upper)},
			{Name: "score", Value: tsdb.Double(pt.Score)},
		},
	})
}

// setDims makes keys[k0:k1] the encoding of dims, sorted by name,
// appending it to keys unless the last one is of the same Dimensions
// slice: the records of one event share one, so consecutive records
// usually reuse the encoding (and a device's points their key's view).
func (s *scorer) setDims(dims []tsdb.Dimension) {
	if s.dimsOK && len(dims) == s.dimsLen && (len(dims) == 0 || &dims[0] == s.dimsOf) {
		return
	}
	s.dimsOK, s.dimsLen, s.dimsOf = true, len(dims), nil
	if len(dims) > 0 {
		s.dimsOf = &dims[0]
	}
	if !slices.IsSortedFunc(dims, cmpDim) {
		// The mapper sorts them; other writers might not.
		s.sorted = append(s.sorted[:0], dims...)
		slices.SortFunc(s.sorted, cmpDim)
		dims = s.sorted
	}
	// Canonical: the count, then each name and value, length-prefixed, so
	// that no two different series share a key.
	s.k0 = len(s.keys)
	s.keys = binary.AppendUvarint(s.keys, uint64(len(dims)))
	for _, dm := range dims {
		s.keys = appendString(appendString(s.keys, dm.Name), dm.Value)
	}
	s.k1 = len(s.keys)
}

func cmpDim(a, b tsdb.Dimension) int { return strings.Compare(a.Name, b.Name) }

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// writeAnomalies stores the pending batch's anomaly rows.
func (w *worker) writeAnomalies(ctx context.Context) error {
	p := w.p
	rejects, err := p.db.Write(ctx, SystemDatabase, AnomaliesTable, w.sc.anomalies)
	if err != nil {
		return fmt.Errorf("write %d anomalies: %w", len(w.sc.anomalies), err)
	}
	for _, r := range rejects {
		// Mostly a redelivered point scored against a baseline that has
		// moved since: the row first written stays.
		p.logger.Debug("pipeline: anomaly row not stored", "reason", r.Reason)
	}
	return nil
}

// anomalyMetrics are the streaming detector's metrics; the Detector's own
// counters are read when scraped.
func registerDetectorMetrics(reg prometheus.Registerer, consumer string, d *insights.Detector) {
	if reg == nil || d == nil {
		return
	}
	l := prometheus.Labels{"consumer": consumer}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_anomaly_series", Help: "Series the streaming anomaly detector keeps a baseline for.", ConstLabels: l},
			func() float64 { return float64(d.Stats().Series) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_anomaly_series_evicted_total", Help: "Series the streaming anomaly detector forgot to stay within its series cap (anomaly-max-series).", ConstLabels: l},
			func() float64 { return float64(d.Stats().Evicted) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_anomaly_points_scored_total", Help: "Measure values the streaming anomaly detector scored.", ConstLabels: l},
			func() float64 { return float64(d.Stats().Observed) }),
	)
}
