package insights

// Anomaly detection against a learned baseline.
//
// One model serves the batch functions and the streaming Detector, so a
// series scored in a query and the same series scored as the processor
// writes it agree point for point (given the same history). It is a robust
// Holt-Winters filter:
//
//	expected(t) = level + trend·k + daily[slot of day(t)] + weekly[slot of week(t)]
//	residual    = value − expected
//	score       = |residual| / (σ·g)          the robust z of the residual
//	anomaly     = score > Sensitivity         (after a short warm-up)
//
// where k = (t − previous time)/interval is the elapsed time in sampling
// intervals, so gaps and irregular sampling need no binning: updates are
// weighted by k (a level update of α per interval becomes 1−(1−α)^k), the
// trend is extrapolated over the gap (at most maxTrendSteps intervals), and
// the band widens by g = √min(max(k,1), maxGapSteps) because a value is
// harder to predict the longer it was unobserved. The seasonal profiles are
// indexed by the time of day and of week, never by point count.
//
// Robustness to the anomalies themselves: every update uses the residual
// clipped to ±huber·σ (Huber's ψ), so a spike of any size moves the level by
// at most α·huber·σ and the scale by λ·huber·σ. σ is 1.2533 × the
// exponentially weighted mean absolute clipped residual (1.2533 = √(π/2)
// makes it the standard deviation for Gaussian residuals; clipping at 3σ
// lowers that mean by only 0.1 %). So the score is in units of the residual's
// standard deviation: 5 means "five standard deviations from what the
// baseline expected".
//
// Level shifts: a sustained change is first a run of anomalies on one side.
// After confirmPoints consecutive same-side anomalies the level is moved to
// the run's mean (the shift is "confirmed") and the trend reset, so a level
// shift is flagged at its start for confirmPoints points, after which the new
// level is the baseline; its end, if it reverts, is a change again and is
// flagged the same way. A spike or a dip is one point and moves nothing.
//
// Seasonality: the daily profile is used when the series spans at least
// two days (batch) and the weekly one when it spans two weeks; the streaming
// Detector always learns both (they start at zero and cost nothing until the
// data shows a cycle). With fast-sampled data (seconds) the level follows the
// daily cycle by itself and the profiles stay near zero; with slow data
// (minutes, hours) they carry it. Each profile slot learns at about
// seasonDayRate per day it is observed.
//
// Batch detection runs the filter twice over the series: a first pass only
// learns (scale, seasonal profiles), the second starts again at the first
// point with what was learnt and scores, so the start of a series is judged
// as well as its end. Batch and streaming share the filter; a Detector fed
// a series from its start gives the batch's first pass, not its second.

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultSensitivity is the default anomaly threshold: a point is flagged
// when it lies more than 5 robust standard deviations from its expected
// value. On the simulator's data it gives F1 above 0.9 on spikes and dips
// and above 0.8 on level shifts (`sluice bench insights`).
const DefaultSensitivity = 5.0

// Named sensitivities for ParseSensitivity.
const (
	SensitivityLow    = 6.0 // fewer, surer anomalies
	SensitivityMedium = DefaultSensitivity
	SensitivityHigh   = 4.0 // more anomalies, more false alarms
)

// ParseSensitivity turns "low", "medium", "high" or a positive number (the
// z threshold itself) into a threshold for AnomalyOptions.Sensitivity.
func ParseSensitivity(s string) (float64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "medium", "default":
		return SensitivityMedium, nil
	case "low":
		return SensitivityLow, nil
	case "high":
		return SensitivityHigh, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("insights: sensitivity %q: want low, medium, high or a positive number (the z threshold)", s)
	}
	return v, nil
}

// Seasonality selects the seasonal profiles batch detection uses.
type Seasonality int

const (
	// SeasonAuto uses the daily profile when the series spans at least two
	// days and the weekly one when it spans at least two weeks.
	SeasonAuto Seasonality = iota
	// SeasonNone uses neither: level and trend only.
	SeasonNone
	// SeasonDaily uses the daily profile only.
	SeasonDaily
	// SeasonWeekly uses both the daily and the weekly profiles.
	SeasonWeekly
)

// AnomalyOptions configure batch detection. The zero value is valid.
type AnomalyOptions struct {
	// Sensitivity is the z threshold: a point is an anomaly when its score
	// (|value − expected| in robust standard deviations of the residual)
	// exceeds it. Lower flags more. 0 means DefaultSensitivity; see
	// ParseSensitivity for the names low, medium and high.
	Sensitivity float64
	// Interval is the sampling interval; 0 detects it as the median of the
	// positive differences between consecutive times.
	Interval time.Duration
	// Seasonality selects the seasonal profiles (default SeasonAuto).
	Seasonality Seasonality
}

// Tuning of the model. Each was checked on the simulator's data (bench
// suite "insights") and on the hand-made cases in the tests.
const (
	// alpha is the level's smoothing per sampling interval: a time constant
	// of 1/alpha intervals follows slow wander (AR noise, daily cycles of
	// fast data) while averaging white noise.
	alpha = 0.2
	// slowTau is the time constant of the slow level the seasonal
	// profiles learn against: long against a day, so the profiles see the
	// cycle's whole shape and phase.
	slowTau = 2 * nsPerDay
	// beta is the trend's smoothing (error-correction form b += α·β·e).
	beta = 0.02
	// lambda is the scale's smoothing per point: σ reflects about the last
	// 1/lambda residuals.
	lambda = 0.01
	// lambdaSlow and slowFloor keep σ from collapsing in a quiet stretch
	// (a meter reading a flat zero for minutes): σ stays at least
	// slowFloor × a scale that reflects about the last 1/lambdaSlow
	// residuals, so the noise coming back is not a burst of anomalies.
	lambdaSlow = 0.001
	slowFloor  = 0.5
	// fastRate is the smoothing of the unclipped residual size that a
	// noise burst sets the scale from (burstShare of it: the burst's
	// flagged points are its larger residuals).
	fastRate   = 0.2
	burstShare = 0.5
	// huber clips residuals at this many σ in every update.
	huber = 3.0
	// absToSigma turns a mean absolute residual into a standard deviation
	// for Gaussian residuals (√(π/2), corrected for clipping at 3σ).
	absToSigma = 1.2533 / 0.99906
	// confirmPoints consecutive anomalies on one side confirm a level shift.
	confirmPoints = 4
	// warmPoints is how many points a model sees before it flags any.
	warmPoints = 10
	// maxGapSteps caps the band's widening after a gap (√64 = 8×).
	maxGapSteps = 64
	// maxTrendSteps caps how far the trend is extrapolated over a gap.
	maxTrendSteps = 60
	// seasonDayRate is how much a seasonal slot moves towards the residual
	// per day (per week for the weekly profile) it is observed.
	seasonDayRate = 0.2
	// defaultDailySlots and defaultWeeklySlots size the profiles: 30-minute
	// slots of the day, hourly slots of the week (read and learnt with
	// linear interpolation between neighbouring slots).
	defaultDailySlots  = 48
	defaultWeeklySlots = 168
)

const (
	nsPerDay  = int64(24 * time.Hour)
	nsPerWeek = 7 * nsPerDay
	// epochWeekShift aligns week slots to Monday 00:00 UTC (1970-01-01 was a
	// Thursday) so slot 0 is Monday's first hour.
	epochWeekShift = 3 * nsPerDay
)

// params are the fixed settings of a model, derived once from options.
type params struct {
	thr                       float64
	dailySlots, weeklySlots   int
	dailySlotNS, weeklySlotNS int64
	// reciprocals of the slot lengths, so that placing a time in a
	// profile multiplies instead of dividing
	invDailySlot, invWeeklySlot float64
	// seasonDayRate per nanosecond of a slot: a profile's per-point rate
	// is min(seasonDayRate, interval·rateDaily) (see seasonRates)
	rateDaily, rateWeekly float64
	// per-point seasonal rates; depend on the interval (see seasonRates)
	gammaD, gammaW float64
	logKeep        float64 // ln(1−alpha)
}

func newParams(thr float64, dailySlots, weeklySlots int) params {
	p := params{thr: thr, dailySlots: dailySlots, weeklySlots: weeklySlots, logKeep: math.Log1p(-alpha)}
	if dailySlots > 0 {
		p.dailySlotNS = nsPerDay / int64(dailySlots)
		p.invDailySlot = 1 / float64(p.dailySlotNS)
		p.rateDaily = seasonDayRate * p.invDailySlot
	}
	if weeklySlots > 0 {
		p.weeklySlotNS = nsPerWeek / int64(weeklySlots)
		p.invWeeklySlot = 1 / float64(p.weeklySlotNS)
		p.rateWeekly = seasonDayRate * p.invWeeklySlot
	}
	return p
}

// seasonRates returns the per-point rates of the profiles for a sampling
// interval: a slot observed n times a day moves about seasonDayRate per
// day, i.e. seasonDayRate/max(1, points per slot visit). Multiplications
// only: the streaming model calls it every point.
func (p *params) seasonRates(interval float64) (gd, gw float64) {
	if !(interval > 0) {
		return 0, 0
	}
	return min(seasonDayRate, interval*p.rateDaily), min(seasonDayRate, interval*p.rateWeekly)
}

// model is the state of one series. Its size is fixed: the profiles live
// outside it (see observe's daily and weekly arguments), but the two slots
// of each profile that the latest point fell between are cached in it (see
// segment), so that a point reads and writes only the model's memory.
type model struct {
	level, trend float64
	absDev       float64 // EW mean absolute clipped residual (in gap-normalised units)
	slowDev      float64 // the same, slowly: a floor for absDev after a quiet stretch
	fastDev      float64 // EW mean absolute residual, unclipped and fast (noise bursts)
	interval     float64 // sampling interval in ns (batch: fixed; streaming: tracked)
	runSum       float64 // sum of deseasonalised values in the current run
	resol        float64 // smallest positive |Δvalue| seen: the data's resolution
	prev         float64 // previous finite value
	last         int64   // time of the last update
	slowLevel    float64 // deseasonalised level followed over about slowTau
	n            uint32  // finite points seen (saturates)
	run          int32   // signed count of consecutive same-side anomalies
	upHist       uint8   // anomalies above expected among the last 8 points (bit 0 = latest)
	downHist     uint8   // … and below
	fixedIv      bool    // interval given (batch), not tracked
	day, week    segment // cached profile slots (not part of the snapshot)
}

// segment caches the two neighbouring slots of a profile that recent
// points fell between: their values (the profile's copies are stale while
// ok) and the time of slot i's start, so that the fraction between them is
// one multiplication and a point inside the segment (30 minutes or an hour
// of points with the default profiles) touches no profile memory.
type segment struct {
	base   int64 // start time of slot i (ns); the segment is [base+slot/2, base+3·slot/2)
	v0, v1 float32
	i, j   uint16 // the slots (at most 65535); j = i+1 round the period
	ok     bool
}

// at returns the fraction f ∈ [0,1] of t between the segment's slots,
// moving the segment to t's first (and writing the cached values back)
// when t lies outside it.
func (s *segment) at(prof []float32, t, shift, slotNS, period int64, inv float64) float64 {
	if s.ok {
		if f := float64(t-s.base)*inv - 0.5; f >= 0 && f < 1 {
			return f
		}
		prof[s.i], prof[s.j] = s.v0, s.v1
	}
	// Slot values stand at the slots' centres: t lies between slot i and
	// the next when it is past i's centre and before the next one's.
	// Times before 1970 wrap correctly.
	x := (t + shift) % period
	if x < 0 {
		x += period
	}
	n := int64(len(prof))
	q := x / slotNS
	rem := x - q*slotNS
	base := t - rem
	if 2*rem < slotNS {
		q--
		base -= slotNS
		if q < 0 {
			q += n
		}
	}
	if q >= n { // a period that the slots do not divide exactly
		q -= n
	}
	j := q + 1
	if j == n {
		j = 0
	}
	*s = segment{base: base, i: uint16(q), j: uint16(j), v0: prof[q], v1: prof[j], ok: true}
	return min(max(float64(t-base)*inv-0.5, 0), 1)
}

// value reads the segment at fraction f, interpolating linearly.
func (s *segment) value(f float64) float64 {
	return float64(s.v0) + f*(float64(s.v1)-float64(s.v0))
}

// learn moves the segment's slots by e, shared as value reads them.
func (s *segment) learn(f, e float64) {
	s.v0 += float32(e * (1 - f))
	s.v1 += float32(e * f)
}

// flush writes the cached slots back to the profile.
func (s *segment) flush(prof []float32) {
	if s.ok {
		prof[s.i], prof[s.j] = s.v0, s.v1
	}
}

// flush writes the model's cached profile slots back to the profiles, for
// a reader of the profiles themselves (a snapshot, the batch's second
// pass). The cache stays valid.
func (m *model) flush(daily, weekly []float32) {
	if daily != nil {
		m.day.flush(daily)
	}
	if weekly != nil {
		m.week.flush(weekly)
	}
}

// seasonAt returns the profiles' value at t and the fractions of t in
// their segments (for learn).
func (m *model) seasonAt(p *params, daily, weekly []float32, t int64) (sea, fd, fw float64) {
	if daily != nil {
		fd = m.day.at(daily, t, 0, p.dailySlotNS, nsPerDay, p.invDailySlot)
		sea = m.day.value(fd)
	}
	if weekly != nil {
		fw = m.week.at(weekly, t, epochWeekShift, p.weeklySlotNS, nsPerWeek, p.invWeeklySlot)
		sea += m.week.value(fw)
	}
	return sea, fd, fw
}

// sigma returns the current scale, never zero: the floor keeps a constant
// series from producing infinite scores on rounding noise while leaving a
// real change in a constant series a large score.
//
// Plain comparisons rather than the builtin max, whose NaN and signed-zero
// handling costs a fifth of the batch's per-point time: the state is
// finite (only finite values update it).
func (m *model) sigma() float64 {
	s := m.absDev
	if f := m.slowDev * slowFloor; f > s {
		s = f
	}
	s *= absToSigma
	floor := m.resol * 0.25
	if f := math.Abs(m.level) * 1e-9; f > floor {
		floor = f
	}
	if floor < 1e-12 {
		floor = 1e-12
	}
	if floor > s {
		return floor
	}
	return s
}

// clamp returns x limited to [-lim, lim] (lim ≥ 0, x finite).
func clamp(x, lim float64) float64 {
	if x > lim {
		return lim
	}
	if x < -lim {
		return -lim
	}
	return x
}

// observe scores (t, v) and updates the model. daily and weekly are the
// series' profiles (nil when not used).
func (m *model) observe(p *params, daily, weekly []float32, t int64, v float64) Point {
	var pt Point
	m.observeInto(&pt, p, daily, weekly, t, v)
	return pt
}

// observeInto is observe writing the point to *pt (every field), which
// spares the batch's loop a copy per point.
func (m *model) observeInto(pt *Point, p *params, daily, weekly []float32, t int64, v float64) {
	pt.Time, pt.Value, pt.Score, pt.IsAnomaly = t, v, 0, false
	finite := !math.IsNaN(v) && !math.IsInf(v, 0)
	seasonal := daily != nil || weekly != nil
	if m.n == 0 {
		if !finite {
			pt.Expected, pt.Lower, pt.Upper = math.NaN(), math.NaN(), math.NaN()
			return
		}
		sea := 0.0
		if seasonal {
			sea, _, _ = m.seasonAt(p, daily, weekly, t)
		}
		m.level = v - sea
		m.last, m.prev, m.n, m.slowLevel = t, v, 1, m.level
		pt.Expected, pt.Lower, pt.Upper = v, v, v
		return
	}
	dt := t - m.last
	// A point at or before the latest time is late: a redelivery repeats
	// the latest point exactly, and learning it twice would count it twice
	// in the scale, the history and a level shift's run.
	late := dt <= 0
	if late {
		dt = 0
	} else if !m.fixedIv {
		m.trackInterval(dt)
	}
	k := 1.0
	if m.interval > 0 {
		k = float64(dt) / m.interval
	}
	// g widens the band after a gap; invG spares the updates a division.
	g, invG := 1.0, 1.0
	if k > 1 {
		g = math.Sqrt(min(k, maxGapSteps))
		invG = 1 / g
	}
	var sea, fd, fw float64
	if seasonal {
		sea, fd, fw = m.seasonAt(p, daily, weekly, t)
	}
	base := m.level + m.trend*min(k, maxTrendSteps)
	exp := base + sea
	sig := m.sigma() * g
	band := p.thr * sig
	pt.Expected, pt.Lower, pt.Upper = exp, exp-band, exp+band
	if !finite {
		return
	}
	r := v - exp
	z := math.Abs(r) / sig
	pt.Score = z
	warm := m.n >= warmPoints
	anomaly := warm && z > p.thr
	pt.IsAnomaly = anomaly
	if late {
		// A point not newer than the series' latest: judged against the
		// current baseline, but it cannot move it (the filter runs forward).
		return
	}

	// Updates, all with the clipped residual.
	lim := huber * sig
	rc := clamp(r, lim)
	a := alpha // level gain for this step
	if k < 0.75 || k > 1.25 {
		a = -math.Expm1(k * p.logKeep)
	}
	if !warm {
		// Warm-up: a running mean of the first points, clipped only once
		// there is a scale to clip with.
		a = max(a, 1/float64(m.n+1))
		if m.absDev == 0 {
			rc = r
		}
	}
	m.level = base + a*rc
	if k > 1 {
		m.trend += a * beta * rc / k
	} else {
		m.trend += a * beta * rc
	}
	if seasonal {
		gd, gw := p.gammaD, p.gammaW
		if !m.fixedIv {
			gd, gw = p.seasonRates(m.interval)
		}
		// The profiles learn the deviation from the slow level, not the
		// one-step residual: against a level that follows the cycle they
		// would learn its slope (a quarter-cycle out of phase).
		as := min(1, float64(dt)*(1/float64(slowTau)))
		dev := clamp(v-sea-m.slowLevel, lim)
		m.slowLevel += as * dev
		dsea := clamp(v-m.slowLevel-sea, lim)
		if daily != nil {
			m.day.learn(fd, gd*dsea)
		}
		if weekly != nil {
			m.week.learn(fw, gw*dsea)
		}
	}
	// Scale: in gap-normalised units, so a long gap does not inflate it.
	ar := math.Abs(rc) * invG
	if warm {
		m.absDev += lambda * (ar - m.absDev)
		m.slowDev += lambdaSlow * (ar - m.slowDev)
	} else {
		m.absDev += (ar - m.absDev) / float64(m.n)
		m.slowDev = m.absDev
	}
	if d := math.Abs(v - m.prev); d > 0 && (d < m.resol || m.resol == 0) {
		m.resol = d
	}

	// Noise bursts: anomalies on both sides among the last 8 points mean
	// the noise grew (a meter that read a flat zero comes back on), not
	// that each point is an anomaly: the scale jumps to the burst's.
	m.fastDev += fastRate * (math.Abs(r)*invG - m.fastDev)
	m.upHist, m.downHist = m.upHist<<1, m.downHist<<1
	m.last, m.prev = t, v
	if m.n < math.MaxUint32 {
		m.n++
	}
	if !anomaly {
		m.run, m.runSum = 0, 0
		return
	}
	m.anomaly(r, v-sea)
}

// anomaly updates the burst history and the level-shift run with a
// flagged point's residual r and deseasonalised value ds (out of observe's
// common path).
func (m *model) anomaly(r, ds float64) {
	side := int32(1)
	if r > 0 {
		m.upHist |= 1
	} else {
		m.downHist |= 1
		side = -1
	}
	if bits.OnesCount8(m.upHist) >= 2 && bits.OnesCount8(m.downHist) >= 2 {
		m.absDev = max(m.absDev, burstShare*m.fastDev)
		m.slowDev = max(m.slowDev, m.absDev)
		m.upHist, m.downHist = 0, 0
	}

	// Level shifts: a run of same-side anomalies.
	if m.run*side > 0 {
		m.run += side
		m.runSum += ds
	} else {
		m.run, m.runSum = side, ds
	}
	if m.run*side >= confirmPoints {
		m.level = m.runSum / float64(m.run*side)
		m.trend = 0
		m.run, m.runSum = 0, 0
	}
}

// trackInterval follows the median of the positive time differences by
// stochastic quantile tracking: one multiplicative step towards each new
// difference, so bursts and gaps pull it only as far as their share.
func (m *model) trackInterval(dt int64) {
	if dt <= 0 {
		return
	}
	d := float64(dt)
	if m.interval == 0 {
		m.interval = d
		return
	}
	const step = 0.02
	if d > m.interval {
		m.interval *= 1 + step
	} else if d < m.interval {
		m.interval *= 1 - step
	}
}

// seasonal reads the profiles at t without a model (the batch's start
// level), as a model's segment would.
func seasonal(p *params, daily, weekly []float32, t int64) float64 {
	var m model
	sea, _, _ := m.seasonAt(p, daily, weekly, t)
	return sea
}

// ---- batch ----

// DetectAnomalies scores every point of s against a baseline learnt from s
// itself and returns one Point per input point, in order. See the file
// comment for the model. It fails on malformed input (slices of different
// lengths, times not ascending).
func DetectAnomalies(s Series, opts AnomalyOptions) ([]Point, error) {
	return AppendAnomalies(make([]Point, 0, s.Len()), s, opts)
}

// AppendAnomalies is DetectAnomalies appending to dst, for callers that
// reuse a buffer. Beyond dst it allocates only a small fixed scratch.
func AppendAnomalies(dst []Point, s Series, opts AnomalyOptions) ([]Point, error) {
	var scratch batchScratch
	return scratch.detect(dst, s, opts)
}

// batchScratch holds a batch run's reusable memory.
type batchScratch struct {
	profile [defaultDailySlots + defaultWeeklySlots]float32
	diffs   [intervalSample]int64
}

// intervalSample is how many time differences the interval is taken from.
const intervalSample = 1024

func (sc *batchScratch) detect(dst []Point, s Series, opts AnomalyOptions) ([]Point, error) {
	n := len(s.Times)
	if n != len(s.Values) {
		return dst, fmt.Errorf("insights: detect anomalies: %d times but %d values", n, len(s.Values))
	}
	thr := opts.Sensitivity
	if thr == 0 {
		thr = DefaultSensitivity
	}
	if !(thr > 0) || math.IsInf(thr, 0) {
		return dst, fmt.Errorf("insights: detect anomalies: sensitivity %v: want a positive number", opts.Sensitivity)
	}
	if opts.Interval < 0 {
		return dst, fmt.Errorf("insights: detect anomalies: negative interval %v", opts.Interval)
	}
	if opts.Seasonality < SeasonAuto || opts.Seasonality > SeasonWeekly {
		return dst, fmt.Errorf("insights: detect anomalies: unknown seasonality %d", opts.Seasonality)
	}
	for i := 1; i < n; i++ {
		if s.Times[i] < s.Times[i-1] {
			return dst, fmt.Errorf("insights: detect anomalies: times not ascending at index %d", i)
		}
	}
	if n == 0 {
		return dst, nil
	}
	iv := float64(opts.Interval)
	if iv == 0 {
		iv = float64(sc.medianInterval(s.Times))
	}
	span := s.Times[n-1] - s.Times[0]
	useD, useW := false, false
	switch opts.Seasonality {
	case SeasonAuto:
		useD = span >= 2*nsPerDay && iv > 0 && iv < float64(nsPerDay)/2
		useW = span >= 2*nsPerWeek && iv > 0 && iv < float64(nsPerWeek)/2
	case SeasonNone:
	case SeasonDaily:
		useD = true
	case SeasonWeekly:
		useD, useW = true, true
	default:
		return dst, fmt.Errorf("insights: detect anomalies: unknown seasonality %d", opts.Seasonality)
	}
	ds, ws := 0, 0
	if useD {
		ds = defaultDailySlots
	}
	if useW {
		ws = defaultWeeklySlots
	}
	p := newParams(thr, ds, ws)
	p.gammaD, p.gammaW = p.seasonRates(iv)
	clear(sc.profile[:])
	var daily, weekly []float32
	if useD {
		daily = sc.profile[:ds]
	}
	if useW {
		weekly = sc.profile[defaultDailySlots : defaultDailySlots+ws]
	}

	// Pass 1 learns scale and profiles. Without profiles only the scale is
	// wanted, which a prefix gives.
	m := model{interval: iv, fixedIv: iv > 0}
	learnN := n
	if !useD && !useW {
		learnN = min(n, 2000)
	}
	var scratch Point
	for i := 0; i < learnN; i++ {
		m.observeInto(&scratch, &p, daily, weekly, s.Times[i], s.Values[i])
	}
	m.flush(daily, weekly)

	// Pass 2 scores from the start with the learnt scale and profiles; the
	// level starts at a robust value of the first points.
	// The resolution is not carried over: learnt from the whole series, it
	// could be an anomaly's own jump.
	m2 := model{interval: iv, fixedIv: iv > 0, absDev: m.absDev, slowDev: m.slowDev, n: warmPoints}
	first := -1
	for i := 0; i < n; i++ {
		if v := s.Values[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
			first = i
			break
		}
	}
	if first < 0 || m.n < warmPoints {
		// Nothing to learn from (all NaN, or too few points): the plain
		// streaming filter, which does not flag during its warm-up.
		m2 = model{interval: iv, fixedIv: iv > 0}
	} else {
		m2.level = sc.startLevel(&p, daily, weekly, s, first)
		m2.last, m2.prev, m2.slowLevel = s.Times[first], s.Values[first], m.slowLevel
	}
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	times, values := s.Times[:n], s.Values[:n]
	for i := range out {
		m2.observeInto(&out[i], &p, daily, weekly, times[i], values[i])
	}
	return dst[:len(dst)+n], nil
}

// startLevel returns the median of the first few finite deseasonalised
// values from index first: one anomalous first point must not set the
// level.
func (sc *batchScratch) startLevel(p *params, daily, weekly []float32, s Series, first int) float64 {
	var buf [5]float64
	k := 0
	for i := first; i < len(s.Values) && k < len(buf); i++ {
		if v := s.Values[i]; !math.IsNaN(v) && !math.IsInf(v, 0) {
			buf[k] = v - seasonal(p, daily, weekly, s.Times[i])
			k++
		}
	}
	b := buf[:k]
	slices.Sort(b)
	return b[k/2]
}

// medianInterval returns the median positive difference of (a sample of)
// times, or 0 when there is none.
func (sc *batchScratch) medianInterval(times []int64) int64 {
	d := sc.diffs[:0]
	stride := max(1, (len(times)-1)/intervalSample)
	for i := 1; i < len(times) && len(d) < len(sc.diffs); i += stride {
		if x := times[i] - times[i-1]; x > 0 {
			d = append(d, x)
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// DetectAnomaliesMany runs DetectAnomalies on every series, in parallel on
// up to GOMAXPROCS goroutines, and returns the results in the same order.
// It stops early when ctx ends and returns the first error (naming the
// series' index).
func DetectAnomaliesMany(ctx context.Context, series []Series, opts AnomalyOptions) ([][]Point, error) {
	out := make([][]Point, len(series))
	err := ForEachAnomalies(ctx, series, opts, func(i int, pts []Point) error {
		out[i] = slices.Clone(pts)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ForEachAnomalies scores every series in parallel (up to GOMAXPROCS
// goroutines) and calls fn with each series' index and points. fn may be
// called concurrently; pts is valid only during the call (the buffer is
// reused, so scoring many series allocates almost nothing). The first error
// from scoring or from fn stops the run and is returned.
func ForEachAnomalies(ctx context.Context, series []Series, opts AnomalyOptions, fn func(i int, pts []Point) error) error {
	workers := min(runtime.GOMAXPROCS(0), len(series))
	if workers == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next int
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || next >= len(series) {
			return -1
		}
		next++
		return next - 1
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := new(batchScratch)
			var buf []Point
			for i := take(); i >= 0; i = take() {
				var err error
				buf, err = sc.detect(buf[:0], series[i], opts)
				if err != nil {
					cancel(fmt.Errorf("series %d: %w", i, err))
					return
				}
				if err := fn(i, buf); err != nil {
					cancel(fmt.Errorf("series %d: %w", i, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	// The context ends only when a worker failed or the caller's ended.
	return context.Cause(ctx)
}
