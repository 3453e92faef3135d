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
	keys      []byte           // the batch's keys (encoded dimensions), one after the other
	k0, k1    int              // keys[k0:k1] encodes dimsOf
	dimsOf    *tsdb.Dimension  // first element of the Dimensions slice encoded in keys[k0:k1]
	dimsLen   int              // and its length
	dimsOK    bool             // keys[k0:k1] is valid
	sorted    []tsdb.Dimension // scratch for dimensions that are not sorted by name
	keyRuns   []keyRun         // the batch's points by key
	names     []encName        // encoded names met lately, kept across batches
	nameAt    int              // where the next name is likely in names
	obs       []insights.Obs   // the batch's points
	from      []obsSource      // and where each came from
	pts       []insights.Point // their scores
	anomalies []tsdb.Record    // rows for sluice.anomalies of the pending batch
}

// keyRun says that the points from obs[first] on (to the next run's) have
// the key keys[k0:k1].
type keyRun struct{ first, k0, k1 int }

// encName is the encoded series name of a measure (value "") or of a value
// of a multi-measure record: appendString(measure) then appendString(value).
type encName struct{ measure, value, enc string }

// maxNames bounds the names a scorer keeps: past it, it starts again.
const maxNames = 1024

// obsSource is the record (index in the batch) of a scored point and the
// index of its value in the record's Multi (-1: a single-measure record).
type obsSource struct{ rec, value int32 }

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
	s.keys, s.keyRuns, s.obs, s.from = s.keys[:0], s.keyRuns[:0], s.obs[:0], s.from[:0]
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
				s.add(i, -1, r, s.name(r.MeasureName, ""), v)
			}
			continue
		}
		for j := range r.Multi {
			if v, ok := numeric(r.Multi[j].Value); ok {
				s.add(i, j, r, s.name(r.MeasureName, r.Multi[j].Name), v)
			}
		}
	}
	if len(s.obs) == 0 {
		return
	}
	// The keys are views of s.keys, which no longer grows: the points of
	// a device's event share one view of their key. ObserveBatch copies a
	// key it keeps (a new series).
	for k, kr := range s.keyRuns {
		end := len(s.obs)
		if k+1 < len(s.keyRuns) {
			end = s.keyRuns[k+1].first
		}
		key := unsafe.String(unsafe.SliceData(s.keys[kr.k0:kr.k1]), kr.k1-kr.k0)
		for o := kr.first; o < end; o++ {
			s.obs[o].Key = key
		}
	}
	s.pts = d.ObserveBatch(s.pts[:0], s.obs)
	for k := range s.obs {
		s.obs[k].Key = "" // keep no view of the scratch
	}
	for k := range s.pts {
		if s.pts[k].IsAnomaly {
			r := &recs[s.from[k].rec]
			label := r.MeasureName
			if j := s.from[k].value; j >= 0 {
				label = r.Multi[j].Name
			}
			w.flag(r, label, &s.pts[k])
		}
	}
}

// name returns the encoded series name of the value named value of
// measure (value "" for a single-measure record). A device's measures come
// in the same order event after event, so the name after the last one
// found is tried first.
func (s *scorer) name(measure, value string) string {
	n := len(s.names)
	for k := range n {
		i := s.nameAt + k
		if i >= n {
			i -= n
		}
		if e := &s.names[i]; e.measure == measure && e.value == value {
			s.nameAt = i + 1 // n at most: the next lookup wraps
			return e.enc
		}
	}
	if n == maxNames {
		s.names = s.names[:0]
	}
	// Cloned: the cache outlives the batch whose records lent the strings.
	enc := string(appendString(appendString(nil, measure), value))
	s.names = append(s.names, encName{measure: strings.Clone(measure), value: strings.Clone(value), enc: enc})
	s.nameAt = len(s.names)
	return enc
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

// add appends the point v of record i (r), the value of index j in its
// Multi (-1: a single-measure record), named name, to the batch.
func (s *scorer) add(i, j int, r *tsdb.Record, name string, v float64) {
	s.setDims(r.Dimensions)
	s.obs = append(s.obs, insights.Obs{Name: name, T: r.Time, V: v})
	s.from = append(s.from, obsSource{rec: int32(i), value: int32(j)})
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
	s.keyRuns = append(s.keyRuns, keyRun{first: len(s.obs), k0: len(s.keys)})
	s.k0 = len(s.keys)
	s.keys = binary.AppendUvarint(s.keys, uint64(len(dims)))
	for _, dm := range dims {
		s.keys = appendString(appendString(s.keys, dm.Name), dm.Value)
	}
	s.k1 = len(s.keys)
	s.keyRuns[len(s.keyRuns)-1].k1 = s.k1
}

func cmpDim(a, b tsdb.Dimension) int { return strings.Compare(a.Name, b.Name) }

func appendString(b []byte, s string) []byte {
	if len(s) < 0x80 { // the uvarint's one byte, without its loop
		return append(append(b, byte(len(s))), s...)
	}
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
