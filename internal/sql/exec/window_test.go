package exec_test

import (
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// winCase is one window function with a naive reference: given the rows
// of the current row's partition in window order and the current
// position, compute the value.
type winCase struct {
	call plan.WindowCall
	ref  func(part [][]any, k int) any
}

var (
	preceding = func(n int64) plan.Bound { return plan.Bound{Preceding: true, Offset: n} }
	following = func(n int64) plan.Bound { return plan.Bound{Offset: n} }
	current   = plan.Bound{Current: true}
	unbPrec   = plan.Bound{Unbounded: true, Preceding: true}
	unbFoll   = plan.Bound{Unbounded: true}
)

// naiveFrame returns the positions of part in frame fr for position k;
// orderCol/desc describe the single ORDER BY key for RANGE frames.
func naiveFrame(part [][]any, k int, fr plan.Frame, orderCols []refKey) []int {
	var out []int
	peer := func(a, b int) bool { return refCmp(part[a], part[b], orderCols) == 0 }
	for j := range part {
		if fr.Rows {
			lo, hi := boundPos(fr.Start, k, len(part)), boundPos(fr.End, k, len(part))
			if j >= lo && j <= hi {
				out = append(out, j)
			}
			continue
		}
		if inRange(part, j, k, fr.Start, true, orderCols, peer) && inRange(part, j, k, fr.End, false, orderCols, peer) {
			out = append(out, j)
		}
	}
	return out
}

func boundPos(b plan.Bound, k, m int) int {
	switch {
	case b.Unbounded && b.Preceding:
		return math.MinInt32
	case b.Unbounded:
		return math.MaxInt32
	case b.Current:
		return k
	case b.Preceding:
		return k - int(b.Offset)
	}
	return k + int(b.Offset)
}

// inRange reports whether row j satisfies the RANGE bound b for current row k.
func inRange(part [][]any, j, k int, b plan.Bound, start bool, keys []refKey, peer func(a, b int) bool) bool {
	switch {
	case b.Unbounded:
		return true
	case b.Current:
		c := refCmp(part[j], part[k], keys)
		if start {
			return c >= 0
		}
		return c <= 0
	}
	kc := keys[0]
	v, w := part[k][kc.col], part[j][kc.col]
	if v == nil || w == nil {
		return v == nil && w == nil
	}
	x, y := v.(int64), w.(int64)
	off := b.Offset
	if b.Preceding {
		off = -off
	}
	if kc.desc {
		off = -off
	}
	target := x + off
	// in window order, "after target" for start, "before target" for end
	if !kc.desc {
		if start {
			return y >= target
		}
		return y <= target
	}
	if start {
		return y <= target
	}
	return y >= target
}

func TestWindowMatchesNaive(t *testing.T) {
	rng := seeded(t)
	x := col(2, columnar.Float64)
	y := col(3, columnar.Int64)
	s := col(1, columnar.String)
	// all functions partition by k
	byS := []plan.SortKey{{Expr: s}, {Expr: y}}
	_ = refKey{}
	sOnly := []plan.SortKey{{Expr: s, Desc: true, NullsFirst: true}}
	sOnlyKeys := []refKey{{1, true, true}}
	byY := []plan.SortKey{{Expr: y}}
	byYkeys := []refKey{{3, false, false}}
	byYDesc := []plan.SortKey{{Expr: y, Desc: true}}
	byYDescKeys := []refKey{{3, true, false}}
	sumX := func(part [][]any, pos []int) any {
		var t float64
		any := false
		for _, j := range pos {
			if v := part[j][2]; v != nil {
				t += v.(float64)
				any = true
			}
		}
		if !any {
			return nil
		}
		return t
	}
	frameCase := func(name string, fr *plan.Frame, order []plan.SortKey, keys []refKey, agg func([][]any, []int) any, t columnar.Type, args ...plan.Expr) winCase {
		eff := plan.Frame{Start: unbPrec, End: current}
		if fr != nil {
			eff = *fr
		} else if order == nil {
			eff = plan.Frame{Start: unbPrec, End: unbFoll}
		}
		return winCase{plan.WindowCall{Name: name, Args: args, OrderBy: order, Frame: fr, T: t}, func(part [][]any, k int) any {
			return agg(part, naiveFrame(part, k, eff, keys))
		}}
	}
	cases := []winCase{
		{plan.WindowCall{Name: "row_number", OrderBy: byS, T: columnar.Int64}, func(p [][]any, k int) any { return int64(k + 1) }},
		{plan.WindowCall{Name: "rank", OrderBy: sOnly, T: columnar.Int64}, func(p [][]any, k int) any {
			r := 0
			for r < k && refCmp(p[r], p[k], sOnlyKeys) != 0 {
				r++
			}
			return int64(r + 1)
		}},
		{plan.WindowCall{Name: "dense_rank", OrderBy: sOnly, T: columnar.Int64}, func(p [][]any, k int) any {
			d := int64(1)
			for j := 1; j <= k; j++ {
				if refCmp(p[j-1], p[j], sOnlyKeys) != 0 {
					d++
				}
			}
			return d
		}},
		{plan.WindowCall{Name: "lag", Args: []plan.Expr{x}, OrderBy: byS, T: columnar.Float64}, func(p [][]any, k int) any {
			if k < 1 {
				return nil
			}
			return p[k-1][2]
		}},
		{plan.WindowCall{Name: "lead", Args: []plan.Expr{x, lit(int64(2), columnar.Int64), lit(-1.0, columnar.Float64)}, OrderBy: byS, T: columnar.Float64}, func(p [][]any, k int) any {
			if k+2 >= len(p) {
				return -1.0
			}
			return p[k+2][2]
		}},
		frameCase("first_value", nil, sOnly, sOnlyKeys, func(p [][]any, pos []int) any {
			if len(pos) == 0 {
				return nil
			}
			return p[pos[0]][1]
		}, columnar.String, s),
		frameCase("last_value", nil, sOnly, sOnlyKeys, func(p [][]any, pos []int) any {
			if len(pos) == 0 {
				return nil
			}
			return p[pos[len(pos)-1]][3]
		}, columnar.Int64, y),
		frameCase("sum", nil, sOnly, sOnlyKeys, sumX, columnar.Float64, x),
		frameCase("sum", nil, nil, nil, sumX, columnar.Float64, x),
		frameCase("count", nil, nil, nil, func(p [][]any, pos []int) any { return int64(len(pos)) }, columnar.Int64),
		frameCase("sum", &plan.Frame{Rows: true, Start: preceding(2), End: following(1)}, byY, byYkeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Rows: true, Start: following(1), End: following(3)}, byY, byYkeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Rows: true, Start: unbPrec, End: preceding(1)}, byY, byYkeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Rows: true, Start: current, End: unbFoll}, byY, byYkeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Start: preceding(20000), End: following(10000)}, byY, byYkeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Start: preceding(20000), End: current}, byYDesc, byYDescKeys, sumX, columnar.Float64, x),
		frameCase("sum", &plan.Frame{Start: unbPrec, End: following(5000)}, byYDesc, byYDescKeys, sumX, columnar.Float64, x),
		frameCase("max", &plan.Frame{Start: current, End: unbFoll}, sOnly, sOnlyKeys, func(p [][]any, pos []int) any {
			var best any
			for _, j := range pos {
				if v := p[j][2]; v != nil && (best == nil || v.(float64) > best.(float64)) {
					best = v
				}
			}
			return best
		}, columnar.Float64, x),
		frameCase("last_value", &plan.Frame{Rows: true, Start: preceding(1), End: following(1)}, byY, byYkeys, func(p [][]any, pos []int) any {
			return p[pos[len(pos)-1]][2]
		}, columnar.Float64, x),
	}
	var calls []plan.WindowCall
	var names []string
	for _, c := range cases {
		c.call.PartitionBy = []plan.Expr{col(0, columnar.Int64)}
		calls = append(calls, c.call)
		names = append(names, "w")
	}
	for iter := 0; iter < 8; iter++ {
		rows := randRows(rng, rng.IntN(600), 1+rng.IntN(6))
		for i, p := range rng.Perm(len(rows)) {
			rows[i][3] = int64(p * 1000)
			if rng.IntN(10) == 0 {
				rows[i][3] = int64((p / 2) * 1000) // some ties in y
			}
		}
		tbl := newTable(randCols, rows, 1+rng.IntN(200))
		got := collect(t, &plan.Window{Input: scan(tbl), Funcs: calls, Names: names}, exec.Options{})
		if len(got) != len(rows) {
			t.Fatalf("got %d rows, want %d", len(got), len(rows))
		}
		for ci, c := range cases {
			// order keys of this case, then row index as tie-break (the executor's sort is stable)
			var keys []refKey
			for _, k := range c.call.OrderBy {
				keys = append(keys, refKey{k.Expr.(*plan.ColRef).Index, k.Desc, k.NullsFirst})
			}
			for r := range rows {
				var part []int
				for j := range rows {
					if fmtVal(rows[j][0]) == fmtVal(rows[r][0]) {
						part = append(part, j)
					}
				}
				sort.SliceStable(part, func(a, b int) bool { return refCmp(rows[part[a]], rows[part[b]], keys) < 0 })
				prow := make([][]any, len(part))
				for i, j := range part {
					prow[i] = rows[j]
				}
				k := slices.Index(part, r)
				want := c.ref(prow, k)
				g := got[r][len(randCols)+ci]
				if !sameRow([]any{g}, []any{want}) {
					t.Fatalf("case %d (%s frame %+v): row %d (partition %v, position %d): got %v, want %v", ci, c.call.Name, c.call.Frame, r, rows[r][0], k, g, want)
				}
			}
		}
		sameOrdered(t, "window passes input through", rowStrings(trim(got, len(randCols))), rowStrings(rows))
	}
}

func trim(rows [][]any, n int) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r[:n]
	}
	return out
}
