package insights

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestSamplingInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	jittered := make([]int64, 500)
	for i := range jittered {
		jittered[i] = int64(i)*int64(time.Second) + rng.Int64N(int64(100*time.Millisecond))
	}
	gappy := []int64{0, 60, 120, 180, 3600, 3660, 3720, 3720, 3780} // seconds, with a gap and a duplicate
	for i := range gappy {
		gappy[i] *= int64(time.Second)
	}
	tests := []struct {
		name  string
		times []int64
		want  time.Duration
	}{
		{"jittered 1s", jittered, time.Second},
		{"minutes with a gap", gappy, time.Minute},
		{"odd 7s", []int64{0, 7e9, 14e9, 21e9}, 7 * time.Second},
		{"one point", []int64{5}, 0},
		{"all equal", []int64{5, 5, 5}, 0},
	}
	for _, tc := range tests {
		if got := SamplingInterval(tc.times); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestCandidatePeriods(t *testing.T) {
	tests := []struct {
		interval time.Duration
		n        int
		want     []int
	}{
		{time.Hour, 960, []int{24, 168}},
		{time.Hour, 300, []int{24}},
		{time.Hour, 40, nil},
		{time.Minute, 3000, []int{1440}},
		{time.Minute, 30000, []int{1440, 10080}},
		{time.Second, 2 * 86400, []int{86400}},
		{24 * time.Hour, 30, []int{7}},
	}
	for _, tc := range tests {
		if got := CandidatePeriods(tc.interval, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("CandidatePeriods(%s, %d) = %v, want %v", tc.interval, tc.n, got, tc.want)
		}
	}
}

func TestDetectPeriod(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	const n = 24 * 35
	gen := func(f func(i int) float64) []float64 {
		y := make([]float64, n)
		for i := range y {
			y[i] = f(i)
		}
		return y
	}
	walk := 0.0
	ar := 0.0
	tests := []struct {
		name string
		y    []float64
		want int
	}{
		{"daily sinusoid", gen(func(i int) float64 { return 3*math.Sin(2*math.Pi*float64(i)/24) + rng.NormFloat64() }), 24},
		{"daily sinusoid on a trend", gen(func(i int) float64 { return 0.1*float64(i) + math.Sin(2*math.Pi*float64(i)/24) + 0.5*rng.NormFloat64() }), 24},
		{"weekday/weekend", gen(func(i int) float64 {
			v := 2 * math.Sin(2*math.Pi*float64(i)/24)
			if (i/24)%7 >= 5 {
				v = 5 + 0.3*v
			}
			return v + 0.3*rng.NormFloat64()
		}), 168},
		{"white noise", gen(func(int) float64 { return rng.NormFloat64() }), 1},
		{"random walk", gen(func(int) float64 { walk += rng.NormFloat64(); return walk }), 1},
		{"AR(1) 0.97", gen(func(int) float64 { ar = 0.97*ar + rng.NormFloat64(); return ar }), 1},
	}
	for _, tc := range tests {
		got, scores := DetectPeriod(tc.y, []int{24, 168})
		if got != tc.want {
			t.Errorf("%s: period %d, want %d (scores %+v)", tc.name, got, tc.want, scores)
		}
	}
}

func TestRegularize(t *testing.T) {
	s := Series{
		Times:  []int64{0, 10, 19, 21, 50, 60}, // step 10: slots 0,1,2,2,5,6
		Values: []float64{1, 2, 3, 5, 8, 9},
	}
	g, err := regularize(s, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 2, 4, 5.333333333333333, 6.666666666666667, 8, 9}
	if len(g.y) != len(want) {
		t.Fatalf("grid %v, want %v", g.y, want)
	}
	for i := range want {
		if !near(g.y[i], want[i], 1e-12) {
			t.Fatalf("grid %v, want %v", g.y, want)
		}
	}
	if g.filled != 2 || !slices.Equal(g.slot, []int{0, 1, 2, 2, 5, 6}) {
		t.Errorf("filled %d slots %v, want 2 [0 1 2 2 5 6]", g.filled, g.slot)
	}

	// A seasonal refill keeps the cycle through a long gap.
	var ss Series
	for i := range 40 {
		if i >= 21 && i < 27 {
			continue
		}
		ss.Times = append(ss.Times, int64(i))
		ss.Values = append(ss.Values, float64(i%8))
	}
	g, err = regularize(ss, 1)
	if err != nil {
		t.Fatal(err)
	}
	g.fillSeasonal(8)
	for i := 21; i < 27; i++ {
		if !near(g.y[i], float64(i%8), 1e-12) {
			t.Errorf("refilled slot %d = %v, want %v", i, g.y[i], float64(i%8))
		}
	}

	if _, err := regularize(Series{Times: []int64{0, 1, 1e6}, Values: []float64{1, 2, 3}}, 1); err == nil {
		t.Error("a grid of a million steps for 3 points was accepted")
	}
}
