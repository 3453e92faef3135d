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
// them as []any for encoding/json cost more than the query itself, and
// the common columns (timestamps, DOUBLEs) take fast paths below.
func appendRowsJSON(dst []byte, b *columnar.Batch, from, to int) []byte {
	var tc tsCache
	// Per column: how to write it, worked out once rather than per value.
	const (
		encTime = iota
		encFloat
		encOther
	)
	kinds := make([]uint8, len(b.Cols))
	for j, c := range b.Cols {
		switch {
		case c.Type == columnar.Timestamp && !hasNulls(c, from, to):
			kinds[j] = encTime
		case c.Type == columnar.Float64 && !hasNulls(c, from, to):
			kinds[j] = encFloat
		default:
			kinds[j] = encOther
		}
	}
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
			switch kinds[j] {
			case encTime:
				dst = tc.appendQuoted(dst, c.Ints[i])
			case encFloat:
				dst = appendFloatJSON(dst, c.Floats[i])
			default:
				switch {
				case c.Type == columnar.Timestamp && !c.IsNull(i):
					dst = tc.appendQuoted(dst, c.Ints[i])
				case c.Type == columnar.Float64 && !c.IsNull(i):
					dst = appendFloatJSON(dst, c.Floats[i])
				default:
					dst = appendValueJSON(dst, c, i)
				}
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, ']')
}

// hasNulls reports whether rows [from, to) of c hold a NULL.
func hasNulls(c *columnar.Column, from, to int) bool {
	if c.Nulls == nil {
		return false
	}
	for _, n := range c.Nulls[from:to] {
		if n {
			return true
		}
	}
	return false
}

// tsCache formats timestamps as fn.AppendTimestamp does, in double quotes.
// It keeps the last one written ("YYYY-MM-DD HH:MM:SS.nnnnnnnnn") and
// rewrites only the seconds and fraction while the minute stays the same:
// result rows are mostly ordered by time, so most timestamps share their
// minute with the one before, and the calendar arithmetic was half the
// cost of encoding a row. Writing the result is then one copy.
type tsCache struct {
	minute int64 // start of the cached minute, ns
	n      int   // bytes of line in use; 0: nothing cached
	line   [48]byte
}

const (
	nsPerMinute = int64(60e9)
	tsQuoted    = len(`"2006-01-02 15:04:05.000000000"`)
)

// append appends the timestamp ns without quotes.
func (tc *tsCache) append(dst []byte, ns int64) []byte {
	q := tc.appendQuoted(dst, ns)
	return append(q[:len(dst)], q[len(dst)+1:len(q)-1]...)
}

// appendQuoted appends the timestamp ns in double quotes.
func (tc *tsCache) appendQuoted(dst []byte, ns int64) []byte {
	if ns < math.MinInt64+nsPerMinute {
		// Its minute starts before MinInt64.
		dst = append(dst, '"')
		return append(fn.AppendTimestamp(dst, ns), '"')
	}
	r := ns % nsPerMinute
	if r < 0 {
		r += nsPerMinute
	}
	m := ns - r // floor to the minute, also before 1970
	if tc.n == 0 || m != tc.minute {
		full := fn.AppendTimestamp(append(tc.line[:0], '"'), m)
		if len(full)+1 > len(tc.line) {
			// Too long to cache (a year of many digits): no cache.
			tc.n = 0
			dst = append(dst, '"')
			return append(fn.AppendTimestamp(dst, ns), '"')
		}
		tc.n = len(full) + 1
		tc.line[len(full)] = '"'
		tc.minute = m
	}
	// line ends in "SS.nnnnnnnnn\"": rewrite those digits.
	l := tc.line[:tc.n]
	sec, frac := r/1e9, r%1e9
	s := len(l) - 13
	l[s], l[s+1] = digits2[sec*2], digits2[sec*2+1]
	if frac != 0 || l[len(l)-2] != '0' || l[len(l)-10] != '0' || string(l[len(l)-9:len(l)-2]) != "0000000" {
		for k := len(l) - 2; k > len(l)-10; k -= 2 {
			d := frac % 100
			frac /= 100
			l[k], l[k-1] = digits2[d*2+1], digits2[d*2]
		}
		l[len(l)-10] = byte('0' + frac)
	}
	if len(l) == tsQuoted && cap(dst)-len(dst) >= tsQuoted {
		// Years 0-9999: a fixed-size copy, which compiles to a few
		// moves instead of a call to memmove.
		k := len(dst)
		dst = dst[:k+tsQuoted]
		*(*[tsQuoted]byte)(dst[k:]) = *(*[tsQuoted]byte)(l)
		return dst
	}
	return append(dst, l...)
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
		// f = m / 10^4 exactly: m < 10^10, its integer part below 10^6.
		if m := math.Round(a * 1e4); m/1e4 == a {
			u := uint64(m)
			ip, fr := u/10000, u%10000
			if f < 0 {
				dst = append(dst, '-')
			}
			dst = appendSmall(dst, ip)
			if fr == 0 {
				return dst
			}
			// Four decimals, then drop trailing zeros.
			hi, lo := fr/100, fr%100
			dst = append(dst, '.', digits2[hi*2], digits2[hi*2+1], digits2[lo*2], digits2[lo*2+1])
			n := len(dst)
			for dst[n-1] == '0' {
				n--
			}
			return dst[:n]
		}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendStringJSON(dst, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendSmall appends u < 10^6 in decimal.
func appendSmall(dst []byte, u uint64) []byte {
	switch {
	case u < 10:
		return append(dst, byte('0'+u))
	case u < 100:
		return append(dst, digits2[u*2], digits2[u*2+1])
	case u < 10000:
		hi, lo := u/100, u%100
		if hi < 10 {
			return append(dst, byte('0'+hi), digits2[lo*2], digits2[lo*2+1])
		}
		return append(dst, digits2[hi*2], digits2[hi*2+1], digits2[lo*2], digits2[lo*2+1])
	}
	return strconv.AppendUint(dst, u, 10)
}

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
