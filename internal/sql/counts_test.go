package sql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/sql/plan"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// TestSeriesCountsPath checks that count(*) grouped by series columns is
// answered from the store's per-series counts (EXPLAIN says so), and that
// the answers equal a full scan's, with the data in memory only, in parts,
// and in parts plus late data in memory.
func TestSeriesCountsPath(t *testing.T) {
	if plan.CountColumn != tsdb.CountColumn || plan.MinTimeColumn != tsdb.MinTimeColumn || plan.MaxTimeColumn != tsdb.MaxTimeColumn {
		t.Fatal("plan and tsdb name the count columns differently")
	}
	db, eng, base := openSeeded(t)
	ctx := context.Background()
	ts := func(d time.Duration) string {
		return "TIMESTAMP '" + base.Add(d).UTC().Format("2006-01-02 15:04:05.000000000") + "'"
	}
	cases := []struct {
		sql    string
		counts bool
	}{
		{`SELECT DeviceID, count(*) AS points FROM iot.telemetry GROUP BY DeviceID`, true},
		{`SELECT measure_name, DeviceID, count(*), min(time), max(time) FROM iot.telemetry WHERE time >= ` + ts(10*time.Second) + ` AND time < ` + ts(50*time.Second) + ` GROUP BY 1, 2`, true},
		{`SELECT count(*) FROM iot.telemetry WHERE measure_name = 'temperature'`, true},
		{`SELECT count(*) FROM iot.telemetry WHERE DeviceID = 'nope'`, true},
		{`SELECT lower(DeviceID), count(time) FROM iot.telemetry WHERE DeviceID LIKE 'dev-%' AND time > ` + ts(30*time.Second) + ` GROUP BY 1`, true},
		{`SELECT DeviceID, count(measure_value::double) FROM iot.telemetry GROUP BY 1`, false},
		{`SELECT DeviceID, count(*) FROM iot.telemetry WHERE measure_value::double > 20 GROUP BY 1`, false},
		{`SELECT DeviceID, count(DISTINCT time) FROM iot.telemetry GROUP BY 1`, false},
	}
	check := func(state string) {
		t.Helper()
		for _, c := range cases {
			explain, err := eng.Query(ctx, "EXPLAIN "+c.sql, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			if got := strings.Contains(render(explain), "series-counts"); got != c.counts {
				t.Errorf("%s: series counts %v, want %v\n%s", c.sql, got, c.counts, render(explain))
			}
			order := " ORDER BY 1"
			if strings.HasPrefix(c.sql, "SELECT measure_name") {
				order = " ORDER BY 1, 2"
			}
			fast, err := eng.Query(ctx, c.sql+order, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			// The same query with a predicate that disables the fast path
			// but keeps every row.
			slowSQL := strings.Replace(c.sql, "FROM iot.telemetry WHERE", "FROM iot.telemetry WHERE measure_value::double > -1e300 AND", 1)
			if slowSQL == c.sql {
				slowSQL = strings.Replace(c.sql, "FROM iot.telemetry", "FROM iot.telemetry WHERE measure_value::double > -1e300", 1)
			}
			slow, err := eng.Query(ctx, slowSQL+order, nil)
			if err != nil {
				t.Fatalf("%s: %v", slowSQL, err)
			}
			if render(fast) != render(slow) || fast.Rows.Len() == 0 {
				t.Errorf("%s (%s): series counts give\n%s\nfull scan gives\n%s", c.sql, state, render(fast), render(slow))
			}
		}
	}
	check("memory")
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("parts")
	// Late data: new points and a rewrite of stored ones (a higher
	// version of the same time is still one row).
	var recs []tsdb.Record
	for s := 30; s < 90; s++ {
		recs = append(recs, tsdb.Record{Dimensions: []tsdb.Dimension{{Name: "DeviceID", Value: "dev-1"}}, MeasureName: "temperature",
			Time: base.Add(time.Duration(s) * time.Second).UnixNano(), Value: tsdb.Double(30), Version: 5})
	}
	if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v %v", err, rej)
	}
	check("parts and memory")
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("two parts")
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("compacted")
	_ = fmt.Sprint
}
