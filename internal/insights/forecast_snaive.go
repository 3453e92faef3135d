package insights

import "math"

// Seasonal naive: every future value repeats the last observed value of the
// same season (m = 1 gives the naive method, the last value).
//
//	ŷ_{T+h|T} = y_{T+h−m(k+1)},  k = ⌊(h−1)/m⌋
//	σ_h = σ·√(k+1)
//
// where σ² is the mean squared in-sample residual y_t − y_{t−m}
// (Hyndman & Athanasopoulos, fpp2 §3.1 https://otexts.com/fpp2/simple-methods.html
// and fpp3 §5.5 Table 5.2 https://otexts.com/fpp3/prediction-intervals.html).

// snaiveFit is a fitted seasonal naive model.
type snaiveFit struct {
	m      int
	last   []float64 // the last m values (fewer when the series is shorter)
	sigma2 float64
	fitted []float64 // y[t−m], NaN for t < m
}

// fitSnaive fits seasonal naive with period m (≥ 1) to y, which must hold
// more than m values.
func fitSnaive(y []float64, m int) *snaiveFit {
	m = max(m, 1)
	f := &snaiveFit{m: m, fitted: make([]float64, len(y))}
	var ss float64
	var k int
	for t := range y {
		if t < m {
			f.fitted[t] = math.NaN()
			continue
		}
		f.fitted[t] = y[t-m]
		e := y[t] - y[t-m]
		ss += e * e
		k++
	}
	if k > 0 {
		f.sigma2 = ss / float64(k)
	}
	f.last = y[max(0, len(y)-m):]
	return f
}

// forecast appends the forecasts for steps 1..h.
func (f *snaiveFit) forecast(dst []float64, h int) []float64 {
	m := len(f.last)
	for j := 1; j <= h; j++ {
		// y_{T+j−m(k+1)} is last[(j−1) mod m].
		dst = append(dst, f.last[(j-1)%m])
	}
	return dst
}

// snaiveVariance returns σ_h²/σ² = k+1 for horizon h and period m.
func snaiveVariance(m, h int) float64 {
	return float64((h-1)/max(m, 1) + 1)
}
