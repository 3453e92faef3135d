package event

import "math"

// decimal is a parsed decimal literal: sign, significant digits (without the
// point) and a power-of-ten exponent, value = ±digits × 10^exp. It keeps the
// literal exact so that fractional timestamps convert without float64
// rounding.
type decimal struct {
	neg    bool
	digits []byte // ASCII digits (maybe one '.', skipped), leading zeros removed; empty means zero
	exp    int64
}

// maxExp bounds exponents while parsing; anything beyond it over- or
// underflows int64 nanoseconds anyway, whatever the digits.
const maxExp = 1 << 40

// parseDecimal parses [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?,
// the decimal form strconv.ParseFloat accepts (without hex, underscores,
// Inf or NaN). JSON numbers are a subset.
func parseDecimal(b []byte) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		d.neg = b[i] == '-'
		i++
	}
	intStart := i
	i = skipDigits(b, i)
	intEnd := i
	fracStart, fracEnd := i, i
	if i < len(b) && b[i] == '.' {
		fracStart = i + 1
		i = skipDigits(b, fracStart)
		fracEnd = i
	}
	if intEnd == intStart && fracEnd == fracStart {
		return d, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return d, false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if d.exp < maxExp {
				d.exp = d.exp*10 + int64(b[i]-'0')
			}
		}
		if eneg {
			d.exp = -d.exp
		}
	}
	if i != len(b) {
		return d, false
	}
	d.exp -= int64(fracEnd - fracStart)
	ip, fp := b[intStart:intEnd], b[fracStart:fracEnd]
	// Drop leading zeros; when the integer part is all zeros, the digits
	// start in the fraction.
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	if len(ip) == 0 {
		for len(fp) > 0 && fp[0] == '0' {
			fp = fp[1:]
		}
		d.digits = fp
	} else if len(fp) == 0 {
		d.digits = ip
	} else {
		// Both parts are significant: keep them with the point between,
		// which nanos skips, rather than copying.
		d.digits = b[intEnd-len(ip) : fracEnd]
	}
	return d, true
}

// timeStatus says why a decimal did not convert to nanoseconds.
type timeStatus uint8

const (
	timeOK timeStatus = iota
	timeNegative
	timeOverflow
)

// nanos returns ⌊d × 10^scale⌋ (truncating toward zero) as int64
// nanoseconds: sub-nanosecond digits are dropped, negative values and
// values past math.MaxInt64 are refused. The digits may contain one '.',
// which is skipped.
func (d decimal) nanos(scale int) (int64, timeStatus) {
	n := 0 // significant digits, not counting the point
	for _, c := range d.digits {
		if c != '.' {
			n++
		}
	}
	if n == 0 {
		return 0, timeOK // zero, even if written -0.0
	}
	if d.neg {
		return 0, timeNegative
	}
	e := d.exp + int64(scale)
	// Value = digits × 10^e. Keep the integer digits only.
	keep := int64(n) + e
	if keep <= 0 {
		return 0, timeOK
	}
	if keep > 19 {
		return 0, timeOverflow
	}
	var v uint64
	k := int64(0)
	for _, c := range d.digits {
		if c == '.' {
			continue
		}
		if k == keep {
			break
		}
		v = v*10 + uint64(c-'0')
		k++
	}
	for ; k < keep; k++ { // e > 0: append zeros
		v *= 10
	}
	// keep ≤ 19 digits fits in uint64 (< 10^19 < 2^64).
	if v > math.MaxInt64 {
		return 0, timeOverflow
	}
	return int64(v), timeOK
}
