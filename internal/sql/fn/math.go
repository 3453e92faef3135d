package fn

import (
	"fmt"
	"math"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// floatUnary applies f to a DOUBLE column elementwise (NULLs pass through).
func floatUnary(f func(float64) float64) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		out := make([]float64, colLen(x))
		for i, v := range x.Floats {
			out[i] = f(v)
		}
		return broadcast(&columnar.Column{Type: columnar.Float64, Floats: out, Nulls: copyNulls(x.Nulls)}, n), nil
	}
}

func floatBinary(f func(a, b float64) float64) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(f64(a[0], i), f64(a[1], i))
		}
		return &columnar.Column{Type: columnar.Float64, Floats: out, Nulls: unionNulls(a, n)}, nil
	}
}

func intUnary(f func(int64) (int64, error)) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		out := make([]int64, colLen(x))
		for i, v := range x.Ints {
			r, err := f(v)
			if err != nil && !x.IsNull(i) {
				return nil, err
			}
			out[i] = r
		}
		return broadcast(&columnar.Column{Type: x.Type, Ints: out, Nulls: copyNulls(x.Nulls)}, n), nil
	}
}

func identity(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	return broadcast(a[0], n), nil
}

// roundHalfAway rounds x to d decimal places, half away from zero.
func roundHalfAway(x float64, d int64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	if d == 0 {
		return math.Round(x)
	}
	if d > 300 || d < -300 {
		if d > 0 {
			return x
		}
		return 0
	}
	p := math.Pow(10, float64(d))
	y := x * p
	if math.IsInf(y, 0) {
		return x
	}
	r := math.Round(y) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return x
	}
	return r
}

// roundInt rounds v to 10^-d (d <= 0), half away from zero.
func roundInt(v, d int64) (int64, error) {
	if d >= 0 {
		return v, nil
	}
	if d < -18 {
		return 0, nil
	}
	p := int64(math.Pow10(int(-d)))
	q := v / p * p
	r := v - q
	switch {
	case r >= 0 && 2*r >= p:
		if q > math.MaxInt64-p {
			return 0, ErrOverflow
		}
		q += p
	case r < 0 && -2*r >= p:
		if q < math.MinInt64+p {
			return 0, ErrOverflow
		}
		q -= p
	}
	return q, nil
}

func init() {
	abs := intUnary(func(v int64) (int64, error) {
		if v == math.MinInt64 {
			return 0, ErrOverflow
		}
		if v < 0 {
			return -v, nil
		}
		return v, nil
	})
	register("abs", sig(kI, abs, kI), sig(kF, floatUnary(math.Abs), kF), sig(kIV, abs, kIV))
	register("ceil", sig(kI, identity, kI), sig(kF, floatUnary(math.Ceil), kF))
	alias("ceiling", "ceil")
	register("floor", sig(kI, identity, kI), sig(kF, floatUnary(math.Floor), kF))
	register("round",
		sig(kI, identity, kI),
		sig(kF, floatUnary(math.Round), kF),
		sig(kF, rowFunc(kF, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendFloat(roundHalfAway(f64(a[0], i), i64(a[1], i)))
			return nil
		}), kF, kI),
		sig(kI, rowFunc(kI, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			v, err := roundInt(i64(a[0], i), i64(a[1], i))
			out.AppendInt(v)
			return err
		}), kI, kI))
	register("truncate",
		sig(kF, floatUnary(math.Trunc), kF),
		sig(kF, rowFunc(kF, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			x, d := f64(a[0], i), i64(a[1], i)
			p := math.Pow(10, float64(d))
			out.AppendFloat(math.Trunc(x*p) / p)
			return nil
		}), kF, kI))
	register("sqrt", sig(kF, floatUnary(math.Sqrt), kF))
	register("cbrt", sig(kF, floatUnary(math.Cbrt), kF))
	register("exp", sig(kF, floatUnary(math.Exp), kF))
	register("ln", sig(kF, floatUnary(math.Log), kF))
	register("log2", sig(kF, floatUnary(math.Log2), kF))
	register("log10", sig(kF, floatUnary(math.Log10), kF))
	register("log", sig(kF, floatBinary(func(b, x float64) float64 { return math.Log(x) / math.Log(b) }), kF, kF))
	register("pow", sig(kF, floatBinary(math.Pow), kF, kF))
	alias("power", "pow")
	register("sign",
		sig(kI, intUnary(func(v int64) (int64, error) {
			switch {
			case v > 0:
				return 1, nil
			case v < 0:
				return -1, nil
			}
			return 0, nil
		}), kI),
		sig(kF, floatUnary(func(v float64) float64 {
			switch {
			case v > 0:
				return 1
			case v < 0:
				return -1
			}
			return v // 0, -0 and NaN
		}), kF))
	constF := func(v float64) ScalarFunc {
		return func(_ []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
			return Broadcast(&columnar.Column{Type: columnar.Float64, Floats: []float64{v}}, n), nil
		}
	}
	register("pi", sig(kF, constF(math.Pi), nil...))
	register("e", sig(kF, constF(math.E), nil...))
	register("nan", sig(kF, constF(math.NaN()), nil...))
	register("infinity", sig(kF, constF(math.Inf(1)), nil...))
	registerDef("random", true,
		sig(kF, func(_ []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
			out := make([]float64, n)
			for i := range out {
				out[i] = c.float64()
			}
			return &columnar.Column{Type: columnar.Float64, Floats: out}, nil
		}, nil...),
		sig(kI, rowFunc(kI, func(a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
			m := i64(a[0], i)
			if m <= 0 {
				return fmt.Errorf("random: bound must be positive, got %d", m)
			}
			out.AppendInt(int64(c.float64() * float64(m)))
			return nil
		}), kI))
	alias("rand", "random")
	for name, f := range map[string]func(float64) float64{
		"sin": math.Sin, "cos": math.Cos, "tan": math.Tan, "asin": math.Asin, "acos": math.Acos, "atan": math.Atan,
		"sinh": math.Sinh, "cosh": math.Cosh, "tanh": math.Tanh,
		"degrees": func(x float64) float64 { return x * 180 / math.Pi },
		"radians": func(x float64) float64 { return x * math.Pi / 180 },
	} {
		register(name, sig(kF, floatUnary(f), kF))
	}
	register("atan2", sig(kF, floatBinary(math.Atan2), kF, kF))
	boolOfFloat := func(f func(float64) bool) ScalarFunc {
		return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
			x := a[0]
			out := make([]bool, colLen(x))
			for i, v := range x.Floats {
				out[i] = f(v)
			}
			return broadcast(&columnar.Column{Type: columnar.Bool, Bools: out, Nulls: copyNulls(x.Nulls)}, n), nil
		}
	}
	register("is_nan", sig(kB, boolOfFloat(math.IsNaN), kF))
	register("is_finite", sig(kB, boolOfFloat(func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }), kF))
	register("is_infinite", sig(kB, boolOfFloat(func(f float64) bool { return math.IsInf(f, 0) }), kF))
	register("width_bucket", sig(kI, rowFunc(kI, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		x, lo, hi, cnt := f64(a[0], i), f64(a[1], i), f64(a[2], i), i64(a[3], i)
		if cnt <= 0 {
			return fmt.Errorf("width_bucket: bucket count must be positive, got %d", cnt)
		}
		if lo == hi || math.IsNaN(lo) || math.IsNaN(hi) || math.IsNaN(x) {
			return fmt.Errorf("width_bucket: bounds must differ and operands must not be NaN")
		}
		var b int64
		if lo < hi {
			switch {
			case x < lo:
				b = 0
			case x >= hi:
				b = cnt + 1
			default:
				b = int64(float64(cnt)*(x-lo)/(hi-lo)) + 1
			}
		} else {
			switch {
			case x > lo:
				b = 0
			case x <= hi:
				b = cnt + 1
			default:
				b = int64(float64(cnt)*(lo-x)/(lo-hi)) + 1
			}
		}
		out.AppendInt(b)
		return nil
	}), kF, kF, kF, kI))
	for _, name := range []string{"greatest", "least"} {
		want := 1
		if name == "least" {
			want = -1
		}
		for _, t := range []columnar.Type{kI, kF, kS, kTS, kD, kIV, kB} {
			register(name, variadic(t, extreme(t, want), t))
		}
	}
}

// extreme implements greatest (want 1) and least (want -1): NULL if any
// argument is NULL, as Trino does; NaN is the greatest DOUBLE.
func extreme(t columnar.Type, want int) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		out := columnar.NewColumn(t, n)
		for i := 0; i < n; i++ {
			if anyNull(a, i) {
				out.AppendNull()
				continue
			}
			best := 0
			for k := 1; k < len(a); k++ {
				if compareValues(a[k], idx(a[k], i), a[best], idx(a[best], i))*want > 0 {
					best = k
				}
			}
			out.AppendFrom(a[best], idx(a[best], i))
		}
		return out, nil
	}
}

// compareValues orders row i of a against row j of b (same type, neither
// NULL): -1, 0 or 1. DOUBLE NaN sorts above every other value.
func compareValues(a *columnar.Column, i int, b *columnar.Column, j int) int {
	switch a.Type {
	case columnar.Float64:
		return CompareFloat(a.Floats[i], b.Floats[j])
	case columnar.String:
		x, y := a.Strs[i], b.Strs[j]
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case columnar.Bool:
		x, y := a.Bools[i], b.Bools[j]
		switch {
		case x == y:
			return 0
		case y:
			return -1
		}
		return 1
	default:
		x, y := a.Ints[i], b.Ints[j]
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
}

// CompareFloat is a total order on DOUBLE for sorting: NaN above +Inf,
// -0 equal to 0.
func CompareFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	xn, yn := math.IsNaN(x), math.IsNaN(y)
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}
