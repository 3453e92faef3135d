package differential

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestDifferential runs every query on PostgreSQL and on sluice and
// compares the answers.
func TestDifferential(t *testing.T) {
	pg := startPostgres(t)
	// Whole seconds, an hour back: inside sluice's memory-store retention
	// and exact at PostgreSQL's microsecond precision.
	ds := makeData(time.Now().UTC().Truncate(time.Hour).Add(-time.Hour))
	loadPostgres(t, pg, ds)
	_, sl := startSluice(t, ds)

	qs := queries()
	var passed, known, failed int
	for i, qc := range qs {
		t.Run(fmt.Sprintf("q%03d", i), func(t *testing.T) {
			if why, ok := knownDiffs[qc.SQL]; ok {
				known++
				t.Skipf("known difference: %s\n%s", why, qc.SQL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pgSQL, slSQL := translate(qc.SQL, ds.base, true), translate(qc.SQL, ds.base, false)
			want, err := runQuery(ctx, pg, pgSQL)
			if err != nil {
				t.Fatalf("PostgreSQL rejects the query (a bad test case): %v\n%s", err, pgSQL)
			}
			if len(want.rows) == 0 && qc.SQL != "" {
				t.Logf("note: empty answer\n%s", pgSQL)
			}
			got, err := runQuery(ctx, sl, slSQL)
			if err != nil {
				failed++
				t.Fatalf("sluice: %v\n%s\nPostgreSQL: %s", err, slSQL, show(want.rows))
			}
			if d := diff(want, got, qc.Ordered); d != "" {
				failed++
				t.Fatalf("%s\n%s", d, slSQL)
			}
			passed++
		})
	}
	t.Logf("%d queries: %d passed, %d known differences, %d failed", len(qs), passed, known, failed)
}
