package exec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

type scanOp struct {
	n *plan.Scan
	// codesOnly names VARCHAR columns its reader reads only through
	// their dictionary codes where they have them (a GROUP BY key); a
	// table that implements codesOnlyScanner may leave their strings out.
	codesOnly []string
}

// codesOnlyScanner is implemented by tables that can leave the strings of
// dictionary-coded VARCHAR columns out for readers that read only their
// codes (lake tables: lake.Table.ScanCodesOnly). In a batch where a
// column named in codesOnly has codes (columnar.Column.Codes), its Strs
// are empty strings and row i's string is the dictionary's entry for
// codes[i]; where it has none, its strings are there as usual.
type codesOnlyScanner interface {
	ScanCodesOnly(ctx context.Context, req plan.ScanRequest, codesOnly []string, fn func(*columnar.Batch) error) error
}

// nullColumns hands out all-NULL columns for a scan's unread columns,
// reusing their storage from batch to batch (nothing writes to a scan's
// columns). Tables may call the scan's callback from several goroutines.
type nullColumns struct {
	mu    sync.Mutex
	cols  map[int]*columnar.Column
	views map[[2]int]*columnar.Column // by column and rows: batches mostly have a few lengths
}

func (nc *nullColumns) get(i int, t columnar.Type, rows int) *columnar.Column {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if v := nc.views[[2]int{i, rows}]; v != nil && v.Type == t {
		return v
	}
	c := nc.cols[i]
	if c == nil || c.Type != t || len(c.Nulls) < rows {
		c = fn.NullColumn(t, max(rows, 8192))
		if nc.cols == nil {
			nc.cols = map[int]*columnar.Column{}
			nc.views = map[[2]int]*columnar.Column{}
		}
		nc.cols[i] = c
		clear(nc.views) // views of the column it replaces
	}
	v := *c
	v.Nulls = v.Nulls[:rows]
	switch {
	case t == columnar.Bool:
		v.Bools = v.Bools[:rows]
	case t.UsesInts():
		v.Ints = v.Ints[:rows]
	case t == columnar.Float64:
		v.Floats = v.Floats[:rows]
	case t == columnar.String:
		v.Strs = v.Strs[:rows]
	}
	if len(nc.views) < 256 {
		nc.views[[2]int{i, rows}] = &v
	}
	return &v
}

func (o *scanOp) run(ctx context.Context, emit func(*chunk) error) error {
	n := o.n
	if n.Table == nil {
		return fmt.Errorf("scan %s: no table", n.Name)
	}
	req := n.Req
	req.Columns = make([]string, 0, len(n.Columns))
	// The binder records in Req.Columns every column the query refers to
	// (nil: a plan built without a binder, which reads all); the table
	// reads only those (a store decodes only those, a lake table parses
	// only those), and the scan's other columns are NULL.
	referenced := func(name string) bool {
		return n.Req.Columns == nil || n.Latest || n.Counts || slices.Contains(n.Req.Columns, name)
	}
	for _, c := range n.Columns {
		if referenced(c.Name) {
			req.Columns = append(req.Columns, c.Name)
		}
	}
	var nulls nullColumns
	if len(req.Columns) == 0 {
		// count(*) needs no columns but still the row count: read the
		// narrowest column the table has.
		cols := n.Table.Columns()
		if len(cols) == 0 {
			return nil
		}
		pick := cols[0].Name
		for _, c := range cols {
			if c.Name == "time" {
				pick = c.Name
			}
		}
		req.Columns = []string{pick}
	}
	fnb := func(b *columnar.Batch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := b.Len()
		if rows == 0 {
			return nil
		}
		ch := &chunk{cols: make([]*columnar.Column, len(n.Columns)), n: rows}
		for i, c := range n.Columns {
			col := b.Col(c.Name)
			if k := len(n.Columns) - i; n.Counts && k <= 3 && len(b.Cols) >= 3 {
				// The counts are the batch's last three columns, whatever
				// a dimension of the same name would shadow.
				col = b.Cols[len(b.Cols)-k]
			}
			switch {
			case col == nil:
				col = nulls.get(i, c.Type, rows)
			case col.Type != c.Type:
				return fmt.Errorf("scan %s: column %q is %s, plan expects %s", n.Name, c.Name, col.Type, c.Type)
			case colLen(col) != rows:
				return fmt.Errorf("scan %s: column %q has %d rows, want %d", n.Name, c.Name, colLen(col), rows)
			}
			ch.cols[i] = col
		}
		return emit(ch)
	}
	var err error
	switch {
	case n.Latest:
		ls, ok := n.Table.(plan.LatestScanner)
		if !ok {
			return fmt.Errorf("scan %s: table has no latest-point path", n.Name)
		}
		err = ls.Latest(ctx, req, fnb)
	case n.Counts:
		sc, ok := n.Table.(plan.SeriesCounter)
		if !ok {
			return fmt.Errorf("scan %s: table has no series counts", n.Name)
		}
		err = sc.SeriesCounts(ctx, req, fnb)
	default:
		if cs, ok := n.Table.(codesOnlyScanner); ok && len(o.codesOnly) > 0 {
			err = cs.ScanCodesOnly(ctx, req, o.codesOnly, fnb)
		} else {
			err = n.Table.Scan(ctx, req, fnb)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *stopErr
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	return ctx.Err()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

type filterOp struct {
	in   op
	cond evaluator
}

// selection returns the rows where c is true; all is set when every row is.
func selection(c *columnar.Column, n int) (sel []int32, all bool) {
	if colLen(c) == 1 && n != 1 {
		if truthy(c, 0) {
			return nil, true
		}
		return []int32{}, false
	}
	// Branch-free: always write the index, advance only on true, so a
	// random predicate costs no mispredictions.
	sel = make([]int32, n)
	k := 0
	if c.Nulls == nil {
		for i, v := range c.Bools[:n] {
			sel[k] = int32(i)
			k += b2i(v)
		}
	} else {
		nulls := c.Nulls[:n]
		for i, v := range c.Bools[:n] {
			sel[k] = int32(i)
			k += b2i(v && !nulls[i])
		}
	}
	return sel[:k], k == n
}

func (o *filterOp) apply(ch *chunk) (*chunk, error) {
	c, err := o.cond.eval(ch)
	if err != nil {
		return nil, err
	}
	if c.Type != columnar.Bool && c.Type != columnar.Unknown {
		return nil, fmt.Errorf("filter condition is %s, not BOOLEAN", c.Type)
	}
	if c.Type == columnar.Unknown {
		return nil, nil
	}
	sel, all := selection(c, ch.n)
	if all {
		return ch, nil
	}
	if len(sel) == 0 {
		return nil, nil
	}
	return gatherChunk(ch, sel), nil
}

func (o *filterOp) run(ctx context.Context, emit func(*chunk) error) error {
	return o.in.run(ctx, func(ch *chunk) error {
		out, err := o.apply(ch)
		if err != nil || out == nil {
			return err
		}
		return emit(out)
	})
}

type projectOp struct {
	in    op
	exprs []evaluator
}

func (o *projectOp) apply(ch *chunk) (*chunk, error) {
	out := &chunk{cols: make([]*columnar.Column, len(o.exprs)), n: ch.n}
	for i, e := range o.exprs {
		c, err := e.eval(ch)
		if err != nil {
			return nil, err
		}
		out.cols[i] = expand(c, ch.n)
	}
	return out, nil
}

func (o *projectOp) run(ctx context.Context, emit func(*chunk) error) error {
	return o.in.run(ctx, func(ch *chunk) error {
		out, err := o.apply(ch)
		if err != nil {
			return err
		}
		return emit(out)
	})
}

type limitOp struct {
	in            op
	count, offset int64
}

func (o *limitOp) run(ctx context.Context, emit func(*chunk) error) error {
	if o.count == 0 {
		return nil
	}
	skip, left := o.offset, o.count
	stop := &stopErr{}
	err := o.in.run(ctx, func(ch *chunk) error {
		lo, hi := 0, ch.n
		if skip > 0 {
			k := min(skip, int64(hi))
			skip -= k
			lo = int(k)
		}
		if lo == hi {
			return nil
		}
		if left >= 0 && int64(hi-lo) >= left {
			hi = lo + int(left)
			left = 0
		} else if left >= 0 {
			left -= int64(hi - lo)
		}
		out := ch
		if lo != 0 || hi != ch.n {
			out = sliceChunk(ch, lo, hi)
		}
		if err := emit(out); err != nil {
			return err
		}
		if left == 0 {
			return stop
		}
		return nil
	})
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

type unionOp struct{ ins []op }

func (o *unionOp) run(ctx context.Context, emit func(*chunk) error) error {
	for _, in := range o.ins {
		if err := in.run(ctx, emit); err != nil {
			return err
		}
	}
	return nil
}

type valuesOp struct{ ch *chunk }

func (o *valuesOp) run(ctx context.Context, emit func(*chunk) error) error {
	if o.ch.n == 0 {
		return nil
	}
	return emit(o.ch)
}

func (q *query) compileValues(ctx context.Context, n *plan.Values) (op, error) {
	out := &chunk{cols: make([]*columnar.Column, len(n.Cols)), n: len(n.Rows)}
	for i, c := range n.Cols {
		out.cols[i] = columnar.NewColumn(c.Type, len(n.Rows))
	}
	one := &chunk{n: 1}
	for r, row := range n.Rows {
		if len(row) != len(n.Cols) {
			return nil, fmt.Errorf("VALUES row %d has %d values, want %d", r+1, len(row), len(n.Cols))
		}
		for i, e := range row {
			ev, err := q.compileExpr(ctx, e)
			if err != nil {
				return nil, err
			}
			c, err := ev.eval(one)
			if err != nil {
				return nil, err
			}
			if c.Type != n.Cols[i].Type && c.Type != columnar.Unknown {
				if c, err = fn.Cast(c, n.Cols[i].Type, false); err != nil {
					return nil, err
				}
			}
			if c.Type == columnar.Unknown {
				out.cols[i].AppendNull()
				continue
			}
			out.cols[i].AppendFrom(c, 0)
		}
	}
	return &valuesOp{ch: out}, nil
}

type tableFuncOp struct {
	name string
	f    TableFunc
	args []any
	in   op
	inT  []planColumn
	cols []planColumn
	q    *query
}

func (q *query) compileTableFunc(ctx context.Context, n *plan.TableFunc) (op, error) {
	name := strings.ToLower(n.Name)
	f := q.funcs[name]
	if f == nil {
		return nil, fmt.Errorf("unknown table function %s", n.Name)
	}
	o := &tableFuncOp{name: name, f: f, cols: n.Cols, q: q}
	one := &chunk{n: 1}
	for _, a := range n.Args {
		ev, err := q.compileExpr(ctx, a)
		if err != nil {
			return nil, err
		}
		c, err := ev.eval(one)
		if err != nil {
			return nil, fmt.Errorf("%s: argument: %w", name, err)
		}
		o.args = append(o.args, c.Value(0))
	}
	if n.Input != nil {
		in, err := q.compile(ctx, n.Input)
		if err != nil {
			return nil, err
		}
		o.in, o.inT = in, n.Input.Schema()
	}
	return o, nil
}

func (o *tableFuncOp) run(ctx context.Context, emit func(*chunk) error) error {
	var input *columnar.Batch
	if o.in != nil {
		buf := newBuffer(schemaTypes(o.inT))
		tr := o.q.track("table function " + o.name + " input")
		defer tr.close()
		if err := o.in.run(ctx, func(ch *chunk) error { return tr.add(buf.add(ch)) }); err != nil {
			return err
		}
		input = &columnar.Batch{Cols: buf.cols}
		for _, c := range o.inT {
			input.Names = append(input.Names, c.Name)
		}
		if len(buf.cols) == 0 {
			input.Cols = nil
		}
	}
	b, err := o.f(ctx, o.args, input)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	if b == nil || b.Len() == 0 {
		return nil
	}
	if len(b.Cols) != len(o.cols) {
		return fmt.Errorf("%s returned %d columns, plan expects %d", o.name, len(b.Cols), len(o.cols))
	}
	if err := b.Validate(); err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	for i, c := range b.Cols {
		if c.Type != o.cols[i].Type {
			return fmt.Errorf("%s: column %d is %s, plan expects %s", o.name, i+1, c.Type, o.cols[i].Type)
		}
	}
	ch := &chunk{cols: b.Cols, n: b.Len()}
	for lo := 0; lo < ch.n; lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(sliceChunk(ch, lo, min(lo+chunkRows, ch.n))); err != nil {
			return err
		}
	}
	return nil
}

// emitBuffer sends rows [0, n) of cols in chunks, checking ctx between them.
func emitChunks(ctx context.Context, ch *chunk, emit func(*chunk) error) error {
	for lo := 0; lo < ch.n; lo += chunkRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := emit(sliceChunk(ch, lo, min(lo+chunkRows, ch.n))); err != nil {
			return err
		}
	}
	return nil
}
