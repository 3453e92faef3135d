package insights

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

const sec = int64(time.Second)

// t0 is a Monday 00:00 UTC, so day and week slots start at zero.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// noisy returns n points every step from t0: level + Gaussian noise (sd).
func noisy(seed uint64, n int, step int64, level, sd float64) Series {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := Series{Times: make([]int64, n), Values: make([]float64, n)}
	for i := range n {
		s.Times[i] = t0 + int64(i)*step
		s.Values[i] = level + sd*rng.NormFloat64()
	}
	return s
}

// flagged returns the indexes of the anomalous points.
func flagged(pts []Point) []int {
	var out []int
	for i, p := range pts {
		if p.IsAnomaly {
			out = append(out, i)
		}
	}
	return out
}

func mustDetect(t *testing.T, s Series, opts AnomalyOptions) []Point {
	t.Helper()
	pts, err := DetectAnomalies(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != s.Len() {
		t.Fatalf("%d points for %d inputs", len(pts), s.Len())
	}
	for i, p := range pts {
		if p.Time != s.Times[i] || !(p.Value == s.Values[i] || math.IsNaN(p.Value) && math.IsNaN(s.Values[i])) {
			t.Fatalf("point %d is (%d, %v), input (%d, %v)", i, p.Time, p.Value, s.Times[i], s.Values[i])
		}
	}
	return pts
}

// TestDetectHandComputed checks the model's arithmetic on a series small
// enough to follow by hand: a constant 10 gives expected 10, zero scores
// and no anomalies; a jump to 20 at index 15 is scored against expected
// 10 with the scale's floor (no noise was ever seen), so it is flagged.
func TestDetectHandComputed(t *testing.T) {
	s := Series{}
	for i := range 20 {
		v := 10.0
		if i == 15 {
			v = 20
		}
		s.Times = append(s.Times, t0+int64(i)*sec)
		s.Values = append(s.Values, v)
	}
	pts := mustDetect(t, s, AnomalyOptions{})
	for i, p := range pts {
		switch {
		case i < 15:
			if p.Expected != 10 || p.Score != 0 || p.IsAnomaly || p.Lower > 10 || p.Upper < 10 {
				t.Errorf("point %d: %+v, want expected 10, score 0", i, p)
			}
		case i == 15:
			if p.Expected != 10 || !p.IsAnomaly || p.Score < 1e6 {
				t.Errorf("jump: %+v, want expected 10 and a huge score", p)
			}
		}
	}
	// After the jump the level moved by at most alpha·huber·σ: the next
	// point (10 again) is expected within a hair of 10.
	if e := pts[16].Expected; math.Abs(e-10) > 1e-6 {
		t.Errorf("after the jump expected %v, want ≈10 (clipped update)", e)
	}
}

func TestDetectSpikeDipAtIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    int
		delta float64
	}{
		{"spike", 500, +2},
		{"dip", 777, -2},
		{"spike_at_start", 3, +2},
		{"dip_at_end", 999, -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := noisy(7, 1000, sec, 20, 0.1)
			s.Values[tc.at] += tc.delta // 20 σ
			pts := mustDetect(t, s, AnomalyOptions{})
			if got := flagged(pts); !reflect.DeepEqual(got, []int{tc.at}) {
				t.Errorf("flagged %v, want [%d]", got, tc.at)
			}
			p := pts[tc.at]
			if z := math.Abs(p.Value-p.Expected) / ((p.Upper - p.Lower) / 2 / DefaultSensitivity); math.Abs(z-p.Score) > 1e-9 {
				t.Errorf("score %v, but band says %v", p.Score, z)
			}
			if p.Score < 12 || p.Score > 30 {
				t.Errorf("score %v for a 20σ deviation", p.Score)
			}
		})
	}
}

func TestDetectConstantSeries(t *testing.T) {
	s := noisy(1, 5000, sec, 42, 0)
	pts := mustDetect(t, s, AnomalyOptions{})
	for i, p := range pts {
		if p.IsAnomaly || p.Score != 0 || p.Expected != 42 {
			t.Fatalf("point %d: %+v", i, p)
		}
	}
}

func TestDetectQuantizedNoFalseAlarms(t *testing.T) {
	// A sensor with 0.1 resolution whose true value wanders far less:
	// mostly repeats, with single-step changes.
	rng := rand.New(rand.NewPCG(3, 3))
	s := Series{}
	x := 20.0
	for i := range 20000 {
		x += 0.01 * rng.NormFloat64()
		s.Times = append(s.Times, t0+int64(i)*sec)
		s.Values = append(s.Values, math.Round(x*10)/10)
	}
	pts := mustDetect(t, s, AnomalyOptions{})
	if got := flagged(pts); len(got) > 2 {
		t.Errorf("%d false alarms on quantized noise, first %v", len(got), got[:min(5, len(got))])
	}
}

func TestDetectLevelShift(t *testing.T) {
	s := noisy(11, 2000, sec, 100, 0.5)
	for i := 1200; i < len(s.Values); i++ {
		s.Values[i] += 5 // 10 σ, sustained
	}
	pts := mustDetect(t, s, AnomalyOptions{})
	got := flagged(pts)
	if len(got) == 0 || got[0] != 1200 {
		t.Fatalf("flagged %v, want the shift's start 1200 first", got)
	}
	for _, i := range got {
		if i < 1200 || i >= 1200+confirmPoints+3 {
			t.Errorf("flag at %d: want only the shift's first points (confirmed after %d)", i, confirmPoints)
		}
	}
	// The new level is the baseline afterwards.
	if e := pts[1500].Expected; math.Abs(e-105) > 0.5 {
		t.Errorf("expected %v well after the shift, want ≈105", e)
	}
}

func TestDetectGapsAndIrregular(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := Series{}
	tm := t0
	for i := range 6000 {
		switch {
		case i == 2000:
			tm += 3600 * sec // an hour's gap
		case i == 4000:
			tm += 10 * 60 * sec
		case i%97 == 0:
			// a burst: several points within one interval
			for range 5 {
				tm += sec / 6
				s.Times = append(s.Times, tm)
				s.Values = append(s.Values, 50+0.2*rng.NormFloat64())
			}
		}
		tm += sec + int64(rng.IntN(int(sec/5))) - sec/10 // ±10 % jitter
		s.Times = append(s.Times, tm)
		s.Values = append(s.Values, 50+0.2*rng.NormFloat64())
	}
	spike := len(s.Values) - 100
	s.Values[spike] += 4 // 20 σ
	pts := mustDetect(t, s, AnomalyOptions{})
	if got := flagged(pts); !reflect.DeepEqual(got, []int{spike}) {
		t.Errorf("flagged %v, want only the spike at %d", got, spike)
	}
	// The first point after the hour's gap has a wider band.
	var after int
	for i := range s.Times {
		if i > 0 && s.Times[i]-s.Times[i-1] > 3000*sec {
			after = i
		}
	}
	if w, w0 := pts[after].Upper-pts[after].Lower, pts[after+5].Upper-pts[after+5].Lower; w < 4*w0 {
		t.Errorf("band after the gap %v, later %v: want it wider", w, w0)
	}
}

func TestDetectDailySeasonality(t *testing.T) {
	// Five-minute data over 10 days: a daily cycle of ±10 with noise 0.3.
	// The level alone (time constant 5 intervals = 25 min) lags the cycle's
	// slope; the learnt daily profile carries it.
	rng := rand.New(rand.NewPCG(9, 9))
	step := 5 * 60 * sec
	n := 10 * 288
	s := Series{}
	for i := range n {
		tm := t0 + int64(i)*step
		day := float64(tm%int64(24*time.Hour)) / float64(24*time.Hour)
		s.Times = append(s.Times, tm)
		s.Values = append(s.Values, 30+10*math.Sin(2*math.Pi*day)+0.3*rng.NormFloat64())
	}
	spike := 8*288 + 100
	s.Values[spike] += 4
	pts := mustDetect(t, s, AnomalyOptions{})
	if got := flagged(pts); !slices.Contains(got, spike) || len(got) > 3 {
		t.Errorf("flagged %v, want the spike at %d and at most 2 others", got, spike)
	}
	none := mustDetect(t, s, AnomalyOptions{Seasonality: SeasonNone})
	// Mean absolute error of the expected values on the last days.
	mae := func(pts []Point) float64 {
		var sum float64
		for _, p := range pts[7*288:] {
			sum += math.Abs(p.Value - p.Expected)
		}
		return sum / float64(len(pts)-7*288)
	}
	if a, b := mae(pts), mae(none); !(a < 0.8*b) {
		t.Errorf("error with the daily profile %v, without %v: want it clearly lower", a, b)
	}
}

func TestDetectNaN(t *testing.T) {
	s := noisy(2, 300, sec, 5, 0.1)
	s.Values[100] = math.NaN()
	s.Values[200] = math.Inf(1)
	pts := mustDetect(t, s, AnomalyOptions{})
	for _, i := range []int{100, 200} {
		if pts[i].IsAnomaly || pts[i].Score != 0 || math.IsNaN(pts[i].Expected) {
			t.Errorf("point %d: %+v, want a baseline and no score", i, pts[i])
		}
	}
	if got := flagged(pts); len(got) != 0 {
		t.Errorf("flagged %v", got)
	}
	all := Series{Times: []int64{1, 2}, Values: []float64{math.NaN(), math.NaN()}}
	for _, p := range mustDetect(t, all, AnomalyOptions{}) {
		if p.IsAnomaly {
			t.Errorf("all-NaN: %+v", p)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Series
		opts AnomalyOptions
	}{
		{"lengths", Series{Times: []int64{1, 2}, Values: []float64{1}}, AnomalyOptions{}},
		{"descending", Series{Times: []int64{2, 1}, Values: []float64{1, 1}}, AnomalyOptions{}},
		{"sensitivity", Series{}, AnomalyOptions{Sensitivity: -1}},
		{"interval", Series{}, AnomalyOptions{Interval: -1}},
		{"seasonality", Series{}, AnomalyOptions{Seasonality: 99}},
	} {
		if _, err := DetectAnomalies(tc.s, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if pts, err := DetectAnomalies(Series{}, AnomalyOptions{}); err != nil || len(pts) != 0 {
		t.Errorf("empty: %v, %v", pts, err)
	}
	one := Series{Times: []int64{5}, Values: []float64{3}}
	if pts, err := DetectAnomalies(one, AnomalyOptions{}); err != nil || len(pts) != 1 || pts[0].Expected != 3 {
		t.Errorf("one point: %v, %v", pts, err)
	}
}

func TestParseSensitivity(t *testing.T) {
	for in, want := range map[string]float64{"": 5, "medium": 5, "LOW": 6, "high": 4, "3.5": 3.5} {
		if got, err := ParseSensitivity(in); err != nil || got != want {
			t.Errorf("ParseSensitivity(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "-1", "0", "NaN", "Inf"} {
		if _, err := ParseSensitivity(in); err == nil {
			t.Errorf("ParseSensitivity(%q): no error", in)
		}
	}
	// Higher sensitivity (a lower threshold) never flags fewer points.
	s := noisy(4, 5000, sec, 0, 1)
	lo := flagged(mustDetect(t, s, AnomalyOptions{Sensitivity: SensitivityLow}))
	hi := flagged(mustDetect(t, s, AnomalyOptions{Sensitivity: 3}))
	if len(hi) < len(lo) || len(hi) == 0 {
		t.Errorf("threshold 3 flags %d, low flags %d", len(hi), len(lo))
	}
}

func TestDetectAnomaliesMany(t *testing.T) {
	var series []Series
	for i := range 9 {
		s := noisy(uint64(i), 500+i*37, sec, float64(i), 0.5)
		s.Values[100+i] += 10
		series = append(series, s)
	}
	got, err := DetectAnomaliesMany(context.Background(), series, AnomalyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range series {
		want := mustDetect(t, s, AnomalyOptions{})
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("series %d differs from DetectAnomalies", i)
		}
	}
	bad := append(slices.Clone(series), Series{Times: []int64{1}})
	if _, err := DetectAnomaliesMany(context.Background(), bad, AnomalyOptions{}); err == nil {
		t.Error("a malformed series: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DetectAnomaliesMany(ctx, series, AnomalyOptions{}); err == nil {
		t.Error("cancelled context: no error")
	}
}
