package plan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// Error is a binding error with the byte offset of the construct at fault.
type Error struct {
	Offset int
	Msg    string
	Code   string // SQLSTATE: 42703 undefined column, 42P01 undefined table, 42883 undefined function, 42803 grouping, 42804 datatype, 0A000 unsupported
}

func (e *Error) Error() string { return e.Msg }

func errAt(n parse.Node, code, format string, args ...any) error {
	off := 0
	if n != nil {
		off = n.Start()
	}
	return &Error{Offset: off, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Binder turns parsed queries into plans.
type Binder struct {
	Catalog Catalog
	// DefaultDatabase qualifies table names written without a database.
	DefaultDatabase string
	// Params are the values of $1.. (nil, bool, int64, float64, string, time.Time).
	Params []any
	// Virtual resolves tables the catalog does not hold (information_schema,
	// system views); it returns nil, nil for names it does not know.
	Virtual func(ctx context.Context, database, name string) (Node, error)
	// Now is the query's clock for folding now() and ago(); zero disables
	// folding of time functions.
	Now time.Time
	// Setting answers current_setting(name), user and version() (see
	// pgcompat.go); nil knows no settings.
	Setting func(name string) (string, bool)
	// Describing binds $n without a value as a NULL of unknown type, so a
	// statement can be described before its parameters are known (the
	// extended protocol's Parse/Describe, which pgx sends untyped).
	Describing bool

	ctes []map[string]*cte
}

type cte struct {
	node Node
	cols []string
}

// scopeCol is one column visible to expressions.
type scopeCol struct {
	qualifier string // table alias or name (as written, compared by Norm rules)
	name      string
	typ       columnar.Type
	scan      *Scan // the scan it comes from, to track referenced columns
}

type scope struct {
	cols []scopeCol
}

// Bind binds a query statement.
func (b *Binder) Bind(ctx context.Context, q parse.Query) (Node, error) {
	return b.bindQuery(ctx, q)
}

func (b *Binder) bindQuery(ctx context.Context, q parse.Query) (Node, error) {
	switch q := q.(type) {
	case *parse.Select:
		return b.bindSelect(ctx, q)
	case *parse.SetOp:
		return b.bindSetOp(ctx, q)
	}
	return nil, errAt(q, "0A000", "unsupported query %T", q)
}

func (b *Binder) pushWith(ctx context.Context, w *parse.With) error {
	m := map[string]*cte{}
	b.ctes = append(b.ctes, m)
	if w == nil {
		return nil
	}
	if w.Recursive {
		return &Error{Offset: w.Start(), Code: "0A000", Msg: "WITH RECURSIVE is not supported"}
	}
	for _, c := range w.CTEs {
		n, err := b.bindQuery(ctx, c.Query)
		if err != nil {
			return err
		}
		var cols []string
		for _, id := range c.Columns {
			cols = append(cols, id.Name)
		}
		if cols != nil && len(cols) != len(n.Schema()) {
			return errAt(c.Name, "42601", "WITH %s names %d columns but its query returns %d", c.Name.Name, len(cols), len(n.Schema()))
		}
		m[c.Name.Norm] = &cte{node: n, cols: cols}
	}
	return nil
}

func (b *Binder) popWith() { b.ctes = b.ctes[:len(b.ctes)-1] }

func (b *Binder) findCTE(name string) *cte {
	for i := len(b.ctes) - 1; i >= 0; i-- {
		if c := b.ctes[i][name]; c != nil {
			return c
		}
	}
	return nil
}

func (b *Binder) bindSetOp(ctx context.Context, q *parse.SetOp) (Node, error) {
	if err := b.pushWith(ctx, q.With); err != nil {
		return nil, err
	}
	defer b.popWith()
	if q.Op != parse.Union {
		return nil, errAt(q, "0A000", "%v is not supported yet; use UNION", q.Op)
	}
	l, err := b.bindQuery(ctx, q.Left)
	if err != nil {
		return nil, err
	}
	r, err := b.bindQuery(ctx, q.Right)
	if err != nil {
		return nil, err
	}
	ls, rs := l.Schema(), r.Schema()
	if len(ls) != len(rs) {
		return nil, errAt(q, "42601", "UNION inputs have %d and %d columns", len(ls), len(rs))
	}
	// Coerce both sides to common types.
	var le, re []Expr
	var names []string
	needL, needR := false, false
	for i := range ls {
		t, ok := commonType(ls[i].Type, rs[i].Type)
		if !ok {
			return nil, errAt(q, "42804", "UNION column %d has types %v and %v", i+1, ls[i].Type, rs[i].Type)
		}
		le = append(le, coerce(&ColRef{Index: i, Name: ls[i].Name, T: ls[i].Type}, t))
		re = append(re, coerce(&ColRef{Index: i, Name: rs[i].Name, T: rs[i].Type}, t))
		names = append(names, ls[i].Name)
		needL = needL || ls[i].Type != t
		needR = needR || rs[i].Type != t
	}
	if needL {
		l = &Project{Input: l, Exprs: le, Names: names}
	}
	if needR {
		r = &Project{Input: r, Exprs: re, Names: names}
	}
	var n Node = &Union{Inputs: []Node{l, r}}
	if !q.All {
		n = &Distinct{Input: n}
	}
	out := &scope{}
	for _, c := range n.Schema() {
		out.cols = append(out.cols, scopeCol{name: c.Name, typ: c.Type})
	}
	return b.orderLimit(ctx, n, out, nil, nil, q.OrderBy, q.Limit, q.Offset)
}

// ---- SELECT ----

func (b *Binder) bindSelect(ctx context.Context, sel *parse.Select) (Node, error) {
	if err := b.pushWith(ctx, sel.With); err != nil {
		return nil, err
	}
	defer b.popWith()

	var input Node
	sc := &scope{}
	if len(sel.From) == 0 {
		input = &Values{Rows: [][]Expr{{}}}
	}
	for _, ref := range sel.From {
		n, s, err := b.bindTableRef(ctx, ref)
		if err != nil {
			return nil, err
		}
		if input == nil {
			input, sc = n, s
		} else {
			input = &Join{Left: input, Right: n, Kind: CrossJoin}
			sc = &scope{cols: append(append([]scopeCol(nil), sc.cols...), s.cols...)}
		}
	}

	if sel.Where != nil {
		cond, err := b.bindExpr(ctx, sel.Where, sc, nil)
		if err != nil {
			return nil, err
		}
		if cond.Type() != columnar.Bool && cond.Type() != columnar.Unknown {
			return nil, errAt(sel.Where, "42804", "WHERE must be a boolean expression, not %v", cond.Type())
		}
		input = pushWhere(input, cond)
	}

	// Aggregation.
	var aggs []*parse.Func
	collect := func(e parse.Expr) {
		parse.Walk(e, func(x parse.Expr) bool {
			if f, ok := x.(*parse.Func); ok && f.Over == nil && fn.IsAggregate(f.Name.Norm) {
				aggs = append(aggs, f)
				return false
			}
			return true
		})
	}
	for _, it := range sel.Items {
		if it.Expr != nil {
			collect(it.Expr)
		}
	}
	if sel.Having != nil {
		collect(sel.Having)
	}
	for _, o := range sel.OrderBy {
		collect(o.Expr)
	}
	post := sc
	var sub *subst
	if len(aggs) > 0 || len(sel.GroupBy) > 0 {
		agg := &Aggregate{Input: input}
		sub = &subst{nodes: map[parse.Expr]Expr{}, keys: map[string]Expr{}}
		post = &scope{}
		for _, g := range sel.GroupBy {
			ge := g
			if lit, ok := g.(*parse.Literal); ok && lit.Kind == parse.LitInteger {
				i, _ := strconv.Atoi(lit.Value)
				if i < 1 || i > len(sel.Items) || sel.Items[i-1].Expr == nil {
					return nil, errAt(g, "42P10", "GROUP BY position %s is not in the select list", lit.Value)
				}
				ge = sel.Items[i-1].Expr
			} else if cr, ok := g.(*parse.ColumnRef); ok && len(cr.Qualifier) == 0 && !sc.has(cr.Name) {
				// GROUP BY an output alias (PostgreSQL allows it).
				for _, it := range sel.Items {
					if !it.Alias.IsZero() && identMatch(it.Alias, cr.Name.Name) {
						ge = it.Expr
					}
				}
			}
			e, err := b.bindExpr(ctx, ge, sc, nil)
			if err != nil {
				return nil, err
			}
			idx := len(agg.GroupBy)
			agg.GroupBy = append(agg.GroupBy, e)
			name := exprName(ge, idx)
			agg.Names = append(agg.Names, name)
			ref := &ColRef{Index: idx, Name: name, T: e.Type()}
			sub.keys[e.String()] = ref
			var q string
			if cr, ok := ge.(*parse.ColumnRef); ok && len(cr.Qualifier) > 0 {
				q = cr.Qualifier[len(cr.Qualifier)-1].Name
			}
			post.cols = append(post.cols, scopeCol{qualifier: q, name: name, typ: e.Type()})
		}
		for _, f := range aggs {
			call, err := b.bindAggregate(ctx, f, sc)
			if err != nil {
				return nil, err
			}
			key := aggKey(call)
			if ref, ok := sub.keys[key]; ok {
				sub.nodes[f] = ref
				continue
			}
			idx := len(agg.GroupBy) + len(agg.Aggs)
			agg.Aggs = append(agg.Aggs, call)
			name := f.Name.Norm
			agg.Names = append(agg.Names, name)
			ref := &ColRef{Index: idx, Name: name, T: call.T}
			sub.keys[key] = ref
			sub.nodes[f] = ref
			post.cols = append(post.cols, scopeCol{name: "\x00agg", typ: call.T})
		}
		sub.pre = sc
		input = agg
		if sel.Having != nil {
			cond, err := b.bindExpr(ctx, sel.Having, post, sub)
			if err != nil {
				return nil, err
			}
			input = &Filter{Input: input, Cond: cond}
		}
	} else if sel.Having != nil {
		return nil, errAt(sel.Having, "42803", "HAVING needs GROUP BY or an aggregate")
	}

	// Window functions.
	var wins []*parse.Func
	for _, it := range sel.Items {
		if it.Expr != nil {
			parse.Walk(it.Expr, func(x parse.Expr) bool {
				if f, ok := x.(*parse.Func); ok && f.Over != nil {
					wins = append(wins, f)
					return false
				}
				return true
			})
		}
	}
	for _, o := range sel.OrderBy {
		parse.Walk(o.Expr, func(x parse.Expr) bool {
			if f, ok := x.(*parse.Func); ok && f.Over != nil {
				wins = append(wins, f)
				return false
			}
			return true
		})
	}
	if len(wins) > 0 {
		w := &Window{Input: input}
		base := len(input.Schema())
		if sub == nil {
			sub = &subst{nodes: map[parse.Expr]Expr{}, keys: map[string]Expr{}, pre: sc, noGroupCheck: true}
		}
		for i, f := range wins {
			call, err := b.bindWindow(ctx, f, post, sub)
			if err != nil {
				return nil, err
			}
			w.Funcs = append(w.Funcs, call)
			name := f.Name.Norm
			w.Names = append(w.Names, name)
			sub.nodes[f] = &ColRef{Index: base + i, Name: name, T: call.T}
		}
		input = w
		npost := &scope{cols: append([]scopeCol(nil), post.cols...)}
		for i := range wins {
			npost.cols = append(npost.cols, scopeCol{name: "\x00win", typ: w.Funcs[i].T})
		}
		post = npost
	}

	// Select list.
	proj := &Project{Input: input}
	for i, it := range sel.Items {
		if it.Star {
			if sub != nil && !sub.noGroupCheck {
				return nil, &Error{Offset: it.Start(), Code: "42803", Msg: "SELECT * cannot be used with GROUP BY or aggregates"}
			}
			n := 0
			for j, c := range post.cols {
				if strings.HasPrefix(c.name, "\x00") {
					continue
				}
				if len(it.Qualifier) > 0 && !strings.EqualFold(c.qualifier, it.Qualifier[len(it.Qualifier)-1].Name) {
					continue
				}
				proj.Exprs = append(proj.Exprs, &ColRef{Index: j, Name: c.name, T: c.typ})
				proj.Names = append(proj.Names, c.name)
				if c.scan != nil {
					c.scan.use(c.name)
				}
				n++
			}
			if n == 0 && len(it.Qualifier) > 0 {
				return nil, &Error{Offset: it.Start(), Code: "42P01", Msg: fmt.Sprintf("no table %q in FROM for %s.*", it.Qualifier[len(it.Qualifier)-1].Name, it.Qualifier[len(it.Qualifier)-1].Name)}
			}
			continue
		}
		e, err := b.bindExpr(ctx, it.Expr, post, sub)
		if err != nil {
			return nil, err
		}
		name := exprName(it.Expr, i)
		if !it.Alias.IsZero() {
			name = it.Alias.Name
		}
		proj.Exprs = append(proj.Exprs, e)
		proj.Names = append(proj.Names, name)
	}
	var n Node = proj
	if sel.Distinct {
		n = &Distinct{Input: n}
	}
	return b.orderLimit(ctx, n, post, sub, sel, sel.OrderBy, sel.Limit, sel.Offset)
}

// orderLimit adds ORDER BY, LIMIT and OFFSET over n, a Project (or a node
// whose output is the query's). ORDER BY keys may be output ordinals,
// output names, or expressions over the input (then computed as hidden
// columns and dropped after sorting).
func (b *Binder) orderLimit(ctx context.Context, n Node, in *scope, sub *subst, sel *parse.Select, order []parse.OrderItem, limit, offset parse.Expr) (Node, error) {
	out := n.Schema()
	var keys []SortKey
	proj, _ := n.(*Project)
	hidden := 0
	for _, o := range order {
		var e Expr
		if lit, ok := o.Expr.(*parse.Literal); ok && lit.Kind == parse.LitInteger {
			i, _ := strconv.Atoi(lit.Value)
			if i < 1 || i > len(out) {
				return nil, errAt(o.Expr, "42P10", "ORDER BY position %s is not in the select list", lit.Value)
			}
			e = &ColRef{Index: i - 1, Name: out[i-1].Name, T: out[i-1].Type}
		} else if cr, ok := o.Expr.(*parse.ColumnRef); ok && len(cr.Qualifier) == 0 {
			for i, c := range out {
				if identMatch(cr.Name, c.Name) && (proj == nil || sel == nil || isAliasOrPlain(sel, i)) {
					e = &ColRef{Index: i, Name: c.Name, T: c.Type}
					break
				}
			}
		}
		if e == nil {
			if proj == nil {
				return nil, errAt(o.Expr, "42703", "ORDER BY of a set operation must name an output column or position")
			}
			x, err := b.bindExpr(ctx, o.Expr, in, sub)
			if err != nil {
				return nil, err
			}
			for i, pe := range proj.Exprs {
				if pe.String() == x.String() {
					e = &ColRef{Index: i, Name: out[i].Name, T: out[i].Type}
					break
				}
			}
			if e == nil {
				if _, ok := n.(*Distinct); ok {
					return nil, errAt(o.Expr, "42P10", "with SELECT DISTINCT, ORDER BY expressions must appear in the select list")
				}
				proj.Exprs = append(proj.Exprs, x)
				proj.Names = append(proj.Names, "\x00order")
				e = &ColRef{Index: len(proj.Exprs) - 1, Name: "order", T: x.Type()}
				hidden++
			}
		}
		k := SortKey{Expr: e, Desc: o.Dir == parse.Desc}
		switch o.Nulls {
		case parse.NullsFirst:
			k.NullsFirst = true
		case parse.NullsLast:
			k.NullsFirst = false
		default:
			k.NullsFirst = k.Desc // Trino: NULLS LAST for ASC; PostgreSQL: NULLs are largest
		}
		keys = append(keys, k)
	}
	count, off := int64(-1), int64(0)
	var err error
	if limit != nil {
		if count, err = b.constInt(ctx, limit, "LIMIT"); err != nil {
			return nil, err
		}
	}
	if offset != nil {
		if off, err = b.constInt(ctx, offset, "OFFSET"); err != nil {
			return nil, err
		}
	}
	switch {
	case len(keys) > 0 && count >= 0:
		n = &TopN{Input: n, Keys: keys, Count: count, Offset: off}
	case len(keys) > 0:
		n = &Sort{Input: n, Keys: keys}
		if off > 0 {
			n = &Limit{Input: n, Count: -1, Offset: off}
		}
	case count >= 0 || off > 0:
		n = &Limit{Input: n, Count: count, Offset: off}
	}
	if hidden > 0 {
		visible := len(proj.Exprs) - hidden
		final := &Project{Input: n}
		for i := 0; i < visible; i++ {
			final.Exprs = append(final.Exprs, &ColRef{Index: i, Name: proj.Names[i], T: proj.Exprs[i].Type()})
			final.Names = append(final.Names, proj.Names[i])
		}
		n = final
	}
	return n, nil
}

func isAliasOrPlain(sel *parse.Select, i int) bool { return true }

func (b *Binder) constInt(ctx context.Context, e parse.Expr, what string) (int64, error) {
	x, err := b.bindExpr(ctx, e, &scope{}, nil)
	if err != nil {
		return 0, err
	}
	c, ok := x.(*Const)
	v, isInt := c.Val.(int64)
	if !ok || !isInt || v < 0 {
		return 0, errAt(e, "42601", "%s must be a non-negative integer constant", what)
	}
	return v, nil
}

// pushWhere puts a filter over n and hands the scan below the parts of the
// condition it can use. Over a join, conjuncts that use one side only go
// to that side.
func pushWhere(n Node, cond Expr) Node {
	if s, ok := n.(*Scan); ok {
		PushFilter(s, cond)
	}
	return &Filter{Input: n, Cond: cond}
}

// ---- FROM ----

func (b *Binder) bindTableRef(ctx context.Context, ref parse.TableRef) (Node, *scope, error) {
	switch r := ref.(type) {
	case *parse.TableName:
		return b.bindTableName(ctx, r)
	case *parse.SubqueryTable:
		n, err := b.bindQuery(ctx, r.Query)
		if err != nil {
			return nil, nil, err
		}
		return aliased(n, r.Alias, "")
	case *parse.Join:
		l, ls, err := b.bindTableRef(ctx, r.Left)
		if err != nil {
			return nil, nil, err
		}
		rn, rs, err := b.bindTableRef(ctx, r.Right)
		if err != nil {
			return nil, nil, err
		}
		sc := &scope{cols: append(append([]scopeCol(nil), ls.cols...), rs.cols...)}
		j := &Join{Left: l, Right: rn}
		switch r.Kind {
		case parse.InnerJoin:
			j.Kind = InnerJoin
		case parse.LeftJoin:
			j.Kind = LeftJoin
		case parse.RightJoin:
			j.Kind = RightJoin
		case parse.FullJoin:
			j.Kind = FullJoin
		case parse.CrossJoin:
			j.Kind = CrossJoin
		}
		var cond Expr
		if r.On != nil {
			if cond, err = b.bindExpr(ctx, r.On, sc, nil); err != nil {
				return nil, nil, err
			}
		}
		for _, u := range r.Using {
			li, lok := ls.find(u)
			ri, rok := rs.find(u)
			if !lok || !rok {
				return nil, nil, errAt(u, "42703", "USING column %q must exist on both sides", u.Name)
			}
			eq, err := b.compare("=", &ColRef{Index: li, Name: u.Name, T: ls.cols[li].typ}, &ColRef{Index: len(ls.cols) + ri, Name: u.Name, T: rs.cols[ri].typ}, u)
			if err != nil {
				return nil, nil, err
			}
			cond = and(cond, eq)
		}
		if cond != nil {
			splitJoinCond(j, cond, len(ls.cols))
		}
		return j, sc, nil
	case *parse.TableFunc:
		return b.bindTableFunc(ctx, r)
	}
	return nil, nil, errAt(ref, "0A000", "unsupported FROM item %T", ref)
}

func and(a, b Expr) Expr {
	if a == nil {
		return b
	}
	return &Call{Name: "and", Args: []Expr{a, b}, T: columnar.Bool}
}

// splitJoinCond moves equalities between a left and a right column into
// hash-join keys; the rest stays a residual condition.
func splitJoinCond(j *Join, cond Expr, leftWidth int) {
	var rest Expr
	for _, c := range Conjuncts(cond) {
		call, ok := c.(*Call)
		if ok && call.Name == "=" && len(call.Args) == 2 {
			l, r := call.Args[0], call.Args[1]
			ls, rs := side(l, leftWidth), side(r, leftWidth)
			if ls == 1 && rs == 2 {
				j.LeftKeys = append(j.LeftKeys, l)
				j.RightKeys = append(j.RightKeys, shift(r, -leftWidth))
				continue
			}
			if ls == 2 && rs == 1 {
				j.LeftKeys = append(j.LeftKeys, r)
				j.RightKeys = append(j.RightKeys, shift(l, -leftWidth))
				continue
			}
		}
		rest = and(rest, c)
	}
	j.Cond = rest
	if j.Kind == CrossJoin && (len(j.LeftKeys) > 0 || rest != nil) {
		j.Kind = InnerJoin
	}
}

// side reports which side of a join e reads: 1 left only, 2 right only,
// 0 none or both.
func side(e Expr, leftWidth int) int {
	s := 0
	ok := true
	walkExpr(e, func(x Expr) {
		if r, isRef := x.(*ColRef); isRef {
			k := 1
			if r.Index >= leftWidth {
				k = 2
			}
			if s != 0 && s != k {
				ok = false
			}
			s = k
		}
		if _, isSub := x.(*Subquery); isSub {
			ok = false
		}
	})
	if !ok {
		return 0
	}
	return s
}

func walkExpr(e Expr, fn func(Expr)) {
	fn(e)
	switch x := e.(type) {
	case *Call:
		for _, a := range x.Args {
			walkExpr(a, fn)
		}
	case *Cast:
		walkExpr(x.X, fn)
	case *Case:
		for _, w := range x.Whens {
			walkExpr(w.Cond, fn)
			walkExpr(w.Then, fn)
		}
		if x.Else != nil {
			walkExpr(x.Else, fn)
		}
	case *InList:
		walkExpr(x.X, fn)
		for _, l := range x.List {
			walkExpr(l, fn)
		}
	case *Subquery:
		if x.X != nil {
			walkExpr(x.X, fn)
		}
	}
}

// shift rebases column references by d.
func shift(e Expr, d int) Expr {
	switch x := e.(type) {
	case *ColRef:
		return &ColRef{Index: x.Index + d, Name: x.Name, T: x.T}
	case *Call:
		args := make([]Expr, len(x.Args))
		for i, a := range x.Args {
			args[i] = shift(a, d)
		}
		return &Call{Name: x.Name, Args: args, T: x.T}
	case *Cast:
		return &Cast{X: shift(x.X, d), T: x.T, Try: x.Try}
	case *Case:
		c := &Case{T: x.T}
		for _, w := range x.Whens {
			c.Whens = append(c.Whens, When{shift(w.Cond, d), shift(w.Then, d)})
		}
		if x.Else != nil {
			c.Else = shift(x.Else, d)
		}
		return c
	case *InList:
		l := &InList{X: shift(x.X, d), Not: x.Not}
		for _, v := range x.List {
			l.List = append(l.List, shift(v, d))
		}
		return l
	}
	return e
}

func aliased(n Node, alias parse.TableAlias, defaultQualifier string) (Node, *scope, error) {
	sc := &scope{}
	q := defaultQualifier
	if !alias.Name.IsZero() {
		q = alias.Name.Name
	}
	schema := n.Schema()
	if len(alias.Columns) > 0 && len(alias.Columns) != len(schema) {
		return nil, nil, errAt(alias.Name, "42601", "alias %s names %d columns but there are %d", alias.Name.Name, len(alias.Columns), len(schema))
	}
	for i, c := range schema {
		name := c.Name
		if len(alias.Columns) > 0 {
			name = alias.Columns[i].Name
		}
		sc.cols = append(sc.cols, scopeCol{qualifier: q, name: name, typ: c.Type})
	}
	return n, sc, nil
}

func (b *Binder) bindTableName(ctx context.Context, r *parse.TableName) (Node, *scope, error) {
	if len(r.Qualifier) == 0 {
		if c := b.findCTE(r.Name.Norm); c != nil {
			n := c.node
			if c.cols != nil {
				alias := r.Alias
				if alias.Name.IsZero() {
					alias.Name = r.Name
				}
				if len(alias.Columns) == 0 {
					for _, name := range c.cols {
						alias.Columns = append(alias.Columns, parse.Ident{Name: name, Norm: strings.ToLower(name)})
					}
				}
				return aliased(n, alias, r.Name.Name)
			}
			return aliased(n, r.Alias, r.Name.Name)
		}
	}
	if len(r.Qualifier) > 1 {
		return nil, nil, errAt(r, "42P01", "table name %s has too many parts; write database.table", r.String())
	}
	database := b.DefaultDatabase
	if len(r.Qualifier) == 1 {
		database = r.Qualifier[0].Name
	}
	if database == "" {
		return nil, nil, errAt(r, "42P01", "table %s needs a database: write database.table", r.Name.Name)
	}
	if b.Virtual != nil {
		n, err := b.Virtual(ctx, database, r.Name.Name)
		if err != nil {
			return nil, nil, err
		}
		if n != nil {
			return aliased(n, r.Alias, r.Name.Name)
		}
	}
	t, err := b.Catalog.Table(ctx, database, r.Name.Name)
	if err != nil && len(r.Qualifier) == 0 {
		// As in PostgreSQL, an unqualified name is also looked up in the
		// schemas (databases) of the session's search_path, after the
		// default database: Grafana's query builder lists the tables of
		// those schemas without their schema.
		for _, db := range b.searchPath() {
			if t2, err2 := b.Catalog.Table(ctx, db, r.Name.Name); err2 == nil {
				t, database, err = t2, db, nil
				break
			}
		}
	}
	if err != nil {
		// PostgreSQL finds pg_catalog's tables (pg_extension, ...) without
		// a schema; here the default database's own tables come first.
		if len(r.Qualifier) == 0 && b.Virtual != nil {
			if n, verr := b.Virtual(ctx, "pg_catalog", r.Name.Name); verr == nil && n != nil {
				return aliased(n, r.Alias, r.Name.Name)
			}
		}
		return nil, nil, &Error{Offset: r.Start(), Code: "42P01", Msg: err.Error()}
	}
	s := &Scan{Table: t, Name: database + "." + r.Name.Name, Columns: t.Columns(), Req: ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Columns: []string{}}}
	q := r.Name.Name
	if !r.Alias.Name.IsZero() {
		q = r.Alias.Name.Name
	}
	sc := &scope{}
	for _, c := range s.Columns {
		sc.cols = append(sc.cols, scopeCol{qualifier: q, name: c.Name, typ: c.Type, scan: s})
	}
	if len(r.Alias.Columns) > 0 {
		return nil, nil, errAt(r, "0A000", "column aliases on a table are not supported")
	}
	return s, sc, nil
}

// use records that the query reads column name of the scan.
func (s *Scan) use(name string) {
	for _, c := range s.Req.Columns {
		if c == name {
			return
		}
	}
	s.Req.Columns = append(s.Req.Columns, name)
}

func identMatch(id parse.Ident, name string) bool {
	if id.Quoted {
		return id.Name == name
	}
	return strings.EqualFold(id.Name, name)
}

func (s *scope) has(id parse.Ident) bool {
	_, ok := s.find(id)
	return ok
}

func (s *scope) find(id parse.Ident) (int, bool) {
	for i, c := range s.cols {
		if identMatch(id, c.name) {
			return i, true
		}
	}
	return 0, false
}

// resolve finds a column reference in the scope.
func (s *scope) resolve(cr *parse.ColumnRef) (int, error) {
	found := -1
	for i, c := range s.cols {
		if strings.HasPrefix(c.name, "\x00") || !identMatch(cr.Name, c.name) {
			continue
		}
		if len(cr.Qualifier) > 0 && !identMatch(cr.Qualifier[len(cr.Qualifier)-1], c.qualifier) {
			continue
		}
		if found >= 0 {
			// The exact spelling wins over a case-insensitive match.
			if s.cols[found].name == cr.Name.Name && c.name != cr.Name.Name {
				continue
			}
			if c.name == cr.Name.Name && s.cols[found].name != cr.Name.Name {
				found = i
				continue
			}
			return 0, errAt(cr, "42702", "column reference %q is ambiguous; qualify it with a table name", cr.String())
		}
		found = i
	}
	if found < 0 {
		return 0, errAt(cr, "42703", "column %q does not exist", cr.String())
	}
	return found, nil
}

// ---- expressions ----

// subst maps parts of the AST to already computed columns: aggregate and
// window calls by node, group-by expressions by their bound form over the
// pre-aggregation scope.
type subst struct {
	nodes        map[parse.Expr]Expr
	keys         map[string]Expr
	pre          *scope
	noGroupCheck bool // windows without aggregation: no GROUP BY rules
}

func aggKey(c AggCall) string {
	var b strings.Builder
	b.WriteString(c.Name)
	if c.Distinct {
		b.WriteString(" distinct")
	}
	if c.Star {
		b.WriteString("*")
	}
	for _, a := range c.Args {
		b.WriteString("|" + a.String())
	}
	if c.Filter != nil {
		b.WriteString(" filter " + c.Filter.String())
	}
	return b.String()
}

func (b *Binder) bindAggregate(ctx context.Context, f *parse.Func, sc *scope) (AggCall, error) {
	name := f.Name.Norm
	call := AggCall{Name: name, Distinct: f.Distinct, Star: f.Star}
	var types []columnar.Type
	for _, a := range f.Args {
		var nested bool
		parse.Walk(a, func(x parse.Expr) bool {
			if g, ok := x.(*parse.Func); ok && g.Over == nil && fn.IsAggregate(g.Name.Norm) {
				nested = true
			}
			return !nested
		})
		if nested {
			return call, errAt(a, "42803", "aggregate calls cannot be nested")
		}
		e, err := b.bindExpr(ctx, a, sc, nil)
		if err != nil {
			return call, err
		}
		call.Args = append(call.Args, e)
		types = append(types, e.Type())
	}
	if f.Filter != nil {
		cond, err := b.bindExpr(ctx, f.Filter, sc, nil)
		if err != nil {
			return call, err
		}
		call.Filter = cond
	}
	t, err := fn.ResolveAggregate(name, types)
	if err != nil {
		return call, errAt(f, "42883", "%v", err)
	}
	call.T = t
	return call, nil
}

func (b *Binder) bindWindow(ctx context.Context, f *parse.Func, sc *scope, sub *subst) (WindowCall, error) {
	name := f.Name.Norm
	call := WindowCall{Name: name}
	var types []columnar.Type
	for i, a := range f.Args {
		e, err := b.bindExpr(ctx, a, sc, sub)
		if err != nil {
			return call, err
		}
		// lag/lead's default takes the value's type (lead(x, 2, -1)).
		if i == 2 && (name == "lag" || name == "lead") {
			if t, ok := commonType(call.Args[0].Type(), e.Type()); ok && t == call.Args[0].Type() {
				e = coerce(e, t)
			}
		}
		call.Args = append(call.Args, e)
		types = append(types, e.Type())
	}
	for _, p := range f.Over.PartitionBy {
		e, err := b.bindExpr(ctx, p, sc, sub)
		if err != nil {
			return call, err
		}
		call.PartitionBy = append(call.PartitionBy, e)
	}
	for _, o := range f.Over.OrderBy {
		e, err := b.bindExpr(ctx, o.Expr, sc, sub)
		if err != nil {
			return call, err
		}
		k := SortKey{Expr: e, Desc: o.Dir == parse.Desc}
		k.NullsFirst = o.Nulls == parse.NullsFirst || (o.Nulls == parse.NullsDefault && k.Desc)
		call.OrderBy = append(call.OrderBy, k)
	}
	if fr := f.Over.Frame; fr != nil {
		frame := &Frame{Rows: fr.Unit == parse.FrameRows}
		if fr.Unit == parse.FrameGroups {
			return call, errAt(f, "0A000", "GROUPS frames are not supported")
		}
		var err error
		if frame.Start, err = b.bound(ctx, fr.Start); err != nil {
			return call, err
		}
		frame.End = Bound{Current: true}
		if fr.Between {
			if frame.End, err = b.bound(ctx, fr.End); err != nil {
				return call, err
			}
		}
		call.Frame = frame
	}
	var t columnar.Type
	var err error
	if fn.IsWindow(name) {
		t, err = fn.ResolveWindow(name, types)
	} else {
		t, err = fn.ResolveAggregate(name, types)
	}
	if err != nil {
		return call, errAt(f, "42883", "%v", err)
	}
	call.T = t
	return call, nil
}

func (b *Binder) bound(ctx context.Context, fb parse.FrameBound) (Bound, error) {
	switch fb.Kind {
	case parse.UnboundedPreceding:
		return Bound{Unbounded: true, Preceding: true}, nil
	case parse.UnboundedFollowing:
		return Bound{Unbounded: true}, nil
	case parse.CurrentRow:
		return Bound{Current: true}, nil
	}
	n, err := b.constInt(ctx, fb.Offset, "a frame offset")
	if err != nil {
		return Bound{}, err
	}
	return Bound{Preceding: fb.Kind == parse.Preceding, Offset: n}, nil
}

// bindExpr binds e over sc. With sub (after aggregation), aggregate and
// window calls and group-by expressions become references to the columns
// that hold them, and other column references are errors.
func (b *Binder) bindExpr(ctx context.Context, e parse.Expr, sc *scope, sub *subst) (Expr, error) {
	if sub != nil {
		if x, ok := sub.nodes[e]; ok {
			return x, nil
		}
		if !sub.noGroupCheck {
			if _, isLit := e.(*parse.Literal); !isLit {
				if pre, err := b.bindExpr(ctx, e, sub.pre, nil); err == nil {
					if x, ok := sub.keys[pre.String()]; ok {
						return x, nil
					}
				}
			}
		}
	}
	switch e := e.(type) {
	case *parse.ColumnRef:
		if len(e.Qualifier) == 0 && !e.Name.Quoted && !sc.has(e.Name) {
			// user, current_user, ...: keywords in PostgreSQL.
			if x, ok := b.sessionIdent(e.Name.Norm); ok {
				return x, nil
			}
		}
		if sub != nil && !sub.noGroupCheck {
			return nil, errAt(e, "42803", "column %q must appear in GROUP BY or be used in an aggregate function", e.String())
		}
		i, err := sc.resolve(e)
		if err != nil {
			return nil, err
		}
		c := sc.cols[i]
		if c.scan != nil {
			c.scan.use(c.name)
		}
		return &ColRef{Index: i, Name: c.name, T: c.typ}, nil
	case *parse.Literal:
		return literal(e)
	case *parse.Interval:
		return intervalLiteral(e)
	case *parse.Duration:
		return &Const{Val: int64(e.D), T: columnar.Interval}, nil
	case *parse.Param:
		if b.Describing && e.Index >= 1 && (e.Index > len(b.Params) || b.Params[e.Index-1] == nil) {
			return &Const{T: columnar.Unknown}, nil
		}
		if e.Index < 1 || e.Index > len(b.Params) {
			return nil, errAt(e, "08P01", "parameter $%d has no value (%d given)", e.Index, len(b.Params))
		}
		return paramConst(b.Params[e.Index-1]), nil
	case *parse.Binary:
		l, err := b.bindExpr(ctx, e.L, sc, sub)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(ctx, e.R, sc, sub)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case parse.OpAnd, parse.OpOr:
			return b.call(strings.ToLower(e.Op.String()), e, l, r)
		case parse.OpEq, parse.OpNe, parse.OpLt, parse.OpLe, parse.OpGt, parse.OpGe:
			op := e.Op.String()
			return b.compare(op, l, r, e)
		case parse.OpIsDistinctFrom, parse.OpIsNotDistinctFrom:
			return b.compare(strings.ToLower(e.Op.String()), l, r, e)
		case parse.OpConcat:
			return b.call("||", e, toVarchar(l), toVarchar(r))
		default:
			l, r = coerceArith(l, r)
			return b.call(e.Op.String(), e, l, r)
		}
	case *parse.Unary:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case parse.OpNot:
			return b.call("not", e, x)
		case parse.OpNeg:
			if c, ok := x.(*Const); ok {
				switch v := c.Val.(type) {
				case int64:
					if v != math.MinInt64 {
						return &Const{Val: -v, T: c.T}, nil
					}
				case float64:
					return &Const{Val: -v, T: c.T}, nil
				}
			}
			return b.call("negate", e, x)
		}
		return x, nil
	case *parse.Func:
		return b.bindFunc(ctx, e, sc, sub)
	case *parse.Index:
		return b.bindIndex(ctx, e, sc, sub)
	case *parse.Case:
		return b.bindCase(ctx, e, sc, sub)
	case *parse.Cast:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		t, err := castType(e.Type)
		if err != nil {
			return nil, err
		}
		if c, ok := x.(*Const); ok && c.T == columnar.String && (t == columnar.Timestamp || t == columnar.Date) {
			if k, err := constTo(c, t); err == nil {
				return k, nil
			}
		}
		if x.Type() == t {
			return x, nil
		}
		if x.Type() != columnar.Unknown && !fn.CanCast(x.Type(), t) {
			return nil, errAt(e, "42846", "cannot cast %v to %v", x.Type(), t)
		}
		return &Cast{X: x, T: t, Try: e.Try}, nil
	case *parse.In:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		if e.Query != nil {
			n, err := b.bindQuery(ctx, e.Query)
			if err != nil {
				return nil, err
			}
			if len(n.Schema()) != 1 {
				return nil, errAt(e, "42601", "the subquery of IN must return one column")
			}
			return &Subquery{Kind: "in", X: x, Plan: n, Not: e.Not, T: columnar.Bool}, nil
		}
		in := &InList{X: x, Not: e.Not}
		for _, v := range e.List {
			y, err := b.bindExpr(ctx, v, sc, sub)
			if err != nil {
				return nil, err
			}
			xx, yy, err := b.coerceCompare(x, y, v)
			if err != nil {
				return nil, err
			}
			in.X = xx
			in.List = append(in.List, yy)
		}
		// A later item may have widened X (BIGINT to DOUBLE): give every
		// item X's final type.
		for i, y := range in.List {
			if y.Type() != in.X.Type() && y.Type() != columnar.Unknown {
				in.List[i] = coerce(y, in.X.Type())
			}
		}
		return in, nil
	case *parse.Between:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		lo, err := b.bindExpr(ctx, e.Lo, sc, sub)
		if err != nil {
			return nil, err
		}
		hi, err := b.bindExpr(ctx, e.Hi, sc, sub)
		if err != nil {
			return nil, err
		}
		ge, err := b.compare(">=", x, lo, e)
		if err != nil {
			return nil, err
		}
		le, err := b.compare("<=", x, hi, e)
		if err != nil {
			return nil, err
		}
		var r Expr = and(ge, le)
		if e.Not {
			r = &Call{Name: "not", Args: []Expr{r}, T: columnar.Bool}
		}
		return r, nil
	case *parse.Like:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		p, err := b.bindExpr(ctx, e.Pattern, sc, sub)
		if err != nil {
			return nil, err
		}
		args := []Expr{toVarchar(x), p}
		if e.Escape != nil {
			esc, err := b.bindExpr(ctx, e.Escape, sc, sub)
			if err != nil {
				return nil, err
			}
			args = append(args, esc)
		}
		name := "like"
		if e.ILike {
			name = "ilike"
		}
		r, err := b.call(name, e, args...)
		if err != nil {
			return nil, err
		}
		if e.Not {
			r = &Call{Name: "not", Args: []Expr{r}, T: columnar.Bool}
		}
		return r, nil
	case *parse.IsNull:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		if e.Not {
			return b.call("is not null", e, x)
		}
		return b.call("is null", e, x)
	case *parse.Exists:
		n, err := b.bindQuery(ctx, e.Query)
		if err != nil {
			return nil, err
		}
		return &Subquery{Kind: "exists", Plan: n, T: columnar.Bool}, nil
	case *parse.Subquery:
		n, err := b.bindQuery(ctx, e.Query)
		if err != nil {
			return nil, err
		}
		s := n.Schema()
		if len(s) != 1 {
			return nil, errAt(e, "42601", "a scalar subquery must return one column, not %d", len(s))
		}
		return &Subquery{Kind: "scalar", Plan: n, T: s[0].Type}, nil
	case *parse.Extract:
		x, err := b.bindExpr(ctx, e.X, sc, sub)
		if err != nil {
			return nil, err
		}
		name, err := fn.ExtractFunction(e.Field)
		if err != nil {
			return nil, errAt(e, "22023", "%v", err)
		}
		if c, ok := x.(*Const); ok && c.T == columnar.String {
			if k, err := constTo(c, columnar.Timestamp); err == nil {
				x = k
			}
		}
		return b.call(name, e, x)
	}
	return nil, errAt(e, "0A000", "%T is not supported", e)
}

func (b *Binder) call(name string, at parse.Node, args ...Expr) (Expr, error) {
	types := make([]columnar.Type, len(args))
	for i, a := range args {
		types[i] = a.Type()
	}
	t, impl, err := fn.Resolve(name, types)
	if err != nil {
		code := "42883"
		return nil, &Error{Offset: at.Start(), Code: code, Msg: strings.TrimPrefix(err.Error(), "fn: ")}
	}
	call := &Call{Name: name, Args: args, T: t}
	if k := b.fold(call, impl); k != nil {
		return k, nil
	}
	return call, nil
}

// fold evaluates a call of constants once at bind time (now() and ago()
// included: they are constant within a query), so that the scan can use
// bounds like time > ago(1h). Errors are left for execution to report.
func (b *Binder) fold(c *Call, impl fn.ScalarFunc) *Const {
	if b.Now.IsZero() {
		return nil
	}
	switch c.Name {
	case "now", "ago", "current_date", "current_timestamp", "localtimestamp":
		// Stable within a query: the executor reads the same clock.
	default:
		if fn.IsVolatile(c.Name) {
			return nil
		}
	}
	cols := make([]*columnar.Column, len(c.Args))
	for i, a := range c.Args {
		k, ok := a.(*Const)
		if !ok {
			return nil
		}
		if k.Val == nil {
			cols[i] = fn.NullColumn(k.T, 1)
			continue
		}
		col := columnar.NewColumn(k.T, 1)
		switch v := k.Val.(type) {
		case bool:
			col.AppendBool(v)
		case int64:
			col.AppendInt(v)
		case float64:
			col.AppendFloat(v)
		case string:
			col.AppendString(v)
		default:
			return nil
		}
		cols[i] = col
	}
	out, err := impl(cols, 1, fn.NewContext(b.Now))
	if err != nil || out == nil || out.Len() != 1 && out.Type != columnar.Unknown {
		return nil
	}
	return &Const{Val: out.Value(0), T: c.T}
}

// compare binds a comparison, coercing a string literal compared with a
// timestamp (or date) to that type, as Timestream and PostgreSQL do.
func (b *Binder) compare(op string, l, r Expr, at parse.Node) (Expr, error) {
	l, r, err := b.coerceCompare(l, r, at)
	if err != nil {
		return nil, err
	}
	return b.call(op, at, l, r)
}

func (b *Binder) coerceCompare(l, r Expr, at parse.Node) (Expr, Expr, error) {
	lt, rt := l.Type(), r.Type()
	if lt == rt {
		return l, r, nil
	}
	conv := func(x Expr, to columnar.Type) (Expr, error) {
		if c, ok := x.(*Const); ok {
			k, err := constTo(c, to)
			if err != nil {
				return nil, errAt(at, "22007", "%v", err)
			}
			return k, nil
		}
		return &Cast{X: x, T: to}, nil
	}
	var err error
	switch {
	case lt == columnar.Unknown:
		l, err = conv(l, rt)
	case rt == columnar.Unknown:
		r, err = conv(r, lt)
	case (lt == columnar.Timestamp || lt == columnar.Date) && rt == columnar.String:
		r, err = conv(r, lt)
	case (rt == columnar.Timestamp || rt == columnar.Date) && lt == columnar.String:
		l, err = conv(l, rt)
	case lt == columnar.Date && rt == columnar.Timestamp:
		l = &Cast{X: l, T: columnar.Timestamp}
	case rt == columnar.Date && lt == columnar.Timestamp:
		r = &Cast{X: r, T: columnar.Timestamp}
	case lt == columnar.Int64 && rt == columnar.Float64:
		l = &Cast{X: l, T: columnar.Float64}
	case rt == columnar.Int64 && lt == columnar.Float64:
		r = &Cast{X: r, T: columnar.Float64}
	case lt == columnar.String && (rt == columnar.Int64 || rt == columnar.Float64 || rt == columnar.Bool):
		if _, ok := l.(*Const); ok {
			l, err = conv(l, rt)
		}
	case rt == columnar.String && (lt == columnar.Int64 || lt == columnar.Float64 || lt == columnar.Bool):
		if _, ok := r.(*Const); ok {
			r, err = conv(r, lt)
		}
	}
	return l, r, err
}

func coerceArith(l, r Expr) (Expr, Expr) {
	// Timestamp ± a string literal interval is not guessed; numbers are
	// promoted by fn itself.
	return l, r
}

func toVarchar(e Expr) Expr {
	if e.Type() == columnar.String || e.Type() == columnar.Unknown {
		return e
	}
	return &Cast{X: e, T: columnar.String}
}

// coerce converts e to t (constants folded).
func coerce(e Expr, t columnar.Type) Expr {
	if e.Type() == t {
		return e
	}
	if c, ok := e.(*Const); ok {
		if k, err := constTo(c, t); err == nil {
			return k
		}
	}
	return &Cast{X: e, T: t}
}

// commonType is the type two branches (CASE, UNION, coalesce) share.
func commonType(a, b columnar.Type) (columnar.Type, bool) {
	switch {
	case a == b:
		return a, true
	case a == columnar.Unknown:
		return b, true
	case b == columnar.Unknown:
		return a, true
	case (a == columnar.Int64 && b == columnar.Float64) || (a == columnar.Float64 && b == columnar.Int64):
		return columnar.Float64, true
	case (a == columnar.Date && b == columnar.Timestamp) || (a == columnar.Timestamp && b == columnar.Date):
		return columnar.Timestamp, true
	}
	return columnar.Unknown, false
}

// constTo converts a constant to type t at bind time.
func constTo(c *Const, t columnar.Type) (*Const, error) {
	if c.Val == nil {
		return &Const{T: t}, nil
	}
	col := columnar.NewColumn(c.T, 1)
	switch v := c.Val.(type) {
	case bool:
		col.AppendBool(v)
	case int64:
		col.AppendInt(v)
	case float64:
		col.AppendFloat(v)
	case string:
		col.AppendString(v)
	}
	out, err := fn.Cast(col, t, false)
	if err != nil {
		return nil, err
	}
	return &Const{Val: out.Value(0), T: t}, nil
}

func literal(e *parse.Literal) (Expr, error) {
	switch e.Kind {
	case parse.LitNull:
		return &Const{T: columnar.Unknown}, nil
	case parse.LitBool:
		return &Const{Val: strings.EqualFold(e.Value, "true"), T: columnar.Bool}, nil
	case parse.LitInteger:
		if v, err := strconv.ParseInt(e.Value, 10, 64); err == nil {
			return &Const{Val: v, T: columnar.Int64}, nil
		}
		f, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			return nil, errAt(e, "22003", "number %s is out of range", e.Value)
		}
		return &Const{Val: f, T: columnar.Float64}, nil
	case parse.LitDecimal:
		f, err := strconv.ParseFloat(e.Value, 64)
		if err != nil {
			return nil, errAt(e, "22003", "number %s is out of range", e.Value)
		}
		return &Const{Val: f, T: columnar.Float64}, nil
	case parse.LitString:
		return &Const{Val: e.Value, T: columnar.String}, nil
	case parse.LitTimestamp:
		ns, err := fn.ParseTimestamp(e.Value)
		if err != nil {
			return nil, errAt(e, "22007", "invalid TIMESTAMP literal %q: %v", e.Value, err)
		}
		return &Const{Val: ns, T: columnar.Timestamp}, nil
	case parse.LitDate:
		d, err := fn.ParseDate(e.Value)
		if err != nil {
			return nil, errAt(e, "22007", "invalid DATE literal %q: %v", e.Value, err)
		}
		return &Const{Val: d, T: columnar.Date}, nil
	}
	return nil, errAt(e, "0A000", "TIME literals are not supported")
}

var intervalUnits = map[string]time.Duration{
	"NANOSECOND": 1, "MICROSECOND": time.Microsecond, "MILLISECOND": time.Millisecond, "SECOND": time.Second,
	"MINUTE": time.Minute, "HOUR": time.Hour, "DAY": 24 * time.Hour, "WEEK": 7 * 24 * time.Hour,
}

func intervalLiteral(e *parse.Interval) (Expr, error) {
	if e.Unit == "" {
		ns, err := fn.ParseInterval(e.Value)
		if err != nil {
			return nil, errAt(e, "22007", "invalid INTERVAL %q: %v", e.Value, err)
		}
		return &Const{Val: ns, T: columnar.Interval}, nil
	}
	unit, ok := intervalUnits[strings.TrimSuffix(strings.ToUpper(e.Unit), "S")]
	if !ok {
		return nil, errAt(e, "0A000", "INTERVAL unit %s is not supported (months and years have no fixed length)", e.Unit)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(e.Value), 64)
	if err != nil {
		return nil, errAt(e, "22007", "invalid INTERVAL value %q", e.Value)
	}
	return &Const{Val: int64(f * float64(unit)), T: columnar.Interval}, nil
}

func paramConst(v any) *Const {
	switch v := v.(type) {
	case nil:
		return &Const{T: columnar.Unknown}
	case bool:
		return &Const{Val: v, T: columnar.Bool}
	case int64:
		return &Const{Val: v, T: columnar.Int64}
	case int:
		return &Const{Val: int64(v), T: columnar.Int64}
	case float64:
		return &Const{Val: v, T: columnar.Float64}
	case string:
		return &Const{Val: v, T: columnar.String}
	case time.Time:
		return &Const{Val: v.UnixNano(), T: columnar.Timestamp}
	}
	return &Const{Val: fmt.Sprint(v), T: columnar.String}
}

func castType(t parse.Type) (columnar.Type, error) {
	switch t.Kind {
	case parse.TypeBoolean:
		return columnar.Bool, nil
	case parse.TypeInteger, parse.TypeBigint:
		return columnar.Int64, nil
	case parse.TypeDouble:
		return columnar.Float64, nil
	case parse.TypeVarchar:
		return columnar.String, nil
	case parse.TypeTimestamp:
		return columnar.Timestamp, nil
	case parse.TypeDate:
		return columnar.Date, nil
	case parse.TypeInterval:
		return columnar.Interval, nil
	}
	return columnar.Unknown, errAt(t, "0A000", "type %s is not supported", t.String())
}

func (b *Binder) bindFunc(ctx context.Context, f *parse.Func, sc *scope, sub *subst) (Expr, error) {
	name := f.Name.Norm
	if fn.IsAggregate(name) && f.Over == nil {
		return nil, errAt(f, "42803", "aggregate %s is not allowed here", name)
	}
	if f.Over != nil {
		return nil, errAt(f, "42P20", "window function %s is not allowed here", name)
	}
	if x, ok, err := b.bindSessionFunc(ctx, f, sc, sub); ok {
		return x, err
	}
	var args []Expr
	for _, a := range f.Args {
		x, err := b.bindExpr(ctx, a, sc, sub)
		if err != nil {
			return nil, err
		}
		args = append(args, x)
	}
	switch name {
	case "coalesce", "greatest", "least", "nullif", "if":
		// Branches share one type.
		start := 0
		if name == "if" {
			start = 1
		}
		t := columnar.Unknown
		for _, a := range args[min(start, len(args)):] {
			var ok bool
			if t, ok = commonType(t, a.Type()); !ok {
				return nil, errAt(f, "42804", "%s arguments have incompatible types", name)
			}
		}
		for i := start; i < len(args); i++ {
			args[i] = coerce(args[i], t)
		}
	default:
		// A string literal where a timestamp is expected (bin('2026-…', 1h)).
		types := make([]columnar.Type, len(args))
		for i, a := range args {
			types[i] = a.Type()
		}
		if _, _, err := fn.Resolve(name, types); err != nil {
			for i, a := range args {
				if c, ok := a.(*Const); ok && c.T == columnar.String {
					if k, err := constTo(c, columnar.Timestamp); err == nil {
						args[i] = k
					}
				}
			}
		}
	}
	return b.call(name, f, args...)
}

func (b *Binder) bindCase(ctx context.Context, e *parse.Case, sc *scope, sub *subst) (Expr, error) {
	c := &Case{}
	var operand Expr
	if e.Operand != nil {
		var err error
		if operand, err = b.bindExpr(ctx, e.Operand, sc, sub); err != nil {
			return nil, err
		}
	}
	t := columnar.Unknown
	for _, w := range e.Whens {
		cond, err := b.bindExpr(ctx, w.Cond, sc, sub)
		if err != nil {
			return nil, err
		}
		if operand != nil {
			if cond, err = b.compare("=", operand, cond, w.Cond); err != nil {
				return nil, err
			}
		}
		then, err := b.bindExpr(ctx, w.Result, sc, sub)
		if err != nil {
			return nil, err
		}
		var ok bool
		if t, ok = commonType(t, then.Type()); !ok {
			return nil, errAt(w.Result, "42804", "CASE branches have incompatible types %v and %v", t, then.Type())
		}
		c.Whens = append(c.Whens, When{Cond: cond, Then: then})
	}
	if e.Else != nil {
		x, err := b.bindExpr(ctx, e.Else, sc, sub)
		if err != nil {
			return nil, err
		}
		var ok bool
		if t, ok = commonType(t, x.Type()); !ok {
			return nil, errAt(e.Else, "42804", "CASE branches have incompatible types %v and %v", t, x.Type())
		}
		c.Else = x
	}
	for i := range c.Whens {
		c.Whens[i].Then = coerce(c.Whens[i].Then, t)
	}
	if c.Else != nil {
		c.Else = coerce(c.Else, t)
	}
	c.T = t
	return c, nil
}

// exprName is the output name of a select item without alias.
func exprName(e parse.Expr, i int) string {
	switch x := e.(type) {
	case *parse.ColumnRef:
		return x.Name.Name
	case *parse.Func:
		return x.Name.Norm
	case *parse.Cast:
		return exprName(x.X, i)
	case *parse.Index:
		return exprName(x.X, i) // PostgreSQL names s[i] "s"
	}
	return fmt.Sprintf("_col%d", i)
}

// ErrNotQuery is returned for statements Bind does not handle.
var ErrNotQuery = errors.New("not a query")
