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
type scorer struct {
	key       []byte           // the series key being built
	prefix    int              // bytes of key that encode dimsOf
	dimsOf    *tsdb.Dimension  // first element of the Dimensions slice encoded in key[:prefix]
	dimsLen   int              // and its length
	dimsOK    bool             // key[:prefix] is valid
	sorted    []tsdb.Dimension // scratch for dimensions that are not sorted by name
	keys      []byte           // the batch's series keys, one after the other
	ends      []int            // where each point's key ends in keys
	obs       []insights.Obs   // the batch's points
	from      []obsSource      // and where each came from
	pts       []insights.Point // their scores
	anomalies []tsdb.Record    // rows for sluice.anomalies of the pending batch
}

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
	s.keys, s.ends, s.obs, s.from = s.keys[:0], s.ends[:0], s.obs[:0], s.from[:0]
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
	// The keys are views of s.keys, which no longer grows; ObserveBatch
	// copies a key it keeps (a new series).
	start := 0
	for k, end := range s.ends {
		s.obs[k].Key = unsafe.String(unsafe.SliceData(s.keys[start:end]), end-start)
		start = end
	}
	s.pts = d.ObserveBatch(s.pts[:0], s.obs)
	for k := range s.obs {
		s.obs[k].Key = "" // keep no view of the scratch
	}
	for k := range s.pts {
		if s.pts[k].IsAnomaly {
			w.flag(&recs[s.from[k].rec], s.from[k].label, &s.pts[k])
		}
	}
}

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
	s.keys = append(s.keys, s.key[:s.prefix]...)
	s.keys = appendString(appendString(s.keys, measure), value)
	s.ends = append(s.ends, len(s.keys))
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

// setDims makes key[:prefix] the encoding of dims, sorted by name. The
// records of one event share one Dimensions slice, so consecutive records
// usually reuse the encoding.
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
	s.key = binary.AppendUvarint(s.key[:0], uint64(len(dims)))
	for _, dm := range dims {
		s.key = appendString(appendString(s.key, dm.Name), dm.Value)
	}
	s.prefix = len(s.key)
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
