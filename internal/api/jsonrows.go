package api

import (
	"math"
	"strconv"

	"github.com/sluice-dev/sluice/internal/columnar"
	"github.com/sluice-dev/sluice/internal/jsonenc"
	"github.com/sluice-dev/sluice/internal/sql/fn"
)

// appendRowsJSON appends rows [from, to) of b as a JSON array of arrays, in
// the value formats of FormatValue. Query results can be large; building
// them as []any for encoding/json cost more than the query itself.
func appendRowsJSON(dst []byte, b *columnar.Batch, from, to int) []byte {
	var tc tsCache
	dst = append(dst, '[')
	for i := from; i < to; i++ {
		if i > from {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for j, c := range b.Cols {
			if j > 0 {
				dst = append(dst, ',')
			}
			switch {
			case c.Type == columnar.Timestamp && !c.IsNull(i):
				dst = append(dst, '"')
				dst = tc.append(dst, c.Ints[i])
				dst = append(dst, '"')
			case c.Type == columnar.Float64 && !c.IsNull(i):
				dst = appendFloatJSON(dst, c.Floats[i])
			default:
				dst = appendValueJSON(dst, c, i)
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// tsCache formats timestamps as fn.AppendTimestamp does, reusing the
// "YYYY-MM-DD HH:MM:" of the previous one: result rows are mostly ordered
// by time, so most timestamps share their minute with the one before, and
// the calendar arithmetic was half the cost of encoding a row.
type tsCache struct {
	minute int64 // start of the cached minute, ns
	prefix []byte
}

const nsPerMinute = int64(60e9)

func (tc *tsCache) append(dst []byte, ns int64) []byte {
	if ns < math.MinInt64+nsPerMinute {
		return fn.AppendTimestamp(dst, ns) // its minute starts before MinInt64
	}
	r := ns % nsPerMinute
	if r < 0 {
		r += nsPerMinute
	}
	m := ns - r // floor to the minute, also before 1970
	if tc.prefix == nil || m != tc.minute {
		full := fn.AppendTimestamp(tc.prefix[:0], m)
		tc.prefix, tc.minute = full[:len(full)-len("SS.nnnnnnnnn")], m
	}
	dst = append(dst, tc.prefix...)
	sec, frac := r/1e9, r%1e9
	dst = append(dst, digits2[sec*2], digits2[sec*2+1], '.')
	if frac == 0 {
		return append(dst, "000000000"...)
	}
	var buf [9]byte
	for k := 8; k > 0; k -= 2 {
		d := frac % 100
		frac /= 100
		buf[k], buf[k-1] = digits2[d*2+1], digits2[d*2]
	}
	buf[0] = byte('0' + frac)
	return append(dst, buf[:]...)
}

const digits2 = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

// appendFloatJSON appends f as strconv.AppendFloat(f, 'g', -1) does. Most
// telemetry values are short decimals (21.37): if f is m / 10^k exactly
// (m / 10^k correctly rounded is f), for an integer m and k <= 4 as small
// as it goes, that decimal is the shortest string
// that parses back to f (two decimals of at most 15 significant digits are
// never the same double), and 'g' prints it without an exponent when
// 1e-4 <= |f| < 1e6 (shortest 'g' switches to %e at exponent 6).
func appendFloatJSON(dst []byte, f float64) []byte {
	if a := math.Abs(f); a >= 1e-4 && a < 1e6 {
		// f = m / 10^4 exactly, then fewer decimals while m ends in 0.
		if m := math.Round(a * 1e4); m/1e4 == a {
			u, k := uint64(m), 4
			for k > 0 && u%10 == 0 {
				u /= 10
				k--
			}
			if f < 0 {
				dst = append(dst, '-')
			}
			if k == 0 {
				return strconv.AppendUint(dst, u, 10)
			}
			ip := uint64(pow10[k])
			dst = strconv.AppendUint(dst, u/ip, 10)
			dst = append(dst, '.')
			fr := u % ip
			for ip /= 10; ip > 0; ip /= 10 {
				dst = append(dst, byte('0'+fr/ip))
				fr %= ip
			}
			return dst
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendStringJSON(dst, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

var pow10 = [...]float64{1, 10, 100, 1000, 10000}

func appendValueJSON(dst []byte, c *columnar.Column, i int) []byte {
	if c.IsNull(i) {
		return append(dst, "null"...)
	}
	switch c.Type {
	case columnar.Bool:
		return strconv.AppendBool(dst, c.Bools[i])
	case columnar.Int64:
		return strconv.AppendInt(dst, c.Ints[i], 10)
	case columnar.Float64:
		f := c.Floats[i]
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendStringJSON(dst, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case columnar.Timestamp:
		dst = append(dst, '"')
		dst = fn.AppendTimestamp(dst, c.Ints[i])
		return append(dst, '"')
	case columnar.String:
		return appendStringJSON(dst, c.Strs[i])
	case columnar.Date:
		return appendStringJSON(dst, fn.FormatDate(c.Ints[i]))
	case columnar.Interval:
		return appendStringJSON(dst, fn.FormatInterval(c.Ints[i]))
	}
	return append(dst, "null"...)
}

// appendStringJSON appends s as a JSON string (see jsonenc.AppendString).
func appendStringJSON(dst []byte, s string) []byte { return jsonenc.AppendString(dst, s, false) }
