package fn

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Calendar arithmetic on nanoseconds and days since the Unix epoch, UTC,
// proleptic Gregorian. These avoid time.Time on the hot paths (casts of
// whole columns, bin, date_trunc).

// daysFromCivil returns the days since 1970-01-01 of y-m-d.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ErrTimestampRange is wrapped when a time falls outside what nanoseconds
// in an int64 can hold (1677-09-21 .. 2262-04-11).
var ErrTimestampRange = errors.New("timestamp out of range")

// ParseTimestamp parses a timestamp literal into nanoseconds since the
// Unix epoch (UTC). It accepts 'YYYY-MM-DD', 'YYYY-MM-DD HH:MM[:SS[.f…]]'
// with up to 9 fractional digits, the same with 'T' as separator (RFC 3339),
// and an optional zone: 'Z', ' UTC', '+HH', '+HH:MM' or '+HHMM'.
func ParseTimestamp(s string) (int64, error) {
	ns, err := parseTimestamp(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q: %w", s, err)
	}
	return ns, nil
}

var errSyntax = errors.New("want YYYY-MM-DD[ HH:MM:SS[.fffffffff]][Z|±HH:MM]")

func parseTimestamp(s string) (int64, error) {
	p := 0
	num := func(width int) (int64, bool) {
		if p+width > len(s) {
			return 0, false
		}
		var v int64
		for i := 0; i < width; i++ {
			c := s[p+i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		p += width
		return v, true
	}
	lit := func(c byte) bool {
		if p < len(s) && s[p] == c {
			p++
			return true
		}
		return false
	}
	y, ok := num(4)
	if !ok || !lit('-') {
		return 0, errSyntax
	}
	mo, ok := num(2)
	if !ok || !lit('-') {
		return 0, errSyntax
	}
	d, ok := num(2)
	if !ok {
		return 0, errSyntax
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) {
		return 0, errors.New("day or month out of range")
	}
	var hh, mm, ss, frac int64
	if p < len(s) && (s[p] == ' ' || s[p] == 'T' || s[p] == 't') {
		p++
		if hh, ok = num(2); !ok || !lit(':') {
			return 0, errSyntax
		}
		if mm, ok = num(2); !ok {
			return 0, errSyntax
		}
		if lit(':') {
			if ss, ok = num(2); !ok {
				return 0, errSyntax
			}
			if lit('.') || lit(',') {
				digits := 0
				for p < len(s) && s[p] >= '0' && s[p] <= '9' {
					if digits < 9 {
						frac = frac*10 + int64(s[p]-'0')
					}
					digits++
					p++
				}
				if digits == 0 {
					return 0, errSyntax
				}
				for i := digits; i < 9; i++ {
					frac *= 10
				}
			}
		}
		if hh > 23 || mm > 59 || ss > 59 {
			return 0, errors.New("time of day out of range")
		}
	}
	var off int64 // seconds east of UTC
	if p < len(s) && s[p] == ' ' {
		p++
		if rest := s[p:]; strings.EqualFold(rest, "UTC") || strings.EqualFold(rest, "Z") || strings.EqualFold(rest, "GMT") {
			p = len(s)
		}
	}
	if p < len(s) {
		switch s[p] {
		case 'Z', 'z':
			p++
		case '+', '-':
			sign := int64(1)
			if s[p] == '-' {
				sign = -1
			}
			p++
			oh, ok := num(2)
			if !ok {
				return 0, errSyntax
			}
			var om int64
			if lit(':') {
				if om, ok = num(2); !ok {
					return 0, errSyntax
				}
			} else if p < len(s) {
				if om, ok = num(2); !ok {
					return 0, errSyntax
				}
			}
			if oh > 18 || om > 59 {
				return 0, errors.New("zone offset out of range")
			}
			off = sign * (oh*3600 + om*60)
		}
	}
	if p != len(s) {
		return 0, errSyntax
	}
	days := daysFromCivil(y, mo, d)
	secs := days*86400 + hh*3600 + mm*60 + ss - off
	return secondsToNanos(secs, frac)
}

func secondsToNanos(secs, frac int64) (int64, error) {
	const maxSec = math.MaxInt64 / int64(1e9)
	if secs > maxSec || secs < -maxSec-1 {
		return 0, ErrTimestampRange
	}
	r := secs*1e9 + frac
	if secs > 0 && r < 0 {
		return 0, ErrTimestampRange
	}
	if secs < 0 && r > 0 {
		return 0, ErrTimestampRange
	}
	return r, nil
}

// ParseDate parses 'YYYY-MM-DD' (or a timestamp, truncated) into days
// since the Unix epoch.
func ParseDate(s string) (int64, error) {
	ns, err := parseTimestamp(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid date %q: %w", s, err)
	}
	return floorDiv(ns, nsPerDay), nil
}

// splitNanos returns the civil fields of a timestamp.
func splitNanos(ns int64) (y, mo, d, hh, mm, ss, frac int64) {
	days := floorDiv(ns, nsPerDay)
	rem := ns - days*nsPerDay
	y, mo, d = civilFromDays(days)
	hh = rem / 3600e9
	rem -= hh * 3600e9
	mm = rem / 60e9
	rem -= mm * 60e9
	ss = rem / 1e9
	frac = rem - ss*1e9
	return
}

func appendPad(b []byte, v int64, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || i == len(tmp) {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	for k := len(tmp) - i; k < width; k++ {
		b = append(b, '0')
	}
	return append(b, tmp[i:]...)
}

// AppendTimestamp appends ns in Timestream's format
// 'YYYY-MM-DD HH:MM:SS.nnnnnnnnn' (UTC, always nine fractional digits).
func AppendTimestamp(b []byte, ns int64) []byte {
	y, mo, d, hh, mm, ss, frac := splitNanos(ns)
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, mo, 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	b = append(b, ' ')
	b = appendPad(b, hh, 2)
	b = append(b, ':')
	b = appendPad(b, mm, 2)
	b = append(b, ':')
	b = appendPad(b, ss, 2)
	b = append(b, '.')
	return appendPad(b, frac, 9)
}

// FormatTimestamp formats ns as Timestream prints TIMESTAMP values.
func FormatTimestamp(ns int64) string { return string(AppendTimestamp(make([]byte, 0, 29), ns)) }

// FormatDate formats days since the epoch as 'YYYY-MM-DD'.
func FormatDate(days int64) string {
	y, m, d := civilFromDays(days)
	b := appendPad(make([]byte, 0, 10), y, 4)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	return string(appendPad(b, d, 2))
}

// FormatInterval formats nanoseconds as Timestream prints INTERVAL DAY TO
// SECOND: 'D HH:MM:SS.nnnnnnnnn', with a leading '-' when negative.
func FormatInterval(ns int64) string {
	var b []byte
	u := uint64(ns)
	if ns < 0 {
		b = append(b, '-')
		u = uint64(-ns) // MinInt64 wraps to itself as uint64, which is its magnitude
	}
	day := uint64(nsPerDay)
	b = strconv.AppendUint(b, u/day, 10)
	r := int64(u % day)
	b = append(b, ' ')
	b = appendPad(b, r/3600e9, 2)
	b = append(b, ':')
	b = appendPad(b, r/60e9%60, 2)
	b = append(b, ':')
	b = appendPad(b, r/1e9%60, 2)
	b = append(b, '.')
	return string(appendPad(b, r%1e9, 9))
}

// ParseInterval parses 'D HH:MM:SS[.f]' (FormatInterval's output) or a
// duration such as '5m' (ParseDuration).
func ParseInterval(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	body := strings.TrimPrefix(t, "-")
	if dpart, rest, ok := strings.Cut(body, " "); ok && strings.Count(rest, ":") == 2 {
		days, err := strconv.ParseInt(dpart, 10, 64)
		if err == nil {
			ns, err2 := parseTimestamp("1970-01-01 " + rest)
			if err2 == nil && days < 106751 {
				v := days*nsPerDay + ns
				if neg {
					v = -v
				}
				return v, nil
			}
		}
	}
	return ParseDuration(s)
}

var durationUnits = map[string]int64{
	"ns": 1, "nanosecond": 1, "nanoseconds": 1,
	"us": 1e3, "microsecond": 1e3, "microseconds": 1e3,
	"ms": 1e6, "millisecond": 1e6, "milliseconds": 1e6,
	"s": 1e9, "second": 1e9, "seconds": 1e9,
	"m": 60e9, "minute": 60e9, "minutes": 60e9,
	"h": 3600e9, "hour": 3600e9, "hours": 3600e9,
	"d": nsPerDay, "day": nsPerDay, "days": nsPerDay,
}

// ParseDuration parses a duration such as Timestream's literals '1ns',
// '250ms', '5m', '2day' or parse_duration's '3.5 h' into nanoseconds.
func ParseDuration(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(t, "-") {
		neg = true
		t = t[1:]
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	numPart, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := durationUnits[unit]
	if numPart == "" || !ok {
		return 0, fmt.Errorf("invalid duration %q: want a number and a unit (ns, us, ms, s, m, h, d)", s)
	}
	var v int64
	if strings.Contains(numPart, ".") {
		f, err := strconv.ParseFloat(numPart, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %w", s, err)
		}
		r := f * float64(mult)
		if r >= math.MaxInt64 {
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrOverflow)
		}
		v = int64(math.Round(r))
	} else {
		n, err := strconv.ParseInt(numPart, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("invalid duration %q: %w", s, ErrOverflow)
		}
		v = n * mult
	}
	if neg {
		v = -v
	}
	return v, nil
}
