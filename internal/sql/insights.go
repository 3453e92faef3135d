package sql

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/insights"
	"github.com/sluice-dev/sluice/internal/sql/exec"
	"github.com/sluice-dev/sluice/internal/sql/plan"
)

// seriesFunc computes an insight function's rows for one series from the
// options the binder passed (plan.InsightArgs order; nil when not given).
type seriesFunc func(ctx context.Context, s insights.Series, args []any) ([]insights.Point, error)

// insightTable adapts a seriesFunc to a table function: it splits the input
// into series by its key columns (every column but the time and value
// columns, see plan.InsightInput), sorts each by time, runs fn on the series
// in parallel and emits the keys followed by plan.InsightColumns. Rows with
// a NULL time or value are left out of the series.
func insightTable(name string, fn seriesFunc) func(ctx context.Context, args []any, in *columnar.Batch) (*columnar.Batch, error) {
	return func(ctx context.Context, args []any, in *columnar.Batch) (*columnar.Batch, error) {
		if in == nil || len(in.Cols) == 0 {
			return nil, fmt.Errorf("%s: no input query", name)
		}
		types := make([]columnar.Type, len(in.Cols))
		for i, c := range in.Cols {
			types[i] = c.Type
		}
		tc, vc, ok := plan.InsightInput(types)
		if !ok {
			return nil, fmt.Errorf("%s: the input needs a TIMESTAMP and a numeric column", name)
		}
		var keyCols []int
		for i := range in.Cols {
			if i != tc && i != vc {
				keyCols = append(keyCols, i)
			}
		}
		groups := groupRows(in, keyCols, tc, vc)

		results := make([][]insights.Point, len(groups))
		errs := make([]error, len(groups))
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for gi := range groups {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				results[gi], errs[gi] = fn(ctx, groups[gi].series, args)
			}()
		}
		wg.Wait()

		out := &columnar.Batch{}
		outKeys := make([]*columnar.Column, len(keyCols))
		for i, k := range keyCols {
			outKeys[i] = out.Add(in.Names[k], columnar.NewColumn(in.Cols[k].Type, 0))
		}
		cols := make([]*columnar.Column, len(plan.InsightColumns))
		for i, c := range plan.InsightColumns {
			cols[i] = out.Add(c.Name, columnar.NewColumn(c.Type, 0))
		}
		for gi, g := range groups {
			if errs[gi] != nil {
				// Bad options or a series the method cannot use: the
				// caller's to fix (invalid_parameter_value).
				return nil, &Error{Code: "22023", Offset: -1, Msg: fmt.Sprintf("%s: series %s: %v", name, g.describe(in, keyCols), errs[gi])}
			}
			for _, p := range results[gi] {
				for i, k := range keyCols {
					outKeys[i].AppendFrom(in.Cols[k], g.row)
				}
				cols[0].AppendInt(p.Time)
				appendFloat(cols[1], p.Value)
				appendFloat(cols[2], p.Expected)
				appendFloat(cols[3], p.Lower)
				appendFloat(cols[4], p.Upper)
				appendFloat(cols[5], p.Score)
				cols[6].AppendBool(p.IsAnomaly)
			}
		}
		return out, nil
	}
}

// appendFloat appends v, or NULL for NaN (a forecast row has no value).
func appendFloat(c *columnar.Column, v float64) {
	if math.IsNaN(v) {
		c.AppendNull()
		return
	}
	c.AppendFloat(v)
}

// seriesGroup is one series of an insight function's input; row is a row
// of the input that holds its key values.
type seriesGroup struct {
	row    int
	series insights.Series
}

func (g *seriesGroup) describe(in *columnar.Batch, keyCols []int) string {
	if len(keyCols) == 0 {
		return "(all rows)"
	}
	parts := make([]string, len(keyCols))
	for i, k := range keyCols {
		parts[i] = fmt.Sprintf("%s=%v", in.Names[k], in.Cols[k].Value(g.row))
	}
	return strings.Join(parts, ", ")
}

// groupRows splits the input into series by the key columns, in order of
// first appearance, each sorted by time; duplicate times keep the last row.
func groupRows(in *columnar.Batch, keyCols []int, tc, vc int) []seriesGroup {
	tcol, vcol := in.Cols[tc], in.Cols[vc]
	index := map[string]int{}
	var groups []seriesGroup
	var key []byte
	n := in.Len()
	for r := 0; r < n; r++ {
		if tcol.IsNull(r) || vcol.IsNull(r) {
			continue
		}
		key = key[:0]
		for _, k := range keyCols {
			key = fmt.Appendf(key, "%v\x00", in.Cols[k].Value(r))
		}
		gi, ok := index[string(key)]
		if !ok {
			gi = len(groups)
			index[string(key)] = gi
			groups = append(groups, seriesGroup{row: r})
		}
		g := &groups[gi]
		g.series.Times = append(g.series.Times, tcol.Ints[r])
		if vcol.Type == columnar.Int64 {
			g.series.Values = append(g.series.Values, float64(vcol.Ints[r]))
		} else {
			g.series.Values = append(g.series.Values, vcol.Floats[r])
		}
	}
	for i := range groups {
		sortSeries(&groups[i].series)
	}
	return groups
}

// sortSeries orders s by time and drops all but the last of equal times.
func sortSeries(s *insights.Series) {
	if !sort.SliceIsSorted(s.Times, func(i, j int) bool { return s.Times[i] < s.Times[j] }) {
		idx := make([]int, len(s.Times))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return s.Times[idx[a]] < s.Times[idx[b]] })
		ts := make([]int64, len(idx))
		vs := make([]float64, len(idx))
		for i, j := range idx {
			ts[i], vs[i] = s.Times[j], s.Values[j]
		}
		s.Times, s.Values = ts, vs
	}
	w := 0
	for i := range s.Times {
		if w > 0 && s.Times[w-1] == s.Times[i] {
			s.Values[w-1] = s.Values[i]
			continue
		}
		s.Times[w], s.Values[w] = s.Times[i], s.Values[i]
		w++
	}
	s.Times, s.Values = s.Times[:w], s.Values[:w]
}

// Option readers for the constant arguments of the insight functions.

func argFloat(args []any, i int, name string) (float64, bool, error) {
	if i >= len(args) || args[i] == nil {
		return 0, false, nil
	}
	switch v := args[i].(type) {
	case float64:
		return v, true, nil
	case int64:
		return float64(v), true, nil
	}
	return 0, false, fmt.Errorf("%s must be a number, got %v", name, args[i])
}

func argString(args []any, i int, name string) (string, bool, error) {
	if i >= len(args) || args[i] == nil {
		return "", false, nil
	}
	s, ok := args[i].(string)
	if !ok {
		return "", false, fmt.Errorf("%s must be a string, got %v", name, args[i])
	}
	return s, true, nil
}

// The insight table functions, by name (plan.InsightArgs gives the order of
// their options).
var insightFuncs = map[string]exec.TableFunc{
	"anomalies": insightTable("anomalies", func(ctx context.Context, s insights.Series, args []any) ([]insights.Point, error) {
		var opts insights.AnomalyOptions
		switch v := args[0].(type) {
		case nil:
		case string: // low, medium, high
			x, err := insights.ParseSensitivity(v)
			if err != nil {
				return nil, err
			}
			opts.Sensitivity = x
		default:
			x, _, err := argFloat(args, 0, "sensitivity")
			if err != nil {
				return nil, err
			}
			if x <= 0 {
				return nil, fmt.Errorf("sensitivity %v: want a positive z threshold (lower flags more; default %v) or low, medium, high", x, insights.DefaultSensitivity)
			}
			opts.Sensitivity = x
		}
		return insights.DetectAnomalies(s, opts)
	}),
	"forecast": insightTable("forecast", func(ctx context.Context, s insights.Series, args []any) ([]insights.Point, error) {
		opts := insights.ForecastOptions{Horizon: 24}
		if h, ok, err := argFloat(args, 0, "horizon"); err != nil {
			return nil, err
		} else if ok {
			if h < 1 || h > 100000 || h != math.Trunc(h) {
				return nil, fmt.Errorf("horizon %v: want a whole number of steps from 1 to 100000", h)
			}
			opts.Horizon = int(h)
		}
		if l, ok, err := argFloat(args, 1, "level"); err != nil {
			return nil, err
		} else if ok {
			opts.Level = l
		}
		if m, ok, err := argString(args, 2, "model"); err != nil {
			return nil, err
		} else if ok {
			opts.Model = m
		}
		if p, ok, err := argFloat(args, 3, "period"); err != nil {
			return nil, err
		} else if ok {
			if p < 1 || p != math.Trunc(p) {
				return nil, fmt.Errorf("period %v: want a whole number of sampling intervals (1 = no seasonality)", p)
			}
			opts.Period = int(p)
		}
		res, err := insights.Forecast(s, opts)
		if err != nil {
			return nil, err
		}
		return append(res.Fitted, res.Forecast...), nil
	}),
}
