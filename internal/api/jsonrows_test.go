package api

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// The hand-written encoder must produce what encoding/json makes of
// FormatValue's values.
func TestAppendRowsJSON(t *testing.T) {
	b := &columnar.Batch{}
	s := b.Add("s", columnar.NewColumn(columnar.String, 0))
	f := b.Add("f", columnar.NewColumn(columnar.Float64, 0))
	ts := b.Add("t", columnar.NewColumn(columnar.Timestamp, 0))
	bo := b.Add("b", columnar.NewColumn(columnar.Bool, 0))
	in := b.Add("i", columnar.NewColumn(columnar.Int64, 0))
	for _, v := range []string{"plain", "quote\" back\\slash", "ctl\x00\x1f\n\t", "üñí€ode", "bad\xffutf8", "<html>&"} {
		s.AppendString(v)
	}
	for _, v := range []float64{0, -1.5, 1e300, math.NaN(), math.Inf(-1), 21.3} {
		f.AppendFloat(v)
	}
	for _, v := range []int64{0, 1795683600123456789, -1, 1, 2, 3} {
		ts.AppendInt(v)
	}
	for i := 0; i < 6; i++ {
		bo.AppendBool(i%2 == 0)
		if i == 3 {
			in.AppendNull()
		} else {
			in.AppendInt(int64(i) * -1e15)
		}
	}
	got := appendRowsJSON(nil, b, 0, b.Len())
	var want [][]any
	for i := 0; i < b.Len(); i++ {
		var row []any
		for _, c := range b.Cols {
			row = append(row, FormatValue(c, i))
		}
		want = append(want, row)
	}
	wantJSON, _ := json.Marshal(want)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	json.Unmarshal(wantJSON, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got  %s\nwant %s", got, wantJSON)
	}
}

func FuzzAppendStringJSON(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff\xfe", "€"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendStringJSON(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: round trip %q, encoding/json gives %q", s, back, wantBack)
		}
	})
}
