package sql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// openSeeded opens a store holding 3 devices × 2 measures × 60 seconds.
func openSeeded(t *testing.T) (*tsdb.DB, *sluicesql.Engine, time.Time) {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := db.EnsureTable(ctx, "iot", "telemetry", tsdb.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Minute)
	var recs []tsdb.Record
	for d := 0; d < 3; d++ {
		for s := 0; s < 60; s++ {
			dims := []tsdb.Dimension{{Name: "DeviceID", Value: fmt.Sprintf("dev-%d", d)}}
			tm := base.Add(time.Duration(s) * time.Second).UnixNano()
			recs = append(recs,
				tsdb.Record{Dimensions: dims, MeasureName: "temperature", Time: tm, Value: tsdb.Double(20 + float64(d) + float64(s)/100)},
				tsdb.Record{Dimensions: dims, MeasureName: "humidity", Time: tm, Value: tsdb.Double(40 + float64(d))})
		}
	}
	if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v %v", err, rej)
	}
	return db, sluicesql.New(db, sluicesql.Options{}), base
}

func render(r *sluicesql.Result) string {
	var sb strings.Builder
	for i, c := range r.Columns {
		if i > 0 {
			sb.WriteString("|")
		}
		sb.WriteString(c.Name)
	}
	sb.WriteString("\n")
	for i := 0; i < r.Rows.Len(); i++ {
		for j, c := range r.Rows.Cols {
			if j > 0 {
				sb.WriteString("|")
			}
			v := c.Value(i)
			switch c.Type {
			case columnar.Float64:
				v = fmt.Sprintf("%.4g", v)
			case columnar.Timestamp:
				v = time.Unix(0, c.Ints[i]).UTC().Format(time.RFC3339)
			}
			if c.IsNull(i) {
				v = "NULL"
			}
			sb.WriteString(fmt.Sprint(v))
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

func TestQueries(t *testing.T) {
	_, eng, _ := openSeeded(t)
	ctx := context.Background()
	for _, c := range []struct{ sql, want string }{
		{`SELECT count(*) FROM iot.telemetry`, "count\n360\n"},
		{`SELECT DeviceID, avg(measure_value::double) AS t FROM "iot"."telemetry" WHERE measure_name = 'temperature' GROUP BY DeviceID ORDER BY 1`,
			"DeviceID|t\ndev-0|20.29\ndev-1|21.29\ndev-2|22.29\n"},
		{`SELECT DeviceID, max(measure_value::double) FROM iot.telemetry WHERE measure_name = 'humidity' AND time > ago(1h) GROUP BY 1 HAVING max(measure_value::double) > 40.5 ORDER BY DeviceID DESC LIMIT 1`,
			"DeviceID|max\ndev-2|42\n"},
		{`SELECT count(DISTINCT DeviceID) AS n FROM iot.telemetry WHERE DeviceID IN ('dev-0', 'dev-1')`, "n\n2\n"},
		{`SELECT count(*) AS n FROM (SELECT bin(time, 30s) AS b, DeviceID FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY 1, 2)`, "n\n6\n"},
		{`WITH t AS (SELECT DeviceID AS d, measure_value::double AS v FROM iot.telemetry WHERE measure_name = 'temperature')
		  SELECT d, round(v, 2) AS v, row_number() OVER (PARTITION BY d ORDER BY v DESC) AS rn FROM t ORDER BY v DESC LIMIT 2`,
			"d|v|rn\ndev-2|22.59|1\ndev-2|22.58|2\n"},
		{`SELECT 1 + 2 AS three, 'a' || 'b' AS ab, CASE WHEN 1 < 2 THEN 'yes' ELSE 'no' END AS c`, "three|ab|c\n3|ab|yes\n"},
		{`SELECT count(*) AS n FROM iot.telemetry WHERE length(DeviceID) IN (5, 5.5)`, "n\n360\n"},
		{`SHOW TABLES FROM iot`, "Table\ntelemetry\n"},
		{`SELECT table_name FROM information_schema.tables WHERE table_schema = 'iot'`, "table_name\ntelemetry\n"},
		{`SELECT a.DeviceID, count(*) AS n FROM iot.telemetry a JOIN (SELECT DISTINCT DeviceID FROM iot.telemetry WHERE DeviceID = 'dev-1') b ON a.DeviceID = b.DeviceID GROUP BY 1`,
			"DeviceID|n\ndev-1|120\n"},
	} {
		res, err := eng.Query(ctx, c.sql, nil)
		if err != nil {
			t.Errorf("%s\n  error: %v", c.sql, err)
			continue
		}
		if got := render(res); got != c.want {
			t.Errorf("%s\n  got:\n%s  want:\n%s", c.sql, got, c.want)
		}
	}
}

func TestQueryErrors(t *testing.T) {
	_, eng, _ := openSeeded(t)
	for _, c := range []struct{ sql, code, msg string }{
		{`SELECT nope FROM iot.telemetry`, "42703", `column "nope" does not exist`},
		{`SELECT * FROM iot.missing`, "42P01", "missing"},
		{`SELECT DeviceID, count(*) FROM iot.telemetry`, "42803", "GROUP BY"},
		{`SELEC 1`, "42601", "syntax error"},
		{`SELECT nosuchfn(1)`, "42883", "nosuchfn"},
	} {
		_, err := eng.Query(context.Background(), c.sql, nil)
		e, ok := err.(*sluicesql.Error)
		if !ok || e.Code != c.code || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: got %v (%#v), want %s containing %q", c.sql, err, err, c.code, c.msg)
		}
	}
}

// TestLatestPath checks that last-value queries use the store's latest-point
// path and answer exactly as a full scan does.
func TestLatestPath(t *testing.T) {
	_, eng, base := openSeeded(t)
	ctx := context.Background()
	for _, c := range []struct {
		sql    string
		latest bool
	}{
		{`SELECT DeviceID, max_by(measure_value::double, time) AS v, max(time) AS t FROM iot.telemetry WHERE measure_name = 'temperature' GROUP BY DeviceID`, true},
		{`SELECT DeviceID, measure_name, max_by(measure_value::double, time) AS v FROM iot.telemetry WHERE time > ago(1h) AND DeviceID IN ('dev-0', 'dev-2') GROUP BY 1, 2`, true},
		// An upper time bound or a value predicate needs the full scan.
		{fmt.Sprintf(`SELECT DeviceID, max_by(measure_value::double, time) AS v FROM iot.telemetry WHERE time < from_milliseconds(%d) GROUP BY 1`, base.Add(30*time.Second).UnixMilli()), false},
		{`SELECT DeviceID, max_by(measure_value::double, time) AS v FROM iot.telemetry WHERE measure_value::double < 21 GROUP BY 1`, false},
	} {
		explain, err := eng.Query(ctx, "EXPLAIN "+c.sql, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		usesLatest := strings.Contains(render(explain), "latest")
		if usesLatest != c.latest {
			t.Errorf("%s: latest path %v, want %v\n%s", c.sql, usesLatest, c.latest, render(explain))
		}
		fast, err := eng.Query(ctx, c.sql+" ORDER BY 1, 2", nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		// The same query with a predicate that disables the fast path
		// but keeps every row.
		slow, err := eng.Query(ctx, strings.Replace(c.sql, "FROM iot.telemetry WHERE", "FROM iot.telemetry WHERE measure_value::double > -1e300 AND", 1)+" ORDER BY 1, 2", nil)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if render(fast) != render(slow) {
			t.Errorf("%s: latest path gives\n%s\nfull scan gives\n%s", c.sql, render(fast), render(slow))
		}
	}
}
