// Package insights finds anomalies in device series and forecasts them with
// prediction intervals, in the spirit of QuickSight's ML insights: a point
// that does not fit a series' learned baseline is flagged with a score, and a
// forecast carries a band that should hold the future values at the chosen
// level.
//
// The package works on plain series (times and values); it knows nothing of
// SQL, HTTP or the store. Batch functions are pure and safe for concurrent
// use; a streaming Detector keeps bounded state per series and is safe for
// concurrent use by the processor's workers.
package insights

// Series is one time series: Times in Unix nanoseconds, ascending, and the
// value at each. The two slices have equal length. Gaps and irregular
// sampling are allowed.
type Series struct {
	Times  []int64
	Values []float64
}

// Len returns the number of points.
func (s Series) Len() int { return len(s.Times) }

// Point is one row of a detector's or a forecaster's output, in the column
// order the SQL table functions, the HTTP API and the CLI use: time, value,
// expected, lower, upper, score, is_anomaly. Value is NaN for forecast rows
// beyond the input; Score is 0 and IsAnomaly false where they do not apply.
type Point struct {
	Time      int64
	Value     float64
	Expected  float64
	Lower     float64
	Upper     float64
	Score     float64
	IsAnomaly bool
}
