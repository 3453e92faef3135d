package parse_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// BenchmarkParse measures parsing the seed's queries and typical Grafana
// queries into trees.
//
//	go test ./internal/sql/parse -run '^$' -bench BenchmarkParse -benchmem -count 10 | tee new.txt; benchstat old.txt new.txt
func BenchmarkParse(b *testing.B) {
	athena, err := os.ReadFile("testdata/seed_athena.sql")
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/seed_grafana.sql")
	if err != nil {
		b.Fatal(err)
	}
	grafana := strings.NewReplacer(
		"'${measure}\n", "'temperature'\n",
		"'${device_id}\n", "'12345678-9012-3456-7890-123456789012'\n",
		"${measure}", "temperature",
		"$__database", `"iot"`, "$__table", `"telemetry"`,
		"$__timeFilter", "time BETWEEN from_milliseconds(1764151200000) AND from_milliseconds(1764154800000)",
	).Replace(string(raw))
	queries := []struct{ name, sql string }{
		{"seed-athena", string(athena)},
		{"seed-grafana", grafana},
		{"pg-timegroup", `SELECT floor(extract(epoch from ts)/300)*300 AS "time", device_id AS metric, avg(temp) AS temp FROM readings WHERE ts BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z' GROUP BY 1,2 ORDER BY 1`},
		{"ping", "-- ping"},
	}
	for _, q := range queries {
		if _, err := parse.Parse(q.sql); err != nil {
			b.Fatalf("%s: %v", q.name, err)
		}
		b.Run("query="+q.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(q.sql)))
			for b.Loop() {
				if _, err := parse.Parse(q.sql); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkString measures printing a parsed tree back to SQL.
//
//	go test ./internal/sql/parse -run '^$' -bench BenchmarkString -benchmem -count 10
func BenchmarkString(b *testing.B) {
	athena, err := os.ReadFile("testdata/seed_athena.sql")
	if err != nil {
		b.Fatal(err)
	}
	st, err := parse.ParseOne(string(athena))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("query=seed-athena", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.String()
		}
	})
}
