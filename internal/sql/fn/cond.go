package fn

import (
	"github.com/sluice-dev/sluice/internal/columnar"
)

func init() {
	for _, t := range []columnar.Type{kB, kI, kF, kS, kTS, kD, kIV} {
		register("coalesce", variadic(t, coalesce(t), t))
		register("nullif", sig(t, nullif, t, t))
		register("if", sig(t, ifFn(t), kB, t), sig(t, ifFn(t), kB, t, t))
	}
	register("coalesce", variadic(kU, coalesce(kU), kU))
	register("if", sig(kU, ifFn(kU), kB, kU), sig(kU, ifFn(kU), kB, kU, kU))
}

// coalesce returns, per row, the first non-NULL argument.
func coalesce(t columnar.Type) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		if t == columnar.Unknown {
			return NullColumn(t, n), nil
		}
		out := columnar.NewColumn(t, n)
		for i := 0; i < n; i++ {
			done := false
			for _, c := range a {
				if !null(c, i) {
					out.AppendFrom(c, idx(c, i))
					done = true
					break
				}
			}
			if !done {
				out.AppendNull()
			}
		}
		return out, nil
	}
}

func nullif(a []*columnar.Column, n int, ctx *Context) (*columnar.Column, error) {
	eq, err := compare(cmpEq)(a, n, ctx)
	if err != nil {
		return nil, err
	}
	out := columnar.NewColumn(a[0].Type, n)
	for i := 0; i < n; i++ {
		if null(a[0], i) || (!null(a[1], i) && eq.Bools[i]) {
			out.AppendNull()
			continue
		}
		out.AppendFrom(a[0], idx(a[0], i))
	}
	return out, nil
}

// ifFn is if(cond, a[, b]): a where cond is true, else b (or NULL). The
// executor evaluates the branches lazily; this eager form is for callers
// that have all arguments already.
func ifFn(t columnar.Type) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		if t == columnar.Unknown {
			return NullColumn(t, n), nil
		}
		out := columnar.NewColumn(t, n)
		for i := 0; i < n; i++ {
			c := a[0]
			var src *columnar.Column
			if !null(c, i) && boolv(c, i) {
				src = a[1]
			} else if len(a) > 2 {
				src = a[2]
			}
			if src == nil {
				out.AppendNull()
				continue
			}
			out.AppendFrom(src, idx(src, i))
		}
		return out, nil
	}
}
