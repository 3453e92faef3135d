package exec_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

func seeded(t *testing.T) *rand.Rand {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 7))
}

func TestSortAndTopNMatchReference(t *testing.T) {
	rng := seeded(t)
	for iter := 0; iter < 30; iter++ {
		rows := randRows(rng, rng.IntN(3000), 1+rng.IntN(50))
		tbl := newTable(randCols, rows, 1+rng.IntN(700))
		var keys []plan.SortKey
		var ref []refKey
		for _, c := range rng.Perm(5)[:1+rng.IntN(3)] {
			k := plan.SortKey{Expr: col(c, randCols[c].Type), Desc: rng.IntN(2) == 0, NullsFirst: rng.IntN(2) == 0}
			keys = append(keys, k)
			ref = append(ref, refKey{c, k.Desc, k.NullsFirst})
		}
		want := slices.Clone(rows)
		sort.SliceStable(want, func(i, j int) bool { return refCmp(want[i], want[j], ref) < 0 })
		got := collect(t, &plan.Sort{Input: scan(tbl), Keys: keys}, exec.Options{})
		sameOrdered(t, "sort", rowStrings(got), rowStrings(want))

		count, offset := int64(rng.IntN(50)), int64(rng.IntN(20))
		got = collect(t, &plan.TopN{Input: scan(tbl), Keys: keys, Count: count, Offset: offset}, exec.Options{})
		lo, hi := min(int(offset), len(want)), min(int(offset+count), len(want))
		sameOrdered(t, "topN", rowStrings(got), rowStrings(want[lo:hi]))

		got = collect(t, &plan.Limit{Input: &plan.Sort{Input: scan(tbl), Keys: keys}, Count: count, Offset: offset}, exec.Options{})
		sameOrdered(t, "sort+limit", rowStrings(got), rowStrings(want[lo:hi]))
	}
}

type aggCase struct {
	call plan.AggCall
	ref  func(rows [][]any) any
}

func nonNullVals(rows [][]any, c int) []any {
	var out []any
	for _, r := range rows {
		if r[c] != nil {
			out = append(out, r[c])
		}
	}
	return out
}

func aggCases() []aggCase {
	x := col(2, columnar.Float64)
	y := col(3, columnar.Int64)
	s := col(1, columnar.String)
	b := col(4, columnar.Bool)
	extreme := func(c int, max bool) func([][]any) any {
		return func(rows [][]any) any {
			var best any
			for _, v := range nonNullVals(rows, c) {
				if best == nil || (cmpAny(v, best) > 0) == max && cmpAny(v, best) != 0 {
					best = v
				}
			}
			return best
		}
	}
	variance := func(pop, sqrt bool) func([][]any) any {
		return func(rows [][]any) any {
			vs := nonNullVals(rows, 2)
			n := float64(len(vs))
			if n == 0 || (!pop && n < 2) {
				return nil
			}
			var mean, m2 float64
			for _, v := range vs {
				mean += v.(float64)
			}
			mean /= n
			for _, v := range vs {
				d := v.(float64) - mean
				m2 += d * d
			}
			d := n - 1
			if pop {
				d = n
			}
			if sqrt {
				return math.Sqrt(m2 / d)
			}
			return m2 / d
		}
	}
	by := func(max bool) func([][]any) any {
		return func(rows [][]any) any {
			var best []any
			for _, r := range rows {
				if best == nil || (max && r[3].(int64) > best[3].(int64)) || (!max && r[3].(int64) < best[3].(int64)) {
					best = r
				}
			}
			if best == nil {
				return nil
			}
			return best[1]
		}
	}
	return []aggCase{
		{plan.AggCall{Name: "count", Star: true, T: columnar.Int64}, func(r [][]any) any { return int64(len(r)) }},
		{plan.AggCall{Name: "count", Args: []plan.Expr{x}, T: columnar.Int64}, func(r [][]any) any { return int64(len(nonNullVals(r, 2))) }},
		{plan.AggCall{Name: "sum", Args: []plan.Expr{y}, T: columnar.Int64}, func(r [][]any) any {
			if len(r) == 0 {
				return nil
			}
			var t int64
			for _, v := range r {
				t += v[3].(int64)
			}
			return t
		}},
		{plan.AggCall{Name: "sum", Args: []plan.Expr{x}, T: columnar.Float64}, func(r [][]any) any {
			vs := nonNullVals(r, 2)
			if len(vs) == 0 {
				return nil
			}
			var t float64
			for _, v := range vs {
				t += v.(float64)
			}
			return t
		}},
		{plan.AggCall{Name: "avg", Args: []plan.Expr{x}, T: columnar.Float64}, func(r [][]any) any {
			vs := nonNullVals(r, 2)
			if len(vs) == 0 {
				return nil
			}
			var t float64
			for _, v := range vs {
				t += v.(float64)
			}
			return t / float64(len(vs))
		}},
		{plan.AggCall{Name: "min", Args: []plan.Expr{s}, T: columnar.String}, extreme(1, false)},
		{plan.AggCall{Name: "max", Args: []plan.Expr{x}, T: columnar.Float64}, extreme(2, true)},
		{plan.AggCall{Name: "max", Args: []plan.Expr{b}, T: columnar.Bool}, extreme(4, true)},
		{plan.AggCall{Name: "stddev", Args: []plan.Expr{x}, T: columnar.Float64}, variance(false, true)},
		{plan.AggCall{Name: "var_pop", Args: []plan.Expr{x}, T: columnar.Float64}, variance(true, false)},
		{plan.AggCall{Name: "approx_distinct", Args: []plan.Expr{s}, T: columnar.Int64}, func(r [][]any) any {
			m := map[any]bool{}
			for _, v := range nonNullVals(r, 1) {
				m[v] = true
			}
			return int64(len(m))
		}},
		{plan.AggCall{Name: "count", Args: []plan.Expr{s}, Distinct: true, T: columnar.Int64}, func(r [][]any) any {
			m := map[any]bool{}
			for _, v := range nonNullVals(r, 1) {
				m[v] = true
			}
			return int64(len(m))
		}},
		{plan.AggCall{Name: "min_by", Args: []plan.Expr{s, y}, T: columnar.String}, by(false)},
		{plan.AggCall{Name: "max_by", Args: []plan.Expr{s, y}, T: columnar.String}, by(true)},
		{plan.AggCall{Name: "bool_and", Args: []plan.Expr{b}, T: columnar.Bool}, func(r [][]any) any {
			vs := nonNullVals(r, 4)
			if len(vs) == 0 {
				return nil
			}
			for _, v := range vs {
				if !v.(bool) {
					return false
				}
			}
			return true
		}},
		{plan.AggCall{Name: "bool_or", Args: []plan.Expr{b}, T: columnar.Bool}, func(r [][]any) any {
			vs := nonNullVals(r, 4)
			if len(vs) == 0 {
				return nil
			}
			return slices.Contains(vs, any(true))
		}},
		{plan.AggCall{Name: "approx_percentile", Args: []plan.Expr{y, lit(0.9, columnar.Float64)}, T: columnar.Int64}, func(r [][]any) any {
			var vs []int64
			for _, v := range r {
				vs = append(vs, v[3].(int64))
			}
			if len(vs) == 0 {
				return nil
			}
			slices.Sort(vs)
			k := int(math.Ceil(0.9*float64(len(vs)))) - 1
			return vs[max(k, 0)]
		}},
		{plan.AggCall{Name: "sum", Args: []plan.Expr{y}, Filter: b, T: columnar.Int64}, func(r [][]any) any {
			var t int64
			any := false
			for _, v := range r {
				if v[4] == true {
					t += v[3].(int64)
					any = true
				}
			}
			if !any {
				return nil
			}
			return t
		}},
	}
}

func TestAggregateMatchesReference(t *testing.T) {
	rng := seeded(t)
	cases := aggCases()
	var aggs []plan.AggCall
	for _, c := range cases {
		aggs = append(aggs, c.call)
	}
	groupings := []struct {
		name string
		cols []int
	}{{"none", nil}, {"k", []int{0}}, {"s", []int{1}}, {"x", []int{2}}, {"s,b", []int{1, 4}}, {"k,s,x", []int{0, 1, 2}}}
	for iter := 0; iter < 12; iter++ {
		n := rng.IntN(5000)
		if iter == 0 {
			n = 0
		}
		rows := randRows(rng, n, 1+rng.IntN(40))
		for i, p := range rng.Perm(len(rows)) {
			rows[i][3] = int64(p) // unique y, so min_by/max_by have no ties
		}
		tbl := newTable(randCols, rows, 1+rng.IntN(500))
		for _, g := range groupings {
			var groupBy []plan.Expr
			var names []string
			for _, c := range g.cols {
				groupBy = append(groupBy, col(c, randCols[c].Type))
				names = append(names, randCols[c].Name)
			}
			for range aggs {
				names = append(names, "a")
			}
			// reference
			groups := map[string][][]any{}
			keys := map[string][]any{}
			for _, r := range rows {
				var kv []any
				for _, c := range g.cols {
					kv = append(kv, r[c])
				}
				ks := fmtRow(kv)
				groups[ks] = append(groups[ks], r)
				keys[ks] = kv
			}
			if len(g.cols) == 0 && len(groups) == 0 {
				groups[""] = nil
				keys[""] = nil
			}
			var want [][]any
			for ks, rs := range groups {
				row := slices.Clone(keys[ks])
				for _, c := range cases {
					row = append(row, c.ref(rs))
				}
				want = append(want, row)
			}
			node := &plan.Aggregate{Input: scan(tbl), GroupBy: groupBy, Aggs: aggs, Names: names}
			for _, par := range []int{1, 3} {
				got := collect(t, node, exec.Options{Parallelism: par})
				sameRows(t, "group by "+g.name, got, want)
			}
			// Parallel path without DISTINCT (DISTINCT forces serial).
			var nd []plan.AggCall
			var ndNames []string
			var ndWant [][]any
			for i, a := range aggs {
				if !a.Distinct {
					nd = append(nd, a)
					ndNames = append(ndNames, "a")
					_ = i
				}
			}
			for _, r := range want {
				var row []any
				row = append(row, r[:len(g.cols)]...)
				for i, a := range aggs {
					if !a.Distinct {
						row = append(row, r[len(g.cols)+i])
					}
				}
				ndWant = append(ndWant, row)
			}
			names = append(names[:len(g.cols):len(g.cols)], ndNames...)
			nodeP := &plan.Aggregate{Input: &plan.Filter{Input: scan(tbl), Cond: lit(true, columnar.Bool)}, GroupBy: groupBy, Aggs: nd, Names: names}
			for _, par := range []int{1, 4} {
				got := collect(t, nodeP, exec.Options{Parallelism: par})
				sameRows(t, "parallel group by "+g.name, got, ndWant)
			}
		}
	}
}

func TestDistinctMatchesReference(t *testing.T) {
	rng := seeded(t)
	for iter := 0; iter < 10; iter++ {
		rows := randRows(rng, rng.IntN(3000), 1+rng.IntN(8))
		for _, r := range rows {
			r[3] = int64(0)
			if r[2] != nil {
				r[2] = math.Trunc(r[2].(float64)/200) + 0 // no -0: SQL has one zero
			}
		}
		tbl := newTable(randCols, rows, 100)
		seen := map[string]bool{}
		var want [][]any
		for _, r := range rows {
			if k := fmtRow(r); !seen[k] {
				seen[k] = true
				want = append(want, r)
			}
		}
		got := collect(t, &plan.Distinct{Input: scan(tbl)}, exec.Options{})
		// Distinct streams first occurrences in input order.
		sameOrdered(t, "distinct", rowStrings(got), rowStrings(want))
	}
}

func TestJoinMatchesNestedLoop(t *testing.T) {
	rng := seeded(t)
	lcols := []plan.Column{{Name: "k", Type: columnar.Int64}, {Name: "s", Type: columnar.String}, {Name: "x", Type: columnar.Float64}}
	rcols := []plan.Column{{Name: "k", Type: columnar.Int64}, {Name: "y", Type: columnar.Int64}}
	for iter := 0; iter < 20; iter++ {
		keys := 1 + rng.IntN(20)
		var lrows, rrows [][]any
		for i := rng.IntN(400); i > 0; i-- {
			var k, x any
			if rng.IntN(8) > 0 {
				k = int64(rng.IntN(keys))
			}
			if rng.IntN(8) > 0 {
				x = float64(rng.IntN(100))
			}
			lrows = append(lrows, []any{k, "l" + string(rune('a'+rng.IntN(26))), x})
		}
		for i := rng.IntN(60); i > 0; i-- {
			var k any
			if rng.IntN(8) > 0 {
				k = int64(rng.IntN(keys))
			}
			rrows = append(rrows, []any{k, int64(rng.IntN(100))})
		}
		lt, rt := newTable(lcols, lrows, 1+rng.IntN(100)), newTable(rcols, rrows, 1+rng.IntN(30))
		// residual: x > y (x DOUBLE, y cast to DOUBLE)
		cond := call(">", columnar.Bool, col(2, columnar.Float64), &plan.Cast{X: col(4, columnar.Int64), T: columnar.Float64})
		for _, kind := range []plan.JoinKind{plan.InnerJoin, plan.LeftJoin, plan.RightJoin, plan.FullJoin, plan.CrossJoin} {
			for _, withCond := range []bool{false, true} {
				for _, leftSmall := range []bool{false, true} {
					j := &plan.Join{Left: scan(lt), Right: scan(rt), Kind: kind}
					if leftSmall {
						// A Limit on the left makes the executor build the left side.
						j.Left = &plan.Limit{Input: scan(lt), Count: 10000}
					}
					if kind != plan.CrossJoin {
						j.LeftKeys = []plan.Expr{col(0, columnar.Int64)}
						j.RightKeys = []plan.Expr{col(0, columnar.Int64)}
					}
					if withCond {
						j.Cond = cond
					}
					match := func(l, r []any) bool {
						if kind != plan.CrossJoin && (l[0] == nil || r[0] == nil || l[0] != r[0]) {
							return false
						}
						if withCond {
							return l[2] != nil && l[2].(float64) > float64(r[1].(int64))
						}
						return true
					}
					var want [][]any
					rmatched := make([]bool, len(rrows))
					for _, l := range lrows {
						any := false
						for ri, r := range rrows {
							if match(l, r) {
								want = append(want, append(slices.Clone(l), r...))
								any = true
								rmatched[ri] = true
							}
						}
						if !any && (kind == plan.LeftJoin || kind == plan.FullJoin) {
							want = append(want, append(slices.Clone(l), nil, nil))
						}
					}
					if kind == plan.RightJoin || kind == plan.FullJoin {
						for ri, r := range rrows {
							if !rmatched[ri] {
								want = append(want, append([]any{nil, nil, nil}, r...))
							}
						}
					}
					got := collect(t, j, exec.Options{})
					sameRows(t, "join", got, want)
				}
			}
		}
	}
}

// TestSortOfSortedInput: input already in (or exactly against) the sort
// order takes the no-comparison path (presorted); the answer must still
// be the stable sort's, ties and NULLs included.
func TestSortOfSortedInput(t *testing.T) {
	rng := seeded(t)
	for iter := 0; iter < 200; iter++ {
		n := rng.IntN(2000)
		if iter%10 == 0 {
			n = chunkRows + rng.IntN(6000) // several output chunks
		}
		rows := randRows(rng, n, 1+rng.IntN(3000))
		c := []int{0, 1, 2, 3, 4}[rng.IntN(5)]
		switch rng.IntN(3) {
		case 0: // unique keys of the column's type, no NULLs
			for i, r := range rows {
				switch c {
				case 0, 3:
					r[c] = int64(i*3 - 1000)
				case 1:
					r[c] = fmt.Sprintf("s%06d", i)
				case 2:
					r[c] = float64(i)/4 - 100
				case 4:
					r[c] = i%2 == 0
				}
			}
		case 1: // ties, no NULLs
			for _, r := range rows {
				if r[c] == nil {
					r[c] = cmpZero(randCols[c].Type)
				}
			}
		}
		// Input order: sorted by c one way, as a store returns a series.
		in := []refKey{{c, rng.IntN(2) == 0, rng.IntN(2) == 0}}
		slices.SortStableFunc(rows, func(a, b []any) int { return refCmp(a, b, in) })
		tbl := newTable(randCols, rows, 1+rng.IntN(700))
		keys := []plan.SortKey{{Expr: col(c, randCols[c].Type), Desc: rng.IntN(2) == 0, NullsFirst: rng.IntN(2) == 0}}
		ref := []refKey{{c, keys[0].Desc, keys[0].NullsFirst}}
		if rng.IntN(3) == 0 {
			keys = append(keys, plan.SortKey{Expr: col(3, columnar.Int64), Desc: true})
			ref = append(ref, refKey{3, true, false})
		}
		want := slices.Clone(rows)
		sort.SliceStable(want, func(i, j int) bool { return refCmp(want[i], want[j], ref) < 0 })
		got := collect(t, &plan.Sort{Input: scan(tbl), Keys: keys}, exec.Options{})
		sameOrdered(t, fmt.Sprintf("sort by %v of input sorted by %v", ref, in), rowStrings(got), rowStrings(want))
	}
}

// chunkRows is the executor's chunk size (exec.chunkRows).
const chunkRows = 4096

func cmpZero(t columnar.Type) any {
	switch t {
	case columnar.String:
		return "s"
	case columnar.Float64:
		return 0.0
	case columnar.Bool:
		return false
	}
	return int64(0)
}
