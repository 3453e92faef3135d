package parse

// Walk calls fn for e and, while fn returns true, for each of its
// subexpressions in source order (function arguments, FILTER, window
// PARTITION BY / ORDER BY / frame offsets, CASE arms, …). It does not
// descend into subqueries: Subquery, Exists and In with a Query are visited
// as nodes, and their Query is left to the caller, which has to open a new
// scope for it anyway. A nil e is ignored.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *Binary:
		Walk(e.L, fn)
		Walk(e.R, fn)
	case *Unary:
		Walk(e.X, fn)
	case *Func:
		for _, a := range e.Args {
			Walk(a, fn)
		}
		Walk(e.Filter, fn)
		if w := e.Over; w != nil {
			for _, p := range w.PartitionBy {
				Walk(p, fn)
			}
			for _, o := range w.OrderBy {
				Walk(o.Expr, fn)
			}
			if f := w.Frame; f != nil {
				Walk(f.Start.Offset, fn)
				Walk(f.End.Offset, fn)
			}
		}
	case *NamedArg:
		Walk(e.Value, fn)
	case *Lambda:
		Walk(e.Body, fn)
	case *Case:
		Walk(e.Operand, fn)
		for _, w := range e.Whens {
			Walk(w.Cond, fn)
			Walk(w.Result, fn)
		}
		Walk(e.Else, fn)
	case *Cast:
		Walk(e.X, fn)
	case *In:
		Walk(e.X, fn)
		for _, x := range e.List {
			Walk(x, fn)
		}
	case *Between:
		Walk(e.X, fn)
		Walk(e.Lo, fn)
		Walk(e.Hi, fn)
	case *Like:
		Walk(e.X, fn)
		Walk(e.Pattern, fn)
		Walk(e.Escape, fn)
	case *IsNull:
		Walk(e.X, fn)
	case *Extract:
		Walk(e.X, fn)
	case *Index:
		Walk(e.X, fn)
		Walk(e.Index, fn)
	case *Array:
		for _, x := range e.Elems {
			Walk(x, fn)
		}
	}
}
