// Package exec runs the logical plans of internal/sql/plan with vectorized
// operators: each operator pushes chunks of typed columns (up to a few
// thousand rows) to its parent, and expressions are evaluated a whole
// column at a time through the function library in internal/sql/fn.
//
// Concurrency: Run, Collect and Eval may be called concurrently, also on the
// same plan (plans are immutable). A query runs on the calling goroutine,
// except that large Scan→Filter→Project→Aggregate pipelines are split over
// Options.Parallelism workers, each with a partial aggregate merged at the
// end; Run returns only after every worker has stopped.
//
// Invariants: operators never modify the columns they receive (they build
// new ones) and copy what they keep past a call, because tables reuse their
// batches. Every byte an operator buffers (Sort, TopN, Aggregate, Join build
// side, Window, Distinct) is counted against Options.MemoryLimit; going over
// fails the query with ErrMemoryLimit. Cancellation of ctx is checked between
// chunks and inside long loops, and a cancelled query returns ctx.Err().
// Panics inside the executor are turned into errors at Run/Eval.
package exec

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

type planColumn = plan.Column

// Options configure one query. The zero value is usable.
type Options struct {
	// MemoryLimit bounds the bytes a query's buffering operators hold;
	// 0 means 1 GiB. Exceeding it fails the query with ErrMemoryLimit.
	MemoryLimit int64
	// Parallelism is the number of workers for large scans and
	// aggregations; 0 means GOMAXPROCS, 1 runs everything serially.
	Parallelism int
	// Now is the clock for now(), current_timestamp and ago(); it is read
	// once per query. nil means time.Now.
	Now func() time.Time
	// TableFuncs resolves table-valued functions (plan.TableFunc) by
	// lower-case name.
	TableFuncs map[string]TableFunc
}

// TableFunc implements a table-valued function: args are the evaluated
// constant arguments (nil, bool, int64, float64 or string, as
// columnar.Column.Value gives them) and input is the relation it reads
// (nil when the plan has none). The returned batch's columns must match the
// plan's TableFunc.Cols by position and type.
type TableFunc func(ctx context.Context, args []any, input *columnar.Batch) (*columnar.Batch, error)

// ErrMemoryLimit is wrapped by the error of a query that needed more memory
// than Options.MemoryLimit.
var ErrMemoryLimit = errors.New("query exceeded its memory limit")

const defaultMemoryLimit = 1 << 30

// memAcct counts a query's buffered bytes. It is shared by the query's
// workers.
type memAcct struct {
	limit int64
	used  atomic.Int64
}

// grow adds n bytes held by what, failing when the limit is passed.
func (m *memAcct) grow(n int64, what string) error {
	if n == 0 {
		return nil
	}
	if u := m.used.Add(n); u > m.limit && n > 0 {
		return fmt.Errorf("%w of %d bytes (%s needed %d bytes in all)", ErrMemoryLimit, m.limit, what, u)
	}
	return nil
}

func (m *memAcct) release(n int64) { m.used.Add(-n) }

// tracker keeps one operator's share of the query's memory so it can be
// resized to a new total and given back at the end.
type tracker struct {
	m    *memAcct
	what string
	held int64
}

func (t *tracker) set(total int64) error {
	d := total - t.held
	t.held = total
	return t.m.grow(d, t.what)
}

func (t *tracker) add(n int64) error { t.held += n; return t.m.grow(n, t.what) }

func (t *tracker) close() { t.m.release(t.held); t.held = 0 }

// runtime state of one query.
type query struct {
	opts  Options
	mem   *memAcct
	fctx  *fn.Context
	par   int
	funcs map[string]TableFunc
}

func newQuery(opts Options) *query {
	q := &query{opts: opts, mem: &memAcct{limit: opts.MemoryLimit}, funcs: opts.TableFuncs}
	if q.mem.limit <= 0 {
		q.mem.limit = defaultMemoryLimit
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	q.fctx = fn.NewContext(now())
	q.par = opts.Parallelism
	if q.par <= 0 {
		q.par = runtime.GOMAXPROCS(0)
	}
	return q
}

func (q *query) track(what string) *tracker { return &tracker{m: q.mem, what: what} }

// op is a compiled operator: run pushes its output chunks to emit.
type op interface {
	run(ctx context.Context, emit func(*chunk) error) error
}

// Run executes root and calls fn with each result batch, whose columns are
// named and typed as root.Schema() says. fn must not keep the batch past
// the call (it may share memory with the tables' scans); Collect copies.
// Returning an error from fn stops the query and Run returns that error.
func Run(ctx context.Context, root plan.Node, opts Options, fn func(*columnar.Batch) error) (err error) {
	return run(ctx, root, opts, func(b *columnar.Batch, _ bool) error { return fn(b) })
}

// run is Run, also telling fn whether the batch's columns are the
// executor's to give away (see chunk.owned).
func run(ctx context.Context, root plan.Node, opts Options, fn func(b *columnar.Batch, owned bool) error) (err error) {
	defer recoverErr(&err)
	q := newQuery(opts)
	if opts.Parallelism <= 0 && fewRows(root, q.fctx.Now.UnixNano()) {
		q.par = 1
	}
	o, err := q.compile(ctx, root)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(root.Schema()))
	for _, c := range root.Schema() {
		names = append(names, c.Name)
	}
	err = o.run(ctx, func(ch *chunk) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ch.n == 0 {
			return nil
		}
		b := &columnar.Batch{Names: names, Cols: make([]*columnar.Column, len(ch.cols))}
		for i, c := range ch.cols {
			b.Cols[i] = expand(c, ch.n)
		}
		return fn(b, ch.owned)
	})
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrMemoryLimit) {
		return ctx.Err()
	}
	return err
}

// fewRows reports whether every table root reads is a store's per-minute
// aggregates of a few series (measure names and dimension values pinned)
// from at most a day before now: at most a few thousand rows, which
// workers would not aggregate sooner than handing them over costs (a
// goroutine wake-up per chunk, on a loaded machine often more than the
// whole query). Subqueries in expressions are not looked at; they run
// with the same parallelism, which changes speed only.
func fewRows(root plan.Node, now int64) bool {
	const maxSeries, maxAge = 16, int64(24 * time.Hour)
	few, scans := true, 0
	var walk func(plan.Node)
	walk = func(n plan.Node) {
		if s, ok := n.(*plan.Scan); ok {
			scans++
			pinned := false
			for _, d := range s.Req.Dims {
				pinned = pinned || (len(d.Values) > 0 && len(d.Values) <= maxSeries)
			}
			if !s.Minutes || !pinned || len(s.Req.MeasureNames) == 0 || len(s.Req.MeasureNames) > maxSeries ||
				s.Req.MinTime < now-maxAge {
				few = false
			}
		}
		for _, c := range n.Children() {
			walk(c)
		}
	}
	walk(root)
	return few && scans > 0
}

// Collect runs root and returns all its rows in one batch (copied).
func Collect(ctx context.Context, root plan.Node, opts Options) (*columnar.Batch, error) {
	var out *columnar.Batch
	schema := root.Schema()
	out = &columnar.Batch{}
	for _, c := range schema {
		out.Add(c.Name, columnar.NewColumn(c.Type, 0))
	}
	first := true
	err := run(ctx, root, opts, func(b *columnar.Batch, owned bool) error {
		n := b.Len()
		if first && owned && len(b.Cols) == len(out.Cols) {
			// A sort's output is already a copy: keep it. Later batches
			// append to it; its columns end at their capacity, so those
			// appends copy rather than reach into the sort's buffer.
			first = false
			for i, c := range b.Cols {
				if c.Type != out.Cols[i].Type {
					return fmt.Errorf("exec: result column %d is %s, plan says %s", i, c.Type, out.Cols[i].Type)
				}
				out.Cols[i] = c
			}
			return nil
		}
		first = false
		for i, c := range b.Cols {
			appendRows(out.Cols[i], c, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Eval evaluates e over the rows of b and returns a column of b.Len() rows.
func Eval(ctx context.Context, e plan.Expr, b *columnar.Batch, opts Options) (col *columnar.Column, err error) {
	defer recoverErr(&err)
	q := newQuery(opts)
	ev, err := q.compileExpr(ctx, e)
	if err != nil {
		return nil, err
	}
	n := b.Len()
	if len(b.Cols) == 0 {
		n = 1
	}
	c, err := ev.eval(&chunk{cols: b.Cols, n: n})
	if err != nil {
		return nil, err
	}
	return expand(c, n), nil
}

func recoverErr(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("exec: internal error: %v\n%s", r, debug.Stack())
	}
}

func (q *query) compile(ctx context.Context, n plan.Node) (op, error) {
	switch n := n.(type) {
	case *plan.Scan:
		return newScanOp(n), nil
	case *plan.Filter:
		in, err := q.compile(ctx, n.Input)
		if err != nil {
			return nil, err
		}
		cond, err := q.compileExpr(ctx, n.Cond)
		if err != nil {
			return nil, err
		}
		return &filterOp{in: in, cond: cond}, nil
	case *plan.Project:
		in, err := q.compile(ctx, n.Input)
		if err != nil {
			return nil, err
		}
		exprs, err := q.compileExprs(ctx, n.Exprs)
		if err != nil {
			return nil, err
		}
		return &projectOp{in: in, exprs: exprs}, nil
	case *plan.Limit:
		in, err := q.compile(ctx, n.Input)
		if err != nil {
			return nil, err
		}
		return &limitOp{in: in, count: n.Count, offset: n.Offset}, nil
	case *plan.Union:
		var ins []op
		for _, c := range n.Inputs {
			o, err := q.compile(ctx, c)
			if err != nil {
				return nil, err
			}
			ins = append(ins, o)
		}
		return &unionOp{ins: ins}, nil
	case *plan.Values:
		return q.compileValues(ctx, n)
	case *plan.TableFunc:
		return q.compileTableFunc(ctx, n)
	case *plan.Sort:
		return q.compileSort(ctx, n.Input, n.Keys, -1, 0)
	case *plan.TopN:
		return q.compileSort(ctx, n.Input, n.Keys, n.Count, n.Offset)
	case *plan.Aggregate:
		return q.compileAggregate(ctx, n)
	case *plan.Distinct:
		in, err := q.compile(ctx, n.Input)
		if err != nil {
			return nil, err
		}
		return &distinctOp{in: in, types: schemaTypes(n.Input.Schema()), q: q}, nil
	case *plan.Join:
		return q.compileJoin(ctx, n)
	case *plan.Window:
		return q.compileWindow(ctx, n)
	case nil:
		return nil, errors.New("exec: nil plan node")
	}
	return nil, fmt.Errorf("exec: unsupported plan node %T", n)
}

func (q *query) compileExprs(ctx context.Context, es []plan.Expr) ([]evaluator, error) {
	out := make([]evaluator, len(es))
	for i, e := range es {
		ev, err := q.compileExpr(ctx, e)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}
