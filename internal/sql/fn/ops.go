package fn

import (
	"errors"
	"math"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// ErrOverflow is returned when BIGINT (or TIMESTAMP/INTERVAL) arithmetic
// leaves the 64-bit range.
var ErrOverflow = errors.New("bigint overflow")

// ErrDivisionByZero is returned by BIGINT / and % with a zero divisor.
var ErrDivisionByZero = errors.New("division by zero")

const nsPerDay = 86400 * int64(1e9)

type arithOp int

const (
	opAdd arithOp = iota
	opSub
	opMul
	opDiv
	opMod
)

func init() {
	for _, o := range []struct {
		name string
		op   arithOp
	}{{"+", opAdd}, {"-", opSub}, {"*", opMul}, {"/", opDiv}, {"%", opMod}} {
		op := o.op
		register(o.name,
			sig(kI, intArith(op, kI), kI, kI),
			sig(kF, floatArith(op), kF, kF),
		)
	}
	alias("mod", "%")
	// Time arithmetic; intervals are nanoseconds, dates are days.
	register("+",
		sig(kTS, intArith(opAdd, kTS), kTS, kIV),
		sig(kTS, intArith(opAdd, kTS), kIV, kTS),
		sig(kIV, intArith(opAdd, kIV), kIV, kIV),
		sig(kD, dateShift(1), kD, kIV),
		sig(kD, func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
			return dateShift(1)([]*columnar.Column{a[1], a[0]}, n, c)
		}, kIV, kD),
	)
	register("-",
		sig(kTS, intArith(opSub, kTS), kTS, kIV),
		sig(kIV, intArith(opSub, kIV), kTS, kTS),
		sig(kIV, intArith(opSub, kIV), kIV, kIV),
		sig(kD, dateShift(-1), kD, kIV),
	)
	register("*",
		sig(kIV, intArith(opMul, kIV), kIV, kI),
		sig(kIV, intArith(opMul, kIV), kI, kIV),
		sig(kIV, ivFloat(opMul), kIV, kF),
		sig(kIV, func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
			return ivFloat(opMul)([]*columnar.Column{a[1], a[0]}, n, c)
		}, kF, kIV),
	)
	register("/",
		sig(kIV, intArith(opDiv, kIV), kIV, kI),
		sig(kIV, ivFloat(opDiv), kIV, kF),
	)
	neg := func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		x := a[0]
		m := colLen(x)
		out := &columnar.Column{Type: x.Type, Nulls: copyNulls(x.Nulls)}
		if x.Type == columnar.Float64 {
			out.Floats = make([]float64, m)
			for i, v := range x.Floats {
				out.Floats[i] = -v
			}
		} else {
			out.Ints = make([]int64, m)
			for i, v := range x.Ints {
				if v == math.MinInt64 && !x.IsNull(i) {
					return nil, ErrOverflow
				}
				out.Ints[i] = -v
			}
		}
		return broadcast(out, n), nil
	}
	register("-", sig(kI, neg, kI), sig(kF, neg, kF), sig(kIV, neg, kIV))
	register("negate", sig(kI, neg, kI), sig(kF, neg, kF), sig(kIV, neg, kIV))

	for _, o := range []struct {
		name string
		op   cmpOp
	}{{"=", cmpEq}, {"<>", cmpNe}, {"!=", cmpNe}, {"<", cmpLt}, {"<=", cmpLe}, {">", cmpGt}, {">=", cmpGe}} {
		op := o.op
		for _, t := range []columnar.Type{kI, kF, kS, kB, kTS, kD, kIV} {
			register(o.name, sig(kB, compare(op), t, t))
		}
	}
	for _, t := range []columnar.Type{kI, kF, kS, kB, kTS, kD, kIV} {
		register("is distinct from", sig(kB, distinct(false), t, t))
		register("is not distinct from", sig(kB, distinct(true), t, t))
	}
	for _, t := range []columnar.Type{kB, kI, kF, kS, kTS, kD, kIV, kU} {
		register("is null", sig(kB, isNull(true), t))
		register("is not null", sig(kB, isNull(false), t))
	}
	register("and", variadic(kB, And, kB, kB))
	register("or", variadic(kB, Or, kB, kB))
	register("not", sig(kB, Not, kB))
	register("||", sig(kS, concat, kS, kS))
}

// broadcast expands a one-row column to n rows (no-op otherwise).
func broadcast(c *columnar.Column, n int) *columnar.Column {
	if colLen(c) == n || colLen(c) != 1 {
		return c
	}
	return Broadcast(c, n)
}

// Broadcast returns a column of n rows each equal to row 0 of c.
func Broadcast(c *columnar.Column, n int) *columnar.Column {
	if c.IsNull(0) {
		return NullColumn(c.Type, n)
	}
	out := &columnar.Column{Type: c.Type}
	switch c.Type {
	case columnar.Bool:
		out.Bools = make([]bool, n)
		if v := c.Bools[0]; v {
			for i := range out.Bools {
				out.Bools[i] = v
			}
		}
	case columnar.Float64:
		out.Floats = make([]float64, n)
		if v := c.Floats[0]; v != 0 {
			for i := range out.Floats {
				out.Floats[i] = v
			}
		}
	case columnar.String:
		out.Strs = make([]string, n)
		for i := range out.Strs {
			out.Strs[i] = c.Strs[0]
		}
	case columnar.Unknown:
		return NullColumn(c.Type, n)
	default:
		out.Ints = make([]int64, n)
		if v := c.Ints[0]; v != 0 {
			for i := range out.Ints {
				out.Ints[i] = v
			}
		}
	}
	return out
}

func copyNulls(n []bool) []bool {
	if n == nil {
		return nil
	}
	return append([]bool(nil), n...)
}

func intArith(op arithOp, ret columnar.Type) ScalarFunc {
	return func(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		a, b := args[0], args[1]
		nulls := unionNulls(args, n)
		out := make([]int64, n)
		ac, bc := isConst(a, n), isConst(b, n)
		ai, bi := a.Ints, b.Ints
		bad := func(i int, err error) error {
			if nulls != nil && nulls[i] {
				return nil
			}
			return err
		}
		for i := range out {
			x, y := ai[0], bi[0]
			if !ac {
				x = ai[i]
			}
			if !bc {
				y = bi[i]
			}
			var r int64
			switch op {
			case opAdd:
				r = x + y
				if (x^r)&(y^r) < 0 {
					if err := bad(i, ErrOverflow); err != nil {
						return nil, err
					}
				}
			case opSub:
				r = x - y
				if (x^y)&(x^r) < 0 {
					if err := bad(i, ErrOverflow); err != nil {
						return nil, err
					}
				}
			case opMul:
				r = x * y
				if x != 0 && (r/x != y || (x == -1 && y == math.MinInt64)) {
					if err := bad(i, ErrOverflow); err != nil {
						return nil, err
					}
				}
			case opDiv, opMod:
				if y == 0 {
					if err := bad(i, ErrDivisionByZero); err != nil {
						return nil, err
					}
					continue
				}
				if x == math.MinInt64 && y == -1 {
					if op == opMod {
						continue
					}
					if err := bad(i, ErrOverflow); err != nil {
						return nil, err
					}
					continue
				}
				if op == opDiv {
					r = x / y
				} else {
					r = x % y
				}
			}
			out[i] = r
		}
		return &columnar.Column{Type: ret, Ints: out, Nulls: nulls}, nil
	}
}

func floatArith(op arithOp) ScalarFunc {
	return func(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		a, b := args[0], args[1]
		af, bf := a.Floats, b.Floats
		if colLen(a) == 1 && colLen(b) == 1 {
			c := &columnar.Column{Type: columnar.Float64, Floats: []float64{floatOp(op, af[0], bf[0])}, Nulls: unionNulls(args, 1)}
			return broadcast(c, n), nil
		}
		out := make([]float64, n)
		switch {
		case isConst(b, n):
			floatKernelConst(op, af[:n], bf[0], out, false)
		case isConst(a, n):
			floatKernelConst(op, bf[:n], af[0], out, true)
		default:
			for i := range out {
				out[i] = floatOp(op, af[i], bf[i])
			}
		}
		return &columnar.Column{Type: columnar.Float64, Floats: out, Nulls: unionNulls(args, n)}, nil
	}
}

func floatOp(op arithOp, x, y float64) float64 {
	switch op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	default:
		return math.Mod(x, y)
	}
}

// floatKernelConst computes a op c (or c op a when swapped) into out.
func floatKernelConst(op arithOp, a []float64, c float64, out []float64, swapped bool) {
	switch {
	case op == opAdd:
		for i, v := range a {
			out[i] = v + c
		}
	case op == opMul:
		for i, v := range a {
			out[i] = v * c
		}
	case op == opSub && !swapped:
		for i, v := range a {
			out[i] = v - c
		}
	case op == opDiv && !swapped:
		for i, v := range a {
			out[i] = v / c
		}
	default:
		for i, v := range a {
			if swapped {
				out[i] = floatOp(op, c, v)
			} else {
				out[i] = floatOp(op, v, c)
			}
		}
	}
}

// ivFloat multiplies or divides an interval by a DOUBLE, rounding to ns.
func ivFloat(op arithOp) ScalarFunc {
	return rowFunc(columnar.Interval, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		x, y := float64(i64(a[0], i)), f64(a[1], i)
		var r float64
		if op == opMul {
			r = x * y
		} else {
			if y == 0 {
				return ErrDivisionByZero
			}
			r = x / y
		}
		if math.IsNaN(r) || r >= 9.2e18 || r <= -9.2e18 {
			return ErrOverflow
		}
		out.AppendInt(int64(math.Round(r)))
		return nil
	})
}

// dateShift adds (sign 1) or subtracts an interval of whole days to a date.
func dateShift(sign int64) ScalarFunc {
	return rowFunc(columnar.Date, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		iv := i64(a[1], i)
		if iv%nsPerDay != 0 {
			return errors.New("cannot add an interval with hours, minutes or seconds to a DATE")
		}
		out.AppendInt(i64(a[0], i) + sign*iv/nsPerDay)
		return nil
	})
}

type cmpOp int

const (
	cmpEq cmpOp = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

// flip returns the operator with its operands swapped (a < b == b > a).
func (o cmpOp) flip() cmpOp {
	switch o {
	case cmpLt:
		return cmpGt
	case cmpLe:
		return cmpGe
	case cmpGt:
		return cmpLt
	case cmpGe:
		return cmpLe
	}
	return o
}

type ordered interface{ ~int64 | ~float64 | ~string }

func cmpConst[T ordered](op cmpOp, a []T, c T, out []bool) {
	switch op {
	case cmpEq:
		for i, v := range a {
			out[i] = v == c
		}
	case cmpNe:
		for i, v := range a {
			out[i] = v != c
		}
	case cmpLt:
		for i, v := range a {
			out[i] = v < c
		}
	case cmpLe:
		for i, v := range a {
			out[i] = v <= c
		}
	case cmpGt:
		for i, v := range a {
			out[i] = v > c
		}
	case cmpGe:
		for i, v := range a {
			out[i] = v >= c
		}
	}
}

func cmpVec[T ordered](op cmpOp, a, b []T, out []bool) {
	b = b[:len(a)]
	switch op {
	case cmpEq:
		for i, v := range a {
			out[i] = v == b[i]
		}
	case cmpNe:
		for i, v := range a {
			out[i] = v != b[i]
		}
	case cmpLt:
		for i, v := range a {
			out[i] = v < b[i]
		}
	case cmpLe:
		for i, v := range a {
			out[i] = v <= b[i]
		}
	case cmpGt:
		for i, v := range a {
			out[i] = v > b[i]
		}
	case cmpGe:
		for i, v := range a {
			out[i] = v >= b[i]
		}
	}
}

func cmpTyped[T ordered](op cmpOp, a, b []T, ac, bc bool, n int, out []bool) {
	switch {
	case ac && bc:
		cmpConst(op, a[:1], b[0], out[:1])
		for i := 1; i < n; i++ {
			out[i] = out[0]
		}
	case bc:
		cmpConst(op, a[:n], b[0], out)
	case ac:
		cmpConst(op.flip(), b[:n], a[0], out)
	default:
		cmpVec(op, a[:n], b[:n], out)
	}
}

func boolInts(b []bool) []int64 {
	out := make([]int64, len(b))
	for i, v := range b {
		if v {
			out[i] = 1
		}
	}
	return out
}

func compare(op cmpOp) ScalarFunc {
	return func(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		a, b := args[0], args[1]
		out := make([]bool, n)
		ac, bc := isConst(a, n), isConst(b, n)
		switch a.Type {
		case columnar.Float64:
			cmpTyped(op, a.Floats, b.Floats, ac, bc, n, out)
		case columnar.String:
			cmpTyped(op, a.Strs, b.Strs, ac, bc, n, out)
		case columnar.Bool:
			cmpTyped(op, boolInts(a.Bools), boolInts(b.Bools), ac, bc, n, out)
		default:
			cmpTyped(op, a.Ints, b.Ints, ac, bc, n, out)
		}
		return &columnar.Column{Type: columnar.Bool, Bools: out, Nulls: unionNulls(args, n)}, nil
	}
}

func distinct(not bool) ScalarFunc {
	eq := compare(cmpEq)
	return func(args []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
		c, err := eq(args, n, ctx)
		if err != nil {
			return nil, err
		}
		for i := range c.Bools {
			an, bn := null(args[0], i), null(args[1], i)
			var same bool
			if an || bn {
				same = an && bn
			} else {
				same = c.Bools[i]
			}
			c.Bools[i] = same == not
		}
		c.Nulls = nil
		return c, nil
	}
}

func isNull(want bool) ScalarFunc {
	return func(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		out := make([]bool, n)
		for i := range out {
			out[i] = null(args[0], i) == want
		}
		return &columnar.Column{Type: columnar.Bool, Bools: out}, nil
	}
}

// And is SQL's three-valued AND over any number of BOOLEAN columns.
func And(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	return logic(args, n, false), nil
}

// Or is SQL's three-valued OR over any number of BOOLEAN columns.
func Or(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	return logic(args, n, true), nil
}

// logic folds AND (dominant false) or OR (dominant true): the dominant
// value wins over NULL; otherwise NULL wins over the other value.
func logic(args []*columnar.Column, n int, dominant bool) *columnar.Column {
	out := make([]bool, n)
	for i := range out {
		out[i] = !dominant
	}
	var nulls []bool
	for _, a := range args {
		c := isConst(a, n)
		for i := range out {
			j := i
			if c {
				j = 0
			}
			if out[i] == dominant && (nulls == nil || !nulls[i]) {
				continue
			}
			if a.Nulls != nil && a.Nulls[j] {
				if out[i] != dominant {
					if nulls == nil {
						nulls = make([]bool, n)
					}
					nulls[i] = true
				}
				continue
			}
			if a.Bools[j] == dominant {
				out[i] = dominant
				if nulls != nil {
					nulls[i] = false
				}
			}
		}
	}
	return &columnar.Column{Type: columnar.Bool, Bools: out, Nulls: nulls}
}

// Not is SQL's NOT (NULL stays NULL).
func Not(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	a := args[0]
	out := make([]bool, colLen(a))
	for i, v := range a.Bools {
		out[i] = !v
	}
	return broadcast(&columnar.Column{Type: columnar.Bool, Bools: out, Nulls: copyNulls(a.Nulls)}, n), nil
}

func concat(args []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	out := make([]string, n)
	for i := range out {
		out[i] = str(args[0], i) + str(args[1], i)
	}
	return &columnar.Column{Type: columnar.String, Strs: out, Nulls: unionNulls(args, n)}, nil
}
