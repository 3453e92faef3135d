package insights

// Exponential smoothing with additive errors: ETS(A,N,N), (A,A,N),
// (A,Ad,N), (A,N,A), (A,A,A) = additive Holt-Winters, and (A,Ad,A).
//
// State-space form (Hyndman, Koehler, Ord & Snyder, "Forecasting with
// Exponential Smoothing: the State Space Approach", Springer 2008, ch. 2 and
// Table 2.1; fpp3 §8.5, https://otexts.com/fpp3/ets.html), with level ℓ,
// trend b, seasonal states s and damping φ (φ = 1 undamped, b = 0 without
// trend, s = 0 without season):
//
//	ŷ_t  = ℓ_{t-1} + φ·b_{t-1} + s_{t-m}          (one-step forecast)
//	e_t  = y_t − ŷ_t
//	ℓ_t  = ℓ_{t-1} + φ·b_{t-1} + α·e_t
//	b_t  = φ·b_{t-1} + β·e_t
//	s_t  = s_{t-m} + γ·e_t
//	ŷ_{T+h|T} = ℓ_T + (φ+φ²+…+φ^h)·b_T + s_{T+h-m(k+1)},  k = ⌊(h−1)/m⌋
//
// This is Holt-Winters' additive method in error-correction form: the
// textbook smoothing parameters (α, β*, γ*) map to these by β = α·β* and
// γ = (1−α)·γ* (fpp3 §8.3 and §8.5). Parameters are reported in the ETS
// form, as R's forecast::ets does.
//
// Fitting: α, β, γ, φ minimise the in-sample sum of squared one-step errors
// (for additive Gaussian errors with fixed initial states this is the
// maximum-likelihood estimate) with gonum's Nelder–Mead, over the "usual"
// region of R's ets: 1e-4 ≤ α ≤ 0.9999, 1e-4 ≤ β < α, 1e-4 ≤ γ < 1−α,
// 0.8 ≤ φ ≤ 0.98. The optimiser works on unbounded variables mapped into that
// region by logistic functions, so every point it tries is admissible.
// Initial states come from a classical decomposition of the first cycles
// (see initStates) and are not optimised: that keeps a seasonal fit to 2–4
// variables whatever m is (R optimises them too, and refuses m > 24).
//
// Prediction intervals (class 1 models: linear, homoscedastic): the h-step
// forecast variance is
//
//	σ_h² = σ²·(1 + Σ_{j=1}^{h−1} c_j²),  c_j = α + β·φ_j + γ·[j mod m = 0],
//	φ_j = φ + φ² + … + φ^j  (= j undamped),
//
// Hyndman et al. (2008) §6.3, Table 6.1, and fpp3 §8.7 Table 8.8; R
// forecast's class1() computes the same c_j = H·F^{j−1}·G. For ETS(A,A,A)
// this is the closed form (fpp3 Table 8.8)
//
//	σ_h² = σ²·[1 + (h−1)·{α² + αβh + β²h(2h−1)/6} + γk·{2α + γ + βm(k+1)}].
//
// σ² = SSE/(n − p), p the number of smoothing parameters plus the initial
// level and trend. R's ets also counts the initial seasonal states, which it
// fits; here they come from the decomposition, and counting them widened
// weekly (m = 168) models' bands by about 10 %, over-covering on M4 Hourly.

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Parameter bounds, as R forecast::ets's defaults.
const (
	boundLo  = 1e-4
	boundHi  = 0.9999
	phiLo    = 0.8
	phiHi    = 0.98
	maxEvals = 2000 // Nelder–Mead function evaluations per fit
)

// etsSpec is one ETS model shape.
type etsSpec struct {
	trend, damped bool
	m             int // seasonal period; ≤ 1 means no season
}

func (sp etsSpec) seasonal() bool { return sp.m > 1 }

func (sp etsSpec) String() string {
	t, s := "N", "N"
	if sp.trend {
		t = "A"
		if sp.damped {
			t = "Ad"
		}
	}
	if sp.seasonal() {
		s = "A"
	}
	return "ets(A," + t + "," + s + ")"
}

// nparams is the number of smoothing parameters.
func (sp etsSpec) nparams() int {
	k := 1
	if sp.trend {
		k++
		if sp.damped {
			k++
		}
	}
	if sp.seasonal() {
		k++
	}
	return k
}

// nstates is the number of free initial states (seasonal states sum to 0).
func (sp etsSpec) nstates() int {
	k := 1
	if sp.trend {
		k++
	}
	if sp.seasonal() {
		k += sp.m - 1
	}
	return k
}

// minLen is the shortest series the model can be fitted on.
func (sp etsSpec) minLen() int {
	if sp.seasonal() {
		return 2 * sp.m
	}
	return sp.nparams() + sp.nstates() + 2
}

// etsParams are the smoothing parameters in ETS form.
type etsParams struct {
	alpha, beta, gamma, phi float64
}

// etsState is the model state after some observations. s is a ring: the
// seasonal state for time t (0-based from the first observation) is
// s[t mod m].
type etsState struct {
	l, b float64
	s    []float64
	t    int // number of observations consumed
}

func (st *etsState) copyFrom(o *etsState) {
	st.l, st.b, st.t = o.l, o.b, o.t
	st.s = append(st.s[:0], o.s...)
}

// run applies the recursions to y, advancing st, and returns the sum of
// squared one-step errors. When fitted is not nil, fitted[i] receives the
// one-step forecast of y[i]. The sum is +Inf when the states blow up.
func (sp etsSpec) run(y []float64, p etsParams, st *etsState, fitted []float64) float64 {
	l, b := st.l, st.b
	phi := 1.0
	if sp.damped {
		phi = p.phi
	}
	m := sp.m
	pos := 0
	if m > 1 {
		pos = st.t % m
	}
	var sse float64
	for i, v := range y {
		yhat := l
		if sp.trend {
			yhat += phi * b
		}
		var sOld float64
		if m > 1 {
			sOld = st.s[pos]
			yhat += sOld
		}
		if fitted != nil {
			fitted[i] = yhat
		}
		e := v - yhat
		sse += e * e
		if sp.trend {
			l = l + phi*b + p.alpha*e
			b = phi*b + p.beta*e
		} else {
			l += p.alpha * e
		}
		if m > 1 {
			st.s[pos] = sOld + p.gamma*e
			if pos++; pos == m {
				pos = 0
			}
		}
	}
	st.l, st.b = l, b
	st.t += len(y)
	if math.IsNaN(sse) || math.IsInf(sse, 0) {
		return math.Inf(1)
	}
	return sse
}

// forecast appends the point forecasts for steps 1..h after st.
func (sp etsSpec) forecast(dst []float64, p etsParams, st *etsState, h int) []float64 {
	phiSum := 0.0 // φ + φ² + … + φ^j
	phiPow := 1.0
	for j := 1; j <= h; j++ {
		f := st.l
		if sp.trend {
			if sp.damped {
				phiPow *= p.phi
				phiSum += phiPow
			} else {
				phiSum = float64(j)
			}
			f += phiSum * st.b
		}
		if sp.seasonal() {
			f += st.s[(st.t+j-1)%sp.m]
		}
		dst = append(dst, f)
	}
	return dst
}

// variances appends σ_h²/σ² = 1 + Σ_{j=1}^{h−1} c_j² for h = 1..H (see the
// file comment).
func (sp etsSpec) variances(dst []float64, p etsParams, H int) []float64 {
	acc := 1.0
	phiSum, phiPow := 0.0, 1.0
	for h := 1; h <= H; h++ {
		dst = append(dst, acc)
		j := h // c_j for the next h
		c := p.alpha
		if sp.trend {
			if sp.damped {
				phiPow *= p.phi
				phiSum += phiPow
			} else {
				phiSum = float64(j)
			}
			c += p.beta * phiSum
		}
		if sp.seasonal() && j%sp.m == 0 {
			c += p.gamma
		}
		acc += c * c
	}
	return dst
}

// aaaVarianceClosed is fpp3 Table 8.8's closed form of σ_h²/σ² for
// ETS(A,A,A); tests check variances against it.
func aaaVarianceClosed(p etsParams, m, h int) float64 {
	a, b, g := p.alpha, p.beta, p.gamma
	hf := float64(h)
	k := float64((h - 1) / m)
	return 1 + (hf-1)*(a*a+a*b*hf+b*b*hf*(2*hf-1)/6) + g*k*(2*a+g+b*float64(m)*(k+1))
}

// initStates estimates initial states from the start of y (which holds at
// least sp.minLen() values): a classical decomposition of the first cycles
// gives the seasonal states (summing to 0), and a regression on the first
// max(10, 2m) seasonally adjusted values gives the level and trend one step
// before y[0]. R's ets initialises the same way (initstate in R/ets.R).
func (sp etsSpec) initStates(y []float64) etsState {
	n := len(y)
	st := etsState{}
	m := sp.m
	adj := y
	if sp.seasonal() {
		cycles := min(n/m, 4)
		w := y[:cycles*m]
		st.s = make([]float64, m)
		cnt := make([]int, m)
		if cycles >= 3 {
			// Detrend by a centred moving average of length m (2×m when
			// even), then average by phase.
			half := m / 2
			for t := half; t < len(w)-half; t++ {
				var ma float64
				if m%2 == 1 {
					for j := t - half; j <= t+half; j++ {
						ma += w[j]
					}
					ma /= float64(m)
				} else {
					for j := t - half + 1; j < t+half; j++ {
						ma += w[j]
					}
					ma = (ma + (w[t-half]+w[t+half])/2) / float64(m)
				}
				st.s[t%m] += w[t] - ma
				cnt[t%m]++
			}
		} else {
			// Two cycles: deviations from each cycle's mean.
			for c := 0; c < cycles; c++ {
				var mean float64
				for _, v := range w[c*m : (c+1)*m] {
					mean += v
				}
				mean /= float64(m)
				for j, v := range w[c*m : (c+1)*m] {
					st.s[j] += v - mean
					cnt[j]++
				}
			}
		}
		var sum float64
		for j := range st.s {
			if cnt[j] > 0 {
				st.s[j] /= float64(cnt[j])
			}
			sum += st.s[j]
		}
		for j := range st.s {
			st.s[j] -= sum / float64(m)
		}
		L := min(n, max(10, 2*m))
		adj = make([]float64, L)
		for t := range adj {
			adj[t] = y[t] - st.s[t%m]
		}
	}
	L := min(len(adj), max(10, 2*max(m, 1)))
	// Least squares of adj[t] on t+1 (t+1 = 1..L), so the intercept is the
	// level at time 0, one step before the first value.
	var sx, sy, sxx, sxy float64
	for t := 0; t < L; t++ {
		x := float64(t + 1)
		sx += x
		sy += adj[t]
		sxx += x * x
		sxy += x * adj[t]
	}
	fl := float64(L)
	slope := 0.0
	if d := fl*sxx - sx*sx; d != 0 {
		slope = (fl*sxy - sx*sy) / d
	}
	intercept := (sy - slope*sx) / fl
	if sp.trend {
		st.l, st.b = intercept, slope
	} else {
		st.l = sy / fl
	}
	return st
}

// logistic maps ℝ to (0, 1).
func logistic(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// logit is logistic's inverse.
func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// params maps unbounded optimiser variables into the admissible region.
// Layout: x[0] α, then β (trend), φ (damped), γ (season).
func (sp etsSpec) params(x []float64) etsParams {
	p := etsParams{phi: 1}
	p.alpha = boundLo + (boundHi-boundLo)*logistic(x[0])
	i := 1
	if sp.trend {
		p.beta = boundLo + (p.alpha-boundLo)*logistic(x[i])
		i++
		if sp.damped {
			p.phi = phiLo + (phiHi-phiLo)*logistic(x[i])
			i++
		}
	}
	if sp.seasonal() {
		p.gamma = boundLo + (1-p.alpha-boundLo)*logistic(x[i])
	}
	return p
}

// unparams is params' inverse, for starting values.
func (sp etsSpec) unparams(p etsParams) []float64 {
	clamp := func(v float64) float64 { return min(max(v, 1e-6), 1-1e-6) }
	x := []float64{logit(clamp((p.alpha - boundLo) / (boundHi - boundLo)))}
	if sp.trend {
		x = append(x, logit(clamp((p.beta-boundLo)/(p.alpha-boundLo))))
		if sp.damped {
			x = append(x, logit(clamp((p.phi-phiLo)/(phiHi-phiLo))))
		}
	}
	if sp.seasonal() {
		x = append(x, logit(clamp((p.gamma-boundLo)/(1-p.alpha-boundLo))))
	}
	return x
}

// etsFit is a fitted model.
type etsFit struct {
	spec   etsSpec
	params etsParams
	init   etsState // initial states
	end    etsState // states after the last observation
	sse    float64
	sigma2 float64
	fitted []float64 // one-step forecasts of the input
	n      int
}

// aicc is the small-sample corrected AIC of a fit, with the Gaussian
// likelihood concentrated over σ² (as R's ets: n·log(SSE/n) + …).
func (f *etsFit) aicc() float64 {
	k := float64(f.spec.nparams() + f.spec.nstates() + 1)
	n := float64(f.n)
	if n-k-1 <= 0 {
		return math.Inf(1)
	}
	aic := n*math.Log(f.sse/n) + 2*k
	return aic + 2*k*(k+1)/(n-k-1)
}

// errTooShort is wrapped by fitETS when y is too short for the model.
var errTooShort = errors.New("too short")

// fitETS fits sp to y.
func fitETS(y []float64, sp etsSpec) (*etsFit, error) {
	if len(y) < sp.minLen() {
		return nil, fmt.Errorf("%s needs at least %d values, have %d: %w", sp, sp.minLen(), len(y), errTooShort)
	}
	init := sp.initStates(y)
	work := etsState{s: make([]float64, len(init.s))}
	obj := func(x []float64) float64 {
		work.copyFrom(&init)
		return sp.run(y, sp.params(x), &work, nil)
	}
	// Starting values after R's ets (initparam), with a livelier α: hourly
	// device data moves more than R's seasonal default α = 0.2/m assumes.
	start := etsParams{alpha: 0.2, beta: 0.02, gamma: 0.05, phi: 0.97}
	if !sp.seasonal() {
		start.alpha = 0.5
	}
	x0 := sp.unparams(start)
	res, err := optimize.Minimize(optimize.Problem{Func: obj}, x0, &optimize.Settings{
		FuncEvaluations: maxEvals,
		Converger:       &optimize.FunctionConverge{Relative: 1e-8, Absolute: 1e-12, Iterations: 40},
	}, &optimize.NelderMead{SimplexSize: 1})
	if res == nil {
		return nil, fmt.Errorf("fit %s: %w", sp, err)
	}
	// A limit reached (evaluations, iterations) still leaves the best point
	// found, which is all that is needed.
	x := res.X
	f := &etsFit{spec: sp, params: sp.params(x), init: init, n: len(y), fitted: make([]float64, len(y))}
	f.end = etsState{s: make([]float64, len(init.s))}
	f.end.copyFrom(&init)
	f.sse = sp.run(y, f.params, &f.end, f.fitted)
	if math.IsInf(f.sse, 1) {
		return nil, fmt.Errorf("fit %s: the model diverges on this series", sp)
	}
	dof := len(y) - sp.nparams() - 1 - btoi(sp.trend)
	if dof < 1 {
		dof = 1
	}
	f.sigma2 = f.sse / float64(dof)
	return f, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
