package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/api"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// insightServer serves the API over a store holding three days of an
// hourly cycle at 10-minute steps for device d1, with one spike.
func insightServer(t *testing.T) *http.ServeMux {
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
	start := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	var recs []tsdb.Record
	for i := 0; i < 72*6; i++ {
		v := 20 + 3*math.Sin(2*math.Pi*float64(i)/144) + 0.1*math.Sin(float64(i)*1.7)
		if i == 400 {
			v += 12
		}
		recs = append(recs, tsdb.Record{Dimensions: []tsdb.Dimension{{Name: "DeviceID", Value: "d1"}}, MeasureName: "temperature",
			Time: start.Add(time.Duration(i) * 10 * time.Minute).UnixNano(), Value: tsdb.Double(math.Round(v*100) / 100)})
	}
	if rej, err := db.Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v %v", err, rej)
	}
	srv := api.New(db, nil)
	srv.SetQuerier(sluicesql.New(db, sluicesql.Options{}))
	mux := http.NewServeMux()
	srv.Register(mux)
	return mux
}

func TestInsightsEndpoint(t *testing.T) {
	mux := insightServer(t)
	post := func(path, body string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	code, out := post("/v1/insights/anomalies", `{"table": "iot.telemetry", "measure": "temperature", "dimensions": {"DeviceID": "d1"}}`)
	rows, _ := out["rows"].([]any)
	if code != 200 || len(rows) != 432 {
		t.Fatalf("anomalies: %d, %d rows: %v", code, len(rows), out["error"])
	}
	flagged := 0
	for _, r := range rows {
		if r.([]any)[6] == true {
			flagged++
		}
	}
	if flagged != 1 {
		t.Errorf("anomalies: %d flagged, want the one spike", flagged)
	}
	code, out = post("/v1/insights/forecast", `{"sql": "SELECT time, measure_value::double FROM iot.telemetry WHERE DeviceID = 'd1'", "horizon": 6, "level": 80, "max_rows": 5}`)
	if rows, _ := out["rows"].([]any); code != 200 || len(rows) != 5 || out["next_token"] == nil {
		t.Errorf("forecast page: %d %v", code, out)
	}
	if code, out = post("/v1/insights/forecast", `{"table": "iot.telemetry"}`); code != 400 {
		t.Errorf("forecast without measure: %d %v", code, out)
	}
	if code, out = post("/v1/insights/outliers", `{}`); code != 404 {
		t.Errorf("unknown insight: %d %v", code, out)
	}
}

func TestPlotEndpoint(t *testing.T) {
	mux := insightServer(t)
	get := func(q url.Values) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/plot?"+q.Encode(), nil))
		return rec
	}
	q := url.Values{"table": {"iot.telemetry"}, "measure": {"temperature"}, "dim.DeviceID": {"d1"}, "horizon": {"36"}, "level": {"80"}}
	rec := get(q)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("svg: %d %s", rec.Code, rec.Body.String())
	}
	svg := rec.Body.String()
	for _, want := range []string{"<svg", "temperature d1", "80"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	q.Set("format", "png")
	q.Set("width", "640")
	rec = get(q)
	img, err := png.Decode(bytes.NewReader(rec.Body.Bytes()))
	if rec.Code != 200 || err != nil || img.Bounds().Dx() != 640 {
		t.Fatalf("png: %d %v %v", rec.Code, err, rec.Body.String()[:min(200, rec.Body.Len())])
	}
	for _, bad := range []url.Values{
		{"table": {"iot.telemetry"}, "measure": {"temperature"}, "format": {"gif"}},
		{"table": {"iot.telemetry"}, "measure": {"temperature"}, "horizon": {"x"}},
		{"table": {"iot.telemetry"}, "measure": {"temperature"}, "sensitivity": {"extreme"}},
		{"measure": {"temperature"}},
	} {
		if rec := get(bad); rec.Code != 400 {
			t.Errorf("%v: %d %s", bad, rec.Code, rec.Body.String())
		}
	}
	if rec := get(url.Values{"table": {"iot.telemetry"}, "measure": {"nothing"}}); rec.Code != 404 {
		t.Errorf("empty series: %d %s", rec.Code, rec.Body.String())
	}
}
