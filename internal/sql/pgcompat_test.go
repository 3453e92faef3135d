package sql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sluicesql "github.com/sluice-dev/sluice/internal/sql"
	"github.com/sluice-dev/sluice/internal/tsdb"
)

// searchPathConstraint is Grafana's <schemaConstraint>, verbatim
// (reference/grafana.md §1.4).
const searchPathConstraint = `quote_ident(table_schema) IN (
    SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM generate_series(
      array_lower(string_to_array(current_setting('search_path'),','),1),
      array_upper(string_to_array(current_setting('search_path'),','),1)
    ) as i,
    string_to_array(current_setting('search_path'),',') s )`

const grafanaTableList = `SELECT
    CASE WHEN ` + searchPathConstraint + `
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema','pg_catalog',
      '_timescaledb_cache','_timescaledb_catalog','_timescaledb_internal',
      '_timescaledb_config','timescaledb_information','timescaledb_experimental')
    ORDER BY CASE WHEN ` + searchPathConstraint + ` THEN 0 ELSE 1 END, 1`

func grafanaColumnList(table string) string {
	t := strings.ReplaceAll(table, "'", "''")
	return `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE CASE WHEN array_length(parse_ident('` + t + `'),1) = 2
      THEN quote_ident(table_schema) = (parse_ident('` + t + `'))[1]
        AND quote_ident(table_name) = (parse_ident('` + t + `'))[2]
      ELSE quote_ident(table_name) = '` + t + `' AND ` + searchPathConstraint + ` END`
}

// TestPostgresCompat runs what PostgreSQL clients (Grafana) send, with and
// without a wire session; expected answers were checked against
// PostgreSQL 15 where PostgreSQL has the same tables.
func TestPostgresCompat(t *testing.T) {
	db, _, _ := openSeeded(t)
	eng := sluicesql.New(db, sluicesql.Options{DefaultDatabase: "iot"})
	session := map[string]string{"search_path": "iot, public", "session_authorization": "grafana", "server_version": "16.2 (sluice)", "server_version_num": "160002"}
	withSession := sluicesql.WithSession(context.Background(), func(name string) (string, bool) {
		v, ok := session[strings.ToLower(name)]
		return v, ok
	})
	for _, c := range []struct {
		name    string
		session bool
		sql     string
		params  []any
		want    string
	}{
		{"version probe", false, `SELECT current_setting('server_version_num')::int/100 as version`, nil, "version\n1600\n"},
		{"version probe session", true, `SELECT current_setting('server_version_num')::int/100 as version`, nil, "version\n1600\n"},
		{"timescaledb probe", false, `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`, nil, "extversion\n"},
		{"qualified pg_catalog", false, `SELECT count(*) AS n FROM pg_catalog.pg_extension`, nil, "n\n0\n"},
		{"table list", false, grafanaTableList, nil, "table\niot.telemetry\n"},
		// With iot on the search path the table is listed unqualified, as
		// PostgreSQL does.
		{"table list on search_path", true, grafanaTableList, nil, "table\ntelemetry\n"},
		{"column list", false, grafanaColumnList("iot.telemetry"), nil,
			"column|type\n\"time\"|timestamp without time zone\nmeasure_name|text\n\"DeviceID\"|text\n\"measure_value::double\"|double precision\n"},
		{"column list unqualified", true, grafanaColumnList("telemetry"), nil,
			"column|type\n\"time\"|timestamp without time zone\nmeasure_name|text\n\"DeviceID\"|text\n\"measure_value::double\"|double precision\n"},
		{"column list unqualified off path", false, grafanaColumnList("telemetry"), nil, "column|type\n"},
		{"schemata", false, `SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema' ORDER BY schema_name`, nil, "schema_name\niot\n"},
		{"tables by schema", false, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type IN ('BASE TABLE','VIEW') ORDER BY table_name`, []any{"iot"}, "table_name\ntelemetry\n"},
		{"columns by table", false, `SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, []any{"iot", "telemetry"},
			"column_name|data_type|udt_name|numeric_precision|numeric_scale\ntime|timestamp without time zone|timestamp|NULL|NULL\nmeasure_name|text|text|NULL|NULL\nDeviceID|text|text|NULL|NULL\nmeasure_value::double|double precision|float8|53|NULL\n"},
		{"nullable", false, `SELECT column_name, is_nullable FROM information_schema.columns WHERE table_schema = 'iot' ORDER BY ordinal_position`, nil,
			"column_name|is_nullable\ntime|NO\nmeasure_name|NO\nDeviceID|YES\nmeasure_value::double|YES\n"},
		{"system schemas describe themselves", false, `SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'information_schema' AND table_name = 'columns'`, nil, "n\n16\n"},
		{"distinct values", false, `SELECT 'DeviceID' AS col_name, "DeviceID"::text AS val FROM (SELECT DISTINCT "DeviceID" FROM "iot"."telemetry" WHERE "DeviceID" IS NOT NULL ORDER BY "DeviceID" LIMIT 100) sub_0 UNION ALL SELECT 'measure_name' AS col_name, "measure_name"::text AS val FROM (SELECT DISTINCT "measure_name" FROM "iot"."telemetry" WHERE "measure_name" IS NOT NULL ORDER BY "measure_name" LIMIT 100) sub_1`, nil,
			"col_name|val\nDeviceID|dev-0\nDeviceID|dev-1\nDeviceID|dev-2\nmeasure_name|humidity\nmeasure_name|temperature\n"},
		{"session functions", false, `SELECT user, current_user, session_user, current_schema, current_schema() AS cs, current_database()`, nil,
			"user|current_user|session_user|current_schema|cs|current_database\nsluice|sluice|sluice|iot|iot|iot\n"},
		{"session user", true, `SELECT user, current_setting('search_path') AS p, current_setting('TimeZone') AS tz`, nil, "user|p|tz\ngrafana|iot, public|UTC\n"},
		{"user is a column when there is one", false, `SELECT "user" FROM (SELECT 'x' AS "user") t`, nil, "user\nx\n"},
		{"version()", true, `SELECT starts_with(version(), 'PostgreSQL 16.2') AS ok`, nil, "ok\ntrue\n"},
		{"missing_ok", false, `SELECT current_setting('no.such', true) AS v`, nil, "v\nNULL\n"},
		{"pg_settings", false, `SELECT setting FROM pg_settings WHERE name = 'search_path'`, nil, "setting\n\"$user\", public\n"},
		{"show", true, `SHOW search_path`, nil, "search_path\niot, public\n"},
		{"subscript", false, `SELECT i, s[i] FROM generate_series(0, 3) AS i, string_to_array('a,b', ',') s`, nil, "i|s\n0|NULL\n1|a\n2|b\n3|NULL\n"},
		{"parse_ident subscript", false, `SELECT (parse_ident('iot."Tele"'))[2] AS t`, nil, "t\nTele\n"},
		{"generate_series step", false, `SELECT g.n FROM generate_series(10, 1, -3) g(n)`, nil, "n\n10\n7\n4\n1\n"},
		{"generate_series empty", false, `SELECT count(*) AS n FROM generate_series(3, 1) x`, nil, "n\n0\n"},
		{"generate_series null", false, `SELECT count(*) AS n FROM generate_series(1, NULL) x`, nil, "n\n0\n"},
		{"generate_series timestamps", false, `SELECT x FROM generate_series(timestamp '2026-01-01 00:00:00', '2026-01-01 00:02:00', interval '1' minute) x`, nil,
			"x\n2026-01-01T00:00:00Z\n2026-01-01T00:01:00Z\n2026-01-01T00:02:00Z\n"},
		{"scalar function in FROM", false, `SELECT v FROM upper('a') AS v`, nil, "v\nA\n"},
		{"to_timestamp", false, `SELECT to_timestamp(0) AS t`, nil, "t\n1970-01-01T00:00:00Z\n"},
	} {
		ctx := context.Background()
		if c.session {
			ctx = withSession
		}
		res, err := eng.Query(ctx, c.sql, c.params)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := render(res); got != c.want {
			t.Errorf("%s:\n got:\n%s want:\n%s", c.name, got, c.want)
		}
		// pgx describes statements with parameters before running them.
		if c.params != nil {
			cols, err := eng.Describe(ctx, c.sql, []any{"", ""})
			if err != nil || len(cols) != len(res.Columns) {
				t.Errorf("%s: Describe = %v, %v", c.name, cols, err)
			}
		}
	}
}

func TestPostgresCompatErrors(t *testing.T) {
	_, eng, _ := openSeeded(t)
	for _, c := range []struct{ sql, code, msg string }{
		{`SELECT current_setting('no_such_setting')`, "42704", `unrecognized configuration parameter "no_such_setting"`},
		{`SELECT current_setting(measure_name) FROM iot.telemetry`, "0A000", "constant"},
		{`SELECT * FROM generate_series(1, 3, 0) x`, "22023", "step size cannot equal zero"},
		{`SELECT count(*) FROM generate_series(1, 100000000) x`, "54000", "limit"},
		{`SELECT * FROM generate_series(1, 'a') x`, "42804", "integers or both timestamps"},
		{`SELECT * FROM nosuch(1) x`, "0A000", "table function nosuch is not available"},
		{`SELECT (1)[1]`, "42804", "cannot subscript"},
		{`SELECT parse_ident('a.')`, "XX000", "not a valid identifier"},
		{`SHOW no_such_setting`, "42704", "unrecognized"},
		{`SELECT * FROM information_schema.nope`, "42P01", "does not exist"},
	} {
		_, err := eng.Query(context.Background(), c.sql, nil)
		e, ok := err.(*sluicesql.Error)
		if !ok || !strings.HasPrefix(e.Code, c.code) || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: got %v (%#v), want %s containing %q", c.sql, err, err, c.code, c.msg)
		}
	}
}

// TestSearchPathResolution checks that unqualified table names fall back to
// the search_path's schemas after the default database, "$user" included.
func TestSearchPathResolution(t *testing.T) {
	db, _, _ := openSeeded(t)
	ctx := context.Background()
	if err := db.EnsureTable(ctx, "ops", "events", tsdb.TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write(ctx, "ops", "events", []tsdb.Record{{MeasureName: "m", Time: time.Now().Add(-time.Minute).UnixNano(), Value: tsdb.Double(1)}}); err != nil {
		t.Fatal(err)
	}
	eng := sluicesql.New(db, sluicesql.Options{DefaultDatabase: "iot"})
	session := func(path, user string) context.Context {
		return sluicesql.WithSession(ctx, func(name string) (string, bool) {
			switch strings.ToLower(name) {
			case "search_path":
				return path, true
			case "session_authorization":
				return user, true
			}
			return "", false
		})
	}
	for _, c := range []struct {
		ctx  context.Context
		sql  string
		want string // "" = an error
	}{
		{ctx, `SELECT count(*) AS n FROM events`, ""},
		{session(`"$user", public`, "ops"), `SELECT count(*) AS n FROM events`, "n\n1\n"},
		{session(`public, OPS`, "x"), `SELECT count(*) AS n FROM events`, "n\n1\n"},
		{session(`"ops"`, "x"), `SELECT count(*) AS n FROM events`, "n\n1\n"},
		// The default database comes first.
		{session(`"$user"`, "ops"), `SELECT count(*) AS n FROM telemetry`, "n\n360\n"},
		{session(`"$user", public`, "ops"), grafanaTableList, "table\nevents\niot.telemetry\n"},
	} {
		res, err := eng.Query(c.ctx, c.sql, nil)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: no error", c.sql)
		case c.want != "" && err != nil:
			t.Errorf("%s: %v", c.sql, err)
		case c.want != "" && render(res) != c.want:
			t.Errorf("%s:\n got %s\nwant %s", c.sql, render(res), c.want)
		}
	}
}

// TestDescribeWithoutParameterValues is pgx's Parse/Describe of a statement
// with untyped parameters: it must describe, and then run with values.
func TestDescribeWithoutParameterValues(t *testing.T) {
	_, eng, _ := openSeeded(t)
	sql := `SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`
	cols, err := eng.Describe(context.Background(), sql, nil)
	if err != nil || len(cols) != 5 {
		t.Fatalf("Describe: %v, %v", cols, err)
	}
	if _, err := eng.Query(context.Background(), sql, nil); err == nil {
		t.Error("Query without parameter values: no error")
	}
}

// BenchmarkGrafanaCatalog measures Grafana's query-builder catalog queries
// end to end through the engine (parse, bind with the search_path
// construct, run). Run with:
//
//	go test ./internal/sql -run XXX -bench GrafanaCatalog -benchmem
func BenchmarkGrafanaCatalog(b *testing.B) {
	db, err := tsdb.Open(b.TempDir(), tsdb.Options{MaintenanceInterval: -1}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, tn := range []string{"telemetry", "events", "alerts"} {
		if err := db.EnsureTable(ctx, "iot", tn, tsdb.TableOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	eng := sluicesql.New(db, sluicesql.Options{DefaultDatabase: "iot"})
	for _, c := range []struct{ name, sql string }{
		{"query=version", `SELECT current_setting('server_version_num')::int/100 as version`},
		{"query=table_list", grafanaTableList},
		{"query=column_list", grafanaColumnList("iot.telemetry")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Query(ctx, c.sql, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
