package fn

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

func init() {
	registerDef("now", true, sig(kTS, nowFn, nil...))
	alias("current_timestamp", "now")
	alias("localtimestamp", "now")
	registerDef("current_date", true, sig(kD, func(_ []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		return Broadcast(&columnar.Column{Type: columnar.Date, Ints: []int64{floorDiv(c.now().UnixNano(), nsPerDay)}}, n), nil
	}, nil...))
	register("current_timezone", sig(kS, func(_ []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		return Broadcast(&columnar.Column{Type: columnar.String, Strs: []string{"UTC"}}, n), nil
	}, nil...))
	registerDef("ago", true, sig(kTS, rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
		now := c.now().UnixNano()
		iv := i64(a[0], i)
		r := now - iv
		if (now^iv)&(now^r) < 0 {
			return ErrOverflow
		}
		out.AppendInt(r)
		return nil
	}), kIV))
	register("bin", sig(kTS, binFn, kTS, kIV))
	register("date_trunc",
		sig(kTS, unitFn(kTS, func(u string, a []*columnar.Column, i int) (int64, error) { return truncUnit(u, i64(a[1], i)) }), kS, kTS),
		sig(kD, unitFn(kD, func(u string, a []*columnar.Column, i int) (int64, error) {
			v, err := truncUnit(u, i64(a[1], i)*nsPerDay)
			return floorDiv(v, nsPerDay), err
		}), kS, kD))
	register("date_add",
		sig(kTS, unitFn(kTS, func(u string, a []*columnar.Column, i int) (int64, error) {
			return addUnit(u, i64(a[1], i), i64(a[2], i))
		}), kS, kI, kTS),
		sig(kD, unitFn(kD, func(u string, a []*columnar.Column, i int) (int64, error) {
			v, err := addUnit(u, i64(a[1], i), i64(a[2], i)*nsPerDay)
			return floorDiv(v, nsPerDay), err
		}), kS, kI, kD))
	register("date_diff",
		sig(kI, unitFn(kI, func(u string, a []*columnar.Column, i int) (int64, error) {
			return diffUnit(u, i64(a[1], i), i64(a[2], i))
		}), kS, kTS, kTS),
		sig(kI, unitFn(kI, func(u string, a []*columnar.Column, i int) (int64, error) {
			return diffUnit(u, i64(a[1], i)*nsPerDay, i64(a[2], i)*nsPerDay)
		}), kS, kD, kD))
	for name, f := range fieldFuncs {
		f := f
		register(name,
			sig(kI, tsIntFn(f, false), kTS),
			sig(kI, tsIntFn(f, true), kD))
	}
	register("extract",
		sig(kI, unitFn(kI, func(u string, a []*columnar.Column, i int) (int64, error) { return extractField(u, i64(a[1], i)) }), kS, kTS),
		sig(kI, unitFn(kI, func(u string, a []*columnar.Column, i int) (int64, error) {
			return extractField(u, i64(a[1], i)*nsPerDay)
		}), kS, kD))
	register("from_milliseconds", sig(kTS, scaleInt(1e6, kTS), kI))
	register("from_nanoseconds", sig(kTS, scaleInt(1, kTS), kI))
	register("from_unixtime", sig(kTS, rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v := f64(a[0], i) * 1e9
		if math.IsNaN(v) || v >= 9.223372036854775e18 || v < -9.223372036854775e18 {
			return fmt.Errorf("from_unixtime(%v): %w", f64(a[0], i), ErrTimestampRange)
		}
		out.AppendInt(int64(math.Round(v)))
		return nil
	}), kF))
	register("to_milliseconds", sig(kI, divInt(1e6), kTS), sig(kI, divInt(1e6), kIV))
	register("to_nanoseconds", sig(kI, divInt(1), kTS), sig(kI, divInt(1), kIV))
	toUnix := rowFunc(kF, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendFloat(float64(i64(a[0], i)) / 1e9)
		return nil
	})
	register("to_unixtime", sig(kF, toUnix, kTS))
	register("epoch", sig(kF, toUnix, kTS), sig(kF, func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		ts, _ := Cast(a[0], columnar.Timestamp, false)
		return toUnix([]*columnar.Column{ts}, n, c)
	}, kD))
	register("from_iso8601_timestamp", sig(kTS, rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v, err := ParseTimestamp(str(a[0], i))
		out.AppendInt(v)
		return err
	}), kS))
	register("from_iso8601_date", sig(kD, rowFunc(kD, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v, err := ParseDate(str(a[0], i))
		out.AppendInt(v)
		return err
	}), kS))
	register("to_iso8601",
		sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			s := FormatTimestamp(i64(a[0], i))
			out.AppendString(s[:10] + "T" + s[11:] + "Z")
			return nil
		}), kTS),
		sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendString(FormatDate(i64(a[0], i)))
			return nil
		}), kD))
	register("date",
		sig(kD, castTo(kD), kTS),
		sig(kD, castTo(kD), kS),
		sig(kD, castTo(kD), kD))
	register("last_day_of_month",
		sig(kD, rowFunc(kD, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendInt(lastDay(floorDiv(i64(a[0], i), nsPerDay)))
			return nil
		}), kTS),
		sig(kD, rowFunc(kD, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
			out.AppendInt(lastDay(i64(a[0], i)))
			return nil
		}), kD))
	register("parse_duration", sig(kIV, rowFunc(kIV, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v, err := ParseDuration(str(a[0], i))
		out.AppendInt(v)
		return err
	}), kS))
	register("human_readable_seconds", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		out.AppendString(humanSeconds(f64(a[0], i)))
		return nil
	}), kF))
	register("date_format", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		s, err := mysqlFormat(i64(a[0], i), str(a[1], i))
		out.AppendString(s)
		return err
	}), kTS, kS))
	register("format_datetime", sig(kS, rowFunc(kS, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		s, err := jodaFormat(i64(a[0], i), str(a[1], i))
		out.AppendString(s)
		return err
	}), kTS, kS))
	register("date_parse", sig(kTS, parseWith(mysqlLayout), kS, kS))
	register("parse_datetime", sig(kTS, parseWith(jodaLayout), kS, kS))
}

func nowFn(_ []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
	return Broadcast(&columnar.Column{Type: columnar.Timestamp, Ints: []int64{c.now().UnixNano()}}, n), nil
}

func binFn(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
	ts, w := a[0], a[1]
	out := make([]int64, n)
	nulls := unionNulls(a, n)
	if isConst(w, n) || n == 1 {
		width := w.Ints[0]
		if width <= 0 && !w.IsNull(0) {
			return nil, fmt.Errorf("bin: interval must be positive, got %s", FormatInterval(width))
		}
		if width <= 0 {
			return NullColumn(columnar.Timestamp, n), nil
		}
		src := ts.Ints
		if isConst(ts, n) {
			src = Broadcast(ts, n).Ints
		}
		for i, v := range src[:n] {
			r := v % width
			if r < 0 {
				r += width
			}
			out[i] = v - r
		}
	} else {
		for i := range out {
			width := i64(w, i)
			if nulls != nil && nulls[i] {
				continue
			}
			if width <= 0 {
				return nil, fmt.Errorf("bin: interval must be positive, got %s", FormatInterval(width))
			}
			out[i] = i64(ts, i) - floorMod(i64(ts, i), width)
		}
	}
	return &columnar.Column{Type: columnar.Timestamp, Ints: out, Nulls: nulls}, nil
}

// unitFn builds a strict function whose first argument is a unit or field
// name (lower-cased before use).
func unitFn(ret columnar.Type, f func(unit string, a []*columnar.Column, i int) (int64, error)) ScalarFunc {
	return rowFunc(ret, func(a []*columnar.Column, i int, out *columnar.Column, _ *Context) error {
		v, err := f(strings.ToLower(strings.TrimSpace(str(a[0], i))), a, i)
		if err != nil {
			return err
		}
		out.AppendInt(v)
		return nil
	})
}

var fixedUnits = map[string]int64{
	"nanosecond": 1, "microsecond": 1e3, "millisecond": 1e6, "second": 1e9,
	"minute": 60e9, "hour": 3600e9, "day": nsPerDay, "week": 7 * nsPerDay,
}

func unitName(u string) string {
	switch u {
	case "ns":
		return "nanosecond"
	case "us":
		return "microsecond"
	case "ms":
		return "millisecond"
	case "s":
		return "second"
	case "m":
		return "minute"
	case "h":
		return "hour"
	case "d":
		return "day"
	}
	return strings.TrimSuffix(u, "s")
}

var errUnit = errors.New("unit must be one of nanosecond, microsecond, millisecond, second, minute, hour, day, week, month, quarter, year")

func truncUnit(unit string, ns int64) (int64, error) {
	unit = unitName(unit)
	switch unit {
	case "week":
		days := floorDiv(ns, nsPerDay)
		days -= floorMod(days+3, 7) // 1970-01-01 was a Thursday; weeks start on Monday
		return days * nsPerDay, nil
	case "month", "quarter", "year":
		y, m, _ := civilFromDays(floorDiv(ns, nsPerDay))
		switch unit {
		case "quarter":
			m = (m-1)/3*3 + 1
		case "year":
			m = 1
		}
		return daysFromCivil(y, m, 1) * nsPerDay, nil
	}
	w, ok := fixedUnits[unit]
	if !ok {
		return 0, fmt.Errorf("date_trunc: %q: %w", unit, errUnit)
	}
	return ns - floorMod(ns, w), nil
}

func addUnit(unit string, n, ns int64) (int64, error) {
	unit = unitName(unit)
	months := int64(0)
	switch unit {
	case "month":
		months = n
	case "quarter":
		months = n * 3
	case "year":
		months = n * 12
	default:
		w, ok := fixedUnits[unit]
		if !ok {
			return 0, fmt.Errorf("date_add: %q: %w", unit, errUnit)
		}
		d := n * w
		if n != 0 && d/n != w {
			return 0, ErrOverflow
		}
		r := ns + d
		if (ns^r)&(d^r) < 0 {
			return 0, ErrOverflow
		}
		return r, nil
	}
	if months > 1e6 || months < -1e6 {
		return 0, ErrTimestampRange
	}
	days := floorDiv(ns, nsPerDay)
	tod := ns - days*nsPerDay
	y, m, d := civilFromDays(days)
	total := y*12 + (m - 1) + months
	y, m = floorDiv(total, 12), floorMod(total, 12)+1
	d = min(d, daysIn(y, m)) // clamp to the month's end, as Java's plusMonths does
	return secondsToNanos(daysFromCivil(y, m, d)*86400, tod)
}

func diffUnit(unit string, a, b int64) (int64, error) {
	unit = unitName(unit)
	switch unit {
	case "month", "quarter", "year":
		m := monthsBetween(a, b)
		switch unit {
		case "quarter":
			return m / 3, nil
		case "year":
			return m / 12, nil
		}
		return m, nil
	}
	w, ok := fixedUnits[unit]
	if !ok {
		return 0, fmt.Errorf("date_diff: %q: %w", unit, errUnit)
	}
	d := b - a
	if (b^a)&(b^d) < 0 {
		return 0, ErrOverflow
	}
	return d / w, nil
}

// monthsBetween counts whole months from a to b (negative when b < a).
func monthsBetween(a, b int64) int64 {
	da, db := floorDiv(a, nsPerDay), floorDiv(b, nsPerDay)
	ya, ma, dda := civilFromDays(da)
	yb, mb, ddb := civilFromDays(db)
	m := (yb-ya)*12 + (mb - ma)
	ra := (dda-1)*nsPerDay + (a - da*nsPerDay)
	rb := (ddb-1)*nsPerDay + (b - db*nsPerDay)
	if m > 0 && rb < ra {
		m--
	} else if m < 0 && rb > ra {
		m++
	}
	return m
}

func lastDay(days int64) int64 {
	y, m, _ := civilFromDays(days)
	return daysFromCivil(y, m, daysIn(y, m))
}

// fieldFuncs are the extractor functions (Trino's names and aliases).
var fieldFuncs = withAliases(map[string]func(ns int64) int64{
	"year":         func(ns int64) int64 { y, _, _ := civilFromDays(floorDiv(ns, nsPerDay)); return y },
	"quarter":      func(ns int64) int64 { _, m, _ := civilFromDays(floorDiv(ns, nsPerDay)); return (m-1)/3 + 1 },
	"month":        func(ns int64) int64 { _, m, _ := civilFromDays(floorDiv(ns, nsPerDay)); return m },
	"day":          func(ns int64) int64 { _, _, d := civilFromDays(floorDiv(ns, nsPerDay)); return d },
	"day_of_month": func(ns int64) int64 { _, _, d := civilFromDays(floorDiv(ns, nsPerDay)); return d },
	"day_of_week":  func(ns int64) int64 { return floorMod(floorDiv(ns, nsPerDay)+3, 7) + 1 },
	"dow":          func(ns int64) int64 { return floorMod(floorDiv(ns, nsPerDay)+3, 7) + 1 },
	"day_of_year": func(ns int64) int64 {
		days := floorDiv(ns, nsPerDay)
		y, _, _ := civilFromDays(days)
		return days - daysFromCivil(y, 1, 1) + 1
	},
	"week":         func(ns int64) int64 { _, w := time.Unix(0, ns).UTC().ISOWeek(); return int64(w) },
	"year_of_week": func(ns int64) int64 { y, _ := time.Unix(0, ns).UTC().ISOWeek(); return int64(y) },
	"hour":         func(ns int64) int64 { return floorMod(ns, nsPerDay) / 3600e9 },
	"minute":       func(ns int64) int64 { return floorMod(ns, 3600e9) / 60e9 },
	"second":       func(ns int64) int64 { return floorMod(ns, 60e9) / 1e9 },
	"millisecond":  func(ns int64) int64 { return floorMod(ns, 1e9) / 1e6 },
	"microsecond":  func(ns int64) int64 { return floorMod(ns, 1e9) / 1e3 },
	"nanosecond":   func(ns int64) int64 { return floorMod(ns, 1e9) },
})

func withAliases(m map[string]func(int64) int64) map[string]func(int64) int64 {
	m["doy"] = m["day_of_year"]
	m["week_of_year"] = m["week"]
	m["yow"] = m["year_of_week"]
	return m
}

func extractField(field string, ns int64) (int64, error) {
	switch field {
	case "epoch":
		return floorDiv(ns, 1e9), nil
	case "isodow":
		field = "day_of_week"
	}
	f := fieldFuncs[field]
	if f == nil {
		return 0, fmt.Errorf("extract: unknown field %q", field)
	}
	return f(ns), nil
}

// ExtractFunction maps the field of EXTRACT(field FROM x) to the function
// the binder should call instead: year, month, ... (BIGINT), and for
// PostgreSQL's epoch, "epoch" (DOUBLE seconds, fractional).
func ExtractFunction(field string) (string, error) {
	f := strings.ToLower(field)
	switch f {
	case "epoch":
		return "epoch", nil
	case "isodow":
		return "day_of_week", nil
	case "dom":
		return "day", nil
	}
	if _, ok := fieldFuncs[f]; ok {
		return f, nil
	}
	return "", fmt.Errorf("extract: unknown field %q", field)
}

func tsIntFn(f func(int64) int64, date bool) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		out := make([]int64, colLen(x))
		for i, v := range x.Ints {
			if date {
				v *= nsPerDay
			}
			out[i] = f(v)
		}
		return broadcast(&columnar.Column{Type: columnar.Int64, Ints: out, Nulls: copyNulls(x.Nulls)}, n), nil
	}
}

func scaleInt(mult int64, ret columnar.Type) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		out := make([]int64, colLen(x))
		for i, v := range x.Ints {
			r := v * mult
			if mult != 1 && v != 0 && r/v != mult && !x.IsNull(i) {
				return nil, fmt.Errorf("%d: %w", v, ErrTimestampRange)
			}
			out[i] = r
		}
		return broadcast(&columnar.Column{Type: ret, Ints: out, Nulls: copyNulls(x.Nulls)}, n), nil
	}
}

func divInt(div int64) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		x := a[0]
		out := make([]int64, colLen(x))
		for i, v := range x.Ints {
			out[i] = floorDiv(v, div)
		}
		return broadcast(&columnar.Column{Type: columnar.Int64, Ints: out, Nulls: copyNulls(x.Nulls)}, n), nil
	}
}

func castTo(t columnar.Type) ScalarFunc {
	return func(a []*columnar.Column, n int, _ *Context) (*columnar.Column, error) {
		c, err := Cast(a[0], t, false)
		if err != nil {
			return nil, err
		}
		return broadcast(c, n), nil
	}
}

func humanSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Sprint(s)
	}
	total := int64(math.Round(math.Abs(s)))
	units := []struct {
		n    int64
		name string
	}{{604800, "week"}, {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}}
	var parts []string
	for _, u := range units {
		if v := total / u.n; v > 0 {
			total -= v * u.n
			name := u.name
			if v != 1 {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", v, name))
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, ", ")
}

func mysqlFormat(ns int64, f string) (string, error) {
	t := time.Unix(0, ns).UTC()
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 == len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		switch f[i] {
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'b':
			b.WriteString(t.Format("Jan"))
		case 'c':
			fmt.Fprintf(&b, "%d", t.Month())
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%d", t.Day())
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'h', 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'i':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'k':
			fmt.Fprintf(&b, "%d", t.Hour())
		case 'l':
			fmt.Fprintf(&b, "%d", (t.Hour()+11)%12+1)
		case 'M':
			b.WriteString(t.Format("January"))
		case 'm':
			fmt.Fprintf(&b, "%02d", t.Month())
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'r':
			b.WriteString(t.Format("03:04:05 PM"))
		case 'S', 's':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'v':
			_, w := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", w)
		case 'W':
			b.WriteString(t.Format("Monday"))
		case 'w':
			fmt.Fprintf(&b, "%d", t.Weekday())
		case 'x':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%04d", y)
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("date_format: unsupported specifier %%%c", f[i])
		}
	}
	return b.String(), nil
}

// jodaTokens splits a Joda pattern into runs of one letter and literals.
func jodaTokens(p string) ([]string, error) {
	var out []string
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			j := i + 1
			var lit strings.Builder
			for j < len(p) {
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			if j >= len(p) {
				if i+1 == len(p) {
					return nil, errors.New("unterminated quote")
				}
				return nil, errors.New("unterminated quote")
			}
			if j == i+1 {
				out = append(out, "\x00'")
			} else {
				out = append(out, "\x00"+lit.String())
			}
			i = j + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			out = append(out, p[i:j])
			i = j
		default:
			out = append(out, "\x00"+string(c))
			i++
		}
	}
	return out, nil
}

func jodaFormat(ns int64, pattern string) (string, error) {
	toks, err := jodaTokens(pattern)
	if err != nil {
		return "", fmt.Errorf("format_datetime: %q: %w", pattern, err)
	}
	t := time.Unix(0, ns).UTC()
	var b strings.Builder
	for _, tok := range toks {
		if tok[0] == 0 {
			b.WriteString(tok[1:])
			continue
		}
		n := len(tok)
		pad := func(v int) { fmt.Fprintf(&b, "%0*d", n, v) }
		switch tok[0] {
		case 'y', 'Y', 'u':
			if n == 2 {
				fmt.Fprintf(&b, "%02d", t.Year()%100)
			} else {
				pad(t.Year())
			}
		case 'M':
			switch {
			case n >= 4:
				b.WriteString(t.Month().String())
			case n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				pad(int(t.Month()))
			}
		case 'd':
			pad(t.Day())
		case 'D':
			pad(t.YearDay())
		case 'H':
			pad(t.Hour())
		case 'k':
			pad((t.Hour()+23)%24 + 1)
		case 'h':
			pad((t.Hour()+11)%12 + 1)
		case 'K':
			pad(t.Hour() % 12)
		case 'm':
			pad(t.Minute())
		case 's':
			pad(t.Second())
		case 'S':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			for len(frac) < n {
				frac += "0"
			}
			b.WriteString(frac[:n])
		case 'a':
			b.WriteString(t.Format("PM"))
		case 'E':
			if n >= 4 {
				b.WriteString(t.Weekday().String())
			} else {
				b.WriteString(t.Weekday().String()[:3])
			}
		case 'e':
			pad(int(fieldFuncs["day_of_week"](ns)))
		case 'w':
			_, w := t.ISOWeek()
			pad(w)
		case 'x':
			y, _ := t.ISOWeek()
			pad(y)
		case 'Z':
			if n == 1 {
				b.WriteString("+0000")
			} else if n == 2 {
				b.WriteString("+00:00")
			} else {
				b.WriteString("UTC")
			}
		case 'z':
			b.WriteString("UTC")
		case 'G':
			b.WriteString("AD")
		default:
			return "", fmt.Errorf("format_datetime: unsupported pattern letter %q in %q", tok[0], pattern)
		}
	}
	return b.String(), nil
}

// jodaLayout converts a Joda pattern to a Go time layout (common subset).
func jodaLayout(p string) (string, error) {
	toks, err := jodaTokens(p)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, tok := range toks {
		if tok[0] == 0 {
			b.WriteString(tok[1:])
			continue
		}
		n := len(tok)
		var s string
		switch tok[0] {
		case 'y', 'Y', 'u':
			s = map[bool]string{true: "06", false: "2006"}[n == 2]
		case 'M':
			s = []string{"1", "01", "Jan", "January"}[min(n, 4)-1]
		case 'd':
			s = map[bool]string{true: "2", false: "02"}[n == 1]
		case 'H':
			s = "15"
		case 'h':
			s = map[bool]string{true: "3", false: "03"}[n == 1]
		case 'm':
			s = map[bool]string{true: "4", false: "04"}[n == 1]
		case 's':
			s = map[bool]string{true: "5", false: "05"}[n == 1]
		case 'S':
			s = strings.Repeat("0", n)
		case 'a':
			s = "PM"
		case 'E':
			s = map[bool]string{true: "Monday", false: "Mon"}[n >= 4]
		case 'Z':
			s = map[bool]string{true: "-0700", false: "-07:00"}[n == 1]
		case 'z':
			s = "MST"
		default:
			return "", fmt.Errorf("unsupported pattern letter %q", tok[0])
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// mysqlLayout converts a MySQL date_parse format to a Go time layout.
func mysqlLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 == len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		m := map[byte]string{'Y': "2006", 'y': "06", 'm': "01", 'c': "1", 'd': "02", 'e': "2", 'H': "15", 'k': "15",
			'h': "03", 'I': "03", 'l': "3", 'i': "04", 'S': "05", 's': "05", 'f': "000000", 'p': "PM", 'b': "Jan",
			'M': "January", 'a': "Mon", 'W': "Monday", 'T': "15:04:05", 'r': "03:04:05 PM", '%': "%"}
		s, ok := m[f[i]]
		if !ok {
			return "", fmt.Errorf("unsupported specifier %%%c", f[i])
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func parseWith(layout func(string) (string, error)) ScalarFunc {
	return func(a []*columnar.Column, n int, c *Context) (*columnar.Column, error) {
		return rowFunc(kTS, func(a []*columnar.Column, i int, out *columnar.Column, c *Context) error {
			pat := str(a[1], i)
			v, err := c.cached("layout", pat, func(s string) (any, error) { return layout(s) })
			if err != nil {
				return fmt.Errorf("invalid format %q: %w", pat, err)
			}
			t, err := time.Parse(v.(string), str(a[0], i))
			if err != nil {
				return fmt.Errorf("cannot parse %q with format %q: %w", str(a[0], i), pat, err)
			}
			out.AppendInt(t.UnixNano())
			return nil
		})(a, n, c)
	}
}
