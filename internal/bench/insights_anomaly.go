package bench

// The "anomaly" part of the insights suite: batch anomaly detection
// (insights.DetectAnomalies) on simulator data with labelled anomalies, for
// several seeds, fleet sizes and noise levels, scored against the labels,
// next to a simple baseline; then the batch throughput on 1,000 series × one
// day of one-second data.
//
// Data: internal/simulate's generator at one sample per device and second,
// with injected spikes, dips and level shifts (AnomalyProb, equal parts),
// bursts (irregular sampling: 2..10 samples within one second) and, added
// here, gaps (a device's data dropped for an exponential time, mean
// --anomaly-gap-mean, starting with probability --anomaly-gap-prob per
// sample) and extra Gaussian noise. The noise level is in the simulator's
// anomaly units (temperature 2, humidity 5, voltage 4, watt half the
// device's level; simulate/generator.go's models): spikes and dips are 5–10
// units from the baseline, level shifts 3–6 units, so noise 0.5 puts the
// smallest shift at 6 noise standard deviations. Each (device, measure) is
// one series.
//
// Matching rule (the labels' semantics are simulate.Label's):
//   - every labelled anomaly has a window: a spike or dip its own sample
//     time; a level shift [Time, End + --anomaly-grace] (the baseline is
//     moved in [Time, End) and returns at End, which a detector rightly sees
//     as a change too; the grace is how long after End that may be flagged,
//     counted from the first sample at or after End when a gap hides the
//     return).
//   - flagged points form alarms: maximal runs of consecutive flagged
//     points of a series.
//   - a labelled anomaly is detected when an alarm overlaps its window
//     (recall = detected / labelled, per kind).
//   - an alarm is true when it overlaps some window, and then belongs to
//     the kind of that window (a spike or dip's point before a surrounding
//     shift's window); otherwise it is a false alarm, which is charged to
//     the kind it looks like: a run of at most 2 points is a spike when it
//     lies above the expected value and a dip below; a longer run is a
//     level shift. precision = true alarms / all alarms, per kind.
//   - F1 = 2·P·R/(P+R). "all" pools the kinds.
//
// Baseline (reference/insights.md §5.1): Etsy Skyline's
// stddev_from_moving_average, an exponentially weighted mean and standard
// deviation with com=50 (α = 1/51) flagging |x − mean| > 3·std, scored by
// the same rule.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/simulate"
)

var (
	targetAnomalyF1SpikeDip = atLeast(0.9)
	targetAnomalyF1Shift    = atLeast(0.8)
	targetAnomalyPointsPerS = atLeast(5_000_000)
)

type anomalyConfig struct {
	seeds, devices, noise string // comma-separated lists
	duration              time.Duration
	prob                  float64
	burstProb             float64
	gapProb               float64
	gapMean               time.Duration
	grace                 time.Duration
	sensitivity           string
	tpSeries, tpPoints    int
}

func anomalyFlags(fs *flag.FlagSet) (func(*run) error, func(map[string]bool)) {
	c := &anomalyConfig{}
	fs.StringVar(&c.seeds, "anomaly-seeds", "1,2,3", "simulator `seeds`, comma-separated")
	fs.StringVar(&c.devices, "anomaly-devices", "5,20", "fleet `sizes`, comma-separated (each device has 4 measures = 4 series)")
	fs.StringVar(&c.noise, "anomaly-noise", "0,0.25,0.5", "extra Gaussian noise `levels` in anomaly units, comma-separated")
	fs.DurationVar(&c.duration, "anomaly-duration", 12*time.Hour, "simulated time per run, one sample per device and second")
	fs.Float64Var(&c.prob, "anomaly-prob", 0.0005, "probability per event of an injected anomaly (spike, dip, level shift in equal parts)")
	fs.Float64Var(&c.burstProb, "anomaly-burst-prob", 0.001, "probability per device and second of a burst (irregular sampling)")
	fs.Float64Var(&c.gapProb, "anomaly-gap-prob", 0.0002, "probability per sample that a device's data goes missing (a gap)")
	fs.DurationVar(&c.gapMean, "anomaly-gap-mean", 2*time.Minute, "mean length of a gap")
	fs.DurationVar(&c.grace, "anomaly-grace", 30*time.Second, "how long after a level shift's end a flag still belongs to it")
	fs.StringVar(&c.sensitivity, "anomaly-sensitivity", "medium", "detector sensitivity: low, medium, high or a z threshold")
	fs.IntVar(&c.tpSeries, "anomaly-tp-series", 1000, "series in the throughput run")
	fs.IntVar(&c.tpPoints, "anomaly-tp-points", 86400, "points per series in the throughput run (one per second)")
	quick := func(set map[string]bool) {
		q := map[string]func(){
			"anomaly-seeds":     func() { c.seeds = "1" },
			"anomaly-devices":   func() { c.devices = "5" },
			"anomaly-noise":     func() { c.noise = "0,0.5" },
			"anomaly-duration":  func() { c.duration = 2 * time.Hour },
			"anomaly-prob":      func() { c.prob = 0.002 },
			"anomaly-tp-series": func() { c.tpSeries = 100 },
		}
		for name, f := range q {
			if !set[name] {
				f()
			}
		}
	}
	return func(r *run) error { return runAnomaly(r, c) }, quick
}

// anomaly kinds, in result order.
const (
	akSpike = iota
	akDip
	akShift
	akKinds
)

var anomalyKindNames = [akKinds]string{"spike", "dip", "level_shift"}

// anomalyUnits are the simulator's anomaly units per measure (watt: half
// the device's level, filled in per series).
var anomalyUnits = [4]float64{2, 5, 4, 0.5}

// labelledSeries is one (device, measure) series and its labelled
// anomalies' windows, sorted by start.
type labelledSeries struct {
	s      insights.Series
	events []anomalyWindow
}

type anomalyWindow struct {
	kind       int
	start, end int64 // ns, inclusive
}

// anomalyCounts accumulates the matching rule's counts.
type anomalyCounts struct {
	events, detected [akKinds]int
	trueA, falseA    [akKinds]int
	points           int
}

func (a *anomalyCounts) add(b *anomalyCounts) {
	for k := range akKinds {
		a.events[k] += b.events[k]
		a.detected[k] += b.detected[k]
		a.trueA[k] += b.trueA[k]
		a.falseA[k] += b.falseA[k]
	}
	a.points += b.points
}

// prf returns precision, recall and F1 of kind k, or of all kinds for k < 0.
func (a *anomalyCounts) prf(k int) (p, r, f float64) {
	var ev, det, ta, fa int
	for i := range akKinds {
		if k >= 0 && i != k {
			continue
		}
		ev, det, ta, fa = ev+a.events[i], det+a.detected[i], ta+a.trueA[i], fa+a.falseA[i]
	}
	p, r = 1, 1
	if ta+fa > 0 {
		p = float64(ta) / float64(ta+fa)
	}
	if ev > 0 {
		r = float64(det) / float64(ev)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

func parseList[T any](s, name string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", name, s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func runAnomaly(r *run, c *anomalyConfig) error {
	seeds, err := parseList(c.seeds, "anomaly-seeds", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
	if err != nil {
		return err
	}
	devices, err := parseList(c.devices, "anomaly-devices", strconv.Atoi)
	if err != nil {
		return err
	}
	noises, err := parseList(c.noise, "anomaly-noise", func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	if err != nil {
		return err
	}
	thr, err := insights.ParseSensitivity(c.sensitivity)
	if err != nil {
		return err
	}
	if c.duration < time.Minute || c.tpSeries < 1 || c.tpPoints < 2 {
		return errors.New("--anomaly-duration must be at least 1m, --anomaly-tp-series at least 1, --anomaly-tp-points at least 2")
	}
	for _, d := range devices {
		if d < 1 {
			return fmt.Errorf("--anomaly-devices: %d: want at least 1", d)
		}
	}
	opts := insights.AnomalyOptions{Sensitivity: thr}

	var total, base anomalyCounts
	byNoise := make([]anomalyCounts, len(noises))
	for _, seed := range seeds {
		for _, nd := range devices {
			for ni, noise := range noises {
				if err := r.ctx.Err(); err != nil {
					return err
				}
				data, err := genAnomalyData(seed, nd, noise, c)
				if err != nil {
					return err
				}
				var got, bl anomalyCounts
				if err := evalDetector(r.ctx, data, opts, &got); err != nil {
					return err
				}
				evalBaseline(data, &bl)
				_, _, fs := got.prf(akSpike)
				_, _, fd := got.prf(akDip)
				_, _, fl := got.prf(akShift)
				_, _, fb := bl.prf(-1)
				r.logf("anomaly: seed %d, %d devices, noise %.2f: %d points, %d/%d/%d labelled; F1 spike %.3f dip %.3f level_shift %.3f (baseline all %.3f)",
					seed, nd, noise, got.points, got.events[akSpike], got.events[akDip], got.events[akShift], fs, fd, fl, fb)
				total.add(&got)
				base.add(&bl)
				byNoise[ni].add(&got)
			}
		}
	}
	for k := range akKinds {
		p, rc, f := total.prf(k)
		name := "anomaly/" + anomalyKindNames[k]
		r.add(name+"/labelled", float64(total.events[k]), "events", nil)
		r.add(name+"/precision", p, "ratio", nil)
		r.add(name+"/recall", rc, "ratio", nil)
		t := targetAnomalyF1SpikeDip
		if k == akShift {
			t = targetAnomalyF1Shift
		}
		r.add(name+"/f1", f, "ratio", t)
	}
	p, rc, f := total.prf(-1)
	r.add("anomaly/all/precision", p, "ratio", nil)
	r.add("anomaly/all/recall", rc, "ratio", nil)
	r.add("anomaly/all/f1", f, "ratio", nil)
	for i, noise := range noises {
		_, _, f := byNoise[i].prf(-1)
		r.add(fmt.Sprintf("anomaly/all/f1/noise=%g", noise), f, "ratio", nil)
	}
	for k := range akKinds {
		_, _, f := base.prf(k)
		r.add("anomaly/baseline-ewma3sd/"+anomalyKindNames[k]+"/f1", f, "ratio", nil)
	}
	bp, brc, bf := base.prf(-1)
	r.add("anomaly/baseline-ewma3sd/all/precision", bp, "ratio", nil)
	r.add("anomaly/baseline-ewma3sd/all/recall", brc, "ratio", nil)
	r.add("anomaly/baseline-ewma3sd/all/f1", bf, "ratio", nil)
	return anomalyThroughput(r, c, opts)
}

// genAnomalyData generates one labelled data set.
func genAnomalyData(seed int64, devices int, noise float64, c *anomalyConfig) ([]labelledSeries, error) {
	g, err := simulate.NewGenerator(simulate.Options{
		Devices:     devices,
		Rate:        1,
		Seed:        seed,
		Start:       time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Duration:    c.duration,
		AnomalyProb: c.prob,
		BurstProb:   c.burstProb,
	})
	if err != nil {
		return nil, fmt.Errorf("generate data: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(devices)<<32|uint64(math.Float64bits(noise)>>32)))
	out := make([]labelledSeries, devices*4)
	gapUntil := make([]int64, devices)
	grace := c.grace.Nanoseconds()
	measureIndex := map[string]int{}
	for i, m := range simulate.Measures() {
		measureIndex[m] = i
	}
	var buf []byte
	for {
		var ev simulate.Event
		var ok bool
		buf, ev, ok = g.Next(buf[:0])
		if !ok {
			break
		}
		t := ev.Time.UnixNano()
		d := ev.Device
		dropped := t < gapUntil[d]
		if !dropped && c.gapProb > 0 && rng.Float64() < c.gapProb {
			gapUntil[d] = t + int64(rng.ExpFloat64()*float64(c.gapMean))
			dropped = true
		}
		if !dropped {
			for m := range 4 {
				s := &out[d*4+m].s
				s.Times = append(s.Times, t)
				s.Values = append(s.Values, ev.Values[m])
			}
		}
		for _, l := range ev.Labels {
			m, ok := measureIndex[l.Measure]
			if !ok {
				continue
			}
			w := anomalyWindow{start: l.Time.UnixNano()}
			w.end = w.start
			switch l.Kind {
			case simulate.KindSpike:
				w.kind = akSpike
			case simulate.KindDip:
				w.kind = akDip
			case simulate.KindLevelShift:
				w.kind, w.end = akShift, l.End.UnixNano() // grace added below
			default:
				continue
			}
			if dropped && w.kind != akShift {
				continue // its point is missing
			}
			out[d*4+m].events = append(out[d*4+m].events, w)
		}
	}
	for i := range out {
		ls := &out[i]
		// A shift's window runs to the first sample at or after its end
		// (the return may be hidden by a gap) plus the grace.
		for e := range ls.events {
			w := &ls.events[e]
			if w.kind != akShift {
				continue
			}
			if j, _ := slices.BinarySearch(ls.s.Times, w.end); j < len(ls.s.Times) {
				w.end = ls.s.Times[j]
			}
			w.end += grace
		}
		// A shift whose window lost every point to a gap cannot be seen.
		ls.events = slices.DeleteFunc(ls.events, func(w anomalyWindow) bool {
			j, _ := slices.BinarySearch(ls.s.Times, w.start)
			return j == len(ls.s.Times) || ls.s.Times[j] > w.end
		})
		if noise > 0 {
			unit := anomalyUnits[i%4]
			if i%4 == simulate.Watt {
				vs := slices.Clone(ls.s.Values)
				slices.Sort(vs)
				if len(vs) > 0 {
					unit *= vs[len(vs)/2]
				}
			}
			for j := range ls.s.Values {
				ls.s.Values[j] += rng.NormFloat64() * noise * unit
			}
		}
	}
	return out, nil
}

// evalDetector runs batch detection on every series and scores it.
func evalDetector(ctx context.Context, data []labelledSeries, opts insights.AnomalyOptions, into *anomalyCounts) error {
	per := make([]anomalyCounts, len(data))
	err := insights.ForEachAnomalies(ctx, seriesOf(data), opts, func(i int, pts []insights.Point) error {
		flags := make([]bool, len(pts))
		up := make([]bool, len(pts))
		for j, p := range pts {
			flags[j], up[j] = p.IsAnomaly, p.Value > p.Expected
		}
		matchAlarms(data[i].s.Times, flags, up, data[i].events, &per[i])
		return nil
	})
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	for i := range per {
		into.add(&per[i])
	}
	return nil
}

func seriesOf(data []labelledSeries) []insights.Series {
	out := make([]insights.Series, len(data))
	for i := range data {
		out[i] = data[i].s
	}
	return out
}

// evalBaseline runs the EWMA 3-sigma baseline on every series and scores it.
func evalBaseline(data []labelledSeries, into *anomalyCounts) {
	const f = 1.0 / 51 // pandas ewm(com=50)
	for i := range data {
		vs := data[i].s.Values
		flags := make([]bool, len(vs))
		up := make([]bool, len(vs))
		var mean, vr float64
		for j, x := range vs {
			if j == 0 {
				mean = x
				continue
			}
			d := x - mean
			if j >= 10 && math.Abs(d) > 3*math.Sqrt(vr) {
				flags[j], up[j] = true, d > 0
			}
			mean += f * d
			vr = (1 - f) * (vr + f*d*d)
		}
		var c anomalyCounts
		matchAlarms(data[i].s.Times, flags, up, data[i].events, &c)
		into.add(&c)
	}
}

// matchAlarms applies the matching rule to one series' flags.
func matchAlarms(times []int64, flags, up []bool, events []anomalyWindow, c *anomalyCounts) {
	c.points += len(times)
	detected := make([]bool, len(events))
	for j := 0; j < len(flags); {
		if !flags[j] {
			j++
			continue
		}
		k := j
		for k < len(flags) && flags[k] {
			k++
		}
		a, b := times[j], times[k-1]
		kind := -1
		for e, w := range events {
			if w.start <= b && w.end >= a {
				detected[e] = true
				if kind < 0 || kind == akShift && w.kind != akShift {
					kind = w.kind
				}
			}
		}
		switch {
		case kind >= 0:
			c.trueA[kind]++
		case k-j > 2:
			c.falseA[akShift]++
		case up[j]:
			c.falseA[akSpike]++
		default:
			c.falseA[akDip]++
		}
		j = k
	}
	for e, w := range events {
		c.events[w.kind]++
		if detected[e] {
			c.detected[w.kind]++
		}
	}
}

// anomalyThroughput times batch detection over tpSeries series of tpPoints
// one-second points: the simulator's series (anomalies, bursts and all),
// generated once for at most 100 series and reused round-robin.
func anomalyThroughput(r *run, c *anomalyConfig, opts insights.AnomalyOptions) error {
	distinct := min(c.tpSeries, 100)
	devices := (distinct + 3) / 4
	cc := *c
	cc.duration = time.Duration(c.tpPoints) * time.Second
	cc.gapProb = 0
	stop := r.progress.start(fmt.Sprintf("anomaly: generate %d series × %d points", devices*4, c.tpPoints), func(el time.Duration) string {
		return el.Round(time.Second).String()
	})
	data, err := genAnomalyData(99, devices, 0, &cc)
	stop()
	if err != nil {
		return err
	}
	series := make([]insights.Series, c.tpSeries)
	var points int
	for i := range series {
		s := data[i%len(data)].s
		if len(s.Times) > c.tpPoints {
			s.Times, s.Values = s.Times[:c.tpPoints], s.Values[:c.tpPoints]
		}
		series[i] = s
		points += s.Len()
	}
	var flagged atomic.Int64
	var done atomic.Int64
	stop = r.progress.start("anomaly: batch throughput", func(el time.Duration) string {
		return countStatus(float64(done.Load()), float64(points), "points", el)
	})
	start := time.Now()
	err = insights.ForEachAnomalies(r.ctx, series, opts, func(_ int, pts []insights.Point) error {
		n := 0
		for i := range pts {
			if pts[i].IsAnomaly {
				n++
			}
		}
		flagged.Add(int64(n))
		done.Add(int64(len(pts)))
		return nil
	})
	el := time.Since(start)
	stop()
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	r.add("anomaly/throughput/series", float64(len(series)), "series", nil)
	r.add("anomaly/throughput/points", float64(points), "points", nil)
	r.add("anomaly/throughput/rate", float64(points)/el.Seconds(), "points/s", targetAnomalyPointsPerS)
	r.add("anomaly/throughput/flagged", float64(flagged.Load())/float64(points)*1e6, "per million points", nil)
	return nil
}
