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
	// where, in a parallel plan, is the condition of a Filter directly
	// under the aggregate, applied as a mask on the groups of rows rather
	// than by copying the rows that pass (see consume). Only used when
	// the keys and arguments are plain columns and constants, whose
	// evaluation over rows the filter rejects cannot fail.
	where evaluator
	// used marks the scan columns the parallel plan reads (nil: all);
	// the others are not copied for the workers.
	used []bool
	// codesOnly is the scan column that is the only group key and read
	// by nothing else, whose strings the scan may leave out where it has
	// dictionary codes (see codesOnlyScanner); -1 when none.
	codesOnly int
	// binWidth > 0 when the only group key is bin(column binCol, binWidth):
	// groups are then found by bucket arithmetic (see binGroups).
	binCol   int
	binWidth int64
}

func (q *query) compileAggregate(ctx context.Context, n *plan.Aggregate) (op, error) {
	o := &aggregateOp{q: q, codesOnly: -1}
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
		in := n.Input
		if f, ok := in.(*plan.Filter); ok && plainAggregate(n) {
			if o.where, err = q.compileExpr(ctx, f.Cond); err != nil {
				return nil, err
			}
			in = f.Input
		}
		if o.scan, o.stages, err = q.pipeline(ctx, in); err != nil {
			return nil, err
		}
		o.used = usedScanColumns(n)
		if sc, ok := o.scan.(*scanOp); ok && len(o.stages) == 0 {
			if k := codesOnlyKey(n, in); k >= 0 && k < len(sc.n.Columns) {
				o.codesOnly, sc.codesOnly = k, []string{sc.n.Columns[k].Name}
			}
		}
		return o, nil
	}
	if o.in, err = q.compile(ctx, n.Input); err != nil {
		return nil, err
	}
	return o, nil
}

// codesOnlyKey returns the scan column that is the aggregate's only group
// key, a VARCHAR column the aggregate reads for nothing else (no argument,
// FILTER or WHERE condition refers to it), when in, the aggregate's input
// without the WHERE it applies as a mask, is the Scan itself; else -1.
// Groups are found by a dictionary-coded key's codes (findCodes) and get
// their strings from the dictionary, so the scan need not write them.
func codesOnlyKey(n *plan.Aggregate, in plan.Node) int {
	if _, ok := in.(*plan.Scan); !ok || len(n.GroupBy) != 1 {
		return -1
	}
	key, ok := n.GroupBy[0].(*plan.ColRef)
	if !ok || key.T != columnar.String {
		return -1
	}
	var refs []int
	for _, a := range n.Aggs {
		for _, e := range append(a.Args[:len(a.Args):len(a.Args)], a.Filter) {
			if e != nil && !exprRefs(e, &refs) {
				return -1
			}
		}
	}
	if f, ok := n.Input.(*plan.Filter); ok && f.Input == in && !exprRefs(f.Cond, &refs) {
		return -1
	}
	for _, r := range refs {
		if r == key.Index {
			return -1
		}
	}
	return key.Index
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

// plainAggregate reports whether the aggregate's keys, arguments and
// FILTER clauses are only column references and constants: evaluating
// them over rows a WHERE clause rejects then cannot fail or cost anything.
func plainAggregate(n *plan.Aggregate) bool {
	plain := func(es ...plan.Expr) bool {
		for _, e := range es {
			switch e.(type) {
			case *plan.ColRef, *plan.Const:
			case nil:
			default:
				return false
			}
		}
		return true
	}
	if !plain(n.GroupBy...) {
		return false
	}
	for _, a := range n.Aggs {
		if !plain(a.Args...) || !plain(a.Filter) {
			return false
		}
	}
	return true
}

// usedScanColumns returns which columns of the Scan at the bottom of the
// aggregate's Filter/Project chain its expressions refer to, or nil (all)
// when it cannot tell.
func usedScanColumns(n *plan.Aggregate) []bool {
	var refs []int
	ok := true
	add := func(es ...plan.Expr) {
		for _, e := range es {
			if e != nil && !exprRefs(e, &refs) {
				ok = false
			}
		}
	}
	add(n.GroupBy...)
	for _, a := range n.Aggs {
		add(a.Args...)
		add(a.Filter)
	}
	for in := n.Input; ok; {
		switch x := in.(type) {
		case *plan.Scan:
			used := make([]bool, len(x.Columns))
			for _, r := range refs {
				if r < 0 || r >= len(used) {
					return nil
				}
				used[r] = true
			}
			return used
		case *plan.Filter:
			add(x.Cond)
			in = x.Input
		case *plan.Project:
			// A project's output columns are its expressions: what the
			// levels above refer to is what these refer to (all of them,
			// conservatively).
			refs = refs[:0]
			add(x.Exprs...)
			in = x.Input
		default:
			return nil
		}
	}
	return nil
}

// exprRefs appends the input columns e refers to; false when e holds an
// expression it does not know (the caller then assumes every column).
func exprRefs(e plan.Expr, refs *[]int) bool {
	switch x := e.(type) {
	case *plan.ColRef:
		*refs = append(*refs, x.Index)
	case *plan.Const:
	case *plan.Call:
		for _, a := range x.Args {
			if !exprRefs(a, refs) {
				return false
			}
		}
	case *plan.Cast:
		return exprRefs(x.X, refs)
	case *plan.Case:
		for _, w := range x.Whens {
			if !exprRefs(w.Cond, refs) || !exprRefs(w.Then, refs) {
				return false
			}
		}
		if x.Else != nil {
			return exprRefs(x.Else, refs)
		}
	case *plan.InList:
		if !exprRefs(x.X, refs) {
			return false
		}
		for _, l := range x.List {
			if !exprRefs(l, refs) {
				return false
			}
		}
	default:
		return false
	}
	return true
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

// consume folds a chunk into the groups. where, if not nil, is a
// condition rows must satisfy (a WHERE clause applied as a mask): rows it
// rejects get no group and reach no aggregate.
func (a *aggregator) consume(ch *chunk, where evaluator) error {
	if ch == nil || ch.n == 0 {
		return nil
	}
	n := ch.n
	a.gids = growSlice(a.gids[:0], n)[:n]
	masked := false
	if where != nil {
		c, err := where.eval(ch)
		if err != nil {
			return err
		}
		switch {
		case c.Type == columnar.Unknown:
			return nil // NULL: no row passes
		case c.Type != columnar.Bool:
			return fmt.Errorf("filter condition is %s, not BOOLEAN", c.Type)
		case colLen(c) == 1 && n != 1:
			if !truthy(c, 0) {
				return nil
			}
		default:
			if masked = maskGids(a.gids, c, n); masked && allNegative(a.gids) {
				return nil
			}
		}
	}
	switch {
	case masked && len(a.o.keys) == 0:
		// maskGids left 0 (the one group) or -1 in every row
	case masked || !a.binGroups(ch):
		keys, err := evalAll(a.o.keys, ch)
		if err != nil {
			return err
		}
		a.groups.find(keys, n, a.gids, true, masked)
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

// maskGids sets gids[i] to -1 where the BOOLEAN column c is not true and
// to 0 elsewhere; it reports whether any row was rejected.
func maskGids(gids []int32, c *columnar.Column, n int) bool {
	vals := c.Bools[:n]
	gids = gids[:n]
	rejected := 0
	if c.Nulls == nil {
		for i, v := range vals {
			// Branch-free: 0 when true, -1 when false.
			g := int32(b2i(v)) - 1
			gids[i] = g
			rejected -= int(g)
		}
	} else {
		nulls := c.Nulls[:n]
		for i, v := range vals {
			g := int32(b2i(v && !nulls[i])) - 1
			gids[i] = g
			rejected -= int(g)
		}
	}
	return rejected > 0
}

func allNegative(gids []int32) bool {
	for _, g := range gids {
		if g >= 0 {
			return false
		}
	}
	return true
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
	} else if !a.groups.mergeIDs(p.groups, to) {
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
	if err := o.in.run(ctx, func(ch *chunk) error { return a.consume(ch, nil) }); err != nil {
		return err
	}
	return a.emit(ctx, emit)
}

// runParallel runs the scan on this goroutine and hands its chunks to
// q.par workers, each running the Filter/Project stages and a partial
// aggregation; the partials are merged at the end. The table may reuse a
// batch's storage once its callback returns, so what a worker reads is
// either retained (columns whose producer reference-counts them, as lake
// scans do: no copy), copied into recycled buffers, or, for columns no
// expression reads, an all-NULL stand-in.
func (o *aggregateOp) runParallel(ctx context.Context) (*aggregator, error) {
	workers := o.q.par
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := make(chan *parWork, 2*workers)
	var pool sync.Pool // of *parWork, so the copying costs no garbage
	var stand standIns
	parts := make([]*aggregator, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		parts[w] = o.newAggregator()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for pw := range in {
				if errs[w] == nil { // else drain so the scan never blocks
					if err := o.work(parts[w], &pw.ch); err != nil {
						errs[w] = err
						cancel()
					}
				}
				pw.release()
				pool.Put(pw)
			}
		}(w)
	}
	scanErr := o.scan.run(ctx, func(ch *chunk) error {
		pw, _ := pool.Get().(*parWork)
		if pw == nil {
			pw = &parWork{}
		}
		pw.take(ch, o.used, o.codesOnly, &stand)
		select {
		case in <- pw:
			return nil
		case <-ctx.Done():
			pw.release()
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

// work runs the stages and the partial aggregation of one chunk on a
// worker; a panic becomes an error (the worker goes on draining).
func (o *aggregateOp) work(a *aggregator, ch *chunk) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("exec: internal error in aggregation worker: %v", r)
		}
	}()
	for _, st := range o.stages {
		if ch, err = st(ch); err != nil || ch == nil {
			return err
		}
	}
	return a.consume(ch, o.where)
}

// parWork is a chunk handed to an aggregation worker with what keeps its
// columns valid.
type parWork struct {
	ch     chunk
	holds  []*columnar.Hold   // retained scan columns, released after use
	copies []*columnar.Column // recycled copy buffers, by column
}

// take makes pw a worker's view of the scan chunk ch (see runParallel).
// A copy of column codesOnly gets the strings its codes stand for (the
// scan may have left them out; a copy has no codes).
func (pw *parWork) take(ch *chunk, used []bool, codesOnly int, stand *standIns) {
	pw.ch.n = ch.n
	pw.ch.cols = growSlice(pw.ch.cols[:0], len(ch.cols))[:len(ch.cols)]
	pw.copies = growSlice(pw.copies, len(ch.cols))
	pw.holds = pw.holds[:0]
	for i, c := range ch.cols {
		if used != nil && i < len(used) && !used[i] {
			pw.ch.cols[i] = stand.get(i, c.Type, ch.n)
			continue
		}
		if h := c.Retain(); h != nil {
			pw.ch.cols[i] = c
			pw.holds = append(pw.holds, h)
			continue
		}
		d := pw.copies[i]
		if d == nil || d.Type != c.Type {
			d = columnar.NewColumn(c.Type, ch.n)
			pw.copies[i] = d
		}
		d.Reset()
		appendRows(d, expand(c, ch.n), ch.n)
		if codes, dict := c.Codes(); i == codesOnly && dict != nil {
			for k := range ch.n {
				if !c.IsNull(k) {
					d.Strs[k] = dict.Str(codes[k])
				}
			}
		}
		pw.ch.cols[i] = d
	}
}

// release drops pw's references to scan columns.
func (pw *parWork) release() {
	for i, h := range pw.holds {
		h.Release()
		pw.holds[i] = nil
	}
	pw.holds = pw.holds[:0]
	clear(pw.ch.cols) // keep no scan columns alive in the pool
}

// standIns hands out all-NULL columns for scan columns no expression
// reads, shared by all workers (nothing writes to them).
type standIns struct {
	mu    sync.Mutex
	base  map[int]*columnar.Column // by column: the longest made yet
	views map[[2]int]*columnar.Column
}

func (s *standIns) get(i int, t columnar.Type, rows int) *columnar.Column {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.views[[2]int{i, rows}]; c != nil && c.Type == t {
		return c
	}
	if s.base == nil {
		s.base = map[int]*columnar.Column{}
		s.views = map[[2]int]*columnar.Column{}
	}
	b := s.base[i]
	if b == nil || b.Type != t || colLen(b) < rows {
		b = fn.NullColumn(t, max(rows, chunkRows))
		s.base[i] = b
	}
	c := slice(b, 0, rows)
	if len(s.views) < 256 {
		s.views[[2]int{i, rows}] = c
	}
	return c
}
