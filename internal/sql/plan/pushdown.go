package plan

import (
	"slices"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// ColumnKinder is implemented by tables whose columns have roles the scan
// can use: "time", "measure_name", "dimension" or "measure".
type ColumnKinder interface {
	Kind(i int) string
}

// Conjuncts splits an expression on AND.
func Conjuncts(e Expr) []Expr {
	if c, ok := e.(*Call); ok && c.Name == "and" && len(c.Args) == 2 {
		return append(Conjuncts(c.Args[0]), Conjuncts(c.Args[1])...)
	}
	return []Expr{e}
}

// PushFilter narrows s.Req with the conjuncts of cond that a table can use:
// time ranges, measure_name equality or IN, and dimension equality, IN or
// prefix LIKE. The Filter stays above the Scan (requests are hints), so
// nothing here can change a query's answer; it only lets the table skip
// what cannot match.
func PushFilter(s *Scan, cond Expr) {
	if ps, ok := s.Table.(PredicateScanner); ok && ps.UsesPredicates() {
		pushPreds(s, cond)
	}
	kinder, _ := s.Table.(ColumnKinder)
	if kinder == nil {
		return
	}
	// Map scan output positions to table column positions.
	tableIdx := map[int]int{}
	for i, c := range s.Columns {
		for j, tc := range s.Table.Columns() {
			if tc.Name == c.Name {
				tableIdx[i] = j
			}
		}
	}
	kindOf := func(e Expr) (string, string) {
		ref, ok := e.(*ColRef)
		if !ok {
			return "", ""
		}
		j, ok := tableIdx[ref.Index]
		if !ok {
			return "", ""
		}
		return kinder.Kind(j), s.Columns[ref.Index].Name
	}
	for _, c := range Conjuncts(cond) {
		switch e := c.(type) {
		case *Call:
			if len(e.Args) != 2 {
				continue
			}
			left, right, op := e.Args[0], e.Args[1], e.Name
			if _, ok := left.(*Const); ok {
				left, right, op = right, left, flip(op)
			}
			k, name := kindOf(left)
			cst, ok := right.(*Const)
			if k == "" || !ok || cst.Val == nil {
				continue
			}
			switch k {
			case "time":
				t, ok := cst.Val.(int64)
				if !ok || cst.T != columnar.Timestamp {
					continue
				}
				switch op {
				case ">=":
					s.Req.MinTime = max(s.Req.MinTime, t)
				case ">":
					if t < maxInt {
						s.Req.MinTime = max(s.Req.MinTime, t+1)
					}
				case "<=":
					s.Req.MaxTime = min(s.Req.MaxTime, t)
				case "<":
					if t > minInt {
						s.Req.MaxTime = min(s.Req.MaxTime, t-1)
					}
				case "=":
					s.Req.MinTime = max(s.Req.MinTime, t)
					s.Req.MaxTime = min(s.Req.MaxTime, t)
				}
			case "measure_name", "dimension":
				v, ok := cst.Val.(string)
				if !ok {
					continue
				}
				switch op {
				case "=":
					addValues(s, k, name, []string{v})
				case "like":
					if p, ok := likePrefix(v); ok && k == "dimension" {
						s.Req.Dims = append(s.Req.Dims, DimFilter{Name: name, Prefix: p})
					}
				}
			}
		case *InList:
			if e.Not {
				continue
			}
			k, name := kindOf(e.X)
			if k != "measure_name" && k != "dimension" {
				continue
			}
			var vals []string
			for _, x := range e.List {
				cst, ok := x.(*Const)
				if !ok {
					vals = nil
					break
				}
				v, isStr := cst.Val.(string)
				if !isStr {
					vals = nil
					break
				}
				vals = append(vals, v)
			}
			if vals != nil {
				addValues(s, k, name, vals)
			}
		}
	}
}

func addValues(s *Scan, kind, name string, vals []string) {
	if kind == "measure_name" {
		if s.Req.MeasureNames == nil {
			s.Req.MeasureNames = slices.Clone(vals)
		} else {
			s.Req.MeasureNames = intersect(s.Req.MeasureNames, vals)
		}
		return
	}
	s.Req.Dims = append(s.Req.Dims, DimFilter{Name: name, Values: slices.Clone(vals)})
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// likePrefix returns p when pattern is p% with no other wildcard or escape.
func likePrefix(pattern string) (string, bool) {
	if !strings.HasSuffix(pattern, "%") {
		return "", false
	}
	p := pattern[:len(pattern)-1]
	if strings.ContainsAny(p, "%_\\") {
		return "", false
	}
	return p, true
}

func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

// pushPreds adds to s.Req.Preds the conjuncts of cond that compare a column
// of the table with constants.
func pushPreds(s *Scan, cond Expr) {
	colName := func(e Expr) (string, bool) {
		ref, ok := e.(*ColRef)
		if !ok || ref.Index < 0 || ref.Index >= len(s.Columns) {
			return "", false
		}
		name := s.Columns[ref.Index].Name
		for _, tc := range s.Table.Columns() {
			if tc.Name == name {
				return name, true
			}
		}
		return "", false
	}
	for _, c := range Conjuncts(cond) {
		switch e := c.(type) {
		case *Call:
			if len(e.Args) != 2 {
				continue
			}
			switch e.Name {
			case "=", "<", "<=", ">", ">=":
			default:
				continue
			}
			left, right, op := e.Args[0], e.Args[1], e.Name
			if _, ok := left.(*Const); ok {
				left, right, op = right, left, flip(op)
			}
			name, ok := colName(left)
			cst, isConst := right.(*Const)
			if !ok || !isConst || cst.Val == nil {
				continue
			}
			s.Req.Preds = append(s.Req.Preds, ColPred{Column: name, Op: op, Values: []any{cst.Val}, Type: cst.T})
		case *InList:
			if e.Not {
				continue
			}
			name, ok := colName(e.X)
			if !ok {
				continue
			}
			var vals []any
			var t columnar.Type
			for _, x := range e.List {
				cst, ok := x.(*Const)
				if !ok || cst.Val == nil || (t != columnar.Unknown && cst.T != t) {
					vals = nil
					break
				}
				t = cst.T
				vals = append(vals, cst.Val)
			}
			if vals != nil {
				s.Req.Preds = append(s.Req.Preds, ColPred{Column: name, Op: "in", Values: vals, Type: t})
			}
		}
	}
}
