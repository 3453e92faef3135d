package sql_test

import (
	"context"
	"strings"
	"testing"

	sluicesql "github.com/sluice-dev/sluice/internal/sql"
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
