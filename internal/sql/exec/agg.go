package exec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

type aggSpec struct {
	proto    aggFunc // empty state; workers' states are proto.fresh() so they share settings (hash seeds)
	name     string
	args     []evaluator
	argTypes []columnar.Type
	filter   evaluator
	distinct bool
	star     bool
	t        columnar.Type
}

type aggregateOp struct {
	in       op
	keys     []evaluator
	keyTypes []columnar.Type
	specs    []aggSpec
	q        *query
	// parallel plan: scan feeding per-worker stages (nil when serial)
	scan   op
	stages []func(*chunk) (*chunk, error)
	// binWidth > 0 when the only group key is bin(column binCol, binWidth):
	// groups are then found by bucket arithmetic (see binGroups).
	binCol   int
	binWidth int64
}

func (q *query) compileAggregate(ctx context.Context, n *plan.Aggregate) (op, error) {
	o := &aggregateOp{q: q}
	var err error
	if o.keys, err = q.compileExprs(ctx, n.GroupBy); err != nil {
		return nil, err
	}
	for _, k := range n.GroupBy {
		o.keyTypes = append(o.keyTypes, k.Type())
	}
	if len(n.GroupBy) == 1 {
		o.binCol, o.binWidth = binKey(n.GroupBy[0])
	}
	anyDistinct := false
	for _, a := range n.Aggs {
		s := aggSpec{name: a.Name, distinct: a.Distinct, star: a.Star, t: a.T}
		if s.args, err = q.compileExprs(ctx, a.Args); err != nil {
			return nil, err
		}
		for _, e := range a.Args {
			s.argTypes = append(s.argTypes, e.Type())
		}
		if a.Filter != nil {
			if s.filter, err = q.compileExpr(ctx, a.Filter); err != nil {
				return nil, err
			}
		}
		if a.Name != plan.CountSumAgg && a.Name != plan.AvgMergeAgg { // the planner's own, not SQL functions
			if _, err := fn.ResolveAggregate(a.Name, s.argTypes); err != nil {
				return nil, err
			}
		}
		if s.proto, err = newAggFunc(a.Name, s.argTypes, a.T, a.Star); err != nil {
			return nil, err
		}
		anyDistinct = anyDistinct || a.Distinct
		o.specs = append(o.specs, s)
	}
	// Compile the input once, either as a parallel pipeline or serially:
	// compiling runs uncorrelated subqueries, which must happen once.
	if q.par > 1 && !anyDistinct && isPipeline(n.Input) {
		if o.scan, o.stages, err = q.pipeline(ctx, n.Input); err != nil {
			return nil, err
		}
		return o, nil
	}
	if o.in, err = q.compile(ctx, n.Input); err != nil {
		return nil, err
	}
	return o, nil
}

// isPipeline reports whether n is a chain of Filters and Projects over a Scan.
func isPipeline(n plan.Node) bool {
	for {
		switch x := n.(type) {
		case *plan.Scan:
			return true
		case *plan.Filter:
			n = x.Input
		case *plan.Project:
			n = x.Input
		default:
			return false
		}
	}
}

// pipeline splits a Filter/Project chain over a Scan (see isPipeline) into
// the scan and the per-chunk stages that workers run in parallel.
func (q *query) pipeline(ctx context.Context, n plan.Node) (op, []func(*chunk) (*chunk, error), error) {
	var stages []func(*chunk) (*chunk, error)
	for {
		switch x := n.(type) {
		case *plan.Scan:
			// stages were collected top-down; run them bottom-up
			for i, j := 0, len(stages)-1; i < j; i, j = i+1, j-1 {
				stages[i], stages[j] = stages[j], stages[i]
			}
			return newScanOp(x), stages, nil
		case *plan.Filter:
			cond, err := q.compileExpr(ctx, x.Cond)
			if err != nil {
				return nil, nil, err
			}
			f := &filterOp{cond: cond}
			stages = append(stages, f.apply)
			n = x.Input
		case *plan.Project:
			exprs, err := q.compileExprs(ctx, x.Exprs)
			if err != nil {
				return nil, nil, err
			}
			p := &projectOp{exprs: exprs}
			stages = append(stages, p.apply)
			n = x.Input
		default:
			return nil, nil, fmt.Errorf("exec: %T in a parallel pipeline", n)
		}
	}
}

// aggregator is one hash table of groups with its aggregate states.
type aggregator struct {
	o      *aggregateOp
	groups *groupTable
	funcs  []aggFunc
	gids   []int32
	tr     *tracker
	// bin buckets (see binGroups): dense[b-base] is 1 + the group of
	// bucket b, 0 when it has none yet.
	dense []int32
	base  int64
	one   *columnar.Column // scratch one-row key
}

func (o *aggregateOp) newAggregator() *aggregator {
	a := &aggregator{o: o, groups: newGroupTable(o.keyTypes), tr: o.q.track("GROUP BY")}
	for _, s := range o.specs {
		f := s.proto.fresh()
		if s.distinct {
			f = &distinctAgg{inner: f, seen: make(map[string]struct{})}
		}
		a.funcs = append(a.funcs, f)
	}
	if len(o.keys) == 0 {
		a.groups.n = 1 // one row even for empty input
		for _, f := range a.funcs {
			f.grow(1)
		}
	}
	return a
}

func (a *aggregator) consume(ch *chunk) error {
	if ch == nil || ch.n == 0 {
		return nil
	}
	n := ch.n
	a.gids = growSlice(a.gids[:0], n)[:n]
	if !a.binGroups(ch) {
		keys, err := evalAll(a.o.keys, ch)
		if err != nil {
			return err
		}
		a.groups.find(keys, n, a.gids, true, false)
	}
	for _, f := range a.funcs {
		f.grow(a.groups.n)
	}
	var mine []int32
	for k, s := range a.o.specs {
		args, err := evalAll(s.args, ch)
		if err != nil {
			return err
		}
		gids := a.gids
		if s.filter != nil {
			c, err := s.filter.eval(ch)
			if err != nil {
				return err
			}
			mine = append(mine[:0], a.gids...)
			for i := range mine {
				if !truthy(c, i) {
					mine[i] = -1
				}
			}
			gids = mine
		}
		if err := a.funcs[k].add(args, gids, n); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return a.account()
}

// binKey recognises bin(column, constant width) and returns the column
// and width; width is 0 for anything else.
func binKey(e plan.Expr) (int, int64) {
	c, ok := e.(*plan.Call)
	if !ok || c.Name != "bin" || len(c.Args) != 2 || c.T != columnar.Timestamp {
		return 0, 0
	}
	ref, ok := c.Args[0].(*plan.ColRef)
	if !ok || ref.T != columnar.Timestamp {
		return 0, 0
	}
	w, ok := c.Args[1].(*plan.Const)
	if !ok {
		return 0, 0
	}
	width, ok := w.Val.(int64)
	if !ok || width <= 0 || (w.T != columnar.Interval && w.T != columnar.Int64) {
		return 0, 0
	}
	return ref.Index, width
}

// maxDenseBuckets bounds the bucket array of binGroups (4 MiB of int32).
const maxDenseBuckets = 1 << 20

// binGroups sets a.gids for a GROUP BY bin(time, width) chunk without
// evaluating bin() or hashing each row: rows of one series come in time
// order, so most rows fall in the bucket of the row before, and other
// buckets are found in a dense array indexed by bucket number. Groups are
// still made in a.groups (keyed by the bucket's start, as bin() computes
// it), so merging and emitting are unchanged. It returns false, having
// done nothing, when the chunk does not suit (NULL times, a bucket range
// too wide for the array); the caller then hashes.
func (a *aggregator) binGroups(ch *chunk) bool {
	w := a.o.binWidth
	if w == 0 || a.o.binCol >= len(ch.cols) {
		return false
	}
	tc := ch.cols[a.o.binCol]
	n := ch.n
	if tc.Nulls != nil || len(tc.Ints) != n || n == 0 {
		return false
	}
	ts := tc.Ints[:n]
	lo, hi := ts[0], ts[0]
	for _, v := range ts {
		lo, hi = min(lo, v), max(hi, v)
	}
	bLo, bHi := floorDiv(lo, w), floorDiv(hi, w)
	if len(a.dense) == 0 {
		a.base = bLo
	}
	from, to := min(a.base, bLo), max(a.base+int64(len(a.dense))-1, bHi)
	if to-from+1 > maxDenseBuckets || to < from {
		return false
	}
	if from < a.base || to >= a.base+int64(len(a.dense)) {
		d := make([]int32, to-from+1)
		copy(d[a.base-from:], a.dense)
		a.dense, a.base = d, from
	}
	if a.one == nil {
		a.one = columnar.NewColumn(columnar.Timestamp, 1)
	}
	one := []*columnar.Column{a.one}
	var g1 [1]int32
	curStart, curEnd, cur := int64(1), int64(0), int32(0) // empty range
	for i, v := range ts {
		if v < curStart || v > curEnd {
			b := floorDiv(v, w)
			k := b - a.base
			if a.dense[k] == 0 {
				a.one.Reset()
				a.one.AppendInt(b * w)
				a.groups.find(one, 1, g1[:], true, false)
				a.dense[k] = g1[0] + 1
			}
			cur = a.dense[k] - 1
			curStart = b * w
			curEnd = curStart + (w - 1)
			if curEnd < curStart { // overflow at the top of the range
				curEnd = math.MaxInt64
			}
		}
		a.gids[i] = cur
	}
	return true
}

// floorDiv is v/w rounded towards minus infinity (w > 0), the bucket
// number of bin(): bin(v, w) = floorDiv(v, w)*w.
func floorDiv(v, w int64) int64 {
	q := v / w
	if v%w < 0 {
		q--
	}
	return q
}

func (a *aggregator) account() error {
	b := a.groups.bytes + 4*int64(cap(a.gids)+cap(a.dense))
	for _, f := range a.funcs {
		b += f.size()
	}
	return a.tr.set(b)
}

// mergeFrom folds another aggregator's groups and states into a.
func (a *aggregator) mergeFrom(p *aggregator) error {
	to := make([]int32, p.groups.n)
	if len(a.o.keys) == 0 {
		// both have the single group 0
	} else {
		a.groups.find(p.groups.keys, p.groups.n, to, true, false)
	}
	for k, f := range a.funcs {
		f.grow(a.groups.n)
		if err := f.merge(p.funcs[k], to); err != nil {
			return err
		}
	}
	return a.account()
}

func (a *aggregator) emit(ctx context.Context, emit func(*chunk) error) error {
	g := a.groups
	for lo := 0; lo < g.n; lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+chunkRows, g.n)
		out := &chunk{n: hi - lo}
		for _, k := range g.keys {
			out.cols = append(out.cols, slice(k, lo, hi))
		}
		for k, f := range a.funcs {
			c := columnar.NewColumn(a.o.specs[k].t, hi-lo)
			for i := lo; i < hi; i++ {
				f.result(i, c)
			}
			out.cols = append(out.cols, c)
		}
		if err := emit(out); err != nil {
			return err
		}
	}
	return nil
}

func (o *aggregateOp) run(ctx context.Context, emit func(*chunk) error) error {
	if o.scan != nil {
		a, err := o.runParallel(ctx)
		if err != nil {
			return err
		}
		defer a.tr.close()
		return a.emit(ctx, emit)
	}
	a := o.newAggregator()
	defer a.tr.close()
	if err := o.in.run(ctx, a.consume); err != nil {
		return err
	}
	return a.emit(ctx, emit)
}

// runParallel runs the scan on this goroutine and hands copies of its
// chunks to q.par workers, each running the Filter/Project stages and a
// partial aggregation; the partials are merged at the end.
func (o *aggregateOp) runParallel(ctx context.Context) (*aggregator, error) {
	workers := o.q.par
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make(chan *chunk, 2*workers)
	// Copies of the scan's batches are recycled once a worker is done
	// with them, so the copying costs no garbage.
	var pool sync.Pool
	parts := make([]*aggregator, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		parts[w] = o.newAggregator()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[w] = fmt.Errorf("exec: internal error in aggregation worker: %v", r)
					cancel()
				}
			}()
			for src := range in {
				if errs[w] != nil {
					continue // drain so the scan never blocks
				}
				var err error
				ch := src
				for _, st := range o.stages {
					if ch, err = st(ch); err != nil || ch == nil {
						break
					}
				}
				if err == nil {
					err = parts[w].consume(ch)
				}
				pool.Put(src)
				if err != nil {
					errs[w] = err
					cancel()
				}
			}
		}(w)
	}
	scanErr := o.scan.run(ctx, func(ch *chunk) error {
		var cp *chunk // the table reuses its batch after we return: copy it
		if v := pool.Get(); v != nil {
			cp = copyInto(v.(*chunk), ch)
		} else {
			cp = copyChunk(ch)
		}
		select {
		case in <- cp:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(in)
	wg.Wait()
	defer func() {
		for _, p := range parts[1:] {
			p.tr.close()
		}
	}()
	for _, err := range errs {
		if err != nil {
			parts[0].tr.close()
			return nil, err
		}
	}
	if scanErr != nil {
		parts[0].tr.close()
		if errors.Is(scanErr, context.Canceled) && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, scanErr
	}
	final := parts[0]
	for _, p := range parts[1:] {
		if err := final.mergeFrom(p); err != nil {
			final.tr.close()
			return nil, err
		}
		p.tr.close()
	}
	return final, nil
}
