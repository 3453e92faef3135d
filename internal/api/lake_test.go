package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-dev/sluice/internal/api"
	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

func TestLakeInfer(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	root := t.TempDir()
	dir := filepath.Join(root, "bucket", "events", "year=2026", "month=11")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(`{"Time": 1609757175225.499, "DeviceID": "d1", "temperature_measure": 11, "ok": true}`+"\n"+
		`{"Time": 1609757175226, "DeviceID": "d2", "temperature_measure": 11.5, "tags": ["a"]}`+"\n"), 0o644)
	cat, err := lake.OpenCatalog(lake.CatalogOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	eng := sluicesql.New(db, sluicesql.Options{Lake: cat})
	srv := api.New(db, nil)
	srv.SetQuerier(eng)
	mux := http.NewServeMux()
	srv.Register(mux)
	post := func(body string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/lake/infer", bytes.NewBufferString(body)))
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	code, out := post(`{"location": "s3://bucket/events/", "database": "devices_data", "table": "smart_devices_events", "create": true}`)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	want := "CREATE EXTERNAL TABLE \"devices_data\".\"smart_devices_events\" (\n  \"time\" double,\n  \"deviceid\" string,\n  \"temperature_measure\" double,\n  \"ok\" boolean,\n  \"tags\" string\n)\n" +
		"PARTITIONED BY (\n  \"year\" int,\n  \"month\" int\n)\nROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\nLOCATION 's3://bucket/events/'"
	if out["ddl"] != want {
		t.Errorf("ddl:\n%v\nwant:\n%s", out["ddl"], want)
	}
	res, err := eng.Query(context.Background(), `SELECT count(*), sum(temperature_measure), max(month) FROM devices_data.smart_devices_events`, nil)
	if err != nil || res.Rows.Cols[0].Ints[0] != 2 || res.Rows.Cols[1].Floats[0] != 22.5 || res.Rows.Cols[2].Ints[0] != 11 {
		t.Errorf("query after create: %v %+v", err, res)
	}
	if code, out := post(`{"location": "s3://bucket/events/", "database": "devices_data", "table": "smart_devices_events", "create": true}`); code != http.StatusConflict {
		t.Errorf("second create: %d %v", code, out)
	}
	if code, _ := post(`{"location": "s3://bucket/none/"}`); code != http.StatusBadRequest {
		t.Errorf("empty location: %d", code)
	}
	if code, _ := post(`{"location": ""}`); code != http.StatusBadRequest {
		t.Errorf("no location: %d", code)
	}
}
