package plan

import (
	"slices"
)

// TrimScans lightens aggregations and projections over a store table that
// applies its scan requests exactly (a SeriesCounter: time bounds, measure
// names and dimension values are filters there, not hints), for Aggregate
// or Project over [Filter over] Scan:
//
//   - conjuncts of the Filter that the request already implies (time
//     compared with a TIMESTAMP constant, measure_name or a dimension equal
//     to or IN constants) are dropped, and the Filter with them when none
//     is left, so rows are not tested again column by column;
//   - the Scan then reads only the columns the Aggregate or Project and
//     what is left of the Filter use, and their column references are
//     renumbered. A filter column the request applies is then not even
//     decoded (a series' rows need no measure_name or DeviceID to be
//     returned).
//
// Nothing else changes: the answer is the same rows aggregated or
// projected the same way, with less copying and evaluation per row.
func TrimScans(n Node) {
	walkNodes(n, func(x Node) {
		switch c := x.(type) {
		case *Aggregate:
			c.Input = trimInput(c.Input, func() []*Expr {
				var refs []*Expr
				for i := range c.GroupBy {
					refs = append(refs, &c.GroupBy[i])
				}
				for i := range c.Aggs {
					a := &c.Aggs[i]
					a.Args = slices.Clone(a.Args) // shared with the binder's copy
					for j := range a.Args {
						refs = append(refs, &a.Args[j])
					}
					if a.Filter != nil {
						refs = append(refs, &a.Filter)
					}
				}
				return refs
			})
		case *Project:
			c.Input = trimInput(c.Input, func() []*Expr {
				c.Exprs = slices.Clone(c.Exprs)
				refs := make([]*Expr, len(c.Exprs))
				for i := range c.Exprs {
					refs[i] = &c.Exprs[i]
				}
				return refs
			})
		}
	})
}

// trimInput trims in, the input of a node that evaluates the expressions
// refs returns over it (see TrimScans), and returns the new input: the
// Scan when the Filter over it has gone, else in. refs is called only
// when in is a Filter or Scan over a store table; the expressions it
// points at are replaced by renumbered copies.
func trimInput(in Node, refs func() []*Expr) Node {
	var scan *Scan
	var filter *Filter
	switch x := in.(type) {
	case *Scan:
		scan = x
	case *Filter:
		if s, ok := x.Input.(*Scan); ok {
			scan, filter = s, x
		}
	}
	if scan == nil || scan.Latest || scan.Counts || scan.Minutes || len(scan.Req.Preds) > 0 {
		return in
	}
	if _, ok := scan.Table.(SeriesCounter); !ok {
		return in
	}
	kinder, ok := scan.Table.(ColumnKinder)
	if !ok {
		return in
	}
	kind := func(e Expr) (string, string) {
		ref, ok := e.(*ColRef)
		if !ok || ref.Index < 0 || ref.Index >= len(scan.Columns) {
			return "", ""
		}
		name := scan.Columns[ref.Index].Name
		for j, tc := range scan.Table.Columns() {
			if tc.Name == name {
				return kinder.Kind(j), name
			}
		}
		return "", ""
	}
	if filter != nil {
		var keep []Expr
		for _, c := range Conjuncts(filter.Cond) {
			if !impliedByRequest(c, &scan.Req, kind) {
				keep = append(keep, c)
			}
		}
		switch {
		case len(keep) == 0:
			in, filter = scan, nil
		default:
			cond := keep[0]
			for _, c := range keep[1:] {
				cond = &Call{Name: "and", Args: []Expr{cond, c}, T: cond.Type()}
			}
			filter.Cond = cond
		}
	}
	pruneScan(refs(), filter, scan)
	return in
}

// impliedByRequest reports whether every row the store returns for req
// satisfies conjunct c.
func impliedByRequest(c Expr, req *ScanRequest, kind func(Expr) (string, string)) bool {
	if lo, hi, ok := timeBound(c, func(e Expr) string { k, _ := kind(e); return k }); ok {
		return req.MinTime >= lo && req.MaxTime <= hi
	}
	var x Expr
	var vals []string
	switch e := c.(type) {
	case *Call:
		if e.Name != "=" || len(e.Args) != 2 {
			return false
		}
		l, r := e.Args[0], e.Args[1]
		if _, ok := l.(*Const); ok {
			l, r = r, l
		}
		cst, ok := r.(*Const)
		if !ok {
			return false
		}
		v, ok := cst.Val.(string)
		if !ok {
			return false
		}
		x, vals = l, []string{v}
	case *InList:
		if e.Not {
			return false
		}
		for _, y := range e.List {
			cst, ok := y.(*Const)
			if !ok {
				return false
			}
			v, ok := cst.Val.(string)
			if !ok {
				return false
			}
			vals = append(vals, v)
		}
		x = e.X
	default:
		return false
	}
	subset := func(have []string) bool {
		for _, h := range have {
			if !slices.Contains(vals, h) {
				return false
			}
		}
		return true
	}
	switch k, name := kind(x); k {
	case "measure_name":
		return req.MeasureNames != nil && subset(req.MeasureNames)
	case "dimension":
		for _, d := range req.Dims {
			// A series without the dimension never matches a filter on it,
			// as NULL = 'x' is never true.
			if d.Name == name && len(d.Values) > 0 && d.Prefix == "" && subset(d.Values) {
				return true
			}
		}
	}
	return false
}

// pruneScan narrows scan to the columns the expressions refs points at
// (and filter, when not nil) reference, renumbering their references. It
// gives up on expressions it does not know (subqueries).
func pruneScan(refs []*Expr, filter *Filter, scan *Scan) {
	used := make([]bool, len(scan.Columns))
	ok := true
	mark := func(e Expr) {
		walkExpr(e, func(x Expr) {
			switch r := x.(type) {
			case *ColRef:
				if r.Index < 0 || r.Index >= len(used) {
					ok = false
					return
				}
				used[r.Index] = true
			case *Const, *Call, *Cast, *Case, *InList:
			default:
				ok = false
			}
		})
	}
	for _, e := range refs {
		mark(*e)
	}
	if filter != nil {
		mark(filter.Cond)
	}
	if !ok {
		return
	}
	to := make([]int, len(scan.Columns))
	var cols []Column
	for i, u := range used {
		to[i] = -1
		if u {
			to[i] = len(cols)
			cols = append(cols, scan.Columns[i])
		}
	}
	if len(cols) == len(scan.Columns) {
		return
	}
	for _, e := range refs {
		*e = renumber(*e, to)
	}
	if filter != nil {
		filter.Cond = renumber(filter.Cond, to)
	}
	scan.Columns = cols
	scan.Req.Columns = scan.Req.Columns[:0:0]
	for _, c := range cols {
		scan.Req.Columns = append(scan.Req.Columns, c.Name)
	}
}

// renumber returns a copy of e whose column references point at to[i]
// (expressions may be shared, so they are not changed in place).
func renumber(e Expr, to []int) Expr {
	switch x := e.(type) {
	case *ColRef:
		return &ColRef{Index: to[x.Index], Name: x.Name, T: x.T}
	case *Call:
		args := make([]Expr, len(x.Args))
		for i, a := range x.Args {
			args[i] = renumber(a, to)
		}
		return &Call{Name: x.Name, Args: args, T: x.T}
	case *Cast:
		return &Cast{X: renumber(x.X, to), T: x.T, Try: x.Try}
	case *Case:
		c := &Case{T: x.T}
		for _, w := range x.Whens {
			c.Whens = append(c.Whens, When{Cond: renumber(w.Cond, to), Then: renumber(w.Then, to)})
		}
		if x.Else != nil {
			c.Else = renumber(x.Else, to)
		}
		return c
	case *InList:
		l := &InList{X: renumber(x.X, to), Not: x.Not}
		for _, y := range x.List {
			l.List = append(l.List, renumber(y, to))
		}
		return l
	}
	return e
}
