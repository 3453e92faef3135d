package api

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/sql/fn"
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

// The fast paths for timestamps and decimals agree with fn.AppendTimestamp
// and strconv.
func TestFastJSONValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tc tsCache
	ts := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, -60e9, 60e9 - 1, 1795683600123456789}
	base := int64(1795683600e9)
	for i := range 2000 {
		ts = append(ts, base+int64(i)*1e9+rng.Int64N(3)) // ascending, shared minutes
		ts = append(ts, rng.Int64()-math.MaxInt64/2)
	}
	for _, v := range ts {
		if got, want := string(tc.append(nil, v)), fn.FormatTimestamp(v); got != want {
			t.Fatalf("timestamp %d: %q, want %q", v, got, want)
		}
	}
	fs := []float64{0, math.Copysign(0, -1), 1e-4, -1e-4, 9.99999e-5, 999999.9999, 1e6, 123456, 0.1, 0.3, 21.37, -5.5, 1e21, math.MaxFloat64, math.SmallestNonzeroFloat64, 4503599627370497}
	for range 20000 {
		k := rng.IntN(6)
		fs = append(fs, math.Round(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(8))))/math.Pow(10, float64(k)))
		fs = append(fs, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(20)-10)))
	}
	for _, f := range fs {
		if got, want := string(appendFloatJSON(nil, f)), strconv.FormatFloat(f, 'g', -1, 64); got != want {
			t.Fatalf("float %v: %q, want %q", f, got, want)
		}
	}
}

// go test -bench AppendRowsJSON ./internal/api/
func BenchmarkAppendRowsJSON(b *testing.B) {
	// One series-hour at 1 Hz, as Q1 of sluice bench query returns it.
	bt := &columnar.Batch{}
	tc := bt.Add("time", columnar.NewColumn(columnar.Timestamp, 0))
	vc := bt.Add("measure_value::double", columnar.NewColumn(columnar.Float64, 0))
	base := int64(1795683600e9)
	for i := range 3600 {
		tc.AppendInt(base - int64(i)*1e9)
		vc.AppendFloat(float64(2000+i%300) / 100)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = appendRowsJSON(buf[:0], bt, 0, bt.Len())
	}
	b.SetBytes(int64(len(buf)))
}

// Columns with NULLs in some rows and not in others, written from an
// offset, as pages of a result are.
func TestAppendRowsJSONNulls(t *testing.T) {
	b := &columnar.Batch{}
	ts := b.Add("t", columnar.NewColumn(columnar.Timestamp, 0))
	f := b.Add("f", columnar.NewColumn(columnar.Float64, 0))
	for i := range 10 {
		if i == 7 {
			ts.AppendNull()
			f.AppendNull()
			continue
		}
		ts.AppendInt(1795683600e9 + int64(i)*1e9 + int64(i%3))
		f.AppendFloat(float64(i) / 4)
	}
	for _, r := range [][2]int{{0, 10}, {0, 7}, {3, 9}, {8, 10}, {7, 8}, {5, 5}} {
		got := appendRowsJSON(nil, b, r[0], r[1])
		want := []any{}
		for i := r[0]; i < r[1]; i++ {
			want = append(want, []any{FormatValue(ts, i), FormatValue(f, i)})
		}
		wantJSON, _ := json.Marshal(want)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("rows %v: output is not JSON: %v\n%s", r, err, got)
		}
		json.Unmarshal(wantJSON, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("rows %v: got  %s\nwant %s", r, got, wantJSON)
		}
	}
}

// go test -bench AppendRowsJSONStrings ./internal/api/
func BenchmarkAppendRowsJSONStrings(b *testing.B) {
	// The latest value of every series, as Q4 of sluice bench query
	// returns it: device id, measure name, value.
	bt := &columnar.Batch{}
	dc := bt.Add("DeviceID", columnar.NewColumn(columnar.String, 0))
	mc := bt.Add("measure_name", columnar.NewColumn(columnar.String, 0))
	vc := bt.Add("value", columnar.NewColumn(columnar.Float64, 0))
	for i := range 4000 {
		dc.AppendString(strconv.Itoa(i/4) + "-0000-4000-8000-000000000000")
		mc.AppendString([]string{"humidity", "temperature", "voltage", "watt"}[i%4])
		vc.AppendFloat(float64(2000+i%300) / 100)
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = appendRowsJSON(buf[:0], bt, 0, bt.Len())
	}
	b.SetBytes(int64(len(buf)))
}
