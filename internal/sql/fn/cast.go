package fn

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Cast converts c to type to with Trino's rules. A value that cannot be
// converted is an error naming the value and the type, or NULL when try is
// set. The result has as many rows as c; c is not modified (the result may
// share c's NULL flags when nothing changes them).
//
// Conversions: BOOLEAN↔BIGINT/DOUBLE/VARCHAR ('true'/'false'); BIGINT↔DOUBLE
// (DOUBLE→BIGINT rounds half away from zero); anything→VARCHAR (TIMESTAMP as
// 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn', DATE 'YYYY-MM-DD', INTERVAL
// 'D HH:MM:SS.nnnnnnnnn', DOUBLE as Java's Double.toString); VARCHAR→any
// (TIMESTAMP via ParseTimestamp, INTERVAL via ParseInterval);
// TIMESTAMP↔DATE; UNKNOWN (NULL)→any.
func Cast(c *columnar.Column, to columnar.Type, try bool) (*columnar.Column, error) {
	from := c.Type
	n := colLen(c)
	if from == to {
		return c, nil
	}
	if from == columnar.Unknown {
		return NullColumn(to, n), nil
	}
	out := &columnar.Column{Type: to}
	var nulls []bool
	fail := func(i int, v any, err error) error {
		if try {
			if nulls == nil {
				nulls = make([]bool, n)
				copy(nulls, c.Nulls)
			}
			nulls[i] = true
			return nil
		}
		msg := fmt.Sprintf("cannot cast %s %s to %s", from, quoteValue(v), to)
		if err != nil {
			return fmt.Errorf("%s: %w", msg, err)
		}
		return fmt.Errorf("%s", msg)
	}
	isNull := func(i int) bool { return c.Nulls != nil && c.Nulls[i] }
	switch to {
	case columnar.String:
		out.Strs = make([]string, n)
		for i := 0; i < n; i++ {
			if !isNull(i) {
				out.Strs[i] = FormatValue(from, c.Value(i))
			}
		}
	case columnar.Bool:
		out.Bools = make([]bool, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.Int64:
				out.Bools[i] = c.Ints[i] != 0
			case columnar.Float64:
				out.Bools[i] = c.Floats[i] != 0
			case columnar.String:
				switch strings.ToLower(strings.TrimSpace(c.Strs[i])) {
				case "true", "t", "1":
					out.Bools[i] = true
				case "false", "f", "0":
				default:
					if err := fail(i, c.Strs[i], nil); err != nil {
						return nil, err
					}
				}
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	case columnar.Int64:
		out.Ints = make([]int64, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.Bool:
				if c.Bools[i] {
					out.Ints[i] = 1
				}
			case columnar.Float64:
				v, ok := roundToInt(c.Floats[i])
				if !ok {
					if err := fail(i, c.Floats[i], ErrOverflow); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = v
			case columnar.String:
				s := strings.TrimSpace(c.Strs[i])
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					if err := fail(i, c.Strs[i], nil); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = v
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	case columnar.Float64:
		out.Floats = make([]float64, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.Bool:
				if c.Bools[i] {
					out.Floats[i] = 1
				}
			case columnar.Int64:
				out.Floats[i] = float64(c.Ints[i])
			case columnar.String:
				v, err := parseDouble(c.Strs[i])
				if err != nil {
					if err := fail(i, c.Strs[i], nil); err != nil {
						return nil, err
					}
				}
				out.Floats[i] = v
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	case columnar.Timestamp:
		out.Ints = make([]int64, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.Date:
				v, err := secondsToNanos(c.Ints[i]*86400, 0)
				if err != nil {
					if err := fail(i, FormatDate(c.Ints[i]), err); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = v
			case columnar.String:
				v, err := parseTimestamp(strings.TrimSpace(c.Strs[i]))
				if err != nil {
					if err := fail(i, c.Strs[i], err); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = v
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	case columnar.Date:
		out.Ints = make([]int64, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.Timestamp:
				out.Ints[i] = floorDiv(c.Ints[i], nsPerDay)
			case columnar.String:
				v, err := parseTimestamp(strings.TrimSpace(c.Strs[i]))
				if err != nil {
					if err := fail(i, c.Strs[i], err); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = floorDiv(v, nsPerDay)
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	case columnar.Interval:
		out.Ints = make([]int64, n)
		for i := 0; i < n; i++ {
			if isNull(i) {
				continue
			}
			switch from {
			case columnar.String:
				v, err := ParseInterval(c.Strs[i])
				if err != nil {
					if err := fail(i, c.Strs[i], nil); err != nil {
						return nil, err
					}
				}
				out.Ints[i] = v
			default:
				return nil, unsupportedCast(from, to)
			}
		}
	default:
		return nil, unsupportedCast(from, to)
	}
	if nulls != nil {
		out.Nulls = nulls
	} else {
		out.Nulls = c.Nulls
	}
	return out, nil
}

func unsupportedCast(from, to columnar.Type) error {
	return fmt.Errorf("cannot cast %s to %s", from, to)
}

// CanCast reports whether Cast supports from → to at all.
func CanCast(from, to columnar.Type) bool {
	if from == to || from == columnar.Unknown || to == columnar.String || from == columnar.String {
		return to != columnar.Unknown
	}
	switch to {
	case columnar.Bool, columnar.Int64, columnar.Float64:
		return from == columnar.Bool || from == columnar.Int64 || from == columnar.Float64
	case columnar.Timestamp:
		return from == columnar.Date
	case columnar.Date:
		return from == columnar.Timestamp
	}
	return false
}

func quoteValue(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case float64:
		return FormatDouble(x)
	}
	return fmt.Sprint(v)
}

// roundToInt rounds half away from zero and reports whether the result
// fits a BIGINT.
func roundToInt(f float64) (int64, bool) {
	r := math.Round(f)
	if math.IsNaN(r) || r >= 9.223372036854775807e18 || r < -9.223372036854775808e18 {
		return 0, false
	}
	return int64(r), true
}

func parseDouble(s string) (float64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "nan":
		return math.NaN(), nil
	case "infinity", "+infinity", "inf":
		return math.Inf(1), nil
	case "-infinity", "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(t, 64)
}

// FormatDouble formats f as Java's Double.toString does, which is how
// Trino casts DOUBLE to VARCHAR: plain decimal with at least one fractional
// digit for 1e-3 <= |f| < 1e7 ("1.0", "0.25"), otherwise computerized
// scientific notation ("1.0E7", "1.5E-4"); "NaN", "Infinity", "-Infinity".
// Digits are the shortest that round-trip.
func FormatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.dddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// FormatValue renders a value (as Column.Value returns it) the way
// Timestream prints scalars (aws-compat §3.4), except DOUBLE, which uses
// FormatDouble. NULL renders as "NULL".
func FormatValue(t columnar.Type, v any) string {
	if v == nil {
		return "NULL"
	}
	switch t {
	case columnar.Bool:
		return strconv.FormatBool(v.(bool))
	case columnar.Int64:
		return strconv.FormatInt(v.(int64), 10)
	case columnar.Float64:
		return FormatDouble(v.(float64))
	case columnar.String:
		return v.(string)
	case columnar.Timestamp:
		return FormatTimestamp(v.(int64))
	case columnar.Date:
		return FormatDate(v.(int64))
	case columnar.Interval:
		return FormatInterval(v.(int64))
	}
	return fmt.Sprint(v)
}
