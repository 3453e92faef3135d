package enc

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestDecimalScale(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name  string
		vals  []float64
		nulls []bool
		scale int
		ok    bool
	}{
		{"empty", nil, nil, 0, true},
		{"integers", []float64{0, 1, -7, 1e15, 230}, nil, 0, true},
		{"one decimal", []float64{0.1}, nil, 1, true},
		{"temperature", []float64{21.3, 21.4, 21}, nil, 1, true},
		{"humidity", []float64{45.12, 45.1, 45}, nil, 2, true},
		{"mixed scales take the max", []float64{229.8, 777.88, 21.3}, nil, 2, true},
		{"negative", []float64{-12.75, -0.5}, nil, 2, true},
		{"nano", []float64{1e-9}, nil, 9, true},
		{"too many digits", []float64{1e-10}, nil, 0, false},
		{"third of one", []float64{1.0 / 3}, nil, 0, false},
		{"NaN", []float64{1, math.NaN()}, nil, 0, false},
		{"+Inf", []float64{math.Inf(1)}, nil, 0, false},
		{"-Inf", []float64{math.Inf(-1)}, nil, 0, false},
		{"negative zero stays a double", []float64{1.5, negZero}, nil, 0, false},
		{"positive zero", []float64{0}, nil, 0, true},
		{"huge", []float64{1e300}, nil, 0, false},
		{"just over 18 digits", []float64{1e18}, nil, 0, false},
		{"largest exact integer", []float64{1 << 53}, nil, 0, true},
		{"nine digits", []float64{0.123456789}, nil, 9, true},
		{"nulls ignored", []float64{math.NaN(), 2.5}, []bool{true, false}, 1, true},
		{"all null", []float64{math.NaN()}, []bool{true}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := DecimalScale(tt.vals, tt.nulls)
			if ok != tt.ok || (ok && s != tt.scale) {
				t.Fatalf("DecimalScale(%v) = %d, %v; want %d, %v", tt.vals, s, ok, tt.scale, tt.ok)
			}
			if !ok {
				return
			}
			ms, ok := AppendMantissas(nil, tt.vals, tt.nulls, s)
			if !ok {
				t.Fatal("AppendMantissas refused values DecimalScale accepted")
			}
			back := AppendFloats(nil, ms, s)
			for i, v := range tt.vals {
				if tt.nulls != nil && tt.nulls[i] {
					continue
				}
				if math.Float64bits(back[i]) != math.Float64bits(v) {
					t.Errorf("value %d: %v came back as %v", i, v, back[i])
				}
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	ms, ok := AppendMantissas([]int64{42}, []float64{1.25}, nil, 2)
	if !ok || len(ms) != 2 || ms[0] != 42 || ms[1] != 125 {
		t.Fatalf("AppendMantissas = %v, %v", ms, ok)
	}
	fs := AppendFloats([]float64{7}, []int64{125}, 2)
	if len(fs) != 2 || fs[0] != 7 || fs[1] != 1.25 {
		t.Fatalf("AppendFloats = %v", fs)
	}
	fs = AppendFloats([]float64{7}, []int64{125}, 0)
	if len(fs) != 2 || fs[1] != 125 {
		t.Fatalf("AppendFloats scale 0 = %v", fs)
	}
}

// TestParsedDecimalsRoundTrip checks the claim the package rests on: a value
// parsed from a decimal string with d ≤ MaxScale fraction digits is found at
// scale ≤ d and comes back bit for bit.
func TestParsedDecimalsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		d := r.IntN(MaxScale + 1)
		m := r.Int64N(1_000_000_000) - 500_000_000
		s := strconv.FormatInt(m, 10)
		v, err := strconv.ParseFloat(s+"e-"+strconv.Itoa(d), 64)
		if err != nil {
			t.Fatal(err)
		}
		scale, ok := DecimalScale([]float64{v}, nil)
		if !ok || scale > d {
			t.Fatalf("%se-%d = %v: scale %d ok %v", s, d, v, scale, ok)
		}
		got, _ := Mantissa(v, scale)
		if back := FromMantissa(got, scale); math.Float64bits(back) != math.Float64bits(v) {
			t.Fatalf("%v came back as %v", v, back)
		}
	}
}

func FuzzMantissaRoundTrip(f *testing.F) {
	for _, v := range []float64{0, 0.1, 21.3, 45.12, 1e-9, -0.0, math.NaN(), math.Inf(1), 1e300, 123.456789} {
		f.Add(math.Float64bits(v), uint8(3))
	}
	f.Fuzz(func(t *testing.T, bits uint64, sc uint8) {
		v := math.Float64frombits(bits)
		scale := int(sc) % (MaxScale + 1)
		if m, ok := Mantissa(v, scale); ok {
			if m > MaxMantissa || m < -MaxMantissa {
				t.Fatalf("mantissa %d out of range", m)
			}
			if back := FromMantissa(m, scale); math.Float64bits(back) != bits {
				t.Fatalf("Mantissa(%v, %d) = %d, back %v", v, scale, m, back)
			}
		}
		if s, ok := DecimalScale([]float64{v}, nil); ok {
			m, ok2 := Mantissa(v, s)
			if !ok2 || math.Float64bits(FromMantissa(m, s)) != bits {
				t.Fatalf("DecimalScale(%v) = %d but no round trip", v, s)
			}
		}
	})
}

// go test ./internal/tsdb/enc -run '^$' -bench . -count 10 | benchstat -
func BenchmarkDecimal(b *testing.B) {
	vals := make([]float64, 4096)
	x := 21.3
	r := rand.New(rand.NewPCG(3, 4))
	for i := range vals {
		x = math.Round((x+float64(r.IntN(3)-1)*0.1)*10) / 10
		vals[i] = x
	}
	ms := make([]int64, 0, len(vals))
	fs := make([]float64, 0, len(vals))
	b.Run("op=scale", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(8 * len(vals)))
		for b.Loop() {
			if _, ok := DecimalScale(vals, nil); !ok {
				b.Fatal("no scale")
			}
		}
	})
	b.Run("op=encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(8 * len(vals)))
		for b.Loop() {
			ms, _ = AppendMantissas(ms[:0], vals, nil, 1)
		}
	})
	b.Run("op=decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(8 * len(vals)))
		for b.Loop() {
			fs = AppendFloats(fs[:0], ms, 1)
		}
	})
}

// TestScalerSplit: DecimalScale over slices added one by one to a Scaler
// is DecimalScale over their concatenation, however the values are cut.
func TestScalerSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pick := []float64{21.3, 45.12, 230, 0.001, -7.25, math.Pi, 1e17, 123456.789, 0, math.Copysign(0, -1)}
	for range 2000 {
		n := r.IntN(12)
		vals := make([]float64, n)
		var nulls []bool
		if r.IntN(2) == 0 {
			nulls = make([]bool, n)
		}
		for i := range vals {
			vals[i] = pick[r.IntN(len(pick))]
			if nulls != nil {
				nulls[i] = r.IntN(4) == 0
			}
		}
		ws, wok := DecimalScale(vals, nulls)
		var s Scaler
		for i := 0; i < n; {
			j := i + 1 + r.IntN(n-i)
			var nn []bool
			if nulls != nil {
				nn = nulls[i:j]
			}
			s.Add(vals[i:j], nn)
			if r.IntN(3) == 0 {
				s.Add(nil, nil) // an empty slice changes nothing
			}
			i = j
		}
		if gs, gok := s.Scale(); gs != ws || gok != wok {
			t.Fatalf("%v nulls %v: Scaler %d %v, DecimalScale %d %v", vals, nulls, gs, gok, ws, wok)
		}
	}
}
