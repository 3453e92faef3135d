package insights

// Sampling interval, regularisation and seasonal-period detection.
//
// Device series arrive with jitter, gaps, bursts and duplicates; the models
// (seasonal naive, ETS) need one value per step. So a series is first put on
// a regular grid:
//
//  1. The sampling interval is the median of the positive differences between
//     consecutive times (robust to gaps, bursts and jitter), snapped to a
//     "round" interval (1 s, 1 min, 5 min, 1 h, …) when within 10 % of one,
//     so that a day is a whole number of steps.
//  2. The grid's phase is the circular mean of the times modulo the step
//     snapped to a sixtieth of the step (so jittered hourly samples land on
//     the hour), and it starts at the
//     grid time nearest the first point; slot i covers
//     [t0 + (i-½)·step, t0 + (i+½)·step). Points falling in one slot are
//     averaged.
//  3. Empty slots (gaps) are filled by linear interpolation between the
//     nearest observed slots on each side. Then, once the period m is known,
//     gaps longer than one step are refilled with the seasonal pattern (the
//     value one period earlier, shifted so the gap's ends still match), so a
//     long outage does not flatten the daily cycle the models learn.
//
// Period detection: the candidates are the slots per day and per week of the
// grid step (24 and 168 for hourly data, 1440 and 10080 for minute data,
// 86400 for second data, …) that fit at least twice in the series. For each
// candidate m the series is detrended by a centred moving average of length
// m (2×m for even m, which removes a period-m pattern from the trend
// estimate) and the autocorrelation of the remainder at lag m is taken.
// A candidate counts when that autocorrelation is at least minSeasonalACF
// and above the 90 % significance bound used by the M4 benchmarks'
// seasonality test (1.645/√n·√(1+2·Σacf²), here with the single lag).
// A candidate that is a multiple of a shorter significant one (a week of
// hours) is judged after the shorter one's mean pattern is removed too,
// since a daily pattern alone also repeats weekly. The strongest candidate
// wins; a longer one must beat a shorter one by preferLongerBy.

import (
	"fmt"
	"math"
	"slices"
	"time"
)

const (
	// minSeasonalACF is the least autocorrelation at the seasonal lag (after
	// detrending) for a period to count. Random walks and AR(1) noise stay
	// well below it once detrended; a daily cycle a tenth the noise's size
	// reaches it.
	minSeasonalACF = 0.2
	// preferLongerBy is how much higher a longer candidate's autocorrelation
	// must be to win over a shorter one (weekly over daily).
	preferLongerBy = 0.05
	// maxGridFactor bounds the regular grid to this many times the number of
	// input points: a series with a few points years apart would otherwise
	// ask for an enormous grid of interpolated values.
	maxGridFactor = 50
	// maxGrid bounds the grid's absolute size.
	maxGrid = 20_000_000
)

// roundIntervals are the sampling intervals a measured median snaps to.
var roundIntervals = []time.Duration{
	time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour,
}

// SamplingInterval returns a series' sampling interval: the median of the
// positive differences between consecutive times, snapped to a round
// interval (1 s, 1 min, 1 h, …) when within 10 % of one. It returns 0 when
// there are fewer than two distinct times. times must be ascending.
func SamplingInterval(times []int64) time.Duration {
	diffs := make([]int64, 0, len(times))
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > 0 {
			diffs = append(diffs, d)
		}
	}
	if len(diffs) == 0 {
		return 0
	}
	slices.Sort(diffs)
	med := diffs[len(diffs)/2]
	if len(diffs)%2 == 0 {
		med = diffs[len(diffs)/2-1]/2 + med/2
	}
	for _, r := range roundIntervals {
		if math.Abs(float64(med-int64(r))) <= 0.1*float64(r) {
			return r
		}
	}
	return time.Duration(med)
}

// CandidatePeriods returns the seasonal periods, in steps of interval, worth
// testing on a series of n regular steps: a day and a week, when each is at
// least 2 steps and fits at least twice in n.
func CandidatePeriods(interval time.Duration, n int) []int {
	if interval <= 0 {
		return nil
	}
	var out []int
	for _, span := range []time.Duration{24 * time.Hour, 7 * 24 * time.Hour} {
		m := int(math.Round(float64(span) / float64(interval)))
		if m >= 2 && 2*m <= n && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// PeriodScore is a candidate period and its autocorrelation at that lag
// after detrending.
type PeriodScore struct {
	Period int
	ACF    float64
	// Significant says whether ACF passed the detection thresholds.
	Significant bool
}

// DetectPeriod picks the seasonal period of regularly sampled values among
// candidates (see CandidatePeriods): the candidate with the highest
// autocorrelation at its lag after detrending by a centred moving average,
// when that is significant. It returns 1 (no seasonality) when no candidate
// is, and the score of every candidate, in the order given. Candidates that
// do not fit twice in values are skipped.
func DetectPeriod(values []float64, candidates []int) (int, []PeriodScore) {
	best, bestACF := 1, math.Inf(-1)
	scores := make([]PeriodScore, 0, len(candidates))
	sorted := slices.Clone(candidates)
	slices.Sort(sorted)
	for _, m := range sorted {
		if m < 2 || 2*m > len(values) {
			continue
		}
		// A longer period that is a multiple of a significant shorter one
		// (a week of hours) is judged on what the shorter cycle leaves:
		// a daily pattern alone repeats weekly too.
		sub := 0
		for _, ps := range scores {
			if ps.Significant && m%ps.Period == 0 {
				sub = ps.Period
			}
		}
		acf, n := seasonalACF(values, m, sub)
		bound := 1.645 / math.Sqrt(float64(max(n, 1))) * math.Sqrt(1+2*acf*acf)
		ps := PeriodScore{Period: m, ACF: acf, Significant: acf >= minSeasonalACF && acf > bound}
		scores = append(scores, ps)
		if !ps.Significant {
			continue
		}
		if best == 1 || acf > bestACF+preferLongerBy {
			best, bestACF = m, acf
		}
	}
	// Report in the caller's order.
	slices.SortStableFunc(scores, func(a, b PeriodScore) int {
		return slices.Index(candidates, a.Period) - slices.Index(candidates, b.Period)
	})
	return best, scores
}

// seasonalACF returns the lag-m autocorrelation of y minus its centred
// moving average of length m, and the number of detrended values it used.
// When sub > 1 the mean pattern of period sub is removed from the detrended
// values first.
func seasonalACF(y []float64, m, sub int) (float64, int) {
	n := len(y)
	half := m / 2
	if n < m+2*half+2 {
		return 0, 0
	}
	prefix := make([]float64, n+1)
	for i, v := range y {
		prefix[i+1] = prefix[i] + v
	}
	// r[t-half] = y[t] - MA(t) for t in [half, n-half).
	r := make([]float64, 0, n-2*half)
	for t := half; t < n-half; t++ {
		var ma float64
		if m%2 == 1 {
			ma = (prefix[t+half+1] - prefix[t-half]) / float64(m)
		} else {
			// 2×m: half weight on the two ends.
			ma = (prefix[t+half]-prefix[t-half+1])/float64(m) + (y[t-half]+y[t+half])/(2*float64(m))
		}
		r = append(r, y[t]-ma)
	}
	if sub > 1 {
		profile := make([]float64, sub)
		count := make([]int, sub)
		for i, v := range r {
			profile[(i+half)%sub] += v
			count[(i+half)%sub]++
		}
		for i := range r {
			r[i] -= profile[(i+half)%sub] / float64(count[(i+half)%sub])
		}
	}
	var mean float64
	for _, v := range r {
		mean += v
	}
	mean /= float64(len(r))
	var num, den float64
	for i, v := range r {
		d := v - mean
		den += d * d
		if i+m < len(r) {
			num += d * (r[i+m] - mean)
		}
	}
	if den == 0 {
		return 0, len(r)
	}
	return num / den, len(r)
}

// grid is a series regularised on a fixed step.
type grid struct {
	t0, step int64
	y        []float64
	observed []bool // slot had at least one input point
	slot     []int  // per input point, its slot
	filled   int    // slots without an input point
}

func (g *grid) time(i int) int64 { return g.t0 + int64(i)*g.step }

// validate checks a series and names what is wrong.
func validate(s Series) error {
	if len(s.Times) != len(s.Values) {
		return fmt.Errorf("series has %d times but %d values", len(s.Times), len(s.Values))
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("value %d (time %s) is %v: drop or fill missing values first",
				i, time.Unix(0, s.Times[i]).UTC().Format(time.RFC3339Nano), v)
		}
		if i > 0 && s.Times[i] < s.Times[i-1] {
			return fmt.Errorf("times are not ascending: point %d (%s) is before point %d (%s)",
				i, time.Unix(0, s.Times[i]).UTC().Format(time.RFC3339Nano),
				i-1, time.Unix(0, s.Times[i-1]).UTC().Format(time.RFC3339Nano))
		}
	}
	return nil
}

// regularize puts a valid series on a grid of step interval (see the file
// comment).
func regularize(s Series, interval time.Duration) (*grid, error) {
	n := len(s.Times)
	step := int64(interval)
	if n == 0 || step <= 0 {
		return nil, fmt.Errorf("series has %d points and no sampling interval", n)
	}
	t0 := gridStart(s.Times, step)
	slots := (s.Times[n-1]-t0+step/2)/step + 1
	if slots > int64(maxGridFactor)*int64(n) || slots > maxGrid {
		return nil, fmt.Errorf("sampling too irregular: %d points over %d steps of %s (at most %d× as many steps as points)",
			n, slots, interval, maxGridFactor)
	}
	g := &grid{t0: t0, step: step, y: make([]float64, slots), observed: make([]bool, slots), slot: make([]int, n)}
	count := make([]int32, slots)
	for i, t := range s.Times {
		k := int((t - t0 + step/2) / step)
		g.slot[i] = k
		g.y[k] += s.Values[i]
		count[k]++
	}
	prev := -1
	for k := range g.y {
		if count[k] == 0 {
			g.filled++
			continue
		}
		g.y[k] /= float64(count[k])
		g.observed[k] = true
		if prev >= 0 && k-prev > 1 {
			a, b := g.y[prev], g.y[k]
			for j := prev + 1; j < k; j++ {
				f := float64(j-prev) / float64(k-prev)
				g.y[j] = a + f*(b-a)
			}
		}
		prev = k
	}
	return g, nil
}

// gridStart returns the grid time nearest times[0] whose phase modulo step
// is the circular mean of the times' phases.
func gridStart(times []int64, step int64) int64 {
	var sx, sy float64
	for _, t := range times {
		ph := ((t % step) + step) % step
		a := 2 * math.Pi * float64(ph) / float64(step)
		sx += math.Cos(a)
		sy += math.Sin(a)
	}
	phase := int64(0)
	if sx != 0 || sy != 0 {
		a := math.Atan2(sy, sx)
		if a < 0 {
			a += 2 * math.Pi
		}
		phase = int64(math.Round(a / (2 * math.Pi) * float64(step)))
		// Jitter moves the mean a little: snap it to a sixtieth of the step
		// (the minute of an hourly series), so clean phases come out clean.
		if g := step / 60; g > 0 && step%60 == 0 {
			phase = (phase + g/2) / g * g
		}
		if phase >= step {
			phase -= step
		}
	}
	t := times[0]
	off := (((t - phase) % step) + step) % step // t − off is on the grid
	if off > step/2 {
		return t - off + step
	}
	return t - off
}

// fillSeasonal refills gaps longer than one step with the seasonal pattern
// of period m: the value one period earlier (already filled), plus a linear
// correction so the gap still meets its observed ends. Gaps in the first
// period keep their linear interpolation.
func (g *grid) fillSeasonal(m int) {
	if m < 2 || g.filled == 0 {
		return
	}
	y, obs := g.y, g.observed
	for k := 0; k < len(y); {
		if obs[k] {
			k++
			continue
		}
		start := k // first empty slot
		for k < len(y) && !obs[k] {
			k++
		}
		end := k // first observed slot after the gap
		if end-start < 2 || start-1 < 0 || end >= len(y) || start-1-m < 0 {
			continue
		}
		// Seasonal shape: y[j-m] relative to the line through the
		// previous period's values at the gap's ends.
		a0, b0 := y[start-1-m], y[end-m]
		a1, b1 := y[start-1], y[end]
		L := float64(end - start + 1)
		for j := start; j < end; j++ {
			f := float64(j-start+1) / L
			y[j] = y[j-m] + (a1-a0)*(1-f) + (b1-b0)*f
		}
	}
}
