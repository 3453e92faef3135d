package exec

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

func (q *query) compileSort(ctx context.Context, input plan.Node, keys []plan.SortKey, count, offset int64) (op, error) {
	in, err := q.compile(ctx, input)
	if err != nil {
		return nil, err
	}
	exprs := make([]plan.Expr, len(keys))
	specs := make([]sortSpec, len(keys))
	for i, k := range keys {
		exprs[i] = k.Expr
		specs[i] = sortSpec{desc: k.Desc, nullsFirst: k.NullsFirst}
	}
	evs, err := q.compileExprs(ctx, exprs)
	if err != nil {
		return nil, err
	}
	types := schemaTypes(input.Schema())
	if count >= 0 && count+offset <= 100000 {
		return &topNOp{in: in, keys: evs, specs: specs, types: types, count: count, offset: offset, q: q}, nil
	}
	var o op = &sortOp{in: in, keys: evs, specs: specs, types: types, q: q}
	if count >= 0 || offset > 0 {
		o = &limitOp{in: o, count: count, offset: offset}
	}
	return o, nil
}

type sortOp struct {
	in    op
	keys  []evaluator
	specs []sortSpec
	types []columnar.Type
	q     *query
}

func (o *sortOp) run(ctx context.Context, emit func(*chunk) error) error {
	buf := newBuffer(o.types)
	tr := o.q.track("ORDER BY")
	defer tr.close()
	if err := o.in.run(ctx, func(ch *chunk) error { return tr.add(buf.add(ch)) }); err != nil {
		return err
	}
	all := buf.chunk()
	keys, err := evalAll(o.keys, all)
	if err != nil {
		return err
	}
	if err := tr.add(int64(all.n) * 16); err != nil {
		return err
	}
	if reverse, ok := presorted(keys[0], o.specs[0], len(keys) == 1, all.n); ok {
		// Stores return a series' rows by time: ORDER BY time [DESC]
		// of one series is the input order or its reverse, and the
		// buffer is ours to turn around.
		if reverse {
			reverseChunk(all)
		}
		return emitOwned(ctx, all, emit)
	}
	perm, err := sortPerm(ctx, keys, o.specs, all.n)
	if err != nil {
		return err
	}
	for lo := 0; lo < len(perm); lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		out := gatherChunk(all, perm[lo:min(lo+chunkRows, len(perm))])
		out.owned = true
		if err := emit(out); err != nil {
			return err
		}
	}
	return nil
}

func evalAll(evs []evaluator, ch *chunk) ([]*columnar.Column, error) {
	out := make([]*columnar.Column, len(evs))
	for i, e := range evs {
		c, err := e.eval(ch)
		if err != nil {
			return nil, err
		}
		out[i] = expand(c, ch.n)
	}
	return out, nil
}

// presorted reports whether n rows whose first sort key is first are
// already in the order the stable sort would give them (ok, reverse
// false), or in exactly the opposite order (ok, reverse true). It gives
// up (ok false) on NULLs in the key, on ties that other keys (single
// false) would break, and on reversing ties (the stable sort keeps their
// input order). Unsorted input costs the few comparisons up to the first
// pair out of order each way.
func presorted(first *columnar.Column, spec sortSpec, single bool, n int) (reverse, ok bool) {
	if n < 2 {
		return false, true
	}
	if first.Type == columnar.Unknown || colLen(first) < n {
		return false, false
	}
	if first.Nulls != nil && slices.Contains(first.Nulls[:n], true) {
		return false, false
	}
	// Non-strict and strict monotony of the key's values, each way.
	up, down, strictUp, strictDown := true, true, true, true
	step := func(c int) bool {
		switch {
		case c < 0:
			down, strictDown = false, false
		case c > 0:
			up, strictUp = false, false
		default:
			strictUp, strictDown = false, false
		}
		return up || down
	}
	switch first.Type {
	case columnar.String:
		s := first.Strs[:n]
		for i := 1; i < n && step(strings.Compare(s[i-1], s[i])); i++ {
		}
	case columnar.Bool, columnar.Float64:
		prev := orderedBits(first, 0)
		for i := 1; i < n; i++ {
			v := orderedBits(first, i)
			if !step(cmp.Compare(prev, v)) {
				break
			}
			prev = v
		}
	default:
		s := first.Ints[:n]
		for i := 1; i < n && step(cmp.Compare(s[i-1], s[i])); i++ {
		}
	}
	if spec.desc {
		up, down, strictUp, strictDown = down, up, strictDown, strictUp
	}
	switch {
	case strictUp || (up && single):
		return false, true
	case strictDown:
		return true, true
	}
	return false, false
}

// emitOwned sends rows [0, n) of ch, which the caller gives up, in chunks
// marked owned (see chunk), checking ctx between them.
func emitOwned(ctx context.Context, ch *chunk, emit func(*chunk) error) error {
	for lo := 0; lo < ch.n; lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		out := sliceChunk(ch, lo, min(lo+chunkRows, ch.n))
		out.owned = true
		if err := emit(out); err != nil {
			return err
		}
	}
	return nil
}

// reverseChunk turns the rows of ch around in place.
func reverseChunk(ch *chunk) {
	for _, c := range ch.cols {
		switch c.Type {
		case columnar.Bool:
			slices.Reverse(c.Bools[:ch.n])
		case columnar.Float64:
			slices.Reverse(c.Floats[:ch.n])
		case columnar.String:
			slices.Reverse(c.Strs[:ch.n])
		case columnar.Unknown:
		default:
			slices.Reverse(c.Ints[:ch.n])
		}
		if c.Nulls != nil {
			slices.Reverse(c.Nulls[:ch.n])
		}
	}
}

// sortPerm returns the row order of n rows sorted by keys, ties broken by
// row number (so the sort is stable).
func sortPerm(ctx context.Context, keys []*columnar.Column, specs []sortSpec, n int) ([]int32, error) {
	perm := make([]int32, 0, n)
	if len(keys) == 0 {
		for i := 0; i < n; i++ {
			perm = append(perm, int32(i))
		}
		return perm, nil
	}
	// Rows whose first key is NULL go first or last as a block; the rest
	// sort on a normalised first key with the other keys as tie-breakers.
	first, spec := keys[0], specs[0]
	var nulls []int32
	var vals []int32
	for i := 0; i < n; i++ {
		if first.IsNull(i) || first.Type == columnar.Unknown {
			nulls = append(nulls, int32(i))
		} else {
			vals = append(vals, int32(i))
		}
	}
	rest := func(a, b int32) int {
		if len(keys) > 1 {
			if c := cmpKeys(keys[1:], int(a), keys[1:], int(b), specs[1:]); c != 0 {
				return c
			}
		}
		return cmp.Compare(a, b)
	}
	slices.SortFunc(nulls, rest)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch first.Type {
	case columnar.String:
		type pair struct {
			s string
			i int32
		}
		ps := make([]pair, len(vals))
		for k, i := range vals {
			ps[k] = pair{first.Strs[i], i}
		}
		slices.SortFunc(ps, func(a, b pair) int {
			if c := strings.Compare(a.s, b.s); c != 0 {
				if spec.desc {
					return -c
				}
				return c
			}
			return rest(a.i, b.i)
		})
		for k := range ps {
			vals[k] = ps[k].i
		}
	default:
		type pair struct {
			k uint64
			i int32
		}
		ps := make([]pair, len(vals))
		for k, i := range vals {
			v := orderedBits(first, int(i))
			if spec.desc {
				v = ^v
			}
			ps[k] = pair{v, i}
		}
		slices.SortFunc(ps, func(a, b pair) int {
			if a.k != b.k {
				if a.k < b.k {
					return -1
				}
				return 1
			}
			return rest(a.i, b.i)
		})
		for k := range ps {
			vals[k] = ps[k].i
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if spec.nullsFirst {
		perm = append(append(perm, nulls...), vals...)
	} else {
		perm = append(append(perm, vals...), nulls...)
	}
	return perm, nil
}

// orderedBits maps a non-NULL value to a uint64 whose unsigned order is the
// SQL order (DOUBLE: -0 = 0, NaN above +Infinity).
func orderedBits(c *columnar.Column, i int) uint64 {
	switch c.Type {
	case columnar.Float64:
		f := c.Floats[i]
		if f == 0 {
			f = 0
		}
		if f != f {
			return math.MaxUint64
		}
		b := math.Float64bits(f)
		if b>>63 != 0 {
			return ^b
		}
		return b | 1<<63
	case columnar.Bool:
		if c.Bools[i] {
			return 1
		}
		return 0
	}
	return uint64(c.Ints[i]) ^ 1<<63
}

// topNOp keeps the best count+offset rows in a bounded max-heap whose root
// is the worst row kept; a row enters only if it beats the root. Ties keep
// the earlier row, so the result equals a stable sort followed by LIMIT.
type topNOp struct {
	in            op
	keys          []evaluator
	specs         []sortSpec
	types         []columnar.Type
	count, offset int64
	q             *query
}

type topHeap struct {
	rows  []*columnar.Column // kept rows, one slot per heap entry
	keys  []*columnar.Column // their sort keys
	seq   []int64            // arrival order, for ties
	heap  []int32            // slot numbers, worst first
	specs []sortSpec
}

// worse reports whether slot a sorts after slot b.
func (h *topHeap) worse(a, b int32) bool {
	c := cmpKeys(h.keys, int(a), h.keys, int(b), h.specs)
	if c != 0 {
		return c > 0
	}
	return h.seq[a] > h.seq[b]
}

func (h *topHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(h.heap[i], h.heap[p]) {
			return
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
}

func (h *topHeap) down(i int) {
	n := len(h.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l
		if r := l + 1; r < n && h.worse(h.heap[r], h.heap[l]) {
			w = r
		}
		if !h.worse(h.heap[w], h.heap[i]) {
			return
		}
		h.heap[i], h.heap[w] = h.heap[w], h.heap[i]
		i = w
	}
}

func (o *topNOp) run(ctx context.Context, emit func(*chunk) error) error {
	limit := int(o.count + o.offset)
	if o.count == 0 {
		return nil
	}
	h := &topHeap{specs: o.specs}
	for _, t := range o.types {
		h.rows = append(h.rows, columnar.NewColumn(t, limit))
	}
	tr := o.q.track("ORDER BY ... LIMIT")
	defer tr.close()
	var seq int64
	err := o.in.run(ctx, func(ch *chunk) error {
		keys, err := evalAll(o.keys, ch)
		if err != nil {
			return err
		}
		if h.keys == nil {
			for _, k := range keys {
				h.keys = append(h.keys, columnar.NewColumn(k.Type, limit))
			}
		}
		for i := 0; i < ch.n; i++ {
			seq++
			if len(h.heap) < limit {
				slot := int32(len(h.heap))
				for c, col := range ch.cols {
					h.rows[c].AppendFrom(expand(col, ch.n), i)
				}
				for k, col := range keys {
					h.keys[k].AppendFrom(col, i)
				}
				h.seq = append(h.seq, seq)
				h.heap = append(h.heap, slot)
				h.up(len(h.heap) - 1)
				continue
			}
			root := h.heap[0]
			if cmpKeys(keys, i, h.keys, int(root), o.specs) >= 0 {
				continue // not better than the worst kept row
			}
			for c, col := range ch.cols {
				setRow(h.rows[c], int(root), expand(col, ch.n), i)
			}
			for k, col := range keys {
				setRow(h.keys[k], int(root), col, i)
			}
			h.seq[root] = seq
			h.down(0)
		}
		if len(h.heap) < limit || seq%(64*chunkRows) < int64(ch.n) {
			var b int64
			for _, c := range h.rows {
				b += colBytes(c)
			}
			for _, c := range h.keys {
				b += colBytes(c)
			}
			return tr.set(b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slots := slices.Clone(h.heap)
	slices.SortFunc(slots, func(a, b int32) int {
		if h.worse(a, b) {
			return 1
		}
		if h.worse(b, a) {
			return -1
		}
		return 0
	})
	if int(o.offset) >= len(slots) {
		return nil
	}
	slots = slots[o.offset:]
	return emitChunks(ctx, gatherChunk(&chunk{cols: h.rows, n: len(h.heap)}, slots), emit)
}
