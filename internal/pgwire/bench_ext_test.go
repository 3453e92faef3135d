package pgwire_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/internal/pgwire"
)

// BenchmarkQuery runs a whole query through pgx over TCP: Grafana's path
// (simple protocol, text) and pgx's default (extended, binary).
//
// go test -run XXX -bench BenchmarkQuery -count 10 ./internal/pgwire | tee new.txt; benchstat old.txt new.txt
func BenchmarkQuery(b *testing.B) {
	s := startServer(b, pgwire.Options{})
	for _, m := range modes[:2] {
		for _, rows := range []int{1, 10000} {
			b.Run(fmt.Sprintf("mode=%s/rows=%d", m.name, rows), func(b *testing.B) {
				c := connect(b, s, m.mode)
				sql := fmt.Sprintf("SELECT * FROM series(%d)", rows)
				b.ReportAllocs()
				for b.Loop() {
					r, err := c.Query(context.Background(), sql)
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for r.Next() {
						n++
					}
					if r.Err() != nil || n != rows {
						b.Fatalf("%d rows, %v", n, r.Err())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		}
	}
	_ = pgx.QueryExecModeSimpleProtocol
}
