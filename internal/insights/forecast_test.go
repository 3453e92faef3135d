package insights

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

const hour = int64(time.Hour)

// hourly returns a series of values at one per hour from 2025-01-01.
func hourly(values []float64) Series {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	s := Series{Times: make([]int64, len(values)), Values: values}
	for i := range values {
		s.Times[i] = t0 + int64(i)*hour
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestHoltWintersHandComputed runs ETS(A,A,A) with given parameters and
// initial states over a short series and checks every state against values
// worked out by hand (the arithmetic is in the comments), and against the
// textbook Holt-Winters form with β* = β/α and γ* = γ/(1−α).
func TestHoltWintersHandComputed(t *testing.T) {
	sp := etsSpec{trend: true, m: 2}
	p := etsParams{alpha: 0.5, beta: 0.1, gamma: 0.2, phi: 1}
	y := []float64{13, 10, 15, 12}
	st := etsState{l: 10, b: 1, s: []float64{1, -1}}
	// t=0: ŷ = 10 + 1 + 1 = 12, e = 1
	//      ℓ = 11 + 0.5 = 11.5, b = 1 + 0.1 = 1.1, s0 = 1 + 0.2 = 1.2
	// t=1: ŷ = 11.5 + 1.1 − 1 = 11.6, e = −1.6
	//      ℓ = 12.6 − 0.8 = 11.8, b = 1.1 − 0.16 = 0.94, s1 = −1 − 0.32 = −1.32
	// t=2: ŷ = 11.8 + 0.94 + 1.2 = 13.94, e = 1.06
	//      ℓ = 12.74 + 0.53 = 13.27, b = 0.94 + 0.106 = 1.046, s0 = 1.2 + 0.212 = 1.412
	// t=3: ŷ = 13.27 + 1.046 − 1.32 = 12.996, e = −0.996
	//      ℓ = 14.316 − 0.498 = 13.818, b = 1.046 − 0.0996 = 0.9464, s1 = −1.32 − 0.1992 = −1.5192
	// SSE = 1 + 2.56 + 1.1236 + 0.992016 = 5.675616
	fitted := make([]float64, len(y))
	sse := sp.run(y, p, &st, fitted)
	const tol = 1e-9
	for i, want := range []float64{12, 11.6, 13.94, 12.996} {
		if !near(fitted[i], want, tol) {
			t.Errorf("one-step forecast %d = %v, want %v", i, fitted[i], want)
		}
	}
	if !near(sse, 5.675616, tol) {
		t.Errorf("SSE = %v, want 5.675616", sse)
	}
	if !near(st.l, 13.818, tol) || !near(st.b, 0.9464, tol) || !near(st.s[0], 1.412, tol) || !near(st.s[1], -1.5192, tol) {
		t.Errorf("final states ℓ=%v b=%v s=%v, want 13.818 0.9464 [1.412 -1.5192]", st.l, st.b, st.s)
	}
	// h=1: 13.818 + 0.9464 + 1.412 = 16.1764; h=2: 13.818 + 1.8928 − 1.5192 = 14.1916;
	// h=3: 13.818 + 2.8392 + 1.412 = 18.0692
	fc := sp.forecast(nil, p, &st, 3)
	for i, want := range []float64{16.1764, 14.1916, 18.0692} {
		if !near(fc[i], want, tol) {
			t.Errorf("forecast h=%d = %v, want %v", i+1, fc[i], want)
		}
	}

	// The textbook form gives the same states.
	a, bs, gs := p.alpha, p.beta/p.alpha, p.gamma/(1-p.alpha)
	l, b, s := 10.0, 1.0, []float64{1, -1}
	for i, v := range y {
		lPrev := l
		l = a*(v-s[i%2]) + (1-a)*(l+b)
		b = bs*(l-lPrev) + (1-bs)*b
		s[i%2] = gs*(v-l) + (1-gs)*s[i%2]
	}
	if !near(l, st.l, tol) || !near(b, st.b, tol) || !near(s[0], st.s[0], tol) || !near(s[1], st.s[1], tol) {
		t.Errorf("textbook Holt-Winters ends at ℓ=%v b=%v s=%v, state-space form at ℓ=%v b=%v s=%v", l, b, s, st.l, st.b, st.s)
	}
}

// TestETSVariances checks σ_h²/σ² against hand-computed values and, for
// ETS(A,A,A), against fpp3's closed form.
func TestETSVariances(t *testing.T) {
	tests := []struct {
		name string
		sp   etsSpec
		p    etsParams
		want []float64
	}{
		// c_j = α + βj + γ[j mod 2 = 0]: c1 = 0.6, c2 = 0.9, c3 = 0.8
		// → 1, 1 + 0.36, 1.36 + 0.81, 2.17 + 0.64
		{"AAA", etsSpec{trend: true, m: 2}, etsParams{alpha: 0.5, beta: 0.1, gamma: 0.2, phi: 1}, []float64{1, 1.36, 2.17, 2.81}},
		// c_j = α + β(φ+…+φ^j): c1 = 0.5 + 0.09 = 0.59, c2 = 0.5 + 0.1·1.71 = 0.671
		// → 1, 1.3481, 1.3481 + 0.450241
		{"AAdN", etsSpec{trend: true, damped: true}, etsParams{alpha: 0.5, beta: 0.1, phi: 0.9}, []float64{1, 1.3481, 1.798341}},
		// c_j = α + γ[j mod 3 = 0]: 0.3, 0.3, 0.4 → 1, 1.09, 1.18, 1.34
		{"ANA", etsSpec{m: 3}, etsParams{alpha: 0.3, gamma: 0.1}, []float64{1, 1.09, 1.18, 1.34}},
		// c_j = α: 1 + (h−1)α²
		{"ANN", etsSpec{}, etsParams{alpha: 0.2}, []float64{1, 1.04, 1.08}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.sp.variances(nil, tc.p, len(tc.want))
			for i := range tc.want {
				if !near(got[i], tc.want[i], 1e-12) {
					t.Errorf("h=%d: %v, want %v", i+1, got[i], tc.want[i])
				}
			}
		})
	}
	// The sum form and the closed form agree for ETS(A,A,A), m = 24.
	sp := etsSpec{trend: true, m: 24}
	p := etsParams{alpha: 0.31, beta: 0.02, gamma: 0.17, phi: 1}
	got := sp.variances(nil, p, 100)
	for h := 1; h <= 100; h++ {
		if want := aaaVarianceClosed(p, 24, h); !near(got[h-1], want, 1e-9*want) {
			t.Fatalf("h=%d: sum form %v, closed form %v", h, got[h-1], want)
		}
	}
}

// TestIntervalWidths checks the bands Forecast returns: seasonal naive's
// σ·√(k+1) and ETS's σ·√(1+Σc_j²), times the normal quantile.
func TestIntervalWidths(t *testing.T) {
	// Seasonal naive, period 4: y − y₋₄ is ±1 throughout, so σ = 1.
	pattern := []float64{5, 9, 2, 7}
	var v []float64
	for c := range 10 {
		d := 0.5
		if c%2 == 1 {
			d = -0.5
		}
		for _, p := range pattern {
			v = append(v, p+d)
		}
	}
	res, err := Forecast(hourly(v), ForecastOptions{Horizon: 9, Level: 0.95, Model: "snaive", Period: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !near(res.Params.Sigma, 1, 1e-12) {
		t.Fatalf("σ = %v, want 1", res.Params.Sigma)
	}
	const z95 = 1.959963984540054
	// k = ⌊(h−1)/4⌋: h 1–4 → 1.96, 5–8 → 1.96·√2 = 2.7718, 9 → 1.96·√3 = 3.3948
	for h, want := range []float64{1.959964, 1.959964, 1.959964, 1.959964, 2.771808, 2.771808, 2.771808, 2.771808, 3.394757} {
		p := res.Forecast[h]
		if !near(p.Upper-p.Expected, want, 1e-6) || !near(p.Expected-p.Lower, want, 1e-6) {
			t.Errorf("h=%d: band %v..%v around %v, want ±%v", h+1, p.Lower, p.Upper, p.Expected, want)
		}
		// The last cycle (d = −0.5) repeats.
		if wantE := pattern[h%4] - 0.5; p.Expected != wantE {
			t.Errorf("h=%d: expected %v, want %v", h+1, p.Expected, wantE)
		}
	}
	// At 80 %: z = 1.2816.
	res80, err := Forecast(hourly(v), ForecastOptions{Horizon: 5, Level: 80, Model: "snaive", Period: 4})
	if err != nil {
		t.Fatal(err)
	}
	if w := res80.Forecast[4].Upper - res80.Forecast[4].Expected; !near(w, 1.2815516*math.Sqrt2, 1e-6) {
		t.Errorf("80%% band at h=5: ±%v, want ±%v", w, 1.2815516*math.Sqrt2)
	}

	// ETS: the band is z·σ·√(variance factor) with the fitted parameters.
	rng := rand.New(rand.NewPCG(1, 2))
	y := make([]float64, 24*20)
	for i := range y {
		y[i] = 50 + 10*math.Sin(2*math.Pi*float64(i)/24) + 0.05*float64(i) + rng.NormFloat64()
	}
	res, err = Forecast(hourly(y), ForecastOptions{Horizon: 30, Model: ModelAAA})
	if err != nil {
		t.Fatal(err)
	}
	pp := res.Params
	sp := etsSpec{trend: true, m: 24}
	vars := sp.variances(nil, etsParams{alpha: pp.Alpha, beta: pp.Beta, gamma: pp.Gamma, phi: 1}, 30)
	for h, p := range res.Forecast {
		want := z95 * pp.Sigma * math.Sqrt(vars[h])
		if !near(p.Upper-p.Expected, want, 1e-9*want) {
			t.Errorf("h=%d: ETS band ±%v, want ±%v", h+1, p.Upper-p.Expected, want)
		}
		if h+1 == 25 { // cross-check with the closed form
			c := z95 * pp.Sigma * math.Sqrt(aaaVarianceClosed(etsParams{alpha: pp.Alpha, beta: pp.Beta, gamma: pp.Gamma}, 24, 25))
			if !near(p.Upper-p.Expected, c, 1e-9*c) {
				t.Errorf("h=25: band ±%v, closed form ±%v", p.Upper-p.Expected, c)
			}
		}
	}
	if res.Period != 24 || res.Model != ModelAAA {
		t.Errorf("model %s period %d, want %s 24", res.Model, res.Period, ModelAAA)
	}
}

// TestFitRecoversParameters fits ETS(A,N,A) to data simulated from it.
func TestFitRecoversParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const m, n = 24, 24 * 60
	alpha, gamma := 0.3, 0.1
	l := 100.0
	s := make([]float64, m)
	for j := range s {
		s[j] = 10 * math.Sin(2*math.Pi*float64(j)/m)
	}
	y := make([]float64, n)
	for i := range y {
		e := rng.NormFloat64()
		y[i] = l + s[i%m] + e
		l += alpha * e
		s[i%m] += gamma * e
	}
	f, err := fitETS(y, etsSpec{m: m})
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.params.alpha, alpha, 0.08) || !near(f.params.gamma, gamma, 0.08) {
		t.Errorf("fitted α=%.3f γ=%.3f, simulated with α=%.2f γ=%.2f", f.params.alpha, f.params.gamma, alpha, gamma)
	}
	if sigma := math.Sqrt(f.sigma2); !near(sigma, 1, 0.1) {
		t.Errorf("σ = %.3f, simulated with 1", sigma)
	}
}

// TestForecastPureSeasonal: a noiseless seasonal series is forecast almost
// exactly by every model.
func TestForecastPureSeasonal(t *testing.T) {
	truth := func(i int) float64 {
		return 20 + 5*math.Sin(2*math.Pi*float64(i)/24) + 2*math.Cos(2*math.Pi*float64(i)/12)
	}
	y := make([]float64, 24*14)
	for i := range y {
		y[i] = truth(i)
	}
	for _, model := range []string{ModelAuto, ModelSNaive, ModelETS, ModelANA, ModelAAA, ModelAAdA} {
		t.Run(model, func(t *testing.T) {
			res, err := Forecast(hourly(y), ForecastOptions{Horizon: 48, Model: model})
			if err != nil {
				t.Fatal(err)
			}
			if res.Period != 24 {
				t.Errorf("period %d, want 24", res.Period)
			}
			for h, p := range res.Forecast {
				if !near(p.Expected, truth(len(y)+h), 0.05) {
					t.Fatalf("h=%d: %v, want %v (model %s)", h+1, p.Expected, truth(len(y)+h), res.Model)
				}
				if !math.IsNaN(p.Value) {
					t.Fatalf("h=%d: value %v, want NaN", h+1, p.Value)
				}
				if want := hourly(y).Times[len(y)-1] + int64(h+1)*hour; p.Time != want {
					t.Fatalf("h=%d: time %d, want %d", h+1, p.Time, want)
				}
			}
		})
	}
}

// TestForecastGapsAndJitter: irregular sampling with a long gap still
// yields a forecast on the hourly grid and one fitted row per input point.
func TestForecastGapsAndJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var s Series
	for i := range 24 * 21 {
		if i >= 200 && i < 230 { // a 30-hour outage
			continue
		}
		jitter := int64(rng.IntN(10*60)-5*60) * int64(time.Second)
		s.Times = append(s.Times, t0+int64(i)*hour+jitter)
		s.Values = append(s.Values, 10+3*math.Sin(2*math.Pi*float64(i)/24)+0.3*rng.NormFloat64())
	}
	res, err := Forecast(s, ForecastOptions{Horizon: 24})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interval != time.Hour || res.Period != 24 {
		t.Errorf("interval %s period %d, want 1h 24", res.Interval, res.Period)
	}
	if res.Filled != 30 || res.Steps != 24*21 {
		t.Errorf("steps %d filled %d, want %d 30", res.Steps, res.Filled, 24*21)
	}
	if len(res.Fitted) != s.Len() {
		t.Fatalf("%d fitted rows for %d points", len(res.Fitted), s.Len())
	}
	for i, p := range res.Fitted {
		if p.Time != s.Times[i] || p.Value != s.Values[i] {
			t.Fatalf("fitted row %d is (%d, %v), input (%d, %v)", i, p.Time, p.Value, s.Times[i], s.Values[i])
		}
	}
	if got, want := res.Forecast[0].Time, t0+int64(24*21)*hour; got != want {
		t.Errorf("first forecast at %s, want %s", time.Unix(0, got).UTC(), time.Unix(0, want).UTC())
	}
	for h, p := range res.Forecast {
		truth := 10 + 3*math.Sin(2*math.Pi*float64(24*21+h)/24)
		if !(truth > p.Lower-0.5 && truth < p.Upper+0.5) {
			t.Errorf("h=%d: truth %v far outside %v..%v", h+1, truth, p.Lower, p.Upper)
		}
	}
	if len(res.Holdout) == 0 {
		t.Error("auto reported no holdout scores")
	}
}

// TestForecastNonSeasonal: a trending series without seasonality gets a
// non-seasonal model that follows the trend.
func TestForecastNonSeasonal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	y := make([]float64, 300)
	for i := range y {
		y[i] = 2*float64(i) + rng.NormFloat64()
	}
	res, err := Forecast(hourly(y), ForecastOptions{Horizon: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Period != 1 {
		t.Errorf("period %d, want 1", res.Period)
	}
	if got := res.Forecast[9].Expected; !near(got, 2*309, 10) {
		t.Errorf("h=10: %v, want about %v (model %s)", got, 2*309, res.Model)
	}
}

func TestForecastErrors(t *testing.T) {
	good := make([]float64, 100)
	for i := range good {
		good[i] = float64(i % 7)
	}
	nan := append([]float64(nil), good...)
	nan[17] = math.NaN()
	unordered := hourly(append([]float64(nil), good...))
	unordered.Times[50], unordered.Times[51] = unordered.Times[51], unordered.Times[50]
	same := hourly([]float64{1, 2, 3, 4, 5})
	for i := range same.Times {
		same.Times[i] = same.Times[0]
	}
	tests := []struct {
		name string
		s    Series
		opts ForecastOptions
		want string
	}{
		{"horizon 0", hourly(good), ForecastOptions{}, "horizon 0"},
		{"horizon negative", hourly(good), ForecastOptions{Horizon: -3}, "horizon -3"},
		{"NaN", hourly(nan), ForecastOptions{Horizon: 5}, "value 17"},
		{"too short", hourly([]float64{1, 2, 3}), ForecastOptions{Horizon: 5}, "too short: 3 points"},
		{"empty", Series{}, ForecastOptions{Horizon: 5}, "too short: 0 points"},
		{"one time", same, ForecastOptions{Horizon: 5}, "same time"},
		{"lengths", Series{Times: []int64{1, 2}, Values: []float64{1}}, ForecastOptions{Horizon: 5}, "2 times but 1 values"},
		{"unordered", unordered, ForecastOptions{Horizon: 5}, "not ascending"},
		{"model", hourly(good), ForecastOptions{Horizon: 5, Model: "arima"}, `unknown model "arima"`},
		{"level", hourly(good), ForecastOptions{Horizon: 5, Level: 150}, "level 150"},
		{"period too long", hourly(good), ForecastOptions{Horizon: 5, Period: 60}, "too short for period 60"},
		{"period negative", hourly(good), ForecastOptions{Horizon: 5, Period: -1}, "period -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Forecast(tc.s, tc.opts)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "insights: forecast: ") {
				t.Errorf("error %q, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeLevel(t *testing.T) {
	for _, tc := range []struct {
		in, want float64
		ok       bool
	}{{0, 0.95, true}, {0.8, 0.8, true}, {80, 0.8, true}, {99.5, 0.995, true}, {1, 0, false}, {100, 0, false}, {-1, 0, false}, {math.NaN(), 0, false}} {
		got, err := NormalizeLevel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !near(got, tc.want, 1e-12)) {
			t.Errorf("NormalizeLevel(%v) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMetrics(t *testing.T) {
	insample := []float64{1, 2, 3, 5, 4, 6} // m=2 diffs: 2, 3, 1, 1 → scale 1.75
	actual := []float64{10, 20}
	fc := []float64{12, 20}
	if got := MASE(actual, fc, insample, 2); !near(got, 1/1.75, 1e-12) {
		t.Errorf("MASE = %v, want %v", got, 1/1.75)
	}
	// 200·2/22 / 2 = 9.0909…
	if got := SMAPE(actual, fc); !near(got, 200.0/22, 1e-12) {
		t.Errorf("sMAPE = %v, want %v", got, 200.0/22)
	}
	if got := SMAPE([]float64{0}, []float64{0}); got != 0 {
		t.Errorf("sMAPE of 0 vs 0 = %v, want 0", got)
	}
}

// FuzzForecast: arbitrary series never panic; a result is well formed.
func FuzzForecast(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, uint8(5), uint8(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 1, 1, 1, 1}, uint8(48), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, horizon, period uint8) {
		// Each pair of bytes: a time step (0..255 minutes) and a value.
		var s Series
		var tm int64
		for i := 0; i+1 < len(data); i += 2 {
			tm += int64(data[i]) * int64(time.Minute)
			s.Times = append(s.Times, tm)
			s.Values = append(s.Values, float64(int8(data[i+1])))
		}
		res, err := Forecast(s, ForecastOptions{Horizon: int(horizon), Period: int(period % 8)})
		if err != nil {
			return
		}
		if len(res.Forecast) != int(horizon) || len(res.Fitted) != s.Len() {
			t.Fatalf("%d forecast rows for horizon %d, %d fitted for %d points", len(res.Forecast), horizon, len(res.Fitted), s.Len())
		}
		for _, p := range res.Forecast {
			if math.IsNaN(p.Expected) || p.Lower > p.Expected || p.Upper < p.Expected {
				t.Fatalf("bad forecast row %+v", p)
			}
		}
	})
}
