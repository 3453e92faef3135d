package exec

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

type windowFunc struct {
	name     string
	args     []evaluator
	argTypes []columnar.Type
	part     []evaluator
	order    []evaluator
	specs    []sortSpec
	frame    plan.Frame
	hasOrder bool
	t        columnar.Type
}

// windowOp buffers its whole input, then computes each window function by
// sorting row numbers by (partition keys, order keys) and walking the
// partitions. Output rows keep the input order.
type windowOp struct {
	in    op
	funcs []windowFunc
	types []columnar.Type
	q     *query
}

var (
	unboundedPreceding = plan.Bound{Unbounded: true, Preceding: true}
	currentRow         = plan.Bound{Current: true}
	unboundedFollowing = plan.Bound{Unbounded: true}
)

func (q *query) compileWindow(ctx context.Context, n *plan.Window) (op, error) {
	in, err := q.compile(ctx, n.Input)
	if err != nil {
		return nil, err
	}
	o := &windowOp{in: in, types: schemaTypes(n.Input.Schema()), q: q}
	for _, c := range n.Funcs {
		f := windowFunc{name: strings.ToLower(c.Name), t: c.T}
		if f.args, err = q.compileExprs(ctx, c.Args); err != nil {
			return nil, err
		}
		for _, a := range c.Args {
			f.argTypes = append(f.argTypes, a.Type())
		}
		if _, err := fn.ResolveWindow(f.name, f.argTypes); err != nil {
			return nil, err
		}
		if !fn.IsWindow(f.name) {
			if _, err := newAggFunc(f.name, f.argTypes, f.t, len(c.Args) == 0); err != nil {
				return nil, err
			}
		}
		if f.part, err = q.compileExprs(ctx, c.PartitionBy); err != nil {
			return nil, err
		}
		for _, k := range c.OrderBy {
			ev, err := q.compileExpr(ctx, k.Expr)
			if err != nil {
				return nil, err
			}
			f.order = append(f.order, ev)
			f.specs = append(f.specs, sortSpec{desc: k.Desc, nullsFirst: k.NullsFirst})
		}
		f.hasOrder = len(c.OrderBy) > 0
		switch {
		case c.Frame != nil:
			f.frame = *c.Frame
		case f.hasOrder:
			f.frame = plan.Frame{Start: unboundedPreceding, End: currentRow}
		default:
			f.frame = plan.Frame{Start: unboundedPreceding, End: unboundedFollowing}
		}
		if !f.frame.Rows && (!f.frame.Start.Unbounded && !f.frame.Start.Current || !f.frame.End.Unbounded && !f.frame.End.Current) {
			if len(c.OrderBy) != 1 {
				return nil, fmt.Errorf("window %s: RANGE with an offset needs exactly one ORDER BY key", f.name)
			}
			switch c.OrderBy[0].Expr.Type() {
			case columnar.Int64, columnar.Float64, columnar.Timestamp, columnar.Date, columnar.Interval:
			default:
				return nil, fmt.Errorf("window %s: RANGE with an offset needs a numeric or time ORDER BY key", f.name)
			}
		}
		o.funcs = append(o.funcs, f)
	}
	return o, nil
}

func (o *windowOp) run(ctx context.Context, emit func(*chunk) error) error {
	buf := newBuffer(o.types)
	tr := o.q.track("window")
	defer tr.close()
	if err := o.in.run(ctx, func(ch *chunk) error { return tr.add(buf.add(ch)) }); err != nil {
		return err
	}
	all := buf.chunk()
	out := &chunk{cols: append([]*columnar.Column(nil), all.cols...), n: all.n}
	for i := range o.funcs {
		c, err := o.compute(ctx, &o.funcs[i], all)
		if err != nil {
			return fmt.Errorf("window %s: %w", o.funcs[i].name, err)
		}
		if err := tr.add(colBytes(c)); err != nil {
			return err
		}
		out.cols = append(out.cols, c)
	}
	return emitChunks(ctx, out, emit)
}

// partition is one window partition: rows (input row numbers) in window
// order, and the peer group [peerLo[k], peerHi[k]) of each position.
type partition struct {
	rows           []int32
	peerLo, peerHi []int
}

func (o *windowOp) compute(ctx context.Context, f *windowFunc, all *chunk) (*columnar.Column, error) {
	n := all.n
	part, err := evalAll(f.part, all)
	if err != nil {
		return nil, err
	}
	order, err := evalAll(f.order, all)
	if err != nil {
		return nil, err
	}
	args, err := evalAll(f.args, all)
	if err != nil {
		return nil, err
	}
	keys := append(append([]*columnar.Column(nil), part...), order...)
	specs := make([]sortSpec, len(part), len(keys))
	specs = append(specs, f.specs...)
	perm, err := sortPerm(ctx, keys, specs, n)
	if err != nil {
		return nil, err
	}
	out := columnar.NewColumn(f.t, n)
	growTo(out, n)
	for lo := 0; lo < n; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := lo + 1
		for hi < n && equalKeys(part, int(perm[lo]), int(perm[hi])) {
			hi++
		}
		p := partition{rows: perm[lo:hi], peerLo: make([]int, hi-lo), peerHi: make([]int, hi-lo)}
		for a := 0; a < len(p.rows); {
			b := a + 1
			for b < len(p.rows) && equalKeys(order, int(p.rows[a]), int(p.rows[b])) {
				b++
			}
			for k := a; k < b; k++ {
				p.peerLo[k], p.peerHi[k] = a, b
			}
			a = b
		}
		if err := o.computePartition(f, &p, args, order, out); err != nil {
			return nil, err
		}
		lo = hi
	}
	return out, nil
}

func setInt(out *columnar.Column, r int, v int64) {
	out.Ints[r] = v
	if out.Nulls != nil {
		out.Nulls[r] = false
	}
}

func setFloat(out *columnar.Column, r int, v float64) {
	out.Floats[r] = v
	if out.Nulls != nil {
		out.Nulls[r] = false
	}
}

func setNull(out *columnar.Column, r int) {
	if out.Nulls == nil {
		out.Nulls = make([]bool, colLen(out))
	}
	out.Nulls[r] = true
}

// setFrom sets row r of out from row i of src (NULL if i < 0).
func setFrom(out *columnar.Column, r int, src *columnar.Column, i int) {
	if i < 0 || src.Type == columnar.Unknown || src.IsNull(i) {
		setNull(out, r)
		return
	}
	if src.Type != out.Type {
		if out.Type == columnar.Float64 && src.Type == columnar.Int64 {
			setFloat(out, r, float64(src.Ints[i]))
			return
		}
		setNull(out, r)
		return
	}
	setRow(out, r, src, i)
}

func argInt(c *columnar.Column, i int, def int64) (int64, bool) {
	if c == nil {
		return def, true
	}
	if c.IsNull(i) || c.Type == columnar.Unknown {
		return 0, false
	}
	return c.Ints[i], true
}

func (o *windowOp) computePartition(f *windowFunc, p *partition, args, order []*columnar.Column, out *columnar.Column) error {
	m := len(p.rows)
	arg := func(k int) *columnar.Column {
		if k < len(args) {
			return args[k]
		}
		return nil
	}
	switch f.name {
	case "row_number":
		for k, r := range p.rows {
			setInt(out, int(r), int64(k+1))
		}
		return nil
	case "rank":
		for k, r := range p.rows {
			setInt(out, int(r), int64(p.peerLo[k]+1))
		}
		return nil
	case "dense_rank":
		rank := int64(0)
		for k, r := range p.rows {
			if k == p.peerLo[k] {
				rank++
			}
			setInt(out, int(r), rank)
		}
		return nil
	case "percent_rank":
		for k, r := range p.rows {
			v := 0.0
			if m > 1 {
				v = float64(p.peerLo[k]) / float64(m-1)
			}
			setFloat(out, int(r), v)
		}
		return nil
	case "cume_dist":
		for k, r := range p.rows {
			setFloat(out, int(r), float64(p.peerHi[k])/float64(m))
		}
		return nil
	case "ntile":
		for k, r := range p.rows {
			b, ok := argInt(arg(0), int(r), 1)
			if !ok {
				setNull(out, int(r))
				continue
			}
			if b <= 0 {
				return fmt.Errorf("bucket count must be positive, got %d", b)
			}
			// Trino: the first m % b buckets get one extra row.
			size, extra := int64(m)/b, int64(m)%b
			var bucket int64
			if size == 0 {
				bucket = int64(k) + 1
			} else if int64(k) < extra*(size+1) {
				bucket = int64(k)/(size+1) + 1
			} else {
				bucket = extra + (int64(k)-extra*(size+1))/size + 1
			}
			setInt(out, int(r), bucket)
		}
		return nil
	case "lag", "lead":
		for k, r := range p.rows {
			off, ok := argInt(arg(1), int(r), 1)
			if !ok {
				setNull(out, int(r))
				continue
			}
			if off < 0 {
				return fmt.Errorf("offset must not be negative, got %d", off)
			}
			j := int64(k) - off
			if f.name == "lead" {
				j = int64(k) + off
			}
			if j >= 0 && j < int64(m) {
				setFrom(out, int(r), args[0], int(p.rows[j]))
			} else if d := arg(2); d != nil {
				setFrom(out, int(r), d, int(r))
			} else {
				setNull(out, int(r))
			}
		}
		return nil
	case "first_value", "last_value", "nth_value":
		for k, r := range p.rows {
			s, e := o.frame(f, p, order, k)
			j := -1
			switch f.name {
			case "first_value":
				if s <= e {
					j = s
				}
			case "last_value":
				if s <= e {
					j = e
				}
			default:
				nth, ok := argInt(arg(1), int(r), 1)
				if !ok {
					break
				}
				if nth <= 0 {
					return fmt.Errorf("nth_value: position must be positive, got %d", nth)
				}
				if int64(s)+nth-1 <= int64(e) {
					j = s + int(nth) - 1
				}
			}
			if j < 0 {
				setNull(out, int(r))
			} else {
				setFrom(out, int(r), args[0], int(p.rows[j]))
			}
		}
		return nil
	}
	return o.aggregateFrames(f, p, args, order, out)
}

// aggregateFrames computes an aggregate over each row's frame. Frames that
// start at UNBOUNDED PRECEDING only grow, so one state accumulates as the
// end advances; other frames are recomputed per row.
func (o *windowOp) aggregateFrames(f *windowFunc, p *partition, args, order []*columnar.Column, out *columnar.Column) error {
	m := len(p.rows)
	pargs := make([]*columnar.Column, len(args))
	for i, a := range args {
		pargs[i] = gather(a, p.rows)
	}
	zeros := make([]int32, m)
	tmp := columnar.NewColumn(f.t, 1)
	view := func(s, e int) []*columnar.Column {
		v := make([]*columnar.Column, len(pargs))
		for i, a := range pargs {
			v[i] = slice(a, s, e)
		}
		return v
	}
	proto, err := newAggFunc(f.name, f.argTypes, f.t, len(f.args) == 0)
	if err != nil {
		return err
	}
	if f.frame.Start == unboundedPreceding {
		state := proto.fresh()
		state.grow(1)
		next := 0 // partition positions [0, next) have been added
		for k, r := range p.rows {
			_, e := o.frame(f, p, order, k)
			if e+1 > next {
				if err := state.add(view(next, e+1), zeros, e+1-next); err != nil {
					return err
				}
				next = e + 1
			}
			if e+1 < next { // a frame end moved backwards: recompute this row
				st := proto.fresh()
				st.grow(1)
				if e >= 0 {
					if err := st.add(view(0, e+1), zeros, e+1); err != nil {
						return err
					}
				}
				tmp.Reset()
				st.result(0, tmp)
				setFrom(out, int(r), tmp, 0)
				continue
			}
			tmp.Reset()
			state.result(0, tmp)
			setFrom(out, int(r), tmp, 0)
		}
		return nil
	}
	for k, r := range p.rows {
		s, e := o.frame(f, p, order, k)
		st := proto.fresh()
		st.grow(1)
		if s <= e {
			if err := st.add(view(s, e+1), zeros, e+1-s); err != nil {
				return err
			}
		}
		tmp.Reset()
		st.result(0, tmp)
		setFrom(out, int(r), tmp, 0)
	}
	return nil
}

// frame returns the inclusive partition positions [s, e] of position k's
// frame; s > e means empty.
func (o *windowOp) frame(f *windowFunc, p *partition, order []*columnar.Column, k int) (int, int) {
	m := len(p.rows)
	fr := f.frame
	var s, e int
	if fr.Rows {
		s = rowsBound(fr.Start, k, m, true)
		e = rowsBound(fr.End, k, m, false)
	} else {
		s = o.rangeBound(f, fr.Start, p, order, k, true)
		e = o.rangeBound(f, fr.End, p, order, k, false)
	}
	s = max(s, 0)
	e = min(e, m-1)
	return s, e
}

func rowsBound(b plan.Bound, k, m int, start bool) int {
	switch {
	case b.Unbounded && b.Preceding:
		return 0
	case b.Unbounded:
		return m - 1
	case b.Current:
		return k
	}
	off := b.Offset
	if off > int64(m) {
		off = int64(m) + 1
	}
	if b.Preceding {
		return k - int(off)
	}
	return k + int(off)
}

func (o *windowOp) rangeBound(f *windowFunc, b plan.Bound, p *partition, order []*columnar.Column, k int, start bool) int {
	m := len(p.rows)
	switch {
	case b.Unbounded && b.Preceding:
		return 0
	case b.Unbounded:
		return m - 1
	case b.Current:
		if start {
			return p.peerLo[k]
		}
		return p.peerHi[k] - 1
	}
	key := order[0]
	row := int(p.rows[k])
	if key.IsNull(row) {
		// A NULL key's offset frame is its peer group (the other NULLs).
		if start {
			return p.peerLo[k]
		}
		return p.peerHi[k] - 1
	}
	// The non-NULL keys of the partition form one sorted run [lo, hi).
	lo, hi := 0, m
	for lo < m && key.IsNull(int(p.rows[lo])) {
		lo++
	}
	for hi > lo && key.IsNull(int(p.rows[hi-1])) {
		hi--
	}
	desc := f.specs[0].desc
	// Target value: PRECEDING moves against the order, FOLLOWING with it.
	toward := b.Preceding != desc // true: the target is v - offset
	at := func(j int) float64 { return numAt(key, int(p.rows[j])) }
	var target float64
	if key.Type == columnar.Float64 {
		if toward {
			target = key.Floats[row] - float64(b.Offset)
		} else {
			target = key.Floats[row] + float64(b.Offset)
		}
	} else {
		v := key.Ints[row]
		if toward {
			target = float64(satAdd(v, -b.Offset))
		} else {
			target = float64(satAdd(v, b.Offset))
		}
		at = func(j int) float64 { return float64(key.Ints[p.rows[j]]) }
		if math.Abs(float64(v)) >= 1<<53 {
			// Compare in int64 space to keep nanosecond precision.
			tv := satAdd(v, -b.Offset)
			if !toward {
				tv = satAdd(v, b.Offset)
			}
			return intRangeSearch(key, p.rows, lo, hi, tv, desc, start)
		}
	}
	n := hi - lo
	if !desc {
		if start { // first position with key >= target
			return lo + sort.Search(n, func(i int) bool { return at(lo+i) >= target })
		}
		return lo + sort.Search(n, func(i int) bool { return at(lo+i) > target }) - 1
	}
	if start { // descending: first position with key <= target
		return lo + sort.Search(n, func(i int) bool { return at(lo+i) <= target })
	}
	return lo + sort.Search(n, func(i int) bool { return at(lo+i) < target }) - 1
}

func intRangeSearch(key *columnar.Column, rows []int32, lo, hi int, target int64, desc, start bool) int {
	at := func(j int) int64 { return key.Ints[rows[j]] }
	n := hi - lo
	if !desc {
		if start {
			return lo + sort.Search(n, func(i int) bool { return at(lo+i) >= target })
		}
		return lo + sort.Search(n, func(i int) bool { return at(lo+i) > target }) - 1
	}
	if start {
		return lo + sort.Search(n, func(i int) bool { return at(lo+i) <= target })
	}
	return lo + sort.Search(n, func(i int) bool { return at(lo+i) < target }) - 1
}

func satAdd(a, b int64) int64 {
	r := a + b
	if (a^r)&(b^r) < 0 {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return r
}
