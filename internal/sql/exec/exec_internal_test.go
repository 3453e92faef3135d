package exec

import (
	"math"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// TestFewRows: only per-minute aggregates of pinned series from the last
// day run serially.
func TestFewRows(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano()
	scan := func(minutes bool, dims []plan.DimFilter, measures []string, minTime int64) plan.Node {
		return &plan.Scan{Minutes: minutes, Req: plan.ScanRequest{MinTime: minTime, MaxTime: math.MaxInt64, Dims: dims, MeasureNames: measures}}
	}
	dev := []plan.DimFilter{{Name: "DeviceID", Values: []string{"d1"}}}
	hour := now - int64(time.Hour)
	for _, c := range []struct {
		name string
		n    plan.Node
		want bool
	}{
		{"one series, last hour", &plan.Aggregate{Input: scan(true, dev, []string{"temperature"}, hour)}, true},
		{"rows, not minutes", &plan.Aggregate{Input: scan(false, dev, []string{"temperature"}, hour)}, false},
		{"every device", &plan.Aggregate{Input: scan(true, nil, []string{"temperature"}, hour)}, false},
		{"a prefix is not pinned", &plan.Aggregate{Input: scan(true, []plan.DimFilter{{Name: "DeviceID", Prefix: "d"}}, []string{"temperature"}, hour)}, false},
		{"every measure", &plan.Aggregate{Input: scan(true, dev, nil, hour)}, false},
		{"a year", &plan.Aggregate{Input: scan(true, dev, []string{"temperature"}, now-int64(365*24*time.Hour))}, false},
		{"union with a big scan", &plan.Union{Inputs: []plan.Node{scan(true, dev, []string{"temperature"}, hour), scan(false, nil, nil, math.MinInt64)}}, false},
		{"no table", &plan.Values{}, false},
	} {
		if got := fewRows(c.n, now); got != c.want {
			t.Errorf("%s: fewRows %v, want %v", c.name, got, c.want)
		}
	}
}
