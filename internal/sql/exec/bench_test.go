package exec_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// Benchmarks run over in-memory tables whose batches are handed out as
// they are (no copy), so they measure the executor, not a storage engine.
//
//	go test -run XXX -bench . -benchtime 3x -count 1 ./internal/sql/exec/

var (
	benchOnce sync.Once
	bigTable  *memTable // 10M rows: k BIGINT (1000 keys), x DOUBLE in [0,1)
	probe1M   *memTable // 1M rows: k BIGINT (1000 keys), x DOUBLE
	build1k   *memTable // 1k rows: k BIGINT unique, y BIGINT
)

func benchTables() {
	benchOnce.Do(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		mk := func(rows, keys int, unique bool) *memTable {
			t := &memTable{cols: []plan.Column{{Name: "k", Type: columnar.Int64}, {Name: "x", Type: columnar.Float64}}}
			const page = 8192
			for lo := 0; lo < rows; lo += page {
				n := min(page, rows-lo)
				b := &columnar.Batch{}
				k := b.Add("k", columnar.NewColumn(columnar.Int64, n))
				x := b.Add("x", columnar.NewColumn(columnar.Float64, n))
				for i := 0; i < n; i++ {
					if unique {
						k.AppendInt(int64(lo + i))
					} else {
						k.AppendInt(int64(rng.IntN(keys)))
					}
					x.AppendFloat(rng.Float64())
				}
				t.pages = append(t.pages, b)
			}
			return t
		}
		bigTable = mk(10_000_000, 1000, false)
		probe1M = mk(1_000_000, 1000, false)
		build1k = mk(1000, 0, true)
	})
}

func runBench(b *testing.B, n plan.Node, opts exec.Options, rowsIn int) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rows := 0
		err := exec.Run(context.Background(), n, opts, func(bt *columnar.Batch) error { rows += bt.Len(); return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	secs := time.Since(start).Seconds()
	rate := float64(rowsIn) * float64(b.N) / secs
	b.ReportMetric(rate, "rows/s")
	cores := opts.Parallelism
	if cores <= 0 {
		cores = 1
	}
	b.ReportMetric(rate/float64(cores), "rows/s/core")
}

// BenchmarkFilterSum: SELECT sum(x) FROM t WHERE x > 0.5 over 10M DOUBLEs.
func BenchmarkFilterSum(b *testing.B) {
	benchTables()
	// The binder prunes the scan to the one column the query reads.
	x := col(0, columnar.Float64)
	s := scan(bigTable)
	s.Columns = s.Columns[1:]
	n := &plan.Aggregate{
		Input: &plan.Filter{Input: s, Cond: call(">", columnar.Bool, x, lit(0.5, columnar.Float64))},
		Aggs:  []plan.AggCall{{Name: "sum", Args: []plan.Expr{x}, T: columnar.Float64}}, Names: []string{"s"},
	}
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) { runBench(b, n, exec.Options{Parallelism: par}, 10_000_000) })
	}
}

// BenchmarkGroupBy: SELECT k, count(*), sum(x), avg(x) FROM t GROUP BY k
// (1000 keys, 10M rows).
func BenchmarkGroupBy(b *testing.B) {
	benchTables()
	x := col(1, columnar.Float64)
	n := &plan.Aggregate{
		Input: scan(bigTable), GroupBy: []plan.Expr{col(0, columnar.Int64)},
		Aggs: []plan.AggCall{{Name: "count", Star: true, T: columnar.Int64}, {Name: "sum", Args: []plan.Expr{x}, T: columnar.Float64},
			{Name: "avg", Args: []plan.Expr{x}, T: columnar.Float64}},
		Names: []string{"k", "c", "s", "a"},
	}
	for _, par := range []int{1, 2} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) { runBench(b, n, exec.Options{Parallelism: par}, 10_000_000) })
	}
}

// BenchmarkHashJoin: 1M probe rows joined with 1k build rows on k.
func BenchmarkHashJoin(b *testing.B) {
	benchTables()
	n := &plan.Join{Left: scan(probe1M), Right: scan(build1k), Kind: plan.InnerJoin,
		LeftKeys: []plan.Expr{col(0, columnar.Int64)}, RightKeys: []plan.Expr{col(0, columnar.Int64)}}
	runBench(b, n, exec.Options{Parallelism: 1}, 1_000_000)
}

// BenchmarkSort: ORDER BY x over 1M rows.
func BenchmarkSort(b *testing.B) {
	benchTables()
	n := &plan.Sort{Input: scan(probe1M), Keys: []plan.SortKey{{Expr: col(1, columnar.Float64)}}}
	runBench(b, n, exec.Options{Parallelism: 1}, 1_000_000)
}

// BenchmarkTopN: ORDER BY x DESC LIMIT 10 over 10M rows.
func BenchmarkTopN(b *testing.B) {
	benchTables()
	n := &plan.TopN{Input: scan(bigTable), Keys: []plan.SortKey{{Expr: col(1, columnar.Float64), Desc: true}}, Count: 10}
	runBench(b, n, exec.Options{Parallelism: 1}, 10_000_000)
}
