package timestream

import (
	"testing"

	"github.com/sluice-dev/sluice/internal/tsdb"
)

func str(s string) *string { return &s }

func TestConvert(t *testing.T) {
	v2 := int64(2)
	req := &WriteRequest{
		CommonAttributes: &Record{Dimensions: []Dimension{{Name: "device_id", Value: "d-42"}}, TimeUnit: "MILLISECONDS"},
		Records: []Record{
			{MeasureName: "temperature", MeasureValue: str("21.5"), MeasureValueType: "DOUBLE", Time: "1717000000000"},
			{MeasureName: "env", MeasureValueType: "MULTI", Time: "1717000000000", Version: &v2,
				MeasureValues: []MeasureValue{{"humidity", "40", "BIGINT"}, {"ok", "true", "BOOLEAN"}}},
			{MeasureName: "bad", MeasureValue: str("x"), Time: "1717000000000"},
			{MeasureName: "dup", MeasureValue: str("1"), Time: "1", Dimensions: []Dimension{{Name: "device_id", Value: "x"}}},
			{MeasureName: "s", MeasureValue: str("1"), Time: "17", TimeUnit: "SECONDS"},
		},
	}
	recs, idx, rej := Convert(req)
	if len(recs) != 3 || len(rej) != 2 {
		t.Fatalf("got %d records, %d rejected: %+v", len(recs), len(rej), rej)
	}
	if idx[0] != 0 || idx[1] != 1 || idx[2] != 4 || rej[0].RecordIndex != 2 || rej[1].RecordIndex != 3 {
		t.Fatalf("indexes %v %+v", idx, rej)
	}
	if recs[0].Time != 1717000000000*1e6 || recs[0].Value != tsdb.Double(21.5) || recs[0].Dimensions[0].Value != "d-42" {
		t.Fatalf("record 0: %+v", recs[0])
	}
	if recs[1].Version != 2 || len(recs[1].Multi) != 2 || recs[1].Multi[0].Value != tsdb.Bigint(40) {
		t.Fatalf("record 1: %+v", recs[1])
	}
	if recs[2].Time != 17e9 {
		t.Fatalf("record 4 time %d", recs[2].Time)
	}
}

func TestParseTime(t *testing.T) {
	for _, c := range []struct {
		s, unit string
		want    int64
		ok      bool
	}{
		{"1", "", 1e6, true},
		{"1", "NANOSECONDS", 1, true},
		{"9223372036854775807", "NANOSECONDS", 9223372036854775807, true},
		{"9223372036854775808", "NANOSECONDS", 0, false},
		{"9223372036854", "MILLISECONDS", 9223372036854000000, true},
		{"9223372036855", "MILLISECONDS", 0, false},
		{"-1", "SECONDS", 0, false},
		{"1.5", "SECONDS", 0, false},
		{"1", "HOURS", 0, false},
	} {
		got, err := ParseTime(c.s, c.unit)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTime(%q, %q) = %d, %v", c.s, c.unit, got, err)
		}
	}
}
