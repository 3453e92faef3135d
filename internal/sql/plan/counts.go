package plan

import (
	"github.com/sluice-dev/sluice/internal/columnar"
)

// UseSeriesCounts switches an aggregation to the table's per-series counts
// (SeriesCounter) when that gives the same answer: the aggregates are
// count(*) (or count of a column that is never NULL: time, measure_name),
// min(time) and max(time); the groups are made of whole series (group keys
// are expressions of measure_name and dimensions); and the filter keeps or
// drops whole series except for bounds on time, which the table applies
// exactly. Then each series contributes its row count and time bounds, and
// the aggregation adds those up instead of reading every row:
// count(*) becomes CountSumAgg over CountColumn, min(time) min over
// MinTimeColumn, max(time) max over MaxTimeColumn. Series predicates stay in
// the Filter, evaluated once per series.
func UseSeriesCounts(n Node) {
	walkNodes(n, func(x Node) {
		agg, ok := x.(*Aggregate)
		if !ok || len(agg.Aggs) == 0 {
			return
		}
		filter, scan, kind, ok := scanUnder(agg)
		if !ok {
			return
		}
		if _, ok := scan.Table.(SeriesCounter); !ok {
			return
		}
		perSeries := func(e Expr) bool {
			return refsOnly(e, func(r *ColRef) bool {
				k := kind(r)
				return k == "dimension" || k == "measure_name"
			})
		}
		for _, g := range agg.GroupBy {
			if !perSeries(g) {
				return
			}
		}
		for _, a := range agg.Aggs {
			if a.Distinct || a.Filter != nil {
				return
			}
			switch {
			case a.Name == "count" && (a.Star || len(a.Args) == 0):
			case a.Name == "count" && len(a.Args) == 1 && (kind(a.Args[0]) == "time" || kind(a.Args[0]) == "measure_name"):
			case (a.Name == "min" || a.Name == "max") && len(a.Args) == 1 && kind(a.Args[0]) == "time":
			default:
				return
			}
		}
		minT, maxT := scan.Req.MinTime, scan.Req.MaxTime
		var keep []Expr
		if filter != nil {
			for _, c := range Conjuncts(filter.Cond) {
				if perSeries(c) {
					keep = append(keep, c)
					continue
				}
				lo, hi, ok := timeBound(c, kind)
				if !ok {
					return
				}
				minT, maxT = max(minT, lo), min(maxT, hi)
			}
		}

		// Rewrite.
		scan.Req.MinTime, scan.Req.MaxTime = minT, maxT
		base := len(scan.Columns)
		scan.Columns = append(scan.Columns,
			Column{Name: CountColumn, Type: columnar.Int64},
			Column{Name: MinTimeColumn, Type: columnar.Timestamp},
			Column{Name: MaxTimeColumn, Type: columnar.Timestamp})
		scan.Counts = true
		if filter != nil {
			if len(keep) == 0 {
				agg.Input = scan
			} else {
				cond := keep[0]
				for _, c := range keep[1:] {
					cond = &Call{Name: "and", Args: []Expr{cond, c}, T: columnar.Bool}
				}
				filter.Cond = cond
			}
		}
		for i := range agg.Aggs {
			a := &agg.Aggs[i]
			switch a.Name {
			case "count":
				*a = AggCall{Name: CountSumAgg, Args: []Expr{&ColRef{Index: base, Name: CountColumn, T: columnar.Int64}}, T: a.T}
			case "min":
				a.Args = []Expr{&ColRef{Index: base + 1, Name: MinTimeColumn, T: columnar.Timestamp}}
			case "max":
				a.Args = []Expr{&ColRef{Index: base + 2, Name: MaxTimeColumn, T: columnar.Timestamp}}
			}
		}
	})
}

// timeBound returns the inclusive time range a conjunct comparing time
// with a TIMESTAMP constant allows; ok is false for anything else.
func timeBound(c Expr, kind func(Expr) string) (lo, hi int64, ok bool) {
	e, isCall := c.(*Call)
	if !isCall || len(e.Args) != 2 {
		return 0, 0, false
	}
	l, r, op := e.Args[0], e.Args[1], e.Name
	if _, ok := l.(*Const); ok {
		l, r, op = r, l, flip(op)
	}
	cst, isConst := r.(*Const)
	if !isConst || kind(l) != "time" || cst.T != columnar.Timestamp {
		return 0, 0, false
	}
	t, isInt := cst.Val.(int64)
	if !isInt {
		return 0, 0, false
	}
	lo, hi = minInt, maxInt
	switch op {
	case ">=":
		lo = t
	case ">":
		if t == maxInt {
			return 0, 0, false
		}
		lo = t + 1
	case "<=":
		hi = t
	case "<":
		if t == minInt {
			return 0, 0, false
		}
		hi = t - 1
	case "=":
		lo, hi = t, t
	default:
		return 0, 0, false
	}
	return lo, hi, true
}

// refsOnly reports whether e is built of constants, operators, functions,
// casts, CASE and IN lists over columns that pass ok.
func refsOnly(e Expr, ok func(*ColRef) bool) bool {
	switch x := e.(type) {
	case *ColRef:
		return ok(x)
	case *Const:
		return true
	case *Call:
		switch x.Name {
		case "random", "rand", "uuid", "shuffle":
			// Once per series is not once per row.
			return false
		}
		for _, a := range x.Args {
			if !refsOnly(a, ok) {
				return false
			}
		}
		return true
	case *Cast:
		return refsOnly(x.X, ok)
	case *Case:
		for _, w := range x.Whens {
			if !refsOnly(w.Cond, ok) || !refsOnly(w.Then, ok) {
				return false
			}
		}
		return x.Else == nil || refsOnly(x.Else, ok)
	case *InList:
		if !refsOnly(x.X, ok) {
			return false
		}
		for _, y := range x.List {
			if !refsOnly(y, ok) {
				return false
			}
		}
		return true
	}
	return false
}

// scanUnder matches agg over [Filter over] a plain store scan (not already
// rewritten to the latest-point, series-count or minute paths, no
// predicates a file table applies) whose table reports column kinds, and
// returns the filter (nil if none), the scan and a function naming the
// kind of a column reference ("" for anything else).
func scanUnder(agg *Aggregate) (filter *Filter, scan *Scan, kind func(Expr) string, ok bool) {
	switch in := agg.Input.(type) {
	case *Scan:
		scan = in
	case *Filter:
		if s, ok := in.Input.(*Scan); ok {
			scan, filter = s, in
		}
	}
	if scan == nil || scan.Latest || scan.Counts || scan.Minutes || len(scan.Req.Preds) > 0 {
		return nil, nil, nil, false
	}
	kinder, ok := scan.Table.(ColumnKinder)
	if !ok {
		return nil, nil, nil, false
	}
	kind = func(e Expr) string {
		ref, ok := e.(*ColRef)
		if !ok || ref.Index < 0 || ref.Index >= len(scan.Columns) {
			return ""
		}
		for j, tc := range scan.Table.Columns() {
			if tc.Name == scan.Columns[ref.Index].Name {
				return kinder.Kind(j)
			}
		}
		return ""
	}
	return filter, scan, kind, true
}
