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
	qtypes "github.com/aws/aws-sdk-go-v2/service/timestreamquery/types"
	"github.com/aws/aws-sdk-go-v2/service/timestreamwrite"
	wtypes "github.com/aws/aws-sdk-go-v2/service/timestreamwrite/types"

	"github.com/sluice-dev/sluice/internal/apptest"
)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func createTable(t *testing.T, c clients, db, table string) {
	t.Helper()
	ctx := ctxT(t)
	if _, err := c.write.CreateDatabase(ctx, &timestreamwrite.CreateDatabaseInput{DatabaseName: &db}); err != nil && errCode(err) != "ConflictException" {
		t.Fatalf("CreateDatabase: %v", err)
	}
	_, err := c.write.CreateTable(ctx, &timestreamwrite.CreateTableInput{
		DatabaseName: &db, TableName: &table,
		RetentionProperties: &wtypes.RetentionProperties{MemoryStoreRetentionPeriodInHours: sdkaws.Int64(24), MagneticStoreRetentionPeriodInDays: sdkaws.Int64(30)},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
}

// TestTimestreamCatalog covers the database and table operations through
// the SDK, after endpoint discovery.
func TestTimestreamCatalog(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)

	out, err := c.write.CreateDatabase(ctx, &timestreamwrite.CreateDatabaseInput{DatabaseName: sdkaws.String("plant")})
	if err != nil {
		t.Fatalf("CreateDatabase: %v", err)
	}
	if got := *out.Database.Arn; got != "arn:aws:timestream:us-east-1:000000000000:database/plant" {
		t.Errorf("Arn = %s", got)
	}
	if awsRequests(t, a, "DescribeEndpoints", "") < 1 {
		t.Error("the write client did not call DescribeEndpoints first")
	}
	if _, err := c.write.CreateDatabase(ctx, &timestreamwrite.CreateDatabaseInput{DatabaseName: sdkaws.String("plant")}); errCode(err) != "ConflictException" {
		t.Errorf("second CreateDatabase: %v, want ConflictException", err)
	}
	if _, err := c.write.CreateDatabase(ctx, &timestreamwrite.CreateDatabaseInput{DatabaseName: sdkaws.String("bad name!")}); errCode(err) != "ValidationException" {
		t.Errorf("bad name: %v, want ValidationException", err)
	}
	mag := true
	ct, err := c.write.CreateTable(ctx, &timestreamwrite.CreateTableInput{
		DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String("meters"),
		RetentionProperties:          &wtypes.RetentionProperties{MemoryStoreRetentionPeriodInHours: sdkaws.Int64(12), MagneticStoreRetentionPeriodInDays: sdkaws.Int64(365)},
		MagneticStoreWriteProperties: &wtypes.MagneticStoreWriteProperties{EnableMagneticStoreWrites: &mag},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if r := ct.Table.RetentionProperties; *r.MemoryStoreRetentionPeriodInHours != 12 || *r.MagneticStoreRetentionPeriodInDays != 365 ||
		!*ct.Table.MagneticStoreWriteProperties.EnableMagneticStoreWrites || ct.Table.TableStatus != wtypes.TableStatusActive {
		t.Errorf("CreateTable = %+v", ct.Table)
	}
	ut, err := c.write.UpdateTable(ctx, &timestreamwrite.UpdateTableInput{
		DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String("meters"),
		RetentionProperties: &wtypes.RetentionProperties{MemoryStoreRetentionPeriodInHours: sdkaws.Int64(48), MagneticStoreRetentionPeriodInDays: sdkaws.Int64(400)},
	})
	if err != nil || *ut.Table.RetentionProperties.MemoryStoreRetentionPeriodInHours != 48 {
		t.Fatalf("UpdateTable: %v %+v", err, ut)
	}
	dt, err := c.write.DescribeTable(ctx, &timestreamwrite.DescribeTableInput{DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String("meters")})
	if err != nil || *dt.Table.RetentionProperties.MagneticStoreRetentionPeriodInDays != 400 || dt.Table.CreationTime == nil {
		t.Fatalf("DescribeTable: %v %+v", err, dt)
	}
	for _, n := range []string{"a01", "a02", "a03"} {
		if _, err := c.write.CreateTable(ctx, &timestreamwrite.CreateTableInput{DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	// Pagination of ListTables with MaxResults 2.
	var names []string
	p := timestreamwrite.NewListTablesPaginator(c.write, &timestreamwrite.ListTablesInput{DatabaseName: sdkaws.String("plant"), MaxResults: sdkaws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTables: %v", err)
		}
		pages++
		for _, tb := range page.Tables {
			names = append(names, *tb.TableName)
		}
	}
	if strings.Join(names, ",") != "a01,a02,a03,meters" || pages != 2 {
		t.Errorf("ListTables = %v in %d pages", names, pages)
	}
	dbs, err := c.write.ListDatabases(ctx, &timestreamwrite.ListDatabasesInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range dbs.Databases {
		if *d.DatabaseName == "plant" {
			found = d.TableCount == 4
		}
	}
	if !found {
		t.Errorf("ListDatabases: %+v", dbs.Databases)
	}
	if _, err := c.write.DeleteDatabase(ctx, &timestreamwrite.DeleteDatabaseInput{DatabaseName: sdkaws.String("plant")}); errCode(err) != "ValidationException" {
		t.Errorf("DeleteDatabase with tables: %v", err)
	}
	if _, err := c.write.DescribeTable(ctx, &timestreamwrite.DescribeTableInput{DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String("nope")}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("DescribeTable of a missing table: %v", err)
	}
	for _, n := range []string{"a01", "a02", "a03", "meters"} {
		if _, err := c.write.DeleteTable(ctx, &timestreamwrite.DeleteTableInput{DatabaseName: sdkaws.String("plant"), TableName: sdkaws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.write.DeleteDatabase(ctx, &timestreamwrite.DeleteDatabaseInput{DatabaseName: sdkaws.String("plant")}); err != nil {
		t.Errorf("DeleteDatabase: %v", err)
	}
}

// TestWriteRecordsRejections writes every value type, MULTI records and
// versions, and checks that bad records are rejected by index while the
// good ones of the same call are stored.
func TestWriteRecordsRejections(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)
	createTable(t, c, "iot", "sdk")
	now := time.Now().Truncate(time.Millisecond)
	ts := ms(now.Add(-time.Minute))
	common := &wtypes.Record{Dimensions: []wtypes.Dimension{{Name: sdkaws.String("DeviceID"), Value: sdkaws.String("d-1")}}, Time: &ts}
	rec := func(name, value string, typ wtypes.MeasureValueType) wtypes.Record {
		return wtypes.Record{MeasureName: &name, MeasureValue: &value, MeasureValueType: typ}
	}
	multi := wtypes.Record{MeasureName: sdkaws.String("env"), MeasureValueType: wtypes.MeasureValueTypeMulti, Version: sdkaws.Int64(3),
		MeasureValues: []wtypes.MeasureValue{
			{Name: sdkaws.String("humidity"), Value: sdkaws.String("40"), Type: wtypes.MeasureValueTypeBigint},
			{Name: sdkaws.String("ok"), Value: sdkaws.String("true"), Type: wtypes.MeasureValueTypeBoolean},
			{Name: sdkaws.String("seen"), Value: sdkaws.String(ms(now)), Type: wtypes.MeasureValueTypeTimestamp},
		}}
	out, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{
		DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("sdk"), CommonAttributes: common,
		Records: []wtypes.Record{
			rec("temperature", "21.5", wtypes.MeasureValueTypeDouble),
			rec("count", "7", wtypes.MeasureValueTypeBigint),
			rec("state", "running", wtypes.MeasureValueTypeVarchar),
			rec("door", "false", wtypes.MeasureValueTypeBoolean),
			{MeasureName: sdkaws.String("voltage"), MeasureValue: sdkaws.String("230")}, // DOUBLE by default
			multi,
		},
	})
	if err != nil {
		t.Fatalf("WriteRecords: %v", err)
	}
	if out.RecordsIngested.Total != 6 || out.RecordsIngested.MemoryStore != 6 {
		t.Errorf("RecordsIngested = %+v", out.RecordsIngested)
	}

	future := ms(now.Add(time.Hour))
	_, err = c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{
		DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("sdk"), CommonAttributes: common,
		Records: []wtypes.Record{
			rec("humidity", "33.4", wtypes.MeasureValueTypeDouble),                                                     // 0: new, stored
			rec("temperature", "22", wtypes.MeasureValueTypeDouble),                                                    // 1: same key, other value, same version
			{MeasureName: sdkaws.String("temperature"), MeasureValue: sdkaws.String("21.5"), Version: sdkaws.Int64(1)}, // 2: same value: no-op
			{MeasureName: sdkaws.String("watt"), MeasureValue: sdkaws.String("777.8"), Time: &future},                  // 3: future
			{MeasureName: sdkaws.String("x"), MeasureValue: sdkaws.String("1"), // 4: dimension of another type
				Dimensions: []wtypes.Dimension{{Name: sdkaws.String("site"), Value: sdkaws.String("a"), DimensionValueType: "BIGINT"}}},
			{MeasureName: sdkaws.String("y"), MeasureValue: sdkaws.String("1"), // 5: duplicate of a common dimension
				Dimensions: []wtypes.Dimension{{Name: sdkaws.String("DeviceID"), Value: sdkaws.String("d-2")}}},
			{MeasureName: sdkaws.String("z"), MeasureValue: sdkaws.String("1"), // 6: reserved dimension name
				Dimensions: []wtypes.Dimension{{Name: sdkaws.String("time"), Value: sdkaws.String("now")}}},
			{MeasureName: sdkaws.String("env"), MeasureValueType: wtypes.MeasureValueTypeMulti, Version: sdkaws.Int64(2), // 7: lower version
				MeasureValues: []wtypes.MeasureValue{{Name: sdkaws.String("humidity"), Value: sdkaws.String("41"), Type: wtypes.MeasureValueTypeBigint}}},
			{MeasureName: sdkaws.String("count"), MeasureValue: sdkaws.String("8"), MeasureValueType: wtypes.MeasureValueTypeBigint, Version: sdkaws.Int64(2)}, // 8: higher version replaces
			rec("count", "notanumber", wtypes.MeasureValueTypeBigint), // 9: bad value
		},
	})
	rej, ok := asRejected(err)
	if !ok {
		t.Fatalf("WriteRecords with bad records: %v, want RejectedRecordsException", err)
	}
	got := map[int32]wtypes.RejectedRecord{}
	var idx []int
	for _, r := range rej.RejectedRecords {
		got[r.RecordIndex] = r
		idx = append(idx, int(r.RecordIndex))
	}
	if !sort.IntsAreSorted(idx) || fmt.Sprint(idx) != "[1 3 4 5 6 7 9]" {
		t.Fatalf("rejected indexes %v: %+v", idx, rej.RejectedRecords)
	}
	if r := got[1]; r.ExistingVersion == nil || *r.ExistingVersion != 1 || !strings.Contains(*r.Reason, "same time, dimensions, measure name, and record version") {
		t.Errorf("version conflict: %+v (%s)", r, sdkaws.ToString(r.Reason))
	}
	if r := got[7]; r.ExistingVersion == nil || *r.ExistingVersion != 3 || !strings.Contains(*r.Reason, "lower than the existing version 3") {
		t.Errorf("lower version: %+v (%s)", r, sdkaws.ToString(r.Reason))
	}
	if r := got[3]; r.ExistingVersion != nil || !strings.Contains(*r.Reason, "time range") {
		t.Errorf("future record: %s", sdkaws.ToString(r.Reason))
	}
	if *rej.Message != "One or more records have been rejected. See RejectedRecords for details." {
		t.Errorf("message %q", *rej.Message)
	}

	// What was stored: the first call's records, humidity, and count at
	// version 2.
	q, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: sdkaws.String(
		`SELECT measure_name, measure_value::double, measure_value::bigint, measure_value::varchar, measure_value::boolean, humidity, ok, seen, time
		 FROM "iot"."sdk" WHERE DeviceID = 'd-1' ORDER BY measure_name`)})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	wantCols := "measure_name:VARCHAR measure_value::double:DOUBLE measure_value::bigint:BIGINT measure_value::varchar:VARCHAR measure_value::boolean:BOOLEAN humidity:BIGINT ok:BOOLEAN seen:TIMESTAMP time:TIMESTAMP"
	if got := columns(q.ColumnInfo); got != wantCols {
		t.Errorf("columns\n got %s\nwant %s", got, wantCols)
	}
	tsStr := now.Add(-time.Minute).UTC().Format("2006-01-02 15:04:05.000000000")
	want := []string{
		"count|-|8|-|-|-|-|-|" + tsStr,
		"door|-|-|-|false|-|-|-|" + tsStr,
		"env|-|-|-|-|40|true|" + now.UTC().Format("2006-01-02 15:04:05.000000000") + "|" + tsStr,
		"humidity|33.4|-|-|-|-|-|-|" + tsStr,
		"state|-|-|running|-|-|-|-|" + tsStr,
		"temperature|21.5|-|-|-|-|-|-|" + tsStr,
		"voltage|230.0|-|-|-|-|-|-|" + tsStr,
	}
	if got := rows(q.Rows); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if q.QueryId == nil || q.QueryStatus == nil || q.NextToken != nil {
		t.Errorf("QueryId %v, QueryStatus %+v, NextToken %v", q.QueryId, q.QueryStatus, q.NextToken)
	}
	if awsRequests(t, a, "DescribeEndpoints", "") < 2 {
		t.Error("the query client did not call DescribeEndpoints")
	}
	// Missing table and bad SQL.
	if _, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("nope"),
		Records: []wtypes.Record{rec("a", "1", wtypes.MeasureValueTypeDouble)}, CommonAttributes: common}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("write to a missing table: %v", err)
	}
	if _, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: sdkaws.String("SELEC 1")}); errCode(err) != "ValidationException" {
		t.Errorf("bad SQL: %v", err)
	}
	if _, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: sdkaws.String(`SELECT * FROM "iot"."nope"`)}); errCode(err) != "ValidationException" {
		t.Errorf("missing table: %v", err)
	}
}

func asRejected(err error) (*wtypes.RejectedRecordsException, bool) {
	var rej *wtypes.RejectedRecordsException
	if err == nil {
		return nil, false
	}
	if !errorsAs(err, &rej) {
		return nil, false
	}
	return rej, true
}

func columns(ci []qtypes.ColumnInfo) string {
	var out []string
	for _, c := range ci {
		typ := "?"
		if c.Type.ScalarType != "" {
			typ = string(c.Type.ScalarType)
		}
		out = append(out, sdkaws.ToString(c.Name)+":"+typ)
	}
	return strings.Join(out, " ")
}

func rows(rs []qtypes.Row) []string {
	var out []string
	for _, r := range rs {
		var vals []string
		for _, d := range r.Data {
			switch {
			case d.NullValue != nil && *d.NullValue:
				vals = append(vals, "-")
			case d.ScalarValue != nil:
				vals = append(vals, *d.ScalarValue)
			default:
				vals = append(vals, "?")
			}
		}
		out = append(out, strings.Join(vals, "|"))
	}
	return out
}

// TestQueryPagination reads a result of 2500 rows in pages of at most
// 1000 (MaxRows) and in pages filled to about 1 MB, each page from the
// same snapshot although writes continue between pages.
func TestQueryPagination(t *testing.T) {
	a := apptest.Start(t, testConfig(t))
	c := newClients(a.HTTPAddr(), "AKIDTEST", "secret")
	ctx := ctxT(t)
	createTable(t, c, "iot", "many")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 2500
	write := func(from, to int) {
		for i := from; i < to; i += 100 {
			var recs []wtypes.Record
			for j := i; j < min(i+100, to); j++ {
				recs = append(recs, wtypes.Record{MeasureName: sdkaws.String("v"), MeasureValue: sdkaws.String(strconv.Itoa(j)),
					Time: sdkaws.String(ms(base.Add(time.Duration(j) * time.Millisecond)))})
			}
			if _, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("many"),
				CommonAttributes: &wtypes.Record{Dimensions: []wtypes.Dimension{{Name: sdkaws.String("dev"), Value: sdkaws.String("a")}}}, Records: recs}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, n)
	sql := `SELECT time, measure_value::double AS v FROM iot.many WHERE measure_value::double < 2500 ORDER BY time`
	// 600 bytes a row: 2500 rows are more than one 1 MB page.
	bigSQL := `SELECT time, measure_value::double AS v, lpad('x', 600, 'x') AS pad FROM iot.many WHERE measure_value::double < 2500 ORDER BY time`
	want := n // grows by the 100 rows each subtest writes after its first page
	for _, maxRows := range []int32{1000, 0} {
		t.Run(fmt.Sprintf("max_rows=%d", maxRows), func(t *testing.T) {
			in := &timestreamquery.QueryInput{QueryString: &sql}
			wantCols := "time:TIMESTAMP v:DOUBLE"
			if maxRows == 0 {
				in.QueryString, wantCols = &bigSQL, "time:TIMESTAMP v:DOUBLE pad:VARCHAR"
			}
			if maxRows > 0 {
				in.MaxRows = &maxRows
			}
			p := timestreamquery.NewQueryPaginator(c.query, in)
			var got []string
			pages := 0
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				if columns(page.ColumnInfo) != wantCols {
					t.Fatalf("page %d columns %s", pages, columns(page.ColumnInfo))
				}
				if maxRows > 0 && len(page.Rows) > int(maxRows) {
					t.Fatalf("page %d has %d rows", pages, len(page.Rows))
				}
				got = append(got, rows(page.Rows)...)
				pages++
				if pages == 1 {
					// Not in the snapshot: values below 2500 again, newer times.
					write2 := func() {
						var recs []wtypes.Record
						for j := 0; j < 100; j++ {
							recs = append(recs, wtypes.Record{MeasureName: sdkaws.String("v"), MeasureValue: sdkaws.String(strconv.Itoa(j)),
								Time: sdkaws.String(ms(base.Add(time.Minute + time.Duration(j)*time.Millisecond + time.Duration(maxRows)*time.Second)))})
						}
						if _, err := c.write.WriteRecords(ctx, &timestreamwrite.WriteRecordsInput{DatabaseName: sdkaws.String("iot"), TableName: sdkaws.String("many"),
							CommonAttributes: &wtypes.Record{Dimensions: []wtypes.Dimension{{Name: sdkaws.String("dev"), Value: sdkaws.String("a")}}}, Records: recs}); err != nil {
							t.Fatal(err)
						}
					}
					write2()
				}
			}
			if len(got) != want || maxRows > 0 && pages != 3 || maxRows == 0 && pages < 2 {
				t.Fatalf("%d rows in %d pages, want %d rows", len(got), pages, want)
			}
			want += 100
			for i, r := range got[:n] {
				if want := "|" + strconv.Itoa(i) + ".0"; !strings.Contains(r, want) {
					t.Fatalf("row %d = %s, want value %s", i, r, want)
				}
			}
		})
	}
	// The last page's token still answers for a while: a client whose
	// connection broke while reading that page retries it.
	lastSQL := `SELECT time FROM iot.many ORDER BY time LIMIT 15`
	mr := int32(10)
	in := &timestreamquery.QueryInput{QueryString: &lastSQL, MaxRows: &mr}
	page1, err := c.query.Query(ctx, in)
	if err != nil || page1.NextToken == nil {
		t.Fatalf("first page: %v", err)
	}
	in.NextToken = page1.NextToken
	for try := range 2 {
		last, err := c.query.Query(ctx, in)
		if err != nil || len(last.Rows) != 5 || last.NextToken != nil {
			t.Fatalf("last page, try %d: %v", try, err)
		}
	}
	// A token for another statement is refused.
	first, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: &sql, MaxRows: &mr})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %v", err)
	}
	if _, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: sdkaws.String("SELECT 1"), NextToken: first.NextToken}); errCode(err) != "ValidationException" {
		t.Errorf("token of another query: %v", err)
	}
	if _, err := c.query.CancelQuery(ctx, &timestreamquery.CancelQueryInput{QueryId: first.QueryId}); err != nil {
		t.Errorf("CancelQuery: %v", err)
	}
	if _, err := c.query.Query(ctx, &timestreamquery.QueryInput{QueryString: &sql, NextToken: first.NextToken}); errCode(err) != "ValidationException" {
		t.Errorf("token after CancelQuery: %v", err)
	}
}
