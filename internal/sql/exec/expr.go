package exec

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// evaluator computes an expression over a chunk. The result has ch.n rows
// or one row (a constant for all rows). Evaluators hold no per-call state,
// so parallel workers share them.
type evaluator interface {
	eval(ch *chunk) (*columnar.Column, error)
}

type colEval struct {
	idx int
	t   columnar.Type
}

func (e *colEval) eval(ch *chunk) (*columnar.Column, error) {
	if e.idx < 0 || e.idx >= len(ch.cols) {
		return nil, fmt.Errorf("exec: column #%d out of range (input has %d columns)", e.idx, len(ch.cols))
	}
	return ch.cols[e.idx], nil
}

type constEval struct{ c *columnar.Column }

func (e *constEval) eval(*chunk) (*columnar.Column, error) { return e.c, nil }

// constColumn builds a one-row column for a plan.Const value.
func constColumn(v any, t columnar.Type) (*columnar.Column, error) {
	if v == nil {
		return fn.NullColumn(t, 1), nil
	}
	c := columnar.NewColumn(t, 1)
	bad := func() error { return fmt.Errorf("exec: constant %v (%T) does not fit type %s", v, v, t) }
	switch t {
	case columnar.Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		c.AppendBool(b)
	case columnar.Float64:
		switch x := v.(type) {
		case float64:
			c.AppendFloat(x)
		case int64:
			c.AppendFloat(float64(x))
		case int:
			c.AppendFloat(float64(x))
		default:
			return nil, bad()
		}
	case columnar.String:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		c.AppendString(s)
	case columnar.Unknown:
		return fn.NullColumn(t, 1), nil
	default:
		switch x := v.(type) {
		case int64:
			c.AppendInt(x)
		case int:
			c.AppendInt(int64(x))
		case float64:
			if x != math.Trunc(x) {
				return nil, bad()
			}
			c.AppendInt(int64(x))
		default:
			return nil, bad()
		}
	}
	return c, nil
}

type callEval struct {
	name     string
	args     []evaluator
	impl     fn.ScalarFunc
	volatile bool
	fctx     *fn.Context
	castTo   columnar.Type // Unknown: none
}

func (e *callEval) eval(ch *chunk) (*columnar.Column, error) {
	args := make([]*columnar.Column, len(e.args))
	allConst := !e.volatile
	for i, a := range e.args {
		c, err := a.eval(ch)
		if err != nil {
			return nil, err
		}
		args[i] = c
		if colLen(c) != 1 {
			allConst = false
		}
	}
	n := ch.n
	if allConst {
		n = 1 // constant folding per chunk: the result stays a constant
	}
	for i, c := range args {
		if colLen(c) != 1 && colLen(c) != n {
			return nil, fmt.Errorf("exec: %s: argument %d has %d rows, want %d", e.name, i+1, colLen(c), n)
		}
	}
	out, err := e.impl(args, n, e.fctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.name, err)
	}
	if e.castTo != columnar.Unknown && out.Type != e.castTo {
		return fn.Cast(out, e.castTo, false)
	}
	return out, nil
}

type castEval struct {
	x   evaluator
	to  columnar.Type
	try bool
}

func (e *castEval) eval(ch *chunk) (*columnar.Column, error) {
	c, err := e.x.eval(ch)
	if err != nil {
		return nil, err
	}
	return fn.Cast(c, e.to, e.try)
}

// evalOn evaluates e over the rows sel of ch only; the result has len(sel)
// rows. It is the slow path that gives CASE, IF, AND and OR their lazy
// semantics when the fast path (evaluate everything) hit an error on a
// row the branch does not select.
func evalOn(e evaluator, ch *chunk, sel []int32) (*columnar.Column, error) {
	if len(sel) == ch.n {
		c, err := e.eval(ch)
		if err != nil {
			return nil, err
		}
		return expand(c, ch.n), nil
	}
	sub := gatherChunk(ch, sel)
	c, err := e.eval(sub)
	if err != nil {
		return nil, err
	}
	return expand(c, len(sel)), nil
}

type caseEval struct {
	conds, thens []evaluator
	els          evaluator // nil: NULL
	t            columnar.Type
}

func truthy(c *columnar.Column, i int) bool {
	if colLen(c) == 1 {
		i = 0
	}
	return !c.IsNull(i) && c.Bools[i]
}

func (e *caseEval) eval(ch *chunk) (*columnar.Column, error) {
	if out, err := e.eager(ch); err == nil {
		return out, nil
	}
	return e.lazy(ch)
}

// eager evaluates every branch over every row and picks per row.
func (e *caseEval) eager(ch *chunk) (*columnar.Column, error) {
	conds := make([]*columnar.Column, len(e.conds))
	thens := make([]*columnar.Column, len(e.thens))
	for i := range e.conds {
		c, err := e.conds[i].eval(ch)
		if err != nil {
			return nil, err
		}
		conds[i] = c
		t, err := e.thens[i].eval(ch)
		if err != nil {
			return nil, err
		}
		thens[i] = t
	}
	var els *columnar.Column
	if e.els != nil {
		c, err := e.els.eval(ch)
		if err != nil {
			return nil, err
		}
		els = c
	}
	out := columnar.NewColumn(e.t, ch.n)
	for r := 0; r < ch.n; r++ {
		var src *columnar.Column
		for i, c := range conds {
			if truthy(c, r) {
				src = thens[i]
				break
			}
		}
		if src == nil {
			src = els
		}
		if src == nil {
			out.AppendNull()
			continue
		}
		j := r
		if colLen(src) == 1 {
			j = 0
		}
		appendConv(out, src, j)
	}
	return out, nil
}

// appendConv appends row j of src to out, converting BIGINT to DOUBLE
// when the branches' types differ that way.
func appendConv(out, src *columnar.Column, j int) {
	if src.IsNull(j) || src.Type == columnar.Unknown {
		out.AppendNull()
		return
	}
	if out.Type == columnar.Float64 && src.Type == columnar.Int64 {
		out.AppendFloat(float64(src.Ints[j]))
		return
	}
	out.AppendFrom(src, j)
}

// lazy evaluates each branch only on the rows that reach it.
func (e *caseEval) lazy(ch *chunk) (*columnar.Column, error) {
	out := columnar.NewColumn(e.t, ch.n)
	growTo(out, ch.n)
	nulls := make([]bool, ch.n)
	for i := range nulls {
		nulls[i] = true
	}
	out.Nulls = nulls
	rem := make([]int32, ch.n)
	for i := range rem {
		rem[i] = int32(i)
	}
	for i := range e.conds {
		if len(rem) == 0 {
			break
		}
		c, err := evalOn(e.conds[i], ch, rem)
		if err != nil {
			return nil, err
		}
		var take, keep []int32
		for k, r := range rem {
			if truthy(c, k) {
				take = append(take, r)
			} else {
				keep = append(keep, r)
			}
		}
		if len(take) > 0 {
			t, err := evalOn(e.thens[i], ch, take)
			if err != nil {
				return nil, err
			}
			scatter(out, t, take)
		}
		rem = keep
	}
	if e.els != nil && len(rem) > 0 {
		t, err := evalOn(e.els, ch, rem)
		if err != nil {
			return nil, err
		}
		scatter(out, t, rem)
	}
	return out, nil
}

func scatter(out, src *columnar.Column, rows []int32) {
	tmp := columnar.NewColumn(out.Type, 1)
	for k, r := range rows {
		tmp.Reset()
		appendConv(tmp, src, k)
		setRow(out, int(r), tmp, 0)
	}
}

// logicEval is AND/OR with short-circuit semantics on error: all operands
// are evaluated over all rows; if one fails, it is re-evaluated only on the
// rows the earlier operands leave undecided.
type logicEval struct {
	args []evaluator
	or   bool
}

func (e *logicEval) eval(ch *chunk) (*columnar.Column, error) {
	cols := make([]*columnar.Column, 0, len(e.args))
	for _, a := range e.args {
		c, err := a.eval(ch)
		if err != nil {
			return e.lazy(ch, cols, a, err)
		}
		cols = append(cols, c)
	}
	n := ch.n
	allConst := true
	for _, c := range cols {
		if colLen(c) != 1 {
			allConst = false
		}
	}
	if allConst {
		n = 1
	}
	if e.or {
		return fn.Or(cols, n, nil)
	}
	return fn.And(cols, n, nil)
}

func (e *logicEval) lazy(ch *chunk, done []*columnar.Column, failed evaluator, ferr error) (*columnar.Column, error) {
	exp := make([]*columnar.Column, len(done))
	for i, c := range done {
		exp[i] = expand(c, ch.n)
	}
	cur := func() *columnar.Column {
		if len(exp) == 0 {
			return nil
		}
		if e.or {
			c, _ := fn.Or(exp, ch.n, nil)
			return c
		}
		c, _ := fn.And(exp, ch.n, nil)
		return c
	}
	for _, a := range e.args[len(done):] {
		acc := cur()
		var open []int32
		for r := 0; r < ch.n; r++ {
			if acc == nil || acc.IsNull(r) || acc.Bools[r] != e.or {
				open = append(open, int32(r))
			}
		}
		full := columnar.NewColumn(columnar.Bool, ch.n)
		growTo(full, ch.n)
		if len(open) > 0 {
			c, err := evalOn(a, ch, open)
			if err != nil {
				return nil, err
			}
			scatter(full, c, open)
		}
		// Decided rows get the dominant value so they stay decided.
		decided := make(map[int32]bool, len(open))
		for _, r := range open {
			decided[r] = true
		}
		for r := 0; r < ch.n; r++ {
			if !decided[int32(r)] {
				full.Bools[r] = e.or
			}
		}
		exp = append(exp, full)
	}
	_ = failed
	_ = ferr
	return cur(), nil
}

// tryEval is try(x): errors become NULL, row by row.
type tryEval struct{ x evaluator }

func (e *tryEval) eval(ch *chunk) (*columnar.Column, error) {
	c, err := e.x.eval(ch)
	if err == nil {
		return c, nil
	}
	var out *columnar.Column
	for r := 0; r < ch.n; r++ {
		v, err := evalOn(e.x, ch, []int32{int32(r)})
		if out == nil && err == nil {
			out = columnar.NewColumn(v.Type, ch.n)
			for k := 0; k < r; k++ {
				out.AppendNull()
			}
		}
		if err != nil {
			if out != nil {
				out.AppendNull()
			}
			continue
		}
		out.AppendFrom(v, 0)
	}
	if out == nil {
		return fn.NullColumn(columnar.Unknown, ch.n), nil
	}
	return out, nil
}

// inEval is X [NOT] IN (list) or X [NOT] IN (subquery) with SQL's NULL
// rules: true on a match; otherwise NULL if X or any list value is NULL.
type inEval struct {
	x       evaluator
	set     map[any]struct{} // constant list values, normalised by setKey
	hasNull bool             // the constant list has a NULL
	list    []evaluator      // non-constant items, compared with "="
	eqs     []fn.ScalarFunc
	not     bool
	fctx    *fn.Context
}

// setKey normalises a value for IN sets: numbers compare across BIGINT
// and DOUBLE.
func setKey(c *columnar.Column, i int) any {
	switch c.Type {
	case columnar.Float64:
		f := c.Floats[i]
		if f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return int64(f)
		}
		return f
	case columnar.Bool:
		return c.Bools[i]
	case columnar.String:
		return c.Strs[i]
	}
	return c.Ints[i]
}

func (e *inEval) eval(ch *chunk) (*columnar.Column, error) {
	x, err := e.x.eval(ch)
	if err != nil {
		return nil, err
	}
	n := ch.n
	if colLen(x) == 1 && len(e.list) == 0 {
		n = 1
	}
	x = expand(x, n)
	out := make([]bool, n)
	var nulls []bool
	setNull := func(r int) {
		if nulls == nil {
			nulls = make([]bool, n)
		}
		nulls[r] = true
	}
	undecided := make([]bool, n) // no match yet but some comparison was NULL
	for r := 0; r < n; r++ {
		if x.IsNull(r) {
			setNull(r)
			continue
		}
		if e.set != nil {
			if _, ok := e.set[setKey(x, r)]; ok {
				out[r] = true
				continue
			}
		}
		if e.hasNull {
			undecided[r] = true
		}
	}
	for k, item := range e.list {
		v, err := item.eval(ch)
		if err != nil {
			return nil, err
		}
		eq, err := e.eqs[k]([]*columnar.Column{x, v}, n, e.fctx)
		if err != nil {
			return nil, err
		}
		for r := 0; r < n; r++ {
			if out[r] || x.IsNull(r) {
				continue
			}
			if eq.IsNull(r) {
				undecided[r] = true
			} else if eq.Bools[r] {
				out[r] = true
			}
		}
	}
	for r := 0; r < n; r++ {
		if !out[r] && undecided[r] {
			setNull(r)
		}
		if e.not {
			out[r] = !out[r]
		}
	}
	return &columnar.Column{Type: columnar.Bool, Bools: out, Nulls: nulls}, nil
}

func (q *query) compileExpr(ctx context.Context, e plan.Expr) (evaluator, error) {
	switch e := e.(type) {
	case *plan.ColRef:
		return &colEval{idx: e.Index, t: e.T}, nil
	case *plan.Const:
		c, err := constColumn(e.Val, e.T)
		if err != nil {
			return nil, err
		}
		return &constEval{c: c}, nil
	case *plan.Cast:
		x, err := q.compileExpr(ctx, e.X)
		if err != nil {
			return nil, err
		}
		if !fn.CanCast(e.X.Type(), e.T) {
			return nil, fmt.Errorf("cannot cast %s to %s", e.X.Type(), e.T)
		}
		return &castEval{x: x, to: e.T, try: e.Try}, nil
	case *plan.Case:
		ce := &caseEval{t: e.T}
		for _, w := range e.Whens {
			c, err := q.compileExpr(ctx, w.Cond)
			if err != nil {
				return nil, err
			}
			t, err := q.compileExpr(ctx, w.Then)
			if err != nil {
				return nil, err
			}
			ce.conds = append(ce.conds, c)
			ce.thens = append(ce.thens, t)
		}
		if e.Else != nil {
			el, err := q.compileExpr(ctx, e.Else)
			if err != nil {
				return nil, err
			}
			ce.els = el
		}
		return ce, nil
	case *plan.InList:
		return q.compileIn(ctx, e.X, e.List, e.Not)
	case *plan.Subquery:
		return q.compileSubquery(ctx, e)
	case *plan.Call:
		return q.compileCall(ctx, e)
	case nil:
		return nil, errors.New("exec: nil expression")
	}
	return nil, fmt.Errorf("exec: unsupported expression %T", e)
}

func (q *query) compileCall(ctx context.Context, e *plan.Call) (evaluator, error) {
	name := strings.ToLower(e.Name)
	args, err := q.compileExprs(ctx, e.Args)
	if err != nil {
		return nil, err
	}
	switch {
	case (name == "and" || name == "or") && len(args) >= 2:
		return &logicEval{args: args, or: name == "or"}, nil
	case name == "if" && (len(args) == 2 || len(args) == 3):
		ce := &caseEval{conds: args[:1], thens: args[1:2], t: e.T}
		if len(args) == 3 {
			ce.els = args[2]
		}
		if ce.t == columnar.Unknown {
			ce.t = e.Args[1].Type()
		}
		return ce, nil
	case name == "try" && len(args) == 1:
		return &tryEval{x: args[0]}, nil
	}
	types := make([]columnar.Type, len(e.Args))
	for i, a := range e.Args {
		types[i] = a.Type()
	}
	ret, impl, err := fn.Resolve(name, types)
	if err != nil {
		return nil, err
	}
	ce := &callEval{name: name, args: args, impl: impl, volatile: fn.IsVolatile(name), fctx: q.fctx}
	if e.T != columnar.Unknown && ret != e.T {
		if !fn.CanCast(ret, e.T) {
			return nil, fmt.Errorf("exec: %s returns %s, plan expects %s", name, ret, e.T)
		}
		ce.castTo = e.T
	}
	return ce, nil
}

func (q *query) compileIn(ctx context.Context, x plan.Expr, list []plan.Expr, not bool) (evaluator, error) {
	xe, err := q.compileExpr(ctx, x)
	if err != nil {
		return nil, err
	}
	ie := &inEval{x: xe, not: not, fctx: q.fctx}
	for _, item := range list {
		if c, ok := item.(*plan.Const); ok && (c.T == x.Type() || numericPair(c.T, x.Type()) || c.Val == nil) {
			if c.Val == nil {
				ie.hasNull = true
				continue
			}
			col, err := constColumn(c.Val, c.T)
			if err != nil {
				return nil, err
			}
			if ie.set == nil {
				ie.set = make(map[any]struct{})
			}
			ie.set[setKey(col, 0)] = struct{}{}
			continue
		}
		ev, err := q.compileExpr(ctx, item)
		if err != nil {
			return nil, err
		}
		_, eq, err := fn.Resolve("=", []columnar.Type{x.Type(), item.Type()})
		if err != nil {
			return nil, fmt.Errorf("IN: %w", err)
		}
		ie.list = append(ie.list, ev)
		ie.eqs = append(ie.eqs, eq)
	}
	return ie, nil
}

func numericPair(a, b columnar.Type) bool {
	num := func(t columnar.Type) bool { return t == columnar.Int64 || t == columnar.Float64 }
	return num(a) && num(b)
}

// compileSubquery runs the subquery now, once for the whole query.
func (q *query) compileSubquery(ctx context.Context, e *plan.Subquery) (evaluator, error) {
	sub, err := q.compile(ctx, e.Plan)
	if err != nil {
		return nil, err
	}
	switch e.Kind {
	case "exists":
		found := false
		stop := &stopErr{}
		err := sub.run(ctx, func(ch *chunk) error {
			if ch.n > 0 {
				found = true
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			return nil, fmt.Errorf("EXISTS subquery: %w", err)
		}
		return &constEval{c: &columnar.Column{Type: columnar.Bool, Bools: []bool{found != e.Not}}}, nil
	case "scalar", "in":
		schema := e.Plan.Schema()
		if len(schema) != 1 {
			return nil, fmt.Errorf("%s subquery must return one column, not %d", e.Kind, len(schema))
		}
		buf := newBuffer(schemaTypes(schema))
		tr := q.track("subquery result")
		defer tr.close()
		err := sub.run(ctx, func(ch *chunk) error {
			if e.Kind == "scalar" && buf.n+ch.n > 1 {
				return errors.New("scalar subquery returned more than one row")
			}
			return tr.add(buf.add(ch))
		})
		if err != nil {
			return nil, err
		}
		col := buf.cols[0]
		if e.Kind == "scalar" {
			if buf.n == 0 {
				return &constEval{c: fn.NullColumn(e.T, 1)}, nil
			}
			if e.T != columnar.Unknown && col.Type != e.T {
				return &constEval{c: mustCast(col, e.T)}, nil
			}
			return &constEval{c: col}, nil
		}
		xe, err := q.compileExpr(ctx, e.X)
		if err != nil {
			return nil, err
		}
		ie := &inEval{x: xe, not: e.Not, fctx: q.fctx, set: make(map[any]struct{}, buf.n)}
		if e.X.Type() != col.Type && !numericPair(e.X.Type(), col.Type) {
			return nil, fmt.Errorf("IN subquery: cannot compare %s with %s", e.X.Type(), col.Type)
		}
		for i := 0; i < buf.n; i++ {
			if col.IsNull(i) {
				ie.hasNull = true
				continue
			}
			ie.set[setKey(col, i)] = struct{}{}
		}
		return ie, nil
	}
	return nil, fmt.Errorf("exec: unknown subquery kind %q", e.Kind)
}

func mustCast(c *columnar.Column, t columnar.Type) *columnar.Column {
	out, err := fn.Cast(c, t, true)
	if err != nil {
		return fn.NullColumn(t, colLen(c))
	}
	return out
}

// stopErr stops an input early (LIMIT satisfied, EXISTS found). Each user
// has its own value, so nested limits do not swallow each other's stops.
type stopErr struct{}

func (*stopErr) Error() string { return "exec: input no longer needed" }
