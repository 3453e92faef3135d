package plan

import (
	"context"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Names of the columns a MinuteAggregator adds after the series' columns
// (CountColumn is shared with SeriesCounter), and of the aggregate that
// folds partial sums and counts into an average.
const (
	MinuteColumn = "$minute"
	SumColumn    = "$sum"
	MinColumn    = "$min"
	MaxColumn    = "$max"
	AvgMergeAgg  = "$avg_merge"
)

// MinuteAggregator is implemented by tables that keep per-minute partial
// aggregates of their DOUBLE columns. MinuteAggregates calls fn with
// batches of the requested series columns (req.Columns) followed by
// MinuteColumn (TIMESTAMP, start of an epoch minute), CountColumn (BIGINT,
// non-NULL values), SumColumn, MinColumn and MaxColumn (DOUBLE, NULL when
// the count is 0) of column over the rows that match req, such that adding
// up the rows of each series and minute gives what a Scan of req holds,
// with a row for every series and minute the Scan has rows in. Time
// bounds, measure names and dimension filters of req are applied exactly.
type MinuteAggregator interface {
	MinuteAggregates(ctx context.Context, req ScanRequest, column string, fn func(*columnar.Batch) error) error
}

// UseMinuteAggregates switches an aggregation to the table's per-minute
// partial aggregates (MinuteAggregator) when that gives the same answer:
// the aggregates are count, sum, avg, min and max of one DOUBLE measure
// column; the groups are bin(time, k) with k a whole number of minutes
// and expressions of measure_name and dimensions; and the filter keeps or
// drops whole series except for bounds on time, which the table applies
// exactly. bin(time, k) then becomes bin(MinuteColumn, k) (every time of
// a minute falls in the minute's bucket), count(x) CountSumAgg over
// CountColumn, sum/min/max their own over SumColumn/MinColumn/MaxColumn,
// and avg(x) AvgMergeAgg over SumColumn and CountColumn. Sums are of the
// same values in another order, so an answer may differ from the row
// path's in the last bits.
func UseMinuteAggregates(n Node) {
	walkNodes(n, func(x Node) {
		agg, ok := x.(*Aggregate)
		if !ok || len(agg.Aggs) == 0 {
			return
		}
		filter, scan, kind, ok := scanUnder(agg)
		if !ok {
			return
		}
		if _, ok := scan.Table.(MinuteAggregator); !ok {
			return
		}
		perSeries := func(e Expr) bool {
			return refsOnly(e, func(r *ColRef) bool {
				k := kind(r)
				return k == "dimension" || k == "measure_name"
			})
		}
		minuteBin := func(e Expr) bool {
			c, ok := e.(*Call)
			if !ok || c.Name != "bin" || len(c.Args) != 2 || kind(c.Args[0]) != "time" {
				return false
			}
			w, ok := c.Args[1].(*Const)
			if !ok {
				return false
			}
			width, ok := w.Val.(int64)
			return ok && width > 0 && width%60e9 == 0 && (w.T == columnar.Interval || w.T == columnar.Int64)
		}
		for _, g := range agg.GroupBy {
			if !perSeries(g) && !minuteBin(g) {
				return
			}
		}
		var value *ColRef
		for _, a := range agg.Aggs {
			if a.Distinct || a.Filter != nil || a.Star || len(a.Args) != 1 {
				return
			}
			switch a.Name {
			case "count", "sum", "avg", "min", "max":
			default:
				return
			}
			ref, ok := a.Args[0].(*ColRef)
			if !ok || kind(ref) != "measure" || ref.T != columnar.Float64 || scan.Columns[ref.Index].Type != columnar.Float64 {
				return
			}
			if value != nil && value.Index != ref.Index {
				return
			}
			value = ref
		}
		minT, maxT := scan.Req.MinTime, scan.Req.MaxTime
		var keep []Expr
		if filter != nil {
			named := func(e Expr) (string, string) {
				if ref, ok := e.(*ColRef); ok && ref.Index >= 0 && ref.Index < len(scan.Columns) {
					return kind(e), scan.Columns[ref.Index].Name
				}
				return "", ""
			}
			for _, c := range Conjuncts(filter.Cond) {
				if perSeries(c) {
					// The table applies the request's measure names and
					// dimension values exactly: a conjunct they imply
					// needs neither evaluating nor its columns.
					if !impliedByRequest(c, &scan.Req, named) {
						keep = append(keep, c)
					}
					continue
				}
				lo, hi, ok := timeBound(c, kind)
				if !ok {
					return
				}
				minT, maxT = max(minT, lo), min(maxT, hi)
			}
		}

		// Rewrite: the scan keeps the series columns the groups and the
		// filter use, then the five aggregate columns.
		used := make([]bool, len(scan.Columns))
		mark := func(e Expr) {
			walkExpr(e, func(x Expr) {
				if r, ok := x.(*ColRef); ok && kind(r) != "time" {
					used[r.Index] = true
				}
			})
		}
		for _, g := range agg.GroupBy {
			mark(g)
		}
		for _, c := range keep {
			mark(c)
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
		base := len(cols)
		minute := &ColRef{Index: base, Name: MinuteColumn, T: columnar.Timestamp}
		count := &ColRef{Index: base + 1, Name: CountColumn, T: columnar.Int64}
		sum := &ColRef{Index: base + 2, Name: SumColumn, T: columnar.Float64}
		lo := &ColRef{Index: base + 3, Name: MinColumn, T: columnar.Float64}
		hi := &ColRef{Index: base + 4, Name: MaxColumn, T: columnar.Float64}
		cols = append(cols,
			Column{Name: MinuteColumn, Type: columnar.Timestamp}, Column{Name: CountColumn, Type: columnar.Int64},
			Column{Name: SumColumn, Type: columnar.Float64}, Column{Name: MinColumn, Type: columnar.Float64},
			Column{Name: MaxColumn, Type: columnar.Float64})
		for i, g := range agg.GroupBy {
			if minuteBin(g) {
				c := g.(*Call)
				agg.GroupBy[i] = &Call{Name: "bin", Args: []Expr{minute, c.Args[1]}, T: c.T}
			} else {
				agg.GroupBy[i] = renumber(g, to)
			}
		}
		for i := range agg.Aggs {
			a := &agg.Aggs[i]
			switch a.Name {
			case "count":
				*a = AggCall{Name: CountSumAgg, Args: []Expr{count}, T: a.T}
			case "sum":
				*a = AggCall{Name: "sum", Args: []Expr{sum}, T: a.T}
			case "min":
				*a = AggCall{Name: "min", Args: []Expr{lo}, T: a.T}
			case "max":
				*a = AggCall{Name: "max", Args: []Expr{hi}, T: a.T}
			case "avg":
				*a = AggCall{Name: AvgMergeAgg, Args: []Expr{sum, count}, T: a.T}
			}
		}
		scan.Req.MinTime, scan.Req.MaxTime = minT, maxT
		scan.Minutes, scan.MinuteOf = true, scan.Columns[value.Index].Name
		scan.Columns = cols
		scan.Req.Columns = nil
		for _, c := range cols[:base] {
			scan.Req.Columns = append(scan.Req.Columns, c.Name)
		}
		if scan.Req.Columns == nil {
			scan.Req.Columns = []string{}
		}
		switch {
		case filter == nil:
		case len(keep) == 0:
			agg.Input = scan
		default:
			cond := renumber(keep[0], to)
			for _, c := range keep[1:] {
				cond = &Call{Name: "and", Args: []Expr{cond, renumber(c, to)}, T: columnar.Bool}
			}
			filter.Cond = cond
		}
	})
}
