package aws

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/timestreamquery"
	"github.com/aws/aws-sdk-go-v2/service/timestreamwrite"
	wtypes "github.com/aws/aws-sdk-go-v2/service/timestreamwrite/types"

	"github.com/sluice-dev/sluice/internal/apptest"
)

// grafanaMacros expands the Timestream data source's macros as its Go
// backend does (grafana/timestream-datasource pkg/timestream/macros.go,
// aws-compat.md §5.1): longest names first, the interval as "<N>ms".
func grafanaMacros(sql string, db, table, measure string, from, to time.Time, interval time.Duration) string {
	ims := strconv.FormatInt(interval.Milliseconds(), 10)
	macros := map[string]string{
		"$__timeFilter":      fmt.Sprintf("time BETWEEN from_milliseconds(%d) AND from_milliseconds(%d)", from.UnixMilli(), to.UnixMilli()),
		"$__timeFrom":        strconv.FormatInt(from.UnixMilli(), 10),
		"$__timeTo":          strconv.FormatInt(to.UnixMilli(), 10),
		"$__interval_ms":     ims + "ms",
		"$__interval_raw_ms": ims,
		"$__interval":        ims + "ms",
		"$__now_ms":          strconv.FormatInt(time.Now().UnixMilli(), 10),
		"$__database":        db,
		"$__table":           table,
		"$__measure":         measure,
	}
	names := make([]string, 0, len(macros))
	for k := range macros {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, k := range names {
		sql = strings.ReplaceAll(sql, k, macros[k])
	}
	return sql
}

// seedDashboardQuery is the seed's Grafana panel query, with the quotes
// the article's typesetting lost put back.
const seedDashboardQuery = "SELECT time, measure_value::double as ${measure}\n" +
	"FROM $__database.$__table\n" +
	"WHERE measure_name = '${measure}'\n" +
	"AND DeviceID = '${device_id}'\n" +
	"AND $__timeFilter order by time DESC"

// TestGrafanaTimestreamQueries runs what the Grafana Timestream plugin
// sends through Query: the health check, the schema browser's SHOW
// statements and the seed's dashboard query with the macros expanded.
func TestGrafanaTimestreamQueries(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)
	// The seed's data model: DeviceID dimension, four DOUBLE measures.
	now := time.Now().Truncate(time.Second)
	devices := []string{"dev-a", "dev-b"}
	measures := []string{"temperature", "humidity", "voltage", "watt"}
	for _, d := range devices {
		var recs []wtypes.Record
		for i := 0; i < 20; i++ {
			for k, m := range measures {
				recs = append(recs, wtypes.Record{MeasureName: sdkaws.String(m), MeasureValueType: wtypes.MeasureValueTypeDouble,
					MeasureValue: sdkaws.String(fmt.Sprintf("%d.5", 10*k+i)), Time: sdkaws.String(ms(now.Add(-time.Duration(i) * time.Minute)))})
			}
			if len(recs) == 100 || i == 19 {
				if _, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("telemetry"),
					CommonAttributes: &wtypes.Record{Dimensions: []wtypes.Dimension{{Name: sdkaws.String("DeviceID"), Value: sdkaws.String(d)}}}, Records: recs}); err != nil {
					t.Fatalf("WriteRecords: %v", err)
				}
				recs = nil
			}
		}
	}
	query := func(sql string) *timestreamquery.QueryOutput {
		t.Helper()
		out, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: &sql})
		if err != nil {
			t.Fatalf("Query %q: %v", sql, err)
		}
		return out
	}

	if got := query("SELECT 1"); *got.Rows[0].Data[0].ScalarValue != "1" {
		t.Errorf("health check: %+v", got.Rows)
	}
	if got := rows(query("SHOW DATABASES").Rows); !contains(got, "iot") {
		t.Errorf("SHOW DATABASES = %v", got)
	}
	if got := rows(query(`SHOW TABLES FROM "iot"`).Rows); !contains(got, "telemetry") {
		t.Errorf("SHOW TABLES = %v", got)
	}
	sm := query(`SHOW MEASURES FROM "iot"."telemetry"`)
	if len(sm.ColumnInfo) != 3 || sm.ColumnInfo[2].Type.ArrayColumnInfo == nil || len(sm.ColumnInfo[2].Type.ArrayColumnInfo.Type.RowColumnInfo) != 2 {
		t.Fatalf("SHOW MEASURES columns %+v", sm.ColumnInfo)
	}
	var ms []string
	for _, r := range sm.Rows {
		// As the plugin reads dimensions: column 2's ArrayValue of RowValues,
		// the name in Data[0].
		dims := r.Data[2].ArrayValue
		if len(dims) != 1 || *dims[0].RowValue.Data[0].ScalarValue != "DeviceID" || *dims[0].RowValue.Data[1].ScalarValue != "varchar" {
			t.Errorf("SHOW MEASURES dimensions of %s: %+v", *r.Data[0].ScalarValue, dims)
		}
		ms = append(ms, *r.Data[0].ScalarValue+":"+*r.Data[1].ScalarValue)
	}
	if strings.Join(ms, " ") != "humidity:double temperature:double voltage:double watt:double" {
		t.Errorf("SHOW MEASURES = %v", ms)
	}

	// The seed's panel: the frontend fills ${measure} and ${device_id},
	// the backend the macros ($__database and $__table as the editor's
	// quoted selections).
	from, to := now.Add(-10*time.Minute-30*time.Second), now
	sql := strings.NewReplacer("${measure}", "temperature", "${device_id}", "dev-b").Replace(seedDashboardQuery)
	sql = grafanaMacros(sql, `"iot"`, `"telemetry"`, "temperature", from, to, time.Minute)
	if !strings.Contains(sql, "time BETWEEN from_milliseconds(") {
		t.Fatalf("expansion: %s", sql)
	}
	out := query(sql)
	if columns(out.ColumnInfo) != "time:TIMESTAMP temperature:DOUBLE" {
		t.Errorf("columns %s", columns(out.ColumnInfo))
	}
	got := rows(out.Rows)
	var want []string
	for i := 0; i <= 10; i++ { // newest first, inside the 10.5 minute range
		want = append(want, now.Add(-time.Duration(i)*time.Minute).UTC().Format("2006-01-02 15:04:05.000000000")+"|"+fmt.Sprintf("%d.5", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("seed dashboard query\n%s\n got %v\nwant %v", sql, got, want)
	}

	// A time-series panel with $__interval_ms.
	sql = grafanaMacros(`SELECT BIN(time, $__interval_ms) AS t, AVG(measure_value::double) AS avg_temp
		FROM $__database.$__table WHERE $__timeFilter AND measure_name = '$__measure'
		GROUP BY BIN(time, $__interval_ms) ORDER BY t ASC`, `"iot"`, `"telemetry"`, "temperature", now.Add(-time.Hour), now, 5*time.Minute)
	out = query(sql)
	if columns(out.ColumnInfo) != "t:TIMESTAMP avg_temp:DOUBLE" {
		t.Errorf("interval query columns %s", columns(out.ColumnInfo))
	}
	total := 0
	for _, r := range rows(out.Rows) {
		tm, err := time.Parse("2006-01-02 15:04:05.000000000", strings.Split(r, "|")[0])
		if err != nil || tm.UnixNano()%int64(5*time.Minute) != 0 {
			t.Errorf("bin %s", r)
		}
		total++
	}
	if total < 4 || total > 5 {
		t.Errorf("%d bins of 5 minutes over 20 minutes of data: %v", total, rows(out.Rows))
	}
}

func contains(rows []string, v string) bool {
	for _, r := range rows {
		if r == v {
			return true
		}
	}
	return false
}
