package exec

import (
	"context"
	"fmt"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// joinOp is a hash join: it buffers the build side, indexes it by its
// equi-join keys and streams the probe side through. Without keys (CROSS
// JOIN, or a condition with no equalities) every build row is a candidate.
// The residual condition is evaluated over candidate pairs, a vector at a
// time. Rows with a NULL key never match.
type joinOp struct {
	kind                 plan.JoinKind
	build, probe         op
	buildKeys, probeKeys []evaluator
	keyCasts             []columnar.Type // per key: Unknown or a type both sides are cast to
	cond                 evaluator
	buildLeft            bool
	buildTypes           []columnar.Type
	probeTypes           []columnar.Type
	q                    *query
}

func (q *query) compileJoin(ctx context.Context, n *plan.Join) (op, error) {
	if len(n.LeftKeys) != len(n.RightKeys) {
		return nil, fmt.Errorf("join: %d left keys but %d right keys", len(n.LeftKeys), len(n.RightKeys))
	}
	o := &joinOp{kind: n.Kind, q: q}
	left, err := q.compile(ctx, n.Left)
	if err != nil {
		return nil, err
	}
	right, err := q.compile(ctx, n.Right)
	if err != nil {
		return nil, err
	}
	lk, err := q.compileExprs(ctx, n.LeftKeys)
	if err != nil {
		return nil, err
	}
	rk, err := q.compileExprs(ctx, n.RightKeys)
	if err != nil {
		return nil, err
	}
	for i := range n.LeftKeys {
		lt, rt := n.LeftKeys[i].Type(), n.RightKeys[i].Type()
		switch {
		case lt == rt:
			o.keyCasts = append(o.keyCasts, columnar.Unknown)
		case numericPair(lt, rt):
			o.keyCasts = append(o.keyCasts, columnar.Float64)
		case lt == columnar.Unknown || rt == columnar.Unknown:
			o.keyCasts = append(o.keyCasts, max(lt, rt))
		default:
			return nil, fmt.Errorf("join: key %d compares %s with %s", i+1, lt, rt)
		}
	}
	if n.Cond != nil {
		if o.cond, err = q.compileExpr(ctx, n.Cond); err != nil {
			return nil, err
		}
	}
	// Build the side known to be small; otherwise the right.
	o.buildLeft = small(n.Left) && !small(n.Right)
	if o.buildLeft {
		o.build, o.probe, o.buildKeys, o.probeKeys = left, right, lk, rk
		o.buildTypes, o.probeTypes = schemaTypes(n.Left.Schema()), schemaTypes(n.Right.Schema())
	} else {
		o.build, o.probe, o.buildKeys, o.probeKeys = right, left, rk, lk
		o.buildTypes, o.probeTypes = schemaTypes(n.Right.Schema()), schemaTypes(n.Left.Schema())
	}
	return o, nil
}

// small reports whether a node's output is known to be small.
func small(n plan.Node) bool {
	switch n := n.(type) {
	case *plan.Values:
		return len(n.Rows) <= 10000
	case *plan.Limit:
		return n.Count >= 0 && n.Count <= 10000
	case *plan.TopN:
		return n.Count >= 0 && n.Count <= 10000
	case *plan.Aggregate:
		return len(n.GroupBy) == 0
	}
	return false
}

func (o *joinOp) evalKeys(evs []evaluator, ch *chunk) ([]*columnar.Column, error) {
	keys, err := evalAll(evs, ch)
	if err != nil {
		return nil, err
	}
	for i, t := range o.keyCasts {
		if t != columnar.Unknown && keys[i].Type != t {
			if keys[i], err = fn.Cast(keys[i], t, false); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// nullKeyRows marks rows with a NULL in any key with gid -1.
func nullKeyRows(keys []*columnar.Column, gids []int32) {
	for i := range gids {
		gids[i] = 0
	}
	for _, k := range keys {
		if k.Type == columnar.Unknown {
			for i := range gids {
				gids[i] = -1
			}
			continue
		}
		if k.Nulls == nil {
			continue
		}
		for i, nl := range k.Nulls {
			if nl {
				gids[i] = -1
			}
		}
	}
}

const maxPairs = 8192

func (o *joinOp) run(ctx context.Context, emit func(*chunk) error) error {
	// Build.
	buf := newBuffer(o.buildTypes)
	tr := o.q.track("JOIN build side")
	defer tr.close()
	if err := o.build.run(ctx, func(ch *chunk) error { return tr.add(buf.add(ch)) }); err != nil {
		return err
	}
	build := buf.chunk()
	hasKeys := len(o.buildKeys) > 0
	var table *groupTable
	var head, next []int32
	if hasKeys {
		keys, err := o.evalKeys(o.buildKeys, build)
		if err != nil {
			return err
		}
		types := make([]columnar.Type, len(keys))
		for i, k := range keys {
			types[i] = k.Type
		}
		table = newGroupTable(types)
		gids := make([]int32, build.n)
		nullKeyRows(keys, gids)
		table.find(keys, build.n, gids, true, true)
		head = make([]int32, table.n)
		for i := range head {
			head[i] = -1
		}
		next = make([]int32, build.n)
		for i := build.n - 1; i >= 0; i-- { // backwards, so chains run in row order
			if g := gids[i]; g >= 0 {
				next[i] = head[g]
				head[g] = int32(i)
			}
		}
		if err := tr.add(table.bytes + 8*int64(build.n) + 4*int64(table.n)); err != nil {
			return err
		}
	}
	buildOuter := o.kind == plan.FullJoin || (o.buildLeft && o.kind == plan.LeftJoin) || (!o.buildLeft && o.kind == plan.RightJoin)
	probeOuter := o.kind == plan.FullJoin || (o.buildLeft && o.kind == plan.RightJoin) || (!o.buildLeft && o.kind == plan.LeftJoin)
	var buildMatched []bool
	if buildOuter {
		buildMatched = make([]bool, build.n)
	}
	// Probe.
	var pIdx, bIdx []int32
	err := o.probe.run(ctx, func(ch *chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var gids []int32
		if hasKeys {
			keys, err := o.evalKeys(o.probeKeys, ch)
			if err != nil {
				return err
			}
			gids = make([]int32, ch.n)
			nullKeyRows(keys, gids)
			table.find(keys, ch.n, gids, false, true)
		}
		var probeMatched []bool
		if probeOuter {
			probeMatched = make([]bool, ch.n)
		}
		flush := func() error {
			if len(pIdx) == 0 {
				return nil
			}
			err := o.emitPairs(ch, build, pIdx, bIdx, probeMatched, buildMatched, emit)
			pIdx, bIdx = pIdx[:0], bIdx[:0]
			if err == nil {
				err = ctx.Err()
			}
			return err
		}
		for i := 0; i < ch.n; i++ {
			if hasKeys {
				g := gids[i]
				if g < 0 {
					continue
				}
				for b := head[g]; b >= 0; b = next[b] {
					pIdx, bIdx = append(pIdx, int32(i)), append(bIdx, b)
					if len(pIdx) >= maxPairs {
						if err := flush(); err != nil {
							return err
						}
					}
				}
				continue
			}
			for b := 0; b < build.n; b++ {
				pIdx, bIdx = append(pIdx, int32(i)), append(bIdx, int32(b))
				if len(pIdx) >= maxPairs {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if probeOuter {
			var sel []int32
			for i, m := range probeMatched {
				if !m {
					sel = append(sel, int32(i))
				}
			}
			if len(sel) > 0 {
				return emit(o.assemble(gatherChunk(ch, sel), nullChunk(o.buildTypes, len(sel))))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if buildOuter {
		var sel []int32
		for i, m := range buildMatched {
			if !m {
				sel = append(sel, int32(i))
			}
		}
		for lo := 0; lo < len(sel); lo += chunkRows {
			part := sel[lo:min(lo+chunkRows, len(sel))]
			if err := emit(o.assemble(nullChunk(o.probeTypes, len(part)), gatherChunk(build, part))); err != nil {
				return err
			}
		}
	}
	return nil
}

func nullChunk(types []columnar.Type, n int) *chunk {
	ch := &chunk{n: n}
	for _, t := range types {
		ch.cols = append(ch.cols, fn.NullColumn(t, n))
	}
	return ch
}

// assemble puts probe and build columns in the plan's order (left first).
func (o *joinOp) assemble(probe, build *chunk) *chunk {
	l, r := probe, build
	if o.buildLeft {
		l, r = build, probe
	}
	out := &chunk{n: probe.n, cols: make([]*columnar.Column, 0, len(l.cols)+len(r.cols))}
	out.cols = append(append(out.cols, l.cols...), r.cols...)
	return out
}

func (o *joinOp) emitPairs(probe, build *chunk, pIdx, bIdx []int32, probeMatched, buildMatched []bool, emit func(*chunk) error) error {
	out := o.assemble(gatherChunk(probe, pIdx), gatherChunk(build, bIdx))
	if o.cond != nil {
		c, err := o.cond.eval(out)
		if err != nil {
			return err
		}
		sel, all := selection(c, out.n)
		if !all {
			if len(sel) == 0 {
				return nil
			}
			out = gatherChunk(out, sel)
			np, nb := make([]int32, len(sel)), make([]int32, len(sel))
			for k, s := range sel {
				np[k], nb[k] = pIdx[s], bIdx[s]
			}
			pIdx, bIdx = np, nb
		}
	}
	for k := range pIdx {
		if probeMatched != nil {
			probeMatched[pIdx[k]] = true
		}
		if buildMatched != nil {
			buildMatched[bIdx[k]] = true
		}
	}
	return emit(out)
}

type distinctOp struct {
	in    op
	types []columnar.Type
	q     *query
}

func (o *distinctOp) run(ctx context.Context, emit func(*chunk) error) error {
	t := newGroupTable(o.types)
	if len(o.types) == 0 {
		t.mode = modeNone
	}
	tr := o.q.track("DISTINCT")
	defer tr.close()
	var gids []int32
	return o.in.run(ctx, func(ch *chunk) error {
		cols := make([]*columnar.Column, len(ch.cols))
		for i, c := range ch.cols {
			cols[i] = expand(c, ch.n)
		}
		before := t.n
		gids = growSlice(gids[:0], ch.n)[:ch.n]
		t.find(cols, ch.n, gids, true, false)
		if t.n == before {
			return nil
		}
		if err := tr.set(t.bytes); err != nil {
			return err
		}
		sel := make([]int32, 0, t.n-before)
		next := int32(before)
		for i, g := range gids {
			if g == next { // first occurrence of a new row
				sel = append(sel, int32(i))
				next++
			}
		}
		return emit(&chunk{cols: gatherChunk(&chunk{cols: cols, n: ch.n}, sel).cols, n: len(sel)})
	})
}
