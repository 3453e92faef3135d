package insights

import "math"

// The Detector's model step: model.observeInto (anomaly.go) for the
// streaming case, with the same arithmetic in the same order, so that its
// Points and state are bit for bit those of observeInto
// (TestStreamStepMatchesModel feeds both the same streams). What differs
// is only what the compiler gets to see:
//   - the interval is always tracked (no fixedIv), and whether there are
//     profiles is a Detector constant;
//   - the profiles are not sliced per point: the step gets the shard's
//     profile array and the series' offset in it, which only a segment
//     that moves reads (segment.at, once per slot length of points);
//   - a segment's fast path (t inside the cached segment) is a small
//     inlined function;
//   - min and max of floats are plain comparisons: every operand is
//     finite and not a signed zero where the two could differ, so the
//     builtins' NaN and -0 handling changes nothing but costs.
//
// A change to observeInto must be made here too; the test fails otherwise.

// frac is segment.at's fast path: t's fraction in the segment, or -1 when
// the segment is not valid or t lies outside it (then at moves it).
func (s *segment) frac(t int64, inv float64) float64 {
	if s.ok {
		if f := float64(t-s.base)*inv - 0.5; f >= 0 && f < 1 {
			return f
		}
	}
	return -1
}

// seasonStream is seasonAt over the series' profiles at prof[off:].
func (m *model) seasonStream(p *params, prof []float32, off int, t int64) (sea, fd, fw float64) {
	if p.dailySlots > 0 {
		if fd = m.day.frac(t, p.invDailySlot); fd < 0 {
			fd = m.day.at(prof[off:off+p.dailySlots], t, 0, p.dailySlotNS, nsPerDay, p.invDailySlot)
		}
		sea = m.day.value(fd)
	}
	if p.weeklySlots > 0 {
		if fw = m.week.frac(t, p.invWeeklySlot); fw < 0 {
			o := off + p.dailySlots
			fw = m.week.at(prof[o:o+p.weeklySlots], t, epochWeekShift, p.weeklySlotNS, nsPerWeek, p.invWeeklySlot)
		}
		sea += m.week.value(fw)
	}
	return sea, fd, fw
}

// stepStream is observeInto(pt, p, daily, weekly, t, v) for a model whose
// profiles are prof[off:off+dailySlots] and the weeklySlots after them
// (seasonal: there is at least one).
func (m *model) stepStream(pt *Point, p *params, seasonal bool, prof []float32, off int, t int64, v float64) {
	pt.Time, pt.Value, pt.Score, pt.IsAnomaly = t, v, 0, false
	finite := !math.IsNaN(v) && !math.IsInf(v, 0)
	if m.n == 0 {
		if !finite {
			pt.Expected, pt.Lower, pt.Upper = math.NaN(), math.NaN(), math.NaN()
			return
		}
		sea := 0.0
		if seasonal {
			sea, _, _ = m.seasonStream(p, prof, off, t)
		}
		m.level = v - sea
		m.last, m.prev, m.n, m.slowLevel = t, v, 1, m.level
		pt.Expected, pt.Lower, pt.Upper = v, v, v
		return
	}
	dt := t - m.last
	late := dt <= 0
	if late {
		dt = 0
	} else {
		m.trackInterval(dt)
	}
	k := 1.0
	if m.interval > 0 {
		k = float64(dt) / m.interval
	}
	g, invG := 1.0, 1.0
	if k > 1 {
		kg := k
		if kg > maxGapSteps {
			kg = maxGapSteps
		}
		g = math.Sqrt(kg)
		invG = 1 / g
	}
	var sea, fd, fw float64
	if seasonal {
		sea, fd, fw = m.seasonStream(p, prof, off, t)
	}
	kt := k // k ≥ 0 and finite: dt ≥ 0 over a positive interval, or 1
	if kt > maxTrendSteps {
		kt = maxTrendSteps
	}
	base := m.level + m.trend*kt
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
		return
	}

	lim := huber * sig
	rc := clamp(r, lim)
	a := alpha
	if k < 0.75 || k > 1.25 {
		a = -math.Expm1(k * p.logKeep)
	}
	if !warm {
		if w := 1 / float64(m.n+1); w > a { // both positive
			a = w
		}
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
		// seasonRates: interval > 0 here (a later point was tracked).
		var gd, gw float64
		if m.interval > 0 {
			gd, gw = m.interval*p.rateDaily, m.interval*p.rateWeekly
			if gd > seasonDayRate {
				gd = seasonDayRate
			}
			if gw > seasonDayRate {
				gw = seasonDayRate
			}
		}
		as := float64(dt) * (1 / float64(slowTau))
		if as > 1 {
			as = 1
		}
		dev := clamp(v-sea-m.slowLevel, lim)
		m.slowLevel += as * dev
		dsea := clamp(v-m.slowLevel-sea, lim)
		if p.dailySlots > 0 {
			m.day.learn(fd, gd*dsea)
		}
		if p.weeklySlots > 0 {
			m.week.learn(fw, gw*dsea)
		}
	}
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
