package api

import (
	"strings"
	"testing"
)

func TestInsightSQL(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	for _, c := range []struct {
		fn   string
		req  insightRequest
		want string // SQL, or "error: substring"
	}{
		{"anomalies", insightRequest{SQL: "SELECT time, v FROM t;", Sensitivity: f(3.5)},
			"SELECT * FROM anomalies(sensitivity => 3.5, SELECT time, v FROM t)"},
		{"forecast", insightRequest{Table: "iot.telemetry", Measure: "temperature", Dimensions: map[string]string{"DeviceID": "d'1", "b": "x"},
			From: "ago(1d)", To: "2026-11-26T00:00:00Z", Horizon: i(48), Level: f(95), Model: "ets"},
			`SELECT * FROM forecast(table => 'iot.telemetry', measure => 'temperature', "DeviceID" => 'd''1', "b" => 'x', ` +
				`from => (ago(1d)), to => from_iso8601_timestamp('2026-11-26T00:00:00Z'), horizon => 48, level => 95, model => 'ets')`},
		{"anomalies", insightRequest{}, "error: give \"sql\""},
		{"anomalies", insightRequest{SQL: "SELECT 1", Table: "x"}, "error: not both"},
		{"anomalies", insightRequest{SQL: "SELECT 1", Horizon: i(3)}, "error: options of forecast"},
	} {
		got, err := insightSQL(c.fn, &c.req)
		if want, ok := strings.CutPrefix(c.want, "error: "); ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: got %q, %v; want error containing %q", c.req, got, err, want)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v:\n got %s (%v)\nwant %s", c.req, got, err, c.want)
		}
	}
}
