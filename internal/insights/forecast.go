package insights

// Forecasting: regularise the series (seasonality.go), find its seasonal
// period, fit the candidate models, choose one on a holdout, refit it on the
// whole series and extend it with prediction intervals.
//
// Model choice ("auto"): the last min(horizon, n/4) regular values are held
// out; every candidate — seasonal naive and ETS (A,N,A), (A,A,A), (A,Ad,A)
// for the detected period and for any other significant one (daily and
// weekly), or naive and ETS (A,N,N), (A,A,N), (A,Ad,N) without seasonality —
// is fitted on the rest and scored by MASE on the held-out values; the best
// is refitted on the whole series. Ties go to the simpler model (seasonal
// naive first). "ets" instead chooses among the ETS shapes by AICc on the
// whole series, as R's forecast::ets does.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Model names accepted in ForecastOptions.Model and reported in
// ForecastResult.Model.
const (
	ModelAuto   = "auto"
	ModelSNaive = "snaive" // seasonal naive; naive when the period is 1
	ModelETS    = "ets"    // the ETS shape with the lowest AICc
	ModelANN    = "ets(A,N,N)"
	ModelAAN    = "ets(A,A,N)"
	ModelAAdN   = "ets(A,Ad,N)"
	ModelANA    = "ets(A,N,A)"
	ModelAAA    = "ets(A,A,A)" // additive Holt-Winters
	ModelAAdA   = "ets(A,Ad,A)"
)

// minForecastPoints is the fewest regular values Forecast accepts.
const minForecastPoints = 4

// ForecastOptions configure Forecast.
type ForecastOptions struct {
	// Horizon is the number of steps to forecast, at the series' sampling
	// interval (at least 1).
	Horizon int
	// Level is the prediction interval's coverage: 0.8, 0.95, … (default
	// 0.95). Values in (1, 100) are read as percentages (95 = 0.95).
	Level float64
	// Period is the seasonal period in sampling intervals: 0 detects it
	// (a day or a week, see DetectPeriod), 1 means no seasonality.
	Period int
	// Model is one of the Model* names, case-insensitive (default "auto").
	Model string
}

// ForecastParams describe the chosen model's fit.
type ForecastParams struct {
	// Alpha, Beta, Gamma and Phi are the ETS smoothing parameters in
	// state-space (error-correction) form; zero when the model does not
	// use them, Phi 1 when the trend is not damped.
	Alpha, Beta, Gamma, Phi float64
	// Sigma is the standard deviation of the one-step in-sample errors.
	Sigma float64
	// Level and Trend are the ETS states after the last value.
	Level, Trend float64
	// AICc of an ETS fit (0 for seasonal naive).
	AICc float64
}

// ModelScore is a candidate model's accuracy on the holdout.
type ModelScore struct {
	Model  string
	Period int
	// MASE is the holdout's mean absolute error scaled by the in-sample
	// mean absolute error of the seasonal naive method (naive without
	// seasonality) on the training part; the plain MAE when that is zero.
	MASE, SMAPE, MAE float64
}

// ForecastResult is a forecast and how it was made.
type ForecastResult struct {
	// Model is the chosen model's name (one of the Model* constants other
	// than auto and ets), Period its seasonal period in steps (1 = none).
	Model  string
	Period int
	// Interval is the sampling interval the series was regularised on.
	Interval time.Duration
	Level    float64
	Params   ForecastParams
	// Fitted has one row per input point: Value is the input value,
	// Expected the model's one-step forecast of its grid slot, Lower and
	// Upper that forecast's band at Level. Expected, Lower and Upper are NaN
	// where the model has no forecast (seasonal naive's first period).
	Fitted []Point
	// Forecast has Horizon rows continuing the grid: Time = last grid time
	// + h·Interval, Value NaN.
	Forecast []Point
	// Holdout has each candidate's holdout accuracy (for auto), best first.
	Holdout []ModelScore
	// Periods are the candidate seasonal periods and their scores when the
	// period was detected.
	Periods []PeriodScore
	// Steps is the number of regular values the models saw; Filled how many
	// of them were gaps filled in.
	Steps, Filled int
}

// candidate is a model to try.
type candidate struct {
	snaive bool
	ets    etsSpec
	m      int
}

func (c candidate) name() string {
	if c.snaive {
		return ModelSNaive
	}
	return c.ets.String()
}

func (c candidate) minLen() int {
	if c.snaive {
		return c.m + 1
	}
	return c.ets.minLen()
}

// fitted is a fitted candidate.
type fitted struct {
	c      candidate
	sn     *snaiveFit
	ets    *etsFit
	sigma2 float64
}

func fitCandidate(y []float64, c candidate) (*fitted, error) {
	if len(y) < c.minLen() {
		return nil, fmt.Errorf("%s with period %d needs at least %d values, have %d: %w", c.name(), c.m, c.minLen(), len(y), errTooShort)
	}
	if c.snaive {
		sn := fitSnaive(y, c.m)
		return &fitted{c: c, sn: sn, sigma2: sn.sigma2}, nil
	}
	e, err := fitETS(y, c.ets)
	if err != nil {
		return nil, err
	}
	return &fitted{c: c, ets: e, sigma2: e.sigma2}, nil
}

// forecast appends h point forecasts.
func (f *fitted) forecast(dst []float64, h int) []float64 {
	if f.sn != nil {
		return f.sn.forecast(dst, h)
	}
	return f.ets.spec.forecast(dst, f.ets.params, &f.ets.end, h)
}

// variances appends σ_h²/σ² for h = 1..H.
func (f *fitted) variances(dst []float64, H int) []float64 {
	if f.sn != nil {
		for h := 1; h <= H; h++ {
			dst = append(dst, snaiveVariance(f.sn.m, h))
		}
		return dst
	}
	return f.ets.spec.variances(dst, f.ets.params, H)
}

func (f *fitted) fittedValues() []float64 {
	if f.sn != nil {
		return f.sn.fitted
	}
	return f.ets.fitted
}

// parseModel normalises a model name.
func parseModel(s string) (string, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if s == "" {
		return ModelAuto, nil
	}
	for _, m := range []string{ModelAuto, ModelSNaive, ModelETS, ModelANN, ModelAAN, ModelAAdN, ModelANA, ModelAAA, ModelAAdA} {
		if s == strings.ToLower(m) {
			return m, nil
		}
	}
	switch s {
	case "naive":
		return ModelSNaive, nil
	case "holt-winters", "holtwinters", "hw":
		return ModelAAA, nil
	}
	return "", fmt.Errorf("unknown model %q: want auto, snaive, ets or one of %s, %s, %s, %s, %s, %s",
		s, ModelANN, ModelAAN, ModelAAdN, ModelANA, ModelAAA, ModelAAdA)
}

// NormalizeLevel turns a prediction-interval level given as a fraction or
// a percentage into a fraction in (0, 1); 0 means the default 0.95.
func NormalizeLevel(level float64) (float64, error) {
	switch {
	case level == 0:
		return 0.95, nil
	case level > 0 && level < 1:
		return level, nil
	case level > 1 && level < 100:
		return level / 100, nil
	}
	return 0, fmt.Errorf("level %v: want a coverage in (0, 1) such as 0.95, or a percentage in (1, 100) such as 95", level)
}

// etsShapes returns the ETS shapes for period m.
func etsShapes(m int) []etsSpec {
	if m > 1 {
		return []etsSpec{{m: m}, {trend: true, m: m}, {trend: true, damped: true, m: m}}
	}
	return []etsSpec{{}, {trend: true}, {trend: true, damped: true}}
}

func specFor(model string, m int) etsSpec {
	switch model {
	case ModelANN:
		return etsSpec{}
	case ModelAAN:
		return etsSpec{trend: true}
	case ModelAAdN:
		return etsSpec{trend: true, damped: true}
	case ModelANA:
		return etsSpec{m: m}
	case ModelAAA:
		return etsSpec{trend: true, m: m}
	default: // ModelAAdA
		return etsSpec{trend: true, damped: true, m: m}
	}
}

// Forecast forecasts s opts.Horizon steps ahead with prediction intervals
// (see the file comment for how the model is chosen). The error says what
// is wrong with the input: too few points, NaN values, times out of order,
// a horizon below 1, an unknown model or level, a period too long for the
// series.
func Forecast(s Series, opts ForecastOptions) (ForecastResult, error) {
	res, err := forecast(s, opts)
	if err != nil {
		return ForecastResult{}, fmt.Errorf("insights: forecast: %w", err)
	}
	return res, nil
}

func forecast(s Series, opts ForecastOptions) (ForecastResult, error) {
	var res ForecastResult
	if opts.Horizon < 1 {
		return res, fmt.Errorf("horizon %d: want at least 1 step", opts.Horizon)
	}
	level, err := NormalizeLevel(opts.Level)
	if err != nil {
		return res, err
	}
	model, err := parseModel(opts.Model)
	if err != nil {
		return res, err
	}
	if opts.Period < 0 {
		return res, fmt.Errorf("period %d: want 0 (detect), 1 (none) or a number of steps", opts.Period)
	}
	if err := validate(s); err != nil {
		return res, err
	}
	if s.Len() < minForecastPoints {
		return res, fmt.Errorf("series too short: %d points, need at least %d", s.Len(), minForecastPoints)
	}
	interval := SamplingInterval(s.Times)
	if interval <= 0 {
		return res, fmt.Errorf("series too short: all %d points have the same time, need at least %d distinct times", s.Len(), minForecastPoints)
	}
	g, err := regularize(s, interval)
	if err != nil {
		return res, err
	}
	n := len(g.y)
	if n < minForecastPoints {
		return res, fmt.Errorf("series too short: %d steps of %s, need at least %d", n, interval, minForecastPoints)
	}
	res.Interval, res.Level, res.Steps, res.Filled = interval, level, n, g.filled

	// Seasonal period(s).
	periods := []int{opts.Period}
	if opts.Period == 0 {
		m, scores := DetectPeriod(g.y, CandidatePeriods(interval, n))
		res.Periods = scores
		periods = []int{m}
		if model == ModelAuto && m > 1 {
			// Other significant periods compete on the holdout too.
			for _, ps := range scores {
				if ps.Significant && ps.Period != m {
					periods = append(periods, ps.Period)
				}
			}
		}
	}
	m := periods[0]
	if m > 1 {
		need := 2 * m
		if model == ModelSNaive {
			need = m + 1
		}
		if n < need {
			return res, fmt.Errorf("series too short for period %d: %d steps of %s, need at least %d", m, n, interval, need)
		}
	}
	g.fillSeasonal(m)
	y := g.y

	var chosen *fitted
	switch model {
	case ModelSNaive:
		chosen, err = fitCandidate(y, candidate{snaive: true, m: m})
	case ModelETS:
		chosen, err = bestAICc(y, m)
	case ModelAuto:
		var cands []candidate
		for _, p := range periods {
			cands = append(cands, candidate{snaive: true, m: p})
			for _, sp := range etsShapes(p) {
				cands = append(cands, candidate{ets: sp, m: p})
			}
		}
		var best candidate
		best, res.Holdout = selectOnHoldout(y, cands, opts.Horizon)
		chosen, err = fitCandidate(y, best)
	default:
		sp := specFor(model, m)
		chosen, err = fitCandidate(y, candidate{ets: sp, m: m})
	}
	if err != nil {
		return res, err
	}
	res.Model, res.Period = chosen.c.name(), max(chosen.c.m, 1)
	if chosen.ets != nil {
		p := chosen.ets.params
		res.Params = ForecastParams{Alpha: p.alpha, Beta: p.beta, Gamma: p.gamma, Phi: p.phi,
			Level: chosen.ets.end.l, Trend: chosen.ets.end.b, AICc: chosen.ets.aicc()}
		if !chosen.ets.spec.trend {
			res.Params.Phi = 0
		}
	}
	sigma := math.Sqrt(chosen.sigma2)
	res.Params.Sigma = sigma
	z := distuv.UnitNormal.Quantile(0.5 + level/2)

	fv := chosen.fittedValues()
	res.Fitted = make([]Point, s.Len())
	for i, t := range s.Times {
		e := fv[g.slot[i]]
		res.Fitted[i] = Point{Time: t, Value: s.Values[i], Expected: e, Lower: e - z*sigma, Upper: e + z*sigma}
	}
	fc := chosen.forecast(make([]float64, 0, opts.Horizon), opts.Horizon)
	vars := chosen.variances(make([]float64, 0, opts.Horizon), opts.Horizon)
	res.Forecast = make([]Point, opts.Horizon)
	for h := range fc {
		w := z * sigma * math.Sqrt(vars[h])
		res.Forecast[h] = Point{Time: g.time(n - 1 + h + 1), Value: math.NaN(), Expected: fc[h], Lower: fc[h] - w, Upper: fc[h] + w}
	}
	return res, nil
}

// bestAICc fits every ETS shape for period m and returns the one with the
// lowest AICc.
func bestAICc(y []float64, m int) (*fitted, error) {
	var best *fitted
	var errs []error
	for _, sp := range etsShapes(m) {
		f, err := fitCandidate(y, candidate{ets: sp, m: m})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if best == nil || f.ets.aicc() < best.ets.aicc() {
			best = f
		}
	}
	if best == nil {
		return nil, errors.Join(errs...)
	}
	return best, nil
}

// holdoutOrigins is the number of holdout windows a candidate is scored
// on (each the horizon long, back to back at the end of the series) when
// the series is long enough: one window makes the choice noisy.
const holdoutOrigins = 2

// selectOnHoldout scores cands on the last values of y and returns the best
// and every score, best first. A candidate is fitted on the values before
// each of up to holdoutOrigins windows of min(horizon, n/4) values at the
// end and scored on the window's forecast; its score is the mean over the
// windows. Candidates too long for the (first) training part are left out;
// when none fits, the first candidate (seasonal naive) wins unscored.
func selectOnHoldout(y []float64, cands []candidate, horizon int) (candidate, []ModelScore) {
	n := len(y)
	hold := min(horizon, max(1, n/4))
	minLen := math.MaxInt
	for _, c := range cands {
		minLen = min(minLen, c.minLen())
	}
	origins := 1
	for origins < holdoutOrigins && n-(origins+1)*hold >= minLen {
		origins++
	}
	var scores []ModelScore
	bestC := cands[0]
	best := math.Inf(1)
	fc := make([]float64, 0, hold)
	scale := naiveScale(y[:n-hold], max(cands[0].m, 1))
	for _, c := range cands {
		var sc ModelScore
		k := 0
		for o := 0; o < origins; o++ {
			end := n - o*hold
			train, actual := y[:end-hold], y[end-hold:end]
			if len(train) < c.minLen() {
				continue
			}
			f, err := fitCandidate(train, c)
			if err != nil {
				continue
			}
			fc = f.forecast(fc[:0], hold)
			sc.SMAPE += SMAPE(actual, fc)
			sc.MAE += mae(actual, fc)
			k++
		}
		if k == 0 {
			continue
		}
		sc.Model, sc.Period = c.name(), max(c.m, 1)
		sc.SMAPE /= float64(k)
		sc.MAE /= float64(k)
		// One scale for all candidates (the first period's seasonal naive
		// on the first training part), so MASE ranks as MAE does.
		sc.MASE = sc.MAE / scale
		if sc.MAE < best {
			best, bestC = sc.MAE, c
		}
		scores = append(scores, sc)
	}
	slices.SortStableFunc(scores, func(a, b ModelScore) int {
		switch {
		case a.MAE < b.MAE:
			return -1
		case a.MAE > b.MAE:
			return 1
		}
		return 0
	})
	return bestC, scores
}

func mae(actual, fc []float64) float64 {
	var s float64
	for i := range actual {
		s += math.Abs(actual[i] - fc[i])
	}
	return s / float64(len(actual))
}

// naiveScale is the in-sample mean absolute error of the seasonal naive
// method with period m, or 1 when that is zero or undefined.
func naiveScale(insample []float64, m int) float64 {
	var s float64
	var k int
	for t := m; t < len(insample); t++ {
		s += math.Abs(insample[t] - insample[t-m])
		k++
	}
	if k == 0 || s == 0 {
		return 1
	}
	return s / float64(k)
}

// MASE is the mean absolute scaled error of forecasts fc for actual, as in
// the M4 competition: the mean absolute error divided by the in-sample mean
// absolute error of the seasonal naive method with period m (1 = naive) on
// insample. When that scale is zero (a constant series) it is the plain
// mean absolute error.
func MASE(actual, fc, insample []float64, m int) float64 {
	return mae(actual, fc) / naiveScale(insample, max(m, 1))
}

// SMAPE is the symmetric mean absolute percentage error of forecasts fc for
// actual, in percent, as in the M4 competition: the mean of
// 200·|y−f|/(|y|+|f|). Points where both are zero count as 0.
func SMAPE(actual, fc []float64) float64 {
	var s float64
	for i := range actual {
		d := math.Abs(actual[i]) + math.Abs(fc[i])
		if d > 0 {
			s += 200 * math.Abs(actual[i]-fc[i]) / d
		}
	}
	return s / float64(len(actual))
}
