package grafana

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-dev/sluice/internal/app"
	"github.com/sluice-dev/sluice/internal/apptest"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// PostgreSQL type OIDs Grafana maps (reference/grafana.md §1.6).
const (
	oidBool        = 16
	oidInt8        = 20
	oidInt4        = 23
	oidText        = 25
	oidFloat4      = 700
	oidFloat8      = 701
	oidVarchar     = 1043
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidNumeric     = 1700
)

var measures = []string{"temperature", "humidity", "voltage", "watt"}

var measureBase = map[string]float64{"temperature": 20, "humidity": 40, "voltage": 230, "watt": 100}

const (
	nDevices = 3
	nPoints  = 60 // one every 10 s: 10 minutes
	step     = 10 * time.Second
)

// value is what the test writes for device d, measure m, point k.
func value(d int, m string, k int) float64 { return measureBase[m] + float64(d)*10 + float64(k)*0.5 }

func device(d int) string { return fmt.Sprintf("dev-%d", d) }

// fixture is a running server holding the test data, and a connection
// made as Grafana makes its pool's connections. (Grafana uses pgxpool; the
// pool adds nothing on the wire, and pgxpool needs github.com/jackc/puddle
// in go.mod, which this module does not require.)
type fixture struct {
	app  *app.App
	conn *pgx.Conn
	base time.Time // time of point 0 (a whole minute)
	tr   timeRange // dashboard range: covers all points and "now"
}

// start runs a server on ephemeral loopback ports (MQTT off), writes
// nDevices × 4 measures × nPoints through the store's Go API and connects
// with Grafana's connection string.
func start(t *testing.T) *fixture {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.PGAddr = "127.0.0.1:0"
	cfg.MQTTAddr = ""
	a := apptest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	now := time.Now().UTC()
	base := now.Truncate(time.Minute).Add(-15 * time.Minute)
	var recs []tsdb.Record
	for d := range nDevices {
		dims := []tsdb.Dimension{{Name: "DeviceID", Value: device(d)}}
		for k := range nPoints {
			for _, m := range measures {
				recs = append(recs, tsdb.Record{Dimensions: dims, MeasureName: m, Time: base.Add(time.Duration(k) * step).UnixNano(), Value: tsdb.Double(value(d, m, k))})
			}
		}
	}
	if rej, err := a.DB().Write(ctx, "iot", "telemetry", recs); err != nil || len(rej) > 0 {
		t.Fatalf("write: %v, rejected %v", err, rej)
	}

	// Grafana's connection string (postgres.go buildBaseConnectionString
	// and generateConnectionString), sslmode disable as provisioned.
	host, port, _ := strings.Cut(a.PGAddr(), ":")
	pcfg, err := pgx.ParseConfig(fmt.Sprintf("user='sluice' host='%s' dbname='iot' port=%s sslmode='disable'", host, port))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &fixture{app: a, conn: conn, base: base,
		tr: timeRange{from: base.Add(-29*time.Second - 500*time.Millisecond), to: now.Add(2 * time.Minute)}}
}

// frame is a query result as Grafana's SQL engine collects it.
type frame struct {
	names []string
	oids  []uint32
	rows  [][]any // decoded from text as pgx does: float64, int64, string, time.Time, bool, nil
}

func (f *frame) col(name string) int {
	for i, n := range f.names {
		if n == name {
			return i
		}
	}
	return -1
}

// query runs sql as Grafana 12.4+ runs a panel query: simple protocol
// through PgConn().Exec, every result read, results whose command tag is
// not SELECT dropped, the rest appended after checking their columns
// match the first (pgx/sql_engine.go execQuery).
func (f *fixture) query(ctx context.Context, sql string) (*frame, error) {
	results, err := f.conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	m := pgtype.NewMap()
	var fr *frame
	for _, r := range results {
		if r.Err != nil {
			return nil, r.Err
		}
		if !r.CommandTag.Select() {
			continue
		}
		if fr == nil {
			fr = &frame{}
			for _, fd := range r.FieldDescriptions {
				fr.names = append(fr.names, fd.Name)
				fr.oids = append(fr.oids, fd.DataTypeOID)
			}
		} else if len(r.FieldDescriptions) != len(fr.names) {
			return nil, fmt.Errorf("results have %d and %d columns", len(fr.names), len(r.FieldDescriptions))
		}
		for _, row := range r.Rows {
			vals := make([]any, len(row))
			for i, src := range row {
				if src == nil {
					continue
				}
				oid := r.FieldDescriptions[i].DataTypeOID
				typ, ok := m.TypeForOID(oid)
				if !ok {
					return nil, fmt.Errorf("column %s: unknown data type oid %d", fr.names[i], oid)
				}
				v, err := typ.Codec.DecodeValue(m, oid, pgtype.TextFormatCode, src)
				if err != nil {
					return nil, fmt.Errorf("column %s: decoding %q as oid %d: %w", fr.names[i], src, oid, err)
				}
				vals[i] = v
			}
			fr.rows = append(fr.rows, vals)
		}
	}
	if fr == nil {
		return nil, fmt.Errorf("no SELECT result")
	}
	return fr, nil
}

func (f *fixture) mustQuery(t *testing.T, sql string) *frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fr, err := f.query(ctx, sql)
	if err != nil {
		t.Fatalf("%s\n  error: %v", sql, err)
	}
	return fr
}

// expandFixed expands Grafana macros over the fixture's range with
// $__interval = 1m and $device = all devices.
func (f *fixture) expand(t *testing.T, sql string) string {
	t.Helper()
	out, err := expand(sql, f.tr, time.Minute, map[string][]string{"device": {device(0), device(1), device(2)}})
	if err != nil {
		t.Fatalf("expanding %s: %v", sql, err)
	}
	return out
}

// timeSeriesTimes checks a frame as Grafana's time_series format does
// (reference/grafana.md §1.6): a column named exactly "time" of a time or
// numeric type, values converted to time, ascending; every other column is
// a string (a label) or numeric. It returns the times.
func timeSeriesTimes(t *testing.T, sql string, fr *frame) []time.Time {
	t.Helper()
	ti := fr.col("time")
	if ti < 0 {
		t.Fatalf("%s\n  time column is missing (columns %v)", sql, fr.names)
	}
	var times []time.Time
	for r, row := range fr.rows {
		var tm time.Time
		switch v := row[ti].(type) {
		case time.Time:
			tm = v
		case float64:
			tm = epochToTime(v)
		case int64:
			tm = epochToTime(float64(v))
		default:
			t.Fatalf("%s\n  row %d: time is %T (oid %d)", sql, r, row[ti], fr.oids[ti])
		}
		if len(times) > 0 && tm.Before(times[len(times)-1]) {
			t.Fatalf("%s\n  rows are not sorted by time ascending at row %d (%v after %v): Grafana fails with ErrorSeriesUnsorted", sql, r, tm, times[len(times)-1])
		}
		times = append(times, tm)
	}
	for i, oid := range fr.oids {
		switch oid {
		case oidText, oidVarchar, oidFloat8, oidFloat4, oidInt8, oidInt4, oidNumeric, oidTimestamp, oidTimestamptz:
		default:
			if i != ti {
				t.Errorf("%s\n  column %s has oid %d, which a time series cannot use", sql, fr.names[i], oid)
			}
		}
	}
	return times
}

// epochToTime is Grafana's epochPrecisionToMS: seconds (~1e9), ns (~1e18)
// or ms.
func epochToTime(v float64) time.Time {
	switch {
	case v >= 1e17:
		return time.Unix(0, int64(v)).UTC()
	case v >= 1e11:
		return time.UnixMilli(int64(v)).UTC()
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// postEvents sends events to the HTTP ingest endpoint as NDJSON.
func (f *fixture) postEvents(t *testing.T, events ...string) {
	t.Helper()
	body := strings.Join(events, "\n") + "\n"
	resp, err := http.Post("http://"+f.app.HTTPAddr()+"/v1/streams/events/records", "application/x-ndjson", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST events: status %d", resp.StatusCode)
	}
}

// waitRows polls a count query until it reaches want.
func (f *fixture) waitRows(t *testing.T, sql string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fr, err := f.query(context.Background(), sql)
		if err == nil && len(fr.rows) == 1 && fr.rows[0][0].(int64) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %d, got %v, %v", sql, want, fr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Grafana's query-builder queries, verbatim (reference/grafana.md §1.4).
const schemaConstraint = `quote_ident(table_schema) IN (
  SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
  FROM generate_series(
    array_lower(string_to_array(current_setting('search_path'),','),1),
    array_upper(string_to_array(current_setting('search_path'),','),1)
  ) as i,
  string_to_array(current_setting('search_path'),',') s )`

const tableListQuery = `SELECT
  CASE WHEN ` + schemaConstraint + `
    THEN quote_ident(table_name)
    ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
  END AS "table"
  FROM information_schema.tables
  WHERE quote_ident(table_schema) NOT IN ('information_schema','pg_catalog',
    '_timescaledb_cache','_timescaledb_catalog','_timescaledb_internal',
    '_timescaledb_config','timescaledb_information','timescaledb_experimental')
  ORDER BY CASE WHEN ` + schemaConstraint + ` THEN 0 ELSE 1 END, 1`

func columnListQuery(table string) string {
	t := strings.ReplaceAll(table, "'", "''")
	return `SELECT quote_ident(column_name) AS "column", data_type AS "type"
  FROM information_schema.columns
  WHERE CASE WHEN array_length(parse_ident('` + t + `'),1) = 2
    THEN quote_ident(table_schema) = (parse_ident('` + t + `'))[1]
      AND quote_ident(table_name) = (parse_ident('` + t + `'))[2]
    ELSE quote_ident(table_name) = '` + t + `' AND ` + schemaConstraint + ` END`
}

func TestGrafanaDataSource(t *testing.T) {
	f := start(t)
	ctx := context.Background()

	// Save & test: pgx's Ping (what pgxpool.Ping calls) sends "-- ping";
	// lib/pq (Grafana ≤ 12.3) sent ";". Both need EmptyQueryResponse.
	if err := f.conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := f.conn.PgConn().Exec(ctx, ";").ReadAll(); err != nil {
		t.Errorf("lib/pq ping ';': %v", err)
	}

	t.Run("version probe", func(t *testing.T) {
		fr := f.mustQuery(t, `SELECT current_setting('server_version_num')::int/100 as version`)
		if len(fr.names) != 1 || fr.names[0] != "version" || len(fr.rows) != 1 {
			t.Fatalf("got %v %v", fr.names, fr.rows)
		}
		if v, ok := fr.rows[0][0].(int64); !ok || v != 1600 {
			t.Errorf("version = %#v, want 1600", fr.rows[0][0])
		}
	})
	t.Run("timescaledb probe", func(t *testing.T) {
		// No rows (pgx's ReadAll reports no columns for an empty result).
		fr := f.mustQuery(t, `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`)
		if len(fr.rows) != 0 {
			t.Errorf("got %v %v, want no rows", fr.names, fr.rows)
		}
	})
	t.Run("table list", func(t *testing.T) {
		fr := f.mustQuery(t, tableListQuery)
		var got []string
		for _, r := range fr.rows {
			got = append(got, r[0].(string))
		}
		// The user is "sluice", so search_path's "$user" names the system
		// database: its tables are listed unqualified (as PostgreSQL does)
		// and resolve unqualified too.
		want := []string{"anomalies", "clock_corrections", "dead_letters", "iot.telemetry"}
		if fmt.Sprint(got) != fmt.Sprint(want) || fr.names[0] != "table" {
			t.Errorf("tables %v (column %v), want %v", got, fr.names, want)
		}
		for _, name := range got {
			f.mustQuery(t, "SELECT * FROM "+name+" LIMIT 50")
		}
	})
	t.Run("column list", func(t *testing.T) {
		fr := f.mustQuery(t, columnListQuery("iot.telemetry"))
		var got []string
		for _, r := range fr.rows {
			got = append(got, r[0].(string)+" "+r[1].(string))
		}
		want := []string{`"time" timestamp without time zone`, `measure_name text`, `"DeviceID" text`, `"measure_value::double" double precision`}
		if strings.Join(got, "|") != strings.Join(want, "|") || fmt.Sprint(fr.names) != "[column type]" {
			t.Errorf("columns %q (%v), want %q", got, fr.names, want)
		}
		// The builder then writes SQL with those identifiers.
		b := f.mustQuery(t, f.expand(t, `SELECT "time", "DeviceID", "measure_value::double" FROM iot.telemetry WHERE $__timeFilter("time") AND measure_name = 'watt' ORDER BY "time" ASC LIMIT 50`))
		if len(b.rows) != 50 {
			t.Errorf("builder query: %d rows, want 50", len(b.rows))
		}
	})
	t.Run("schema API", func(t *testing.T) {
		// Query with arguments: the extended protocol, as schema.go's
		// pool.Query.
		collect := func(sql string, args ...any) []string {
			rows, err := f.conn.Query(ctx, sql, args...)
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, strings.TrimSpace(fmt.Sprintln(vals...)))
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			return out
		}
		if got := collect(`SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema' ORDER BY schema_name`); fmt.Sprint(got) != "[iot sluice]" {
			t.Errorf("schemata %v", got)
		}
		if got := collect(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type IN ('BASE TABLE','VIEW') ORDER BY table_name`, "sluice"); fmt.Sprint(got) != "[anomalies clock_corrections dead_letters]" {
			t.Errorf("tables %v", got)
		}
		got := collect(`SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, "iot", "telemetry")
		want := "[time timestamp without time zone timestamp <nil> <nil> measure_name text text <nil> <nil> DeviceID text text <nil> <nil> measure_value::double double precision float8 53 <nil>]"
		if fmt.Sprint(got) != want {
			t.Errorf("columns\n got %v\nwant %v", got, want)
		}
	})
	t.Run("distinct values", func(t *testing.T) {
		fr := f.mustQuery(t, `SELECT 'DeviceID' AS col_name, "DeviceID"::text AS val FROM (SELECT DISTINCT "DeviceID" FROM "iot"."telemetry" WHERE "DeviceID" IS NOT NULL ORDER BY "DeviceID" LIMIT 100) sub_0 UNION ALL SELECT 'measure_name' AS col_name, "measure_name"::text AS val FROM (SELECT DISTINCT "measure_name" FROM "iot"."telemetry" WHERE "measure_name" IS NOT NULL ORDER BY "measure_name" LIMIT 100) sub_1`)
		var got []string
		for _, r := range fr.rows {
			got = append(got, r[0].(string)+"="+r[1].(string))
		}
		want := "[DeviceID=dev-0 DeviceID=dev-1 DeviceID=dev-2 measure_name=humidity measure_name=temperature measure_name=voltage measure_name=watt]"
		if fmt.Sprint(got) != want {
			t.Errorf("got %v", got)
		}
	})

	t.Run("temperature per device per minute", func(t *testing.T) {
		sql := f.expand(t, `SELECT $__timeGroupAlias(time,'1m'), "DeviceID" AS metric, avg("measure_value::double") AS temperature
FROM iot.telemetry
WHERE $__timeFilter(time) AND measure_name = 'temperature' AND "DeviceID" IN ($device)
GROUP BY 1,2
ORDER BY 1`)
		fr := f.mustQuery(t, sql)
		if fmt.Sprint(fr.names) != "[time metric temperature]" || fmt.Sprint(fr.oids) != fmt.Sprint([]uint32{oidFloat8, oidText, oidFloat8}) {
			t.Fatalf("columns %v oids %v", fr.names, fr.oids)
		}
		times := timeSeriesTimes(t, sql, fr)
		if len(fr.rows) != nDevices*nPoints/6 {
			t.Fatalf("%d rows, want %d", len(fr.rows), nDevices*nPoints/6)
		}
		for i, r := range fr.rows {
			minute := int(times[i].Sub(f.base) / time.Minute)
			var d int
			fmt.Sscanf(r[1].(string), "dev-%d", &d)
			want := 0.0
			for k := minute * 6; k < minute*6+6; k++ {
				want += value(d, "temperature", k) / 6
			}
			if math.Abs(r[2].(float64)-want) > 1e-9 {
				t.Errorf("%v %s: %v, want %v", times[i], r[1], r[2], want)
			}
		}
	})
	t.Run("raw points with $__time and $__timeFrom", func(t *testing.T) {
		sql := f.expand(t, `SELECT $__time(time), "measure_value::double" AS voltage FROM iot.telemetry WHERE time >= $__timeFrom() AND time <= $__timeTo() AND measure_name = 'voltage' AND "DeviceID" = 'dev-1' ORDER BY 1`)
		fr := f.mustQuery(t, sql)
		if fr.oids[0] != oidTimestamp && fr.oids[0] != oidTimestamptz {
			t.Fatalf("time oid %d", fr.oids[0])
		}
		times := timeSeriesTimes(t, sql, fr)
		if len(times) != nPoints {
			t.Fatalf("%d rows, want %d", len(times), nPoints)
		}
		for k, tm := range times {
			if !tm.Equal(f.base.Add(time.Duration(k)*step)) || fr.rows[k][1].(float64) != value(1, "voltage", k) {
				t.Errorf("point %d: %v %v, want %v %v", k, tm, fr.rows[k][1], f.base.Add(time.Duration(k)*step), value(1, "voltage", k))
			}
		}
	})
	t.Run("epoch time column and unix epoch filter", func(t *testing.T) {
		sql := f.expand(t, `SELECT $__timeEpoch(time), watt FROM (
  SELECT time, extract(epoch from time) AS epoch_s, "measure_value::double" AS watt
  FROM iot.telemetry WHERE measure_name = 'watt' AND "DeviceID" = 'dev-2') t
WHERE $__unixEpochFilter(epoch_s) ORDER BY 1`)
		fr := f.mustQuery(t, sql)
		times := timeSeriesTimes(t, sql, fr)
		if len(times) != nPoints || !times[0].Equal(f.base) {
			t.Errorf("%d rows from %v, want %d from %v", len(times), times, nPoints, f.base)
		}
	})
	t.Run("points per minute", func(t *testing.T) {
		sql := f.expand(t, `SET TIMEZONE TO 'UTC'; SELECT $__timeGroupAlias(time, $__interval), count(*) AS points FROM iot.telemetry WHERE $__timeFilter(time) GROUP BY 1 ORDER BY 1`)
		fr := f.mustQuery(t, sql)
		times := timeSeriesTimes(t, sql, fr)
		if len(times) != 10 {
			t.Fatalf("%d minutes, want 10", len(times))
		}
		for i, r := range fr.rows {
			if !times[i].Equal(f.base.Add(time.Duration(i)*time.Minute)) || r[1].(int64) != nDevices*int64(len(measures))*6 {
				t.Errorf("minute %d: %v %v", i, times[i], r[1])
			}
		}
	})
	t.Run("latest values per device", func(t *testing.T) {
		sql := f.expand(t, `SELECT "DeviceID", max(time) AS last_seen,
  max_by("measure_value::double", time) FILTER (WHERE measure_name = 'temperature') AS temperature,
  max_by("measure_value::double", time) FILTER (WHERE measure_name = 'watt') AS watt
FROM iot.telemetry WHERE $__timeFilter(time) AND "DeviceID" IN ($device) GROUP BY 1 ORDER BY 1`)
		fr := f.mustQuery(t, sql)
		if fmt.Sprint(fr.names) != "[DeviceID last_seen temperature watt]" || fr.oids[1] != oidTimestamp {
			t.Fatalf("columns %v %v", fr.names, fr.oids)
		}
		last := f.base.Add((nPoints - 1) * step)
		for d, r := range fr.rows {
			if r[0] != device(d) || !r[1].(time.Time).Equal(last) || r[2] != value(d, "temperature", nPoints-1) || r[3] != value(d, "watt", nPoints-1) {
				t.Errorf("row %d: %v", d, r)
			}
		}
	})
	t.Run("dead letters", func(t *testing.T) {
		bad := []string{`{"DeviceID":"broken-1","Time":1700000000000}`, `{"DeviceID":"broken-2","temperature_measure":{"nested":1}}`}
		f.postEvents(t, bad...)
		f.waitRows(t, `SELECT count(*) FROM sluice.dead_letters`, 2)
		f.tr.to = time.Now().Add(time.Minute)
		sql := f.expand(t, `SELECT time, reason, payload FROM sluice.dead_letters WHERE $__timeFilter(time) ORDER BY time DESC LIMIT 100`)
		fr := f.mustQuery(t, sql)
		if fmt.Sprint(fr.names) != "[time reason payload]" || fr.oids[0] != oidTimestamp || fr.oids[1] != oidText {
			t.Fatalf("columns %v %v", fr.names, fr.oids)
		}
		var payloads []string
		for _, r := range fr.rows {
			payloads = append(payloads, strings.TrimSpace(r[2].(string)))
			if r[1] == nil || r[1].(string) == "" {
				t.Errorf("no reason: %v", r)
			}
		}
		sort.Strings(payloads)
		if fmt.Sprint(payloads) != fmt.Sprint(bad) {
			t.Errorf("payloads %q, want %q", payloads, bad)
		}
	})
}
