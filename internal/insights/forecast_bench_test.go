package insights

import (
	"math"
	"math/rand/v2"
	"testing"
)

// m4LikeSeries is an hourly series the length of a long M4 Hourly one (960
// values): daily and weekly cycles, a slow trend and noise.
func m4LikeSeries() Series {
	rng := rand.New(rand.NewPCG(11, 12))
	y := make([]float64, 960)
	for i := range y {
		v := 100 + 0.02*float64(i) + 20*math.Sin(2*math.Pi*float64(i)/24) + 5*math.Sin(2*math.Pi*float64(i)/168)
		y[i] = v + 3*rng.NormFloat64()
	}
	return hourly(y)
}

// BenchmarkForecast forecasts one M4-length hourly series 48 steps ahead.
//
//	go test ./internal/insights/ -run XXX -bench Forecast -benchmem
func BenchmarkForecast(b *testing.B) {
	s := m4LikeSeries()
	for _, model := range []string{ModelAuto, ModelETS, ModelAAdA, ModelSNaive} {
		b.Run("model="+model, func(b *testing.B) {
			b.ReportAllocs()
			var sink float64
			for b.Loop() {
				res, err := Forecast(s, ForecastOptions{Horizon: 48, Level: 0.95, Model: model})
				if err != nil {
					b.Fatal(err)
				}
				sink += res.Forecast[47].Expected
			}
			_ = sink
		})
	}
}
