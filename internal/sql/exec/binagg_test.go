package exec_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// TestBinGroups checks GROUP BY bin(time, w) (found by bucket arithmetic)
// against the same grouping through a cast, which the executor hashes:
// series in time order, shuffled times, negative times, NULL times, and
// buckets too far apart for the dense array.
func TestBinGroups(t *testing.T) {
	const tT, tF = columnar.Timestamp, columnar.Float64
	cols := []plan.Column{{Name: "time", Type: tT}, {Name: "v", Type: tF}}
	mk := func(name string, rows [][]any) (string, *memTable) { return name, newTable(cols, rows, 1000) }
	rng := rand.New(rand.NewPCG(4, 5))
	var series, shuffled, negative, nulls, sparse [][]any
	for s := 0; s < 20; s++ {
		for i := 0; i < 500; i++ {
			series = append(series, []any{int64(1_700_000_000e9 + i*1e9), float64(rng.IntN(100))})
		}
	}
	for i := 0; i < 5000; i++ {
		shuffled = append(shuffled, []any{rng.Int64N(1e13), float64(rng.IntN(100))})
		negative = append(negative, []any{rng.Int64N(2e12) - 1e12, float64(rng.IntN(100))})
		var tm any = rng.Int64N(1e12)
		if i%7 == 0 {
			tm = nil
		}
		nulls = append(nulls, []any{tm, float64(rng.IntN(100))})
		sparse = append(sparse, []any{rng.Int64N(1 << 62), float64(rng.IntN(100))})
	}
	tables := map[string]*memTable{}
	for _, x := range []struct {
		name string
		rows [][]any
	}{{"series", series}, {"shuffled", shuffled}, {"negative", negative}, {"nulls", nulls}, {"sparse", sparse}} {
		n, tb := mk(x.name, x.rows)
		tables[n] = tb
	}
	v := col(1, tF)
	aggs := []plan.AggCall{{Name: "count", Star: true, T: columnar.Int64}, {Name: "sum", Args: []plan.Expr{v}, T: tF},
		{Name: "avg", Args: []plan.Expr{v}, T: tF}, {Name: "min", Args: []plan.Expr{v}, T: tF}, {Name: "max", Args: []plan.Expr{v}, T: tF}}
	names := []string{"b", "c", "s", "a", "mn", "mx"}
	for name, tb := range tables {
		for _, w := range []int64{1e9, 60e9, 3600e9, 7} {
			for _, par := range []int{1, 2} {
				bin := call("bin", tT, col(0, tT), lit(w, columnar.Interval))
				fast := &plan.Aggregate{Input: scan(tb), GroupBy: []plan.Expr{bin}, Aggs: aggs, Names: names}
				slow := &plan.Aggregate{Input: scan(tb), GroupBy: []plan.Expr{&plan.Cast{X: bin, T: tT}}, Aggs: aggs, Names: names}
				what := fmt.Sprintf("%s w=%d par=%d", name, w, par)
				sameRows(t, what, collect(t, fast, exec.Options{Parallelism: par}), collect(t, slow, exec.Options{Parallelism: par}))
			}
		}
	}
}

// BenchmarkBinGroupBy: SELECT bin(time, 1m), avg(v) FROM t GROUP BY 1 over
// 1M rows of 100 series × 10,000 s in time order; key=bin uses bucket
// arithmetic, key=cast hashes the same keys.
//
//	go test -run XXX -bench BinGroupBy ./internal/sql/exec/
func BenchmarkBinGroupBy(b *testing.B) {
	const tT, tF = columnar.Timestamp, columnar.Float64
	cols := []plan.Column{{Name: "time", Type: tT}, {Name: "v", Type: tF}}
	var rows [][]any
	for s := 0; s < 100; s++ {
		for i := 0; i < 10_000; i++ {
			rows = append(rows, []any{int64(1_700_000_000e9 + i*1e9), float64(i % 97)})
		}
	}
	tb := newTable(cols, rows, 4096)
	bin := call("bin", tT, col(0, tT), lit(int64(60e9), columnar.Interval))
	aggs := []plan.AggCall{{Name: "avg", Args: []plan.Expr{col(1, tF)}, T: tF}}
	for _, k := range []struct {
		name string
		key  plan.Expr
	}{{"bin", bin}, {"cast", &plan.Cast{X: bin, T: tT}}} {
		n := &plan.Aggregate{Input: scan(tb), GroupBy: []plan.Expr{k.key}, Aggs: aggs, Names: []string{"b", "a"}}
		b.Run("key="+k.name, func(b *testing.B) { runBench(b, n, exec.Options{Parallelism: 1}, len(rows)) })
	}
}
