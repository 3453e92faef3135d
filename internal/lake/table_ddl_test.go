package lake

import (
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/internal/sql/parse"
)

// TestDDLRoundTrip checks that DDL() prints what DefFromCreate reads back
// to the same definition, for every format and CSV flavour.
func TestDDLRoundTrip(t *testing.T) {
	cols := []TableColumn{{"device_id", "string"}, {"lat", "double"}, {"n", "decimal(10,2)"}}
	for _, def := range []TableDef{
		{Format: TableJSON, SerDe: SerDeOpenXJSON, PartitionBy: []TableColumn{{"year", "int"}, {"dt", "string"}}, Location: "s3://b/events/"},
		{Format: TableCSV, Separator: ",", Quote: `"`, Escape: `\`, SkipHeader: 1, Location: "/abs/ref", Comment: "it's"},
		{Format: TableCSV, Separator: "\t", Escape: `\`, NullFormat: `\N`, Location: "rel"},
		{Format: TableCSV, Separator: "\x01", NullFormat: "", Location: "rel"},
		{Format: TableParquet, SerDe: SerDeParquetHive, Location: "file:///x", Properties: map[string]string{"classification": "parquet"}},
	} {
		def.Database, def.Name, def.Columns = "db", "t", cols
		st, err := parse.ParseOne(def.DDL())
		if err != nil {
			t.Fatalf("%s\n%v", def.DDL(), err)
		}
		got, err := DefFromCreate(st.(*parse.CreateExternalTable), "")
		if err != nil {
			t.Fatalf("%s\n%v", def.DDL(), err)
		}
		got.SerDeProperties = nil // OpenCSV's are re-derived into Separator/Quote/Escape
		if got.Format == TableCSV {
			got.SerDe = ""
		}
		want := def
		if want.Format == TableCSV {
			want.SerDe = ""
		}
		if want.SkipHeader > 0 {
			want.Properties = map[string]string{"skip.header.line.count": "1"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\ngot  %+v\nwant %+v", def.DDL(), got, want)
		}
	}
	// ROW FORMAT text as people write it.
	for _, c := range []struct {
		text string
		want RowFormat
	}{
		{`SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde' WITH SERDEPROPERTIES ('separatorChar' = ';', "quoteChar" = '\'')`,
			RowFormat{SerDe: SerDeOpenCSV, Properties: map[string]string{"separatorChar": ";", "quoteChar": "'"}}},
		{`DELIMITED FIELDS TERMINATED BY '\001' ESCAPED BY '\\' LINES TERMINATED BY '\n'`, RowFormat{Delimited: true, FieldSep: "\x01", Escape: `\`, LineSep: "\n"}},
	} {
		got, err := ParseRowFormat(c.text)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseRowFormat(%q) = %+v, %v; want %+v", c.text, got, err, c.want)
		}
	}
}
