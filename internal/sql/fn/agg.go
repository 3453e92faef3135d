package fn

import (
	"fmt"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// The aggregate and window function catalogue. The executor implements
// them (internal/sql/exec); this is where the binder learns which names are
// aggregates or window functions and what they return.

type aggDef struct {
	minArgs, maxArgs int
	ret              func(args []columnar.Type) (columnar.Type, bool)
	help             string
}

func orderable(t columnar.Type) bool {
	switch t {
	case columnar.Bool, columnar.Int64, columnar.Float64, columnar.String, columnar.Timestamp, columnar.Date, columnar.Interval, columnar.Unknown:
		return true
	}
	return false
}

func numeric(t columnar.Type) bool {
	return t == columnar.Int64 || t == columnar.Float64 || t == columnar.Unknown
}

func sameAsFirst(args []columnar.Type) (columnar.Type, bool) {
	if args[0] == columnar.Unknown {
		return columnar.Int64, true // Trino types an all-NULL aggregate's input by context; BIGINT is harmless
	}
	return args[0], orderable(args[0])
}

func fixed(t columnar.Type, ok func([]columnar.Type) bool) func([]columnar.Type) (columnar.Type, bool) {
	return func(a []columnar.Type) (columnar.Type, bool) { return t, ok(a) }
}

func numArg(a []columnar.Type) bool  { return numeric(a[0]) }
func boolArg(a []columnar.Type) bool { return a[0] == columnar.Bool || a[0] == columnar.Unknown }
func anyArgs([]columnar.Type) bool   { return true }

var aggregates = map[string]aggDef{
	"count":    {0, 1, fixed(columnar.Int64, anyArgs), "count(*), count(x)"},
	"count_if": {1, 1, fixed(columnar.Int64, boolArg), "count_if(BOOLEAN)"},
	"sum": {1, 1, func(a []columnar.Type) (columnar.Type, bool) {
		switch a[0] {
		case columnar.Int64, columnar.Unknown:
			return columnar.Int64, true
		case columnar.Float64, columnar.Interval:
			return a[0], true
		}
		return columnar.Unknown, false
	}, "sum(BIGINT) → BIGINT, sum(DOUBLE) → DOUBLE, sum(INTERVAL) → INTERVAL"},
	"avg": {1, 1, func(a []columnar.Type) (columnar.Type, bool) {
		if a[0] == columnar.Interval {
			return columnar.Interval, true
		}
		return columnar.Float64, numeric(a[0])
	}, "avg(BIGINT|DOUBLE) → DOUBLE, avg(INTERVAL) → INTERVAL"},
	"min":            {1, 1, sameAsFirst, "min(x) for any orderable type"},
	"max":            {1, 1, sameAsFirst, "max(x) for any orderable type"},
	"arbitrary":      {1, 1, sameAsFirst, "arbitrary(x)"},
	"any_value":      {1, 1, sameAsFirst, "any_value(x)"},
	"bool_and":       {1, 1, fixed(columnar.Bool, boolArg), "bool_and(BOOLEAN)"},
	"every":          {1, 1, fixed(columnar.Bool, boolArg), "every(BOOLEAN)"},
	"bool_or":        {1, 1, fixed(columnar.Bool, boolArg), "bool_or(BOOLEAN)"},
	"stddev":         {1, 1, fixed(columnar.Float64, numArg), "stddev(BIGINT|DOUBLE) → DOUBLE"},
	"stddev_samp":    {1, 1, fixed(columnar.Float64, numArg), "stddev_samp(BIGINT|DOUBLE) → DOUBLE"},
	"stddev_pop":     {1, 1, fixed(columnar.Float64, numArg), "stddev_pop(BIGINT|DOUBLE) → DOUBLE"},
	"variance":       {1, 1, fixed(columnar.Float64, numArg), "variance(BIGINT|DOUBLE) → DOUBLE"},
	"var_samp":       {1, 1, fixed(columnar.Float64, numArg), "var_samp(BIGINT|DOUBLE) → DOUBLE"},
	"var_pop":        {1, 1, fixed(columnar.Float64, numArg), "var_pop(BIGINT|DOUBLE) → DOUBLE"},
	"geometric_mean": {1, 1, fixed(columnar.Float64, numArg), "geometric_mean(BIGINT|DOUBLE) → DOUBLE"},
	"approx_distinct": {1, 2, fixed(columnar.Int64, func(a []columnar.Type) bool {
		return len(a) == 1 || numeric(a[1])
	}), "approx_distinct(x[, max_standard_error]) → BIGINT"},
	"approx_percentile": {2, 2, func(a []columnar.Type) (columnar.Type, bool) {
		if a[1] != columnar.Float64 && a[1] != columnar.Int64 {
			return columnar.Unknown, false
		}
		switch a[0] {
		case columnar.Int64, columnar.Float64, columnar.Timestamp, columnar.Date, columnar.Interval:
			return a[0], true
		case columnar.Unknown:
			return columnar.Float64, true
		}
		return columnar.Unknown, false
	}, "approx_percentile(BIGINT|DOUBLE|TIMESTAMP, DOUBLE p) → type of x"},
	"min_by": {2, 2, func(a []columnar.Type) (columnar.Type, bool) { return a[0], orderable(a[1]) }, "min_by(x, y) for orderable y"},
	"max_by": {2, 2, func(a []columnar.Type) (columnar.Type, bool) { return a[0], orderable(a[1]) }, "max_by(x, y) for orderable y"},
}

var windowFuncs = map[string]aggDef{
	"row_number":   {0, 0, fixed(columnar.Int64, anyArgs), "row_number()"},
	"rank":         {0, 0, fixed(columnar.Int64, anyArgs), "rank()"},
	"dense_rank":   {0, 0, fixed(columnar.Int64, anyArgs), "dense_rank()"},
	"percent_rank": {0, 0, fixed(columnar.Float64, anyArgs), "percent_rank()"},
	"cume_dist":    {0, 0, fixed(columnar.Float64, anyArgs), "cume_dist()"},
	"ntile":        {1, 1, fixed(columnar.Int64, func(a []columnar.Type) bool { return a[0] == columnar.Int64 }), "ntile(BIGINT)"},
	"lag":          {1, 3, lagType, "lag(x[, offset BIGINT[, default of x's type]])"},
	"lead":         {1, 3, lagType, "lead(x[, offset BIGINT[, default of x's type]])"},
	"first_value":  {1, 1, func(a []columnar.Type) (columnar.Type, bool) { return a[0], true }, "first_value(x)"},
	"last_value":   {1, 1, func(a []columnar.Type) (columnar.Type, bool) { return a[0], true }, "last_value(x)"},
	"nth_value": {2, 2, func(a []columnar.Type) (columnar.Type, bool) {
		return a[0], a[1] == columnar.Int64
	}, "nth_value(x, BIGINT)"},
}

func lagType(a []columnar.Type) (columnar.Type, bool) {
	if len(a) >= 2 && a[1] != columnar.Int64 && a[1] != columnar.Unknown {
		return columnar.Unknown, false
	}
	if len(a) == 3 && a[2] != a[0] && a[2] != columnar.Unknown {
		return columnar.Unknown, false
	}
	return a[0], true
}

// IsAggregate reports whether name (any case) is an aggregate function.
func IsAggregate(name string) bool {
	_, ok := aggregates[strings.ToLower(name)]
	return ok
}

// IsWindow reports whether name is a window-only function (ranking and
// value functions). Aggregates may also be used with OVER.
func IsWindow(name string) bool {
	_, ok := windowFuncs[strings.ToLower(name)]
	return ok
}

// ResolveAggregate returns the result type of aggregate name over args
// (count(*) has no arguments).
func ResolveAggregate(name string, args []columnar.Type) (columnar.Type, error) {
	return resolveIn(aggregates, "aggregate", name, args)
}

// ResolveWindow returns the result type of a window function or of an
// aggregate used over a window.
func ResolveWindow(name string, args []columnar.Type) (columnar.Type, error) {
	if _, ok := windowFuncs[strings.ToLower(name)]; ok {
		return resolveIn(windowFuncs, "window function", name, args)
	}
	return resolveIn(aggregates, "aggregate", name, args)
}

func resolveIn(m map[string]aggDef, kind, name string, args []columnar.Type) (columnar.Type, error) {
	l := strings.ToLower(name)
	d, ok := m[l]
	if !ok {
		return columnar.Unknown, fmt.Errorf("fn: %w: %s %s", ErrUnknownFunction, kind, name)
	}
	if len(args) < d.minArgs || len(args) > d.maxArgs {
		return columnar.Unknown, fmt.Errorf("fn: %s %s(%s): wrong number of arguments; accepted: %s", kind, l, typeList(args), d.help)
	}
	t, ok := d.ret(args)
	if !ok {
		return columnar.Unknown, fmt.Errorf("fn: %s %s(%s): unsupported argument types; accepted: %s", kind, l, typeList(args), d.help)
	}
	return t, nil
}
