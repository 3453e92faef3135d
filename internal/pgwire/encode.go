package pgwire

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/columnar"
)

// Epoch offsets: PostgreSQL's binary timestamps count µs and dates count
// days from 2000-01-01.
const (
	pgEpochUnixSec = 946684800
	pgEpochUnixUS  = pgEpochUnixSec * 1_000_000
	pgEpochDays    = pgEpochUnixSec / 86400
	nsPerDay       = 86400 * int64(time.Second)
)

// encoder holds what text output depends on: the session's settings at
// the start of a statement.
type encoder struct {
	loc         *time.Location
	floatDigits int // extra_float_digits
}

// appendText appends row i of col as PostgreSQL's text output for t. The
// caller has checked that the row is not NULL.
func (e *encoder) appendText(dst []byte, t Type, col *columnar.Column, i int) []byte {
	switch t {
	case TypeBool:
		if col.Bools[i] {
			return append(dst, 't')
		}
		return append(dst, 'f')
	case TypeInt64:
		return strconv.AppendInt(dst, col.Ints[i], 10)
	case TypeFloat64:
		return appendFloat(dst, col.Floats[i], e.floatDigits)
	case TypeText:
		return append(dst, col.Strs[i]...)
	case TypeTimestamp:
		return appendTimestamp(dst, col.Ints[i], nil)
	case TypeTimestampTZ:
		return appendTimestamp(dst, col.Ints[i], e.loc)
	case TypeDate:
		return appendDate(dst, floorDiv(col.Ints[i], nsPerDay))
	case TypeInterval:
		return appendInterval(dst, col.Ints[i])
	}
	return dst
}

// appendBinary appends row i of col in PostgreSQL's binary format for t.
func appendBinary(dst []byte, t Type, col *columnar.Column, i int) []byte {
	switch t {
	case TypeBool:
		if col.Bools[i] {
			return append(dst, 1)
		}
		return append(dst, 0)
	case TypeInt64:
		return binary.BigEndian.AppendUint64(dst, uint64(col.Ints[i]))
	case TypeFloat64:
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(col.Floats[i]))
	case TypeText:
		return append(dst, col.Strs[i]...)
	case TypeTimestamp, TypeTimestampTZ:
		us := floorDiv(col.Ints[i], 1000) - pgEpochUnixUS
		return binary.BigEndian.AppendUint64(dst, uint64(us))
	case TypeDate:
		return binary.BigEndian.AppendUint32(dst, uint32(int32(floorDiv(col.Ints[i], nsPerDay)-pgEpochDays)))
	case TypeInterval:
		days, us := splitInterval(col.Ints[i])
		dst = binary.BigEndian.AppendUint64(dst, uint64(us))
		dst = binary.BigEndian.AppendUint32(dst, uint32(int32(days)))
		return binary.BigEndian.AppendUint32(dst, 0) // months
	}
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// appendFloat prints f as PostgreSQL 12+ float8out does: with
// extra_float_digits > 0 (the default, 1) the shortest text that reads back
// exactly, in fixed notation for decimal exponents -4..14 and in exponent
// notation (at least two exponent digits) otherwise; with
// extra_float_digits <= 0, %.{15+efd}g.
func appendFloat(dst []byte, f float64, efd int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if efd <= 0 {
		return strconv.AppendFloat(dst, f, 'g', max(15+efd, 1), 64)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	a := math.Abs(f)
	if a >= 1e-4 && a < 1e15 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	// Rounding to shortest digits can carry into the next decade (e.g.
	// 9.9999999999999999e14 prints as 1e+15), which 'e' handles itself.
	return strconv.AppendFloat(dst, f, 'e', -1, 64)
}

// appendTimestamp prints ns (since 1970 UTC), truncated to µs, as
// "2006-01-02 15:04:05[.ffffff]"; with loc, in that zone followed by its
// offset ("+00", "+05:30").
func appendTimestamp(dst []byte, ns int64, loc *time.Location) []byte {
	us := floorDiv(ns, 1000)
	sec := floorDiv(us, 1e6)
	t := time.Unix(sec, (us-sec*1e6)*1000)
	if loc != nil {
		t = t.In(loc)
	} else {
		t = t.UTC()
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = appendDateYMD(dst, y, int(mo), d)
	dst = append(dst, ' ')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = appendMicros(dst, int64(t.Nanosecond()/1000))
	if loc != nil {
		_, off := t.Zone()
		dst = appendOffset(dst, off)
	}
	if y <= 0 {
		dst = append(dst, " BC"...)
	}
	return dst
}

// appendMicros appends ".ffffff" without trailing zeros, or nothing.
func appendMicros(dst []byte, us int64) []byte {
	if us == 0 {
		return dst
	}
	var b [7]byte
	b[0] = '.'
	for k := 6; k >= 1; k-- {
		b[k] = byte('0' + us%10)
		us /= 10
	}
	n := 7
	for b[n-1] == '0' {
		n--
	}
	return append(dst, b[:n]...)
}

func appendOffset(dst []byte, off int) []byte {
	if off < 0 {
		dst = append(dst, '-')
		off = -off
	} else {
		dst = append(dst, '+')
	}
	dst = append2(dst, off/3600)
	if off%3600 != 0 {
		dst = append(dst, ':')
		dst = append2(dst, off%3600/60)
		if off%60 != 0 {
			dst = append(dst, ':')
			dst = append2(dst, off%60)
		}
	}
	return dst
}

func append2(dst []byte, v int) []byte {
	if v >= 100 {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func appendDateYMD(dst []byte, y, m, d int) []byte {
	if y <= 0 {
		y = 1 - y // 1 BC is year 0
	}
	if y < 1000 {
		dst = append(dst, "000"[:3-len(strconv.Itoa(y))]...)
	}
	dst = strconv.AppendInt(dst, int64(y), 10)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

// appendDate prints a day number (since 1970) as "2006-01-02".
func appendDate(dst []byte, days int64) []byte {
	t := time.Unix(days*86400, 0).UTC()
	y, m, d := t.Date()
	dst = appendDateYMD(dst, y, int(m), d)
	if y <= 0 {
		dst = append(dst, " BC"...)
	}
	return dst
}

// splitInterval splits a duration in ns into whole days and the remaining
// µs with the same sign, as PostgreSQL's justify_hours does (timestamp
// differences come out that way).
func splitInterval(ns int64) (days, us int64) {
	us = ns / 1000 // truncate toward zero
	days = us / (86400 * 1e6)
	us -= days * 86400 * 1e6
	return days, us
}

// appendInterval prints a duration in IntervalStyle postgres: "1 day
// 02:03:04.5", "-3 days -00:00:01", "00:00:00".
func appendInterval(dst []byte, ns int64) []byte {
	days, us := splitInterval(ns)
	if days != 0 {
		dst = strconv.AppendInt(dst, days, 10)
		if days == 1 {
			dst = append(dst, " day"...)
		} else {
			dst = append(dst, " days"...)
		}
		if us == 0 {
			return dst
		}
		dst = append(dst, ' ')
	}
	switch {
	case us < 0:
		dst = append(dst, '-')
		us = -us
	case days < 0:
		dst = append(dst, '+')
	}
	sec := us / 1e6
	h := sec / 3600
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, h, 10)
	dst = append(dst, ':')
	dst = append2(dst, int(sec%3600/60))
	dst = append(dst, ':')
	dst = append2(dst, int(sec%60))
	return appendMicros(dst, us%1e6)
}

// decodeParam decodes one Bind parameter. format 0 is text, 1 binary.
func decodeParam(t Type, format int16, b []byte) (Param, error) {
	p := Param{Type: t}
	if b == nil {
		return p, nil
	}
	if format == 1 {
		return decodeBinaryParam(t, b)
	}
	if format != 0 {
		return p, &Error{Code: CodeProtocolViolation, Message: "unsupported format code: " + strconv.Itoa(int(format))}
	}
	s := string(b)
	bad := func() (Param, error) {
		return p, &Error{Code: CodeInvalidTextRep, Message: "invalid input syntax for type " + t.String() + `: "` + s + `"`}
	}
	switch t {
	case TypeUnknown, TypeText:
		p.Value = s
	case TypeBool:
		v, ok := parseBool(s)
		if !ok {
			return bad()
		}
		p.Value = v
	case TypeInt64:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return p, &Error{Code: CodeNumericOutOfRange, Message: `value "` + s + `" is out of range for type bigint`}
			}
			return bad()
		}
		p.Value = v
	case TypeFloat64:
		v, ok := parseFloat(s)
		if !ok {
			return bad()
		}
		p.Value = v
	case TypeTimestamp, TypeTimestampTZ, TypeDate:
		ns, err := parseTimestamp(s, t)
		if err != nil {
			return p, err
		}
		p.Value = ns
	case TypeInterval:
		d, err := time.ParseDuration(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			return bad()
		}
		p.Value = int64(d)
	}
	return p, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "y", "yes", "on", "1":
		return true, true
	case "f", "false", "n", "no", "off", "0":
		return false, true
	}
	return false, false
}

func parseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "nan":
		return math.NaN(), true
	case "infinity", "+infinity", "inf", "+inf":
		return math.Inf(1), true
	case "-infinity", "-inf":
		return math.Inf(-1), true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return v, true
		}
		return 0, false
	}
	return v, true
}

// parseTimestamp reads the ISO forms clients send: "2006-01-02",
// "2006-01-02 15:04:05.999999999" with ' ' or 'T', optionally followed by
// Z or a numeric offset. A value without offset is UTC.
func parseTimestamp(s string, t Type) (int64, error) {
	s = strings.TrimSpace(s)
	layouts := []string{
		"2006-01-02 15:04:05.999999999Z07:00:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04", "2006-01-02",
	}
	norm := s
	if len(norm) > 10 && norm[10] == 'T' {
		norm = norm[:10] + " " + norm[11:]
	}
	for _, l := range layouts {
		tm, err := time.Parse(l, norm)
		if err != nil {
			continue
		}
		if tm.Year() < 1678 || tm.Year() > 2261 {
			return 0, &Error{Code: CodeDatetimeOverflow, Message: "timestamp out of range: \"" + s + "\""}
		}
		ns := tm.UnixNano()
		if t == TypeDate {
			ns = floorDiv(ns, nsPerDay) * nsPerDay
		}
		return ns, nil
	}
	return 0, &Error{Code: CodeInvalidTextRep, Message: "invalid input syntax for type " + t.String() + `: "` + s + `"`}
}

func decodeBinaryParam(t Type, b []byte) (Param, error) {
	p := Param{Type: t}
	bad := func() (Param, error) {
		return p, &Error{Code: CodeInvalidBinaryRep, Message: "incorrect binary data format in bind parameter of type " + t.String()}
	}
	switch t {
	case TypeBool:
		if len(b) != 1 {
			return bad()
		}
		p.Value = b[0] != 0
	case TypeInt64:
		switch len(b) {
		case 2:
			p.Value = int64(int16(binary.BigEndian.Uint16(b)))
		case 4:
			p.Value = int64(int32(binary.BigEndian.Uint32(b)))
		case 8:
			p.Value = int64(binary.BigEndian.Uint64(b))
		default:
			return bad()
		}
	case TypeFloat64:
		switch len(b) {
		case 4:
			p.Value = float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
		case 8:
			p.Value = math.Float64frombits(binary.BigEndian.Uint64(b))
		default:
			return bad()
		}
	case TypeText, TypeUnknown:
		p.Value = string(b)
	case TypeTimestamp, TypeTimestampTZ:
		if len(b) != 8 {
			return bad()
		}
		us := int64(binary.BigEndian.Uint64(b))
		// ±infinity and anything beyond int64 nanoseconds.
		const lim = math.MaxInt64/1000 - pgEpochUnixUS
		if us >= lim || us <= -lim {
			return p, &Error{Code: CodeDatetimeOverflow, Message: "timestamp out of range"}
		}
		p.Value = (us + pgEpochUnixUS) * 1000
	case TypeDate:
		if len(b) != 4 {
			return bad()
		}
		days := int64(int32(binary.BigEndian.Uint32(b)))
		if days >= 106000 || days <= -106000 {
			return p, &Error{Code: CodeDatetimeOverflow, Message: "date out of range"}
		}
		p.Value = (days + pgEpochDays) * nsPerDay
	case TypeInterval:
		if len(b) != 16 {
			return bad()
		}
		us := int64(binary.BigEndian.Uint64(b))
		days := int64(int32(binary.BigEndian.Uint32(b[8:])))
		months := int64(int32(binary.BigEndian.Uint32(b[12:])))
		total := float64(us)*1e3 + float64(days)*float64(nsPerDay) + float64(months)*30*float64(nsPerDay)
		if math.Abs(total) >= math.MaxInt64 {
			return p, &Error{Code: CodeDatetimeOverflow, Message: "interval out of range"}
		}
		p.Value = us*1000 + days*nsPerDay + months*30*nsPerDay
	default:
		return bad()
	}
	return p, nil
}
