package exec_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

var (
	tB = columnar.Bool
	tI = columnar.Int64
	tF = columnar.Float64
	tS = columnar.String
)

// threeRows is a batch with a = (1, 0, NULL), b = (true, NULL, false), s = ('x', NULL, 'y').
func threeRows() *columnar.Batch {
	b := &columnar.Batch{}
	a := b.Add("a", columnar.NewColumn(tI, 3))
	a.AppendInt(1)
	a.AppendInt(0)
	a.AppendNull()
	bb := b.Add("b", columnar.NewColumn(tB, 3))
	bb.AppendBool(true)
	bb.AppendNull()
	bb.AppendBool(false)
	s := b.Add("s", columnar.NewColumn(tS, 3))
	s.AppendString("x")
	s.AppendNull()
	s.AppendString("y")
	return b
}

func TestEvalSemantics(t *testing.T) {
	a, b, s := col(0, tI), col(1, tB), col(2, tS)
	null := lit(nil, columnar.Unknown)
	for _, tc := range []struct {
		name string
		e    plan.Expr
		want string // values of the three rows
	}{
		{"and", call("and", tB, b, lit(true, tB)), "true|NULL|false"},
		{"and false", call("and", tB, b, lit(false, tB)), "false|false|false"},
		{"or", call("or", tB, b, lit(false, tB)), "true|NULL|false"},
		{"or true", call("or", tB, b, lit(true, tB)), "true|true|true"},
		{"not", call("not", tB, b), "false|NULL|true"},
		{"cmp null", call("=", tB, a, null), "NULL|NULL|NULL"},
		{"cmp", call(">", tB, a, lit(int64(0), tI)), "true|false|NULL"},
		{"int vs double", call("<", tB, a, lit(0.5, tF)), "false|true|NULL"},
		{"is null", call("is null", tB, a), "false|false|true"},
		{"in", &plan.InList{X: a, List: []plan.Expr{lit(int64(1), tI), lit(int64(5), tI)}}, "true|false|NULL"},
		{"in with null", &plan.InList{X: a, List: []plan.Expr{lit(int64(1), tI), null}}, "true|NULL|NULL"},
		{"not in with null", &plan.InList{X: a, List: []plan.Expr{lit(int64(1), tI), null}, Not: true}, "false|NULL|NULL"},
		{"not in", &plan.InList{X: a, List: []plan.Expr{lit(int64(7), tI)}, Not: true}, "true|true|NULL"},
		{"in column", &plan.InList{X: lit(int64(0), tI), List: []plan.Expr{a}}, "false|true|NULL"},
		{"in double list", &plan.InList{X: a, List: []plan.Expr{lit(1.0, tF)}}, "true|false|NULL"},
		// CASE evaluates a branch only where it is taken: no division by zero.
		{"case lazy", &plan.Case{Whens: []plan.When{{Cond: call("=", tB, a, lit(int64(0), tI)), Then: lit(int64(-1), tI)}},
			Else: call("/", tI, lit(int64(10), tI), a), T: tI}, "10|-1|NULL"},
		{"if lazy", call("if", tI, call("<>", tB, a, lit(int64(0), tI)), call("/", tI, lit(int64(10), tI), a), lit(int64(0), tI)), "10|0|0"},
		{"and short-circuits errors", call("and", tB, call("<>", tB, a, lit(int64(0), tI)), call(">", tB, call("/", tI, lit(int64(10), tI), a), lit(int64(1), tI))), "true|false|NULL"},
		{"case no else", &plan.Case{Whens: []plan.When{{Cond: b, Then: s}}, T: tS}, "x|NULL|NULL"},
		{"coalesce", call("coalesce", tS, s, lit("z", tS)), "x|z|y"},
		{"concat", call("||", tS, s, lit("!", tS)), "x!|NULL|y!"},
		{"like", call("like", tB, s, lit("x%", tS)), "true|NULL|false"},
		{"cast", &plan.Cast{X: a, T: tS}, "1|0|NULL"},
		{"try", call("try", tI, call("/", tI, lit(int64(10), tI), a)), "10|NULL|NULL"},
		{"const folding", call("+", tI, lit(int64(1), tI), lit(int64(2), tI)), "3|3|3"},
		{"now", call("now", columnar.Timestamp), "1716999990000000000|1716999990000000000|1716999990000000000"},
		{"ago", call("ago", columnar.Timestamp, lit(int64(60e9), columnar.Interval)), "1716999930000000000|1716999930000000000|1716999930000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := exec.Eval(context.Background(), tc.e, threeRows(), exec.Options{Now: func() time.Time { return time.Unix(1716999990, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := 0; i < 3; i++ {
				got = append(got, fmtVal(c.Value(i)))
			}
			if g := strings.Join(got, "|"); g != tc.want {
				t.Fatalf("got %s, want %s", g, tc.want)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	a := col(0, tI)
	for _, tc := range []struct {
		e    plan.Expr
		want string
	}{
		{call("/", tI, lit(int64(1), tI), a), "division by zero"},
		{call("+", tI, a, lit(int64(math.MaxInt64), tI)), "bigint overflow"},
		{&plan.Cast{X: lit("abc", tS), T: tI}, "cannot cast VARCHAR 'abc' to BIGINT"},
		{call("nope", tI, a), "unknown function"},
	} {
		_, err := exec.Eval(context.Background(), tc.e, threeRows(), exec.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.e, err, tc.want)
		}
	}
	// Division by zero over DOUBLE is IEEE.
	c, err := exec.Eval(context.Background(), call("/", tF, lit(1.0, tF), lit(0.0, tF)), threeRows(), exec.Options{})
	if err != nil || !math.IsInf(c.Floats[0], 1) {
		t.Fatalf("1.0/0.0 = %v, %v", c, err)
	}
}

func TestAggregateNullsAndEmpty(t *testing.T) {
	cols := []plan.Column{{Name: "k", Type: tS}, {Name: "v", Type: tI}}
	empty := newTable(cols, nil, 10)
	aggs := []plan.AggCall{
		{Name: "count", Star: true, T: tI}, {Name: "count", Args: []plan.Expr{col(1, tI)}, T: tI},
		{Name: "sum", Args: []plan.Expr{col(1, tI)}, T: tI}, {Name: "max", Args: []plan.Expr{col(1, tI)}, T: tI},
		{Name: "avg", Args: []plan.Expr{col(1, tI)}, T: tF},
	}
	names := []string{"a", "b", "c", "d", "e"}
	got := collect(t, &plan.Aggregate{Input: scan(empty), Aggs: aggs, Names: names}, exec.Options{})
	if fmtRow(got[0]) != "0|0|NULL|NULL|NULL" || len(got) != 1 {
		t.Fatalf("empty no-group aggregate: %v", got)
	}
	got = collect(t, &plan.Aggregate{Input: scan(empty), GroupBy: []plan.Expr{col(0, tS)}, Aggs: aggs, Names: append([]string{"k"}, names...)}, exec.Options{})
	if len(got) != 0 {
		t.Fatalf("empty grouped aggregate: %v", got)
	}
	tbl := newTable(cols, [][]any{{nil, int64(1)}, {"a", nil}, {nil, int64(2)}, {"a", int64(5)}, {"b", nil}}, 2)
	got = collect(t, &plan.Aggregate{Input: scan(tbl), GroupBy: []plan.Expr{col(0, tS)}, Aggs: aggs, Names: append([]string{"k"}, names...)}, exec.Options{})
	sameRows(t, "nulls", got, [][]any{{nil, int64(2), int64(2), int64(3), int64(2), 1.5}, {"a", int64(2), int64(1), int64(5), int64(5), 5.0}, {"b", int64(1), int64(0), nil, nil, nil}})

	big := newTable(cols, [][]any{{"a", int64(math.MaxInt64)}, {"a", int64(1)}}, 1)
	_, err := exec.Collect(context.Background(), &plan.Aggregate{Input: scan(big), Aggs: aggs[2:3], Names: names[:1]}, exec.Options{})
	if err == nil || !strings.Contains(err.Error(), "bigint overflow") {
		t.Fatalf("sum overflow: %v", err)
	}
}

func TestValuesSubqueriesAndLimit(t *testing.T) {
	// SELECT 1 + 1: a projection over one empty row.
	one := &plan.Values{Rows: [][]plan.Expr{{}}}
	got := collect(t, &plan.Project{Input: one, Exprs: []plan.Expr{call("+", tI, lit(int64(1), tI), lit(int64(1), tI))}, Names: []string{"_col0"}}, exec.Options{})
	if len(got) != 1 || fmtRow(got[0]) != "2" {
		t.Fatalf("SELECT 1+1: %v", got)
	}
	cols := []plan.Column{{Name: "v", Type: tI}}
	var rows [][]any
	for i := 0; i < 100; i++ {
		rows = append(rows, []any{int64(i)})
	}
	tbl := newTable(cols, rows, 10)
	maxSub := &plan.Subquery{Kind: "scalar", Plan: &plan.Aggregate{Input: scan(tbl), Aggs: []plan.AggCall{{Name: "max", Args: []plan.Expr{col(0, tI)}, T: tI}}, Names: []string{"m"}}, T: tI}
	got = collect(t, &plan.Filter{Input: scan(tbl), Cond: call("=", tB, col(0, tI), maxSub)}, exec.Options{})
	if len(got) != 1 || got[0][0] != int64(99) {
		t.Fatalf("scalar subquery: %v", got)
	}
	multi := &plan.Subquery{Kind: "scalar", Plan: scan(tbl), T: tI}
	_, err := exec.Collect(context.Background(), &plan.Filter{Input: scan(tbl), Cond: call("=", tB, col(0, tI), multi)}, exec.Options{})
	if err == nil || !strings.Contains(err.Error(), "more than one row") {
		t.Fatalf("scalar subquery with many rows: %v", err)
	}
	small := &plan.Filter{Input: scan(tbl), Cond: call("<", tB, col(0, tI), lit(int64(3), tI))}
	in := &plan.Subquery{Kind: "in", X: col(0, tI), Plan: small, T: tB}
	if got = collect(t, &plan.Filter{Input: scan(tbl), Cond: in}, exec.Options{}); len(got) != 3 {
		t.Fatalf("IN subquery: %v", got)
	}
	notIn := &plan.Subquery{Kind: "in", X: col(0, tI), Plan: small, Not: true, T: tB}
	if got = collect(t, &plan.Filter{Input: scan(tbl), Cond: notIn}, exec.Options{}); len(got) != 97 {
		t.Fatalf("NOT IN subquery: %d rows", len(got))
	}
	before := tbl.batches.Load()
	exists := &plan.Subquery{Kind: "exists", Plan: scan(tbl), T: tB}
	sel1 := func(in plan.Node) plan.Node {
		return &plan.Project{Input: in, Exprs: []plan.Expr{lit(int64(1), tI)}, Names: []string{"one"}}
	}
	if got = collect(t, sel1(&plan.Filter{Input: one, Cond: exists}), exec.Options{}); len(got) != 1 {
		t.Fatalf("EXISTS: %v", got)
	}
	if n := tbl.batches.Load() - before; n != 1 {
		t.Fatalf("EXISTS read %d batches, want 1", n)
	}
	// LIMIT stops the scan once satisfied.
	before = tbl.batches.Load()
	got = collect(t, &plan.Limit{Input: scan(tbl), Count: 15, Offset: 3}, exec.Options{})
	if len(got) != 15 || got[0][0] != int64(3) || got[14][0] != int64(17) {
		t.Fatalf("limit: %v", got)
	}
	if n := tbl.batches.Load() - before; n != 2 {
		t.Fatalf("LIMIT 15 OFFSET 3 read %d batches of 10, want 2", n)
	}
	got = collect(t, &plan.Union{Inputs: []plan.Node{scan(tbl), &plan.Limit{Input: scan(tbl), Count: 1}}}, exec.Options{})
	if len(got) != 101 {
		t.Fatalf("union: %d", len(got))
	}
}

func TestSubqueryRunsOnceInParallelAggregate(t *testing.T) {
	cols := []plan.Column{{Name: "v", Type: tI}}
	var rows [][]any
	for i := 0; i < 1000; i++ {
		rows = append(rows, []any{int64(i)})
	}
	big, small := newTable(cols, rows, 50), newTable(cols, rows[:10], 100)
	limit := &plan.Subquery{Kind: "scalar", Plan: &plan.Aggregate{Input: scan(small), Aggs: []plan.AggCall{{Name: "max", Args: []plan.Expr{col(0, tI)}, T: tI}}, Names: []string{"m"}}, T: tI}
	n := &plan.Aggregate{
		Input: &plan.Project{Input: &plan.Filter{Input: scan(big), Cond: call("<=", tB, col(0, tI), limit)},
			Exprs: []plan.Expr{call("*", tI, col(0, tI), lit(int64(2), tI))}, Names: []string{"v2"}},
		Aggs:  []plan.AggCall{{Name: "count", Star: true, T: tI}, {Name: "sum", Args: []plan.Expr{col(0, tI)}, T: tI}},
		Names: []string{"c", "s"},
	}
	got := collect(t, n, exec.Options{Parallelism: 4})
	if fmtRow(got[0]) != "10|90" {
		t.Fatalf("got %v", got)
	}
	if b := small.batches.Load(); b != 1 {
		t.Fatalf("subquery table read %d times, want once", b)
	}
}

func TestTableFunc(t *testing.T) {
	cols := []plan.Column{{Name: "v", Type: tI}}
	tbl := newTable(cols, [][]any{{int64(1)}, {int64(2)}}, 10)
	funcs := map[string]exec.TableFunc{
		"double_it": func(ctx context.Context, args []any, in *columnar.Batch) (*columnar.Batch, error) {
			out := &columnar.Batch{}
			c := out.Add("v", columnar.NewColumn(tI, 0))
			for i := 0; i < in.Len(); i++ {
				c.AppendInt(in.Cols[0].Ints[i] * args[0].(int64))
			}
			return out, nil
		},
	}
	got := collect(t, &plan.TableFunc{Name: "DOUBLE_IT", Args: []plan.Expr{lit(int64(3), tI)}, Input: scan(tbl), Cols: cols}, exec.Options{TableFuncs: funcs})
	if fmt.Sprint(got) != "[[3] [6]]" {
		t.Fatalf("got %v", got)
	}
	if _, err := exec.Collect(context.Background(), &plan.TableFunc{Name: "nope", Cols: cols}, exec.Options{}); err == nil {
		t.Fatal("unknown table function should fail")
	}
}

func TestMemoryLimit(t *testing.T) {
	rng := seeded(t)
	rows := randRows(rng, 50000, 1000)
	tbl := newTable(randCols, rows, 1000)
	opts := exec.Options{MemoryLimit: 256 << 10}
	for _, n := range []plan.Node{
		&plan.Sort{Input: scan(tbl), Keys: []plan.SortKey{{Expr: col(3, tI)}}},
		&plan.Aggregate{Input: scan(tbl), GroupBy: []plan.Expr{col(3, tI)}, Aggs: []plan.AggCall{{Name: "count", Star: true, T: tI}}, Names: []string{"y", "c"}},
		&plan.Distinct{Input: scan(tbl)},
		&plan.Join{Left: scan(tbl), Right: scan(tbl), Kind: plan.InnerJoin, LeftKeys: []plan.Expr{col(0, tI)}, RightKeys: []plan.Expr{col(0, tI)}},
		&plan.Window{Input: scan(tbl), Funcs: []plan.WindowCall{{Name: "row_number", T: tI}}, Names: []string{"r"}},
	} {
		for _, par := range []int{1, 4} {
			_, err := exec.Collect(context.Background(), n, exec.Options{MemoryLimit: opts.MemoryLimit, Parallelism: par})
			if !errors.Is(err, exec.ErrMemoryLimit) || !strings.Contains(err.Error(), "262144") {
				t.Errorf("%s: got %v, want ErrMemoryLimit naming the limit", n, err)
			}
		}
	}
	// The same queries fit the default limit.
	collect(t, &plan.Sort{Input: scan(tbl), Keys: []plan.SortKey{{Expr: col(3, tI)}}}, exec.Options{})
}

func TestCancellation(t *testing.T) {
	cols := []plan.Column{{Name: "v", Type: tI}}
	var rows [][]any
	for i := 0; i < 10000; i++ {
		rows = append(rows, []any{int64(i)})
	}
	for _, name := range []string{"scan", "sort", "aggregate", "parallel aggregate", "join"} {
		t.Run(name, func(t *testing.T) {
			tbl := newTable(cols, rows, 10) // 1000 batches, 10ms each: 10s if not cancelled
			tbl.delay = 10 * time.Millisecond
			var n plan.Node = scan(tbl)
			par := 1
			switch name {
			case "sort":
				n = &plan.Sort{Input: n, Keys: []plan.SortKey{{Expr: col(0, tI)}}}
			case "aggregate", "parallel aggregate":
				n = &plan.Aggregate{Input: n, GroupBy: []plan.Expr{col(0, tI)}, Aggs: []plan.AggCall{{Name: "count", Star: true, T: tI}}, Names: []string{"v", "c"}}
				if name == "parallel aggregate" {
					par = 4
				}
			case "join":
				n = &plan.Join{Left: n, Right: &plan.Values{Cols: cols, Rows: [][]plan.Expr{{lit(int64(1), tI)}}}, Kind: plan.InnerJoin,
					LeftKeys: []plan.Expr{col(0, tI)}, RightKeys: []plan.Expr{col(0, tI)}}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := exec.Run(ctx, n, exec.Options{Parallelism: par}, func(*columnar.Batch) error { return nil })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v to stop", d)
			}
		})
	}
}

func TestCallbackErrorStopsQuery(t *testing.T) {
	tbl := newTable([]plan.Column{{Name: "v", Type: tI}}, [][]any{{int64(1)}, {int64(2)}}, 1)
	boom := errors.New("boom")
	err := exec.Run(context.Background(), scan(tbl), exec.Options{}, func(*columnar.Batch) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if n := tbl.batches.Load(); n != 1 {
		t.Fatalf("scan went on for %d batches", n)
	}
}

type latestTable struct{ *memTable }

func (t latestTable) Latest(ctx context.Context, req plan.ScanRequest, fn func(*columnar.Batch) error) error {
	b := &columnar.Batch{}
	c := b.Add("v", columnar.NewColumn(tI, 1))
	c.AppendInt(42)
	return fn(b)
}

func TestLatestScan(t *testing.T) {
	tbl := latestTable{newTable([]plan.Column{{Name: "v", Type: tI}}, [][]any{{int64(1)}}, 1)}
	s := &plan.Scan{Table: tbl, Columns: tbl.cols, Latest: true}
	if got := collect(t, s, exec.Options{}); fmt.Sprint(got) != "[[42]]" {
		t.Fatalf("got %v", got)
	}
	s.Table = tbl.memTable
	if _, err := exec.Collect(context.Background(), s, exec.Options{}); err == nil {
		t.Fatal("latest on a table without the fast path should fail")
	}
}
