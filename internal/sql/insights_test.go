package sql_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

func TestInsightFunctionErrors(t *testing.T) {
	_, eng, _ := openSeeded(t)
	for _, c := range []struct{ sql, code, msg string }{
		{`SELECT * FROM anomalies(SELECT DeviceID FROM iot.telemetry)`, "42804", "TIMESTAMP column and a numeric"},
		{`SELECT * FROM anomalies(table => 'iot.missing', measure => 'temperature')`, "42P01", "missing"},
		{`SELECT * FROM anomalies(table => 'iot.telemetry')`, "42601", "measure =>"},
		{`SELECT * FROM anomalies(table => 'telemetry', measure => 'temperature')`, "42601", "no database"},
		{`SELECT * FROM anomalies(table => 'iot.telemetry', measure => 'temperature', DeviceID => 3)`, "42601", "string literal"},
		{`SELECT * FROM forecast((SELECT time, measure_value::double FROM iot.telemetry), 1, 2, 'ets', 24, 5)`, "42601", "at most 4 options"},
		{`SELECT * FROM anomalies(DeviceID => 'dev-1', SELECT time, measure_value::double FROM iot.telemetry)`, "42601", "does not go with a query"},
		{`SELECT * FROM anomalies(3, (SELECT time, measure_value::double FROM iot.telemetry))`, "42601", "first argument"},
		{`SELECT * FROM anomalies(3)`, "42601", "first argument must be a query"},
		{`SELECT * FROM forecast((SELECT time, measure_value::double FROM iot.telemetry), 48, level => 95, horizon => 24)`, "42601", "both by position and by name"},
		{`SELECT * FROM anomalies(sensitivity => random(), SELECT time, measure_value::double FROM iot.telemetry)`, "42601", "constant"},
	} {
		_, err := eng.Query(context.Background(), c.sql, nil)
		e, ok := err.(*sluicesql.Error)
		if !ok || e.Code != c.code || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s:\n  got %v (%#v),\n  want %s containing %q", c.sql, err, err, c.code, c.msg)
		}
	}
}

// seedSeries writes two days of a daily cycle at 5-minute steps for two
// devices; dev-b has one spike.
func seedSeries(t *testing.T) (*sluicesql.Engine, time.Time, time.Time) {
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
	start := time.Now().Add(-4 * 24 * time.Hour).Truncate(time.Hour)
	spike := start.Add(3*24*time.Hour + 7*time.Hour)
	var recs []tsdb.Record
	rng := rand.New(rand.NewPCG(1, 2))
	for _, dev := range []string{"dev-a", "dev-b"} {
		for tm := start; tm.Before(start.Add(4 * 24 * time.Hour)); tm = tm.Add(5 * time.Minute) {
			v := 20 + 5*math.Sin(2*math.Pi*float64(tm.Sub(start))/float64(24*time.Hour)) + rng.NormFloat64()*0.2
			if dev == "dev-b" && tm.Equal(spike) {
				v += 15
			}
			recs = append(recs, tsdb.Record{Dimensions: []tsdb.Dimension{{Name: "DeviceID", Value: dev}}, MeasureName: "temperature",
				Time: tm.UnixNano(), Value: tsdb.Double(math.Round(v*100) / 100)})
		}
	}
	if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v %v", err, rej)
	}
	return sluicesql.New(db, sluicesql.Options{}), start, spike
}

func TestInsightFunctions(t *testing.T) {
	eng, _, spike := seedSeries(t)
	ctx := context.Background()

	// Per device, by query: only dev-b's spike is flagged.
	res, err := eng.Query(ctx, `SELECT DeviceID, time, value, expected, is_anomaly FROM anomalies(
		SELECT DeviceID, time, measure_value::double FROM iot.telemetry WHERE measure_name = 'temperature') WHERE is_anomaly`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(res); got != "DeviceID|time|value|expected|is_anomaly\ndev-b|"+spike.UTC().Format(time.RFC3339)+"|"+
		fmt.Sprintf("%.4g", res.Rows.Cols[2].Value(0))+"|"+fmt.Sprintf("%.4g", res.Rows.Cols[3].Value(0))+"|true\n" {
		t.Errorf("anomalies:\n%s", got)
	}
	if res.Rows.Len() == 1 && math.Abs(res.Rows.Cols[2].Floats[0]-res.Rows.Cols[3].Floats[0]) < 10 {
		t.Errorf("spike value %v is not far from expected %v", res.Rows.Cols[2].Floats[0], res.Rows.Cols[3].Floats[0])
	}

	// The table form gives the same rows for one device.
	byTable, err := eng.Query(ctx, `SELECT count(*) AS n, count_if(is_anomaly) AS a FROM anomalies(table => 'iot.telemetry', measure => 'temperature', DeviceID => 'dev-b')`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := render(byTable); got != "n|a\n1152|1\n" {
		t.Errorf("anomalies by table:\n%s", got)
	}

	// Forecast: the input's rows then 12 future rows without value, inside
	// a band that widens with the horizon.
	fc, err := eng.Query(ctx, `SELECT time, value, expected, lower, upper FROM forecast(table => 'iot.telemetry', measure => 'temperature',
		DeviceID => 'dev-a', horizon => 12, level => 80) WHERE value IS NULL ORDER BY time`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fc.Rows.Len() != 12 {
		t.Fatalf("forecast rows: %d, want 12\n%s", fc.Rows.Len(), render(fc))
	}
	lo, hi := fc.Rows.Cols[3].Floats, fc.Rows.Cols[4].Floats
	for i := range 12 {
		if e := fc.Rows.Cols[2].Floats[i]; !(lo[i] < e && e < hi[i]) || e < 10 || e > 30 {
			t.Errorf("step %d: expected %v outside (%v, %v) or implausible", i+1, e, lo[i], hi[i])
		}
		if d := fc.Rows.Cols[0].Ints[i] - fc.Rows.Cols[0].Ints[max(i-1, 0)]; i > 0 && d != int64(5*time.Minute) {
			t.Errorf("step %d: %v after the previous", i+1, time.Duration(d))
		}
	}
	if hi[11]-lo[11] < hi[0]-lo[0] {
		t.Errorf("band narrows with the horizon: %v then %v", hi[0]-lo[0], hi[11]-lo[11])
	}

	// Bad options name themselves.
	for _, c := range []struct{ sql, msg string }{
		{`SELECT * FROM forecast(horizon => 0, SELECT time, measure_value::double FROM iot.telemetry)`, "horizon 0"},
		{`SELECT * FROM forecast(level => 120, SELECT time, measure_value::double FROM iot.telemetry)`, "level"},
		{`SELECT * FROM anomalies(sensitivity => 'extreme', SELECT time, measure_value::double FROM iot.telemetry)`, "extreme"},
	} {
		if _, err := eng.Query(ctx, c.sql, nil); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want an error naming %q", c.sql, err, c.msg)
		}
	}
}
