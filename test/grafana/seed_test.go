package grafana

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// seedQuery is the panel query of the seed article (section
// "Visualization"), restored minimally: the article prints typographic
// opening quotes (‘) and lost both closing quotes, so ‘${measure} and
// ‘${device_id} are written here as '${measure}' and '${device_id}'.
// Nothing else is changed (line breaks, case and the lower-case
// "order by" are the article's).
const seedQuery = `SELECT time, measure_value::double as ${measure}
FROM $__database.$__table
WHERE measure_name = '${measure}'
AND DeviceID = '${device_id}'
AND $__timeFilter order by time DESC`

// The seed query was written for the Timestream plugin, whose macros take
// no parentheses ($__database, $__table, $__timeFilter: reference/grafana.md
// §4). Grafana's PostgreSQL data source matches macros only with
// parentheses (§1.5), so it would send those three verbatim. On the
// PostgreSQL data source the same panel is therefore written with the
// table named and the column given to $__timeFilter; seedQueryPG is that
// port, and the only change from seedQuery.
var seedQueryPG = strings.NewReplacer(
	"$__database.$__table", "iot.telemetry",
	"$__timeFilter", "$__timeFilter(time)",
).Replace(seedQuery)

// expandSingle substitutes single-value template variables as Grafana's
// SQL data sources do (datasource.ts interpolateVariable, variable neither
// multi nor include-all): the value with ' doubled and no surrounding
// quotes, for both $name and ${name}.
func expandSingle(sql string, vars map[string]string) string {
	for name, v := range vars {
		v = strings.ReplaceAll(v, "'", "''")
		sql = strings.ReplaceAll(sql, "${"+name+"}", v)
		sql = strings.ReplaceAll(sql, "$"+name, v)
	}
	return sql
}

// TestSeedDashboardQuery runs the seed's Grafana query, expanded as
// Grafana's PostgreSQL data source expands it, over the simple protocol
// (as Grafana sends rawSql), for a device and measure of the fixture's
// data, and checks the rows against what was written.
func TestSeedDashboardQuery(t *testing.T) {
	f := start(t)
	const d, m = 1, "temperature"
	vars := map[string]string{"measure": m, "device_id": device(d)}

	t.Run("postgres_macros_need_parentheses", func(t *testing.T) {
		// Documents why the port is needed: as written, the plugin's
		// macros pass through the PostgreSQL data source untouched.
		sql, err := expandMacros(interpolateGlobals(expandSingle(seedQuery, vars), f.tr, time.Minute), f.tr)
		if err != nil {
			t.Fatalf("expand: %v", err)
		}
		for _, macro := range []string{"$__database.$__table", "$__timeFilter order"} {
			if !strings.Contains(sql, macro) {
				t.Errorf("expanded query lost %q; the PostgreSQL data source leaves it:\n%s", macro, sql)
			}
		}
	})

	for _, tc := range []struct {
		name     string
		from, to int // points k in [from, to] lie in the dashboard range
	}{
		{"range=all", 0, nPoints - 1},
		// BETWEEN is inclusive at both ends: the range's ends are exactly
		// the times of points 10 and 29.
		{"range=points_10_to_29", 10, 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := f.tr
			if tc.from > 0 || tc.to < nPoints-1 {
				tr = timeRange{from: f.base.Add(time.Duration(tc.from) * step), to: f.base.Add(time.Duration(tc.to) * step)}
			}
			sql, err := expandMacros(interpolateGlobals(expandSingle(seedQueryPG, vars), tr, time.Minute), tr)
			if err != nil {
				t.Fatalf("expand: %v", err)
			}
			want := fmt.Sprintf(`SELECT time, measure_value::double as temperature
FROM iot.telemetry
WHERE measure_name = 'temperature'
AND DeviceID = 'dev-1'
AND time BETWEEN '%s' AND '%s' order by time DESC`, tr.from.UTC().Format(time.RFC3339Nano), tr.to.UTC().Format(time.RFC3339Nano))
			if sql != want {
				t.Fatalf("expanded query:\n%s\nwant:\n%s", sql, want)
			}
			fr := f.mustQuery(t, sql)
			if len(fr.names) != 2 || fr.names[0] != "time" || fr.names[1] != m {
				t.Fatalf("columns %v, want [time %s]", fr.names, m)
			}
			if fr.oids[0] != oidTimestamptz && fr.oids[0] != oidTimestamp {
				t.Errorf("time column has oid %d, want a timestamp", fr.oids[0])
			}
			if fr.oids[1] != oidFloat8 {
				t.Errorf("%s column has oid %d, want float8 (%d)", m, fr.oids[1], oidFloat8)
			}
			if n := tc.to - tc.from + 1; len(fr.rows) != n {
				t.Fatalf("%d rows, want %d:\n%v", len(fr.rows), n, fr.rows)
			}
			for i, row := range fr.rows {
				k := tc.to - i // newest first
				wantT := f.base.Add(time.Duration(k) * step)
				gotT, ok := row[0].(time.Time)
				if !ok || !gotT.Equal(wantT) {
					t.Errorf("row %d: time %v, want %v", i, row[0], wantT)
				}
				if v, ok := row[1].(float64); !ok || v != value(d, m, k) {
					t.Errorf("row %d: %s = %v, want %v", i, m, row[1], value(d, m, k))
				}
			}
		})
	}
}

// TestSeedQueryTimestreamPlugin runs the seed query expanded as the
// Timestream plugin would (its own macros, reference/grafana.md §4: the
// default database and table, $__timeFilter over the fixed column time
// with from_milliseconds), to show the article's query needs no change
// beyond the restored quotes when the plugin's expansion is used.
func TestSeedQueryTimestreamPlugin(t *testing.T) {
	f := start(t)
	const d, m = 2, "watt"
	sql := expandSingle(seedQuery, map[string]string{"measure": m, "device_id": device(d)})
	sql = strings.NewReplacer(
		"$__database", "iot", "$__table", "telemetry",
		"$__timeFilter", fmt.Sprintf("time BETWEEN from_milliseconds(%d) AND from_milliseconds(%d)", f.tr.from.UnixMilli(), f.tr.to.UnixMilli()),
	).Replace(sql)
	fr := f.mustQuery(t, sql)
	if len(fr.rows) != nPoints || len(fr.names) != 2 || fr.names[1] != m {
		t.Fatalf("%d rows, columns %v; want %d rows, [time %s]", len(fr.rows), fr.names, nPoints, m)
	}
	for i, row := range fr.rows {
		k := nPoints - 1 - i
		if v, ok := row[1].(float64); !ok || v != value(d, m, k) {
			t.Errorf("row %d: %s = %v, want %v", i, m, row[1], value(d, m, k))
		}
	}
}
