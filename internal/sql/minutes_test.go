package sql_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/sql/plan"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// TestMinuteAggregatesPath checks that time-bucketed count/sum/avg/min/max
// of a DOUBLE measure are answered from the store's per-minute partial
// aggregates (EXPLAIN says so), and that the answers equal the row path's
// (the same query with a value predicate that keeps every row), with the
// data in memory, in parts, in parts plus late data, and compacted.
// Sums add the same values in another grouping, so DOUBLE results are
// compared with a relative tolerance of 1e-9.
func TestMinuteAggregatesPath(t *testing.T) {
	for _, c := range [][2]string{{plan.MinuteColumn, tsdb.MinuteColumn}, {plan.SumColumn, tsdb.SumColumn}, {plan.MinColumn, tsdb.MinColumn}, {plan.MaxColumn, tsdb.MaxColumn}} {
		if c[0] != c[1] {
			t.Fatalf("plan and tsdb name %s differently", c[0])
		}
	}
	db, err := tsdb.Open(t.TempDir(), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.EnsureTable(ctx, "iot", "telemetry", tsdb.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-40 * time.Minute).Truncate(time.Minute)
	write := func(from, to int, version int64, off float64) {
		t.Helper()
		var recs []tsdb.Record
		for d := 0; d < 3; d++ {
			for s := from; s < to; s++ {
				dims := []tsdb.Dimension{{Name: "DeviceID", Value: fmt.Sprintf("dev-%d", d)}}
				tm := base.Add(time.Duration(s) * time.Second).UnixNano()
				recs = append(recs,
					tsdb.Record{Dimensions: dims, MeasureName: "temperature", Time: tm, Version: version, Value: tsdb.Double(20 + off + float64(d) + float64(s%97)/10)},
					tsdb.Record{Dimensions: dims, MeasureName: "humidity", Time: tm, Version: version, Value: tsdb.Double(40 + float64(s%13))},
					tsdb.Record{Dimensions: dims, MeasureName: "status", Time: tm, Version: version, Value: tsdb.Varchar("ok")})
			}
		}
		if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
			t.Fatalf("write: %v %v", err, rej)
		}
	}
	write(0, 600, 1, 0)
	eng := sluicesql.New(db, sluicesql.Options{})
	ts := func(d time.Duration) string {
		return "TIMESTAMP '" + base.Add(d).UTC().Format("2006-01-02 15:04:05.000000000") + "'"
	}
	cases := []struct {
		sql     string
		minutes bool
	}{
		{`SELECT bin(time, 1m) AS minute, avg(measure_value::double) AS avg_value FROM iot.telemetry WHERE measure_name = 'temperature' AND time > ago(1h) GROUP BY bin(time, 1m)`, true},
		{`SELECT bin(time, 1m), avg(measure_value::double) FROM iot.telemetry WHERE measure_name = 'temperature' AND time > ` + ts(95*time.Second+500*time.Millisecond) + ` AND time <= ` + ts(7*time.Minute+10*time.Second) + ` GROUP BY 1`, true},
		{`SELECT DeviceID, measure_name, bin(time, 5m), count(measure_value::double), sum(measure_value::double), min(measure_value::double), max(measure_value::double) FROM iot.telemetry WHERE time >= ` + ts(61*time.Second) + ` GROUP BY 1, 2, 3`, true},
		{`SELECT bin(time, 2m), count(measure_value::double), avg(measure_value::double) FROM iot.telemetry WHERE DeviceID IN ('dev-0', 'dev-2') AND measure_name = 'humidity' GROUP BY 1`, true},
		{`SELECT measure_name, max(measure_value::double) FROM iot.telemetry GROUP BY 1`, true},
		{`SELECT bin(time, 30s), avg(measure_value::double) FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY 1`, false},
		{`SELECT bin(time, 1m), count(*) FROM iot.telemetry GROUP BY 1`, false},
		{`SELECT bin(time, 1m), stddev(measure_value::double) FROM iot.telemetry GROUP BY 1`, false},
	}
	check := func(state string) {
		t.Helper()
		for _, c := range cases {
			explain, err := eng.Query(ctx, "EXPLAIN "+c.sql, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			if got := strings.Contains(render(explain), "minute-aggregates"); got != c.minutes {
				t.Errorf("%s: minute aggregates %v, want %v\n%s", c.sql, got, c.minutes, render(explain))
			}
			n := strings.Count(c.sql[:strings.Index(c.sql, " FROM ")], ",") + 1
			order := " ORDER BY 1"
			for i := 2; i < n && strings.Contains(c.sql, "GROUP BY 1, 2"); i++ {
				order += fmt.Sprintf(", %d", i)
			}
			fast, err := eng.Query(ctx, c.sql+order, nil)
			if err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			slowSQL := strings.Replace(c.sql, "FROM iot.telemetry WHERE", "FROM iot.telemetry WHERE coalesce(measure_value::double, 0) > -1e300 AND", 1)
			if slowSQL == c.sql {
				slowSQL = strings.Replace(c.sql, "FROM iot.telemetry", "FROM iot.telemetry WHERE coalesce(measure_value::double, 0) > -1e300", 1)
			}
			slow, err := eng.Query(ctx, slowSQL+order, nil)
			if err != nil {
				t.Fatalf("%s: %v", slowSQL, err)
			}
			if fast.Rows.Len() == 0 || !sameResult(fast, slow) {
				t.Errorf("%s (%s): minute aggregates give\n%s\nrows give\n%s", c.sql, state, render(fast), render(slow))
			}
		}
	}
	check("memory")
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("parts")
	write(100, 200, 5, 3) // late rewrites of stored points, in memory
	check("parts and memory")
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("two parts")
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	check("compacted")
}

// sameResult compares two results cell by cell, DOUBLEs with a relative
// tolerance of 1e-9.
func sameResult(a, b *sluicesql.Result) bool {
	if a.Rows.Len() != b.Rows.Len() || len(a.Rows.Cols) != len(b.Rows.Cols) {
		return false
	}
	for j := range a.Rows.Cols {
		for i := range a.Rows.Len() {
			x, y := a.Rows.Cols[j].Value(i), b.Rows.Cols[j].Value(i)
			if fx, ok := x.(float64); ok {
				fy, ok := y.(float64)
				if !ok || math.Abs(fx-fy) > 1e-9*max(1, math.Abs(fy)) {
					return false
				}
				continue
			}
			if x != y {
				return false
			}
		}
	}
	return true
}
