package sql_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/lake"
	sluicesql "github.com/sluice-dev/sluice/internal/sql"
)

// seedAthenaQuery is the seed's Athena query as the article prints it,
// with its typographic quotes and dashes made ASCII ("…" → "…", — → --).
const seedAthenaQuery = `SELECT Count(*) as "operating_devices_count", -- 1
ST_AsText(ST_Point("smart_devices_location"."latitude", "smart_devices_location"."longitude")) as "location" -- 2

FROM "devices_data"."smart_devices_events"
INNER JOIN "master_data"."smart_devices_location"
ON "smart_devices_location"."device_id" = "smart_devices_events"."deviceid"

GROUP BY 2 -- second projected column
;`

type lakeFixture struct {
	eng      *sluicesql.Engine
	cat      *lake.Catalog
	root     string
	catDir   string
	perCity  map[string]int // events per location WKT
	total    int
	perDay25 int
}

// newLakeFixture writes seed-shaped events as JSON Lines under a Hive-style
// layout (as the lake writer does), a CSV of device locations, and an
// engine over a tsdb (iot.telemetry with dev-0..dev-2) and the lake.
func newLakeFixture(t *testing.T) *lakeFixture {
	t.Helper()
	db, _, _ := openSeeded(t)
	root := t.TempDir()
	catDir := filepath.Join(t.TempDir(), "catalog")
	cat, err := lake.OpenCatalog(lake.CatalogOptions{Dir: catDir, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	f := &lakeFixture{cat: cat, root: root, catDir: catDir, perCity: map[string]int{}}
	f.eng = sluicesql.New(db, sluicesql.Options{DefaultDatabase: "iot", Lake: cat})
	locs := []struct {
		id       string
		lat, lon float64
		city     string
	}{
		{"12345678-9012-3456-7890-123456789012", 52.52, 13.405, "Berlin"},
		{"dev-0", 48.137, 11.575, "Munich"},
		{"dev-1", 48.137, 11.575, "Munich"},
		{"dev-2", 53.551, 9.993, "Hamburg, Altona"},
		{"dev-9", 50.0, 8.0, "Nowhere"}, // sends nothing
	}
	var csv strings.Builder
	csv.WriteString("device_id,latitude,longitude,city\n")
	for _, l := range locs {
		fmt.Fprintf(&csv, "%s,%v,%v,%q\n", l.id, l.lat, l.lon, l.city)
	}
	writeTestFile(t, filepath.Join(root, "reference", "locations", "locations.csv"), csv.String())
	// Events: device i sends 10*(i+1) events per hour over 2 days × 2 hours.
	devices := []string{"12345678-9012-3456-7890-123456789012", "dev-0", "dev-1", "dev-2", "dev-unknown"}
	wkt := map[string]string{}
	for _, l := range locs {
		wkt[l.id] = fmt.Sprintf("POINT (%v %v)", l.lat, l.lon)
	}
	base := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	for day := 0; day < 2; day++ {
		for hour := 0; hour < 2; hour++ {
			ts := base.Add(time.Duration(day)*24*time.Hour + time.Duration(hour)*time.Hour)
			var lines strings.Builder
			for i, d := range devices {
				for k := 0; k < 10*(i+1); k++ {
					ms := float64(ts.UnixMilli()+int64(k)*1000) + 0.499
					fmt.Fprintf(&lines, `{"Time": %.3f, "DeviceID": "%s", "temperature_measure": %.1f, "humidity_measure": 33.4, "voltage_measure": 55.6, "watt_measure": 777.8}`+"\n", ms, d, 11.2+float64(k))
					if w, ok := wkt[d]; ok {
						f.perCity[w]++
					}
					f.total++
					if ts.Day() == 25 {
						f.perDay25++
					}
				}
			}
			dir := filepath.Join(root, "sluice-lake", "events", fmt.Sprintf("year=%d", ts.Year()), fmt.Sprintf("month=%02d", ts.Month()),
				fmt.Sprintf("day=%02d", ts.Day()), fmt.Sprintf("hour=%02d", ts.Hour()))
			writeTestFile(t, filepath.Join(dir, "events-1-100.jsonl"), lines.String())
		}
	}
	for _, ddl := range []string{
		`CREATE DATABASE devices_data`,
		`CREATE SCHEMA IF NOT EXISTS master_data`,
		`CREATE EXTERNAL TABLE IF NOT EXISTS devices_data.smart_devices_events (
		  time double,
		  deviceid string,
		  temperature_measure double,
		  humidity_measure double,
		  voltage_measure double,
		  watt_measure double
		)
		PARTITIONED BY (year int, month int, day int, hour int)
		ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
		LOCATION 's3://sluice-lake/events/'`,
		`CREATE EXTERNAL TABLE master_data.smart_devices_location (device_id string, latitude double, longitude double, city string)
		ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
		WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"', 'escapeChar' = '\\')
		STORED AS TEXTFILE
		LOCATION 'reference/locations/'
		TBLPROPERTIES ('skip.header.line.count' = '1')`,
	} {
		if _, err := f.eng.Query(context.Background(), ddl, nil); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	return f
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSeedAthenaQuery(t *testing.T) {
	f := newLakeFixture(t)
	res, err := f.eng.Query(context.Background(), seedAthenaQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Columns) != 2 || res.Columns[0].Name != "operating_devices_count" || res.Columns[1].Name != "location" {
		t.Fatalf("columns %+v", res.Columns)
	}
	got := map[string]int{}
	for i := 0; i < res.Rows.Len(); i++ {
		got[res.Rows.Cols[1].Strs[i]] = int(res.Rows.Cols[0].Ints[i])
	}
	if fmt.Sprint(got) != fmt.Sprint(f.perCity) {
		t.Errorf("got %v\nwant %v", got, f.perCity)
	}
	// The query as the repository's parser test data holds it, too.
	if b, err := os.ReadFile("parse/testdata/seed_athena.sql"); err == nil {
		res2, err := f.eng.Query(context.Background(), string(b), nil)
		if err != nil || res2.Rows.Len() != res.Rows.Len() {
			t.Errorf("testdata query: %v", err)
		}
	}
}

func TestLakeQueries(t *testing.T) {
	f := newLakeFixture(t)
	ctx := context.Background()
	q := func(sql string) string {
		t.Helper()
		res, err := f.eng.Query(ctx, sql, nil)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if res.Rows == nil {
			return res.Tag
		}
		return render(res)
	}
	for _, c := range []struct{ sql, want string }{
		{`SELECT count(*) FROM devices_data.smart_devices_events`, fmt.Sprintf("count\n%d\n", f.total)},
		// Case-insensitive keys: DeviceID and Time in the files.
		{`SELECT deviceid, min(time) > 1.7e12, max(temperature_measure) FROM devices_data.smart_devices_events WHERE deviceid = 'dev-1' GROUP BY 1`,
			"deviceid|_col1|max\ndev-1|true|40.2\n"},
		// Partition columns are columns.
		{`SELECT day, hour, count(*) FROM devices_data.smart_devices_events WHERE day = 25 GROUP BY 1, 2 ORDER BY 1, 2`,
			"day|hour|count\n25|18|150\n25|19|150\n"},
		// Lake × reference × tsdb in one query.
		{`SELECT l.city, count(DISTINCT e.deviceid) AS devices, count(DISTINCT t.measure_name) AS measures
		  FROM devices_data.smart_devices_events e
		  JOIN master_data.smart_devices_location l ON l.device_id = e.deviceid
		  JOIN iot.telemetry t ON t.DeviceID = e.deviceid
		  WHERE e.day = 24 AND e.hour = 18 AND e.temperature_measure < 12
		  GROUP BY 1 ORDER BY 1`,
			"city|devices|measures\nHamburg, Altona|1|2\nMunich|2|2\n"},
		{`SELECT city, count(*) FROM master_data.smart_devices_location GROUP BY city ORDER BY 2 DESC, 1`,
			"city|count\nMunich|2\nBerlin|1\nHamburg, Altona|1\nNowhere|1\n"},
		{`SHOW TABLES FROM devices_data`, "Table\nsmart_devices_events\n"},
		{`DESCRIBE master_data.smart_devices_location`, "Column|Type|Timestream attribute type\ndevice_id|string|column\nlatitude|double|column\nlongitude|double|column\ncity|string|column\n"},
		{`SELECT table_schema, column_name, data_type FROM information_schema.columns WHERE table_name = 'smart_devices_location' ORDER BY ordinal_position LIMIT 2`,
			"table_schema|column_name|data_type\nmaster_data|device_id|text\nmaster_data|latitude|double precision\n"},
		{`MSCK REPAIR TABLE devices_data.smart_devices_events`,
			"partition|files\nyear=2026/month=11/day=24/hour=18|1\nyear=2026/month=11/day=24/hour=19|1\nyear=2026/month=11/day=25/hour=18|1\nyear=2026/month=11/day=25/hour=19|1\n"},
	} {
		if got := q(c.sql); got != c.want {
			t.Errorf("%s\ngot:\n%s\nwant:\n%s", c.sql, got, c.want)
		}
	}
	dbs := q(`SHOW DATABASES`)
	for _, want := range []string{"devices_data", "iot", "master_data"} {
		if !strings.Contains(dbs, want+"\n") {
			t.Errorf("SHOW DATABASES lacks %s:\n%s", want, dbs)
		}
	}
	// Partition pruning through SQL: only the day=25 files are opened.
	before := f.cat.Stats().FilesOpened
	q(`SELECT count(*) FROM devices_data.smart_devices_events WHERE day = 25 AND hour >= 19`)
	if n := f.cat.Stats().FilesOpened - before; n != 1 {
		t.Errorf("day=25 AND hour>=19 opened %d files, want 1", n)
	}
	// Names clashing with tsdb tables are refused; DDL errors are errors.
	for _, bad := range []string{
		`CREATE EXTERNAL TABLE iot.telemetry (a string) LOCATION 'x'`,
		`CREATE EXTERNAL TABLE devices_data.smart_devices_events (a string) LOCATION 'x'`,
		`CREATE EXTERNAL TABLE nodb.t (a string) LOCATION 'x'`,
		`CREATE EXTERNAL TABLE devices_data.t2 (a string) STORED AS ORC LOCATION 'x'`,
		`CREATE EXTERNAL TABLE devices_data.t2 (a string) LOCATION '../../etc'`,
		`DROP TABLE iot.telemetry`,
		`DROP TABLE devices_data.nope`,
		`DROP DATABASE devices_data`,
		`CREATE DATABASE iot`,
	} {
		if _, err := f.eng.Query(ctx, bad, nil); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	// A lake table may live in a tsdb database.
	q(`CREATE EXTERNAL TABLE iot.locations (device_id string, latitude double, longitude double, city string)
	   ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' LOCATION 'reference/locations' TBLPROPERTIES ('skip.header.line.count'='1')`)
	if got := q(`SHOW TABLES FROM iot`); got != "Table\nlocations\ntelemetry\n" {
		t.Errorf("SHOW TABLES FROM iot:\n%s", got)
	}
	if got := q(`SELECT count(*) FROM locations`); got != "count\n5\n" {
		t.Errorf("default database lake table:\n%s", got)
	}
	// The catalog survives a restart.
	cat2, err := lake.OpenCatalog(lake.CatalogOptions{Dir: f.catDir, Root: f.root})
	if err != nil {
		t.Fatal(err)
	}
	if dbs := cat2.Databases(); fmt.Sprint(dbs) != "[devices_data iot master_data]" {
		t.Errorf("reopened catalog databases %v", dbs)
	}
	q(`DROP TABLE iot.locations`)
	q(`DROP TABLE IF EXISTS iot.locations`)
	q(`DROP DATABASE devices_data CASCADE`)
	if _, err := f.eng.Query(ctx, `SELECT count(*) FROM devices_data.smart_devices_events`, nil); err == nil {
		t.Error("dropped table still readable")
	}
}
