package plan

import "math"

// UseLatest switches an aggregation to the table's latest-point path when
// that gives the same answer: the aggregates only ask for the newest row
// (max_by(x, time), max(time)), the groups are made of whole series (group
// keys are the measure name and dimensions), and the filter keeps or drops
// whole series except for a lower time bound. Then the newest point of
// each series is all the aggregation can use, and the table keeps it in
// memory. An upper time bound disqualifies: the newest point might lie
// after it while an older one is inside.
//
// It then applies UseSeriesCounts, UseMinuteAggregates and TrimScans, so
// that callers make one call for all of the store's shortcuts.
func UseLatest(n Node) {
	defer TrimScans(n) // last: it drops filters the others look at
	defer UseMinuteAggregates(n)
	defer UseSeriesCounts(n)
	walkNodes(n, func(x Node) {
		agg, ok := x.(*Aggregate)
		if !ok {
			return
		}
		var scan *Scan
		var cond Expr
		switch in := agg.Input.(type) {
		case *Scan:
			scan = in
		case *Filter:
			if s, ok := in.Input.(*Scan); ok {
				scan, cond = s, in.Cond
			}
		}
		if scan == nil || scan.Latest || scan.Req.MaxTime != math.MaxInt64 {
			return
		}
		if _, ok := scan.Table.(LatestScanner); !ok {
			return
		}
		kinder, ok := scan.Table.(ColumnKinder)
		if !ok {
			return
		}
		kind := func(e Expr) string {
			ref, ok := e.(*ColRef)
			if !ok {
				return ""
			}
			for j, tc := range scan.Table.Columns() {
				if tc.Name == scan.Columns[ref.Index].Name {
					return kinder.Kind(j)
				}
			}
			return ""
		}
		for _, g := range agg.GroupBy {
			if k := kind(g); k != "dimension" && k != "measure_name" {
				return
			}
		}
		if len(agg.Aggs) == 0 {
			return
		}
		for _, a := range agg.Aggs {
			if a.Distinct || a.Filter != nil {
				return
			}
			switch {
			case a.Name == "max_by" && len(a.Args) == 2 && kind(a.Args[1]) == "time":
			case a.Name == "max" && len(a.Args) == 1 && kind(a.Args[0]) == "time":
			default:
				return
			}
		}
		if cond != nil {
			for _, c := range Conjuncts(cond) {
				if !seriesPredicate(c, kind) {
					return
				}
			}
		}
		scan.Latest = true
	})
}

// seriesPredicate reports whether c keeps or drops whole series, or is a
// lower bound on time.
func seriesPredicate(c Expr, kind func(Expr) string) bool {
	switch e := c.(type) {
	case *Call:
		if len(e.Args) != 2 {
			return false
		}
		l, r, op := e.Args[0], e.Args[1], e.Name
		if _, ok := l.(*Const); ok {
			l, r, op = r, l, flip(op)
		}
		if _, ok := r.(*Const); !ok {
			return false
		}
		switch kind(l) {
		case "time":
			return op == ">" || op == ">="
		case "dimension", "measure_name":
			return op == "=" || op == "<>" || op == "like"
		}
	case *InList:
		k := kind(e.X)
		if k != "dimension" && k != "measure_name" {
			return false
		}
		for _, x := range e.List {
			if _, ok := x.(*Const); !ok {
				return false
			}
		}
		return true
	}
	return false
}

func walkNodes(n Node, fn func(Node)) {
	fn(n)
	for _, c := range n.Children() {
		walkNodes(c, fn)
	}
}
