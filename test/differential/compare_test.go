package differential

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// result is one query's answer with values normalised for comparison:
// every number a float64 (PostgreSQL answers numeric where sluice answers
// double or bigint, e.g. sum(bigint), extract; the values must still agree),
// timestamps time.Time truncated to the microsecond in UTC, text string,
// booleans bool, NULL nil.
type result struct {
	cols []string
	rows [][]any
}

func runQuery(ctx context.Context, conn *pgx.Conn, sql string) (*result, error) {
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res := &result{}
	for _, fd := range rows.FieldDescriptions() {
		res.cols = append(res.cols, fd.Name)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			n, err := normalise(v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", res.cols[i], err)
			}
			vals[i] = n
		}
		res.rows = append(res.rows, vals)
	}
	return res, rows.Err()
}

func normalise(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case pgtype.Numeric:
		if !x.Valid {
			return nil, nil
		}
		f, err := x.Float64Value()
		if err != nil {
			return nil, err
		}
		return f.Float64, nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, nil
	case time.Time:
		return x.UTC().Truncate(time.Microsecond), nil
	case string, bool:
		return x, nil
	case pgtype.Interval:
		return fmt.Sprintf("interval %dmo %dd %dus", x.Months, x.Days, x.Microseconds), nil
	}
	return nil, fmt.Errorf("unexpected value %T %v", v, v)
}

func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case float64:
		y, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) && math.IsNaN(y)
		}
		if x == y {
			return true
		}
		return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	}
	return a == b
}

// key renders a row for sorting multisets; numbers are rounded so that
// rows equal within tolerance sort together.
func key(row []any) string {
	var sb strings.Builder
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			sb.WriteString("\x00N")
		case float64:
			fmt.Fprintf(&sb, "\x00F%.6g", x)
		case time.Time:
			fmt.Fprintf(&sb, "\x00T%s", x.Format(time.RFC3339Nano))
		default:
			fmt.Fprintf(&sb, "\x00%T%v", x, x)
		}
	}
	return sb.String()
}

// diff returns "" when got answers the same as want, else a description.
func diff(want, got *result, ordered bool) string {
	if len(want.cols) != len(got.cols) {
		return fmt.Sprintf("columns: want %d %v, got %d %v", len(want.cols), want.cols, len(got.cols), got.cols)
	}
	if len(want.rows) != len(got.rows) {
		return fmt.Sprintf("rows: want %d, got %d\nwant %s\ngot  %s", len(want.rows), len(got.rows), show(want.rows), show(got.rows))
	}
	w, g := want.rows, got.rows
	if !ordered {
		w, g = sorted(w), sorted(g)
	}
	for i := range w {
		for j := range w[i] {
			if !valueEqual(w[i][j], g[i][j]) {
				return fmt.Sprintf("row %d column %d (%s): want %s, got %s\nwant %s\ngot  %s", i, j, want.cols[j], fmtv(w[i][j]), fmtv(g[i][j]), show(w), show(g))
			}
		}
	}
	return ""
}

func sorted(rows [][]any) [][]any {
	out := append([][]any(nil), rows...)
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func fmtv(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.Format("2006-01-02T15:04:05.999999")
	case float64:
		return fmt.Sprintf("%.17g", x)
	}
	return fmt.Sprint(v)
}

// show renders up to 8 rows.
func show(rows [][]any) string {
	var sb strings.Builder
	for i, r := range rows {
		if i == 8 {
			fmt.Fprintf(&sb, " … (%d rows)", len(rows))
			break
		}
		sb.WriteString("[")
		for j, v := range r {
			if j > 0 {
				sb.WriteString(" ")
			}
			sb.WriteString(fmtv(v))
		}
		sb.WriteString("]")
	}
	if len(rows) == 0 {
		return "(no rows)"
	}
	return sb.String()
}
