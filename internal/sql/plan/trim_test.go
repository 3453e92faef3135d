package plan

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// exactTable is a kindTable that applies its requests exactly (a
// SeriesCounter), as the store does.
type exactTable struct{ kindTable }

func (t *exactTable) SeriesCounts(ctx context.Context, req ScanRequest, fn func(*columnar.Batch) error) error {
	return nil
}

// TestTrimScansProject: a projection over a store scan loses the filter
// conjuncts the request implies, and the scan the columns only they used;
// what the request does not imply stays, and so does everything over a
// table that treats requests as hints.
func TestTrimScansProject(t *testing.T) {
	cols := []Column{{Name: "time", Type: columnar.Timestamp}, {Name: "measure_name", Type: columnar.String},
		{Name: "DeviceID", Type: columnar.String}, {Name: "measure_value::double", Type: columnar.Float64}}
	ref := func(i int) *ColRef { return &ColRef{Index: i, Name: cols[i].Name, T: cols[i].Type} }
	call := func(name string, args ...Expr) *Call { return &Call{Name: name, Args: args, T: columnar.Bool} }
	and := func(a, b Expr) Expr { return call("and", a, b) }
	dev := call("=", ref(2), &Const{Val: "d1", T: columnar.String})
	temp := call("=", ref(1), &Const{Val: "temperature", T: columnar.String})
	after := call(">", ref(0), &Const{Val: int64(100), T: columnar.Timestamp})
	hot := call(">", ref(3), &Const{Val: 30.0, T: columnar.Float64})
	for _, c := range []struct {
		name  string
		exact bool
		cond  Expr
		want  string // EXPLAIN without the scan's request
	}{
		{"all implied", true, and(and(dev, temp), after),
			"Project #0:time, #1:measure_value::double\n  Scan t columns=[time measure_value::double]"},
		{"value predicate stays", true, and(and(dev, hot), after),
			"Project #0:time, #1:measure_value::double\n  Filter >(#1:measure_value::double, 30)\n    Scan t columns=[time measure_value::double]"},
		{"hints only", false, and(dev, after),
			"Project #0:time, #3:measure_value::double\n  Filter and(=(#2:DeviceID, 'd1'), >(#0:time, 100))\n    Scan t columns=[time measure_name DeviceID measure_value::double]"},
	} {
		var tbl Table = &kindTable{cols: cols}
		if c.exact {
			tbl = &exactTable{kindTable{cols: cols}}
		}
		s := &Scan{Table: tbl, Name: "t", Columns: cols, Req: ScanRequest{MinTime: math.MinInt64, MaxTime: math.MaxInt64,
			Columns: []string{"time", "measure_name", "DeviceID", "measure_value::double"}}}
		PushFilter(s, c.cond)
		p := &Project{Input: &Filter{Input: s, Cond: c.cond}, Exprs: []Expr{ref(0), ref(3)}, Names: []string{"time", "v"}}
		TrimScans(p)
		got := Explain(p)
		// Drop the request's bounds and filters from the scan's line.
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(got, "\n"), "\n") {
			if i := strings.Index(l, "Scan t "); i >= 0 {
				l = l[:i+len("Scan t ")] + l[strings.Index(l, "columns="):]
			}
			lines = append(lines, l)
		}
		if g := strings.Join(lines, "\n"); g != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, g, c.want)
		}
	}
}
