package exec_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/fn"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// memTable is a plan.Table over batches held in memory. With reuse set it
// behaves like the storage engine: every batch handed out is the same
// object, overwritten for the next call, so an operator that keeps a batch
// without copying it sees garbage.
type memTable struct {
	cols    []plan.Column
	pages   []*columnar.Batch
	reuse   bool
	delay   time.Duration // per batch, for cancellation tests
	batches atomic.Int64  // batches handed out
}

func (t *memTable) Columns() []plan.Column { return t.cols }

func (t *memTable) Scan(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	var scratch *columnar.Batch
	for _, p := range t.pages {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.delay > 0 {
			select {
			case <-time.After(t.delay):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		out := &columnar.Batch{}
		for _, name := range req.Columns {
			c := p.Col(name)
			if c == nil {
				return fmt.Errorf("memTable: no column %q", name)
			}
			out.Add(name, c)
		}
		if t.reuse {
			if scratch == nil {
				scratch = &columnar.Batch{}
				for i, name := range out.Names {
					scratch.Add(name, columnar.NewColumn(out.Cols[i].Type, 0))
				}
			}
			for i, c := range out.Cols {
				d := scratch.Cols[i]
				d.Reset()
				for r := 0; r < c.Len(); r++ {
					d.AppendFrom(c, r)
				}
			}
			out = scratch
		}
		t.batches.Add(1)
		if err := fn(out); err != nil {
			return fmt.Errorf("memTable: %w", err)
		}
		if t.reuse {
			// Scribble over the batch as a storage engine reusing it would.
			for _, c := range scratch.Cols {
				for i := range c.Ints {
					c.Ints[i] = -999
				}
				for i := range c.Floats {
					c.Floats[i] = -999
				}
				for i := range c.Strs {
					c.Strs[i] = "garbage"
				}
			}
		}
	}
	return nil
}

// newTable splits rows (one []any per row, values as Column.Value gives
// them) into pages of pageRows.
func newTable(cols []plan.Column, rows [][]any, pageRows int) *memTable {
	t := &memTable{cols: cols, reuse: true}
	for lo := 0; lo < len(rows) || lo == 0; lo += pageRows {
		hi := min(lo+pageRows, len(rows))
		b := &columnar.Batch{}
		for ci, c := range cols {
			col := columnar.NewColumn(c.Type, hi-lo)
			for _, r := range rows[lo:hi] {
				appendValue(col, r[ci])
			}
			b.Add(c.Name, col)
		}
		t.pages = append(t.pages, b)
		if len(rows) == 0 {
			break
		}
	}
	return t
}

func appendValue(c *columnar.Column, v any) {
	switch x := v.(type) {
	case nil:
		c.AppendNull()
	case bool:
		c.AppendBool(x)
	case int64:
		c.AppendInt(x)
	case float64:
		c.AppendFloat(x)
	case string:
		c.AppendString(x)
	default:
		panic(fmt.Sprintf("appendValue %T", v))
	}
}

func scan(t *memTable) *plan.Scan {
	return &plan.Scan{Table: t, Name: "t", Columns: t.cols, Req: plan.ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}}
}

func col(i int, t columnar.Type) *plan.ColRef {
	return &plan.ColRef{Index: i, Name: fmt.Sprintf("c%d", i), T: t}
}
func lit(v any, t columnar.Type) *plan.Const { return &plan.Const{Val: v, T: t} }
func call(name string, t columnar.Type, args ...plan.Expr) *plan.Call {
	return &plan.Call{Name: name, Args: args, T: t}
}

// rowsOf flattens a batch into rows of values.
func rowsOf(b *columnar.Batch) [][]any {
	out := make([][]any, b.Len())
	for i := range out {
		out[i] = make([]any, len(b.Cols))
		for j, c := range b.Cols {
			out[i][j] = c.Value(i)
		}
	}
	return out
}

func collect(t testing.TB, n plan.Node, opts exec.Options) [][]any {
	t.Helper()
	b, err := exec.Collect(context.Background(), n, opts)
	if err != nil {
		t.Fatalf("Collect: %v\n%s", err, plan.Explain(n))
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	return rowsOf(b)
}

// fmtVal renders a value for comparisons; doubles are rounded so that
// summation order does not matter.
func fmtVal(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case float64:
		if math.IsNaN(x) {
			return "NaN"
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return fmt.Sprintf("%.0f", x)
		}
		return fmt.Sprintf("%.6g", x)
	}
	return fmt.Sprint(v)
}

func fmtRow(r []any) string {
	s := make([]string, len(r))
	for i, v := range r {
		s[i] = fmtVal(v)
	}
	return strings.Join(s, "|")
}

// sameRows compares as multisets (order ignored); doubles that are not
// multiples of 1/8 compare with a relative tolerance.
func sameRows(t testing.TB, what string, got, want [][]any) {
	t.Helper()
	key := func(r []any) string {
		s := make([]string, len(r))
		for i, v := range r {
			if f, ok := v.(float64); ok && f*8 != math.Trunc(f*8) {
				s[i] = "~"
				continue
			}
			s[i] = fmtVal(v)
		}
		return strings.Join(s, "|")
	}
	sortRows := func(rows [][]any) [][]any {
		type kr struct {
			k string
			r []any
		}
		ks := make([]kr, len(rows))
		for i, r := range rows {
			ks[i] = kr{key(r), r}
		}
		sort.SliceStable(ks, func(i, j int) bool { return ks[i].k < ks[j].k })
		out := make([][]any, len(rows))
		for i := range ks {
			out[i] = ks[i].r
		}
		return out
	}
	g, w := sortRows(got), sortRows(want)
	if len(g) != len(w) {
		t.Fatalf("%s: got %d rows, want %d\n got: %v\nwant: %v", what, len(g), len(w), head(rowStrings(g)), head(rowStrings(w)))
	}
	for i := range g {
		if !sameRow(g[i], w[i]) {
			t.Fatalf("%s: row %d differs\n got: %s\nwant: %s", what, i, fmtRow(g[i]), fmtRow(w[i]))
		}
	}
}

func sameRow(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, xok := a[i].(float64)
		y, yok := b[i].(float64)
		if xok && yok {
			if x == y || (math.IsNaN(x) && math.IsNaN(y)) || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
				continue
			}
			return false
		}
		if fmtVal(a[i]) != fmtVal(b[i]) {
			return false
		}
	}
	return true
}

func sameOrdered(t testing.TB, what string, g, w []string) {
	t.Helper()
	if len(g) != len(w) {
		t.Fatalf("%s: got %d rows, want %d\n got: %v\nwant: %v", what, len(g), len(w), head(g), head(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("%s: row %d differs\n got: %s\nwant: %s", what, i, g[i], w[i])
		}
	}
}

func head(s []string) []string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func rowStrings(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmtRow(r)
	}
	return out
}

// randRows makes rows of (k BIGINT with NULLs, s VARCHAR with NULLs,
// x DOUBLE with NULLs, y BIGINT, b BOOLEAN with NULLs).
var randCols = []plan.Column{
	{Name: "k", Type: columnar.Int64}, {Name: "s", Type: columnar.String},
	{Name: "x", Type: columnar.Float64}, {Name: "y", Type: columnar.Int64}, {Name: "b", Type: columnar.Bool},
}

func randRows(rng *rand.Rand, n, keys int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		var k, s, x, b any
		if rng.IntN(10) > 0 {
			k = int64(rng.IntN(keys))
		}
		if rng.IntN(10) > 0 {
			s = fmt.Sprintf("s%d", rng.IntN(keys))
		}
		if rng.IntN(8) > 0 {
			x = float64(rng.IntN(2000)-1000) / 8
		}
		if rng.IntN(6) > 0 {
			b = rng.IntN(2) == 0
		}
		rows[i] = []any{k, s, x, int64(rng.IntN(100000)), b}
	}
	return rows
}

// cmpAny orders two non-NULL values of one type.
func cmpAny(a, b any) int {
	switch x := a.(type) {
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case float64:
		return fn.CompareFloat(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	panic(fmt.Sprintf("cmpAny %T", a))
}

// refCmp orders rows by (column index, desc, nullsFirst) keys.
type refKey struct {
	col              int
	desc, nullsFirst bool
}

func refCmp(a, b []any, keys []refKey) int {
	for _, k := range keys {
		x, y := a[k.col], b[k.col]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil:
			if k.nullsFirst {
				return -1
			}
			return 1
		case y == nil:
			if k.nullsFirst {
				return 1
			}
			return -1
		}
		c := cmpAny(x, y)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
