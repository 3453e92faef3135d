package plan

import (
	"context"
	"math"
	"reflect"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
)

type kindTable struct{ cols []Column }

func (t *kindTable) Columns() []Column { return t.cols }
func (t *kindTable) Kind(i int) string {
	return []string{"time", "measure_name", "dimension", "measure"}[i]
}
func (t *kindTable) Scan(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error {
	return nil
}

func TestPushFilter(t *testing.T) {
	tbl := &kindTable{cols: []Column{{Name: "time", Type: columnar.Timestamp}, {Name: "measure_name", Type: columnar.String},
		{Name: "DeviceID", Type: columnar.String}, {Name: "measure_value::double", Type: columnar.Float64}}}
	ref := func(i int) *ColRef { return &ColRef{Index: i, Name: tbl.cols[i].Name, T: tbl.cols[i].Type} }
	ts := func(v int64) *Const { return &Const{Val: v, T: columnar.Timestamp} }
	str := func(v string) *Const { return &Const{Val: v, T: columnar.String} }
	call := func(name string, args ...Expr) *Call { return &Call{Name: name, Args: args, T: columnar.Bool} }
	and := func(a, b Expr) Expr { return call("and", a, b) }
	for _, c := range []struct {
		name string
		cond Expr
		want ScanRequest
	}{
		{"time range", and(call(">=", ref(0), ts(10)), call("<", ref(0), ts(20))), ScanRequest{MinTime: 10, MaxTime: 19}},
		{"flipped", call(">", ts(20), ref(0)), ScanRequest{MinTime: math.MinInt64, MaxTime: 19}},
		{"measure", call("=", ref(1), str("temperature")), ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64, MeasureNames: []string{"temperature"}}},
		{"measure in, then eq", and(&InList{X: ref(1), List: []Expr{str("a"), str("b")}}, call("=", ref(1), str("b"))),
			ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64, MeasureNames: []string{"b"}}},
		{"dim eq and prefix", and(call("=", ref(2), str("d1")), call("like", ref(2), str("d%"))),
			ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64, Dims: []DimFilter{{Name: "DeviceID", Values: []string{"d1"}}, {Name: "DeviceID", Prefix: "d"}}}},
		{"like with wildcard inside is not a prefix", call("like", ref(2), str("d_%")), ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}},
		{"or is not pushed", call("or", call("=", ref(1), str("a")), call("=", ref(1), str("b"))), ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}},
		{"not in is not pushed", &InList{X: ref(1), List: []Expr{str("a")}, Not: true}, ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}},
		{"null constant", call("=", ref(1), &Const{T: columnar.String}), ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}},
		{"measure values compared", call("=", ref(3), &Const{Val: 1.5, T: columnar.Float64}), ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}},
	} {
		s := &Scan{Table: tbl, Columns: tbl.cols, Req: ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64}}
		PushFilter(s, c.cond)
		if !reflect.DeepEqual(s.Req, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, s.Req, c.want)
		}
	}
}
